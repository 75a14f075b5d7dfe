//! VGG-16's 13 convolutions and 5 max-pools on the CPU kernels of this crate.

use medpath_weights::{EncoderWeights, PlanStep};

use crate::activations::{Activations, SpareBuffers};
use crate::pool::max_pool2_into;
use crate::{bf16, im2col, int8, winograd};

/// The arithmetic of the Winograd layers' matrix products (`f32`, `bf16` or `int8` in settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arithmetic {
    /// f32 throughout (the reference).
    #[default]
    F32,
    /// bf16 products with f32 sums on Intel AMX tiles or AVX512-BF16 registers (layers whose
    /// channel counts are multiples of 32); transforms, bias, ReLU, pooling and the first layer
    /// stay f32.
    Bf16,
    /// int8 products with i32 sums, on AVX512-VNNI where the CPU has it and in portable code with
    /// the same values elsewhere: each layer's transformed kernel quantized per
    /// tile position and output channel, the transformed input per tile position and tile (a
    /// scale from its own largest value, so nothing is calibrated ahead); transforms, bias, ReLU,
    /// pooling and the first layer stay f32.
    Int8,
}

impl Arithmetic {
    /// Every arithmetic, the reference first.
    pub const ALL: [Arithmetic; 3] = [Arithmetic::F32, Arithmetic::Bf16, Arithmetic::Int8];

    /// Whether this CPU runs it.
    pub fn is_available(self) -> bool {
        match self {
            Arithmetic::F32 => true,
            Arithmetic::Bf16 => bf16::available(),
            Arithmetic::Int8 => true,
        }
    }

