//! medpath's networks on burn (Flex CPU backend by default): the frozen VGG-16 encoder.

pub mod encoder;
pub mod error;
pub mod featurize;

pub use encoder::Vgg16Encoder;
pub use error::{ModelError, Result};
pub use featurize::{EncodeStats, Featurizer, ViewRequest, cache_namespace, open_cache};

/// The default device: burn's Flex CPU backend (pure Rust, multi-threaded, SIMD).
pub fn default_device() -> burn::tensor::Device {
    burn::tensor::Device::flex()
}
