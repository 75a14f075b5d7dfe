//! `medpath transfer`: what learning a task after the others buys. The task is learned again
//! from few training images per class, over several seeds, five ways: an evolved path in the
//! network that holds the earlier tasks (frozen, so the path may reuse their modules), an
//! evolved path in a fresh network, a random fixed path, a linear readout and boosted trees on
//! the same features. Validation and test images are the same for every draw.
//!
//! Everything goes under `RUN/transfer/`: one JSON file per draw (a rerun skips the finished
//! ones), `transfer.csv` (every draw), `transfer.json` (means and spreads) and
//! `transfer.png` / `.svg` (test accuracy against images per class).

use std::collections::BTreeMap;
use std::path::{Path as FilePath, PathBuf};

use medpath_learn::{LearnSettings, TaskResult, learn_task, network_config};
use medpath_metrics::Metrics;
use medpath_pathnet::SuperNet;
use medpath_plot::{Figure, LineChart, Series};
use medpath_runkit::{Reporter, read_json, write_atomic, write_json};
use serde::{Deserialize, Serialize};

use super::{
    claim_run_folder, load_network, network_after, prepare_task, run_encoding, task_index,
    task_plan,
};
use crate::config::Experiment;
use crate::dataset::{EncodedTask, prepared_roles};
use crate::error::{Error, Result};
use crate::tasks::PreparedTask;
use crate::tasks::images::keep_per_class;

/// What to measure: the task, the training images per class (`None`: all of them) and how
/// many seeded draws of each.
#[derive(Debug, Clone)]
pub struct TransferPlan {
    /// The task (a `[tasks.NAME]` after at least one other task in the order).
    pub task: String,
    /// Training images per class of each size measured; `None` is the whole training pool.
    pub per_class: Vec<Option<usize>>,
    /// Seeded draws per size.
    pub seeds: usize,
}

/// One way of learning the task, measured on one draw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MethodScore {
    /// `reuse` (evolved path beside the earlier tasks), `fresh` (evolved path in a fresh
    /// network), `random_path`, `linear_readout` or `boosted_trees`.
    pub method: String,
    /// Test accuracy.
    pub accuracy: f64,
    /// Test AUROC (macro over classes).
    pub auroc: Option<f64>,
    /// Gradient steps (path search included) until the validation accuracy first reached 95 %
    /// of its final value; none for methods whose training is not logged step by step.
    pub steps_to_95: Option<usize>,
}

/// One draw: its size, seed, training images and every method's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draw {
    /// Training images per class asked for (`None`: all).
    pub per_class: Option<usize>,
    /// The draw's seed.
    pub seed: usize,
    /// Training images drawn.
    pub train_images: usize,
    /// The evolved path that reused the earlier tasks' network, and whether it uses any of
    /// their frozen modules.
    pub reuses_frozen: bool,
    /// Every method's scores.
    pub scores: Vec<MethodScore>,
}

/// The gradient steps until the validation accuracy first reached 95 % of its final value,
/// along one curve: the population's best fitness after each tournament of the search (each
/// tournament trains two paths for `steps` steps), then the trained path's validation accuracy
/// after each epoch; the final value is that of the kept epoch.
fn steps_to_95(result: &TaskResult, steps: usize) -> Option<usize> {
    let fit = &result.fit;
    let last = fit
        .log
        .iter()
        .find(|r| r.epoch == fit.best_epoch)
        .or(fit.log.last())?;
    let search = result
        .search_best
        .iter()
        .enumerate()
        .map(|(t, &best)| (2 * steps * (t + 1), best));
    let training = fit
        .log
        .iter()
        .map(|r| (result.search_steps + r.steps, r.val_accuracy));
    search
        .chain(training)
        .find(|&(_, value)| value >= 0.95 * last.val_accuracy)
        .map(|(at, _)| at)
}

/// A method's scores from its test metrics.
fn score(method: &str, test: &Metrics, steps: Option<usize>) -> MethodScore {
    MethodScore {
        method: method.to_string(),
        accuracy: test.accuracy,
        auroc: test.auroc_macro,
        steps_to_95: steps,
    }
}

