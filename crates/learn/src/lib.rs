//! Learning a task on the shared super-network, the paper's two phases and what surrounds
//! them: the path search ([`phases`]), training the found path, the ablations with the same
//! step budget ([`ablations`]), an ensemble's further members ([`members`]), boosted trees as
//! the answer ([`trees`]), and the answers on validation and test sets of whole records
//! ([`sets`], [`plan`]), measured with intervals that resample records or patients
//! ([`measure`]). [`task::learn_task`] runs it all for one task.

pub mod ablations;
pub mod charts;
pub mod error;
pub mod measure;
pub mod members;
pub mod phases;
pub mod plan;
pub mod result;
pub mod sets;
pub mod settings;
pub mod setup;
pub mod task;
pub mod trees;

pub use error::{LearnError, Result};
pub use measure::{metrics_of, metrics_with};
pub use phases::search_phase;
pub use plan::{Answers, TaskPlan};
pub use result::{PooledTest, TaskResult};
pub use sets::{EvalSet, Split, evaluate_on};
pub use settings::{
    ClassWeights, EvaluationSection, LearnSettings, NetworkSettings, SearchSection, TrainSection,
};
pub use setup::network_config;
pub use task::learn_task;
