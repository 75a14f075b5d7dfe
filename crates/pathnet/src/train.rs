//! Gradient descent on the super-network: Adam, minibatch steps along a path, evaluation.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::{FeatureSet, Gathered};
use crate::linalg::neg_log;
use crate::network::{Batch, Dropout, GradientSink, Path, SuperNet, Targets};

/// Adam settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Learning rate.
    pub learning_rate: f32,
    /// First moment decay.
    pub beta1: f32,
    /// Second moment decay.
    pub beta2: f32,
    /// Denominator guard.
    pub epsilon: f32,
    /// Decoupled weight decay (AdamW): each step shrinks weights, not biases, by
    /// `learning_rate * weight_decay` of their value.
    #[serde(default)]
    pub weight_decay: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Adam's moments for every parameter, and a step count per block (blocks are updated only
/// while a path that uses them trains, so each keeps its own bias correction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Settings.
    pub config: AdamConfig,
    /// First moments.
    #[serde(skip)]
    pub m: Vec<f32>,
    /// Second moments.
    #[serde(skip)]
    pub v: Vec<f32>,
    /// Updates applied to each block.
    pub steps: Vec<u64>,
}

impl Adam {
    /// Fresh state for `net`.
    pub fn new(config: AdamConfig, net: &SuperNet) -> Adam {
        let mut adam = Adam {
            config,
            m: Vec::new(),
            v: Vec::new(),
            steps: Vec::new(),
        };
        adam.fit(net);
        adam
    }

    /// Grows the state to cover blocks added to `net` since (new readouts).
    pub fn fit(&mut self, net: &SuperNet) {
        self.m.resize(net.params.len(), 0.0);
        self.v.resize(net.params.len(), 0.0);
        self.steps.resize(net.blocks.len(), 0);
    }

    /// Forgets the moments of `block` (used when the block is re-initialised).
    pub fn reset_block(&mut self, net: &SuperNet, block: usize) {
        let r = net.blocks[block].range();
        self.m[r.clone()].fill(0.0);
        self.v[r].fill(0.0);
        self.steps[block] = 0;
    }

    /// Applies one update to `blocks` of `net` from `grad`.
    pub fn update(&mut self, net: &mut SuperNet, blocks: &[usize], grad: &[f32]) {
        let c = self.config;
        for &b in blocks {
            self.steps[b] += 1;
            let t = self.steps[b] as i32;
            let correction1 = 1.0 - c.beta1.powi(t);
            let correction2 = 1.0 - c.beta2.powi(t);
            let step = c.learning_rate * correction2.sqrt() / correction1;
            let block = net.blocks[b];
            if c.weight_decay > 0.0 {
                let shrink = 1.0 - c.learning_rate * c.weight_decay;
                for w in &mut net.params[block.offset..block.offset + block.outputs * block.inputs]
                {
                    *w *= shrink;
                }
            }
            for i in block.range() {
                let g = grad[i];
                self.m[i] = c.beta1 * self.m[i] + (1.0 - c.beta1) * g;
                self.v[i] = c.beta2 * self.v[i] + (1.0 - c.beta2) * g * g;
                net.params[i] -= step * self.m[i] / (self.v[i].sqrt() + c.epsilon);
            }
        }
    }
}

/// Loss, accuracy and per-example class probabilities of a path on a feature set.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Fraction predicted right.
    pub accuracy: f64,
    /// `[n, classes]` probabilities, row per example.
    pub probs: Vec<f32>,
    /// Number of classes (row width of `probs`).
    pub classes: usize,
}

impl Evaluation {
    /// Most probable class of every example (ties to the lower index).
    pub fn predictions(&self) -> Vec<usize> {
        argmax_rows(&self.probs, self.classes)
    }

    /// Mean cross-entropy with each example weighted by its class's weight (normalised by the
    /// total weight, so it is comparable across sets of different class balance).
    pub fn weighted_loss(&self, labels: &[usize], class_weights: &[f32]) -> f64 {
        let (mut loss, mut total) = (0.0, 0.0);
        for (e, &y) in labels.iter().enumerate() {
            let w = f64::from(class_weights.get(y).copied().unwrap_or(1.0));
            loss += w * neg_log(self.probs[e * self.classes + y]);
            total += w;
        }
        loss / total.max(f64::MIN_POSITIVE)
    }

