//! The settings of learning a task, as the experiment file's `[network]`, `[search]`,
//! `[train]` and `[evaluation]` sections give them: parsed into types once, every choice an
//! enum.

use medpath_evolve::Boundary;
use medpath_pathnet::{Aggregate, FitnessMetric, FitnessOn};
use serde::{Deserialize, Serialize};

/// Shape of the super-network and genotype rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// Modules per layer, M.
    pub modules: usize,
    /// Most active modules per layer, N.
    pub active: usize,
    /// Channels of each layer-1 (1x1 convolution) module.
    pub conv_width: usize,
    /// Side of the grid layer 1 is pooled to.
    pub grid: usize,
    /// Widths of the fully connected layers 2..L.
    pub fc_widths: Vec<usize>,
    /// How the outputs of a layer's active modules are combined: `sum` or `mean`.
    pub aggregate: Aggregate,
    /// Whether a genotype may list a module twice.
    pub duplicates: bool,
    /// What happens to a module index a mutation pushes out of range: `wrap` or `clamp`.
    pub boundary: Boundary,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            modules: 10,
            active: 3,
            conv_width: 32,
            grid: 2,
            fc_widths: vec![64, 64],
            aggregate: Aggregate::Sum,
            duplicates: true,
            boundary: Boundary::Wrap,
        }
    }
}

/// Phase 1 settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSection {
    /// Population P.
    pub population: usize,
    /// Most tournaments.
    pub tournaments: usize,
    /// Stop when a fitness reaches this.
    pub threshold: Option<f64>,
    /// Minibatches per candidate per tournament, T.
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Which examples fitness is measured on: `validation` or `training`.
    pub fitness: FitnessOn,
    /// Score fitness on at most this many examples.
    pub fitness_samples: Option<usize>,
    /// Adam learning rate during the search.
    pub learning_rate: f32,
    /// What fitness measures on the fitness set: `accuracy` (the paper's) or `macro-recall`
    /// (every class counts alike).
    pub metric: FitnessMetric,
}

impl Default for SearchSection {
    fn default() -> Self {
        SearchSection {
            population: 20,
            tournaments: 60,
            threshold: Some(0.998),
            steps: 50,
            batch: 16,
            fitness: FitnessOn::Validation,
            fitness_samples: Some(1000),
            learning_rate: 1e-3,
            metric: FitnessMetric::Accuracy,
        }
    }
}

/// Phase 2 settings (also the ablations' optimiser).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Most epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Early stopping patience in epochs.
    pub patience: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
    /// Loss weight per class, in the search, phase 2 and the ablations: `none` or `balanced`
    /// (each class weighs as much as the others, whatever its count).
    pub class_weights: ClassWeights,
    /// Dropout rate on the inputs of the fully connected layers and the readouts while
    /// training (0: none).
    pub dropout: f32,
    /// Decoupled weight decay of Adam (0: none).
    pub weight_decay: f32,
    /// How far the boosted-tree readouts even out the groups of a class (ECG: records;
    /// images: patients) in their loss and in their validation score: an example of a group
    /// holding `n` examples of its class weighs `n^-group_balance`, rescaled so that each
    /// class keeps its total weight. 0: every example weighs the same, so the patient with
    /// the most beats of a class dominates it; 1: every group of a class weighs the same.
    pub group_balance: f32,
}

impl Default for TrainSection {
    fn default() -> Self {
        TrainSection {
            epochs: 30,
            batch: 32,
            patience: 4,
            learning_rate: 1e-3,
            class_weights: ClassWeights::None,
            dropout: 0.0,
            weight_decay: 0.0,
            group_balance: 0.0,
        }
    }
}

/// How the classes weigh in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeights {
    /// Every example weighs 1, so common classes dominate.
    #[default]
    None,
    /// Weights `n / (classes * n_c)` from the training examples: the loss is the mean over
    /// classes, which targets macro recall.
    Balanced,
}

/// Test statistics and report settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSection {
    /// Bootstrap resamples for the 95 % intervals.
    pub bootstrap: usize,
    /// Example inputs per class and outcome (right / wrong) shown in the report.
    pub samples: usize,
    /// Also train gradient-boosted trees on the pooled encoder features and side inputs, as an
    /// ablation beside the linear readout.
    pub boosted_trees: bool,
}

impl Default for EvaluationSection {
    fn default() -> Self {
        EvaluationSection {
            bootstrap: 1000,
            samples: 4,
            boosted_trees: false,
        }
    }
}

/// Everything learning a task reads from an experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnSettings {
    /// The super-network.
    pub network: NetworkSettings,
    /// Phase 1.
    pub search: SearchSection,
    /// Phase 2 and the ablations.
    pub train: TrainSection,
    /// Test statistics.
    pub evaluation: EvaluationSection,
    /// Side inputs of the super-network: the most any task has.
    pub side_width: usize,
    /// Channels of the encoder's feature maps.
    pub channels: usize,
}
