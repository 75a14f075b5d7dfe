//! Rejecting inputs that belong to no task. Each task's inputs, encoded at one size, are
//! summarised by the channel means of their feature maps (square-rooted, which makes the ReLU
//! outputs closer to Gaussian) and modelled by a Gaussian of their own. Its covariance is a
//! blend of the task's own and the one shared by all tasks, in the proportion under which the
//! task's validation inputs are likeliest, shrunk towards its diagonal. An input's distance to a task is its squared Mahalanobis distance in
//! units of the distance that keeps a stated share of that task's validation inputs, so a task
//! of tightly alike inputs (ECG beat pictures) gets a tight region and one of varied inputs
//! (X-rays) a loose one; its novelty score is the distance to the nearest task. The threshold is
//! the score that keeps the stated share of all validation inputs; anything scoring above it is
//! rejected instead of being routed and classified.
//!
//! A second rule looks at the picture itself: a blank picture (one gray level everywhere, give
//! or take a level or two of noise) holds nothing any task could classify, yet its features can
//! land close to a task's mean, so it is rejected before its score is consulted.

use std::path::Path;

use medpath_pathnet::FeatureSet;
use serde::{Deserialize, Serialize};

use crate::error::{InferError as Error, Result};
use medpath_runkit::{read_json, write_json};

/// Spread of a picture's gray levels (standard deviation on the 0..255 scale) under which it
/// counts as blank.
pub const BLANK_GRAY_STD: f64 = 2.0;

/// The rejection of a blank picture, if `image` is one.
pub fn blank_picture(image: &medpath_data::RgbImage) -> Option<Rejection> {
    let n = (image.width * image.height).max(1) as f64;
    let (mut sum, mut squares) = (0f64, 0f64);
    for rgb in image.pixels.chunks_exact(3) {
        let gray = f64::from(rgb[0] + rgb[1] + rgb[2]) / 3.0;
        sum += gray;
        squares += gray * gray;
    }
    let mean = sum / n;
    let spread = (squares / n - mean * mean).max(0.0).sqrt();
    (spread < BLANK_GRAY_STD).then(|| Rejection {
        reason: format!(
            "a blank picture: its gray levels spread by {spread:.2} (standard deviation), under {BLANK_GRAY_STD}: nothing to classify"
        ),
        score: spread,
        threshold: BLANK_GRAY_STD,
    })
}

/// The rejection of the picture in file `path`, if it is blank (see [`blank_picture`]).
pub fn blank_file(path: &Path) -> Result<Option<Rejection>> {
    let (image, _) = medpath_data::load_rgb(path)?;
    Ok(blank_picture(&image))
}

/// The share by which a covariance's off-diagonal entries are pulled towards zero.
const SHRINKAGE: f64 = 0.1;

/// The blends of a task's own covariance with the one shared by all tasks that are tried (the
/// share of the shared one); the blend under which the task's validation inputs are likeliest
/// is kept. A task of few inputs in many dimensions, or with features that never vary in its
/// training inputs, needs much of the shared one; a task of many inputs little.
const POOLING_GRID: [f64; 7] = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0];

/// The fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoveltyModel {
    /// Input side the features are computed at.
    pub size: usize,
    /// Task names, in the order of `means`.
    pub tasks: Vec<String>,
    /// Per task, the mean summary vector.
    pub means: Vec<Vec<f64>>,
    /// Per task, the lower-triangular Cholesky factor of its covariance, row-major
    /// `dims x dims`.
    pub choleskys: Vec<Vec<f64>>,
    /// Per task, the squared distance that keeps `keep` of its validation inputs: distances
    /// are divided by it, so that tasks of tight and of loose spread compare.
    pub scales: Vec<f64>,
    /// Per task, the share of the shared covariance in its own (from [`POOLING_GRID`], chosen on
    /// validation).
    pub pooling: Vec<f64>,
    /// Inputs scoring above this are rejected.
    pub threshold: f64,
    /// Share of validation inputs the threshold keeps.
    pub keep: f64,
}

/// Why an input was rejected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// In words.
    pub reason: String,
    /// The score that decided it (novelty score, or the signal measure for a beat).
    pub score: f64,
    /// The limit it crossed.
    pub threshold: f64,
}

