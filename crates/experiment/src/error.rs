//! Errors of an experiment run: each names the file, task or stage it comes from.

use std::path::{Path, PathBuf};

/// What can stop an experiment.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The experiment file or an override is wrong.
    #[error("{0}")]
    Config(String),
    /// The data of a task cannot be used as it is.
    #[error("task `{task}`: {reason}")]
    Task {
        /// The task.
        task: String,
        /// What is wrong.
        reason: String,
    },
    /// A run directory or bundle does not hold what it should.
    #[error("{path}: {reason}")]
    Run {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An earlier task's predictions changed after later tasks trained.
    #[error("forgetting detected: {0}")]
    Forgetting(String),
    /// Reading or writing failed.
    #[error("{path}: {source}")]
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
    /// A figure.
    #[error(transparent)]
    Plot(#[from] medpath_plot::PlotError),
    /// Learning a task.
    #[error(transparent)]
    Learn(#[from] medpath_learn::LearnError),
    /// A readout.
    #[error(transparent)]
    Readout(#[from] medpath_readout::ReadoutError),
    /// Answering with a model.
    #[error(transparent)]
    Infer(#[from] medpath_infer::InferError),
    /// The report.
    #[error(transparent)]
    Report(#[from] medpath_report::ReportError),
    /// A file of the run folder.
    #[error(transparent)]
    File(#[from] medpath_runkit::FileError),
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A task error.
    pub fn task(task: &str, reason: impl Into<String>) -> Error {
        Error::Task {
            task: task.to_string(),
            reason: reason.into(),
        }
    }

    /// A run directory error.
    pub fn run(path: &Path, reason: impl Into<String>) -> Error {
        Error::Run {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// Result with this crate's error.
pub type Result<T> = std::result::Result<T, Error>;
