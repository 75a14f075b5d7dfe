//! From a path's raw class probabilities to what a task answers: probabilities calibrated by
//! temperature scaling, then the most probable class or, for a two-class task with an
//! operating point, the positive class whenever its calibrated probability reaches a threshold.
//! Both are fitted on validation outputs only, saved in the model bundle and applied by
//! `predict`.

use medpath_metrics::{
    OperatingTarget, ReliabilityBin, apply_temperature, choose_threshold, fit_temperature, nll,
    rates_at, reliability,
};
use medpath_pathnet::argmax_rows;
use serde::{Deserialize, Serialize};

use crate::error::{ReadoutError as Error, Result};

/// Bins of the reliability diagrams and of the expected calibration error.
pub const CALIBRATION_BINS: usize = 15;

/// How a task turns raw probabilities into an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Temperature the probabilities are scaled by (1: unchanged).
    pub temperature: f64,
    /// What the operating point was chosen for.
    pub target: OperatingTarget,
    /// Index of the positive class (two-class tasks with an operating point).
    pub positive: Option<usize>,
    /// Calibrated probability of the positive class from which it is called.
    pub threshold: Option<f64>,
}

impl Default for Decision {
    fn default() -> Self {
        Decision {
            temperature: 1.0,
            target: OperatingTarget::Argmax,
            positive: None,
            threshold: None,
        }
    }
}

impl Decision {
    /// Fits the temperature and, when `target` asks for one, the threshold of class
    /// `positive` on validation probabilities `probs` with labels `truth`.
    pub fn fit(
        probs: &[f32],
        classes: usize,
        truth: &[usize],
        target: OperatingTarget,
        positive: Option<usize>,
    ) -> Decision {
        let temperature = fit_temperature(probs, classes, truth);
        let mut decision = Decision {
            temperature,
            target,
            positive: None,
            threshold: None,
        };
        if let (Some(p), false) = (positive, target == OperatingTarget::Argmax) {
            let calibrated = decision.calibrated(probs, classes);
            let scores: Vec<f32> = calibrated.chunks_exact(classes).map(|r| r[p]).collect();
            let is_positive: Vec<bool> = truth.iter().map(|&y| y == p).collect();
            decision.positive = Some(p);
            decision.threshold = Some(choose_threshold(&scores, &is_positive, target));
        }
        decision
    }

    /// `probs` at the fitted temperature.
    pub fn calibrated(&self, probs: &[f32], classes: usize) -> Vec<f32> {
        apply_temperature(probs, classes, self.temperature)
    }

    /// The class answered for each row of raw `probs`.
    pub fn classes_of(&self, probs: &[f32], classes: usize) -> Vec<usize> {
        let calibrated = self.calibrated(probs, classes);
        match (self.positive, self.threshold) {
            (Some(p), Some(t)) if classes == 2 => calibrated
                .chunks_exact(2)
                .map(|r| if f64::from(r[p]) >= t { p } else { 1 - p })
                .collect(),
            _ => argmax_rows(&calibrated, classes),
        }
    }
}

/// Parses an operating point: `argmax`, `balanced-accuracy`, `sensitivity=0.95` or
/// `specificity=0.99`.
pub fn parse_target(text: &str) -> Result<OperatingTarget> {
    let share = |prefix: &str| {
        text.strip_prefix(prefix)
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| (0.0..=1.0).contains(v))
    };
    match text {
        "argmax" => Ok(OperatingTarget::Argmax),
        "balanced-accuracy" => Ok(OperatingTarget::BalancedAccuracy),
        _ => share("sensitivity=")
            .map(OperatingTarget::Sensitivity)
            .or_else(|| share("specificity=").map(OperatingTarget::Specificity))
            .ok_or_else(|| {
                Error::Config(format!(
                    "operating_point \"{text}\" is not one of argmax, balanced-accuracy, sensitivity=S, specificity=S (S in [0, 1])"
                ))
            }),
    }
}

/// What calibration did, on validation (where it was fitted) and on test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationReport {
    /// The fitted temperature.
    pub temperature: f64,
    /// Validation NLL before and after.
    pub val_nll: [f64; 2],
    /// Expected calibration error on test, before and after.
    pub test_ece: [f64; 2],
    /// Reliability bins on test before calibration.
    pub test_bins_before: Vec<ReliabilityBin>,
    /// Reliability bins on test after calibration.
    pub test_bins_after: Vec<ReliabilityBin>,
}

impl CalibrationReport {
    /// Measures `decision`'s calibration on validation and test outputs.
    pub fn measure(
        decision: &Decision,
        classes: usize,
        (val_probs, val_truth): (&[f32], &[usize]),
        (test_probs, test_truth): (&[f32], &[usize]),
    ) -> CalibrationReport {
        let val_after = decision.calibrated(val_probs, classes);
        let test_after = decision.calibrated(test_probs, classes);
        let (before_bins, before) = reliability(test_probs, classes, test_truth, CALIBRATION_BINS);
        let (after_bins, after) = reliability(&test_after, classes, test_truth, CALIBRATION_BINS);
        CalibrationReport {
            temperature: decision.temperature,
            val_nll: [
                nll(val_probs, classes, val_truth),
                nll(&val_after, classes, val_truth),
            ],
            test_ece: [before, after],
            test_bins_before: before_bins,
            test_bins_after: after_bins,
        }
    }
}

/// Sensitivity and specificity of a two-class decision at its operating point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatingReport {
    /// The positive class.
    pub positive: String,
    /// The threshold on its calibrated probability.
    pub threshold: f64,
    /// What it was chosen for.
    pub target: OperatingTarget,
    /// Sensitivity and specificity on validation.
    pub val: [f64; 2],
    /// Sensitivity and specificity on test.
    pub test: [f64; 2],
}

impl OperatingReport {
    /// The report of `decision` (None without an operating point).
    pub fn measure(
        decision: &Decision,
        class_names: &[String],
        (val_probs, val_truth): (&[f32], &[usize]),
        (test_probs, test_truth): (&[f32], &[usize]),
    ) -> Option<OperatingReport> {
        let (p, t) = (decision.positive?, decision.threshold?);
        let k = class_names.len();
        let rates = |probs: &[f32], truth: &[usize]| {
            let scores: Vec<f32> = decision
                .calibrated(probs, k)
                .chunks_exact(k)
                .map(|r| r[p])
                .collect();
            let positive: Vec<bool> = truth.iter().map(|&y| y == p).collect();
            let (sens, spec) = rates_at(&scores, &positive, t);
            [sens, spec]
        };
        Some(OperatingReport {
            positive: class_names[p].clone(),
            threshold: t,
            target: decision.target,
            val: rates(val_probs, val_truth),
            test: rates(test_probs, test_truth),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_moves_the_answer_and_argmax_does_not() {
        let probs = [0.7f32, 0.3, 0.4, 0.6];
        let plain = Decision::default();
        assert_eq!(plain.classes_of(&probs, 2), vec![0, 1]);
        let low = Decision {
            positive: Some(1),
            threshold: Some(0.25),
            target: OperatingTarget::Sensitivity(1.0),
            ..Decision::default()
        };
        assert_eq!(low.classes_of(&probs, 2), vec![1, 1]);
        assert!(parse_target("sensitivity=0.9").is_ok());
        assert!(parse_target("sensitivity=1.5").is_err());
        assert_eq!(
            parse_target("specificity=0.99").unwrap(),
            OperatingTarget::Specificity(0.99)
        );
        assert!(parse_target("balanced").is_err());
    }
}