/// The task an input is closest to under the novelty rule, and its novelty score there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Nearest {
    /// Index of the task in [`NoveltyModel::tasks`].
    pub task: usize,
    /// The input's distance to that task in units of the task's validation distance.
    pub score: f64,
}

/// How the novelty rule's reason begins for an input of no task.
const UNLIKE_EVERY_TASK: &str = "unlike every task's inputs";

impl Rejection {
    /// The same rejection of a beat cut from a record given to `task`: the input is an ECG beat
    /// for certain, only unlike the beats the task learnt from (often a kind of beat it has no
    /// class for), and the reason says so.
    pub fn of_beat(self, task: &str) -> Rejection {
        let beat = format!(
            "a beat unlike those task `{task}` learnt from (perhaps of a kind it has no class for)"
        );
        Rejection {
            reason: self.reason.replacen(UNLIKE_EVERY_TASK, &beat, 1),
            ..self
        }
    }
}

/// Calls `f` with the summary vector of each example of `set` in turn (square roots of its
/// channel means), reading a disk-backed set a row at a time: nothing is collected.
fn for_each_summary(set: &FeatureSet, mut f: impl FnMut(Vec<f64>)) -> Result<()> {
    let positions = set.height * set.width;
    set.for_each_example(|_, example| {
        let mut s = vec![0f64; set.channels];
        for p in 0..positions {
            for (c, v) in example[p * set.channels..(p + 1) * set.channels]
                .iter()
                .enumerate()
            {
                s[c] += f64::from(*v);
            }
        }
        f(s.iter()
            .map(|v| (v / positions as f64).max(0.0).sqrt())
            .collect());
    })?;
    Ok(())
}

/// Cholesky factor of a symmetric positive-definite `n x n` matrix (row-major).
fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut sum = a[i * n + j];
            for k in 0..j {
                sum -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if sum <= 0.0 {
                    return None;
                }
                l[i * n + i] = sum.sqrt();
            } else {
                l[i * n + j] = sum / l[j * n + j];
            }
        }
    }
    Some(l)
}

/// `|L⁻¹ d|²` for the lower-triangular `l`: the squared Mahalanobis length of `d`.
fn mahalanobis(l: &[f64], d: &[f64]) -> f64 {
    let n = d.len();
    let mut y = vec![0f64; n];
    let mut total = 0.0;
    for i in 0..n {
        let mut sum = d[i];
        for k in 0..i {
            sum -= l[i * n + k] * y[k];
        }
        y[i] = sum / l[i * n + i];
        total += y[i] * y[i];
    }
    total
}

/// The `q` quantile of `values` (nearest rank).
fn quantile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::INFINITY;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Mean and sample covariance of the summaries of `set`, in two passes so that nothing per
/// input is kept (the set may be on disk and large).
fn gaussian(set: &FeatureSet) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut sum: Vec<f64> = Vec::new();
    for_each_summary(set, |s| {
        sum.resize(s.len(), 0.0);
        for (a, b) in sum.iter_mut().zip(&s) {
            *a += b;
        }
    })?;
    let n = set.len().max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|v| v / n).collect();
    let dims = mean.len();
    let mut cov = vec![0f64; dims * dims];
    for_each_summary(set, |r| {
        let d: Vec<f64> = r.iter().zip(&mean).map(|(a, b)| a - b).collect();
        for i in 0..dims {
            for j in 0..=i {
                cov[i * dims + j] += d[i] * d[j];
            }
        }
    })?;
    let mean_variance = (0..dims).map(|i| cov[i * dims + i]).sum::<f64>() / (dims as f64 * n);
    for i in 0..dims {
        for j in 0..=i {
            let mut v = cov[i * dims + j] / n;
            if i == j {
                v += 1e-6 * mean_variance.max(1e-12);
            }
            cov[i * dims + j] = v;
            cov[j * dims + i] = v;
        }
    }
    Ok((mean, cov))
}

/// Folds of groups whose training inputs are scored by Gaussians fitted without them.
pub const HELD_OUT_FOLDS: usize = 5;

