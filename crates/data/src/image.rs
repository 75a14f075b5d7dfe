//! Decoding image files into a float RGB buffer.

use std::path::Path;

use crate::dicom::{DicomInfo, is_dicom, load_dicom};
use crate::error::{DataError, Result};
use crate::pixels::RgbImage;

/// What decoding found about a file besides its pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// Channels stored in the file (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA).
    pub channels: u8,
    /// The header of a DICOM file.
    pub dicom: Option<DicomInfo>,
}

/// Why a JPEG or PNG file is incomplete, if it is: decoders fill the rows of a truncated file
/// silently, so the file's end is checked first.
pub fn truncation(bytes: &[u8]) -> Option<String> {
    let len = bytes.len();
    if bytes.starts_with(&[0xFF, 0xD8]) {
        // Entropy-coded data never holds FF D9 (an FF there is followed by 00 or a restart
        // marker), so an end-of-image marker after the first start-of-scan means the file ends
        // where the image does.
        let scan = bytes.windows(2).position(|w| w == [0xFF, 0xDA]);
        let complete = scan.is_some_and(|s| bytes[s..].windows(2).any(|w| w == [0xFF, 0xD9]));
        return (!complete).then(|| {
            format!(
                "truncated: {len} bytes and no end-of-image marker (FF D9) after the image data"
            )
        });
    }
    if bytes.starts_with(b"\x89PNG") {
        let complete = bytes.windows(4).rev().take(64).any(|w| w == b"IEND");
        return (!complete).then(|| format!("truncated: {len} bytes and no IEND chunk at the end"));
    }
    None
}

/// Decodes a JPEG, PNG or DICOM file (format from its content, not its name). Gray images
/// become three equal channels; alpha is dropped; 16-bit samples are reduced to 8 bits; a DICOM
/// image goes through the display pipeline of [`crate::dicom`]. A corrupt, truncated or
/// non-image file is an error that names it and says what is wrong.
pub fn load_rgb(path: &Path) -> Result<(RgbImage, ImageInfo)> {
    let decode_err = |message: String| DataError::Decode {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if is_dicom(&bytes) {
        let (image, dicom) = load_dicom(path)?;
        let info = ImageInfo {
            width: image.width,
            height: image.height,
            channels: if dicom.photometric.starts_with("MONOCHROME") {
                1
            } else {
                3
            },
            dicom: Some(dicom),
        };
        return Ok((image, info));
    }
    if let Some(why) = truncation(&bytes) {
        return Err(decode_err(why));
    }
    let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    if reader.format().is_none() {
        return Err(decode_err(
            "unrecognised file content (expected JPEG, PNG or DICOM)".into(),
        ));
    }
    let decoded = reader.decode().map_err(|e| decode_err(e.to_string()))?;
    let info = ImageInfo {
        width: decoded.width() as usize,
        height: decoded.height() as usize,
        channels: decoded.color().channel_count(),
        dicom: None,
    };
    let rgb = decoded.to_rgb8();
    let image = RgbImage {
        width: info.width,
        height: info.height,
        pixels: rgb.into_raw().into_iter().map(f32::from).collect(),
    };
    Ok((image, info))
}
