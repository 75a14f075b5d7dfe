//! VGG-16's 13 convolutions and 5 max-pools on the CPU kernels of this crate.

use medpath_weights::{EncoderWeights, PlanStep};

use crate::activations::Activations;
use crate::im2col;
use crate::pool::max_pool2;
use crate::winograd;

/// How a layer convolves, with its kernel in the layout that method reads.
enum Method {
    /// Winograd F(4x4, 3x3): both channel counts are multiples of 8.
    Winograd(Vec<f32>),
    /// im2col and one matrix product: any channel counts.
    Im2col(Vec<f32>),
}

/// A 3x3 convolution (stride 1, padding 1) + bias + ReLU, by the fastest method its channel
/// counts allow.
pub struct Conv3x3 {
    c_in: usize,
    bias: Vec<f32>,
    method: Method,
}

impl Conv3x3 {
    /// Prepares a layer from an OIHW kernel (`c_out * c_in * 9` values) and its bias.
    pub fn new(weight_oihw: &[f32], bias: &[f32], c_in: usize, c_out: usize) -> Conv3x3 {
        assert_eq!(weight_oihw.len(), c_out * c_in * 9, "OIHW kernel length");
        assert_eq!(bias.len(), c_out, "bias length");
        let method = if winograd::supports(c_in, c_out) {
            Method::Winograd(winograd::transform_kernel(weight_oihw, c_in, c_out))
        } else {
            Method::Im2col(im2col::arrange_kernel(weight_oihw, c_in, c_out))
        };
        Conv3x3 {
            c_in,
            bias: bias.to_vec(),
            method,
        }
    }

    /// The method's name: `winograd` or `im2col`.
    pub fn method(&self) -> &'static str {
        match self.method {
            Method::Winograd(_) => "winograd",
            Method::Im2col(_) => "im2col",
        }
    }

    /// Convolves, adds the bias and applies ReLU; the output has the input's size.
    pub fn forward(&self, x: &Activations) -> Activations {
        assert_eq!(x.c, self.c_in, "input channels");
        let mut out = Activations::zeros(x.n, x.h, x.w, self.bias.len());
        match &self.method {
            Method::Winograd(kernel) => winograd::convolve(x, kernel, &self.bias, &mut out),
            Method::Im2col(kernel) => im2col::convolve(x, kernel, &self.bias, &mut out),
        }
        out
    }
}

/// Steps of VGG-16's plan up to and including block 4's max-pool: `0..BLOCK4_END` ends at
/// block 4's output, `BLOCK4_END..` is block 5 (three convolutions and a pool).
pub const BLOCK4_END: usize = 14;

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
        let layers = weights
            .steps()
            .map(|step| match step {
                PlanStep::Pool => Layer::Pool,
                PlanStep::Conv(c) => {
                    Layer::Conv(Conv3x3::new(&c.weight, &c.bias, c.input, c.output))
                }
            })
            .collect();
        Vgg16Cpu { layers }
    }

    /// Runs all layers on an NHWC batch of 3-channel images (each side at least 32).
    pub fn forward(&self, x: Activations) -> Activations {
        self.forward_steps(x, 0..self.layers.len())
    }

    /// Runs the plan's steps `steps` (indices among its 13 convolutions and 5 pools, in order)
    /// on an NHWC batch; `0..BLOCK4_END` gives block 4's pooled output.
    pub fn forward_steps(&self, mut x: Activations, steps: std::ops::Range<usize>) -> Activations {
        for layer in &self.layers[steps] {
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
