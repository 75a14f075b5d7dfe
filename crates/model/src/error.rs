//! The error type of the model crate.

/// What can go wrong running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The input does not fit the model.
    #[error("invalid input: {0}")]
    Input(String),
    /// The feature cache failed.
    #[error(transparent)]
    Cache(#[from] medpath_cache::CacheError),
    /// This CPU does not run the arithmetic asked for.
    #[error(transparent)]
    Unavailable(#[from] medpath_conv::ArithmeticUnavailable),
    /// The tensor backend reported a failure.
    #[error("tensor backend: {0}")]
    Backend(String),
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, ModelError>;
