//! VGG-16 convolutional weights for medpath's encoder: the layer plan as one table, loading from
//! safetensors (torchvision/timm key names) and PyTorch checkpoints with every name and shape
//! checked, the file hash that keys the feature cache, and seeded random weights for demos.

pub mod load;
pub mod normalization;
pub mod plan;

pub use load::{ConvParams, EncoderWeights, PlanStep, Result, WeightSource, WeightsError};
pub use normalization::{Normalization, UnknownNormalization};
pub use plan::{MIN_INPUT, OUTPUT_CHANNELS, STRIDE, Step, VGG16, convolutions};
