//! Turning a decoded image into the encoder's input: fit to a square (stretch, pad or crop), resize
//! with a triangle (bilinear, antialiased) filter, and normalise in one of two conventions.
//!
//! The resize is Pillow's `Image.resize(..., BILINEAR)` on float data: the filter's support widens
//! with the reduction factor (so downscaling averages instead of aliasing), horizontal pass first,
//! then vertical, intermediate values stored as `f32`.

use serde::{Deserialize, Serialize};

use crate::pixels::RgbImage;
pub use medpath_weights::Normalization;

/// ImageNet channel means (RGB) on the 0..1 scale, torchvision convention.
pub const TORCHVISION_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations (RGB), torchvision convention.
pub const TORCHVISION_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Caffe channel means in B, G, R order on the 0..255 scale.
pub const CAFFE_MEAN_BGR: [f32; 3] = [103.939, 116.779, 123.68];

/// How a non-square image becomes square.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Resize both sides to the target (aspect ratio not kept).
    Stretch,
    /// Resize the longer side to the target and pad the rest with black, centred.
    Pad,
    /// Resize the shorter side to the target and cut the centre.
    Crop,
}

/// The preprocessing of one task's images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// Side of the square encoder input in pixels.
    pub size: usize,
    /// How to make the image square.
    pub fit: Fit,
    /// Normalisation convention.
    pub normalization: Normalization,
}

/// Pillow's bilinear (triangle) filter.
fn triangle(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

/// Filter taps for resizing a line of `in_size` samples to `out_size`: (first index, weights).
fn taps(in_size: usize, out_size: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale; // the triangle filter's support is 1
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let mut weights: Vec<f64> = (xmin..xmax)
                .map(|x| triangle((x as f64 - center + 0.5) / filter_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            (xmin, weights)
        })
        .collect()
}

/// Resizes with Pillow's bilinear filter; a pass whose size does not change is skipped.
pub fn resize(image: &RgbImage, width: usize, height: usize) -> RgbImage {
    let mut current = image.clone();
    if width != current.width {
        let t = taps(current.width, width);
        let mut out = RgbImage::filled(width, current.height, 0.0);
        for y in 0..current.height {
            for (xx, (xmin, weights)) in t.iter().enumerate() {
                for c in 0..3 {
                    let sum: f64 = weights
                        .iter()
                        .enumerate()
                        .map(|(k, w)| current.at(xmin + k, y, c) as f64 * w)
                        .sum();
                    out.pixels[(y * width + xx) * 3 + c] = sum as f32;
                }
            }
        }
        current = out;
    }
    if height != current.height {
        let t = taps(current.height, height);
        let mut out = RgbImage::filled(current.width, height, 0.0);
        for (yy, (ymin, weights)) in t.iter().enumerate() {
            for x in 0..current.width {
                for c in 0..3 {
                    let sum: f64 = weights
                        .iter()
                        .enumerate()
                        .map(|(k, w)| current.at(x, ymin + k, c) as f64 * w)
                        .sum();
                    out.pixels[(yy * current.width + x) * 3 + c] = sum as f32;
                }
            }
        }
        current = out;
    }
    current
}

/// Rounds `side * size / reference` to a whole number of pixels, at least 1.
fn scaled(side: usize, size: usize, reference: usize) -> usize {
    ((side as f64 * size as f64 / reference as f64).round() as usize).max(1)
}

/// Makes the image a `size` x `size` square as `fit` says.
pub fn fit_square(image: &RgbImage, size: usize, fit: Fit) -> RgbImage {
    let (w, h) = (image.width, image.height);
    match fit {
        Fit::Stretch => resize(image, size, size),
        Fit::Pad => {
            let longer = w.max(h);
            let (nw, nh) = (
                scaled(w, size, longer).min(size),
                scaled(h, size, longer).min(size),
            );
            let inner = resize(image, nw, nh);
            let mut out = RgbImage::filled(size, size, 0.0);
            let (ox, oy) = ((size - nw) / 2, (size - nh) / 2);
            for y in 0..nh {
                let src = &inner.pixels[y * nw * 3..(y + 1) * nw * 3];
                let start = ((y + oy) * size + ox) * 3;
                out.pixels[start..start + nw * 3].copy_from_slice(src);
            }
            out
        }
        Fit::Crop => {
            let shorter = w.min(h);
            let (nw, nh) = (
                scaled(w, size, shorter).max(size),
                scaled(h, size, shorter).max(size),
            );
            let inner = resize(image, nw, nh);
            let (ox, oy) = ((nw - size) / 2, (nh - size) / 2);
            let mut out = RgbImage::filled(size, size, 0.0);
            for y in 0..size {
                let start = ((y + oy) * nw + ox) * 3;
                out.pixels[y * size * 3..(y + 1) * size * 3]
                    .copy_from_slice(&inner.pixels[start..start + size * 3]);
            }
            out
        }
    }
}

/// Normalises a 0..255 RGB image into a CHW tensor (`3 * h * w` values) in `normalization`'s
/// channel order.
pub fn normalize(image: &RgbImage, normalization: Normalization) -> Vec<f32> {
    let area = image.width * image.height;
    let mut out = vec![0f32; 3 * area];
    for p in 0..area {
        let rgb = &image.pixels[p * 3..p * 3 + 3];
        for c in 0..3 {
            out[c * area + p] = match normalization {
                Normalization::Torchvision => {
                    (rgb[c] / 255.0 - TORCHVISION_MEAN[c]) / TORCHVISION_STD[c]
                }
                Normalization::Caffe => rgb[2 - c] - CAFFE_MEAN_BGR[c],
            };
        }
    }
    out
}

impl Preprocess {
    /// Fits the image to the square input size (no normalisation yet): the stage that
    /// augmentation works on.
    pub fn fit(&self, image: &RgbImage) -> RgbImage {
        fit_square(image, self.size, self.fit)
    }

    /// The full preprocessing: fit to the square, then normalise to a CHW tensor.
    pub fn apply(&self, image: &RgbImage) -> Vec<f32> {
        normalize(&self.fit(image), self.normalization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_sum_to_one_and_widen_when_downscaling() {
        for (from, to) in [(300, 32), (32, 32), (17, 64), (1000, 3)] {
            for (_, w) in taps(from, to) {
                assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            }
        }
        assert!(taps(300, 30)[5].1.len() >= 19);
        assert_eq!(taps(32, 32)[3], (3, vec![1.0, 0.0]));
    }

    #[test]
    fn fits_are_square_and_pad_keeps_black_borders() {
        let img = RgbImage::filled(40, 20, 200.0);
        for fit in [Fit::Stretch, Fit::Pad, Fit::Crop] {
            let out = fit_square(&img, 16, fit);
            assert_eq!((out.width, out.height), (16, 16), "{fit:?}");
        }
        let padded = fit_square(&img, 16, Fit::Pad);
        assert_eq!(padded.at(5, 0, 0), 0.0);
        assert!((padded.at(5, 8, 0) - 200.0).abs() < 1e-3);
    }

    #[test]
    fn caffe_is_bgr_minus_mean_and_torchvision_is_rgb_standardised() {
        let mut img = RgbImage::filled(1, 1, 0.0);
        img.pixels = vec![255.0, 0.0, 100.0];
        let caffe = normalize(&img, Normalization::Caffe);
        assert_eq!(caffe, vec![100.0 - 103.939, 0.0 - 116.779, 255.0 - 123.68]);
        let tv = normalize(&img, Normalization::Torchvision);
        assert!((tv[0] - (1.0 - 0.485) / 0.229).abs() < 1e-6);
    }
}
