//! Training-time augmentation: the paper's horizontal flip, zoom and small rotation, and
//! optionally translation, contrast and gamma changes (a stronger set that mimics differences
//! between scanners and exposures) and changes of aspect ratio (for images squashed to a square
//! from originals of different shapes).
//!
//! Each image gets a fixed number of views; view 0 is the image itself and views 1.. are random
//! transforms drawn from a generator seeded by (seed, image key, view), so the same view of the
//! same image is always the same picture and its encoder features can be cached.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::pixels::RgbImage;

/// Augmentation settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    /// Views per training image, the original included (1 = no augmentation).
    pub views: usize,
    /// Flip horizontally with probability 1/2.
    pub flip: bool,
    /// Zoom range: the scale is drawn from [1 - zoom, 1 + zoom] (Keras `zoom_range`).
    pub zoom: f32,
    /// Rotation range in degrees: the angle is drawn from [-rotation, +rotation].
    pub rotation_deg: f32,
    /// Seed mixed into every view's generator.
    pub seed: u64,
    /// Shift range as a share of the image side, per axis: drawn from [-translate, +translate].
    #[serde(default)]
    pub translate: f32,
    /// Contrast range: intensities are stretched about the image mean by a factor in
    /// [1 - contrast, 1 + contrast].
    #[serde(default)]
    pub contrast: f32,
    /// Gamma range: intensities `v` in [0, 255] become `255 (v / 255)^g`, with `ln g` drawn from
    /// [-ln(1 + gamma), +ln(1 + gamma)].
    #[serde(default)]
    pub gamma: f32,
    /// Aspect-ratio range: the content is widened by a factor `a` with `ln a` drawn from
    /// [-ln(1 + aspect), +ln(1 + aspect)]; `a` above 1 stretches the width by `a`, below 1 the
    /// height by `1 / a`, so the picture stays filled (the stretched side is cropped).
    #[serde(default)]
    pub aspect: f32,
}

impl Default for AugmentConfig {
    /// The paper's augmentation: flip, 10 % zoom, a small rotation (5 degrees), 4 views.
    fn default() -> Self {
        AugmentConfig {
            views: 4,
            flip: true,
            zoom: 0.1,
            rotation_deg: 5.0,
            seed: 0,
            translate: 0.0,
            contrast: 0.0,
            gamma: 0.0,
            aspect: 0.0,
        }
    }
}

/// A named set of augmented views for images, as an experiment file names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AugmentSet {
    /// The paper's: horizontal flip, zoom ±10 %, rotation ±5 degrees.
    #[default]
    Paper,
    /// Flip, zoom ±15 %, rotation ±10 degrees, shifts up to 8 %, contrast ±20 %, gamma up to
    /// 1.2x either way.
    Strong,
    /// `strong` plus aspect-ratio changes up to 1.3x either way (`strong-aspect`): for images
    /// squashed to a square from originals whose shape differs by class.
    #[serde(rename = "strong-aspect")]
    StrongAspect,
}

impl AugmentSet {
    /// The augmentation of `views` pictures per image (1: none) seeded by `seed`.
    pub fn config(self, views: usize, seed: u64) -> AugmentConfig {
        match self {
            AugmentSet::Paper => AugmentConfig {
                views: views.max(1),
                seed,
                ..AugmentConfig::default()
            },
            AugmentSet::Strong => AugmentConfig::strong(views.max(1), seed),
            AugmentSet::StrongAspect => AugmentConfig::strong_aspect(views.max(1), seed),
        }
    }
}

impl AugmentConfig {
    /// A stronger set for images from other scanners and exposures: flip, zoom ±15 %, rotation
    /// ±10 degrees, shifts up to 8 % of the side, contrast ±20 %, gamma up to 1.2x either way.
    pub fn strong(views: usize, seed: u64) -> AugmentConfig {
        AugmentConfig {
            views,
            flip: true,
            zoom: 0.15,
            rotation_deg: 10.0,
            seed,
            translate: 0.08,
            contrast: 0.2,
            gamma: 0.2,
            aspect: 0.0,
        }
    }

