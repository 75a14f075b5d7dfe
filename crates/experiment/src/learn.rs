//! Learning one task on the shared super-network: search its path, re-initialise the free
//! modules, train the path with early stopping, freeze it, test it, and run the ablations with
//! the same step budget. Every step checkpoints under the task's folder, so a killed run resumes.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path as FilePath;

use medpath_evolve::{Boundary, SearchConfig, SearchSpace, TournamentRecord};
use medpath_metrics::{Metrics, OperatingTarget};
use medpath_pathnet::{
    Adam, AdamConfig, EpochRecord, Examples, FeatureSet, FitOutcome, FitSettings, FitnessOn,
    Learner, Path, Regularisation, SearchOutcome, SearchSettings, SuperNet, balanced_class_weights,
    evaluate, evolve, fit,
};
use medpath_plot::{Figure, LineChart, Series, confusion_heatmap};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::boosted::train_and_predict;
use crate::config::{ClassWeights, Experiment, Readout};
use crate::decision::{CalibrationReport, Decision, OperatingReport};
use crate::ensemble::{ensemble_probs, train_members};
use crate::error::{Error, Result};
use crate::files::{write_atomic, write_json};
use crate::progress::Reporter;
use crate::sets::EvalSet;
pub use crate::sets::Split;
use crate::smoothing::{BeatPlace, Smoothing};
use crate::views::{ViewRule, answer_views};

/// Probabilities of `path` on `set`, joined with those on its test-time `views` by `rule`
/// (no views: the set's own).
pub fn evaluate_views(
    net: &SuperNet,
    head: usize,
    path: &Path,
    set: &FeatureSet,
    views: &[FeatureSet],
    rule: &ViewRule,
) -> Result<Vec<f32>> {
    answer_views(
        set,
        views,
        rule,
        |s| Ok(evaluate(net, head, path, s)?.probs),
    )
}

/// Probabilities of `path` on every row of `eval`, joined with those on its test-time views
/// by `rule`.
pub fn evaluate_on(
    net: &SuperNet,
    head: usize,
    path: &Path,
    eval: &EvalSet,
    rule: &ViewRule,
) -> Result<Vec<f32>> {
    evaluate_views(net, head, path, &eval.set, &eval.views, rule)
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
    /// Test probabilities of the ablations by name, row per test example.
    #[serde(default)]
    pub ablation_probs: BTreeMap<String, Vec<f32>>,
    /// The random path the `random_path` ablation trained.
    pub random_path: Option<Path>,
    /// Gradient steps each ablation got (search + phase 2 of the evolved path).
    pub budget_steps: usize,
    /// The task's answers' probabilities (read over each record where the task does so), row
    /// per scored test example (pooled over folds for a cross-validated task).
    pub test_probs: Vec<f32>,
    /// Test labels of the scored test examples.
    pub test_truth: Vec<usize>,
    /// The task's answers' probabilities on every test row, scored or not (the beats of
    /// whole test records), before the decision: what `predict` gives each beat.
    #[serde(default)]
    pub test_answers: Vec<f32>,
    /// Raw probabilities of the evolved path on every test row (before anything is read over a
    /// record), which an ensemble of paths averages.
    #[serde(default)]
    pub test_raw: Vec<f32>,
    /// Raw validation probabilities of the trained path on every validation row: the final
    /// network must give exactly these (the no-forgetting check).
    #[serde(default)]
    pub val_probs: Vec<f32>,
    /// How raw probabilities become answers (temperature, operating point), fitted on
    /// validation.
    #[serde(default)]
    pub decision: Decision,
    /// Calibration before and after temperature scaling.
    #[serde(default)]
    pub calibration: Option<CalibrationReport>,
    /// Sensitivity and specificity at the operating point (two-class tasks with one).
    #[serde(default)]
    pub operating_point: Option<OperatingReport>,
    /// What the task answers with (`test`, `test_probs` and `decision` are its answers').
    #[serde(default)]
    pub readout: Readout,
    /// Test metrics of the evolved path when the task answers with another readout.
    #[serde(default)]
    pub path_test: Option<Metrics>,
    /// Test probabilities of the evolved path when the task answers with another readout.
    #[serde(default)]
    pub path_probs: Vec<f32>,
    /// Paths of the ensemble's further members (empty: the evolved path answers alone); member
    /// `m` (from 1) is in `members/<m>/` of the task's folder.
    #[serde(default)]
    pub members: Vec<Path>,
    /// Answers the task averages: paths, or tree readouts with their own seeds (0 or 1: one).
    #[serde(default)]
    pub ensemble: usize,
}

