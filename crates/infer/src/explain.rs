//! Where the model looked: occlusion sensitivity (Zeiler and Fergus 2014). The input, as the
//! model sees it (fitted to the task's square size), is covered by a gray square at each place
//! of a grid in turn; how much the answered class's probability drops with a place covered is
//! that place's heat. It runs through the whole model (encoder, then the path or the trees)
//! without gradients, so it explains whatever readout a task answers with.

use std::path::Path;

use medpath_data::RgbImage;
use medpath_plot::{CaptionedImage, Figure, Raster};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// Covered squares per side of the grid.
pub const STEPS: usize = 7;

/// An occlusion map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeatMap {
    /// Side of the square input in pixels.
    pub size: usize,
    /// Side of each covered square.
    pub window: usize,
    /// Top-left corners of the covered squares (row-major over the grid).
    pub corners: Vec<(usize, usize)>,
    /// Probability of the answered class with nothing covered.
    pub base: f32,
    /// Its drop with each square covered (same order as `corners`; negative: it rose).
    pub drops: Vec<f32>,
}

impl HeatMap {
    /// Heat of every pixel: the mean drop of the squares covering it.
    pub fn pixels(&self) -> Vec<f32> {
        let mut sum = vec![0f32; self.size * self.size];
        let mut count = vec![0u32; self.size * self.size];
        for (&(x0, y0), &d) in self.corners.iter().zip(&self.drops) {
            for y in y0..(y0 + self.window).min(self.size) {
                for x in x0..(x0 + self.window).min(self.size) {
                    sum[y * self.size + x] += d;
                    count[y * self.size + x] += 1;
                }
            }
        }
        sum.iter()
            .zip(&count)
            .map(|(s, &c)| if c > 0 { s / c as f32 } else { 0.0 })
            .collect()
    }

    /// The covered square whose occlusion dropped the answer most.
    pub fn hottest(&self) -> (usize, usize) {
        let best = (0..self.drops.len())
            .max_by(|&a, &b| self.drops[a].total_cmp(&self.drops[b]))
            .unwrap_or(0);
        self.corners[best]
    }
}

/// `image` (already square, side `size`) with the square at `(x0, y0)` of side `window` filled
/// with the image's mean gray.
pub fn occluded(image: &RgbImage, (x0, y0): (usize, usize), window: usize) -> RgbImage {
    let mean = image.pixels.iter().sum::<f32>() / image.pixels.len().max(1) as f32;
    let mut out = image.clone();
    for y in y0..(y0 + window).min(image.height) {
        for x in x0..(x0 + window).min(image.width) {
            for c in 0..3 {
                out.pixels[(y * image.width + x) * 3 + c] = mean;
            }
        }
    }
    out
}

/// The occlusion map of `image` (square, side `size`) for the class `score` answers: `score`
/// gives the answered class's probability for each picture of a batch (the first call gets the
/// uncovered image alone).
pub fn occlusion_map(
    image: &RgbImage,
    score: &mut dyn FnMut(&[RgbImage]) -> Result<Vec<f32>>,
) -> Result<HeatMap> {
    let size = image.width;
    let window = (size / 4).max(1);
    let stride = ((size - window) / (STEPS - 1)).max(1);
    let corners: Vec<(usize, usize)> = (0..STEPS)
        .flat_map(|j| (0..STEPS).map(move |i| (i * stride, j * stride)))
        .collect();
    let base = score(std::slice::from_ref(image))?[0];
    let covered: Vec<RgbImage> = corners
        .iter()
        .map(|&c| occluded(image, c, window))
        .collect();
    let drops = score(&covered)?.iter().map(|p| base - p).collect();
    Ok(HeatMap {
        size,
        window,
        corners,
        base,
        drops,
    })
}

/// The input in gray with the heat laid over it (transparent where the answer did not drop,
/// red to yellow where it dropped most), with a caption, written to `path` as PNG.
pub fn save_overlay(image: &RgbImage, map: &HeatMap, caption: &str, path: &Path) -> Result<()> {
    CaptionedImage {
        image: heat_overlay(image, map),
        caption: caption.into(),
    }
    .save(path)?;
    Ok(())
}

/// An image as 8-bit RGB (values clamped to 0-255).
pub fn raster_of(image: &RgbImage) -> Raster {
    Raster::from_fn(image.width, image.height, |x, y| {
        let i = (y * image.width + x) * 3;
        [0, 1, 2].map(|c| image.pixels[i + c].clamp(0.0, 255.0) as u8)
    })
}

/// The picture [`save_overlay`] writes, without its caption: the input (of the map's size) in
/// gray, scaled up to about 256 pixels, with the heat over it.
pub fn heat_overlay(image: &RgbImage, map: &HeatMap) -> Raster {
    let side = map.size;
    let scale = (256 / side).max(1);
    let heat = map.pixels();
    let peak = heat.iter().copied().fold(1e-6f32, f32::max);
    Raster::from_fn(side * scale, side * scale, |x, y| {
        let i = (y / scale) * side + x / scale;
        let gray = (image.pixels[i * 3..i * 3 + 3].iter().sum::<f32>() / 3.0).clamp(0.0, 255.0);
        let t = (heat[i] / peak).clamp(0.0, 1.0);
        let hot = [255.0, 255.0 * t, 0.0];
        let alpha = 0.6 * t;
        [0, 1, 2].map(|c| (gray * (1.0 - alpha) + hot[c] * alpha) as u8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_finds_the_region_a_score_depends_on() {
        // A score that is the brightness of one 16 x 16 patch: covering it drops the score most.
        let mut image = RgbImage::filled(64, 64, 40.0);
        for y in 40..56 {
            for x in 8..24 {
                for c in 0..3 {
                    image.pixels[(y * 64 + x) * 3 + c] = 220.0;
                }
            }
        }
        let mut score = |batch: &[RgbImage]| -> Result<Vec<f32>> {
            Ok(batch
                .iter()
                .map(|im| {
                    let mut s = 0.0;
                    for y in 40..56 {
                        for x in 8..24 {
                            s += im.at(x, y, 0);
                        }
                    }
                    s / (256.0 * 255.0)
                })
                .collect())
        };
        let map = occlusion_map(&image, &mut score).unwrap();
        let (x, y) = map.hottest();
        assert!(
            x + map.window > 8 && x < 24 && y + map.window > 40 && y < 56,
            "{x},{y}"
        );
        let tmp = tempfile::tempdir().unwrap();
        save_overlay(&image, &map, "test", &tmp.path().join("h.png")).unwrap();
        assert!(medpath_data::load_rgb(&tmp.path().join("h.png")).is_ok());
    }
}