    /// The strong set plus aspect-ratio changes up to 1.3x either way. For images squashed to a
    /// square from originals whose shape differs by class (the Kermany copies: NORMAL originals
    /// have a median width/height of 1.22, PNEUMONIA ones 1.48), so that the squash is no cue.
    pub fn strong_aspect(views: usize, seed: u64) -> AugmentConfig {
        AugmentConfig {
            aspect: 0.3,
            ..AugmentConfig::strong(views, seed)
        }
    }

    /// Whether any setting beyond the paper's (flip, zoom, rotation) is on.
    pub fn has_photometric_or_shift(&self) -> bool {
        self.translate > 0.0 || self.contrast > 0.0 || self.gamma > 0.0
    }
}

/// The geometric transform of one view.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViewTransform {
    /// Mirror left-right.
    pub flip: bool,
    /// Scale of the content: above 1 zooms in.
    pub scale: f32,
    /// Rotation in degrees, counter-clockwise.
    pub angle_deg: f32,
    /// Shift of the content as a share of the width and height.
    pub shift: (f32, f32),
    /// Contrast factor about the image mean (1: unchanged).
    pub contrast: f32,
    /// Gamma exponent (1: unchanged).
    pub gamma: f32,
    /// Widening of the content (1: unchanged; below 1 the content is made taller).
    pub aspect: f32,
}

impl ViewTransform {
    /// The identity transform (view 0).
    pub const IDENTITY: ViewTransform = ViewTransform {
        flip: false,
        scale: 1.0,
        angle_deg: 0.0,
        shift: (0.0, 0.0),
        contrast: 1.0,
        gamma: 1.0,
        aspect: 1.0,
    };

    /// A purely geometric transform of the paper's kind.
    pub fn geometric(flip: bool, scale: f32, angle_deg: f32) -> ViewTransform {
        ViewTransform {
            flip,
            scale,
            angle_deg,
            ..ViewTransform::IDENTITY
        }
    }
}

/// Mixes a 64-bit value (SplitMix64 finaliser), to derive independent seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl AugmentConfig {
    /// The transform of `view` of the image identified by `image_key` (e.g. the first bytes of its
    /// content hash). View 0 is always the identity.
    pub fn transform(&self, image_key: u64, view: usize) -> ViewTransform {
        if view == 0 {
            return ViewTransform::IDENTITY;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed ^ mix(image_key ^ mix(view as u64))));
        let flip = self.flip && rng.random_bool(0.5);
        let scale = if self.zoom > 0.0 {
            rng.random_range(1.0 - self.zoom..=1.0 + self.zoom)
        } else {
            1.0
        };
        let angle_deg = if self.rotation_deg > 0.0 {
            rng.random_range(-self.rotation_deg..=self.rotation_deg)
        } else {
            0.0
        };
        let mut t = ViewTransform::geometric(flip, scale, angle_deg);
        // Drawn after the paper's three, so adding them leaves the paper's views unchanged.
        if self.translate > 0.0 {
            t.shift = (
                rng.random_range(-self.translate..=self.translate),
                rng.random_range(-self.translate..=self.translate),
            );
        }
        if self.contrast > 0.0 {
            t.contrast = rng.random_range(1.0 - self.contrast..=1.0 + self.contrast);
        }
        if self.gamma > 0.0 {
            let range = (1.0 + self.gamma).ln();
            t.gamma = rng.random_range(-range..=range).exp();
        }
        if self.aspect > 0.0 {
            let range = (1.0 + self.aspect).ln();
            t.aspect = rng.random_range(-range..=range).exp();
        }
        t
    }
}

