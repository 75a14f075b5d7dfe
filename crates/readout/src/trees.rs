//! Gradient-boosted trees on the pooled encoder features and side inputs: a readout that
//! combines its inputs non-linearly without any path network, used as an ablation beside the
//! linear readout or, with `readout = "boosted-trees"`, as the task's answer. One booster per
//! class (one against the rest, forust-ml's log-loss objective), stopped early on the
//! validation set, its tree depth chosen on the validation set; probabilities are the boosters' outputs normalised over the classes.

use std::path::Path;

use forust_ml::{GradientBooster, Matrix};
use medpath_pathnet::{FeatureSet, balanced_class_weights};
use serde::{Deserialize, Serialize};

use medpath_runkit::{read_json, write_json};

use crate::error::{ReadoutError as Error, Result};

/// Boosting rounds at most (early stopping usually ends sooner).
const ROUNDS: usize = 200;
/// Rounds without a better validation log-loss before a booster stops.
const PATIENCE: usize = 15;
/// Tree depths tried for each booster; the one with the lowest validation log-loss is kept.
const DEPTHS: [usize; 3] = [2, 4, 6];
/// Seed step between the bags of a readout.
const BAG_SEED_STEP: u64 = 7_919;

/// Weighted mean log-loss of logits `logits` against 0/1 `targets`.
fn log_loss(logits: &[f64], targets: &[f64], weights: &[f64]) -> f64 {
    let (mut total, mut weight) = (0.0, 0.0);
    for ((z, y), w) in logits.iter().zip(targets).zip(weights) {
        let p = (1.0 / (1.0 + (-z).exp())).clamp(1e-12, 1.0 - 1e-12);
        total -= w * (y * p.ln() + (1.0 - y) * (1.0 - p).ln());
        weight += w;
    }
    total / weight.max(f64::MIN_POSITIVE)
}

/// Weight of every example (`labels`, `groups`: one per example) that evens out the groups
/// within each class: an example whose group holds `n` examples of its class weighs
/// `n^-power`, rescaled so that each class's weights add up to its count. `power` 0, or no
/// groups given: every example weighs 1.
pub fn group_weights(labels: &[usize], groups: &[usize], classes: usize, power: f64) -> Vec<f64> {
    if power == 0.0 || groups.len() != labels.len() {
        return vec![1.0; labels.len()];
    }
    let mut counts = std::collections::HashMap::new();
    for (&y, &g) in labels.iter().zip(groups) {
        *counts.entry((y, g)).or_insert(0usize) += 1;
    }
    let raw: Vec<f64> = labels
        .iter()
        .zip(groups)
        .map(|(&y, &g)| (counts[&(y, g)] as f64).powf(-power))
        .collect();
    let (mut total, mut count) = (vec![0.0; classes], vec![0usize; classes]);
    for (&y, w) in labels.iter().zip(&raw) {
        total[y] += w;
        count[y] += 1;
    }
    labels
        .iter()
        .zip(raw)
        .map(|(&y, w)| w * count[y] as f64 / total[y])
        .collect()
}

/// How boosted trees are fitted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeSettings {
    /// Side of the grid the feature maps are pooled to.
    pub grid: usize,
    /// Whether each class weighs as much as the others in the loss and validation score.
    pub balanced_classes: bool,
    /// How far the groups (records or patients) of a class are evened out (see
    /// [`group_weights`]).
    pub group_balance: f32,
}

/// What boosted trees are fitted on: training rows and the validation rows that stop them,
/// with each row's group (empty: not known).
#[derive(Clone, Copy)]
pub struct TreeData<'a> {
    /// Training rows.
    pub train: &'a FeatureSet,
    /// Group of each training row.
    pub train_groups: &'a [usize],
    /// Validation rows.
    pub val: &'a FeatureSet,
    /// Group of each validation row.
    pub val_groups: &'a [usize],
}

