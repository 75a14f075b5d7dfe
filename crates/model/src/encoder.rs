//! The frozen VGG-16 encoder on burn: 13 convolutions (3x3, padding 1, ReLU) and 5 max-pools,
//! built from the layer plan and checked weights.

use burn::tensor::activation::relu;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use medpath_weights::{EncoderWeights, MIN_INPUT, OUTPUT_CHANNELS, STRIDE, Step, VGG16};

use crate::error::{ModelError, Result};

struct ConvLayer {
    weight: Tensor<4>,
    bias: Tensor<1>,
}

enum Layer {
    Conv(Box<ConvLayer>),
    Pool,
}

/// VGG-16's convolutional part with fixed weights.
pub struct Vgg16Encoder {
    layers: Vec<Layer>,
    device: Device,
    /// Hash of the weights (part of every feature cache key).
    pub weights_hash: String,
    /// Whether the weights are seeded random ones (features then carry no ImageNet knowledge).
    pub random_weights: bool,
}

impl Vgg16Encoder {
    /// Builds the encoder on `device` from checked weights.
    pub fn new(weights: &EncoderWeights, device: &Device) -> Vgg16Encoder {
        let mut convs = weights.convs.iter();
        let layers = VGG16
            .iter()
            .map(|step| match step {
                Step::Pool => Layer::Pool,
                Step::Conv { .. } => {
                    let c = convs
                        .next()
                        .expect("EncoderWeights holds one entry per convolution of the plan");
                    let weight = TensorData::new(c.weight.clone(), [c.output, c.input, 3, 3]);
                    let bias = TensorData::new(c.bias.clone(), [c.output]);
                    Layer::Conv(Box::new(ConvLayer {
                        weight: Tensor::from_data(weight, device),
                        bias: Tensor::from_data(bias, device),
                    }))
                }
            })
            .collect();
        Vgg16Encoder {
            layers,
            device: device.clone(),
            weights_hash: weights.hash.clone(),
            random_weights: weights.is_random(),
        }
    }

    /// The device the encoder runs on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the encoder on a `[n, 3, h, w]` batch; returns `[n, 512, h/32, w/32]`.
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        let conv = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        for layer in &self.layers {
            x = match layer {
                Layer::Conv(c) => relu(conv2d(
                    x,
                    c.weight.clone(),
                    Some(c.bias.clone()),
                    conv.clone(),
                )),
                Layer::Pool => max_pool2d(x, MaxPoolOptions::new([2, 2])),
            };
        }
        x
    }

    /// Encodes `n` preprocessed square images of side `size` (CHW each, concatenated) and returns
    /// their features, `n * 512 * (size/32)^2` values.
    pub fn encode(&self, inputs: &[f32], n: usize, size: usize) -> Result<Vec<f32>> {
        if size < MIN_INPUT {
            return Err(ModelError::Input(format!(
                "input size {size}: VGG-16 needs at least {MIN_INPUT} pixels"
            )));
        }
        if inputs.len() != n * 3 * size * size {
            return Err(ModelError::Input(format!(
                "{} input values for {n} images of 3 x {size} x {size}",
                inputs.len()
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let x = Tensor::<4>::from_data(
            TensorData::new(inputs.to_vec(), [n, 3, size, size]),
            &self.device,
        );
        let features = self.forward(x).into_data();
        features
            .try_into_vec::<f32>()
            .map_err(|e| ModelError::Backend(format!("{e:?}")))
    }

    /// Values per image that [`Self::encode`] returns for inputs of side `size`.
    pub fn feature_len(size: usize) -> usize {
        let side = size / STRIDE;
        OUTPUT_CHANNELS * side * side
    }
}
