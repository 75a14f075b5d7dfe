//! Probabilities that mean what they say, and decisions at a chosen operating point.
//!
//! - Temperature scaling (Guo et al. 2017): class probabilities `p` become `softmax(ln p / T)`
//!   with one `T` fitted on validation outputs by minimising the negative log-likelihood. It
//!   changes confidence, never the most probable class.
//! - Expected calibration error over equal-width confidence bins, and the bins themselves for a
//!   reliability diagram.
//! - ROC curve and an operating point for two-class tasks: a threshold on the positive class's
//!   probability chosen on validation for a stated target.

use serde::{Deserialize, Serialize};

/// `probs` (rows of `classes`) at temperature `t`: `softmax(ln p / t)` per row.
pub fn apply_temperature(probs: &[f32], classes: usize, t: f64) -> Vec<f32> {
    let mut out = Vec::with_capacity(probs.len());
    for row in probs.chunks_exact(classes.max(1)) {
        let logits: Vec<f64> = row
            .iter()
            .map(|&p| f64::from(p.max(1e-30)).ln() / t)
            .collect();
        let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        out.extend(exps.iter().map(|e| (e / sum) as f32));
    }
    out
}

/// Mean negative log-likelihood of `truth` under `probs`.
pub fn nll(probs: &[f32], classes: usize, truth: &[usize]) -> f64 {
    let n = truth.len().max(1) as f64;
    truth
        .iter()
        .enumerate()
        .map(|(i, &y)| -f64::from(probs[i * classes + y].max(1e-30)).ln())
        .sum::<f64>()
        / n
}

/// The temperature in [0.05, 20] that minimises the NLL of `truth` under `probs`
/// (golden-section search on ln T; the NLL is unimodal in it).
pub fn fit_temperature(probs: &[f32], classes: usize, truth: &[usize]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let loss = |log_t: f64| {
        nll(
            &apply_temperature(probs, classes, log_t.exp()),
            classes,
            truth,
        )
    };
    let (mut a, mut b) = (0.05f64.ln(), 20f64.ln());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut c, mut d) = (b - ratio * (b - a), a + ratio * (b - a));
    let (mut fc, mut fd) = (loss(c), loss(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - ratio * (b - a);
            fc = loss(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + ratio * (b - a);
            fd = loss(d);
        }
    }
    ((a + b) / 2.0).exp()
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin's confidence range.
    pub lower: f64,
    /// Upper edge.
    pub upper: f64,
    /// Examples whose top probability falls in the bin.
    pub count: usize,
    /// Their mean top probability.
    pub confidence: f64,
    /// Share of them predicted right.
    pub accuracy: f64,
}

