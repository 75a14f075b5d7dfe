//! A trained medpath model put to use, without any training code: the model bundle
//! ([`bundle`]), the encoder as a bundle names it ([`encoder`]), the rule that rejects inputs of
//! no task ([`novelty`]), occlusion heat maps ([`explain`]) and [`predict::Predictor`], which
//! answers images, DICOM files and whole WFDB records through the same record pipeline the
//! model was trained and tested with.

pub mod bundle;
pub mod encoder;
pub mod error;
pub mod explain;
pub mod novelty;
pub mod predict;

use medpath_data::PixelImage;

pub use error::{InferError, Result};

/// A beat picture drawn by the record pipeline, as the encoder takes it.
pub fn pixel_image(image: medpath_ecg::BeatImage) -> PixelImage {
    PixelImage {
        width: image.size as usize,
        height: image.size as usize,
        channels: image.channels,
        pixels: image.pixels,
    }
}
