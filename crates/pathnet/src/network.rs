//! The super-network: L layers of M modules over encoder feature maps, a readout per task.
//!
//! Layer 1 modules are 1x1 convolutions (+ ReLU) applied at every position of the feature map;
//! the summed (or averaged) output is pooled to a fixed `grid x grid` so that feature maps of any
//! size feed the same fully connected layers 2..L. Every parameter lives in one flat vector, cut
//! into blocks (a weight matrix `[outputs, inputs]` followed by its bias), which makes snapshots,
//! checkpoints and the optimiser state plain vector copies.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::FeatureSet;
use crate::linalg::{
    dense_forward, dense_input_grad, dense_weight_grad, neg_log, pool_bins, softmax_rows,
};

/// How the outputs of a layer's active modules are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregate {
    /// Summed (the paper's choice).
    Sum,
    /// Averaged over the active modules.
    Mean,
}

/// Shape of the super-network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Channels of the encoder's feature maps (512 for VGG-16).
    pub channels: usize,
    /// Modules per layer, M.
    pub modules: usize,
    /// Output channels of each layer-1 (1x1 convolution) module.
    pub conv_width: usize,
    /// Side of the grid the layer-1 output is average-pooled to.
    pub grid: usize,
    /// Width of each fully connected layer 2..L (one entry per layer).
    pub fc_widths: Vec<usize>,
    /// How active modules' outputs are combined.
    pub aggregate: Aggregate,
    /// Side inputs per example (e.g. a beat's rhythm features), joined to the pooled layer-1
    /// output (or, for a linear readout, to the pooled encoder features) before the fully
    /// connected layers; 0 for none.
    #[serde(default)]
    pub side_width: usize,
}

impl NetworkConfig {
    /// Defaults: L = 3, M = 10, 1x1 convolution modules of 32 channels pooled to 2x2, fully
    /// connected modules of 64 units, outputs summed.
    pub fn paper() -> NetworkConfig {
        NetworkConfig {
            channels: 512,
            modules: 10,
            conv_width: 32,
            grid: 2,
            fc_widths: vec![64, 64],
            aggregate: Aggregate::Sum,
            side_width: 0,
        }
    }

    /// Number of layers L.
    pub fn layers(&self) -> usize {
        1 + self.fc_widths.len()
    }

    /// Input and output width of one module of `layer` (layer 0's input is per position).
    pub fn module_shape(&self, layer: usize) -> (usize, usize) {
        match layer {
            0 => (self.channels, self.conv_width),
            1 => (self.pooled_width(), self.fc_widths[0]),
            l => (self.fc_widths[l - 2], self.fc_widths[l - 1]),
        }
    }

    /// Width of a path's output, the input of a task readout.
    pub fn path_width(&self) -> usize {
        match self.fc_widths.last() {
            Some(&w) => w,
            None => self.pooled_width(),
        }
    }

    /// Width of the pooled layer-1 output with the side inputs joined to it.
    fn pooled_width(&self) -> usize {
        self.conv_width * self.grid * self.grid + self.side_width
    }

    /// Input width of a linear readout directly on the pooled encoder features (and the side
    /// inputs).
    pub fn linear_width(&self) -> usize {
        self.channels * self.grid * self.grid + self.side_width
    }