/// The task's index in the order and the network as it was before it.
fn network_before(e: &Experiment, dir: &FilePath, task: &str) -> Result<(usize, SuperNet)> {
    let order = e.task_order();
    let i = task_index(e, task)?;
    if i == 0 {
        return Err(Error::Config(format!(
            "task `{task}` is learned first: there are no earlier tasks whose modules it could reuse"
        )));
    }
    let previous = network_after(dir, &order[i - 1]);
    if !previous.exists() {
        return Err(Error::run(
            dir,
            format!(
                "`{}` (learned before `{task}`) is not finished here: run the experiment first",
                order[i - 1]
            ),
        ));
    }
    Ok((i, load_network(&previous)?))
}

/// The folder name of a draw.
fn draw_name(per_class: Option<usize>, seed: usize) -> String {
    match per_class {
        Some(n) => format!("{n}_per_class_seed{seed}"),
        None => format!("all_seed{seed}"),
    }
}

/// Everything one draw needs besides its size and seed.
struct DrawContext<'a> {
    e: &'a Experiment,
    settings: LearnSettings,
    i: usize,
    task: &'a PreparedTask,
    encoded: &'a EncodedTask,
    before: &'a SuperNet,
    dir: PathBuf,
}

/// Learns the task every way on one draw of its training pool.
fn measure_draw(
    cx: &DrawContext<'_>,
    per_class: Option<usize>,
    seed: usize,
    reporter: &mut dyn Reporter,
) -> Result<Draw> {
    let mut task = cx.task.clone();
    if let Some(n) = per_class {
        keep_per_class(&mut task.examples, n, 7919 * seed as u64 + 1);
    }
    let assembled = cx
        .encoded
        .assemble(&task, &prepared_roles(&task), cx.e.side_width())?;
    let split = assembled.split;
    let mut plan = task_plan(cx.e, cx.i, &task)?;
    plan.seed += 100 * seed as u64;
    plan.ensemble = 1;
    plan.readout = medpath_readout::ReadoutKind::Path;
    let dir = cx.dir.join(draw_name(per_class, seed));
    let mut net = cx.before.clone();
    let reused = learn_task(
        &cx.settings,
        &mut net,
        &plan,
        &split,
        &dir.join("reuse"),
        reporter,
    )?;
    let frozen_used = reused
        .path
        .iter()
        .enumerate()
        .any(|(layer, modules)| modules.iter().any(|&m| cx.before.frozen[layer][m]));
    let mut fresh_net = SuperNet::new(network_config(&cx.settings), cx.e.seed + seed as u64)?;
    plan.ablations = false;
    let fresh = learn_task(
        &cx.settings,
        &mut fresh_net,
        &plan,
        &split,
        &dir.join("fresh"),
        reporter,
    )?;
    let mut scores = vec![
        score(
            "reuse",
            &reused.test,
            steps_to_95(&reused, cx.e.search.steps),
        ),
        score("fresh", &fresh.test, steps_to_95(&fresh, cx.e.search.steps)),
    ];
    for (name, metrics) in &reused.ablations {
        scores.push(score(name, metrics, None));
    }
    Ok(Draw {
        per_class,
        seed,
        train_images: task
            .examples
            .iter()
            .filter(|x| x.role == medpath_split::Role::Train && x.trains && x.scored)
            .count(),
        reuses_frozen: frozen_used,
        scores,
    })
}

/// Runs (or resumes) the transfer measurement of `plan.task` in the run folder `dir`, whose
/// earlier tasks must be finished (`medpath run` first).
pub fn transfer(
    e: &Experiment,
    dir: &FilePath,
    plan: &TransferPlan,
    reporter: &mut dyn Reporter,
) -> Result<Vec<Draw>> {
    claim_run_folder(e, dir, reporter)?;
    let (i, before) = network_before(e, dir, &plan.task)?;
    let enc = run_encoding(e, dir, reporter)?;
    let task = prepare_task(e, dir, i, &plan.task, reporter)?;
    let encoded = EncodedTask::encode(&enc, &task, reporter)?;
    let mut settings = e.learn_settings();
    settings.evaluation.boosted_trees = true;
    let cx = DrawContext {
        e,
        settings,
        i,
        task: &task,
        encoded: &encoded,
        before: &before,
        dir: dir.join("transfer"),
    };
    let mut draws = Vec::new();
    for &per_class in &plan.per_class {
        for seed in 0..plan.seeds {
            let file = cx.dir.join(format!("{}.json", draw_name(per_class, seed)));
            let draw = if file.exists() {
                read_json::<Draw>(&file)?
            } else {
                reporter.stage(&format!(
                    "transfer [{}]: {} per class, seed {seed}",
                    plan.task,
                    per_class.map_or("all".to_string(), |n| n.to_string())
                ));
                let draw = measure_draw(&cx, per_class, seed, reporter)?;
                write_json(&file, &draw)?;
                draw
            };
            draws.push(draw);
        }
    }
    write_summary(&cx.dir, &plan.task, &draws)?;
    if dir.join("metrics.json").exists() {
        medpath_report::write_report(dir)?;
    }
    Ok(draws)
}