/// The squared distance of every input of `set` to the Gaussian fitted on the inputs of the
/// other folds of groups (`groups`: one id per input; the groups dealt into
/// [`HELD_OUT_FOLDS`] folds in order of id), its covariance blended with `shared` as the
/// task's own is (`pooling`); empty when there are fewer than two groups.
fn held_out_distances(
    set: &FeatureSet,
    groups: &[usize],
    (shared, pooling): (&[f64], f64),
) -> Result<Vec<f64>> {
    let mut ids: Vec<usize> = groups.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() < 2 || groups.len() != set.len() {
        return Ok(Vec::new());
    }
    let folds = HELD_OUT_FOLDS.min(ids.len());
    let fold_of = |g: usize| ids.binary_search(&g).map_or(0, |k| k % folds);
    let mut distances = Vec::with_capacity(set.len());
    for fold in 0..folds {
        let (inside, outside): (Vec<usize>, Vec<usize>) =
            (0..set.len()).partition(|&i| fold_of(groups[i]) != fold);
        let (mean, cov) = gaussian(&set.select(&inside)?)?;
        let dims = mean.len();
        let blend: Vec<f64> = cov
            .iter()
            .zip(shared)
            .map(|(c, s)| (1.0 - pooling) * c + pooling * s)
            .collect();
        let Some(l) = shrunk_cholesky(&blend, dims, SHRINKAGE) else {
            continue;
        };
        for_each_summary(&set.select(&outside)?, |s| {
            let d: Vec<f64> = s.iter().zip(&mean).map(|(a, b)| a - b).collect();
            distances.push(mahalanobis(&l, &d));
        })?;
    }
    Ok(distances)
}

/// Cholesky factor of `cov` with its off-diagonal entries shrunk by `shrinkage` (towards the
/// diagonal), if it is positive definite.
fn shrunk_cholesky(cov: &[f64], dims: usize, shrinkage: f64) -> Option<Vec<f64>> {
    let shrunk: Vec<f64> = cov
        .iter()
        .enumerate()
        .map(|(k, v)| {
            if k / dims == k % dims {
                *v
            } else {
                v * (1.0 - shrinkage)
            }
        })
        .collect();
    cholesky(&shrunk, dims)
}

/// `log det` of the covariance whose Cholesky factor is `l`.
fn log_det(l: &[f64], dims: usize) -> f64 {
    (0..dims).map(|i| 2.0 * l[i * dims + i].ln()).sum()
}

/// The covariance shared by all tasks: their own, weighted by their inputs.
fn shared_covariance(
    gaussians: &[(Vec<f64>, Vec<f64>)],
    train: &[&FeatureSet],
    dims: usize,
) -> Vec<f64> {
    let total: usize = train.iter().map(|set| set.len()).sum();
    let mut shared = vec![0f64; dims * dims];
    for ((_, cov), set) in gaussians.iter().zip(train) {
        let weight = set.len() as f64 / total as f64;
        for (s, c) in shared.iter_mut().zip(cov) {
            *s += weight * c;
        }
    }
    shared
}

/// The blend of a task's own covariance and the `shared` one under which the task's inputs
/// `own` are likeliest: (log-likelihood, pooling weight, Cholesky factor), or `None` where no
/// blend is positive definite.
fn best_blend(
    own: &FeatureSet,
    (mean, cov): (&[f64], &[f64]),
    shared: &[f64],
) -> Result<Option<(f64, f64, Vec<f64>)>> {
    let dims = mean.len();
    let mut best: Option<(f64, f64, Vec<f64>)> = None;
    for pooling in POOLING_GRID {
        let blend: Vec<f64> = cov
            .iter()
            .zip(shared)
            .map(|(c, s)| (1.0 - pooling) * c + pooling * s)
            .collect();
        let Some(l) = shrunk_cholesky(&blend, dims, SHRINKAGE) else {
            continue;
        };
        let mut total = 0.0;
        for_each_summary(own, |s| {
            let d: Vec<f64> = s.iter().zip(mean).map(|(a, b)| a - b).collect();
            total += mahalanobis(&l, &d);
        })?;
        let fit = -(total / own.len().max(1) as f64 + log_det(&l, dims));
        if best.as_ref().is_none_or(|(b, _, _)| fit > *b) {
            best = Some((fit, pooling, l));
        }
    }
    Ok(best)
}