/// Fitted boosters, one per class.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BoostedReadout {
    /// Side of the grid the feature maps are pooled to.
    pub grid: usize,
    /// Columns each booster reads (pooled features, then side inputs).
    pub width: usize,
    /// Each class's booster as forust-ml's JSON.
    pub boosters: Vec<String>,
    /// Each class's tree depth, chosen on validation.
    #[serde(default)]
    pub depths: Vec<usize>,
    /// Further readouts fitted the same way with other seeds (row and column samples differ);
    /// [`BoostedReadout::predict`] averages their probabilities with this one's.
    #[serde(default)]
    pub bags: Vec<BoostedReadout>,
}

/// `set`'s pooled rows (`grid x grid` cells and side inputs) in the column-major `f64` layout
/// forust reads, with the number of columns.
fn columns(set: &FeatureSet, grid: usize) -> Result<(Vec<f64>, usize)> {
    let rows = set.pooled_rows(grid)?;
    let n = set.len();
    let width = rows.len() / n.max(1);
    let mut out = vec![0.0; rows.len()];
    for (r, row) in rows.chunks_exact(width.max(1)).enumerate() {
        for (c, v) in row.iter().enumerate() {
            out[c * n + r] = f64::from(*v);
        }
    }
    Ok((out, width))
}

/// One class's booster being fitted: the training rows, targets and weights, and the
/// validation rows that stop it and choose its depth.
struct Fitting<'a> {
    train: (&'a Matrix<'a, f64>, &'a [f64], &'a [f64]),
    val: (Matrix<'a, f64>, &'a [f64], &'a [f64]),
}

impl Fitting<'_> {
    /// The depth (of [`DEPTHS`]) under which the validation rows (records or patients the
    /// trees did not train on) are best predicted, and its booster.
    fn best_depth(&self, seed: u64, class: usize) -> Result<(usize, GradientBooster)> {
        let (train_x, train_y, train_w) = self.train;
        let (val_x, val_y, val_w) = &self.val;
        let mut best: Option<(f64, usize, GradientBooster)> = None;
        for depth in DEPTHS {
            let mut booster = GradientBooster::default()
                .set_iterations(ROUNDS)
                .set_learning_rate(0.1)
                .set_max_depth(depth)
                .set_colsample_bytree(0.3)
                .set_subsample(0.8)
                .set_seed(seed)
                .set_early_stopping_rounds(Some(PATIENCE));
            let stopping = Matrix::new(val_x.data, val_x.rows, val_x.cols);
            booster
                .fit(
                    train_x,
                    train_y,
                    train_w,
                    Some(vec![(stopping, *val_y, *val_w)]),
                )
                .map_err(|err| Error::Config(format!("boosted trees, class {class}: {err}")))?;
            let loss = log_loss(&booster.predict(val_x, true), val_y, val_w);
            if best.as_ref().is_none_or(|(b, _, _)| loss < *b) {
                best = Some((loss, depth, booster));
            }
        }
        let (_, depth, booster) = best.expect("at least one depth is tried");
        Ok((depth, booster))
    }
}

impl BoostedReadout {
    /// Trains the boosters on `data.train`, stopping each early on `data.val`, each class's
    /// depth the one that predicts the validation rows best.
    pub fn fit(
        settings: &TreeSettings,
        classes: usize,
        data: TreeData<'_>,
        seed: u64,
    ) -> Result<BoostedReadout> {
        let grid = settings.grid;
        let (train, width) = columns(data.train, grid)?;
        let (val, _) = columns(data.val, grid)?;
        let train_x = Matrix::new(&train, data.train.len(), width);
        let class_weight = if settings.balanced_classes {
            balanced_class_weights(&data.train.labels, classes)
        } else {
            vec![1.0; classes]
        };
        let power = f64::from(settings.group_balance);
        let weights = |set: &FeatureSet, groups: &[usize]| -> Vec<f64> {
            group_weights(&set.labels, groups, classes, power)
                .into_iter()
                .zip(&set.labels)
                .map(|(w, &y)| w * f64::from(class_weight[y]))
                .collect()
        };
        let train_w = weights(data.train, data.train_groups);
        let val_w = weights(data.val, data.val_groups);
        let mut boosters = Vec::with_capacity(classes);
        let mut depths = Vec::with_capacity(classes);
        for c in 0..classes {
            let target = |set: &FeatureSet| -> Vec<f64> {
                set.labels
                    .iter()
                    .map(|&y| f64::from(u8::from(y == c)))
                    .collect()
            };
            let (train_y, val_y) = (target(data.train), target(data.val));
            let fitted = Fitting {
                train: (&train_x, &train_y, &train_w),
                val: (Matrix::new(&val, data.val.len(), width), &val_y, &val_w),
            };
            let (depth, booster) = fitted.best_depth(seed + c as u64, c)?;
            depths.push(depth);
            boosters.push(
                booster
                    .json_dump()
                    .map_err(|err| Error::Config(format!("boosted trees: {err}")))?,
            );
        }
        Ok(BoostedReadout {
            grid,
            width,
            boosters,
            depths,
            bags: Vec::new(),
        })
    }

