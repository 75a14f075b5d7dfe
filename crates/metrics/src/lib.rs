//! Classification metrics with the shape medpath writes to `metrics.json`: accuracy, per-class
//! and macro recall, precision, specificity and F1, one-vs-rest AUROC, the confusion matrix
//! (rows = true class, columns = predicted) and 95 % percentile-bootstrap intervals for accuracy
//! and macro recall.

pub mod calibration;

pub use calibration::{
    OperatingTarget, ReliabilityBin, RocPoint, apply_temperature, choose_threshold,
    fit_temperature, nll, rates_at, reliability, roc_curve,
};

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Per-class figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Sensitivity: true positives over actual positives.
    pub recall: f64,
    /// Positive predictive value: true positives over predicted positives.
    pub precision: f64,
    /// True negatives over actual negatives.
    pub specificity: f64,
    /// Harmonic mean of recall and precision.
    pub f1: f64,
    /// Examples of this class.
    pub n: usize,
}

/// Metrics of one test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Examples.
    pub n: usize,
    /// Fraction predicted right.
    pub accuracy: f64,
    /// Mean recall over classes present in the set.
    pub recall_macro: f64,
    /// Mean precision over classes present in the set.
    pub precision_macro: f64,
    /// Mean specificity over classes present in the set.
    pub specificity_macro: f64,
    /// Mean F1 over classes present in the set.
    pub f1_macro: f64,
    /// Mean one-vs-rest AUROC over classes with positives and negatives (`None` without
    /// probabilities or such classes).
    pub auroc_macro: Option<f64>,
    /// 95 % bootstrap interval of the accuracy.
    pub accuracy_ci95: [f64; 2],
    /// 95 % bootstrap interval of the macro recall.
    pub recall_macro_ci95: [f64; 2],
    /// What the bootstrap resampled: `examples`, or `groups` (whole records or patients, the
    /// unit errors come in).
    #[serde(default = "examples")]
    pub bootstrap_unit: String,
    /// The classes the macro averages cover: those with examples in the set.
    #[serde(default)]
    pub macro_classes: Vec<String>,
    /// Figures per class name.
    pub per_class: BTreeMap<String, ClassMetrics>,
    /// Counts, rows = true class, columns = predicted class, in the order of `classes`.
    pub confusion: Vec<Vec<usize>>,
}

fn examples() -> String {
    "examples".into()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Confusion matrix of `truth` against `predicted` over `classes` classes.
pub fn confusion(classes: usize, truth: &[usize], predicted: &[usize]) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; classes]; classes];
    for (&t, &p) in truth.iter().zip(predicted) {
        m[t][p] += 1;
    }
    m
}

fn accuracy_and_recall(classes: usize, truth: &[usize], predicted: &[usize]) -> (f64, f64) {
    let m = confusion(classes, truth, predicted);
    let correct: usize = (0..classes).map(|c| m[c][c]).sum();
    let present: Vec<usize> = (0..classes)
        .filter(|&c| m[c].iter().sum::<usize>() > 0)
        .collect();
    let recall = present
        .iter()
        .map(|&c| ratio(m[c][c], m[c].iter().sum()))
        .sum::<f64>()
        / present.len().max(1) as f64;
    (ratio(correct, truth.len()), recall)
}

/// One-vs-rest AUROC of `scores` for the positives `positive` (Mann-Whitney, ties count half);
/// `None` when one side is empty.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += order[i..=j].iter().filter(|&&k| positive[k]).count() as f64 * mean_rank;
        i = j + 1;
    }
    let p = positive.iter().filter(|&&x| x).count();
    let n = positive.len() - p;
    if p == 0 || n == 0 {
        return None;
    }
    Some((rank_sum - (p * (p + 1)) as f64 / 2.0) / (p * n) as f64)
}

/// Percentile interval (2.5 %, 97.5 %) of sorted-able samples.
fn interval(mut samples: Vec<f64>) -> [f64; 2] {
    if samples.is_empty() {
        return [f64::NAN, f64::NAN];
    }
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    [at(0.025), at(0.975)]
}