    fn validate(&self) -> Result<()> {
        if self.channels == 0 || self.modules == 0 || self.conv_width == 0 || self.grid == 0 {
            return Err(Error::Shape(format!(
                "network sizes must be positive: {self:?}"
            )));
        }
        if self.fc_widths.contains(&0) {
            return Err(Error::Shape(
                "fully connected widths must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// A weight matrix `[outputs, inputs]` and its bias, stored at `offset` of the parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// First parameter of the block.
    pub offset: usize,
    /// Output units.
    pub outputs: usize,
    /// Input units.
    pub inputs: usize,
}

impl Block {
    /// Number of parameters (weights and biases).
    pub fn len(&self) -> usize {
        self.outputs * (self.inputs + 1)
    }

    /// Whether the block has no parameters.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameter range of the block.
    pub fn range(&self) -> std::ops::Range<usize> {
        self.offset..self.offset + self.len()
    }
}

/// A task's readout layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// Name of the readout (the task, or e.g. `ecg/linear` for an ablation).
    pub name: String,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// Its parameter block.
    pub block: usize,
    /// Whether it reads the pooled encoder features directly (no path).
    pub linear: bool,
}

/// A path: per layer, the indices of its active modules (duplicates count once). An empty path
/// is a linear readout on the pooled encoder features.
pub type Path = Vec<Vec<usize>>;

/// The distinct active modules of each layer, sorted.
pub fn active_modules(path: &Path) -> Vec<Vec<usize>> {
    path.iter()
        .map(|layer| {
            let mut l = layer.clone();
            l.sort_unstable();
            l.dedup();
            l
        })
        .collect()
}

/// The whole super-network: module blocks, frozen flags and task readouts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuperNet {
    /// Its shape.
    pub config: NetworkConfig,
    /// Every parameter.
    #[serde(skip)]
    pub params: Vec<f32>,
    /// Parameter blocks: modules first (layer by layer), then readouts as they are added.
    pub blocks: Vec<Block>,
    /// `frozen[l][m]`: module `m` of layer `l` belongs to a finished task and is never updated.
    pub frozen: Vec<Vec<bool>>,
    /// Task readouts.
    pub heads: Vec<Head>,
}

/// One layer of a forward pass.
pub(crate) struct LayerTrace {
    /// Its input after dropout (empty for layer 0, whose input is the batch itself).
    pub input: Vec<f32>,
    /// Dropout's factor (0 or 1 / keep) for every input value; empty without dropout.
    pub mask: Vec<f32>,
    /// Each active module's block and ReLU output.
    pub outputs: Vec<(usize, Vec<f32>)>,
}

/// One minibatch as the network reads it.
pub(crate) struct Batch<'a> {
    /// Feature maps, `[n * positions, channels]`.
    pub maps: &'a [f32],
    /// Side inputs, `[n, side_width]`.
    pub side: &'a [f32],
    /// Examples.
    pub n: usize,
    /// Feature map height and width.
    pub hw: (usize, usize),
}

/// Inverted dropout on the inputs of the fully connected layers and of the readout, applied
/// while training: each value is kept with probability `1 - rate` and scaled by `1 / (1 -
/// rate)`.
pub(crate) struct Dropout {
    /// Probability of dropping a value.
    pub rate: f32,
    /// Where the masks come from.
    pub rng: ChaCha8Rng,
}

impl Dropout {
    /// Applies a fresh mask to `values` and returns it.
    fn apply(&mut self, values: &mut [f32]) -> Vec<f32> {
        let keep = 1.0 - self.rate;
        let mask: Vec<f32> = (0..values.len())
            .map(|_| {
                if self.rng.random::<f32>() < keep {
                    1.0 / keep
                } else {
                    0.0
                }
            })
            .collect();
        for (v, m) in values.iter_mut().zip(&mask) {
            *v *= m;
        }
        mask
    }
}

/// Where a backward pass accumulates: the gradient of every parameter, written only for the
/// blocks that may train.
pub(crate) struct GradientSink<'a> {
    /// Blocks whose gradient is wanted.
    pub trainable: &'a [usize],
    /// One value per network parameter.
    pub values: &'a mut [f32],
}

/// Labels of a minibatch and, optionally, a loss weight per class.
pub(crate) struct Targets<'a> {
    /// Class of each example.
    pub labels: &'a [usize],
    /// Weight of each class in the loss (`None`: all 1).
    pub class_weights: Option<&'a [f32]>,
}

/// Values kept from a forward pass for the backward pass.
pub(crate) struct Trace {
    /// Examples in the batch.
    pub n: usize,
    /// Positions per example.
    pub positions: usize,
    /// Per layer, what its backward pass needs.
    pub layers: Vec<LayerTrace>,
    /// Input of the readout (after dropout).
    pub head_input: Vec<f32>,
    /// Dropout's factors on the readout's input; empty without dropout.
    pub head_mask: Vec<f32>,
    /// Class probabilities `[n, classes]`.
    pub probs: Vec<f32>,
}

