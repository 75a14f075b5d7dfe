//! The feature sets a task learns from and is measured on: training pictures, and validation
//! and test sets whose answers are computed on every row (for ECG, every beat of each record,
//! as `predict` sees a record) while only the scored rows are measured.

use medpath_pathnet::{FeatureSet, Path, SuperNet};
use medpath_readout::{BeatPlace, PathReadout, ViewRule, answer};

use crate::error::Result;

/// A validation or test set: every row is answered; `scored` rows are measured.
pub struct EvalSet {
    /// Every row's features and side inputs (labels are placeholders where not scored).
    pub set: FeatureSet,
    /// Test-time pictures of every row, each set in `set`'s row order (empty: none).
    pub views: Vec<FeatureSet>,
    /// Where each row lies in its record (ECG beats; empty: not known). Rows without a place
    /// (beats that get no answer) take no part in what is read over a record.
    pub places: Vec<Option<BeatPlace>>,
    /// The group (record or patient, numbered within the task) of each row (empty: not known).
    pub groups: Vec<usize>,
    /// Rows whose labels count, ascending.
    pub scored: Vec<usize>,
    /// The scored rows alone, when some rows are not scored.
    scored_set: Option<FeatureSet>,
}

impl EvalSet {
    /// A set of `set`'s rows of which `scored` count (the others are answered only).
    pub fn new(
        set: FeatureSet,
        views: Vec<FeatureSet>,
        places: Vec<Option<BeatPlace>>,
        groups: Vec<usize>,
        scored: Vec<usize>,
    ) -> Result<EvalSet> {
        let scored_set = if scored.len() == set.len() {
            None
        } else {
            Some(set.select(&scored)?)
        };
        Ok(EvalSet {
            set,
            views,
            places,
            groups,
            scored,
            scored_set,
        })
    }

    /// A set whose every row counts, without views, places or groups.
    pub fn plain(set: FeatureSet) -> EvalSet {
        let scored = (0..set.len()).collect();
        EvalSet {
            set,
            views: Vec::new(),
            places: Vec::new(),
            groups: Vec::new(),
            scored,
            scored_set: None,
        }
    }

    /// The scored rows as a feature set: what search fitness, early stopping and the trees'
    /// early stopping read.
    pub fn fitness(&self) -> &FeatureSet {
        self.scored_set.as_ref().unwrap_or(&self.set)
    }

    /// Labels of the scored rows.
    pub fn labels(&self) -> &[usize] {
        &self.fitness().labels
    }

    /// Groups of the scored rows (empty when groups are not known).
    pub fn scored_groups(&self) -> Vec<usize> {
        if self.groups.is_empty() {
            return Vec::new();
        }
        self.scored.iter().map(|&r| self.groups[r]).collect()
    }

    /// The scored rows of `probs` (`k` per row of `set`).
    pub fn scored_probs(&self, probs: &[f32], k: usize) -> Vec<f32> {
        if self.scored.len() == self.set.len() {
            return probs.to_vec();
        }
        self.scored
            .iter()
            .flat_map(|&r| probs[r * k..(r + 1) * k].iter().copied())
            .collect()
    }

    /// Rows answered.
    pub fn rows(&self) -> usize {
        self.set.len()
    }

    /// Whether no row is scored.
    pub fn is_empty(&self) -> bool {
        self.scored.is_empty()
    }
}

/// A task's features by role.
pub struct Split {
    /// Training pictures (each training example's own picture and its augmented views).
    pub train: FeatureSet,
    /// The group (record or patient, numbered within the task) of every row of `train` (empty:
    /// not known, every row its own).
    pub train_groups: Vec<usize>,
    /// Validation.
    pub val: EvalSet,
    /// Test.
    pub test: EvalSet,
    /// How the probabilities on the test-time views join those on the rows' own pictures.
    pub view_rule: ViewRule,
}

impl Split {
    /// Sets with no examples and no test-time views.
    pub fn empty(make: impl Fn() -> Result<FeatureSet>) -> Result<Split> {
        Ok(Split {
            train: make()?,
            train_groups: Vec::new(),
            val: EvalSet::plain(make()?),
            test: EvalSet::plain(make()?),
            view_rule: ViewRule::Mean,
        })
    }
}

/// Probabilities of `path` on every row of `eval`, joined with those on its test-time views by
/// `rule`.
pub fn evaluate_on(
    net: &SuperNet,
    head: usize,
    path: &Path,
    eval: &EvalSet,
    rule: &ViewRule,
) -> Result<Vec<f32>> {
    let readout = PathReadout { net, head, path };
    Ok(answer(&readout, &eval.set, &eval.views, rule)?)
}
