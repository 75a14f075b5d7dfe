//! The objects learning is set up with: the super-network's shape, the search's settings,
//! regularisation and the optimiser, each read from the experiment's settings.

use medpath_evolve::{SearchConfig, SearchSpace};
use medpath_pathnet::{
    Adam, AdamConfig, FeatureSet, NetworkConfig, Regularisation, SearchSettings, SuperNet,
    balanced_class_weights,
};

use crate::settings::{ClassWeights, LearnSettings};

/// The super-network the settings describe.
pub fn network_config(e: &LearnSettings) -> NetworkConfig {
    let n = &e.network;
    NetworkConfig {
        channels: e.channels,
        modules: n.modules,
        conv_width: n.conv_width,
        grid: n.grid,
        fc_widths: n.fc_widths.clone(),
        aggregate: n.aggregate,
        side_width: e.side_width,
    }
}

/// Dropout and class weights for training on `train` (class weights from its labels when the
/// settings ask for balanced classes).
pub fn regularisation(
    e: &LearnSettings,
    train: &FeatureSet,
    classes: usize,
    seed: u64,
) -> Regularisation {
    Regularisation {
        dropout: e.train.dropout,
        class_weights: match e.train.class_weights {
            ClassWeights::None => Vec::new(),
            ClassWeights::Balanced => balanced_class_weights(&train.labels, classes),
        },
        seed: seed ^ 0xD809,
    }
}

/// The search settings for a task.
pub fn search_settings(
    e: &LearnSettings,
    tournaments: usize,
    seed: u64,
    regularisation: Regularisation,
) -> SearchSettings {
    let s = &e.search;
    SearchSettings {
        space: SearchSpace {
            layers: 1 + e.network.fc_widths.len(),
            modules: e.network.modules,
            active: e.network.active,
            duplicates: e.network.duplicates,
            boundary: e.network.boundary,
        },
        config: SearchConfig {
            population: s.population,
            max_tournaments: tournaments,
            threshold: s.threshold,
        },
        steps: s.steps,
        batch: s.batch,
        seed,
        fitness: s.fitness,
        fitness_samples: s.fitness_samples,
        checkpoint_every: 1,
        metric: s.metric,
        regularisation,
    }
}

/// Adam at `learning_rate` with the settings' weight decay, for `net`.
pub fn adam(e: &LearnSettings, learning_rate: f32, net: &SuperNet) -> Adam {
    Adam::new(
        AdamConfig {
            learning_rate,
            weight_decay: e.train.weight_decay,
            ..AdamConfig::default()
        },
        net,
    )
}
