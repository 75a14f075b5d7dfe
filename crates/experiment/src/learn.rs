//! Learning one task on the shared super-network: search its path, re-initialise the free
//! modules, train the path with early stopping, freeze it, test it, and run the ablations with
//! the same step budget. Every step checkpoints under the task's folder, so a killed run resumes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path as FilePath;

use medpath_evolve::{Boundary, SearchConfig, SearchSpace, TournamentRecord};
use medpath_metrics::Metrics;
use medpath_pathnet::{
    Adam, AdamConfig, EpochRecord, FeatureSet, FitOutcome, FitSettings, FitnessOn, Path,
    SearchOutcome, SearchSettings, SuperNet, argmax_rows, evaluate, evolve, fit,
};
use medpath_plot::{LineChart, Series, confusion_heatmap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::Experiment;
use crate::error::{Error, Result};
use crate::files::{write_atomic, write_json};
use crate::progress::Reporter;

/// A task's features by role.
pub struct Split {
    /// Training views.
    pub train: FeatureSet,
    /// Validation examples.
    pub val: FeatureSet,
    /// Test examples.
    pub test: FeatureSet,
}

/// Everything learned and measured for one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// Task name.
    pub name: String,
    /// Class names.
    pub classes: Vec<String>,
    /// The evaluation protocol.
    pub protocol: String,
    /// The path found by the search (active modules per layer, as evolved).
    pub path: Path,
    /// Its validation fitness at the end of the search.
    pub best_fitness: f64,
    /// Tournaments run.
    pub tournaments: usize,
    /// Gradient steps of the search.
    pub search_steps: usize,
    /// Search wall time in seconds.
    pub search_seconds: f64,
    /// Phase 2.
    pub fit: FitOutcome,
    /// Test metrics of the evolved path.
    pub test: Metrics,
    /// Test metrics of the ablations by name.
    pub ablations: BTreeMap<String, Metrics>,
    /// The random path the `random_path` ablation trained.
    pub random_path: Option<Path>,
    /// Gradient steps each ablation got (search + phase 2 of the evolved path).
    pub budget_steps: usize,
    /// Test probabilities of the evolved path, row per test example (for the forgetting check).
    pub test_probs: Vec<f32>,
    /// Test labels.
    pub test_truth: Vec<usize>,
}

impl TaskResult {
    /// Predicted class of every test example.
    pub fn test_predictions(&self) -> Vec<usize> {
        argmax_rows(&self.test_probs, self.classes.len())
    }
}

/// The super-network an experiment describes.
pub fn network_config(e: &Experiment) -> Result<medpath_pathnet::NetworkConfig> {
    let n = &e.network;
    let aggregate = match n.aggregate.as_str() {
        "sum" => medpath_pathnet::Aggregate::Sum,
        "mean" => medpath_pathnet::Aggregate::Mean,
        other => {
            return Err(Error::Config(format!(
                "network.aggregate `{other}`: expected sum or mean"
            )));
        }
    };
    Ok(medpath_pathnet::NetworkConfig {
        channels: medpath_weights::OUTPUT_CHANNELS,
        modules: n.modules,
        conv_width: n.conv_width,
        grid: n.grid,
        fc_widths: n.fc_widths.clone(),
        aggregate,
    })
}

/// The search settings for a task of experiment `e`.
pub fn search_settings(e: &Experiment, tournaments: usize, seed: u64) -> Result<SearchSettings> {
    let s = &e.search;
    let boundary = match e.network.boundary.as_str() {
        "wrap" => Boundary::Wrap,
        "clamp" => Boundary::Clamp,
        other => {
            return Err(Error::Config(format!(
                "network.boundary `{other}`: expected wrap or clamp"
            )));
        }
    };
    let fitness = match s.fitness.as_str() {
        "validation" => FitnessOn::Validation,
        "training" => FitnessOn::Training,
        other => {
            return Err(Error::Config(format!(
                "search.fitness `{other}`: expected validation or training"
            )));
        }
    };
    Ok(SearchSettings {
        space: SearchSpace {
            layers: 1 + e.network.fc_widths.len(),
            modules: e.network.modules,
            active: e.network.active,
            duplicates: e.network.duplicates,
            boundary,
        },
        config: SearchConfig {
            population: s.population,
            max_tournaments: tournaments,
            threshold: s.threshold,
        },
        steps: s.steps,
        batch: s.batch,
        seed,
        fitness,
        fitness_samples: s.fitness_samples,
        checkpoint_every: 1,
    })
}

fn adam(learning_rate: f32, net: &SuperNet) -> Adam {
    Adam::new(
        AdamConfig {
            learning_rate,
            ..AdamConfig::default()
        },
        net,
    )
}

