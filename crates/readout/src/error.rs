//! The error type of the readout crate.

/// What can go wrong answering or fitting a readout.
#[derive(Debug, thiserror::Error)]
pub enum ReadoutError {
    /// A setting or an input does not fit the readout.
    #[error("{0}")]
    Config(String),
    /// The path network.
    #[error(transparent)]
    PathNet(#[from] medpath_pathnet::Error),
    /// A readout's file.
    #[error(transparent)]
    File(#[from] medpath_runkit::FileError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ReadoutError>;
