//! The error type of the learn crate.

/// What can stop learning a task.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    /// A setting does not fit.
    #[error("{0}")]
    Config(String),
    /// The path network.
    #[error(transparent)]
    PathNet(#[from] medpath_pathnet::Error),
    /// A readout.
    #[error(transparent)]
    Readout(#[from] medpath_readout::ReadoutError),
    /// A file of the task's folder.
    #[error(transparent)]
    File(#[from] medpath_runkit::FileError),
    /// A figure.
    #[error(transparent)]
    Plot(#[from] medpath_plot::PlotError),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, LearnError>;