    /// Mean over the classes present in `labels` of the share of their examples predicted
    /// right (macro recall).
    pub fn macro_recall(&self, labels: &[usize]) -> f64 {
        macro_recall(labels, &self.predictions(), self.classes)
    }
}

/// Mean over the classes present in `truth` of the share of their examples predicted right.
pub fn macro_recall(truth: &[usize], predicted: &[usize], classes: usize) -> f64 {
    let mut right = vec![0usize; classes];
    let mut seen = vec![0usize; classes];
    for (&y, &p) in truth.iter().zip(predicted) {
        seen[y] += 1;
        right[y] += usize::from(y == p);
    }
    let present: Vec<f64> = (0..classes)
        .filter(|&c| seen[c] > 0)
        .map(|c| right[c] as f64 / seen[c] as f64)
        .collect();
    present.iter().sum::<f64>() / present.len().max(1) as f64
}

/// Loss weights per class that make every class count as much as the others in the mean loss
/// (`n / (classes * n_c)`; a class without examples gets 0).
pub fn balanced_class_weights(labels: &[usize], classes: usize) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    for &y in labels {
        counts[y] += 1;
    }
    let present = counts.iter().filter(|&&c| c > 0).count().max(1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                0.0
            } else {
                labels.len() as f32 / (present * c) as f32
            }
        })
        .collect()
}

/// What a training step adds to plain cross-entropy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Regularisation {
    /// Dropout rate on the inputs of the fully connected layers and the readout (0: none).
    pub dropout: f32,
    /// Loss weight per class (empty: every class weighs 1).
    pub class_weights: Vec<f32>,
    /// Seed of the dropout masks (each step draws from its own stream).
    pub seed: u64,
}

/// Index of the largest value of each `width`-wide row (ties to the lower index).
pub fn argmax_rows(values: &[f32], width: usize) -> Vec<usize> {
    values
        .chunks_exact(width.max(1))
        .map(|row| (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best }))
        .collect()
}

/// Examples evaluated per forward pass.
const EVAL_CHUNK: usize = 256;

/// Runs `set` through `path` and readout `head` (no training).
pub fn evaluate(net: &SuperNet, head: usize, path: &Path, set: &FeatureSet) -> Result<Evaluation> {
    let classes = net.blocks[net.heads[head].block].outputs;
    let mut probs = Vec::with_capacity(set.len() * classes);
    let mut buffer = Gathered::default();
    let indices: Vec<usize> = (0..set.len()).collect();
    for chunk in indices.chunks(EVAL_CHUNK) {
        set.gather(chunk, &mut buffer)?;
        let batch = Batch {
            maps: &buffer.maps,
            side: &buffer.side,
            n: chunk.len(),
            hw: (set.height, set.width),
        };
        let trace = net.forward(head, path, &batch, None);
        probs.extend_from_slice(&trace.probs);
    }
    let mut loss = 0.0;
    let mut correct = 0usize;
    let eval = Evaluation {
        loss: 0.0,
        accuracy: 0.0,
        probs,
        classes,
    };
    for (e, (&y, p)) in set.labels.iter().zip(eval.predictions()).enumerate() {
        loss += neg_log(eval.probs[e * classes + y]);
        correct += usize::from(y == p);
    }
    let n = set.len().max(1) as f64;
    Ok(Evaluation {
        loss: loss / n,
        accuracy: correct as f64 / n,
        ..eval
    })
}

/// What learns in a search or a training run: the network, its optimiser and the readout
/// (head) being learned.
pub struct Learner<'a> {
    /// The network; only the readout's path and the readout change.
    pub net: &'a mut SuperNet,
    /// The optimiser's state.
    pub adam: &'a mut Adam,
    /// Index of the readout.
    pub head: usize,
}

/// The examples a readout learns from and is judged on.
#[derive(Debug, Clone, Copy)]
pub struct Examples<'a> {
    /// Training examples (gradient steps).
    pub train: &'a FeatureSet,
    /// Validation examples (fitness, early stopping).
    pub val: &'a FeatureSet,
}

/// Trains `head` along `path` with minibatches of `batch` examples from `set`.
pub struct Stepper<'a> {
    net: &'a mut SuperNet,
    adam: &'a mut Adam,
    head: usize,
    path: Path,
    trainable: Vec<usize>,
    grad: Vec<f32>,
    buffer: Gathered,
    labels: Vec<usize>,
    regularisation: Regularisation,
    /// Steps taken so far.
    pub steps: usize,
}

