//! `medpath run`: an experiment end to end in a run folder, resumable at every stage.
//!
//! Run folder layout: `experiment.json` (the resolved experiment), `prepared/<task>/` (prepared
//! examples), `tasks/<task>/` (search and training checkpoints, logs, figures, `result.json`,
//! `test_answers.csv`), `network/after_<task>.safetensors` (the super-network after each
//! task), `router/`, `metrics.json`, `bundle/` (the model for `predict`), `report.html`.
//!
//! - [`router`]: the router's data and training.
//! - [`joint`]: the joint test (route, then classify).
//! - [`follow_up`]: follow-up tasks measured through the chain `predict` runs.
//! - [`novelty_stage`]: the rule that rejects inputs of no task, and its measurement.
//! - [`sheets`]: sample and heat-map sheets.
//! - [`outputs`]: `metrics.json`, the per-beat answers and the model bundle.
//! - [`transfer`]: what learning a task after the others buys, from few images to all.

mod follow_up;
mod joint;
mod novelty_stage;
mod other_beats;
mod outputs;
mod router;
mod sheets;
mod transfer;

use std::path::{Path as FilePath, PathBuf};
use std::time::Instant;

use medpath_metrics::OperatingTarget;
use medpath_pathnet::SuperNet;
use medpath_pathnet::checkpoint;

use crate::config::{Experiment, TaskSpec};
use crate::crossval::cross_validate;
use crate::dataset::{EncodedTask, prepared_roles};
use crate::error::{Error, Result};
use crate::tasks::{PreparedTask, prepare};
use medpath_infer::encoder::Encoding;
use medpath_learn::{Split, TaskPlan, TaskResult, evaluate_on, learn_task, network_config};
use medpath_readout::SideScaling;
use medpath_readout::parse_target;
use medpath_runkit::Reporter;
use medpath_runkit::{read_json, write_json};

pub use follow_up::FollowUpChain;
pub use joint::{JointResult, joint_classes};
pub(crate) use router::{router_choice, router_pictures};
pub use transfer::{Draw, MethodScore, SummaryRow, TransferPlan, summarise, transfer};

/// Name of the router's readout and folder.
pub const ROUTER: &str = "router";

/// Features of a task with, for every row, the example it came from.
struct Encoded {
    split: Split,
    /// Example index of each scored test row (the rows of the task's test metrics): of the
    /// pooled folds for a cross-validated task.
    test_rows: Vec<usize>,
    /// Example index of every test row, scored or not (the beats of whole test records).
    answered_rows: Vec<usize>,
    /// Example index of each scored validation row.
    val_rows: Vec<usize>,
    /// How its side inputs are standardised.
    scaling: SideScaling,
    /// The number of each record or patient in `split.train_groups`.
    group_ids: std::collections::BTreeMap<String, usize>,
    /// Every picture's features, for cross-validation, and the centres subtracted from them.
    all: EncodedTask,
}

fn encode_task(
    e: &Experiment,
    enc: &Encoding,
    task: &PreparedTask,
    reporter: &mut dyn Reporter,
) -> Result<Encoded> {
    let all = EncodedTask::encode(enc, task, reporter)?;
    let assembled = all.assemble(task, &prepared_roles(task), e.side_width())?;
    let scored = |rows: &[usize], set: &medpath_learn::EvalSet| -> Vec<usize> {
        set.scored.iter().map(|&r| rows[r]).collect()
    };
    Ok(Encoded {
        test_rows: scored(&assembled.test_rows, &assembled.split.test),
        val_rows: scored(&assembled.val_rows, &assembled.split.val),
        answered_rows: assembled.test_rows,
        split: assembled.split,
        scaling: assembled.scaling,
        group_ids: assembled.group_ids,
        all,
    })
}

/// The run's encoder, keeping task features on disk in `dir/features` when the experiment says
/// so (`encoder.features = "disk"`).
fn run_encoding(e: &Experiment, dir: &FilePath, reporter: &mut dyn Reporter) -> Result<Encoding> {
    let mut enc = Encoding::load(&e.encoder, &mut |w| reporter.warn(&w))?;
    if e.encoder.features == crate::config::FeatureStore::Disk {
        enc.keep_features_on_disk(&dir.join("features"))?;
    }
    Ok(enc)
}

fn load_network(path: &FilePath) -> Result<SuperNet> {
    Ok(checkpoint::load(path)?.net)
}

fn save_network(path: &FilePath, net: &SuperNet) -> Result<()> {
    Ok(checkpoint::save_weights(path, net)?)
}

/// What `run` returns.
pub struct RunSummary {
    /// The run folder.
    pub dir: PathBuf,
    /// `metrics.json` as written.
    pub metrics: serde_json::Value,
    /// Wall time of this invocation.
    pub seconds: f64,
}