impl TaskResult {
    /// What the task answers with, in words (see [`answer_name`]).
    pub fn answer(&self) -> String {
        answer_name(self.readout, self.ensemble)
    }
}

/// What a task answers with, in words: `path`, `ensemble of K paths`, `boosted trees` or
/// `boosted trees, K seeds`.
pub fn answer_name(readout: Readout, ensemble: usize) -> String {
    match (readout, ensemble) {
        (Readout::Path, 0 | 1) => "path".into(),
        (Readout::Path, k) => format!("ensemble of {k} paths"),
        (Readout::BoostedTrees, 0 | 1) => "boosted trees".into(),
        (Readout::BoostedTrees, k) => format!("boosted trees, {k} seeds"),
    }
}

/// Test results that come from elsewhere than the task's own test set: the pooled folds of a
/// cross-validated task.
#[derive(Debug, Clone, PartialEq)]
pub struct PooledTest {
    /// The answers' probabilities on every pooled test row, scored or not.
    pub answers: Vec<f32>,
    /// Metrics of the evolved path.
    pub test: Metrics,
    /// Metrics of the ablations by name.
    pub ablations: BTreeMap<String, Metrics>,
    /// Probabilities of the ablations by name, row per pooled test example.
    pub ablation_probs: BTreeMap<String, Vec<f32>>,
    /// Metrics of the evolved path when the task answers with another readout.
    pub path_test: Option<Metrics>,
    /// Probabilities, row per pooled test example.
    pub probs: Vec<f32>,
    /// Labels of the pooled test examples.
    pub truth: Vec<usize>,
}

impl TaskResult {
    /// Answered class of every test example (the task's decision applied).
    pub fn test_predictions(&self) -> Vec<usize> {
        self.decision
            .classes_of(&self.test_probs, self.classes.len())
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
        side_width: e.side_width(),
    })
}

/// Dropout and class weights for training on `train` (class weights from its labels when the
/// experiment asks for balanced classes).
pub fn regularisation(
    e: &Experiment,
    train: &FeatureSet,
    classes: usize,
    seed: u64,
) -> Regularisation {
    Regularisation {
        dropout: e.train.dropout,
        class_weights: match e.train.class_weights {
            ClassWeights::None => Vec::new(),
            ClassWeights::Balanced => balanced_class_weights(&train.labels, classes),
        },
        seed: seed ^ 0xD809,
    }
}

/// The search settings for a task of experiment `e`.
pub fn search_settings(
    e: &Experiment,
    tournaments: usize,
    seed: u64,
    regularisation: Regularisation,
) -> Result<SearchSettings> {
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
        metric: s.metric,
        regularisation,
    })
}

