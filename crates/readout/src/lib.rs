//! How a trained task answers an input, shared by learning (which fits it) and inference (which
//! applies it):
//!
//! - [`Readout`]: what turns encoder features into class probabilities, implemented by a
//!   [`PathReadout`] (a path through the super-network), [`BoostedReadout`] (gradient-boosted
//!   trees) and [`Ensemble`] (the mean of several).
//! - [`views`]: how an answer joins an input's own picture with its test-time pictures.
//! - [`smoothing`]: answers read over a whole record (pooling, the record prior).
//! - [`decision`]: temperature and operating point, fitted on validation.
//! - [`features`]: side-input scaling and feature centring.

pub mod decision;
pub mod error;
pub mod features;
pub mod smoothing;
pub mod trees;
pub mod views;

use medpath_pathnet::{FeatureSet, Path, SuperNet, evaluate};
use serde::{Deserialize, Serialize};

pub use decision::{CALIBRATION_BINS, CalibrationReport, Decision, OperatingReport, parse_target};
pub use error::{ReadoutError, Result};
pub use features::{Centre, SideScaling, mean_of, subtract};
pub use smoothing::{BeatPlace, Smoothing, record_prior};
pub use trees::{BoostedReadout, TreeData, TreeSettings, group_weights};
pub use views::{ViewRule, answer_views};

/// What turns a set of encoder features (with side inputs) into class probabilities.
pub trait Readout {
    /// Class probabilities of every example of `set`, row per example.
    fn probs(&self, set: &FeatureSet) -> Result<Vec<f32>>;
}

/// A task's path through the super-network, read out by the task's head.
pub struct PathReadout<'a> {
    /// The network.
    pub net: &'a SuperNet,
    /// The task's readout index in it.
    pub head: usize,
    /// The task's path.
    pub path: &'a Path,
}

impl Readout for PathReadout<'_> {
    fn probs(&self, set: &FeatureSet) -> Result<Vec<f32>> {
        Ok(evaluate(self.net, self.head, self.path, set)?.probs)
    }
}

impl Readout for BoostedReadout {
    fn probs(&self, set: &FeatureSet) -> Result<Vec<f32>> {
        self.predict(set)
    }
}

/// The mean of several readouts' probabilities.
pub struct Ensemble<'a>(pub Vec<Box<dyn Readout + 'a>>);

impl Readout for Ensemble<'_> {
    fn probs(&self, set: &FeatureSet) -> Result<Vec<f32>> {
        let tables = self
            .0
            .iter()
            .map(|r| r.probs(set))
            .collect::<Result<Vec<_>>>()?;
        Ok(mean_probs(tables.iter().map(Vec::as_slice)))
    }
}

/// `readout`'s probabilities on `set` joined with those on its test-time `views` (each in
/// `set`'s row order) by `rule`.
pub fn answer(
    readout: &dyn Readout,
    set: &FeatureSet,
    views: &[FeatureSet],
    rule: &ViewRule,
) -> Result<Vec<f32>> {
    answer_views(set, views, rule, |s| readout.probs(s))
}

/// The row-wise mean of probability tables of the same shape.
pub fn mean_probs<'a>(tables: impl IntoIterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    let mut count = 0usize;
    for table in tables {
        if sum.is_empty() {
            sum = vec![0.0; table.len()];
        }
        sum.iter_mut().zip(table).for_each(|(s, v)| *s += v);
        count += 1;
    }
    let n = count.max(1) as f32;
    sum.iter_mut().for_each(|s| *s /= n);
    sum
}

/// File of member `m` (from 1) of `task`'s ensemble of paths: in the task's `members/`
/// folder and in the bundle.
pub fn member_file(task: &str, m: usize) -> String {
    format!("member_{}_{m}.safetensors", task.replace('/', "_"))
}

/// File of a task's boosted-tree readout in its folder and in the bundle.
pub fn boosted_file(task: &str) -> String {
    format!("boosted_{}.json", task.replace('/', "_"))
}

/// What a task answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadoutKind {
    /// Its evolved path through the super-network (the paper's).
    #[default]
    Path,
    /// Gradient-boosted trees on the pooled encoder features and side inputs; the path is still
    /// searched, trained and reported beside them.
    BoostedTrees,
}

impl ReadoutKind {
    /// What a task answers with, in words: `path`, `ensemble of K paths`, `boosted trees` or
    /// `boosted trees, K seeds`.
    pub fn describe(self, ensemble: usize) -> String {
        match (self, ensemble) {
            (ReadoutKind::Path, 0 | 1) => "path".into(),
            (ReadoutKind::Path, k) => format!("ensemble of {k} paths"),
            (ReadoutKind::BoostedTrees, 0 | 1) => "boosted trees".into(),
            (ReadoutKind::BoostedTrees, k) => format!("boosted trees, {k} seeds"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_of_tables_is_taken_row_by_row() {
        let a = [0.2f32, 0.8, 1.0, 0.0];
        let b = [0.4f32, 0.6, 0.0, 1.0];
        let mean = mean_probs([&a[..], &b[..]]);
        for (m, expected) in mean.iter().zip([0.3f32, 0.7, 0.5, 0.5]) {
            assert!((m - expected).abs() < 1e-6, "{mean:?}");
        }
        assert_eq!(mean.len(), 4);
        assert_eq!(mean_probs([&a[..]]), a.to_vec());
    }

    #[test]
    fn answers_are_described_in_words() {
        assert_eq!(ReadoutKind::Path.describe(1), "path");
        assert_eq!(ReadoutKind::Path.describe(3), "ensemble of 3 paths");
        assert_eq!(
            ReadoutKind::BoostedTrees.describe(4),
            "boosted trees, 4 seeds"
        );
    }
}
