//! Fine-tuning VGG-16's block 5 for the chest X-ray task, against the frozen block, on the same
//! split and readout: does training the last block separate NORMAL from PNEUMONIA better on the
//! official test split's development half? (Issue 13.)
//!
//! The task is prepared exactly as `medpath run EXPERIMENT` prepares it (patient-aware
//! validation carved from the train folder, the test folder as test). Every image goes through
//! blocks 1-4 once (frozen, view 0 only, kept in memory); then two models are trained on those
//! outputs with the same class-balanced loss, batches and epochs: the frozen block 5 with a
//! linear readout on its globally averaged output (only the readout learns), and a trainable
//! copy of block 5 with the same readout. Each keeps the epoch with the best validation AUROC.
//! Printed: seconds per epoch, and per model validation and test AUROC, accuracy and recall per
//! class at the argmax and at the threshold that keeps 99 % of validation NORMAL images
//! (`operating_point = "specificity=0.99"`, as experiments/xray_official.toml chooses).
//!
//! Usage (release; MEDPATH_SHARED as for the tests):
//!   cargo run --release -p medpath-experiment --example finetune_block5 -- \
//!       [EXPERIMENT] [EPOCHS] [BLOCK_RATE] [both|fine-tuned]
//! defaults: experiments/xray_official.toml, 4 epochs, learning rate 1e-5 for block 5, both
//! models (`fine-tuned`: only the fine-tuned one).

use std::path::PathBuf;
use std::time::Instant;

use medpath_conv::{Activations, Adam, BLOCK4_END, Block5Classifier, Vgg16Cpu};
use medpath_experiment::Experiment;
use medpath_experiment::tasks::Input;
use medpath_infer::encoder::Encoding;
use medpath_split::Role;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

type Fallible<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Block-4 outputs of a set of images (each `h * w * c` NHWC values) and their labels.
struct Block4Set {
    rows: Vec<Vec<f32>>,
    labels: Vec<usize>,
    shape: (usize, usize, usize),
}

impl Block4Set {
    fn batch(&self, indices: &[usize]) -> Activations {
        let (h, w, c) = self.shape;
        let mut x = Activations::zeros(indices.len(), h, w, c);
        for (slot, &i) in x.data.chunks_exact_mut(h * w * c).zip(indices) {
            slot.copy_from_slice(&self.rows[i]);
        }
        x
    }
}

fn block4_outputs(
    vgg: &Vgg16Cpu,
    encoding: &Encoding,
    size: usize,
    examples: &[(PathBuf, usize)],
) -> Fallible<Block4Set> {
    let preprocess = encoding.preprocess(size);
    let mut set = Block4Set {
        rows: Vec::new(),
        labels: Vec::new(),
        shape: (size / 16, size / 16, 512),
    };
    for chunk in examples.chunks(16) {
        let mut inputs = Vec::with_capacity(chunk.len() * 3 * size * size);
        for (path, label) in chunk {
            let (image, _) = medpath_data::load_rgb(path)?;
            inputs.extend(preprocess.apply(&image));
            set.labels.push(*label);
        }
        let x = Activations::from_nchw(&inputs, chunk.len(), 3, size, size);
        let out = vgg.forward_steps(x, 0..BLOCK4_END);
        set.rows.extend(
            out.data
                .chunks_exact(out.h * out.w * out.c)
                .map(<[f32]>::to_vec),
        );
    }
    Ok(set)
}

/// PNEUMONIA probability (class `positive`) of every image of `set`.
fn scores(model: &Block5Classifier, set: &Block4Set, positive: usize) -> Vec<f32> {
    let indices: Vec<usize> = (0..set.rows.len()).collect();
    indices
        .chunks(32)
        .flat_map(|chunk| model.probabilities(&set.batch(chunk)))
        .map(|p| p[positive])
        .collect()
}

/// AUROC, accuracy and recall per class at `threshold` on the positive class's probability.
fn describe(scores: &[f32], labels: &[usize], positive: usize, threshold: f32) -> String {
    let is_positive: Vec<bool> = labels.iter().map(|&l| l == positive).collect();
    let auroc = medpath_metrics::auroc(scores, &is_positive).unwrap_or(f64::NAN);
    let mut right = [0usize; 2];
    let mut all = [0usize; 2];
    for (s, &p) in scores.iter().zip(&is_positive) {
        let k = usize::from(p);
        all[k] += 1;
        right[k] += usize::from((*s >= threshold) == p);
    }
    format!(
        "AUROC {auroc:.4}, accuracy {:.1} %, recall negative {:.1} %, positive {:.1} %",
        100.0 * (right[0] + right[1]) as f64 / scores.len().max(1) as f64,
        100.0 * right[0] as f64 / all[0].max(1) as f64,
        100.0 * right[1] as f64 / all[1].max(1) as f64,
    )
}

/// The threshold that keeps `share` of the negative validation images below it.
fn specificity_threshold(scores: &[f32], labels: &[usize], positive: usize, share: f64) -> f32 {
    let mut negatives: Vec<f32> = scores
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l != positive)
        .map(|(s, _)| *s)
        .collect();
    negatives.sort_by(f32::total_cmp);
    let rank = ((share * negatives.len() as f64).ceil() as usize).clamp(1, negatives.len());
    negatives[rank - 1] + f32::EPSILON
}