impl SuperNet {
    /// A network with every module initialised from `seed` and no readouts yet.
    pub fn new(config: NetworkConfig, seed: u64) -> Result<SuperNet> {
        config.validate()?;
        let mut net = SuperNet {
            frozen: vec![vec![false; config.modules]; config.layers()],
            config,
            params: Vec::new(),
            blocks: Vec::new(),
            heads: Vec::new(),
        };
        for layer in 0..net.config.layers() {
            let (inputs, outputs) = net.config.module_shape(layer);
            for _ in 0..net.config.modules {
                net.push_block(outputs, inputs);
            }
        }
        net.reinitialise_unfrozen(seed);
        Ok(net)
    }

    fn push_block(&mut self, outputs: usize, inputs: usize) -> usize {
        let block = Block {
            offset: self.params.len(),
            outputs,
            inputs,
        };
        self.params.resize(self.params.len() + block.len(), 0.0);
        self.blocks.push(block);
        self.blocks.len() - 1
    }

    /// Block index of module `module` of layer `layer`.
    pub fn module_block(&self, layer: usize, module: usize) -> usize {
        layer * self.config.modules + module
    }

    /// He-normal weights (std `sqrt(2 / inputs)`), zero biases, drawn from `rng`.
    fn initialise_block(&mut self, block: usize, rng: &mut ChaCha8Rng) {
        let b = self.blocks[block];
        let normal = Normal::new(0.0f32, (2.0 / b.inputs as f32).sqrt()).expect("finite std");
        let (w, bias) = self.params[b.range()].split_at_mut(b.outputs * b.inputs);
        for v in w {
            *v = normal.sample(rng);
        }
        bias.fill(0.0);
    }

    /// Re-draws every module that is not frozen (PathNet's step between tasks).
    pub fn reinitialise_unfrozen(&mut self, seed: u64) {
        self.reinitialise_except(&Vec::new(), seed);
    }

    /// Re-draws every module that is neither frozen nor on `keep` (after a search: the found
    /// path keeps its trained weights, every other free module starts afresh).
    pub fn reinitialise_except(&mut self, keep: &Path, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for layer in 0..self.config.layers() {
            for module in 0..self.config.modules {
                let kept = keep.get(layer).is_some_and(|ms| ms.contains(&module));
                if !self.frozen[layer][module] && !kept {
                    let block = self.module_block(layer, module);
                    self.initialise_block(block, &mut rng);
                }
            }
        }
    }

