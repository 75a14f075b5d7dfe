//! Backward passes for training a copy of VGG-16's last block: a 3x3 convolution (stride 1,
//! padding 1) with bias and ReLU whose kernel can be updated, and 2x2 max-pooling. Forward
//! passes go through im2col (the layout the gradients need); the products run on `gemm` with
//! rayon's threads.

use rayon::prelude::*;

use crate::activations::Activations;
use crate::im2col::arrange_kernel;
use crate::matmul::product;

/// The 3x3 neighbourhoods of every pixel of `x`, one row per pixel, ordered (ky, kx, channel)
/// with zeros outside the image: `x.n * x.h * x.w` rows of `9 * x.c`.
fn columns(x: &Activations) -> Vec<f32> {
    let depth = 9 * x.c;
    let mut out = vec![0f32; x.n * x.h * x.w * depth];
    out.par_chunks_mut(x.w * depth)
        .enumerate()
        .for_each(|(row, chunk)| {
            let (img, y) = (row / x.h, row % x.h);
            for (col, column) in chunk.chunks_exact_mut(depth).enumerate() {
                for (k, values) in column.chunks_exact_mut(x.c).enumerate() {
                    let (yy, xx) = (
                        y as isize + (k / 3) as isize - 1,
                        col as isize + (k % 3) as isize - 1,
                    );
                    if yy >= 0 && yy < x.h as isize && xx >= 0 && xx < x.w as isize {
                        let at = ((img * x.h + yy as usize) * x.w + xx as usize) * x.c;
                        values.copy_from_slice(&x.data[at..at + x.c]);
                    }
                }
            }
        });
    out
}

/// Adds the column gradients back onto the pixels they were read from (the adjoint of
/// [`columns`]).
fn add_columns_back(grad_columns: &[f32], n: usize, h: usize, w: usize, c: usize) -> Activations {
    let depth = 9 * c;
    let mut out = Activations::zeros(n, h, w, c);
    // Each output row gathers from the three column rows around it, so rows are independent.
    out.data
        .par_chunks_mut(w * c)
        .enumerate()
        .for_each(|(row, chunk)| {
            let (img, y) = (row / h, row % h);
            for (col, pixel) in chunk.chunks_exact_mut(c).enumerate() {
                for k in 0..9 {
                    // The pixel is neighbour k of the pixel at (y - dy, col - dx).
                    let (sy, sx) = (
                        y as isize - (k / 3) as isize + 1,
                        col as isize - (k % 3) as isize + 1,
                    );
                    if sy < 0 || sy >= h as isize || sx < 0 || sx >= w as isize {
                        continue;
                    }
                    let source = ((img * h + sy as usize) * w + sx as usize) * depth + k * c;
                    for (v, g) in pixel.iter_mut().zip(&grad_columns[source..source + c]) {
                        *v += g;
                    }
                }
            }
        });
    out
}

/// What a [`TrainableConv`] forward pass keeps for its backward pass.
pub struct ConvTrace {
    /// The input's neighbourhood columns.
    columns: Vec<f32>,
    /// The input's shape `(n, h, w)`.
    shape: (usize, usize, usize),
    /// The output (after ReLU).
    pub output: Activations,
}

/// The gradients of one [`TrainableConv`].
pub struct ConvGradients {
    /// Of the input, when asked for.
    pub input: Option<Activations>,
    /// Of the kernel, in [`TrainableConv::kernel`]'s layout.
    pub kernel: Vec<f32>,
    /// Of the bias.
    pub bias: Vec<f32>,
}

/// A 3x3 convolution + bias + ReLU whose parameters are trained.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainableConv {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// `[9 * c_in][c_out]`, rows ordered (ky, kx, input channel).
    pub kernel: Vec<f32>,
    /// One per output channel.
    pub bias: Vec<f32>,
}

impl TrainableConv {
    /// A layer from an OIHW kernel (`c_out * c_in * 9` values) and its bias.
    pub fn from_oihw(weight_oihw: &[f32], bias: &[f32], c_in: usize, c_out: usize) -> Self {
        assert_eq!(weight_oihw.len(), c_out * c_in * 9, "OIHW kernel length");
        assert_eq!(bias.len(), c_out, "bias length");
        TrainableConv {
            c_in,
            c_out,
            kernel: arrange_kernel(weight_oihw, c_in, c_out),
            bias: bias.to_vec(),
        }
    }