/// Writes the search log as CSV and the population curve as PNG.
fn write_search_log(dir: &FilePath, log: &[TournamentRecord], task: &str) -> Result<()> {
    let mut csv =
        String::from("tournament,candidate_a,candidate_b,fitness_a,fitness_b,winner,best,mean\n");
    for r in log {
        csv.push_str(&format!(
            "{},{},{},{:.6},{:.6},{},{:.6},{:.6}\n",
            r.tournament,
            r.candidates[0],
            r.candidates[1],
            r.fitness[0],
            r.fitness[1],
            r.winner,
            r.best,
            r.mean
        ));
    }
    write_atomic(&dir.join("search_log.csv"), csv.as_bytes())?;
    let points = |f: fn(&TournamentRecord) -> f64| {
        log.iter()
            .map(|r| ((r.tournament + 1) as f64, f(r)))
            .collect()
    };
    let fitness = vec![
        Series {
            name: "best".into(),
            points: points(|r| r.best),
        },
        Series {
            name: "mean".into(),
            points: points(|r| r.mean),
        },
    ];
    save_chart(
        &dir.join("fitness.png"),
        format!("{task}: population fitness"),
        "tournament",
        "fitness (validation accuracy)",
        fitness,
    )
}

/// Writes the per-epoch log as CSV and loss / accuracy curves as PNG.
fn write_fit_log(dir: &FilePath, log: &[EpochRecord], task: &str) -> Result<()> {
    let mut csv = String::from("epoch,steps,train_loss,train_accuracy,val_loss,val_accuracy\n");
    for r in log {
        csv.push_str(&format!(
            "{},{},{:.6},{:.6},{:.6},{:.6}\n",
            r.epoch, r.steps, r.train_loss, r.train_accuracy, r.val_loss, r.val_accuracy
        ));
    }
    write_atomic(&dir.join("train_log.csv"), csv.as_bytes())?;
    let series = |name: &str, f: fn(&EpochRecord) -> f64| Series {
        name: name.into(),
        points: log.iter().map(|r| (r.epoch as f64, f(r))).collect(),
    };
    let losses = vec![
        series("train", |r| r.train_loss),
        series("validation", |r| r.val_loss),
    ];
    save_chart(
        &dir.join("loss.png"),
        format!("{task}: loss per epoch"),
        "epoch",
        "cross-entropy",
        losses,
    )?;
    let accuracies = vec![
        series("train", |r| r.train_accuracy),
        series("validation", |r| r.val_accuracy),
    ];
    save_chart(
        &dir.join("accuracy.png"),
        format!("{task}: accuracy per epoch"),
        "epoch",
        "accuracy",
        accuracies,
    )
}

/// Draws `series` as a 720 x 420 line chart into `path`.
fn save_chart(
    path: &FilePath,
    title: String,
    x_label: &str,
    y_label: &str,
    series: Vec<Series>,
) -> Result<()> {
    LineChart {
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        series,
        y_range: None,
    }
    .render(720, 420)
    .save(path)?;
    Ok(())
}

/// Metrics of probabilities `probs` against the set's labels.
pub fn metrics_of(
    e: &Experiment,
    classes: &[String],
    truth: &[usize],
    probs: &[f32],
    seed: u64,
) -> Metrics {
    let predicted = argmax_rows(probs, classes.len());
    medpath_metrics::evaluate(
        classes,
        truth,
        &predicted,
        Some(probs),
        e.evaluation.bootstrap,
        seed,
    )
}

fn quiet<T>(_: &T) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Trains an ablation on a copy of the network as it was before the task, with a fixed step
/// budget, keeping the weights of its best validation epoch, and tests it.
#[allow(clippy::too_many_arguments)]
fn ablation(
    e: &Experiment,
    before: &SuperNet,
    name: &str,
    classes: &[String],
    path: &Path,
    data: &Split,
    budget: usize,
    seed: u64,
    checkpoint: &FilePath,
) -> Result<Metrics> {
    let mut net = before.clone();
    net.reinitialise_unfrozen(seed);
    let head = net.add_head(name, classes, path.is_empty(), seed + 1);
    let mut optimiser = adam(e.train.learning_rate, &net);
    let steps_per_epoch = data.train.len().div_ceil(e.train.batch.max(1)).max(1);
    let settings = FitSettings {
        epochs: budget.div_ceil(steps_per_epoch).max(1),
        batch: e.train.batch,
        patience: None,
        max_steps: Some(budget.max(1)),
        seed: seed + 2,
    };
    fit(
        &mut net,
        &mut optimiser,
        head,
        path,
        &data.train,
        &data.val,
        &settings,
        Some(checkpoint),
        &mut quiet,
    )?;
    let scored = evaluate(&net, head, path, &data.test);
    Ok(metrics_of(
        e,
        classes,
        &data.test.labels,
        &scored.probs,
        seed,
    ))
}

/// What to learn.
pub struct TaskPlan<'a> {
    /// Task (readout) name.
    pub name: &'a str,
    /// Class names.
    pub classes: &'a [String],
    /// Evaluation protocol in words.
    pub protocol: &'a str,
    /// Tournaments of the search.
    pub tournaments: usize,
    /// Seed of everything random in this task.
    pub seed: u64,
    /// Whether to run the ablations.
    pub ablations: bool,
}

