//! medpath experiments end to end: an experiment file in, a run folder out.
//!
//! - [`config`]: the TOML experiment file and `--set` overrides, parsed into types once.
//! - [`tasks`]: preparing examples (beats of whole records, image folders) by protocol.
//! - [`pictures`], [`encoding`], [`dataset`]: the pictures of a task drawn and encoded through
//!   the cache, and the feature sets a role assignment makes of them.
//! - [`crossval`]: the record-kfold protocol.
//! - [`run`]: the whole run: tasks in order, router, joint test, no-forgetting check, novelty
//!   rule, metrics, bundle, report.
//! - [`shard`]: one shard of a run's encoding, for job arrays.
//! - [`demo`], [`ood`]: the built-in demo data and the generated pictures of no task.
//!
//! Learning a task is `medpath-learn`; answering with a saved model is `medpath-infer`.

pub mod config;
pub mod crossval;
pub mod dataset;
pub mod demo;
pub mod encoding;
pub mod error;
pub mod ood;
pub mod pictures;
pub mod run;
pub mod shard;
pub mod tasks;

pub use config::Experiment;
pub use error::{Error, Result};
pub use medpath_runkit::{Plain, Recorder, Reporter};
pub use run::{RunSummary, run};