fn train(
    name: &str,
    mut model: Block5Classifier,
    block_rate: f32,
    (train, val): (&Block4Set, &Block4Set),
    epochs: usize,
    positive: usize,
) -> Block5Classifier {
    let counts = (0..model.classes).map(|k| train.labels.iter().filter(|&&l| l == k).count());
    let weights: Vec<f32> = counts
        .map(|n| train.labels.len() as f32 / (model.classes as f32 * n.max(1) as f32))
        .collect();
    let lengths: Vec<usize> = model.parameters_mut().iter().map(|p| p.len()).collect();
    let convs = 2 * model.convs.len();
    let rates = (0..lengths.len())
        .map(|i| if i < convs { block_rate } else { 1e-3 })
        .collect();
    let mut adam = Adam::new(&lengths, rates);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut order: Vec<usize> = (0..train.rows.len()).collect();
    let mut best: Option<(f64, Block5Classifier)> = None;
    for epoch in 1..=epochs {
        let started = Instant::now();
        order.shuffle(&mut rng);
        let (mut loss, mut correct) = (0f64, 0usize);
        for batch in order.chunks(32) {
            let labels: Vec<usize> = batch.iter().map(|&i| train.labels[i]).collect();
            let (report, mut gradients) =
                model.loss_and_gradients(&train.batch(batch), &labels, &weights);
            if block_rate == 0.0 {
                for g in &mut gradients[..convs] {
                    g.fill(0.0);
                }
            }
            adam.step(model.parameters_mut(), &gradients);
            loss += f64::from(report.loss) * batch.len() as f64;
            correct += report.correct;
        }
        let seconds = started.elapsed().as_secs_f64();
        let val_scores = scores(&model, val, positive);
        let is_positive: Vec<bool> = val.labels.iter().map(|&l| l == positive).collect();
        let auroc = medpath_metrics::auroc(&val_scores, &is_positive).unwrap_or(0.0);
        println!(
            "{name}: epoch {epoch}: {seconds:.0} s, train loss {:.4}, train accuracy {:.1} %, validation AUROC {auroc:.4}",
            loss / train.rows.len() as f64,
            100.0 * correct as f64 / train.rows.len() as f64
        );
        if best.as_ref().is_none_or(|(b, _)| auroc > *b) {
            best = Some((auroc, model.clone()));
        }
    }
    best.map(|(_, m)| m).unwrap_or(model)
}

fn main() -> Fallible<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let experiment_file = args
        .first()
        .cloned()
        .unwrap_or_else(|| "experiments/xray_official.toml".into());
    let epochs: usize = args.get(1).map_or(Ok(4), |a| a.parse())?;
    let block_rate: f32 = args.get(2).map_or(Ok(1e-5), |a| a.parse())?;
    let models = match args.get(3).map_or("both", String::as_str) {
        "both" => vec![("frozen block 5", 0.0), ("fine-tuned block 5", block_rate)],
        "fine-tuned" => vec![("fine-tuned block 5", block_rate)],
        other => return Err(format!("models `{other}`: both or fine-tuned").into()),
    };
    let e = Experiment::load(&PathBuf::from(&experiment_file), &[])?;
    let (name, spec) = e.tasks.iter().next().ok_or("the experiment has no task")?;
    let prepared_dir = tempfile::tempdir()?;
    let task = medpath_experiment::tasks::prepare(name, spec, prepared_dir.path(), e.seed)?;
    let positive = task
        .classes
        .iter()
        .position(|c| c == "PNEUMONIA")
        .unwrap_or(task.classes.len() - 1);
    let encoding = Encoding::load(&e.encoder, &mut |w| eprintln!("{w}"))?;
    let weights = medpath_weights::EncoderWeights::load(
        e.encoder
            .weights
            .as_deref()
            .ok_or("the experiment names no encoder weights")?,
    )?;
    let vgg = Vgg16Cpu::new(&weights);
    let size = task.size;
    let started = Instant::now();
    let mut sets = Vec::new();
    for role in [Role::Train, Role::Val, Role::Test] {
        let examples: Vec<(PathBuf, usize)> = task
            .with_role(role)
            .into_iter()
            .filter_map(|i| match &task.examples[i].input {
                Input::File(path) => Some((path.clone(), task.examples[i].label)),
                Input::Beat { .. } => None,
            })
            .collect();
        sets.push(block4_outputs(&vgg, &encoding, size, &examples)?);
    }
    let [train_set, val_set, test_set] =
        <[Block4Set; 3]>::try_from(sets).map_err(|_| "three roles")?;
    println!(
        "{name}: {} train, {} validation, {} test images at {size} px; blocks 1-4 in {:.0} s",
        train_set.rows.len(),
        val_set.rows.len(),
        test_set.rows.len(),
        started.elapsed().as_secs_f64()
    );
    for (label, rate) in models {
        let start = Block5Classifier::from_weights(&weights, task.classes.len());
        let model = train(label, start, rate, (&train_set, &val_set), epochs, positive);
        let val_scores = scores(&model, &val_set, positive);
        let test_scores = scores(&model, &test_set, positive);
        let threshold = specificity_threshold(&val_scores, &val_set.labels, positive, 0.99);
        println!(
            "{label}, validation (argmax): {}",
            describe(&val_scores, &val_set.labels, positive, 0.5)
        );
        println!(
            "{label}, test (argmax): {}",
            describe(&test_scores, &test_set.labels, positive, 0.5)
        );
        println!(
            "{label}, test (threshold {threshold:.3}, 99 % of validation negatives below): {}",
            describe(&test_scores, &test_set.labels, positive, threshold)
        );
    }
    Ok(())
}
