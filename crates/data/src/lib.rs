//! Image data sets for medpath: finding images in class folders (plain ImageFolder or the Kermany
//! `train/val/test` layout), patient ids, duplicate detection, patient-aware stratified splits,
//! decoding, preprocessing for the encoder and augmentation views.

pub mod augment;
pub mod dicom;
pub mod error;
pub mod folder;
pub mod image;
pub mod labels;
pub mod patient;
pub mod pixels;
pub mod preprocess;
pub mod report;
pub mod splits;

pub use augment::{AugmentConfig, AugmentSet, ViewTransform, apply_transform};
pub use dicom::{DicomInfo, is_dicom_file};
pub use error::{DataError, Result};
pub use folder::{ImageDataset, ImageEntry, Layout};
pub use image::{ImageInfo, load_rgb, truncation};
pub use labels::LabelSource;
pub use patient::patient_id;
pub use pixels::{PixelImage, RgbImage};
pub use preprocess::{Fit, Normalization, Preprocess};
pub use report::DatasetReport;
pub use splits::{
    ContentHash, SplitAssignment, SplitPlan, assign_splits, content_hashes, duplicate_groups,
};