fn adam(e: &Experiment, learning_rate: f32, net: &SuperNet) -> Adam {
    Adam::new(
        AdamConfig {
            learning_rate,
            weight_decay: e.train.weight_decay,
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
        None,
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
        None,
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
        None,
    )
}

/// Draws the reliability diagram (test, before and after temperature scaling) and, for a
/// two-class task, the ROC curve of the positive (else the second) class on test.
fn write_calibration_figures(
    dir: &FilePath,
    plan: &TaskPlan<'_>,
    decision: &Decision,
    (probs, truth): (&[f32], &[usize]),
    report: &CalibrationReport,
) -> Result<()> {
    let bins = |table: &[medpath_metrics::ReliabilityBin]| -> Vec<(f64, f64)> {
        table
            .iter()
            .filter(|b| b.count > 0)
            .map(|b| (b.confidence, b.accuracy))
            .collect()
    };
    let reliability = vec![
        Series {
            name: "ideal".into(),
            points: vec![(0.0, 0.0), (1.0, 1.0)],
        },
        Series {
            name: format!("raw (ECE {:.3})", report.test_ece[0]),
            points: bins(&report.test_bins_before),
        },
        Series {
            name: format!(
                "T = {:.2} (ECE {:.3})",
                report.temperature, report.test_ece[1]
            ),
            points: bins(&report.test_bins_after),
        },
    ];
    save_chart(
        &dir.join("reliability.png"),
        format!("{}: reliability on test", plan.name),
        "confidence (top probability)",
        "accuracy",
        reliability,
        Some((0.0, 1.0)),
    )?;
    let k = plan.classes.len();
    if k == 2 {
        let positive = decision.positive.unwrap_or(1);
        let scores: Vec<f32> = decision
            .calibrated(probs, k)
            .chunks_exact(k)
            .map(|r| r[positive])
            .collect();
        let is_positive: Vec<bool> = truth.iter().map(|&y| y == positive).collect();
        let curve = medpath_metrics::roc_curve(&scores, &is_positive);
        let mut series = vec![Series {
            name: format!("{} (test)", plan.classes[positive]),
            points: curve.iter().map(|p| (p.fpr, p.tpr)).collect(),
        }];
        if let Some(t) = decision.threshold {
            let (sens, spec) = medpath_metrics::rates_at(&scores, &is_positive, t);
            series.push(Series {
                name: format!("operating point (threshold {t:.3})"),
                points: vec![(1.0 - spec, sens), (1.0 - spec, sens)],
            });
        }
        save_chart(
            &dir.join("roc.png"),
            format!("{}: ROC on test", plan.name),
            "false-positive rate",
            "sensitivity",
            series,
            Some((0.0, 1.0)),
        )?;
    }
    Ok(())
}

/// Draws `series` as a line chart into `path` (PNG, with its SVG beside it), over `y_range`
/// when given, else over the data.
fn save_chart(
    path: &FilePath,
    title: String,
    x_label: &str,
    y_label: &str,
    series: Vec<Series>,
    y_range: Option<(f64, f64)>,
) -> Result<()> {
    LineChart {
        title,
        x_label: x_label.into(),
        y_label: y_label.into(),
        series,
        y_range,
    }
    .save(path)?;
    Ok(())
}

/// Metrics of probabilities `probs` against `truth` (the most probable class is the answer),
/// with bootstrap intervals that resample `groups` (records or patients; empty: examples).
pub fn metrics_of(
    e: &Experiment,
    classes: &[String],
    (truth, groups): (&[usize], &[usize]),
    probs: &[f32],
    seed: u64,
) -> Metrics {
    metrics_with(
        e,
        classes,
        (truth, groups),
        probs,
        &Decision::default(),
        seed,
    )
}

/// Metrics of raw probabilities `probs` answered by `decision` (calibrated probabilities for
/// the AUROC, the decision's class as the answer), with bootstrap intervals that resample
/// `groups` (records or patients, the unit errors come in; empty: examples).
pub fn metrics_with(
    e: &Experiment,
    classes: &[String],
    (truth, groups): (&[usize], &[usize]),
    probs: &[f32],
    decision: &Decision,
    seed: u64,
) -> Metrics {
    let k = classes.len();
    medpath_metrics::evaluate_grouped(
        classes,
        truth,
        &decision.classes_of(probs, k),
        Some(&decision.calibrated(probs, k)),
        groups,
        e.evaluation.bootstrap,
        seed,
    )
}

/// Metrics of a readout's answers on the scored test rows of `data` under `decision`, the
/// bootstrap resampling the test set's groups.
fn metrics_decided(
    e: &Experiment,
    plan: &TaskPlan<'_>,
    data: &Split,
    probs: &[f32],
    decision: &Decision,
) -> Metrics {
    let groups = data.test.scored_groups();
    metrics_with(
        e,
        plan.classes,
        (data.test.labels(), &groups),
        probs,
        decision,
        plan.seed,
    )
}

fn quiet<T>(_: &T) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Trains an ablation on a copy of the network as it was before the task, with a fixed step
/// budget, keeping the weights of its best validation epoch, and returns its raw probabilities
/// on every validation and test row.
fn ablation(
    e: &Experiment,
    before: &SuperNet,
    classes: &[String],
    data: &Split,
    budget: usize,
    run: Ablation<'_>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let Ablation {
        name,
        path,
        seed,
        checkpoint,
    } = run;
    let (name, checkpoint) = (name.as_str(), checkpoint.as_path());
    let mut net = before.clone();
    net.reinitialise_unfrozen(seed);
    let head = net.add_head(name, classes, path.is_empty(), seed + 1);
    let mut optimiser = adam(e, e.train.learning_rate, &net);
    let steps_per_epoch = data.train.len().div_ceil(e.train.batch.max(1)).max(1);
    let settings = FitSettings {
        epochs: budget.div_ceil(steps_per_epoch).max(1),
        batch: e.train.batch,
        patience: None,
        max_steps: Some(budget.max(1)),
        seed: seed + 2,
        regularisation: regularisation(e, &data.train, classes.len(), seed),
    };
    fit(
        Learner {
            net: &mut net,
            adam: &mut optimiser,
            head,
        },
        path,
        Examples {
            train: &data.train,
            val: data.val.fitness(),
        },
        &settings,
        Some(checkpoint),
        &mut quiet,
    )?;
    Ok((
        evaluate_on(&net, head, path, &data.val, &data.view_rule)?,
        evaluate_on(&net, head, path, &data.test, &data.view_rule)?,
    ))
}

