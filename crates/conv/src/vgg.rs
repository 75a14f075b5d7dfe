//! VGG-16's 13 convolutions and 5 max-pools on the CPU kernels of this crate.

use medpath_weights::{EncoderWeights, Step, VGG16};

use crate::activations::Activations;
use crate::im2col::Im2colConv;
use crate::pool::max_pool2;
use crate::winograd::{self, WinogradConv};

/// A 3x3 convolution (stride 1, padding 1) + bias + ReLU, by the fastest method its channel
/// counts allow.
pub enum Conv3x3 {
    /// Winograd F(4x4, 3x3): both channel counts are multiples of 8.
    Winograd(WinogradConv),
    /// im2col and one matrix product: any channel counts.
    Im2col(Im2colConv),
}

impl Conv3x3 {
    /// Prepares a layer from an OIHW kernel (`c_out * c_in * 9` values) and its bias.
    pub fn new(weight_oihw: &[f32], bias: &[f32], c_in: usize, c_out: usize) -> Conv3x3 {
        if winograd::supports(c_in, c_out) {
            Conv3x3::Winograd(WinogradConv::new(weight_oihw, bias, c_in, c_out))
        } else {
            Conv3x3::Im2col(Im2colConv::new(weight_oihw, bias, c_in, c_out))
        }
    }

    /// Convolves, adds the bias and applies ReLU.
    pub fn forward(&self, x: &Activations) -> Activations {
        match self {
            Conv3x3::Winograd(conv) => conv.forward(x),
            Conv3x3::Im2col(conv) => conv.forward(x),
        }
    }
}

enum Layer {
    Conv(Conv3x3),
    Pool,
}

/// VGG-16's convolutional part with fixed weights, on the CPU.
pub struct Vgg16Cpu {
    layers: Vec<Layer>,
}

impl Vgg16Cpu {
    /// Builds the network from checked weights (kernels are transformed here, once).
    pub fn new(weights: &EncoderWeights) -> Vgg16Cpu {
        let mut convs = weights.convs.iter();
        let layers = VGG16
            .iter()
            .map(|step| match step {
                Step::Pool => Layer::Pool,
                Step::Conv { .. } => {
                    let c = convs
                        .next()
                        .expect("EncoderWeights holds one entry per convolution of the plan");
                    Layer::Conv(Conv3x3::new(&c.weight, &c.bias, c.input, c.output))
                }
            })
            .collect();
        Vgg16Cpu { layers }
    }

    /// Runs all layers on an NHWC batch of 3-channel images (each side at least 32).
    pub fn forward(&self, mut x: Activations) -> Activations {
        for layer in &self.layers {
            x = match layer {
                Layer::Conv(conv) => conv.forward(&x),
                Layer::Pool => max_pool2(&x),
            };
        }
        x
    }

    /// Encodes `n` images of `h x w` given NCHW and returns NCHW features
    /// (`n * 512 * (h/32) * (w/32)` values).
    pub fn encode_nchw(&self, inputs: &[f32], n: usize, h: usize, w: usize) -> Vec<f32> {
        self.forward(Activations::from_nchw(inputs, n, 3, h, w))
            .to_nchw()
    }
}