/// Records the experiment in `dir/experiment.json`, or checks that the folder holds this very
/// experiment (then the run resumes).
fn claim_run_folder(e: &Experiment, dir: &FilePath, reporter: &mut dyn Reporter) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
    let recorded = dir.join("experiment.json");
    if recorded.exists() {
        let previous: Experiment = read_json(&recorded)?;
        if previous != *e {
            return Err(Error::run(
                dir,
                "this run folder holds a different experiment (see its experiment.json); choose another --out or remove the folder",
            ));
        }
        reporter.stage(&format!("resuming the run in {}", dir.display()));
    } else {
        write_json(&recorded, e)?;
    }
    Ok(())
}

/// The super-network file written when task `name` (or the router) has finished.
fn network_after(dir: &FilePath, name: &str) -> PathBuf {
    dir.join("network")
        .join(format!("after_{name}.safetensors"))
}

/// Prepares task `i` of the order under `dir/prepared` (or reads its earlier preparation) and
/// says what it holds.
pub(crate) fn prepare_task(
    e: &Experiment,
    dir: &FilePath,
    i: usize,
    name: &str,
    reporter: &mut dyn Reporter,
) -> Result<PreparedTask> {
    let task = prepare(
        name,
        &e.tasks[name],
        &dir.join("prepared").join(name),
        e.seed + i as u64,
    )?;
    reporter.stage(&format!(
        "  [{name}] {} examples: {}",
        task.examples.len(),
        task.counts()
    ));
    reporter.stage(&format!("  [{name}] protocol: {}", task.protocol));
    for note in &task.notes {
        reporter.stage(&format!("  [{name}] {note}"));
    }
    Ok(task)
}

/// How task `i` of the order is learned: the same plan whether `run` or a stage command runs it.
fn task_plan<'a>(e: &Experiment, i: usize, task: &'a PreparedTask) -> Result<TaskPlan<'a>> {
    let (target, positive) = match &e.tasks[&task.name] {
        TaskSpec::Images(t) if task.classes.len() == 2 => {
            let positive = match &t.positive {
                Some(name) => task.classes.iter().position(|c| c == name).ok_or_else(|| {
                    Error::task(
                        &task.name,
                        format!(
                            "positive class `{name}` is not one of its classes {:?}",
                            task.classes
                        ),
                    )
                })?,
                None => 1,
            };
            (parse_target(&t.operating_point)?, Some(positive))
        }
        _ => (OperatingTarget::Argmax, None),
    };
    let smoothing = match &e.tasks[&task.name] {
        TaskSpec::Ecg(t) => t
            .smooth
            .resolve(&task.classes)
            .map_err(|m| Error::task(&task.name, m))?,
        TaskSpec::Images(_) => None,
    };
    if smoothing.is_some()
        && let Some(i) = task.examples.iter().position(|x| x.seconds.is_none())
    {
        return Err(Error::task(
            &task.name,
            format!(
                "{}: no beat time, which smoothing needs (prepared by an older medpath: start a new run folder)",
                task.describe(i)
            ),
        ));
    }
    Ok(TaskPlan {
        name: &task.name,
        classes: &task.classes,
        protocol: &task.protocol,
        tournaments: e.search.tournaments,
        seed: e.seed + 1000 * (i as u64 + 1),
        ablations: true,
        pooled: None,
        target,
        positive,
        readout: e.tasks[&task.name].readout(),
        ensemble: e.tasks[&task.name].ensemble(),
        smoothing,
    })
}