    /// `count` readouts fitted with seeds `seed`, `seed + BAG_SEED_STEP`, ...: the first holds
    /// the others as its bags.
    pub fn fit_bagged(
        settings: &TreeSettings,
        classes: usize,
        data: TreeData<'_>,
        seed: u64,
        count: usize,
    ) -> Result<BoostedReadout> {
        let mut readout = BoostedReadout::fit(settings, classes, data, seed)?;
        for bag in 1..count {
            let seed = seed + BAG_SEED_STEP * bag as u64;
            readout
                .bags
                .push(BoostedReadout::fit(settings, classes, data, seed)?);
        }
        Ok(readout)
    }

    /// Class probabilities of every example of `set`, row per example, averaged over the
    /// readout and its bags.
    pub fn predict(&self, set: &FeatureSet) -> Result<Vec<f32>> {
        let mut tables = vec![self.predict_alone(set)?];
        for bag in &self.bags {
            tables.push(bag.predict_alone(set)?);
        }
        Ok(crate::mean_probs(tables.iter().map(Vec::as_slice)))
    }

    /// Class probabilities of this readout's own boosters (its bags left out).
    fn predict_alone(&self, set: &FeatureSet) -> Result<Vec<f32>> {
        let (x, width) = columns(set, self.grid)?;
        if set.is_empty() {
            return Ok(Vec::new());
        }
        if width != self.width {
            return Err(Error::Config(format!(
                "boosted trees read {} columns, the inputs have {width}",
                self.width
            )));
        }
        let matrix = Matrix::new(&x, set.len(), width);
        let classes = self.boosters.len();
        let mut probs = vec![0f32; set.len() * classes];
        for (c, json) in self.boosters.iter().enumerate() {
            let booster = GradientBooster::from_json(json)
                .map_err(|err| Error::Config(format!("boosted trees, class {c}: {err}")))?;
            for (row, logit) in booster.predict(&matrix, true).iter().enumerate() {
                probs[row * classes + c] = (1.0 / (1.0 + (-logit).exp())) as f32;
            }
        }
        for row in probs.chunks_exact_mut(classes) {
            let sum: f32 = row.iter().sum();
            for v in row.iter_mut() {
                *v /= sum.max(f32::MIN_POSITIVE);
            }
        }
        Ok(probs)
    }