/// Phase 1 of a task: adds its readout to `net` and searches its path (resuming from
/// `dir/search.ckpt`), writing the search log and fitness curve. Returns the readout index and
/// the outcome; `net` holds the weights the search left.
pub fn search_phase(
    e: &Experiment,
    net: &mut SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<(usize, SearchOutcome)> {
    let head = net.add_head(plan.name, plan.classes, false, plan.seed);
    let settings = search_settings(e, plan.tournaments, plan.seed)?;
    let mut optimiser = adam(e.search.learning_rate, net);
    reporter.stage(&format!(
        "  [{}] path search: population {}, up to {} tournaments of 2 x {} steps (batch {}); {} training views, {} validation",
        plan.name, settings.config.population, plan.tournaments, settings.steps, settings.batch, data.train.len(), data.val.len()
    ));
    let total = plan.tournaments;
    let label = format!("{} search", plan.name);
    let found = evolve(
        net,
        &mut optimiser,
        head,
        &data.train,
        &data.val,
        &settings,
        Some(&dir.join("search.ckpt")),
        &mut |r| {
            reporter.progress(&label, r.tournament + 1, total);
            ControlFlow::Continue(())
        },
    )?;
    reporter.progress(&label, total, total);
    write_search_log(dir, &found.search.log, plan.name)?;
    reporter.stage(&format!(
        "  [{}] search: {} tournaments, best path {:?} (validation fitness {:.4}), {:.1} s, {:.0} steps/s",
        plan.name,
        found.search.log.len(),
        found.best,
        found.best_fitness,
        found.seconds,
        found.steps as f64 / found.seconds.max(1e-9)
    ));
    Ok((head, found))
}

/// Learns one task on `net` (which must hold every earlier task, frozen), writing logs, figures
/// and checkpoints into `dir`; leaves the task's path frozen in `net`.
pub fn learn_task(
    e: &Experiment,
    net: &mut SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<TaskResult> {
    let before = net.clone();
    let (head, found) = search_phase(e, net, plan, data, dir, reporter)?;
    let settings = search_settings(e, plan.tournaments, plan.seed)?;
    net.reinitialise_except(&found.best, plan.seed + 11);
    let mut optimiser = adam(e.train.learning_rate, net);
    let fit_settings = FitSettings {
        epochs: e.train.epochs,
        batch: e.train.batch,
        patience: Some(e.train.patience),
        max_steps: None,
        seed: plan.seed + 12,
    };
    let label = format!("{} training", plan.name);
    let epochs = e.train.epochs;
    let outcome = fit(
        net,
        &mut optimiser,
        head,
        &found.best,
        &data.train,
        &data.val,
        &fit_settings,
        Some(&dir.join("fit.ckpt")),
        &mut |r| {
            reporter.progress(&label, r.epoch, epochs);
            ControlFlow::Continue(())
        },
    )?;
    reporter.progress(&label, epochs, epochs);
    write_fit_log(dir, &outcome.log, plan.name)?;
    net.freeze(&found.best);
    let scored = evaluate(net, head, &found.best, &data.test);
    let test = metrics_of(e, plan.classes, &data.test.labels, &scored.probs, plan.seed);
    confusion_heatmap(
        &format!("{}: test", plan.name),
        plan.classes,
        &test.confusion,
    )
    .save(&dir.join("confusion.png"))?;
    let best_epoch = outcome.best_epoch;
    reporter.stage(&format!(
        "  [{}] trained {} epochs (best {}), test accuracy {:.4} [{:.4}, {:.4}], macro recall {:.4}",
        plan.name,
        outcome.log.len(),
        best_epoch,
        test.accuracy,
        test.accuracy_ci95[0],
        test.accuracy_ci95[1],
        test.recall_macro
    ));
    let budget = found.steps + outcome.steps;
    let mut ablations = BTreeMap::new();
    let mut random_path = None;
    if plan.ablations {
        reporter.stage(&format!(
            "  [{}] ablations, {budget} steps each: linear readout, random fixed path",
            plan.name
        ));
        let linear = ablation(
            e,
            &before,
            &format!("{}/linear", plan.name),
            plan.classes,
            &Vec::new(),
            data,
            budget,
            plan.seed + 21,
            &dir.join("ablation_linear.ckpt"),
        )?;
        ablations.insert("linear_readout".to_string(), linear);
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed + 31);
        let random = settings.space.random(&mut rng).layers;
        let metrics = ablation(
            e,
            &before,
            &format!("{}/random", plan.name),
            plan.classes,
            &random,
            data,
            budget,
            plan.seed + 32,
            &dir.join("ablation_random.ckpt"),
        )?;
        ablations.insert("random_path".to_string(), metrics);
        random_path = Some(random);
    }
    let result = TaskResult {
        name: plan.name.to_string(),
        classes: plan.classes.to_vec(),
        protocol: plan.protocol.to_string(),
        path: found.best.clone(),
        best_fitness: found.best_fitness,
        tournaments: found.search.log.len(),
        search_steps: found.steps,
        search_seconds: found.seconds,
        fit: outcome,
        test,
        ablations,
        random_path,
        budget_steps: budget,
        test_probs: scored.probs,
        test_truth: data.test.labels.clone(),
    };
    write_json(&dir.join("result.json"), &result)?;
    Ok(result)
}
