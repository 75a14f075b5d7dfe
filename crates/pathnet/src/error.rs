//! Errors of the path network.

use std::path::PathBuf;

/// What can go wrong building, training or loading a path network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A feature set does not fit the network (channel count, empty set, label out of range).
    #[error("{0}")]
    Shape(String),
    /// The loss became NaN or infinite: training stops instead of writing garbage weights.
    #[error(
        "training diverged: loss is {loss} at step {step} of task `{task}` (try a lower learning rate)"
    )]
    Diverged {
        /// Task being trained.
        task: String,
        /// Step at which it happened.
        step: usize,
        /// The loss value.
        loss: f32,
    },
    /// A checkpoint or weight file could not be read or does not match this network.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Result with this crate's error.
pub type Result<T> = std::result::Result<T, Error>;
