//! 3x3 convolution (stride 1, padding 1) + bias + ReLU by im2col and one matrix product per part:
//! the general method, used where Winograd's does not apply (VGG-16's 3-channel first layer).

use std::cell::RefCell;

use rayon::prelude::*;

use crate::activations::{Activations, bands_per_part};
use crate::matmul::matmul;

/// Output pixels per part.
const PIXELS_PER_PART: usize = 512;

/// A 3x3 convolution layer with its kernel laid out as a `[9 * c_in][c_out]` matrix.
pub struct Im2colConv {
    c_in: usize,
    c_out: usize,
    /// Rows ordered (ky, kx, input channel), as the columns built from NHWC pixels are.
    kernel: Vec<f32>,
    bias: Vec<f32>,
}

impl Im2colConv {
    /// Reorders an OIHW kernel (`c_out * c_in * 9` values) and keeps the bias.
    pub fn new(weight_oihw: &[f32], bias: &[f32], c_in: usize, c_out: usize) -> Im2colConv {
        assert_eq!(weight_oihw.len(), c_out * c_in * 9);
        assert_eq!(bias.len(), c_out);
        let mut kernel = vec![0.0; 9 * c_in * c_out];
        for o in 0..c_out {
            for i in 0..c_in {
                for k in 0..9 {
                    kernel[(k * c_in + i) * c_out + o] = weight_oihw[(o * c_in + i) * 9 + k];
                }
            }
        }
        Im2colConv {
            c_in,
            c_out,
            kernel,
            bias: bias.to_vec(),
        }
    }

    /// Convolves, adds the bias and applies ReLU; the output has the input's size.
    pub fn forward(&self, x: &Activations) -> Activations {
        assert_eq!(x.c, self.c_in, "input channels");
        let mut out = Activations::zeros(x.n, x.h, x.w, self.c_out);
        let per_part = bands_per_part(x.n * x.h, x.w, PIXELS_PER_PART);
        let depth = 9 * self.c_in;
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
                matmul(pixels, depth, self.c_out, columns, &self.kernel, part.data);
                for pixel in part.data.chunks_exact_mut(self.c_out) {
                    for (v, b) in pixel.iter_mut().zip(&self.bias) {
                        *v = (*v + b).max(0.0);
                    }
                }
            })
        });
        out
    }
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
