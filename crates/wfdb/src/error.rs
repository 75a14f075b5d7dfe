//! The error type of the WFDB reader and writer.

use std::path::PathBuf;

/// Everything that can go wrong reading or writing a WFDB record. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WfdbError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A header line is malformed or a required field is missing.
    #[error("{path}, line {line}: {message}", path = path.display())]
    Header {
        /// The header file.
        path: PathBuf,
        /// 1-based line number in the header.
        line: usize,
        /// What is wrong, with the value found.
        message: String,
    },
    /// The signal format is one this reader does not decode.
    #[error("{path}: unsupported signal format {format} (supported: 16, 61, 80, 160, 212)", path = path.display())]
    UnsupportedFormat {
        /// The header or signal file that names the format.
        path: PathBuf,
        /// The format code found.
        format: u16,
    },
    /// A header feature that this reader does not implement (multi-segment records, skew, ...).
    #[error("{path}: unsupported: {what}", path = path.display())]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// The feature.
        what: String,
    },
    /// A signal file holds fewer bytes than the header promises.
    #[error("{path}: truncated signal file: {expected} bytes needed for {samples} samples per signal, found {found}", path = path.display())]
    Truncated {
        /// The signal file.
        path: PathBuf,
        /// Samples per signal the header declares.
        samples: u64,
        /// Bytes the file must hold.
        expected: u64,
        /// Bytes it holds.
        found: u64,
    },
    /// An annotation file is not valid MIT format.
    #[error("{path}: corrupt annotation file at byte {offset}: {message}", path = path.display())]
    Annotation {
        /// The annotation file.
        path: PathBuf,
        /// Byte offset of the offending word.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// Data handed to a writer cannot be represented in the requested format.
    #[error("{path}: cannot write: {message}", path = path.display())]
    Write {
        /// The file being written.
        path: PathBuf,
        /// What is wrong with the data.
        message: String,
    },
}

impl WfdbError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        WfdbError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, WfdbError>;
