//! Gradient-boosted trees on the pooled encoder features and side inputs: an ablation beside
//! the linear readout that combines its inputs non-linearly without any path network. One
//! booster per class (one against the rest, forust-ml's log-loss objective), stopped early on
//! the validation set; probabilities are the boosters' outputs normalised over the classes.

use forust_ml::{GradientBooster, Matrix};
use medpath_pathnet::{FeatureSet, balanced_class_weights};

use crate::config::{ClassWeights, Experiment};
use crate::error::{Error, Result};
use crate::learn::Split;

/// Boosting rounds at most (early stopping usually ends sooner).
const ROUNDS: usize = 200;
/// Rounds without a better validation log-loss before a booster stops.
const PATIENCE: usize = 15;

/// `set`'s pooled rows (`grid x grid` cells and side inputs) in the column-major `f64` layout
/// forust reads, with the number of columns.
fn columns(set: &FeatureSet, grid: usize) -> (Vec<f64>, usize) {
    let rows = set.pooled_rows(grid);
    let n = set.len();
    let width = rows.len() / n.max(1);
    let mut out = vec![0.0; rows.len()];
    for (r, row) in rows.chunks_exact(width.max(1)).enumerate() {
        for (c, v) in row.iter().enumerate() {
            out[c * n + r] = f64::from(*v);
        }
    }
    (out, width)
}

/// Trains the boosters on `data.train` (early stopping on `data.val`) and returns the class
/// probabilities of `data.val` and `data.test`, row per example.
pub fn train_and_predict(
    e: &Experiment,
    classes: usize,
    data: &Split,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let grid = e.network.grid;
    let (train, width) = columns(&data.train, grid);
    let (val, _) = columns(&data.val, grid);
    let (test, _) = columns(&data.test, grid);
    let train_x = Matrix::new(&train, data.train.len(), width);
    let val_x = Matrix::new(&val, data.val.len(), width);
    let test_x = Matrix::new(&test, data.test.len(), width);
    let class_weight = match e.train.class_weights {
        ClassWeights::None => vec![1.0; classes],
        ClassWeights::Balanced => balanced_class_weights(&data.train.labels, classes),
    };
    let weights = |set: &FeatureSet| -> Vec<f64> {
        set.labels
            .iter()
            .map(|&y| f64::from(class_weight[y]))
            .collect()
    };
    let (train_w, val_w) = (weights(&data.train), weights(&data.val));
    let mut val_scores = vec![0.0f32; data.val.len() * classes];
    let mut scores = vec![0.0f32; data.test.len() * classes];
    for c in 0..classes {
        let target = |set: &FeatureSet| -> Vec<f64> {
            set.labels
                .iter()
                .map(|&y| f64::from(u8::from(y == c)))
                .collect()
        };
        let (train_y, val_y) = (target(&data.train), target(&data.val));
        let mut booster = GradientBooster::default()
            .set_iterations(ROUNDS)
            .set_learning_rate(0.1)
            .set_max_depth(4)
            .set_colsample_bytree(0.3)
            .set_subsample(0.8)
            .set_seed(seed + c as u64)
            .set_early_stopping_rounds(Some(PATIENCE));
        booster
            .fit(
                &train_x,
                &train_y,
                &train_w,
                Some(vec![(
                    Matrix::new(&val, data.val.len(), width),
                    &val_y,
                    &val_w,
                )]),
            )
            .map_err(|err| Error::Config(format!("boosted trees, class {c}: {err}")))?;
        for (out, x) in [(&mut val_scores, &val_x), (&mut scores, &test_x)] {
            for (row, logit) in booster.predict(x, true).iter().enumerate() {
                out[row * classes + c] = (1.0 / (1.0 + (-logit).exp())) as f32;
            }
        }
    }
    for row in val_scores
        .chunks_exact_mut(classes)
        .chain(scores.chunks_exact_mut(classes))
    {
        let sum: f32 = row.iter().sum();
        for v in row.iter_mut() {
            *v /= sum.max(f32::MIN_POSITIVE);
        }
    }
    Ok((val_scores, scores))
}
