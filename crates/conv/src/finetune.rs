//! Fine-tuning a copy of VGG-16's block 5 (conv5_1..conv5_3 and its max-pool) for one task, on
//! top of block 4's frozen output: the block, a readout (global average pooling and a linear
//! layer to the classes), a class-weighted softmax cross-entropy loss, and Adam.

use medpath_weights::{EncoderWeights, PlanStep};

use crate::activations::Activations;
use crate::backprop::{ConvTrace, TrainableConv, max_pool2_backward};
use crate::pool::max_pool2;
use crate::vgg::BLOCK4_END;

/// A trainable copy of block 5 with a linear readout on its globally averaged output.
#[derive(Debug, Clone, PartialEq)]
pub struct Block5Classifier {
    /// conv5_1, conv5_2, conv5_3.
    pub convs: Vec<TrainableConv>,
    /// `[channels][classes]`.
    pub head: Vec<f32>,
    /// One per class.
    pub head_bias: Vec<f32>,
    /// Classes.
    pub classes: usize,
}

/// What one training step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Mean class-weighted loss of the batch (before the update).
    pub loss: f32,
    /// Examples of the batch answered right (before the update).
    pub correct: usize,
}

/// The parameters' gradients, in the order of [`Block5Classifier::parameters_mut`].
type Gradients = Vec<Vec<f32>>;

impl Block5Classifier {
    /// Block 5 from the ImageNet weights, and a zero readout for `classes` classes.
    pub fn from_weights(weights: &EncoderWeights, classes: usize) -> Block5Classifier {
        let convs: Vec<TrainableConv> = weights
            .steps()
            .skip(BLOCK4_END)
            .filter_map(|step| match step {
                PlanStep::Conv(c) => Some(TrainableConv::from_oihw(
                    &c.weight, &c.bias, c.input, c.output,
                )),
                PlanStep::Pool => None,
            })
            .collect();
        let channels = convs.last().map_or(0, |c| c.c_out);
        Block5Classifier {
            convs,
            head: vec![0.0; channels * classes],
            head_bias: vec![0.0; classes],
            classes,
        }
    }

    /// Block 5's pooled output for block-4 outputs `x` (what the task's later layers read).
    pub fn features(&self, x: &Activations) -> Activations {
        let mut x = x.clone();
        for conv in &self.convs {
            x = conv.forward(&x).output;
        }
        max_pool2(&x)
    }

    /// Class scores (logits) of each image of a block-5 output `pooled`, and the averaged
    /// channels they were computed from.
    fn readout(&self, pooled: &Activations) -> (Vec<f32>, Vec<f32>) {
        let (c, positions) = (pooled.c, pooled.h * pooled.w);
        let mut means = vec![0f32; pooled.n * c];
        for (img, mean) in means.chunks_exact_mut(c).enumerate() {
            for pixel in pooled.data[img * positions * c..(img + 1) * positions * c].chunks_exact(c)
            {
                for (m, v) in mean.iter_mut().zip(pixel) {
                    *m += v / positions as f32;
                }
            }
        }
        let mut logits = vec![0f32; pooled.n * self.classes];
        for (mean, out) in means
            .chunks_exact(c)
            .zip(logits.chunks_exact_mut(self.classes))
        {
            out.copy_from_slice(&self.head_bias);
            for (m, row) in mean.iter().zip(self.head.chunks_exact(self.classes)) {
                for (o, w) in out.iter_mut().zip(row) {
                    *o += m * w;
                }
            }
        }
        (logits, means)
    }

    /// Class probabilities of each image of block-4 outputs `x`.
    pub fn probabilities(&self, x: &Activations) -> Vec<Vec<f32>> {
        let (logits, _) = self.readout(&self.features(x));
        logits.chunks_exact(self.classes).map(softmax).collect()
    }

