//! The PathNet super-network of medpath, trained on cached encoder features.
//!
//! - [`network`]: L layers of M modules (1x1 convolutions, then fully connected), per-task
//!   readouts, frozen modules; forward and backward passes written out by hand.
//! - [`train`]: Adam, minibatch steps along a path, evaluation.
//! - [`search`]: phase 1, evolutionary path search with equal-snapshot tournaments.
//! - [`fit`]: phase 2, training a fixed path with early stopping.
//! - [`checkpoint`]: atomic save and load of network, optimiser and progress.
//!
//! Everything is deterministic for a given seed: single-threaded matrix products, seeded
//! random streams, no wall-clock decisions.

pub mod checkpoint;
pub mod error;
pub mod features;
pub mod fit;
#[cfg(test)]
mod gradient_check;
mod linalg;
pub mod network;
pub mod search;
pub mod storage;
pub mod train;

pub use error::{Error, Result};
pub use features::FeatureSet;
pub use fit::{EpochRecord, FitOutcome, FitSettings, fit};
pub use network::{Aggregate, NetworkConfig, Path, SuperNet};
pub use search::{FitnessMetric, FitnessOn, SearchOutcome, SearchSettings, evolve};
pub use storage::DiskPrecision;
pub use train::{
    Adam, AdamConfig, Evaluation, Examples, Learner, Regularisation, Stepper, argmax_rows,
    balanced_class_weights, evaluate, macro_recall,
};