/// All metrics of `predicted` against `truth` for `classes`; `probs` (`[n, classes]`, optional)
/// gives the AUROC; `resamples` bootstrap draws of examples seeded by `seed` give the intervals.
pub fn evaluate(
    classes: &[String],
    truth: &[usize],
    predicted: &[usize],
    probs: Option<&[f32]>,
    resamples: usize,
    seed: u64,
) -> Metrics {
    evaluate_grouped(classes, truth, predicted, probs, &[], resamples, seed)
}

/// Like [`evaluate`], but the bootstrap resamples whole groups (`groups`: one id per example,
/// a record or a patient) with replacement, each drawn group bringing all its examples: the
/// interval of a protocol whose errors come in records. Empty `groups`: examples are resampled.
pub fn evaluate_grouped(
    classes: &[String],
    truth: &[usize],
    predicted: &[usize],
    probs: Option<&[f32]>,
    groups: &[usize],
    resamples: usize,
    seed: u64,
) -> Metrics {
    let k = classes.len();
    let m = confusion(k, truth, predicted);
    let total = truth.len();
    let mut per_class = BTreeMap::new();
    let mut sums = [0.0f64; 4];
    let mut macro_classes = Vec::new();
    for (c, name) in classes.iter().enumerate() {
        let (class, actual) = class_metrics(&m, c, total);
        if actual > 0 {
            macro_classes.push(name.clone());
            for (s, v) in
                sums.iter_mut()
                    .zip([class.recall, class.precision, class.specificity, class.f1])
            {
                *s += v;
            }
        }
        per_class.insert(name.clone(), class);
    }
    let mean = |s: f64| s / macro_classes.len().max(1) as f64;
    let auroc_macro = probs.and_then(|p| macro_auroc(p, truth, k));
    let (accs, recalls) = bootstrap(k, truth, predicted, groups, resamples, seed);
    let (accuracy, recall_macro) = accuracy_and_recall(k, truth, predicted);
    Metrics {
        n: total,
        accuracy,
        recall_macro,
        precision_macro: mean(sums[1]),
        specificity_macro: mean(sums[2]),
        f1_macro: mean(sums[3]),
        auroc_macro,
        accuracy_ci95: interval(accs),
        recall_macro_ci95: interval(recalls),
        bootstrap_unit: if groups.is_empty() {
            examples()
        } else {
            "groups".into()
        },
        macro_classes,
        per_class,
        confusion: m,
    }
}

/// Class `c`'s figures from confusion matrix `m` over `total` examples, and its example count.
fn class_metrics(m: &[Vec<usize>], c: usize, total: usize) -> (ClassMetrics, usize) {
    let k = m.len();
    let tp = m[c][c];
    let actual: usize = m[c].iter().sum();
    let predicted_c: usize = (0..k).map(|r| m[r][c]).sum();
    let tn = total + tp - actual - predicted_c;
    let recall = ratio(tp, actual);
    let precision = ratio(tp, predicted_c);
    let specificity = ratio(tn, total - actual);
    let f1 = if recall + precision > 0.0 {
        2.0 * recall * precision / (recall + precision)
    } else {
        0.0
    };
    let metrics = ClassMetrics {
        recall,
        precision,
        specificity,
        f1,
        n: actual,
    };
    (metrics, actual)
}

