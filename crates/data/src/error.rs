//! The error type of image data loading and preprocessing.

use std::path::PathBuf;

/// What can go wrong loading an image data set. Every variant names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or folder could not be read.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be decoded as an image (corrupt, truncated, or not an image at all).
    #[error("{path}: not a readable image: {message}", path = path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// The folder does not look like a data set this crate understands.
    #[error("{path}: {message}", path = path.display())]
    Layout {
        /// The folder.
        path: PathBuf,
        /// What was expected and what was found.
        message: String,
    },
    /// An option has a value that cannot work.
    #[error("invalid option: {0}")]
    Invalid(String),
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, DataError>;
