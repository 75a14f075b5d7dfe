//! Test metrics of a readout's answers, with bootstrap intervals that resample the unit errors
//! come in.

use medpath_metrics::Metrics;
use medpath_readout::Decision;

use crate::plan::TaskPlan;
use crate::sets::Split;
use crate::settings::LearnSettings;

/// Metrics of probabilities `probs` against `truth` (the most probable class is the answer),
/// with bootstrap intervals that resample `groups` (records or patients; empty: examples).
pub fn metrics_of(
    e: &LearnSettings,
    classes: &[String],
    (truth, groups): (&[usize], &[usize]),
    probs: &[f32],
    seed: u64,
) -> Metrics {
    metrics_with(
        e,
        classes,
        (truth, groups),
        probs,
        &Decision::default(),
        seed,
    )
}

/// Metrics of raw probabilities `probs` answered by `decision` (calibrated probabilities for
/// the AUROC, the decision's class as the answer), with bootstrap intervals that resample
/// `groups` (records or patients, the unit errors come in; empty: examples).
pub fn metrics_with(
    e: &LearnSettings,
    classes: &[String],
    (truth, groups): (&[usize], &[usize]),
    probs: &[f32],
    decision: &Decision,
    seed: u64,
) -> Metrics {
    let k = classes.len();
    medpath_metrics::evaluate_grouped(
        classes,
        truth,
        &decision.classes_of(probs, k),
        Some(&decision.calibrated(probs, k)),
        groups,
        e.evaluation.bootstrap,
        seed,
    )
}

/// Metrics of a readout's answers on the scored test rows of `data` under `decision`, the
/// bootstrap resampling the test set's groups.
pub(crate) fn metrics_decided(
    e: &LearnSettings,
    plan: &TaskPlan<'_>,
    data: &Split,
    probs: &[f32],
    decision: &Decision,
) -> Metrics {
    let groups = data.test.scored_groups();
    metrics_with(
        e,
        plan.classes,
        (data.test.labels(), &groups),
        probs,
        decision,
        plan.seed,
    )
}
