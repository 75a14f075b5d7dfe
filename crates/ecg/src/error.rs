//! The error type of beat extraction and rendering.

use std::path::PathBuf;

/// What can go wrong turning records into beat images.
#[derive(Debug, thiserror::Error)]
pub enum EcgError {
    /// Reading or writing a WFDB record failed.
    #[error(transparent)]
    Wfdb(#[from] medpath_wfdb::WfdbError),
    /// Writing an output file failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// Encoding a PNG failed.
    #[error("{path}: PNG encoding failed: {message}", path = path.display())]
    Png {
        /// The image file.
        path: PathBuf,
        /// The encoder's message.
        message: String,
    },
    /// An option has a value that cannot work.
    #[error("invalid option: {0}")]
    Invalid(String),
    /// A record lacks a lead the pipeline draws (or finds its beats on).
    #[error("record {record}: no lead {lead} (has {available})")]
    MissingLead {
        /// The record.
        record: String,
        /// The lead asked for.
        lead: String,
        /// The signals it has, comma-separated.
        available: String,
    },
}

impl EcgError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EcgError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, EcgError>;