impl NoveltyModel {
    /// Fits one Gaussian per task on `train` (one feature set per task, inputs at `size`),
    /// scales each task's distances by the one that keeps `keep` of that task's inputs of
    /// patients it was not fitted on, and sets the threshold that keeps `keep` of all of them.
    /// Those inputs are the `val` inputs and, where a task's training inputs come in `groups`
    /// (records or patients, one id per row; empty: none), its training inputs scored by
    /// Gaussians fitted without their group ([`HELD_OUT_FOLDS`] folds of groups): validation
    /// inputs of the training patients (the paper's intra-patient split) would set a threshold
    /// too tight for a new patient.
    pub fn fit(
        tasks: &[String],
        size: usize,
        (train, groups): (&[&FeatureSet], &[Vec<usize>]),
        val: &[&FeatureSet],
        keep: f64,
    ) -> Result<NoveltyModel> {
        if train.len() != tasks.len() || train.iter().any(|set| set.is_empty()) {
            return Err(Error::Config(
                "novelty model: every task needs training inputs".into(),
            ));
        }
        let mut model = NoveltyModel {
            size,
            tasks: tasks.to_vec(),
            means: Vec::new(),
            choleskys: Vec::new(),
            scales: Vec::new(),
            pooling: Vec::new(),
            threshold: f64::INFINITY,
            keep,
        };
        let gaussians = train
            .iter()
            .map(|set| gaussian(set))
            .collect::<Result<Vec<_>>>()?;
        let dims = gaussians[0].0.len();
        if gaussians.iter().any(|(mean, _)| mean.len() != dims) {
            return Err(Error::Config(
                "novelty model: the tasks' features differ in length".into(),
            ));
        }
        let shared = shared_covariance(&gaussians, train, dims);
        let mut unseen_scores = Vec::new();
        for (t, ((mean, cov), set)) in gaussians.into_iter().zip(train).enumerate() {
            let own = val.get(t).filter(|v| !v.is_empty()).unwrap_or(set);
            let best = best_blend(own, (&mean, &cov), &shared)?;
            let (_, pooling, cholesky) = best.ok_or_else(|| {
                Error::Config(format!(
                    "novelty model: the feature covariance of task `{}` is not positive definite",
                    tasks[t]
                ))
            })?;
            model.means.push(mean);
            model.choleskys.push(cholesky);
            model.pooling.push(pooling);
            let mut distances = Vec::with_capacity(own.len());
            for_each_summary(own, |s| distances.push(model.distance(t, &s)))?;
            let task_groups = groups.get(t).map_or(&[][..], Vec::as_slice);
            let held_out = held_out_distances(set, task_groups, (&shared, pooling))?;
            distances.extend_from_slice(&held_out);
            let scale = quantile(&distances, keep).max(f64::MIN_POSITIVE);
            model.scales.push(scale);
            unseen_scores.extend(held_out.iter().map(|d| d / scale));
        }
        for set in val {
            unseen_scores.extend(model.scores(set)?);
        }
        model.threshold = quantile(&unseen_scores, keep);
        Ok(model)
    }

    /// Squared Mahalanobis distance of summary `s` to task `t`'s Gaussian.
    fn distance(&self, t: usize, s: &[f64]) -> f64 {
        let d: Vec<f64> = s.iter().zip(&self.means[t]).map(|(a, b)| a - b).collect();
        mahalanobis(&self.choleskys[t], &d)
    }

    /// The novelty score of every input of `set` (features at [`NoveltyModel::size`]): its
    /// distance to the nearest task, in units of that task's own validation distance.
    pub fn scores(&self, set: &FeatureSet) -> Result<Vec<f64>> {
        Ok(self.nearest(set)?.into_iter().map(|n| n.score).collect())
    }