/// Learns task `i` on `net`: for a cross-validated task, first every fold (from the network as
/// it is now), then the final model on all its records, whose test numbers are the folds'
/// pooled ones; otherwise search, training, test and ablations on its own split.
fn learn_planned(
    e: &Experiment,
    net: &mut SuperNet,
    i: usize,
    task: &PreparedTask,
    encoded: &mut Encoded,
    task_dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<TaskResult> {
    let mut plan = task_plan(e, i, task)?;
    if task.folds > 0 {
        let cv = cross_validate(
            e,
            net,
            task,
            &encoded.all,
            &plan,
            &task_dir.join("kfold"),
            reporter,
        )?;
        reporter.stage(&format!(
            "  [{}] final model: every record trains (validation carved by record); its test numbers are the pooled folds'",
            task.name
        ));
        plan.pooled = Some(cv.pooled());
        plan.ablations = false;
        encoded.test_rows = cv.rows;
        encoded.answered_rows = cv.answered_rows;
    }
    Ok(learn_task(
        &e.learn_settings(),
        net,
        &plan,
        &encoded.split,
        task_dir,
        reporter,
    )?)
}

/// Task `task`'s place in the learning order; an unknown name is an error listing the tasks.
fn task_index(e: &Experiment, task: &str) -> Result<usize> {
    let order = e.task_order();
    order.iter().position(|t| t == task).ok_or_else(|| {
        Error::Config(format!(
            "no task `{task}` in the experiment (tasks: {})",
            order.join(", ")
        ))
    })
}

/// A stage command: phase 1 (`evolve`) or phase 2 with test and ablations (`train`) of one
/// task, in the same run folder and with the same checkpoints as [`run`], which picks up
/// whatever the stages finished. Tasks before it in the order must be finished.
pub fn run_stage(
    e: &Experiment,
    dir: &FilePath,
    task: &str,
    train: bool,
    reporter: &mut dyn Reporter,
) -> Result<String> {
    claim_run_folder(e, dir, reporter)?;
    let order = e.task_order();
    let i = task_index(e, task)?;
    let enc = run_encoding(e, dir, reporter)?;
    let prepared = prepare_task(e, dir, i, task, reporter)?;
    let mut net = match i {
        0 => SuperNet::new(network_config(&e.learn_settings()), e.seed)?,
        _ => {
            let previous = network_after(dir, &order[i - 1]);
            if !previous.exists() {
                return Err(Error::run(
                    dir,
                    format!(
                        "task `{task}` comes after `{}`, which is not finished here: train it first",
                        order[i - 1]
                    ),
                ));
            }
            load_network(&previous)?
        }
    };
    let mut encoded = encode_task(e, &enc, &prepared, reporter)?;
    let task_dir = dir.join("tasks").join(task);
    let plan = task_plan(e, i, &prepared)?;
    if !train {
        let (_, found) = medpath_learn::search_phase(
            &e.learn_settings(),
            &mut net,
            &plan,
            &encoded.split,
            &task_dir,
            reporter,
        )?;
        return Ok(format!(
            "{task}: best path {:?}, validation fitness {:.4}, {} tournaments, {:.0} search steps/s; logs in {}",
            found.best,
            found.best_fitness,
            found.search.log.len(),
            found.steps as f64 / found.seconds.max(1e-9),
            task_dir.display()
        ));
    }
    if !task_dir.join("search.ckpt").exists() {
        return Err(Error::run(
            &task_dir,
            format!("no path search here yet: run `medpath evolve` for task `{task}` first"),
        ));
    }
    let result = learn_planned(e, &mut net, i, &prepared, &mut encoded, &task_dir, reporter)?;
    save_network(&network_after(dir, task), &net)?;
    Ok(format!(
        "{task}: test accuracy {:.4} [{:.4}, {:.4}], macro recall {:.4} ({}); linear readout {:.4}, random path {:.4}",
        result.test.accuracy,
        result.test.accuracy_ci95[0],
        result.test.accuracy_ci95[1],
        result.test.recall_macro,
        result.protocol,
        result.ablations["linear_readout"].accuracy,
        result.ablations["random_path"].accuracy
    ))
}

/// Runs (or resumes) experiment `e` in `dir`.
pub fn run(e: &Experiment, dir: &FilePath, reporter: &mut dyn Reporter) -> Result<RunSummary> {
    let started = Instant::now();
    claim_run_folder(e, dir, reporter)?;
    let order = e.task_order();
    reporter.stage(&format!(
        "experiment `{}`: tasks {}",
        e.name,
        order.join(", ")
    ));
    let enc = run_encoding(e, dir, reporter)?;
    let cx = RunContext {
        e,
        enc: &enc,
        dir,
        order,
        routed: e.routed_order(),
    };
    let mut prepared = Vec::new();
    for (i, name) in cx.order.iter().enumerate() {
        prepared.push(prepare_task(e, dir, i, name, reporter)?);
    }
    check_follow_up_classes(e, &prepared)?;
    let mut net = SuperNet::new(network_config(&e.learn_settings()), e.seed)?;
    let mut results = Vec::new();
    let mut encoded = Vec::new();
    for (i, task) in prepared.iter().enumerate() {
        let (result, task_encoded) = task_stage(&cx, &mut net, i, task, reporter)?;
        results.push(result);
        encoded.push(task_encoded);
    }
    let router = router::router_stage(&cx, &mut net, &prepared[..cx.routed.len()], reporter)?;
    let learned = Learned {
        prepared,
        results,
        encoded,
        router,
    };
    check_no_forgetting(&net, &learned, &cx.order, reporter)?;
    let novelty = if e.novelty.enabled {
        Some(novelty_stage::novelty_stage(&cx, &learned, reporter)?)
    } else {
        None
    };
    let joint = joint::joint_stage(&cx, &net, &learned, reporter)?;
    let chains = follow_up::follow_up_chains(&cx, &net, &learned, reporter)?;
    let novelty_report = novelty.as_ref().map(|(_, r)| r);
    let metrics = outputs::metrics_json(&cx, &learned, (&joint, &chains), novelty_report);
    write_json(&dir.join("metrics.json"), &metrics)?;
    outputs::bundle_stage(&cx, &net, &learned, novelty.as_ref().map(|(m, _)| m))?;
    medpath_report::write_report(dir)?;
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        metrics,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What every stage of a run reads: the experiment, its encoder, the run folder, the task order
/// and the tasks the router chooses between (a prefix of the order: the follow-up tasks after
/// them are asked only after their task's answer).
struct RunContext<'a> {
    e: &'a Experiment,
    enc: &'a Encoding,
    dir: &'a FilePath,
    order: Vec<String>,
    routed: Vec<String>,
}

/// Each follow-up task follows a class its task really has (known once the tasks are
/// prepared: a folder layout names its classes only then).
fn check_follow_up_classes(e: &Experiment, prepared: &[PreparedTask]) -> Result<()> {
    for task in prepared {
        let TaskSpec::Images(spec) = &e.tasks[&task.name] else {
            continue;
        };
        let Some(follows) = &spec.follows else {
            continue;
        };
        let parent = prepared.iter().find(|p| p.name == follows.task);
        if !parent.is_some_and(|p| p.classes.contains(&follows.class)) {
            return Err(Error::task(
                &task.name,
                format!(
                    "follows class `{}` of `{}`, which has the classes {:?}",
                    follows.class,
                    follows.task,
                    parent.map(|p| p.classes.clone()).unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

/// What the tasks and the router learned, for the stages after them.
struct Learned {
    prepared: Vec<PreparedTask>,
    results: Vec<TaskResult>,
    encoded: Vec<Encoded>,
    router: Option<(TaskResult, router::RouterData)>,
}

/// Task `i`: encode, then search, train and ablations (or read them from an earlier
/// invocation), then the sample and heat-map sheets.
fn task_stage(
    cx: &RunContext,
    net: &mut SuperNet,
    i: usize,
    task: &PreparedTask,
    reporter: &mut dyn Reporter,
) -> Result<(TaskResult, Encoded)> {
    reporter.stage(&format!(
        "task {} of {}: {}",
        i + 1,
        cx.order.len(),
        task.name
    ));
    let mut encoded = encode_task(cx.e, cx.enc, task, reporter)?;
    let task_dir = cx.dir.join("tasks").join(&task.name);
    let after = network_after(cx.dir, &task.name);
    let result_file = task_dir.join("result.json");
    let result = if after.exists() && result_file.exists() {
        *net = load_network(&after)?;
        let result: TaskResult = read_json(&result_file)?;
        reporter.stage(&format!(
            "  [{}] done in an earlier invocation: test accuracy {:.4}",
            task.name, result.test.accuracy
        ));
        result
    } else {
        let result = learn_planned(cx.e, net, i, task, &mut encoded, &task_dir, reporter)?;
        save_network(&after, net)?;
        result
    };
    if task.folds > 0 {
        let cv: crate::crossval::CrossValidation =
            read_json(&task_dir.join("kfold").join("kfold.json"))?;
        encoded.test_rows = cv.rows;
        encoded.answered_rows = cv.answered_rows;
    }
    outputs::write_test_answers(task, &encoded.answered_rows, &result, &task_dir)?;
    sheets::sample_sheet(
        task,
        &encoded.test_rows,
        &result,
        cx.e.evaluation.samples,
        &task_dir.join("samples.png"),
    )?;
    sheets::heatmap_sheet(cx.enc, net, task, &result, &encoded, &task_dir, 1)?;
    Ok((result, encoded))
}

/// No forgetting: every task's validation outputs on the final network equal those it had
/// when it finished, bit for bit; otherwise the run fails.
fn check_no_forgetting(
    net: &SuperNet,
    learned: &Learned,
    order: &[String],
    reporter: &mut dyn Reporter,
) -> Result<()> {
    for (result, encoded) in learned.results.iter().zip(&learned.encoded) {
        let head = net.head_index(&result.name).ok_or_else(|| {
            Error::Forgetting(format!("the readout of `{}` is gone", result.name))
        })?;
        let now = evaluate_on(
            net,
            head,
            &result.path,
            &encoded.split.val,
            &encoded.split.view_rule,
        )?;
        if now != result.val_probs {
            let changed = now
                .iter()
                .zip(&result.val_probs)
                .filter(|(a, b)| a != b)
                .count();
            return Err(Error::Forgetting(format!(
                "task `{}`: {changed} validation outputs changed after later tasks trained",
                result.name
            )));
        }
    }
    reporter.stage(&format!(
        "no forgetting: the validation outputs of {} are unchanged on the final network",
        order.join(", ")
    ));
    Ok(())
}
