//! What to learn for one task, and how its readouts' raw probabilities become the answers
//! that are measured.

use medpath_metrics::OperatingTarget;
use medpath_readout::{BeatPlace, Decision, ReadoutKind, Smoothing};

use crate::result::PooledTest;
use crate::sets::Split;

/// What to learn.
pub struct TaskPlan<'a> {
    /// Task (readout) name.
    pub name: &'a str,
    /// Class names.
    pub classes: &'a [String],
    /// Evaluation protocol in words.
    pub protocol: &'a str,
    /// Tournaments of the search.
    pub tournaments: usize,
    /// Seed of everything random in this task.
    pub seed: u64,
    /// Whether to run the ablations.
    pub ablations: bool,
    /// Test results from elsewhere (the folds of a cross-validated task), used when the task
    /// has no test set of its own.
    pub pooled: Option<PooledTest>,
    /// What a two-class task's operating point is chosen for (argmax: none).
    pub target: OperatingTarget,
    /// The positive class of the operating point.
    pub positive: Option<usize>,
    /// What the task answers with.
    pub readout: ReadoutKind,
    /// Paths the answer averages (1: the evolved path alone); see [`crate::ensemble`].
    pub ensemble: usize,
    /// Classes pooled over a record's neighbouring beats in every answer's validation and test
    /// probabilities (see [`medpath_readout::smoothing`]).
    pub smoothing: Option<Smoothing>,
}

/// One readout's answers on a task's validation and test sets, after what is read over each
/// record (before temperature and operating point).
pub struct Answers {
    /// Every validation row.
    pub val_all: Vec<f32>,
    /// The scored validation rows.
    pub val: Vec<f32>,
    /// Every test row.
    pub test_all: Vec<f32>,
    /// The scored test rows.
    pub test: Vec<f32>,
}

impl TaskPlan<'_> {
    /// `probs` of the rows at `places` as the task's answers see them: smoothed over each
    /// record's beats when the plan asks for it.
    fn smoothed(&self, probs: Vec<f32>, places: &[Option<BeatPlace>]) -> Vec<f32> {
        Smoothing::maybe(self.smoothing.as_ref(), probs, self.classes.len(), places)
    }

    /// A readout's answers from its raw probabilities on every validation and test row: read
    /// over each whole record (every beat takes part), then the scored rows kept.
    pub fn answers(&self, data: &Split, (val, test): (Vec<f32>, Vec<f32>)) -> Answers {
        let k = self.classes.len();
        let val_all = self.smoothed(val, &data.val.places);
        let test_all = self.smoothed(test, &data.test.places);
        Answers {
            val: data.val.scored_probs(&val_all, k),
            test: data.test.scored_probs(&test_all, k),
            val_all,
            test_all,
        }
    }

    /// The decision (temperature, operating point) fitted on `answers`' validation rows.
    pub(crate) fn decision(&self, data: &Split, answers: &Answers) -> Decision {
        let k = self.classes.len();
        Decision::fit(
            &answers.val,
            k,
            data.val.labels(),
            self.target,
            self.positive,
        )
    }

    /// Whether the test numbers come from the pooled folds of a cross-validation.
    pub(crate) fn tested_elsewhere(&self, data: &Split) -> bool {
        self.pooled.is_some() && data.test.is_empty()
    }
}
