//! VGG-16's convolutional part on the CPU, written for speed on machines without a GPU.
//!
//! Activations are NHWC so that every pixel's channels are contiguous. 3x3 convolutions with at
//! least 8 input channels use Winograd's F(4x4, 3x3) algorithm (36 matrix products over channels
//! per 4x4 output tile instead of 144 multiply-adds per output and channel pair: 4x fewer
//! multiplications), with the weight transform done once, in f64, when the network is built. The
//! 3-channel first layer uses im2col. Bias and ReLU are applied while the output tile is written.
//! Work is split over rayon's threads by rows of tiles; the matrix products are the `gemm` crate's,
//! which picks AVX2/FMA or AVX-512 kernels at run time. At bf16 precision ([`Arithmetic::Bf16`])
//! the Winograd products run in bf16 with f32 sums instead, on Intel AMX tiles or AVX512-BF16
//! registers ([`bf16`]).
//!
//! For a task that fine-tunes VGG's last block, [`finetune`] trains a copy of block 5 on block
//! 4's frozen output, with the backward passes of [`backprop`].

pub mod activations;
pub mod backprop;
pub mod bf16;
pub mod finetune;
pub mod im2col;
pub mod int8;
pub mod matmul;
pub mod pool;
pub mod vgg;
pub mod winograd;

pub use activations::Activations;
pub use finetune::{Adam, Block5Classifier, StepReport};
pub use vgg::{Arithmetic, ArithmeticUnavailable, BLOCK4_END, Conv3x3, Vgg16Cpu};