/// Bilinear sample of channel `c` at (x, y) in pixel-centre coordinates, clamped to the edges
/// (Keras' `fill_mode="nearest"`).
fn sample(image: &RgbImage, x: f32, y: f32, c: usize) -> f32 {
    let max_x = (image.width - 1) as f32;
    let max_y = (image.height - 1) as f32;
    let (x, y) = ((x - 0.5).clamp(0.0, max_x), (y - 0.5).clamp(0.0, max_y));
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let top = image.at(x0, y0, c) * (1.0 - fx) + image.at(x1, y0, c) * fx;
    let bottom = image.at(x0, y1, c) * (1.0 - fx) + image.at(x1, y1, c) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Applies a view transform around the image centre; the output has the input's size.
pub fn apply_transform(image: &RgbImage, t: &ViewTransform) -> RgbImage {
    if *t == ViewTransform::IDENTITY || image.width == 0 || image.height == 0 {
        return image.clone();
    }
    let (cx, cy) = (image.width as f32 / 2.0, image.height as f32 / 2.0);
    let (sin, cos) = t.angle_deg.to_radians().sin_cos();
    let (shift_x, shift_y) = (
        t.shift.0 * image.width as f32,
        t.shift.1 * image.height as f32,
    );
    // Stretch along one axis only, never shrink, so no border is filled in.
    let (stretch_x, stretch_y) = (t.aspect.max(1.0), (1.0 / t.aspect).max(1.0));
    let mut out = RgbImage::filled(image.width, image.height, 0.0);
    for y in 0..image.height {
        for x in 0..image.width {
            // Output pixel centre relative to the shifted image centre, mapped back into the
            // input.
            let (mut dx, dy) = (x as f32 + 0.5 - cx - shift_x, y as f32 + 0.5 - cy - shift_y);
            if t.flip {
                dx = -dx;
            }
            let sx = (cos * dx - sin * dy) / (t.scale * stretch_x) + cx;
            let sy = (sin * dx + cos * dy) / (t.scale * stretch_y) + cy;
            for c in 0..3 {
                out.pixels[(y * image.width + x) * 3 + c] = sample(image, sx, sy, c);
            }
        }
    }
    if t.gamma != 1.0 {
        for v in out.pixels.iter_mut() {
            *v = 255.0 * (v.clamp(0.0, 255.0) / 255.0).powf(t.gamma);
        }
    }
    if t.contrast != 1.0 {
        let mean = out.pixels.iter().sum::<f32>() / out.pixels.len().max(1) as f32;
        for v in out.pixels.iter_mut() {
            *v = (mean + t.contrast * (*v - mean)).clamp(0.0, 255.0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: usize, h: usize) -> RgbImage {
        let mut img = RgbImage::filled(w, h, 0.0);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    img.pixels[(y * w + x) * 3 + c] = (x * 10 + y + c) as f32;
                }
            }
        }
        img
    }

    #[test]
    fn view_zero_is_identity_and_views_are_reproducible() {
        let cfg = AugmentConfig::default();
        assert_eq!(cfg.transform(42, 0), ViewTransform::IDENTITY);
        assert_eq!(cfg.transform(42, 3), cfg.transform(42, 3));
        assert_ne!(cfg.transform(42, 3), cfg.transform(43, 3));
        let other_seed = AugmentConfig { seed: 1, ..cfg };
        assert_ne!(cfg.transform(42, 3), other_seed.transform(42, 3));
        for view in 1..50 {
            let t = cfg.transform(7, view);
            assert!(
                (0.9..=1.1).contains(&t.scale) && t.angle_deg.abs() <= 5.0,
                "{t:?}"
            );
        }
    }

    #[test]
    fn flip_mirrors_and_identity_keeps_pixels() {
        let img = gradient(8, 6);
        let flipped = apply_transform(&img, &ViewTransform::geometric(true, 1.0, 0.0));
        for y in 0..6 {
            for x in 0..8 {
                assert!((flipped.at(x, y, 1) - img.at(7 - x, y, 1)).abs() < 1e-4);
            }
        }
        assert_eq!(apply_transform(&img, &ViewTransform::IDENTITY), img);
    }

    #[test]
    fn zoom_in_magnifies_the_centre() {
        let img = gradient(20, 20);
        let zoomed = apply_transform(&img, &ViewTransform::geometric(false, 2.0, 0.0));
        // Horizontal gradient of 10 per pixel halves to 5 per pixel when zoomed in twofold.
        let step = zoomed.at(11, 10, 0) - zoomed.at(10, 10, 0);
        assert!((step - 5.0).abs() < 1e-3, "{step}");
    }

    #[test]
    fn strong_views_shift_and_change_intensities_within_range() {
        let cfg = AugmentConfig::strong(4, 3);
        let paper = AugmentConfig {
            translate: 0.0,
            contrast: 0.0,
            gamma: 0.0,
            ..cfg
        };
        for view in 1..40 {
            let t = cfg.transform(9, view);
            let p = paper.transform(9, view);
            assert_eq!(
                (t.flip, t.scale, t.angle_deg),
                (p.flip, p.scale, p.angle_deg)
            );
            assert!(t.shift.0.abs() <= 0.08 && t.shift.1.abs() <= 0.08, "{t:?}");
            assert!((0.8..=1.2).contains(&t.contrast), "{t:?}");
            assert!(
                t.gamma >= 1.0 / 1.2 - 1e-6 && t.gamma <= 1.2 + 1e-6,
                "{t:?}"
            );
        }
        let img = gradient(20, 20);
        let shifted = apply_transform(
            &img,
            &ViewTransform {
                shift: (0.1, 0.0),
                ..ViewTransform::IDENTITY
            },
        );
        // Content moves right by 2 pixels: the value at x = 12 came from x = 10.
        assert!((shifted.at(12, 5, 0) - img.at(10, 5, 0)).abs() < 1e-3);
        let brighter = apply_transform(
            &img,
            &ViewTransform {
                gamma: 0.5,
                ..ViewTransform::IDENTITY
            },
        );
        assert!(brighter.at(3, 3, 0) > img.at(3, 3, 0));
    }

    #[test]
    fn aspect_views_keep_the_strong_draws_and_stretch_one_axis() {
        let cfg = AugmentConfig::strong_aspect(4, 3);
        let strong = AugmentConfig::strong(4, 3);
        let mut widened = 0;
        for view in 1..60 {
            let t = cfg.transform(9, view);
            assert_eq!(
                ViewTransform { aspect: 1.0, ..t },
                strong.transform(9, view)
            );
            assert!(
                t.aspect >= 1.0 / 1.3 - 1e-6 && t.aspect <= 1.3 + 1e-6,
                "{t:?}"
            );
            widened += usize::from(t.aspect > 1.0);
        }
        assert!((15..=45).contains(&widened), "{widened} of 59 widened");
        let img = gradient(20, 20);
        // The horizontal and vertical steps per pixel at the centre after a change of aspect.
        let steps = |aspect: f32| {
            let out = apply_transform(
                &img,
                &ViewTransform {
                    aspect,
                    ..ViewTransform::IDENTITY
                },
            );
            let centre = out.at(10, 10, 0);
            (out.at(11, 10, 0) - centre, out.at(10, 11, 0) - centre)
        };
        // The gradient steps 10 per pixel across and 1 down. Widened twofold, the horizontal
        // step halves and the vertical one stays; made twice as tall, the other way round.
        let close = |(x, y): (f32, f32), (ex, ey): (f32, f32)| {
            (x - ex).abs() < 1e-3 && (y - ey).abs() < 1e-3
        };
        assert!(close(steps(2.0), (5.0, 1.0)), "{:?}", steps(2.0));
        assert!(close(steps(0.5), (10.0, 0.5)), "{:?}", steps(0.5));
    }
}
