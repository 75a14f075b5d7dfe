//! Images held in memory: decoded float RGB (what the preprocessing reads) and 8-bit pictures
//! drawn by the program (what it encodes without writing a file).

/// An RGB image with `f32` samples on the 0..255 scale, row-major, channels interleaved (HWC).
#[derive(Debug, Clone, PartialEq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` samples.
    pub pixels: Vec<f32>,
}

impl RgbImage {
    /// A `width` x `height` image filled with `value`.
    pub fn filled(width: usize, height: usize, value: f32) -> RgbImage {
        RgbImage {
            width,
            height,
            pixels: vec![value; width * height * 3],
        }
    }

    /// Sample of channel `c` at (`x`, `y`).
    pub fn at(&self, x: usize, y: usize, c: usize) -> f32 {
        self.pixels[(y * self.width + x) * 3 + c]
    }
}

/// An 8-bit picture held in memory (a drawn ECG beat, say), gray or RGB, row-major, channels
/// interleaved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PixelImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// 1 (gray) or 3 (RGB).
    pub channels: usize,
    /// `width * height * channels` samples.
    pub pixels: Vec<u8>,
}

impl PixelImage {
    /// The picture as [`crate::load_rgb`] would decode it from a PNG file of these pixels: gray becomes
    /// three equal channels.
    pub fn to_rgb(&self) -> RgbImage {
        let pixels = match self.channels {
            1 => self
                .pixels
                .iter()
                .flat_map(|&v| [f32::from(v); 3])
                .collect(),
            _ => self.pixels.iter().map(|&v| f32::from(v)).collect(),
        };
        RgbImage {
            width: self.width,
            height: self.height,
            pixels,
        }
    }

    /// SHA-256 of the picture's shape and pixels: its content address.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(b"medpath-pixels-v1");
        for n in [self.width, self.height, self.channels] {
            hasher.update((n as u64).to_le_bytes());
        }
        hasher.update(&self.pixels);
        hasher.finalize().into()
    }
}