impl<'a> Stepper<'a> {
    /// A stepper for `head` along `path` (checked against the network).
    pub fn new(
        net: &'a mut SuperNet,
        adam: &'a mut Adam,
        head: usize,
        path: &Path,
    ) -> Result<Stepper<'a>> {
        net.check_path(path)?;
        adam.fit(net);
        let trainable = net.trainable_blocks(head, path);
        let grad = vec![0.0; net.params.len()];
        Ok(Stepper {
            net,
            adam,
            head,
            path: path.clone(),
            trainable,
            grad,
            buffer: Gathered::default(),
            labels: Vec::new(),
            regularisation: Regularisation::default(),
            steps: 0,
        })
    }

    /// Trains with dropout and class weights as `regularisation` says.
    pub fn regularised(mut self, regularisation: &Regularisation) -> Stepper<'a> {
        self.regularisation = regularisation.clone();
        self
    }

    /// One gradient step on the examples `indices` of `set`; returns the batch loss and the
    /// number predicted right before the step.
    pub fn step(&mut self, set: &FeatureSet, indices: &[usize]) -> Result<(f32, usize)> {
        set.gather(indices, &mut self.buffer)?;
        self.labels.clear();
        self.labels.extend(indices.iter().map(|&i| set.labels[i]));
        let batch = Batch {
            maps: &self.buffer.maps,
            side: &self.buffer.side,
            n: indices.len(),
            hw: (set.height, set.width),
        };
        let r = &self.regularisation;
        let mut dropout = (r.dropout > 0.0).then(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(r.seed);
            rng.set_stream(self.steps as u64 + 1);
            Dropout {
                rate: r.dropout,
                rng,
            }
        });
        let trace = self
            .net
            .forward(self.head, &self.path, &batch, dropout.as_mut());
        for &b in &self.trainable {
            self.grad[self.net.blocks[b].range()].fill(0.0);
        }
        let targets = Targets {
            labels: &self.labels,
            class_weights: (!r.class_weights.is_empty()).then_some(r.class_weights.as_slice()),
        };
        let loss = self.net.backward(
            (self.head, &self.path),
            &batch,
            &trace,
            &targets,
            GradientSink {
                trainable: &self.trainable,
                values: &mut self.grad,
            },
        );
        if !loss.is_finite() {
            return Err(Error::Diverged {
                task: self.net.heads[self.head].name.clone(),
                step: self.steps,
                loss,
            });
        }
        let classes = self.net.blocks[self.net.heads[self.head].block].outputs;
        let correct = trace
            .probs
            .chunks_exact(classes)
            .zip(&self.labels)
            .filter(|(row, y)| row.iter().all(|&p| p <= row[**y]))
            .count();
        self.adam.update(self.net, &self.trainable, &self.grad);
        self.steps += 1;
        Ok((loss, correct))
    }

    /// `steps` steps on batches of `batch` examples drawn uniformly (with replacement) by `rng`.
    pub fn run_random(
        &mut self,
        set: &FeatureSet,
        steps: usize,
        batch: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<f32> {
        let mut last = 0.0;
        let mut indices = vec![0; batch];
        for _ in 0..steps {
            for i in indices.iter_mut() {
                *i = rng.random_range(0..set.len());
            }
            last = self.step(set, &indices)?.0;
        }
        Ok(last)
    }

    /// One pass over `set` in shuffled batches, stopping early after `limit` steps in all;
    /// returns the mean batch loss, the training accuracy and the steps taken.
    pub fn epoch(
        &mut self,
        set: &FeatureSet,
        batch: usize,
        limit: Option<usize>,
        rng: &mut ChaCha8Rng,
    ) -> Result<(f64, f64, usize)> {
        let mut order: Vec<usize> = (0..set.len()).collect();
        order.shuffle(rng);
        let (mut loss, mut correct, mut seen, mut steps) = (0.0f64, 0usize, 0usize, 0usize);
        for chunk in order.chunks(batch.max(1)) {
            if limit.is_some_and(|l| self.steps >= l) {
                break;
            }
            let (l, c) = self.step(set, chunk)?;
            loss += f64::from(l) * chunk.len() as f64;
            correct += c;
            seen += chunk.len();
            steps += 1;
        }
        let n = seen.max(1) as f64;
        Ok((loss / n, correct as f64 / n, steps))
    }
}