    /// The nearest task of every input of `set` and the input's novelty score (its distance to
    /// that task; see [`NoveltyModel::scores`]).
    pub fn nearest(&self, set: &FeatureSet) -> Result<Vec<Nearest>> {
        let mut nearest = Vec::with_capacity(set.len());
        for_each_summary(set, |s| {
            let closest = (0..self.means.len())
                .map(|t| Nearest {
                    task: t,
                    score: self.distance(t, &s) / self.scales[t],
                })
                .min_by(|a, b| a.score.total_cmp(&b.score));
            nearest.push(closest.unwrap_or(Nearest {
                task: 0,
                score: f64::INFINITY,
            }));
        })?;
        Ok(nearest)
    }

    /// The rejection of an input whose nearest task and score are `nearest`, if it is
    /// rejected. The reason names the nearest task and how far the score is past the
    /// threshold, so that a user can tell an input of no task from one just outside a task.
    pub fn judge(&self, nearest: Nearest) -> Option<Rejection> {
        let score = nearest.score;
        let task = self.tasks.get(nearest.task).map_or("?", String::as_str);
        (score > self.threshold).then(|| Rejection {
            reason: format!(
                "{UNLIKE_EVERY_TASK}: novelty score {score:.1} above the threshold {:.1} ({:.1}x), which keeps {:.0} % of validation inputs; nearest task `{task}`",
                self.threshold,
                score / self.threshold,
                100.0 * self.keep
            ),
            score,
            threshold: self.threshold,
        })
    }

    /// Writes the model to `path` (JSON).
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(write_json(path, self)?)
    }

    /// Reads a model written by [`NoveltyModel::save`], checking its shapes.
    pub fn load(path: &Path) -> Result<NoveltyModel> {
        let model: NoveltyModel = read_json(path)?;
        let dims = model.means.first().map_or(0, Vec::len);
        if model.means.iter().any(|m| m.len() != dims)
            || model.choleskys.len() != model.means.len()
            || model.scales.len() != model.means.len()
            || model.pooling.len() != model.means.len()
            || model.choleskys.iter().any(|l| l.len() != dims * dims)
        {
            return Err(Error::run(path, "novelty model with inconsistent shapes"));
        }
        Ok(model)
    }
}

/// How well the model separates in-distribution inputs from the generated set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoveltyReport {
    /// The threshold.
    pub threshold: f64,
    /// Share of validation inputs kept (about `keep` by construction).
    pub val_kept: f64,
    /// Share of test inputs kept (`None` when the run has no test inputs of its own, as under
    /// record-kfold, where every record is tested by a fold's model).
    pub test_kept: Option<f64>,
    /// Generated out-of-distribution pictures scored.
    pub ood: usize,
    /// Share of them accepted (not rejected): the false-accept rate.
    pub ood_false_accept: f64,
    /// AUROC of the score, in-distribution inputs (test, else validation) against the generated
    /// set.
    pub auroc: Option<f64>,
    /// Which in-distribution inputs the AUROC used: `test` or `validation`.
    pub auroc_inputs: String,
    /// Per generated kind: pictures accepted out of all.
    pub accepted_by_kind: std::collections::BTreeMap<String, [usize; 2]>,
}

