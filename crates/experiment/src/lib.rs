//! medpath experiments end to end.
//!
//! - [`config`]: the TOML experiment file and `--set` overrides.
//! - [`tasks`]: preparing examples (beat images, image folders) and splits by protocol.
//! - [`encoding`]: the frozen encoder and feature cache of a run.
//! - [`learn`]: one task on the shared super-network (search, training, ablations).
//! - [`run`]: the whole run, router, joint test, no-forgetting check, metrics, bundle.
//! - [`bundle`]: the saved model for `predict`.
//! - [`predict`]: new images and WFDB records through a saved model.
//! - [`report`]: the self-contained HTML report.
//! - [`views`]: how an answer joins an example's own picture with its test-time pictures.
//! - [`demo`]: the built-in demo experiment on generated data.

pub mod bundle;
pub mod config;
pub mod crossval;
pub mod dataset;
pub mod demo;
pub mod encoding;
pub mod error;
pub mod explain;
pub mod novelty;
pub mod ood;
pub mod pictures;
pub mod predict;
pub mod report;
pub mod run;
pub mod shard;
pub mod tasks;

pub use config::Experiment;
pub use error::{Error, Result};
pub use medpath_runkit::{Plain, Recorder, Reporter};
pub use run::{RunSummary, run};
