//! 3x3 convolution (stride 1, padding 1) + bias + ReLU by im2col and one matrix product per part:
//! the general method, used where Winograd's does not apply (VGG-16's 3-channel first layer).

use std::cell::RefCell;

use rayon::prelude::*;

use crate::activations::{Activations, bands_per_part};
use crate::matmul::matmul;

/// Output pixels per part.
const PIXELS_PER_PART: usize = 512;

/// Reorders an OIHW kernel (`c_out * c_in * 9` values) into a `[9 * c_in][c_out]` matrix whose
/// rows are ordered (ky, kx, input channel), as the columns built from NHWC pixels are.
pub fn arrange_kernel(weight_oihw: &[f32], c_in: usize, c_out: usize) -> Vec<f32> {
    let mut kernel = vec![0.0; 9 * c_in * c_out];
    for o in 0..c_out {
        for i in 0..c_in {
            for k in 0..9 {
                kernel[(k * c_in + i) * c_out + o] = weight_oihw[(o * c_in + i) * 9 + k];
            }
        }
    }
    kernel
}

/// Convolves `x` with an [`arrange_kernel`] kernel, adds `bias`, applies ReLU and writes every
/// value of `out` (same size as `x`, `bias.len()` channels).
pub fn convolve(x: &Activations, kernel: &[f32], bias: &[f32], out: &mut Activations) {
    let c_out = out.c;
    let per_part = bands_per_part(x.n * x.h, x.w, PIXELS_PER_PART);
    let depth = 9 * x.c;
    out.parts_mut(1, per_part).into_par_iter().for_each(|part| {
        COLUMNS.with(|columns| {
            let columns = &mut *columns.borrow_mut();
            let pixels = part.bands * x.w;
            columns.resize(pixels * depth, 0.0);
            for (p, column) in columns.chunks_exact_mut(depth).enumerate() {
                let row = part.first_band + p / x.w;
                let (img, y, col) = (row / x.h, row % x.h, p % x.w);
                fill_column(x, img, y, col, column);
            }
            matmul(pixels, depth, c_out, columns, kernel, part.data);
            for pixel in part.data.chunks_exact_mut(c_out) {
                for (v, b) in pixel.iter_mut().zip(bias) {
                    *v = (*v + b).max(0.0);
                }
            }
        })
    });
}

thread_local! {
    /// Per-thread buffer for a part's columns.
    static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The 3x3 neighbourhood of pixel (`y`, `col`) of image `img`, zeros outside the image,
/// ordered (ky, kx, channel).
fn fill_column(x: &Activations, img: usize, y: usize, col: usize, column: &mut [f32]) {
    let c = x.c;
    for (k, values) in column.chunks_exact_mut(c).enumerate() {
        let (yy, xx) = (
            y as isize + (k / 3) as isize - 1,
            col as isize + (k % 3) as isize - 1,
        );
        if yy < 0 || yy >= x.h as isize || xx < 0 || xx >= x.w as isize {
            values.fill(0.0);
        } else {
            let at = ((img * x.h + yy as usize) * x.w + xx as usize) * c;
            values.copy_from_slice(&x.data[at..at + c]);
        }
    }
}