    /// Its name in settings: `f32`, `bf16` or `int8`.
    pub fn name(self) -> &'static str {
        match self {
            Arithmetic::F32 => "f32",
            Arithmetic::Bf16 => "bf16",
            Arithmetic::Int8 => "int8",
        }
    }

    /// The unit that runs its products on this CPU: `amx` or `avx512` for bf16 (none where the
    /// CPU has no bf16 unit), `avx512vnni` or `portable` for int8, none for f32.
    pub fn unit(self) -> Option<&'static str> {
        match self {
            Arithmetic::F32 => None,
            Arithmetic::Bf16 => bf16::unit().map(bf16::Unit::name),
            Arithmetic::Int8 => Some(int8::unit()),
        }
    }

    /// What a CPU needs to run it, for error messages.
    pub fn needs(self) -> &'static str {
        match self {
            Arithmetic::F32 | Arithmetic::Int8 => "nothing",
            Arithmetic::Bf16 => {
                "bf16 units (AVX512-BF16, as in AMD Zen 4 and Intel Cooper Lake or later, or Intel AMX)"
            }
        }
    }

    /// Parses a name from [`Self::name`].
    pub fn parse(name: &str) -> Option<Arithmetic> {
        Arithmetic::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// An arithmetic this CPU (or operating system) does not run.
#[derive(Debug, thiserror::Error)]
#[error("encoder precision {}: this CPU has no {}; use f32", .0.name(), .0.needs())]
pub struct ArithmeticUnavailable(pub Arithmetic);

/// How a layer convolves, with its kernel in the layout that method reads.
enum Method {
    /// Winograd F(4x4, 3x3): both channel counts are multiples of 8.
    Winograd(winograd::Kernel),
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
    /// Prepares an f32 layer from an OIHW kernel (`c_out * c_in * 9` values) and its bias.
    pub fn new(weight_oihw: &[f32], bias: &[f32], c_in: usize, c_out: usize) -> Conv3x3 {
        Conv3x3::with_arithmetic(weight_oihw, bias, (c_in, c_out), Arithmetic::F32)
    }

    /// Prepares a layer whose Winograd products run in `arithmetic` where its channel counts
    /// allow (f32 otherwise); `arithmetic` must be [`Arithmetic::is_available`].
    pub fn with_arithmetic(
        weight_oihw: &[f32],
        bias: &[f32],
        (c_in, c_out): (usize, usize),
        arithmetic: Arithmetic,
    ) -> Conv3x3 {
        assert_eq!(weight_oihw.len(), c_out * c_in * 9, "OIHW kernel length");
        assert_eq!(bias.len(), c_out, "bias length");
        let method = if winograd::supports(c_in, c_out) {
            let kernel = winograd::transform_kernel(weight_oihw, c_in, c_out);
            let low = match arithmetic {
                Arithmetic::Bf16 => winograd::Kernel::bf16(&kernel, c_in, c_out),
                Arithmetic::Int8 => winograd::Kernel::int8(&kernel, c_in, c_out),
                Arithmetic::F32 => None,
            };
            Method::Winograd(low.unwrap_or(winograd::Kernel::F32(kernel)))
        } else {
            Method::Im2col(im2col::arrange_kernel(weight_oihw, c_in, c_out))
        };
        Conv3x3 {
            c_in,
            bias: bias.to_vec(),
            method,
        }
    }

    /// The method's name: `winograd`, `winograd-bf16`, `winograd-int8` or `im2col`.
    pub fn method(&self) -> &'static str {
        match self.method {
            Method::Winograd(winograd::Kernel::F32(_)) => "winograd",
            Method::Winograd(winograd::Kernel::Bf16(_)) => "winograd-bf16",
            Method::Winograd(winograd::Kernel::Int8(_)) => "winograd-int8",
            Method::Im2col(_) => "im2col",
        }
    }

    /// Convolves, adds the bias and applies ReLU; the output has the input's size.
    pub fn forward(&self, x: &Activations) -> Activations {
        self.forward_into(x, Vec::new())
    }

    /// [`Self::forward`] into `buffer`'s memory (a spare buffer: no fresh pages to fault in).
    pub fn forward_into(&self, x: &Activations, buffer: Vec<f32>) -> Activations {
        assert_eq!(x.c, self.c_in, "input channels");
        let mut out = Activations::reusing(buffer, x.n, x.h, x.w, self.bias.len());
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
    arithmetic: Arithmetic,
    /// Activation buffers kept between layers and batches, so that a forward pass reuses memory
    /// already mapped instead of faulting in fresh pages for every layer.
    spare: SpareBuffers,
}

impl Vgg16Cpu {
    /// Builds the f32 network from checked weights (kernels are transformed here, once).
    pub fn new(weights: &EncoderWeights) -> Vgg16Cpu {
        Vgg16Cpu::build(weights, Arithmetic::F32)
    }

    /// Builds the network with its Winograd products in `arithmetic`; an error where this CPU
    /// does not run it.
    pub fn with_arithmetic(
        weights: &EncoderWeights,
        arithmetic: Arithmetic,
    ) -> Result<Vgg16Cpu, ArithmeticUnavailable> {
        if !arithmetic.is_available() {
            return Err(ArithmeticUnavailable(arithmetic));
        }
        Ok(Vgg16Cpu::build(weights, arithmetic))
    }

    fn build(weights: &EncoderWeights, arithmetic: Arithmetic) -> Vgg16Cpu {
        let layers = weights
            .steps()
            .map(|step| match step {
                PlanStep::Pool => Layer::Pool,
                PlanStep::Conv(c) => Layer::Conv(Conv3x3::with_arithmetic(
                    &c.weight,
                    &c.bias,
                    (c.input, c.output),
                    arithmetic,
                )),
            })
            .collect();
        Vgg16Cpu {
            layers,
            arithmetic,
            spare: SpareBuffers::new(2),
        }
    }

    /// The arithmetic of its Winograd products.
    pub fn arithmetic(&self) -> Arithmetic {
        self.arithmetic
    }

    /// Runs all layers on an NHWC batch of 3-channel images (each side at least 32).
    pub fn forward(&self, x: Activations) -> Activations {
        self.forward_steps(x, 0..self.layers.len())
    }

    /// Runs the plan's steps `steps` (indices among its 13 convolutions and 5 pools, in order)
    /// on an NHWC batch; `0..BLOCK4_END` gives block 4's pooled output.
    pub fn forward_steps(&self, mut x: Activations, steps: std::ops::Range<usize>) -> Activations {
        for layer in &self.layers[steps] {
            let buffer = self.spare.take();
            let next = match layer {
                Layer::Conv(conv) => conv.forward_into(&x, buffer),
                Layer::Pool => max_pool2_into(&x, buffer),
            };
            self.spare.give(std::mem::replace(&mut x, next).data);
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