    /// The loss of block-4 outputs `x` with `labels` (each class's loss weighted by
    /// `class_weights`, averaged over the batch's weight) and the gradient of every parameter.
    pub fn loss_and_gradients(
        &self,
        x: &Activations,
        labels: &[usize],
        class_weights: &[f32],
    ) -> (StepReport, Gradients) {
        assert_eq!(labels.len(), x.n, "one label per image");
        let mut traces: Vec<ConvTrace> = Vec::with_capacity(self.convs.len());
        for conv in &self.convs {
            let trace = conv.forward(traces.last().map_or(x, |t: &ConvTrace| &t.output));
            traces.push(trace);
        }
        let last = &traces.last().expect("block 5 has convolutions").output;
        let pooled = max_pool2(last);
        let (logits, means) = self.readout(&pooled);
        let total_weight: f32 = labels.iter().map(|&l| class_weights[l]).sum();
        let (mut loss, mut correct) = (0f32, 0usize);
        let mut grad_logits = vec![0f32; logits.len()];
        for ((row, grad), &label) in logits
            .chunks_exact(self.classes)
            .zip(grad_logits.chunks_exact_mut(self.classes))
            .zip(labels)
        {
            let p = softmax(row);
            let weight = class_weights[label] / total_weight;
            loss -= weight * p[label].max(1e-12).ln();
            correct += usize::from(argmax(&p) == label);
            for (k, (g, q)) in grad.iter_mut().zip(&p).enumerate() {
                *g = weight * (q - f32::from(u8::from(k == label)));
            }
        }
        let c = pooled.c;
        let mut head = vec![0f32; self.head.len()];
        let mut head_bias = vec![0f32; self.classes];
        let positions = pooled.h * pooled.w;
        let mut grad_pooled = Activations::zeros(pooled.n, pooled.h, pooled.w, c);
        for img in 0..pooled.n {
            let g = &grad_logits[img * self.classes..(img + 1) * self.classes];
            for (b, v) in head_bias.iter_mut().zip(g) {
                *b += v;
            }
            let mean = &means[img * c..(img + 1) * c];
            let mut grad_mean = vec![0f32; c];
            for ch in 0..c {
                let row = &self.head[ch * self.classes..(ch + 1) * self.classes];
                for k in 0..self.classes {
                    head[ch * self.classes + k] += mean[ch] * g[k];
                    grad_mean[ch] += row[k] * g[k];
                }
            }
            for pixel in
                grad_pooled.data[img * positions * c..(img + 1) * positions * c].chunks_exact_mut(c)
            {
                for (p, gm) in pixel.iter_mut().zip(&grad_mean) {
                    *p = gm / positions as f32;
                }
            }
        }
        let mut grad = max_pool2_backward(last, &pooled, &grad_pooled);
        let mut conv_grads = Vec::with_capacity(self.convs.len());
        for (i, (conv, trace)) in self.convs.iter().zip(&traces).enumerate().rev() {
            let g = conv.backward(trace, &grad, i > 0);
            if let Some(input) = g.input {
                grad = input;
            }
            conv_grads.push((g.kernel, g.bias));
        }
        conv_grads.reverse();
        let mut gradients: Gradients = Vec::with_capacity(2 * self.convs.len() + 2);
        for (kernel, bias) in conv_grads {
            gradients.push(kernel);
            gradients.push(bias);
        }
        gradients.push(head);
        gradients.push(head_bias);
        (StepReport { loss, correct }, gradients)
    }

    /// Every parameter vector: each convolution's kernel and bias, then the readout's weights
    /// and bias.
    pub fn parameters_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut out: Vec<&mut Vec<f32>> = Vec::with_capacity(2 * self.convs.len() + 2);
        for conv in &mut self.convs {
            out.push(&mut conv.kernel);
            out.push(&mut conv.bias);
        }
        out.push(&mut self.head);
        out.push(&mut self.head_bias);
        out
    }
}

/// Softmax of `logits`.
fn softmax(logits: &[f32]) -> Vec<f32> {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|v| (v - top).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|v| v / sum).collect()
}

/// Index of the largest value.
fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// Adam with a learning rate per parameter vector (block 5 gently, the fresh readout faster).
pub struct Adam {
    rates: Vec<f32>,
    first: Vec<Vec<f32>>,
    second: Vec<Vec<f32>>,
    steps: i32,
}

impl Adam {
    /// State for parameter vectors of `lengths`, each with its learning rate.
    pub fn new(lengths: &[usize], rates: Vec<f32>) -> Adam {
        assert_eq!(lengths.len(), rates.len(), "one rate per parameter vector");
        Adam {
            rates,
            first: lengths.iter().map(|&n| vec![0.0; n]).collect(),
            second: lengths.iter().map(|&n| vec![0.0; n]).collect(),
            steps: 0,
        }
    }

    /// One update of `parameters` by `gradients` (β = 0.9, 0.999; ε = 1e-8).
    pub fn step(&mut self, parameters: Vec<&mut Vec<f32>>, gradients: &[Vec<f32>]) {
        self.steps += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let (c1, c2) = (1.0 - b1.powi(self.steps), 1.0 - b2.powi(self.steps));
        for (i, (p, g)) in parameters.into_iter().zip(gradients).enumerate() {
            let rate = self.rates[i];
            for (((w, g), m), v) in p
                .iter_mut()
                .zip(g)
                .zip(&mut self.first[i])
                .zip(&mut self.second[i])
            {
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                *w -= rate * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
            }
        }
    }
}
