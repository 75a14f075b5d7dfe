//! The error type of the inference crate: each names the file or input it comes from.

use std::path::{Path, PathBuf};

/// What can stop `predict` or the loading of a model.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    /// A setting or an input does not fit the model.
    #[error("{0}")]
    Config(String),
    /// A bundle, run folder or input file does not hold what it should.
    #[error("{path}: {reason}", path = path.display())]
    Run {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// WFDB reading.
    #[error(transparent)]
    Wfdb(#[from] medpath_wfdb::WfdbError),
    /// Beat extraction.
    #[error(transparent)]
    Ecg(#[from] medpath_ecg::EcgError),
    /// Image data.
    #[error(transparent)]
    Data(#[from] medpath_data::DataError),
    /// Weights.
    #[error(transparent)]
    Weights(#[from] medpath_weights::WeightsError),
    /// The encoder.
    #[error(transparent)]
    Model(#[from] medpath_model::ModelError),
    /// The path network.
    #[error(transparent)]
    PathNet(#[from] medpath_pathnet::Error),
    /// A readout.
    #[error(transparent)]
    Readout(#[from] medpath_readout::ReadoutError),
    /// A figure.
    #[error(transparent)]
    Plot(#[from] medpath_plot::PlotError),
    /// A file of the bundle.
    #[error(transparent)]
    File(#[from] medpath_runkit::FileError),
}

impl InferError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> InferError {
        InferError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A file or folder that does not hold what it should.
    pub fn run(path: &Path, reason: impl Into<String>) -> InferError {
        InferError::Run {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, InferError>;