/// Mean one-vs-rest AUROC over the classes with positives and negatives.
fn macro_auroc(p: &[f32], truth: &[usize], k: usize) -> Option<f64> {
    let total = truth.len();
    let values: Vec<f64> = (0..k)
        .filter_map(|c| {
            let scores: Vec<f32> = (0..total).map(|i| p[i * k + c]).collect();
            let positive: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            auroc(&scores, &positive)
        })
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// Accuracy and macro recall of `resamples` bootstrap draws: of examples, or of whole groups
/// when `groups` is given.
fn bootstrap(
    k: usize,
    truth: &[usize],
    predicted: &[usize],
    groups: &[usize],
    resamples: usize,
    seed: u64,
) -> (Vec<f64>, Vec<f64>) {
    let total = truth.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut accs, mut recalls) = (Vec::new(), Vec::new());
    if total == 0 {
        return (accs, recalls);
    }
    let units: Vec<Vec<usize>> = if groups.is_empty() {
        (0..total).map(|i| vec![i]).collect()
    } else {
        let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, &g) in groups.iter().enumerate() {
            by_group.entry(g).or_default().push(i);
        }
        by_group.into_values().collect()
    };
    let (mut t, mut p) = (Vec::with_capacity(total), Vec::with_capacity(total));
    for _ in 0..resamples {
        t.clear();
        p.clear();
        for _ in 0..units.len() {
            for &i in &units[rng.random_range(0..units.len())] {
                t.push(truth[i]);
                p.push(predicted[i]);
            }
        }
        let (a, r) = accuracy_and_recall(k, &t, &p);
        accs.push(a);
        recalls.push(r);
    }
    (accs, recalls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| format!("c{c}")).collect()
    }

    #[test]
    fn a_hand_counted_three_class_example() {
        // truth: 4 x c0, 3 x c1, 3 x c2
        let truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2];
        let predicted = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0];
        let m = evaluate(&names(3), &truth, &predicted, None, 200, 1);
        assert_eq!(
            m.confusion,
            vec![vec![3, 1, 0], vec![0, 2, 1], vec![1, 0, 2]]
        );
        assert!((m.accuracy - 0.7).abs() < 1e-12);
        let c0 = &m.per_class["c0"];
        assert!((c0.recall - 0.75).abs() < 1e-12);
        assert!((c0.precision - 0.75).abs() < 1e-12);
        assert!((c0.specificity - 5.0 / 6.0).abs() < 1e-12);
        assert!((m.recall_macro - (0.75 + 2.0 / 3.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!(m.accuracy_ci95[0] <= m.accuracy && m.accuracy <= m.accuracy_ci95[1]);
        assert!(m.accuracy_ci95[0] < m.accuracy_ci95[1]);
        assert_eq!(m.auroc_macro, None);
    }

    #[test]
    fn a_grouped_bootstrap_resamples_whole_groups_and_is_wider_when_groups_differ() {
        // Two records: one answered all right, one all wrong (50 examples each).
        let truth = vec![0; 100];
        let predicted: Vec<usize> = (0..100).map(|i| usize::from(i >= 50)).collect();
        let groups: Vec<usize> = (0..100).map(|i| i / 50).collect();
        let by_example = evaluate(&names(2), &truth, &predicted, None, 400, 5);
        let by_record = evaluate_grouped(&names(2), &truth, &predicted, None, &groups, 400, 5);
        assert_eq!(by_record.accuracy, 0.5);
        assert_eq!(by_record.bootstrap_unit, "groups");
        assert_eq!(by_example.bootstrap_unit, "examples");
        // Drawing two records gives 0, 0.5 or 1: the interval spans them all.
        assert_eq!(by_record.accuracy_ci95, [0.0, 1.0]);
        let width = |m: &Metrics| m.accuracy_ci95[1] - m.accuracy_ci95[0];
        assert!(width(&by_example) < 0.3, "{:?}", by_example.accuracy_ci95);
        assert_eq!(by_record.macro_classes, vec!["c0".to_string()]);
    }

    #[test]
    fn auroc_counts_pairs_and_ties() {
        assert_eq!(
            auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]),
            Some(0.75)
        );
        assert_eq!(auroc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(auroc(&[0.2, 0.9], &[true, true]), None);
        let probs = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7];
        let m = evaluate(&names(2), &[0, 1, 0, 1], &[0, 1, 0, 1], Some(&probs), 50, 2);
        assert_eq!(m.auroc_macro, Some(1.0));
        assert_eq!(m.accuracy_ci95, [1.0, 1.0]);
    }

    #[test]
    fn serialises_with_the_documented_keys() {
        let m = evaluate(&names(2), &[0, 1], &[0, 0], None, 10, 3);
        let json = serde_json::to_value(&m).unwrap();
        for key in [
            "n",
            "accuracy",
            "recall_macro",
            "precision_macro",
            "specificity_macro",
            "f1_macro",
            "auroc_macro",
            "accuracy_ci95",
            "recall_macro_ci95",
            "per_class",
            "confusion",
        ] {
            assert!(json.get(key).is_some(), "{key} missing");
        }
        assert_eq!(json["per_class"]["c1"]["n"], 1);
    }
}
