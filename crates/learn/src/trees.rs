//! Boosted trees fitted on a task's split: as its answer or as an ablation beside the path.

use medpath_readout::{BoostedReadout, TreeData, TreeSettings, answer_views};

use crate::error::Result;
use crate::sets::Split;
use crate::settings::{ClassWeights, LearnSettings};

/// The trees' settings from the learning settings.
pub fn tree_settings(e: &LearnSettings) -> TreeSettings {
    TreeSettings {
        grid: e.network.grid,
        balanced_classes: e.train.class_weights == ClassWeights::Balanced,
        group_balance: e.train.group_balance,
    }
}

/// Trains `bags` readouts of boosters on `data`'s training rows, stopped on its scored
/// validation rows, and returns them with their probabilities on every row of `data.val` and
/// `data.test`.
pub fn train_and_predict(
    e: &LearnSettings,
    classes: usize,
    data: &Split,
    seed: u64,
    bags: usize,
) -> Result<(BoostedReadout, Vec<f32>, Vec<f32>)> {
    let val_groups = data.val.scored_groups();
    let trees = TreeData {
        train: &data.train,
        train_groups: &data.train_groups,
        val: data.val.fitness(),
        val_groups: &val_groups,
    };
    let readout = BoostedReadout::fit_bagged(&tree_settings(e), classes, trees, seed, bags)?;
    let rule = &data.view_rule;
    let val = answer_views(&data.val.set, &data.val.views, rule, |s| readout.predict(s))?;
    let test = answer_views(&data.test.set, &data.test.views, rule, |s| {
        readout.predict(s)
    })?;
    Ok((readout, val, test))
}