/// Mean and standard deviation of `values` (none when empty).
fn mean_sd(values: &[f64]) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    Some((mean, var.sqrt()))
}

/// One row of the summary: a size and method over its seeds.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    /// Training images per class (`None`: all).
    pub per_class: Option<usize>,
    /// Mean training images over the draws.
    pub train_images: f64,
    /// The method.
    pub method: String,
    /// Draws.
    pub seeds: usize,
    /// Mean and standard deviation of test accuracy over the draws.
    pub accuracy: (f64, f64),
    /// Mean and standard deviation of test AUROC.
    pub auroc: Option<(f64, f64)>,
    /// Mean steps to 95 % of the best validation accuracy.
    pub steps_to_95: Option<f64>,
}

/// The summary rows of `draws`, by size then method.
pub fn summarise(draws: &[Draw]) -> Vec<SummaryRow> {
    // Sizes in increasing order, the whole pool last.
    let mut groups: BTreeMap<(usize, String), Vec<(&Draw, &MethodScore)>> = BTreeMap::new();
    for d in draws {
        for s in &d.scores {
            groups
                .entry((d.per_class.unwrap_or(usize::MAX), s.method.clone()))
                .or_default()
                .push((d, s));
        }
    }
    groups
        .into_iter()
        .map(|((size, method), rows)| {
            let per_class = (size != usize::MAX).then_some(size);
            let pick = |f: &dyn Fn(&MethodScore) -> Option<f64>| -> Vec<f64> {
                rows.iter().filter_map(|(_, s)| f(s)).collect()
            };
            let images: Vec<f64> = rows.iter().map(|(d, _)| d.train_images as f64).collect();
            SummaryRow {
                per_class,
                train_images: mean_sd(&images).map_or(0.0, |m| m.0),
                seeds: rows.len(),
                accuracy: mean_sd(&pick(&|s| Some(s.accuracy))).unwrap_or((0.0, 0.0)),
                auroc: mean_sd(&pick(&|s| s.auroc)),
                steps_to_95: mean_sd(&pick(&|s| s.steps_to_95.map(|v| v as f64))).map(|m| m.0),
                method,
            }
        })
        .collect()
}

/// Writes `transfer.csv`, `transfer.json` and the figure.
fn write_summary(dir: &FilePath, task: &str, draws: &[Draw]) -> Result<()> {
    let mut csv = String::from("per_class,seed,train_images,method,accuracy,auroc,steps_to_95\n");
    for d in draws {
        for s in &d.scores {
            csv.push_str(&format!(
                "{},{},{},{},{:.4},{},{}\n",
                d.per_class.map_or("all".to_string(), |n| n.to_string()),
                d.seed,
                d.train_images,
                s.method,
                s.accuracy,
                s.auroc.map_or(String::new(), |a| format!("{a:.4}")),
                s.steps_to_95.map_or(String::new(), |v| v.to_string())
            ));
        }
    }
    write_atomic(&dir.join("transfer.csv"), csv.as_bytes())?;
    let rows = summarise(draws);
    write_json(&dir.join("transfer.json"), &rows)?;
    let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in &rows {
        let x = r.train_images.max(1.0).log10();
        series
            .entry(r.method.clone())
            .or_default()
            .push((x, r.accuracy.0));
    }
    let chart = LineChart {
        title: format!("{task}: test accuracy, mean over seeds"),
        x_label: "training images (log10)".into(),
        y_label: "test accuracy".into(),
        series: series
            .into_iter()
            .map(|(name, mut points)| {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series { name, points }
            })
            .collect(),
        y_range: None,
    };
    chart.save(&dir.join("transfer.png"))?;
    Ok(())
}