/// One ablation: its readout's name, the fixed path it trains (empty: a linear readout on the
/// pooled features), its seed and its checkpoint file.
struct Ablation<'a> {
    name: String,
    path: &'a Path,
    seed: u64,
    checkpoint: std::path::PathBuf,
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
    /// Test results from elsewhere (the folds of a cross-validated task), used when the task
    /// has no test set of its own.
    pub pooled: Option<PooledTest>,
    /// What a two-class task's operating point is chosen for (argmax: none).
    pub target: OperatingTarget,
    /// The positive class of the operating point.
    pub positive: Option<usize>,
    /// What the task answers with.
    pub readout: Readout,
    /// Paths the answer averages (1: the evolved path alone); see [`crate::ensemble`].
    pub ensemble: usize,
    /// Classes pooled over a record's neighbouring beats in every answer's validation and test
    /// probabilities (see [`crate::smoothing`]).
    pub smoothing: Option<Smoothing>,
}

/// One readout's answers on a task's validation and test sets, after what is read over each
/// record (before temperature and operating point).
pub struct Answers {
    /// Every validation row.
    pub val_all: Vec<f32>,
    /// The scored validation rows.
    pub val: Vec<f32>,
    /// Every test row.
    pub test_all: Vec<f32>,
    /// The scored test rows.
    pub test: Vec<f32>,
}

impl TaskPlan<'_> {
    /// `probs` of the rows at `places` as the task's answers see them: smoothed over each
    /// record's beats when the plan asks for it.
    fn smoothed(&self, probs: Vec<f32>, places: &[Option<BeatPlace>]) -> Vec<f32> {
        Smoothing::maybe(self.smoothing.as_ref(), probs, self.classes.len(), places)
    }

    /// A readout's answers from its raw probabilities on every validation and test row: read
    /// over each whole record (every beat takes part), then the scored rows kept.
    pub fn answers(&self, data: &Split, (val, test): (Vec<f32>, Vec<f32>)) -> Answers {
        let k = self.classes.len();
        let val_all = self.smoothed(val, &data.val.places);
        let test_all = self.smoothed(test, &data.test.places);
        Answers {
            val: data.val.scored_probs(&val_all, k),
            test: data.test.scored_probs(&test_all, k),
            val_all,
            test_all,
        }
    }

    /// The decision (temperature, operating point) fitted on `answers`' validation rows.
    fn decision(&self, data: &Split, answers: &Answers) -> Decision {
        let k = self.classes.len();
        Decision::fit(
            &answers.val,
            k,
            data.val.labels(),
            self.target,
            self.positive,
        )
    }

    /// Whether the test numbers come from the pooled folds of a cross-validation.
    fn tested_elsewhere(&self, data: &Split) -> bool {
        self.pooled.is_some() && data.test.is_empty()
    }
}