/// The report for validation, test and out-of-distribution scores (`ood` labelled by kind).
pub fn report(
    model: &NoveltyModel,
    val: &[f64],
    test: &[f64],
    ood: &[(String, f64)],
) -> NoveltyReport {
    let kept = |s: &[f64]| {
        s.iter().filter(|&&v| v <= model.threshold).count() as f64 / s.len().max(1) as f64
    };
    let mut by_kind: std::collections::BTreeMap<String, [usize; 2]> = Default::default();
    for (kind, score) in ood {
        let entry = by_kind.entry(kind.clone()).or_default();
        entry[0] += usize::from(*score <= model.threshold);
        entry[1] += 1;
    }
    let (inside, auroc_inputs) = if test.is_empty() {
        (val, "validation")
    } else {
        (test, "test")
    };
    let scores: Vec<f32> = inside
        .iter()
        .chain(ood.iter().map(|(_, s)| s))
        .map(|&v| v as f32)
        .collect();
    let positive: Vec<bool> = (0..scores.len()).map(|i| i >= inside.len()).collect();
    NoveltyReport {
        threshold: model.threshold,
        val_kept: kept(val),
        test_kept: (!test.is_empty()).then(|| kept(test)),
        ood: ood.len(),
        ood_false_accept: kept(&ood.iter().map(|(_, s)| *s).collect::<Vec<_>>()),
        auroc: medpath_metrics::auroc(&scores, &positive),
        auroc_inputs: auroc_inputs.to_string(),
        accepted_by_kind: by_kind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(values: &[[f32; 3]]) -> FeatureSet {
        let mut s = FeatureSet::new(1, 1, 3);
        for v in values {
            s.push_chw(v, 0).unwrap();
        }
        s
    }

    #[test]
    fn blank_pictures_are_rejected_and_pictures_with_content_kept() {
        let mut flat = medpath_data::RgbImage::filled(40, 30, 128.0);
        let rejected = blank_picture(&flat).expect("one gray level is blank");
        assert_eq!(rejected.score, 0.0);
        // A level of noise either way is still blank.
        for (i, v) in flat.pixels.iter_mut().enumerate() {
            *v += ((i / 3) % 3) as f32 - 1.0;
        }
        let noisy = blank_picture(&flat).expect("noise of a gray level is blank");
        assert!(
            (noisy.score - (2.0f64 / 3.0).sqrt()).abs() < 1e-6,
            "{}",
            noisy.score
        );
        // A faint gradient over the picture is content.
        let mut gradient = medpath_data::RgbImage::filled(40, 30, 0.0);
        for (i, v) in gradient.pixels.iter_mut().enumerate() {
            *v = 100.0 + ((i / 3) % 40) as f32 / 2.0;
        }
        assert_eq!(blank_picture(&gradient), None);
    }

    #[test]
    fn a_tight_task_is_judged_by_its_own_spread() {
        // Task a varies by hundredths, task b by whole units, far from a.
        let wobble = |i: usize, scale: f32| {
            [
                scale * ((i * 7) % 11) as f32 / 11.0,
                scale * ((i * 5) % 13) as f32 / 13.0,
                scale * ((i * 3) % 17) as f32 / 17.0,
            ]
        };
        let tight: Vec<[f32; 3]> = (0..80)
            .map(|i| {
                let w = wobble(i, 0.02);
                [1.0 + w[0], 1.0 + w[1], 1.0 + w[2]]
            })
            .collect();
        let loose: Vec<[f32; 3]> = (0..80)
            .map(|i| {
                let w = wobble(i, 3.0);
                [20.0 + w[0], 20.0 + w[1], 20.0 + w[2]]
            })
            .collect();
        let (a, b) = (set(&tight), set(&loose));
        let model = NoveltyModel::fit(
            &["a".into(), "b".into()],
            32,
            (&[&a, &b], &[]),
            &[&a, &b],
            0.99,
        )
        .unwrap();
        // Half a unit off task a: tiny by task b's spread, yet dozens of a's own spreads away.
        let off = set(&[[1.5, 1.0, 1.0], [1.0, 1.5, 1.5]]);
        for n in model.nearest(&off).unwrap() {
            assert!(model.judge(n).is_some(), "score {} accepted", n.score);
        }
        let kept = |set: &FeatureSet| {
            model
                .nearest(set)
                .unwrap()
                .into_iter()
                .filter(|&n| model.judge(n).is_none())
                .count()
        };
        assert!(
            kept(&a) >= 78 && kept(&b) >= 78,
            "{} {}",
            kept(&a),
            kept(&b)
        );
    }

    #[test]
    fn inputs_far_from_every_task_are_rejected() {
        let near: Vec<[f32; 3]> = (0..60)
            .map(|i| {
                let t = i as f32 / 60.0;
                [1.0 + 0.2 * t, 4.0 - 0.3 * t, 2.0 + 0.1 * (i % 7) as f32]
            })
            .collect();
        let other: Vec<[f32; 3]> = near.iter().map(|v| [v[0] + 8.0, v[1], v[2]]).collect();
        let (a, b) = (set(&near), set(&other));
        let model = NoveltyModel::fit(
            &["a".into(), "b".into()],
            32,
            (&[&a, &b], &[]),
            &[&a, &b],
            0.99,
        )
        .unwrap();
        let kept = model
            .nearest(&a)
            .unwrap()
            .into_iter()
            .filter(|&n| model.judge(n).is_none())
            .count();
        assert!(kept >= 55, "kept {kept} of 60");
        // A point just past task b's inputs is nearest to b, whatever its score.
        let past_b = model.nearest(&set(&[[9.5, 3.8, 2.3]])).unwrap()[0];
        assert_eq!(model.tasks[past_b.task], "b");
        let far = set(&[[30.0, 0.0, 0.0], [0.0, 0.0, 50.0]]);
        for n in model.nearest(&far).unwrap() {
            assert!(model.judge(n).is_some(), "score {} accepted", n.score);
        }
        let tmp = tempfile::tempdir().unwrap();
        model.save(&tmp.path().join("n.json")).unwrap();
        assert_eq!(
            NoveltyModel::load(&tmp.path().join("n.json")).unwrap(),
            model
        );
    }

    #[test]
    fn a_rejected_beat_is_called_a_beat_unlike_the_tasks_not_an_input_of_no_task() {
        let a = set(&[[1.0, 2.0, 3.0], [1.1, 2.1, 2.9], [0.9, 1.9, 3.1]]);
        let model = NoveltyModel::fit(&["a".to_string()], 32, (&[&a], &[]), &[&a], 0.99).unwrap();
        let far = model.nearest(&set(&[[30.0, 0.0, 0.0]])).unwrap()[0];
        let rejection = model.judge(far).unwrap();
        assert!(
            rejection
                .reason
                .starts_with("unlike every task's inputs: novelty score"),
            "{}",
            rejection.reason
        );
        assert!(
            rejection.reason.ends_with("nearest task `a`"),
            "{}",
            rejection.reason
        );
        let beat = rejection.of_beat("ecg");
        assert!(
            beat.reason
                .starts_with("a beat unlike those task `ecg` learnt from (perhaps of a kind it has no class for): novelty score"),
            "{}",
            beat.reason
        );
        assert_eq!(beat.score, far.score);
    }

    #[test]
    fn a_new_patient_is_judged_by_how_far_unseen_patients_lie_not_training_ones() {
        // Five patients, each with its own offset; within a patient the inputs vary little.
        let patient = |p: usize, n: usize| -> Vec<[f32; 3]> {
            (0..n)
                .map(|i| {
                    let w = 0.01 * ((i * 7) % 11) as f32;
                    let o = p as f32 * 0.3;
                    [2.0 + o + w, 3.0 - o + w, 1.0 + 0.5 * o + w]
                })
                .collect()
        };
        let mut rows = Vec::new();
        let mut groups = Vec::new();
        for p in 0..5 {
            rows.extend(patient(p, 30));
            groups.extend(std::iter::repeat_n(p, 30));
        }
        let a = set(&rows);
        let tasks = ["a".to_string()];
        let seen = NoveltyModel::fit(&tasks, 32, (&[&a], &[]), &[&a], 0.99).unwrap();
        let unseen = NoveltyModel::fit(&tasks, 32, (&[&a], &[groups]), &[&a], 0.99).unwrap();
        assert!(
            unseen.scales[0] > seen.scales[0],
            "{:?} {:?}",
            unseen.scales,
            seen.scales
        );
        // A sixth patient half a step past the others: rejected by the rule fitted on the
        // training patients' spread, kept by the one that saw patients held out.
        let new = set(&patient(5, 10)[..]);
        let kept = |m: &NoveltyModel| {
            m.nearest(&new)
                .unwrap()
                .into_iter()
                .filter(|&n| m.judge(n).is_none())
                .count()
        };
        assert!(
            kept(&unseen) > kept(&seen),
            "{} vs {}",
            kept(&unseen),
            kept(&seen)
        );
        // Far away is still far.
        let far = set(&[[30.0, 0.0, 0.0]]);
        assert!(unseen.judge(unseen.nearest(&far).unwrap()[0]).is_some());
    }
}