    /// Convolves `x`, adds the bias, applies ReLU, and keeps what the backward pass needs.
    pub fn forward(&self, x: &Activations) -> ConvTrace {
        assert_eq!(x.c, self.c_in, "input channels");
        let columns = columns(x);
        let pixels = x.n * x.h * x.w;
        let mut output = Activations::zeros(x.n, x.h, x.w, self.c_out);
        product(
            (pixels, 9 * self.c_in, self.c_out),
            &columns,
            false,
            &self.kernel,
            false,
            &mut output.data,
            true,
        );
        output.data.par_chunks_mut(self.c_out).for_each(|pixel| {
            for (v, b) in pixel.iter_mut().zip(&self.bias) {
                *v = (*v + b).max(0.0);
            }
        });
        ConvTrace {
            columns,
            shape: (x.n, x.h, x.w),
            output,
        }
    }

    /// The gradients of the parameters (and of the input when `input_gradient`) from the
    /// gradient of the loss with respect to the output of the pass `trace`.
    pub fn backward(
        &self,
        trace: &ConvTrace,
        grad_output: &Activations,
        input_gradient: bool,
    ) -> ConvGradients {
        let (n, h, w) = trace.shape;
        let pixels = n * h * w;
        let depth = 9 * self.c_in;
        // Through ReLU: only where the output is positive.
        let pre: Vec<f32> = grad_output
            .data
            .iter()
            .zip(&trace.output.data)
            .map(|(g, o)| if *o > 0.0 { *g } else { 0.0 })
            .collect();
        let mut bias = vec![0f32; self.c_out];
        for pixel in pre.chunks_exact(self.c_out) {
            for (b, g) in bias.iter_mut().zip(pixel) {
                *b += g;
            }
        }
        let mut kernel = vec![0f32; depth * self.c_out];
        product(
            (depth, pixels, self.c_out),
            &trace.columns,
            true,
            &pre,
            false,
            &mut kernel,
            true,
        );
        let input = input_gradient.then(|| {
            let mut grad_columns = vec![0f32; pixels * depth];
            product(
                (pixels, self.c_out, depth),
                &pre,
                false,
                &self.kernel,
                true,
                &mut grad_columns,
                true,
            );
            add_columns_back(&grad_columns, n, h, w, self.c_in)
        });
        ConvGradients {
            input,
            kernel,
            bias,
        }
    }
}

/// The gradient of 2x2 max-pooling's input `x` (even height and width, as block 5's input is
/// at every input size that is a multiple of 32) from its output `pooled` and the output's
/// gradient: each output's gradient goes to the first of its four inputs holding the maximum
/// (top left, top right, bottom left, bottom right), the others get zero.
pub fn max_pool2_backward(
    x: &Activations,
    pooled: &Activations,
    grad_output: &Activations,
) -> Activations {
    assert!(
        x.h.is_multiple_of(2) && x.w.is_multiple_of(2),
        "max-pool backward needs even sides"
    );
    let (oh, ow, c) = (x.h / 2, x.w / 2, x.c);
    assert_eq!(
        (grad_output.n, grad_output.h, grad_output.w, grad_output.c),
        (x.n, oh, ow, c),
        "pooled gradient shape"
    );
    let mut out = Activations::zeros(x.n, x.h, x.w, c);
    // Each output row covers two input rows: those chunks are independent.
    let rows = 2 * x.w * c;
    out.data
        .par_chunks_mut(rows)
        .enumerate()
        .for_each(|(pair, chunk)| {
            let top = pair * rows;
            for col in 0..ow {
                for ch in 0..c {
                    let o = (pair * ow + col) * c + ch;
                    let candidates = [
                        2 * col * c + ch,
                        (2 * col + 1) * c + ch,
                        x.w * c + 2 * col * c + ch,
                        x.w * c + (2 * col + 1) * c + ch,
                    ];
                    if let Some(at) = candidates
                        .into_iter()
                        .find(|&at| x.data[top + at] == pooled.data[o])
                    {
                        chunk[at] = grad_output.data[o];
                    }
                }
            }
        });
    out
}