/// File of a task's boosted-tree readout in its folder and in the bundle.
pub fn boosted_file(task: &str) -> String {
    format!("boosted_{}.json", task.replace('/', "_"))
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
    let regularised = regularisation(e, &data.train, plan.classes.len(), plan.seed);
    let settings = search_settings(e, plan.tournaments, plan.seed, regularised)?;
    let mut optimiser = adam(e, e.search.learning_rate, net);
    reporter.stage(&format!(
        "  [{}] path search: population {}, up to {} tournaments of 2 x {} steps (batch {}); {} training views, {} validation",
        plan.name, settings.config.population, plan.tournaments, settings.steps, settings.batch, data.train.len(), data.val.fitness().len()
    ));
    let total = plan.tournaments;
    let label = format!("{} search", plan.name);
    let found = evolve(
        Learner {
            net,
            adam: &mut optimiser,
            head,
        },
        Examples {
            train: &data.train,
            val: data.val.fitness(),
        },
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

/// Phase 2 of a task: re-initialises every module that is neither frozen nor on the found
/// path, trains the path with early stopping (resuming from `dir/fit.ckpt`), writes its logs
/// and freezes its modules.
fn train_path(
    e: &Experiment,
    net: &mut SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    (dir, head, best): (&FilePath, usize, &Path),
    reporter: &mut dyn Reporter,
) -> Result<FitOutcome> {
    let regularised = regularisation(e, &data.train, plan.classes.len(), plan.seed);
    net.reinitialise_except(best, plan.seed + 11);
    let mut optimiser = adam(e, e.train.learning_rate, net);
    let fit_settings = FitSettings {
        epochs: e.train.epochs,
        batch: e.train.batch,
        patience: Some(e.train.patience),
        max_steps: None,
        seed: plan.seed + 12,
        regularisation: regularised,
    };
    let label = format!("{} training", plan.name);
    let epochs = e.train.epochs;
    let outcome = fit(
        Learner {
            net,
            adam: &mut optimiser,
            head,
        },
        best,
        Examples {
            train: &data.train,
            val: data.val.fitness(),
        },
        &fit_settings,
        Some(&dir.join("fit.ckpt")),
        &mut |r| {
            reporter.progress(&label, r.epoch, epochs);
            ControlFlow::Continue(())
        },
    )?;
    reporter.progress(&label, epochs, epochs);
    write_fit_log(dir, &outcome.log, plan.name)?;
    net.freeze(best);
    Ok(outcome)
}

/// What a task's readouts measured on test: the answer's metrics and probabilities (scored and
/// every row), the evolved path's when another readout answers, and the ablations'.
struct Tested {
    test: Metrics,
    probs: Vec<f32>,
    truth: Vec<usize>,
    answers: Vec<f32>,
    path_test: Option<Metrics>,
    path_probs: Vec<f32>,
    ablations: AblationResults,
    random_path: Option<Path>,
}

/// The test results of a task's evolved path and ablations: measured on the task's own test
/// set, or taken from the pooled folds of a cross-validation.
fn test_path(
    e: &Experiment,
    plan: &TaskPlan<'_>,
    data: &Split,
    path: (&Answers, &Decision),
    (before, budget, dir): (&SuperNet, usize, &FilePath),
    reporter: &mut dyn Reporter,
) -> Result<Tested> {
    if let (true, Some(pooled)) = (plan.tested_elsewhere(data), &plan.pooled) {
        let ablations = pooled
            .ablations
            .iter()
            .map(|(name, m)| {
                let probs = pooled.ablation_probs.get(name).cloned().unwrap_or_default();
                (name.clone(), (m.clone(), probs))
            })
            .collect();
        return Ok(Tested {
            test: pooled.test.clone(),
            probs: pooled.probs.clone(),
            truth: pooled.truth.clone(),
            answers: pooled.answers.clone(),
            path_test: pooled.path_test.clone(),
            path_probs: Vec::new(),
            ablations,
            random_path: None,
        });
    }
    let (answers, decision) = path;
    let test = metrics_decided(e, plan, data, &answers.test, decision);
    reporter.stage(&format!(
        "  [{}] evolved path: test accuracy {:.4} [{:.4}, {:.4}], macro recall {:.4}",
        plan.name, test.accuracy, test.accuracy_ci95[0], test.accuracy_ci95[1], test.recall_macro
    ));
    let (ablations, random_path) = if plan.ablations {
        ablations_of(e, before, plan, data, budget, dir, reporter)?
    } else {
        (BTreeMap::new(), None)
    };
    Ok(Tested {
        test,
        probs: answers.test.clone(),
        truth: data.test.labels().to_vec(),
        answers: answers.test_all.clone(),
        path_test: None,
        path_probs: Vec::new(),
        ablations,
        random_path,
    })
}

/// The raw validation and test probabilities of the task's answer when it is not the evolved
/// path alone: boosted trees (fitted and saved here), or the ensemble's mean over its paths.
fn other_answer(
    e: &Experiment,
    plan: &TaskPlan<'_>,
    data: &Split,
    (path_val, path_test): (&[f32], &[f32]),
    members: &[crate::ensemble::Member],
    dir: &FilePath,
) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    match plan.readout {
        Readout::Path if members.is_empty() => Ok(None),
        Readout::Path => Ok(Some(ensemble_probs((path_val, path_test), members))),
        Readout::BoostedTrees => {
            let k = plan.classes.len();
            let (readout, val, test) =
                train_and_predict(e, k, data, plan.seed + 41, plan.ensemble)?;
            readout.save(&dir.join(boosted_file(plan.name)))?;
            Ok(Some((val, test)))
        }
    }
}

/// The task's answer when another readout answers instead of the evolved path: its decision
/// (fitted on its validation answers) and test results, the path's kept beside them.
fn answer_with_other(
    e: &Experiment,
    plan: &TaskPlan<'_>,
    data: &Split,
    other: &Answers,
    path: Tested,
    reporter: &mut dyn Reporter,
) -> (Tested, Decision) {
    let decision = plan.decision(data, other);
    if plan.tested_elsewhere(data) {
        return (path, decision);
    }
    let test = metrics_decided(e, plan, data, &other.test, &decision);
    reporter.stage(&format!(
        "  [{}] answers from {}: test accuracy {:.4}, macro recall {:.4}",
        plan.name,
        answer_name(plan.readout, plan.ensemble),
        test.accuracy,
        test.recall_macro
    ));
    let tested = Tested {
        test,
        probs: other.test.clone(),
        answers: other.test_all.clone(),
        path_test: Some(path.test),
        path_probs: path.probs,
        ..path
    };
    (tested, decision)
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
    let outcome = train_path(e, net, plan, data, (dir, head, &found.best), reporter)?;
    let val_probs = evaluate_on(net, head, &found.best, &data.val, &data.view_rule)?;
    let test_raw = if plan.tested_elsewhere(data) {
        Vec::new()
    } else {
        evaluate_on(net, head, &found.best, &data.test, &data.view_rule)?
    };
    let path_answers = plan.answers(data, (val_probs.clone(), test_raw.clone()));
    let path_decision = plan.decision(data, &path_answers);
    let budget = found.steps + outcome.steps;
    let tested = test_path(
        e,
        plan,
        data,
        (&path_answers, &path_decision),
        (&before, budget, dir),
        reporter,
    )?;
    let members = match plan.readout {
        Readout::Path => train_members(e, &before, plan, data, dir, reporter)?,
        Readout::BoostedTrees => Vec::new(),
    };
    let other = other_answer(e, plan, data, (&val_probs, &test_raw), &members, dir)?;
    let (tested, decision, answer_val) = match other {
        None => (tested, path_decision, path_answers.val),
        Some(raw) => {
            let other = plan.answers(data, raw);
            let (tested, decision) = answer_with_other(e, plan, data, &other, tested, reporter);
            (tested, decision, other.val)
        }
    };
    let k = plan.classes.len();
    let val = (answer_val.as_slice(), data.val.labels());
    let scored = (tested.probs.as_slice(), tested.truth.as_slice());
    let calibration =
        (!tested.truth.is_empty()).then(|| CalibrationReport::measure(&decision, k, val, scored));
    let operating_point = OperatingReport::measure(&decision, plan.classes, val, scored);
    if let Some(report) = &calibration {
        write_calibration_figures(dir, plan, &decision, scored, report)?;
    }
    confusion_heatmap(
        &format!("{}: test", plan.name),
        plan.classes,
        &tested.test.confusion,
    )
    .save(&dir.join("confusion.png"))?;
    let (ablations, ablation_probs): (BTreeMap<_, _>, BTreeMap<_, _>) = tested
        .ablations
        .into_iter()
        .map(|(name, (m, p))| ((name.clone(), m), (name, p)))
        .unzip();
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
        test: tested.test,
        ablations,
        ablation_probs,
        random_path: tested.random_path,
        budget_steps: budget,
        test_probs: tested.probs,
        test_truth: tested.truth,
        test_answers: tested.answers,
        test_raw,
        val_probs,
        decision,
        calibration,
        operating_point,
        readout: plan.readout,
        path_test: tested.path_test,
        path_probs: tested.path_probs,
        members: members.into_iter().map(|m| m.path).collect(),
        ensemble: plan.ensemble,
    };
    write_json(&dir.join("result.json"), &result)?;
    Ok(result)
}