    /// Writes the boosters to `path` (JSON).
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(write_json(path, self)?)
    }

    /// Reads boosters written by [`BoostedReadout::save`].
    pub fn load(path: &Path) -> Result<BoostedReadout> {
        Ok(read_json(path)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Examples whose class is the exclusive or of two columns' halves, with a noise column.
    fn xor_set(n: usize, seed: u64) -> FeatureSet {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut set = FeatureSet::new(2, 2, 3);
        for _ in 0..n {
            let values: [f32; 3] = [
                rng.random_range(0.0..1.0),
                rng.random_range(0.0..1.0),
                rng.random_range(0.0..1.0),
            ];
            let label = usize::from((values[0] > 0.5) != (values[1] > 0.5));
            let chw: Vec<f32> = values.iter().flat_map(|v| [*v; 4]).collect();
            set.push_chw(&chw, label).unwrap();
        }
        set
    }

    /// Settings of a 2 x 2 grid without class or group weights.
    const PLAIN: TreeSettings = TreeSettings {
        grid: 2,
        balanced_classes: false,
        group_balance: 0.0,
    };

    /// Exclusive-or train, validation and test sets of `sizes` examples, seeded from `seed`.
    fn xor_sets(sizes: [usize; 3], seed: u64) -> [FeatureSet; 3] {
        [
            xor_set(sizes[0], seed),
            xor_set(sizes[1], seed + 1),
            xor_set(sizes[2], seed + 2),
        ]
    }

    /// Trees fitted on `train`, stopped on `val`, `bags` seeds.
    fn fitted(train: &FeatureSet, val: &FeatureSet, bags: usize) -> BoostedReadout {
        let data = TreeData {
            train,
            train_groups: &[],
            val,
            val_groups: &[],
        };
        BoostedReadout::fit_bagged(&PLAIN, 2, data, 0, bags).unwrap()
    }

    #[test]
    fn the_depth_is_chosen_on_validation_and_an_interaction_gets_more_than_stumps() {
        let [train, val, test] = xor_sets([600, 200, 200], 1);
        let readout = fitted(&train, &val, 1);
        assert_eq!(readout.depths.len(), 2);
        // One split cannot express an exclusive or: stumps must lose on validation.
        assert!(
            readout.depths.iter().all(|&d| d >= 2),
            "{:?}",
            readout.depths
        );
        let probs = readout.predict(&test).unwrap();
        let right = probs
            .chunks_exact(2)
            .zip(&test.labels)
            .filter(|(p, y)| usize::from(p[1] > p[0]) == **y)
            .count();
        assert!(right >= 180, "{right} of 200 right");
    }

    #[test]
    fn group_weights_give_each_group_of_a_class_the_same_total_and_keep_class_totals() {
        let labels = [0, 0, 0, 1, 1, 1, 1];
        let groups = [0, 0, 1, 0, 1, 1, 1];
        let w = group_weights(&labels, &groups, 2, 1.0);
        let expected = [0.75, 0.75, 1.5, 2.0, 2.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0];
        for (got, want) in w.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{w:?}");
        }
        // Half way: the larger group keeps more weight than the smaller, less than in count.
        let half = group_weights(&labels, &groups, 2, 0.5);
        let class_total = |w: &[f64], c: usize| -> f64 {
            w.iter()
                .zip(&labels)
                .filter(|(_, y)| **y == c)
                .map(|(w, _)| w)
                .sum()
        };
        assert!((class_total(&half, 0) - 3.0).abs() < 1e-12);
        assert!((class_total(&half, 1) - 4.0).abs() < 1e-12);
        let (big, small) = (half[4] + half[5] + half[6], half[3]);
        assert!(big > small && big < 3.0 * small, "{half:?}");
        assert_eq!(group_weights(&labels, &groups, 2, 0.0), vec![1.0; 7]);
        assert_eq!(group_weights(&labels, &[], 2, 1.0), vec![1.0; 7]);
    }

    #[test]
    fn bags_differ_by_seed_and_their_mean_is_the_answer_also_after_a_reload() {
        let tmp = tempfile::tempdir().unwrap();
        let [train, val, test] = xor_sets([400, 150, 150], 4);
        let readout = fitted(&train, &val, 3);
        let probs = readout.predict(&test).unwrap();
        assert_eq!(readout.bags.len(), 2);
        assert_ne!(readout.boosters, readout.bags[0].boosters, "seeds differ");
        let alone: Vec<Vec<f32>> = std::iter::once(&readout)
            .chain(&readout.bags)
            .map(|r| r.predict_alone(&test).unwrap())
            .collect();
        for (i, p) in probs.iter().enumerate() {
            let mean = alone.iter().map(|a| a[i]).sum::<f32>() / 3.0;
            assert!((p - mean).abs() < 1e-6, "{i}: {p} vs {mean}");
        }
        let file = tmp.path().join("boosted.json");
        readout.save(&file).unwrap();
        let reloaded = BoostedReadout::load(&file).unwrap();
        assert_eq!(reloaded.predict(&test).unwrap(), probs);
    }
}