/// Reliability bins (`bins` equal-width bins of the top probability) and the expected
/// calibration error: the count-weighted mean of |accuracy - confidence| over bins.
pub fn reliability(
    probs: &[f32],
    classes: usize,
    truth: &[usize],
    bins: usize,
) -> (Vec<ReliabilityBin>, f64) {
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut confidence = vec![0f64; bins];
    let mut right = vec![0usize; bins];
    for (i, &y) in truth.iter().enumerate() {
        let row = &probs[i * classes..(i + 1) * classes];
        let (best, p) =
            row.iter().enumerate().fold(
                (0, f32::MIN),
                |acc, (c, &p)| if p > acc.1 { (c, p) } else { acc },
            );
        let b = ((f64::from(p) * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        confidence[b] += f64::from(p);
        right[b] += usize::from(best == y);
    }
    let n = truth.len().max(1) as f64;
    let mut ece = 0.0;
    let table = (0..bins)
        .map(|b| {
            let k = count[b].max(1) as f64;
            let (conf, acc) = (confidence[b] / k, right[b] as f64 / k);
            ece += count[b] as f64 / n * (acc - conf).abs();
            ReliabilityBin {
                lower: b as f64 / bins as f64,
                upper: (b + 1) as f64 / bins as f64,
                count: count[b],
                confidence: conf,
                accuracy: acc,
            }
        })
        .collect();
    (table, ece)
}

/// One point of a ROC curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    /// Examples with score >= this are called positive.
    pub threshold: f64,
    /// False-positive rate (1 - specificity).
    pub fpr: f64,
    /// True-positive rate (sensitivity).
    pub tpr: f64,
}

/// The ROC curve of `scores` against `positive`, one point per distinct score (descending),
/// from (0, 0) to (1, 1).
pub fn roc_curve(scores: &[f32], positive: &[bool]) -> Vec<RocPoint> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let p = positive.iter().filter(|&&x| x).count().max(1) as f64;
    let n = positive.iter().filter(|&&x| !x).count().max(1) as f64;
    let mut points = vec![RocPoint {
        threshold: f64::INFINITY,
        fpr: 0.0,
        tpr: 0.0,
    }];
    let (mut tp, mut fp) = (0usize, 0usize);
    for (k, &i) in order.iter().enumerate() {
        if positive[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = order.get(k + 1).is_none_or(|&j| scores[j] != scores[i]);
        if last_of_tie {
            points.push(RocPoint {
                threshold: f64::from(scores[i]),
                fpr: fp as f64 / n,
                tpr: tp as f64 / p,
            });
        }
    }
    points
}

/// What an operating point is chosen for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "target", content = "value")]
pub enum OperatingTarget {
    /// The most probable class (threshold 0.5 for two classes): no operating point.
    Argmax,
    /// The threshold with the highest (sensitivity + specificity) / 2.
    BalancedAccuracy,
    /// The highest threshold whose sensitivity reaches this share (the best specificity at
    /// that sensitivity).
    Sensitivity(f64),
    /// The lowest threshold whose specificity reaches this share (the best sensitivity at that
    /// specificity).
    Specificity(f64),
}

/// Sensitivity and specificity of `scores >= threshold` against `positive`.
pub fn rates_at(scores: &[f32], positive: &[bool], threshold: f64) -> (f64, f64) {
    let (mut tp, mut p, mut tn, mut n) = (0usize, 0usize, 0usize, 0usize);
    for (&s, &pos) in scores.iter().zip(positive) {
        let called = f64::from(s) >= threshold;
        if pos {
            p += 1;
            tp += usize::from(called);
        } else {
            n += 1;
            tn += usize::from(!called);
        }
    }
    (tp as f64 / p.max(1) as f64, tn as f64 / n.max(1) as f64)
}

/// The threshold on the positive class's score that meets `target` on (validation) `scores`;
/// thresholds lie halfway between neighbouring distinct scores, so a new score equal to a
/// validation score is decided as on validation.
pub fn choose_threshold(scores: &[f32], positive: &[bool], target: OperatingTarget) -> f64 {
    let curve = roc_curve(scores, positive);
    match target {
        OperatingTarget::Argmax => 0.5,
        OperatingTarget::BalancedAccuracy => {
            let best = (1..curve.len())
                .max_by(|&a, &b| {
                    let score = |k: usize| curve[k].tpr - curve[k].fpr;
                    score(a).total_cmp(&score(b)).then(b.cmp(&a))
                })
                .unwrap_or(0);
            threshold_between(&curve, best)
        }
        OperatingTarget::Sensitivity(goal) => {
            let first = (1..curve.len())
                .find(|&k| curve[k].tpr >= goal)
                .unwrap_or(curve.len() - 1);
            threshold_between(&curve, first)
        }
        OperatingTarget::Specificity(goal) => {
            let last = (0..curve.len())
                .rev()
                .find(|&k| 1.0 - curve[k].fpr >= goal)
                .unwrap_or(0);
            threshold_between(&curve, last)
        }
    }
}

/// The threshold that calls exactly the scores of curve points 1..=k positive: halfway between
/// point k's score and the next lower one (below the lowest score when k is the last point).
fn threshold_between(curve: &[RocPoint], k: usize) -> f64 {
    match (k, curve.get(k + 1)) {
        (0, _) => f64::INFINITY,
        (_, Some(lower)) => (curve[k].threshold + lower.threshold) / 2.0,
        (_, None) => curve[k].threshold - 1e-6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperature_scaling_lowers_the_nll_of_an_over_confident_model() {
        // 70 % right, but always 99 % sure.
        let truth: Vec<usize> = (0..100).map(|i| i % 2).collect();
        let mut probs = Vec::new();
        for (i, &y) in truth.iter().enumerate() {
            let called = if i % 10 < 7 { y } else { 1 - y };
            let row = if called == 0 {
                [0.99, 0.01]
            } else {
                [0.01, 0.99]
            };
            probs.extend(row);
        }
        let before = nll(&probs, 2, &truth);
        let t = fit_temperature(&probs, 2, &truth);
        let scaled = apply_temperature(&probs, 2, t);
        let after = nll(&scaled, 2, &truth);
        assert!(t > 1.5, "an over-confident model needs T > 1, got {t}");
        assert!(after < before, "NLL {before} -> {after}");
        // At the optimum, confidence matches accuracy: about 0.7.
        assert!((scaled[0] - 0.7).abs() < 0.02 || (scaled[1] - 0.7).abs() < 0.02);
        let (_, ece_before) = reliability(&probs, 2, &truth, 15);
        let (_, ece_after) = reliability(&scaled, 2, &truth, 15);
        assert!((ece_before - 0.29).abs() < 1e-6);
        assert!(ece_after < 0.02, "{ece_after}");
    }

    #[test]
    fn roc_and_thresholds() {
        let scores = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3];
        let positive = [true, true, false, true, false, false];
        let curve = roc_curve(&scores, &positive);
        assert_eq!(curve.len(), 7);
        assert_eq!((curve[6].fpr, curve[6].tpr), (1.0, 1.0));
        let balanced = choose_threshold(&scores, &positive, OperatingTarget::BalancedAccuracy);
        let (sens, spec) = rates_at(&scores, &positive, balanced);
        assert!(
            sens + spec >= 1.0 + 2.0 / 3.0 - 1e-9,
            "{balanced}: {sens} {spec}"
        );
        let all = choose_threshold(&scores, &positive, OperatingTarget::Sensitivity(1.0));
        assert!(all > 0.4 && all < 0.6, "{all}");
        assert_eq!(rates_at(&scores, &positive, all).0, 1.0);
        assert_eq!(
            choose_threshold(&scores, &positive, OperatingTarget::Argmax),
            0.5
        );
    }
}