/// Test metrics and probabilities of each ablation, by name.
type AblationResults = BTreeMap<String, (Metrics, Vec<f32>)>;

/// The ablations of a task, each from the network as it was before the task with the evolved
/// path's step budget: a linear readout, a random fixed path and, when asked for,
/// gradient-boosted trees on the pooled features.
fn ablations_of(
    e: &Experiment,
    before: &SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    budget: usize,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<(AblationResults, Option<Path>)> {
    reporter.stage(&format!(
        "  [{}] ablations, {budget} steps each: linear readout, random fixed path{}",
        plan.name,
        if e.evaluation.boosted_trees && plan.readout != Readout::BoostedTrees {
            ", boosted trees"
        } else {
            ""
        }
    ));
    let mut ablations = BTreeMap::new();
    let linear = ablation(
        e,
        before,
        plan.classes,
        data,
        budget,
        Ablation {
            name: format!("{}/linear", plan.name),
            path: &Vec::new(),
            seed: plan.seed + 21,
            checkpoint: dir.join("ablation_linear.ckpt"),
        },
    )?;
    ablations.insert("linear_readout".to_string(), decided(e, plan, data, linear));
    let space = search_settings(e, plan.tournaments, plan.seed, Regularisation::default())?.space;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed + 31);
    let random = space.random(&mut rng).layers;
    let metrics = ablation(
        e,
        before,
        plan.classes,
        data,
        budget,
        Ablation {
            name: format!("{}/random", plan.name),
            path: &random,
            seed: plan.seed + 32,
            checkpoint: dir.join("ablation_random.ckpt"),
        },
    )?;
    ablations.insert("random_path".to_string(), decided(e, plan, data, metrics));
    if e.evaluation.boosted_trees && plan.readout != Readout::BoostedTrees {
        let (_, val, test) = train_and_predict(e, plan.classes.len(), data, plan.seed, 1)?;
        ablations.insert(
            "boosted_trees".to_string(),
            decided(e, plan, data, (val, test)),
        );
    }
    Ok((ablations, Some(random)))
}

/// An ablation's test metrics, answered as the evolved path's are (read over each record, then
/// temperature and operating point fitted on its own validation answers), and its calibrated
/// probabilities on the scored test rows.
fn decided(
    e: &Experiment,
    plan: &TaskPlan<'_>,
    data: &Split,
    raw: (Vec<f32>, Vec<f32>),
) -> (Metrics, Vec<f32>) {
    let answers = plan.answers(data, raw);
    let decision = plan.decision(data, &answers);
    let metrics = metrics_decided(e, plan, data, &answers.test, &decision);
    (
        metrics,
        decision.calibrated(&answers.test, plan.classes.len()),
    )
}
