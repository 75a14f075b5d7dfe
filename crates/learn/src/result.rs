//! What learning a task leaves: its path, its search and training, its answers on validation
//! and test (every row, and the scored ones), its decision and its ablations.

use std::collections::BTreeMap;

use medpath_metrics::Metrics;
use medpath_pathnet::{FitOutcome, Path};
use medpath_readout::{CalibrationReport, Decision, OperatingReport, ReadoutKind};
use serde::{Deserialize, Serialize};

/// Everything learned and measured for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Task name.
    pub name: String,
    /// Class names.
    pub classes: Vec<String>,
    /// The evaluation protocol.
    pub protocol: String,
    /// The path found by the search (active modules per layer, as evolved).
    pub path: Path,
    /// Its validation fitness at the end of the search.
    pub best_fitness: f64,
    /// Tournaments run.
    pub tournaments: usize,
    /// Gradient steps of the search.
    pub search_steps: usize,
    /// The best fitness in the population after each tournament of the search.
    #[serde(default)]
    pub search_best: Vec<f64>,
    /// Search wall time in seconds.
    pub search_seconds: f64,
    /// Phase 2.
    pub fit: FitOutcome,
    /// Test metrics of the evolved path.
    pub test: Metrics,
    /// Test metrics of the ablations by name.
    pub ablations: BTreeMap<String, Metrics>,
    /// Test probabilities of the ablations by name, row per test example.
    #[serde(default)]
    pub ablation_probs: BTreeMap<String, Vec<f32>>,
    /// The random path the `random_path` ablation trained.
    pub random_path: Option<Path>,
    /// Gradient steps each ablation got (search + phase 2 of the evolved path).
    pub budget_steps: usize,
    /// The task's answers' probabilities (read over each record where the task does so), row
    /// per scored test example (pooled over folds for a cross-validated task).
    pub test_probs: Vec<f32>,
    /// Test labels of the scored test examples.
    pub test_truth: Vec<usize>,
    /// The task's answers' probabilities on every test row, scored or not (the beats of
    /// whole test records), before the decision: what `predict` gives each beat.
    #[serde(default)]
    pub test_answers: Vec<f32>,
    /// Raw probabilities of the evolved path on every test row (before anything is read over a
    /// record), which an ensemble of paths averages.
    #[serde(default)]
    pub test_raw: Vec<f32>,
    /// Raw validation probabilities of the trained path on every validation row: the final
    /// network must give exactly these (the no-forgetting check).
    #[serde(default)]
    pub val_probs: Vec<f32>,
    /// How raw probabilities become answers (temperature, operating point), fitted on
    /// validation.
    #[serde(default)]
    pub decision: Decision,
    /// Calibration before and after temperature scaling.
    #[serde(default)]
    pub calibration: Option<CalibrationReport>,
    /// Sensitivity and specificity at the operating point (two-class tasks with one).
    #[serde(default)]
    pub operating_point: Option<OperatingReport>,
    /// What the task answers with (`test`, `test_probs` and `decision` are its answers').
    #[serde(default)]
    pub readout: ReadoutKind,
    /// Test metrics of the evolved path when the task answers with another readout.
    #[serde(default)]
    pub path_test: Option<Metrics>,
    /// Test probabilities of the evolved path when the task answers with another readout.
    #[serde(default)]
    pub path_probs: Vec<f32>,
    /// Paths of the ensemble's further members (empty: the evolved path answers alone); member
    /// `m` (from 1) is in `members/<m>/` of the task's folder.
    #[serde(default)]
    pub members: Vec<Path>,
    /// Answers the task averages: paths, or tree readouts with their own seeds (0 or 1: one).
    #[serde(default)]
    pub ensemble: usize,
}

impl TaskResult {
    /// What the task answers with, in words (see [`ReadoutKind::describe`]).
    pub fn answer(&self) -> String {
        self.readout.describe(self.ensemble)
    }
}

/// Test results that come from elsewhere than the task's own test set: the pooled folds of a
/// cross-validated task.
#[derive(Debug, Clone, PartialEq)]
pub struct PooledTest {
    /// The answers' probabilities on every pooled test row, scored or not.
    pub answers: Vec<f32>,
    /// Metrics of the evolved path.
    pub test: Metrics,
    /// Metrics of the ablations by name.
    pub ablations: BTreeMap<String, Metrics>,
    /// Probabilities of the ablations by name, row per pooled test example.
    pub ablation_probs: BTreeMap<String, Vec<f32>>,
    /// Metrics of the evolved path when the task answers with another readout.
    pub path_test: Option<Metrics>,
    /// Probabilities, row per pooled test example.
    pub probs: Vec<f32>,
    /// Labels of the pooled test examples.
    pub truth: Vec<usize>,
}

impl TaskResult {
    /// Answered class of every test example (the task's decision applied).
    pub fn test_predictions(&self) -> Vec<usize> {
        self.decision
            .classes_of(&self.test_probs, self.classes.len())
    }
}
