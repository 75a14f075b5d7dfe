//! 2x2 max-pooling with stride 2 on NHWC maps (an odd last row or column is dropped, as in
//! PyTorch's and burn's `max_pool2d`).

use rayon::prelude::*;

use crate::activations::{Activations, bands_per_part};

/// Halves height and width, keeping each 2x2 block's largest value per channel.
pub fn max_pool2(x: &Activations) -> Activations {
    max_pool2_into(x, Vec::new())
}

/// [`max_pool2`] into `buffer`'s memory.
pub fn max_pool2_into(x: &Activations, buffer: Vec<f32>) -> Activations {
    let (oh, ow, c) = (x.h / 2, x.w / 2, x.c);
    let mut out = Activations::reusing(buffer, x.n, oh, ow, c);
    if out.data.is_empty() {
        return out;
    }
    let per_part = bands_per_part(x.n * oh, ow * c, 1 << 16);
    out.parts_mut(1, per_part).into_par_iter().for_each(|part| {
        for (r, out_row) in part.data.chunks_exact_mut(ow * c).enumerate() {
            let row = part.first_band + r;
            let (img, y) = (row / oh, row % oh);
            let top = (img * x.h + 2 * y) * x.w * c;
            let bottom = top + x.w * c;
            for (col, pixel) in out_row.chunks_exact_mut(c).enumerate() {
                let left = 2 * col * c;
                for (ch, v) in pixel.iter_mut().enumerate() {
                    let a = x.data[top + left + ch].max(x.data[top + left + c + ch]);
                    let b = x.data[bottom + left + ch].max(x.data[bottom + left + c + ch]);
                    *v = a.max(b);
                }
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_largest_of_each_block_and_drops_an_odd_edge() {
        // One image, 3 x 3, one channel: the last row and column are dropped.
        let x = Activations {
            data: vec![1.0, 5.0, 9.0, 3.0, 2.0, 9.0, 9.0, 9.0, 9.0],
            n: 1,
            h: 3,
            w: 3,
            c: 1,
        };
        let y = max_pool2(&x);
        assert_eq!((y.h, y.w), (1, 1));
        assert_eq!(y.data, vec![5.0]);
    }
}