    /// Adds a readout named `name` for `classes` (replacing one of the same name), drawn from
    /// `seed`; `linear` readouts read the pooled encoder features instead of a path.
    pub fn add_head(&mut self, name: &str, classes: &[String], linear: bool, seed: u64) -> usize {
        let inputs = if linear {
            self.config.linear_width()
        } else {
            self.config.path_width()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        if let Some(i) = self.head_index(name) {
            let old = self.blocks[self.heads[i].block];
            if old.inputs == inputs && old.outputs == classes.len() {
                self.heads[i].classes = classes.to_vec();
                self.initialise_block(self.heads[i].block, &mut rng);
                return i;
            }
        }
        let block = self.push_block(classes.len(), inputs);
        self.initialise_block(block, &mut rng);
        let head = Head {
            name: name.to_string(),
            classes: classes.to_vec(),
            block,
            linear,
        };
        match self.head_index(name) {
            Some(i) => {
                self.heads[i] = head;
                i
            }
            None => {
                self.heads.push(head);
                self.heads.len() - 1
            }
        }
    }

    /// Index of the readout called `name`.
    pub fn head_index(&self, name: &str) -> Option<usize> {
        self.heads.iter().position(|h| h.name == name)
    }

    /// Marks every module of `path` frozen.
    pub fn freeze(&mut self, path: &Path) {
        for (layer, modules) in path.iter().enumerate() {
            for &m in modules {
                self.frozen[layer][m] = true;
            }
        }
    }

    /// Checks that `path` fits this network (layer count, module indices).
    pub fn check_path(&self, path: &Path) -> Result<()> {
        if !path.is_empty() && path.len() != self.config.layers() {
            return Err(Error::Shape(format!(
                "path has {} layers, the network {}",
                path.len(),
                self.config.layers()
            )));
        }
        if let Some(bad) = path.iter().flatten().find(|&&m| m >= self.config.modules) {
            return Err(Error::Shape(format!(
                "path uses module {bad}, the network has {} per layer",
                self.config.modules
            )));
        }
        if path.iter().any(Vec::is_empty) {
            return Err(Error::Shape(
                "every layer of a path needs an active module".into(),
            ));
        }
        Ok(())
    }

    /// Checks that `what` (training or the path search) has training and validation examples
    /// and that the training examples can be fed to this network.
    pub fn check_examples(&self, train: &FeatureSet, val: &FeatureSet, what: &str) -> Result<()> {
        if train.is_empty() || val.is_empty() {
            return Err(Error::Shape(format!(
                "{what} needs training and validation examples"
            )));
        }
        self.check_features(train)
    }

    /// Checks that `set` can be fed to this network.
    pub fn check_features(&self, set: &FeatureSet) -> Result<()> {
        if set.channels != self.config.channels {
            return Err(Error::Shape(format!(
                "features have {} channels, the network expects {}",
                set.channels, self.config.channels
            )));
        }
        if set.height == 0 || set.width == 0 {
            return Err(Error::Shape("feature maps are empty".into()));
        }
        if set.side_width != self.config.side_width {
            return Err(Error::Shape(format!(
                "features carry {} side inputs per example, the network expects {}",
                set.side_width, self.config.side_width
            )));
        }
        Ok(())
    }

    /// Blocks that training `head` along `path` may update: the path's unfrozen modules and the
    /// readout.
    pub fn trainable_blocks(&self, head: usize, path: &Path) -> Vec<usize> {
        let mut blocks: Vec<usize> = active_modules(path)
            .iter()
            .enumerate()
            .flat_map(|(l, ms)| {
                ms.iter()
                    .filter(move |&&m| !self.frozen[l][m])
                    .map(move |&m| (l, m))
            })
            .map(|(l, m)| self.module_block(l, m))
            .collect();
        blocks.push(self.heads[head].block);
        blocks
    }

    /// Average-pools `[n, h*w, width]` to `[n, grid*grid*width]` (cell-major).
    fn pool(&self, x: &[f32], n: usize, (h, w): (usize, usize), width: usize) -> Vec<f32> {
        let g = self.config.grid;
        let (rows, cols) = (pool_bins(h, g), pool_bins(w, g));
        let mut out = vec![0.0; n * g * g * width];
        for e in 0..n {
            let src = &x[e * h * w * width..(e + 1) * h * w * width];
            for (gi, &(r0, r1)) in rows.iter().enumerate() {
                for (gj, &(c0, c1)) in cols.iter().enumerate() {
                    let cell = &mut out[((e * g + gi) * g + gj) * width..][..width];
                    let scale = 1.0 / ((r1 - r0) * (c1 - c0)) as f32;
                    for r in r0..r1 {
                        for c in c0..c1 {
                            let v = &src[(r * w + c) * width..][..width];
                            for (o, x) in cell.iter_mut().zip(v) {
                                *o += x * scale;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The gradient of `pool`: spreads `[n, grid*grid*width]` back over `[n, h*w, width]`.
    fn unpool(&self, d: &[f32], n: usize, (h, w): (usize, usize), width: usize) -> Vec<f32> {
        let g = self.config.grid;
        let (rows, cols) = (pool_bins(h, g), pool_bins(w, g));
        let mut out = vec![0.0; n * h * w * width];
        for e in 0..n {
            let dst = &mut out[e * h * w * width..(e + 1) * h * w * width];
            for (gi, &(r0, r1)) in rows.iter().enumerate() {
                for (gj, &(c0, c1)) in cols.iter().enumerate() {
                    let cell = &d[((e * g + gi) * g + gj) * width..][..width];
                    let scale = 1.0 / ((r1 - r0) * (c1 - c0)) as f32;
                    for r in r0..r1 {
                        for c in c0..c1 {
                            let v = &mut dst[(r * w + c) * width..][..width];
                            for (o, x) in v.iter_mut().zip(cell) {
                                *o += x * scale;
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn aggregate_scale(&self, active: usize) -> f32 {
        match self.config.aggregate {
            Aggregate::Sum => 1.0,
            Aggregate::Mean => 1.0 / active as f32,
        }
    }

    /// Joins each example's side inputs to its pooled row: `[n, width]` and `[n, side]` give
    /// `[n, width + side]`.
    fn join_side(&self, pooled: Vec<f32>, side: &[f32], n: usize) -> Vec<f32> {
        let s = self.config.side_width;
        if s == 0 {
            return pooled;
        }
        let width = pooled.len() / n.max(1);
        let mut out = Vec::with_capacity(n * (width + s));
        for e in 0..n {
            out.extend_from_slice(&pooled[e * width..(e + 1) * width]);
            out.extend_from_slice(&side[e * s..(e + 1) * s]);
        }
        out
    }

    /// The gradient of `join_side` with respect to the pooled part: drops the side columns.
    fn strip_side(&self, joined: Vec<f32>, n: usize) -> Vec<f32> {
        let s = self.config.side_width;
        if s == 0 {
            return joined;
        }
        let width = joined.len() / n.max(1);
        joined
            .chunks_exact(width)
            .flat_map(|row| &row[..width - s])
            .copied()
            .collect()
    }

    /// Layer `l`'s active `modules` on `rows` rows of `inputs` values: their ReLU outputs
    /// (kept for the backward pass, with each module's block) and their aggregate.
    #[allow(clippy::type_complexity)]
    fn layer_forward(
        &self,
        l: usize,
        modules: &[usize],
        (input, rows): (&[f32], usize),
        (inputs, outputs): (usize, usize),
    ) -> (Vec<f32>, Vec<(usize, Vec<f32>)>) {
        let scale = self.aggregate_scale(modules.len());
        let mut sum = vec![0.0; rows * outputs];
        let mut outs = Vec::with_capacity(modules.len());
        for &m in modules {
            let block = self.module_block(l, m);
            let mut y = Vec::new();
            dense_forward(
                input,
                rows,
                inputs,
                &self.params[self.blocks[block].range()],
                &mut y,
            );
            for (s, v) in sum.iter_mut().zip(y.iter_mut()) {
                // `< 0` rather than `max`: a NaN must survive to the loss check.
                if *v < 0.0 {
                    *v = 0.0;
                }
                *s += *v * scale;
            }
            outs.push((block, y));
        }
        (sum, outs)
    }

    /// Runs a batch through `path` and readout `head`; with `dropout`, the inputs of the fully
    /// connected layers and the readout are dropped out (training).
    pub(crate) fn forward(
        &self,
        head: usize,
        path: &Path,
        batch: &Batch<'_>,
        mut dropout: Option<&mut Dropout>,
    ) -> Trace {
        let (n, hw) = (batch.n, batch.hw);
        let positions = hw.0 * hw.1;
        let mut layers = Vec::new();
        let mut current: Vec<f32>;
        if path.is_empty() {
            let pooled = self.pool(batch.maps, n, hw, self.config.channels);
            current = self.join_side(pooled, batch.side, n);
        } else {
            let active = active_modules(path);
            current = Vec::new();
            for (l, modules) in active.iter().enumerate() {
                let (inputs, outputs) = self.config.module_shape(l);
                let mask = match dropout.as_deref_mut() {
                    Some(d) if l > 0 => d.apply(&mut current),
                    _ => Vec::new(),
                };
                let (input, rows): (&[f32], usize) = if l == 0 {
                    (batch.maps, n * positions)
                } else {
                    (&current, n)
                };
                let (sum, outs) = self.layer_forward(l, modules, (input, rows), (inputs, outputs));
                let kept_input = if l == 0 {
                    Vec::new()
                } else {
                    std::mem::take(&mut current)
                };
                layers.push(LayerTrace {
                    input: kept_input,
                    mask,
                    outputs: outs,
                });
                current = if l == 0 {
                    let pooled = self.pool(&sum, n, hw, outputs);
                    self.join_side(pooled, batch.side, n)
                } else {
                    sum
                };
            }
        }
        let head_mask = match dropout {
            Some(d) => d.apply(&mut current),
            None => Vec::new(),
        };
        let hb = self.blocks[self.heads[head].block];
        let mut probs = Vec::new();
        dense_forward(&current, n, hb.inputs, &self.params[hb.range()], &mut probs);
        softmax_rows(&mut probs, hb.outputs);
        Trace {
            n,
            positions,
            layers,
            head_input: current,
            head_mask,
            probs,
        }
    }

    /// Mean (class-weighted) cross-entropy of `trace` against `targets`, and its gradient
    /// accumulated into `sink` for its trainable blocks (the others pass gradients through but
    /// get none).
    pub(crate) fn backward(
        &self,
        (head, path): (usize, &Path),
        batch: &Batch<'_>,
        trace: &Trace,
        targets: &Targets<'_>,
        sink: GradientSink<'_>,
    ) -> f32 {
        let GradientSink {
            trainable,
            values: grad,
        } = sink;
        let (n, hw) = (trace.n, batch.hw);
        let hb = self.blocks[self.heads[head].block];
        let classes = hb.outputs;
        let (loss, d) = cross_entropy(&trace.probs, targets, classes);
        let is_trainable = |b: usize| trainable.contains(&b);
        if is_trainable(self.heads[head].block) {
            dense_weight_grad(&d, &trace.head_input, n, hb.inputs, &mut grad[hb.range()]);
        }
        if path.is_empty() {
            return (loss / n as f64) as f32;
        }
        let active = active_modules(path);
        // Gradients only need to travel down to the first layer holding a trainable module.
        let lowest = (0..active.len()).find(|&l| {
            active[l]
                .iter()
                .any(|&m| is_trainable(self.module_block(l, m)))
        });
        let Some(lowest) = lowest else {
            return (loss / n as f64) as f32;
        };
        let mut dy = vec![0.0; n * hb.inputs];
        dense_input_grad(&d, n, hb.inputs, &self.params[hb.range()], &mut dy);
        apply_mask(&mut dy, &trace.head_mask);
        for l in (lowest..active.len()).rev() {
            let (inputs, outputs) = self.config.module_shape(l);
            let rows = if l == 0 { n * trace.positions } else { n };
            if l == 0 {
                dy = self.unpool(&self.strip_side(dy, n), n, hw, outputs);
            }
            let LayerTrace {
                input,
                mask,
                outputs: outs,
            } = &trace.layers[l];
            let input: &[f32] = if l == 0 { batch.maps } else { input };
            let scale = self.aggregate_scale(outs.len());
            let mut dx = if l > lowest {
                vec![0.0; rows * inputs]
            } else {
                Vec::new()
            };
            for (block, y) in outs {
                let dz: Vec<f32> = dy
                    .iter()
                    .zip(y)
                    .map(|(g, v)| if *v > 0.0 { g * scale } else { 0.0 })
                    .collect();
                let b = self.blocks[*block];
                if is_trainable(*block) {
                    dense_weight_grad(&dz, input, rows, inputs, &mut grad[b.range()]);
                }
                if l > lowest {
                    dense_input_grad(&dz, rows, inputs, &self.params[b.range()], &mut dx);
                }
            }
            apply_mask(&mut dx, mask);
            dy = dx;
        }
        (loss / n as f64) as f32
    }
}

/// The summed (class-weighted) cross-entropy of softmax outputs `probs` (`classes` per row)
/// against `targets`, and its gradient with respect to the logits, averaged over the rows.
fn cross_entropy(probs: &[f32], targets: &Targets<'_>, classes: usize) -> (f64, Vec<f32>) {
    let n = probs.len() / classes.max(1);
    let mut loss = 0.0f64;
    let mut d = probs.to_vec();
    for (e, &y) in targets.labels.iter().enumerate() {
        let weight = targets.class_weights.map_or(1.0, |w| w[y]);
        loss += f64::from(weight) * neg_log(probs[e * classes + y]);
        d[e * classes + y] -= 1.0;
        for v in &mut d[e * classes..(e + 1) * classes] {
            *v *= weight / n as f32;
        }
    }
    (loss, d)
}

/// Multiplies a gradient by dropout's factors (nothing to do without dropout).
fn apply_mask(values: &mut [f32], mask: &[f32]) {
    if mask.is_empty() || values.is_empty() {
        return;
    }
    for (v, m) in values.iter_mut().zip(mask) {
        *v *= m;
    }
}
