//! Decoding image files into a float RGB buffer.

use std::path::Path;

use crate::error::{DataError, Result};

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

/// What decoding found about a file besides its pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channels stored in the file (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    pub channels: u8,
}

/// Decodes a JPEG or PNG file (format from its content, not its name). Gray images become three
/// equal channels; alpha is dropped; 16-bit samples are reduced to 8 bits. A corrupt, truncated
/// or non-image file is an error that names it.
pub fn load_rgb(path: &Path) -> Result<(RgbImage, ImageInfo)> {
    let decode_err = |message: String| DataError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let reader = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format().is_none() {
        return Err(decode_err(
            "unrecognised file content (expected JPEG or PNG)".into(),
        ));
    }
    let decoded = reader.decode().map_err(|e| decode_err(e.to_string()))?;
    let info = ImageInfo {
        width: decoded.width() as usize,
        height: decoded.height() as usize,
        channels: decoded.color().channel_count(),
    };
    let rgb = decoded.to_rgb8();
    let image = RgbImage {
        width: info.width,
        height: info.height,
        pixels: rgb.into_raw().into_iter().map(f32::from).collect(),
    };
    Ok((image, info))
}
