//! `medpath run`: an experiment end to end in a run folder, resumable at every stage.
//!
//! Run folder layout: `experiment.json` (the resolved experiment), `prepared/<task>/` (prepared
//! examples, beat images), `tasks/<task>/` (search and training checkpoints, logs, figures,
//! `result.json`), `network/after_<task>.safetensors` (the super-network after each task),
//! `router/`, `metrics.json`, `bundle/` (the model for `predict`), `report.html`.

use std::collections::HashMap;
use std::path::{Path as FilePath, PathBuf};
use std::time::Instant;

use medpath_model::ViewRequest;
use medpath_pathnet::checkpoint;
use medpath_pathnet::{SuperNet, evaluate};
use medpath_plot::{Figure, PathMark, Tile, image_sheet, path_grid};
use medpath_split::Role;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::bundle::{Bundle, BundleTask};
use crate::config::{AugmentSet, Centre, Experiment, Readout, TaskSpec};
use crate::crossval::cross_validate;
use crate::dataset::{EncodedTask, SideScaling, prepared_roles};
use crate::decision::parse_target;
use crate::encoding::{Encoding, no_augmentation, single};
use crate::error::{Error, Result};
use crate::files::{read_json, write_json};
use crate::learn::{Split, TaskPlan, TaskResult, evaluate_views, learn_task, network_config};
use crate::novelty::{NoveltyModel, NoveltyReport};
use crate::ood::write_ood_set;
use crate::progress::Reporter;
use crate::tasks::{PreparedTask, TRAINING_SITE, prepare};
use crate::views::ViewRule;
use medpath_metrics::OperatingTarget;

/// Name of the router's readout and folder.
pub const ROUTER: &str = "router";

/// Features of a task with, for every row, the example it came from.
struct Encoded {
    split: Split,
    /// Example index of each test row.
    test_rows: Vec<usize>,
    /// Example index of each validation row.
    val_rows: Vec<usize>,
    /// How its side inputs are standardised.
    scaling: SideScaling,
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
    Ok(Encoded {
        split: assembled.split,
        test_rows: assembled.test_rows,
        val_rows: assembled.val_rows,
        scaling: assembled.scaling,
        all,
    })
}

/// The router's data: every task's inputs at the router's size, labelled with the task index.
struct RouterData {
    split: Split,
    /// (task index, example index) of each test row.
    test_rows: Vec<(usize, usize)>,
}

/// The examples of task `t` that the router learns and is tested on (a seeded sample of
/// training and validation examples, every test example), with their roles.
pub(crate) fn router_choice(e: &Experiment, t: usize, task: &PreparedTask) -> Vec<(Role, usize)> {
    let mut rng = ChaCha8Rng::seed_from_u64(e.seed + 77 + t as u64);
    let mut chosen = Vec::new();
    for (role, cap) in [
        (Role::Train, e.router.max_per_task),
        (Role::Val, (e.router.max_per_task / 4).max(1)),
        (Role::Test, usize::MAX),
    ] {
        let mut ids = task.with_role(role);
        ids.shuffle(&mut rng);
        ids.truncate(cap);
        ids.sort_unstable();
        chosen.extend(ids.into_iter().map(|i| (role, i)));
    }
    chosen
}

/// The router's pictures of the chosen examples.
pub(crate) fn router_requests(task: &PreparedTask, chosen: &[(Role, usize)]) -> Vec<ViewRequest> {
    chosen
        .iter()
        .map(|&(_, i)| ViewRequest {
            path: task.examples[i].path.clone(),
            view: 0,
        })
        .collect()
}

/// The run's encoder, keeping task features on disk in `dir/features` when the experiment says
/// so (`encoder.features = "disk"`).
fn run_encoding(e: &Experiment, dir: &FilePath, reporter: &mut dyn Reporter) -> Result<Encoding> {
    let mut enc = Encoding::load(&e.encoder, &mut |w| reporter.warn(&w))?;
    if e.encoder.features == "disk" {
        enc.keep_features_on_disk(&dir.join("features"))?;
    }
    Ok(enc)
}

fn router_data(
    e: &Experiment,
    enc: &Encoding,
    tasks: &[PreparedTask],
    reporter: &mut dyn Reporter,
) -> Result<RouterData> {
    let size = e.router.size;
    let mut split = Split::empty(|| enc.task_set(size, e.side_width(), false))?;
    let mut test_rows = Vec::new();
    for (t, task) in tasks.iter().enumerate() {
        let chosen = router_choice(e, t, task);
        let requests = router_requests(task, &chosen);
        let label = format!("router encode {}", task.name);
        let total = requests.len();
        // Unreadable inputs are left out (the task's own encoding has reported them).
        enc.features_into(
            &requests,
            size,
            no_augmentation(),
            &mut |k, values| {
                let (role, i) = chosen[k];
                let set = match role {
                    Role::Train => &mut split.train,
                    Role::Val => &mut split.val,
                    Role::Test => {
                        test_rows.push((t, i));
                        &mut split.test
                    }
                };
                Ok(set.push_chw(&values, t)?)
            },
            &mut |done| reporter.progress(&label, done, total),
        )?;
        reporter.progress(&label, total, total);
    }
    Ok(RouterData { split, test_rows })
}

/// Joint classification results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JointResult {
    /// Union of all tasks' classes (prefixed by the task where names collide).
    pub classes: Vec<String>,
    /// Fraction of test inputs routed to their own task.
    pub routing_accuracy: f64,
    /// Metrics over the union of classes.
    pub test: medpath_metrics::Metrics,
}

/// Class names of the joint problem.
pub fn joint_classes(tasks: &[(String, Vec<String>)]) -> Vec<String> {
    let all: Vec<&String> = tasks.iter().flat_map(|(_, c)| c).collect();
    tasks
        .iter()
        .flat_map(|(t, classes)| classes.iter().map(move |c| (t, c)))
        .map(|(t, c)| {
            if all.iter().filter(|x| **x == c).count() > 1 {
                format!("{t}/{c}")
            } else {
                c.clone()
            }
        })
        .collect()
}

fn load_network(path: &FilePath) -> Result<SuperNet> {
    Ok(checkpoint::load(path)?.net)
}

fn save_network(path: &FilePath, net: &SuperNet) -> Result<()> {
    Ok(checkpoint::save_weights(path, net)?)
}

/// Draws up to `per_class` right and wrong test inputs of each class with their predictions.
fn sample_sheet(
    task: &PreparedTask,
    test_rows: &[usize],
    result: &TaskResult,
    per_class: usize,
    out: &FilePath,
) -> Result<()> {
    let predicted = result.test_predictions();
    let mut tiles = Vec::new();
    for (c, class) in task.classes.iter().enumerate() {
        for correct in [true, false] {
            let rows = test_rows
                .iter()
                .enumerate()
                .filter(|(r, _)| result.test_truth[*r] == c && (predicted[*r] == c) == correct)
                .take(per_class);
            for (r, &example) in rows {
                let Ok((image, _)) = medpath_data::load_rgb(&task.examples[example].path) else {
                    continue;
                };
                tiles.push(Tile {
                    caption: format!("{class}>{}", task.classes[predicted[r]]),
                    image: crate::explain::raster_of(&image),
                    correct,
                });
            }
        }
    }
    image_sheet(
        &format!("{}: test inputs (true>predicted)", task.name),
        &tiles,
        (2 * per_class).max(4),
        96,
    )
    .save(out)?;
    Ok(())
}

/// The raw probabilities a finished task answers `set` with: its path's, or its boosted trees'
/// (read from the task's folder `task_dir`).
fn raw_answers(
    net: &SuperNet,
    result: &TaskResult,
    task_dir: &FilePath,
    set: &medpath_pathnet::FeatureSet,
) -> Result<Vec<f32>> {
    Ok(match result.readout {
        Readout::BoostedTrees => {
            let file = task_dir.join(crate::learn::boosted_file(&result.name));
            crate::boosted::BoostedReadout::load(&file)?.predict(set)?
        }
        Readout::Path => {
            let head = net
                .head_index(&result.name)
                .ok_or_else(|| Error::task(&result.name, "the network has no readout for it"))?;
            evaluate(net, head, &result.path, set)?.probs
        }
    })
}

/// Occlusion maps of up to `per_class` right and wrong answers of each class, on the task's
/// test set (validation for a cross-validated task, whose test answers came from the folds'
/// models), as one sheet: `task_dir/heatmaps.png`.
fn heatmap_sheet(
    enc: &Encoding,
    net: &SuperNet,
    task: &PreparedTask,
    result: &TaskResult,
    encoded: &Encoded,
    task_dir: &FilePath,
    per_class: usize,
) -> Result<()> {
    let (set, rows, which) = if task.folds == 0 {
        (&encoded.split.test, &encoded.test_rows, "test")
    } else {
        (&encoded.split.val, &encoded.val_rows, "validation")
    };
    let k = task.classes.len();
    let answered = result
        .decision
        .classes_of(&raw_answers(net, result, task_dir, set)?, k);
    let mut tiles = Vec::new();
    for c in 0..k {
        for correct in [true, false] {
            let chosen = (0..rows.len())
                .filter(|&r| set.labels[r] == c && (answered[r] == c) == correct)
                .take(per_class);
            for r in chosen {
                let path = &task.examples[rows[r]].path;
                let Ok((image, _)) = medpath_data::load_rgb(path) else {
                    continue;
                };
                let fitted = enc.preprocess(task.size).fit(&image);
                let class = answered[r];
                let side = set.side_of(r);
                let mut score = |batch: &[medpath_data::RgbImage]| -> Result<Vec<f32>> {
                    let mut occluded = Encoding::feature_set(task.size, set.side_width);
                    for values in enc.encode_images(batch, task.size)? {
                        occluded.push_with_side(&values, side, 0)?;
                    }
                    let raw = raw_answers(net, result, task_dir, &occluded)?;
                    Ok(result
                        .decision
                        .calibrated(&raw, k)
                        .chunks_exact(k)
                        .map(|p| p[class])
                        .collect())
                };
                let map = crate::explain::occlusion_map(&fitted, &mut score)?;
                let caption = format!("{}>{}", task.classes[c], task.classes[class]);
                tiles.push(Tile {
                    image: crate::explain::heat_overlay(&fitted, &map),
                    caption,
                    correct,
                });
            }
        }
    }
    image_sheet(
        &format!(
            "{}: occlusion maps on {which} inputs (true>answered)",
            task.name
        ),
        &tiles,
        (2 * per_class).max(4),
        128,
    )
    .save(&task_dir.join("heatmaps.png"))?;
    Ok(())
}

/// (task, example, route, route probabilities) of every test input of the joint test: as the
/// router routed them, or, with one task, every test input to its own task.
fn routed_rows(
    router: Option<&(TaskResult, RouterData)>,
    encoded_tasks: &[Encoded],
    tasks: usize,
) -> Vec<(usize, usize, usize, Vec<f32>)> {
    match router {
        Some((result, routed)) => {
            let routes = result.test_predictions();
            routed
                .test_rows
                .iter()
                .enumerate()
                .map(|(row, &(t, example))| {
                    (
                        t,
                        example,
                        routes[row],
                        result.test_probs[row * tasks..(row + 1) * tasks].to_vec(),
                    )
                })
                .collect()
        }
        None => encoded_tasks
            .iter()
            .enumerate()
            .flat_map(|(t, enc)| {
                enc.test_rows
                    .iter()
                    .map(move |&ex| (t, ex, t, vec![1.0f32; 1]))
            })
            .collect(),
    }
}

/// The joint answer and probabilities of an input routed to a task whose classes start at
/// `offset` of the joint classes, with route probability `weight`: the routed task answers with
/// its own decision; the joint probability of a class is the route probability times the task's
/// calibrated class probability (normalised over the joint classes).
fn joint_answer(
    decision: &crate::decision::Decision,
    task_probs: &[f32],
    (offset, weight): (usize, f32),
    total_joint: usize,
) -> (usize, Vec<f32>) {
    let k = task_probs.len();
    let answer = offset + decision.classes_of(task_probs, k)[0];
    let mut joint_probs = vec![0.0f32; total_joint];
    for (c, p) in decision.calibrated(task_probs, k).iter().enumerate() {
        joint_probs[offset + c] = p * weight;
    }
    let sum: f32 = joint_probs.iter().sum();
    for p in joint_probs.iter_mut() {
        *p /= sum.max(f32::MIN_POSITIVE);
    }
    (answer, joint_probs)
}

/// Where each task's classes start among the joint classes.
fn class_offsets(prepared: &[PreparedTask]) -> Vec<usize> {
    prepared
        .iter()
        .scan(0, |acc, t| {
            let start = *acc;
            *acc += t.classes.len();
            Some(start)
        })
        .collect()
}

/// Joint classification: each test input of every task is routed (by the router when there is
/// one), then classified on the routed task's path; a misrouted input is encoded at the other
/// task's size and runs through that task's path.
fn joint_test(cx: &RunContext<'_>, net: &SuperNet, learned: &Learned) -> Result<JointResult> {
    let (e, enc, dir) = (cx.e, cx.enc, cx.dir);
    let (prepared, results) = (&learned.prepared, &learned.results);
    let (encoded_tasks, router) = (&learned.encoded, learned.router.as_ref());
    let classes: Vec<(String, Vec<String>)> = prepared
        .iter()
        .map(|t| (t.name.clone(), t.classes.clone()))
        .collect();
    let joint_names = joint_classes(&classes);
    let offsets = class_offsets(prepared);
    let rows = routed_rows(router, encoded_tasks, prepared.len());
    let row_of: Vec<HashMap<usize, usize>> = encoded_tasks
        .iter()
        .map(|enc| {
            enc.test_rows
                .iter()
                .enumerate()
                .map(|(r, &ex)| (ex, r))
                .collect()
        })
        .collect();
    let total_joint = joint_names.len();
    let (mut truth, mut probs, mut answers) = (Vec::new(), Vec::new(), Vec::new());
    let mut routed_right = 0usize;
    for (t, example, route, route_p) in &rows {
        let (t, example, route) = (*t, *example, *route);
        let Some(&task_row) = row_of[t].get(&example) else {
            continue;
        };
        let task_probs: Vec<f32> = if route == t {
            routed_right += 1;
            let k = prepared[t].classes.len();
            results[t].test_probs[task_row * k..(task_row + 1) * k].to_vec()
        } else {
            let target = &prepared[route];
            let values = single(enc, prepared[t].examples[example].path.clone(), target.size)?;
            let mut set = Encoding::feature_set(target.size, net.config.side_width);
            set.push_chw(&values, 0)?;
            raw_answers(
                net,
                &results[route],
                &dir.join("tasks").join(&target.name),
                &set,
            )?
        };
        let weight = route_p.get(route).copied().unwrap_or(1.0);
        let (answer, joint_probs) = joint_answer(
            &results[route].decision,
            &task_probs,
            (offsets[route], weight),
            total_joint,
        );
        answers.push(answer);
        truth.push(offsets[t] + results[t].test_truth[task_row]);
        probs.extend(joint_probs);
    }
    let predicted = answers;
    Ok(JointResult {
        routing_accuracy: routed_right as f64 / rows.len().max(1) as f64,
        test: medpath_metrics::evaluate(
            &joint_names,
            &truth,
            &predicted,
            Some(&probs),
            e.evaluation.bootstrap,
            e.seed,
        ),
        classes: joint_names,
    })
}

/// The generated pictures of no task (written under `dir/ood`), encoded at `size`, with each
/// one's kind and whether it is blank.
fn encode_ood_set(
    e: &Experiment,
    enc: &Encoding,
    size: usize,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<(medpath_pathnet::FeatureSet, Vec<String>, Vec<bool>)> {
    let files = write_ood_set(&dir.join("ood"), e.seed)?;
    let requests: Vec<ViewRequest> = files
        .iter()
        .map(|p| ViewRequest {
            path: p.clone(),
            view: 0,
        })
        .collect();
    let total = requests.len();
    let (features, _) = enc.features(&requests, size, no_augmentation(), &mut |done| {
        reporter.progress("novelty: encode generated pictures", done, total)
    })?;
    let mut ood_set = Encoding::feature_set(size, e.side_width());
    let mut kinds = Vec::new();
    let mut ood_blank = Vec::new();
    for (values, file) in features.iter().zip(&files) {
        if let Some(values) = values {
            ood_set.push_chw(values, 0)?;
            ood_blank.push(crate::novelty::blank_file(file)?.is_some());
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            kinds.push(
                name.rsplit_once('_')
                    .map_or(name.clone(), |(k, _)| k.to_string()),
            );
        }
    }
    Ok((ood_set, kinds, ood_blank))
}

/// The pictures of the novelty stage's test inputs, in the order their scores come: by task,
/// then as the router's (or the one task's) test rows were encoded.
fn test_paths(
    prepared: &[PreparedTask],
    encoded_tasks: &[Encoded],
    routed: Option<&RouterData>,
) -> Vec<PathBuf> {
    match routed {
        Some(r) => (0..prepared.len())
            .flat_map(|t| {
                r.test_rows
                    .iter()
                    .filter(move |&&(task, _)| task == t)
                    .map(|&(task, i)| prepared[task].examples[i].path.clone())
            })
            .collect(),
        None => encoded_tasks[0]
            .test_rows
            .iter()
            .map(|&i| prepared[0].examples[i].path.clone())
            .collect(),
    }
}

/// Fits the rule that rejects inputs of no task on every task's training inputs at the
/// router's size (the task's own size for a one-task model), sets its threshold on validation
/// inputs, and measures it on the test inputs and on the generated out-of-distribution set.
/// The input side and the training, validation and test feature sets, one per task, that the
/// novelty rule is fitted and measured on: the router's features split by task, or with one
/// task (no router) that task's own.
fn novelty_inputs(
    cx: &RunContext<'_>,
    learned: &Learned,
) -> Result<(usize, [Vec<medpath_pathnet::FeatureSet>; 3])> {
    let routed = learned.router.as_ref().map(|(_, routed)| routed);
    let by_task = |set: &medpath_pathnet::FeatureSet, t: usize| {
        let rows: Vec<usize> = (0..set.len()).filter(|&i| set.labels[i] == t).collect();
        Ok(set.select(&rows)?)
    };
    Ok(match routed {
        Some(r) => {
            let each = |set| {
                (0..cx.order.len())
                    .map(|t| by_task(set, t))
                    .collect::<Result<_>>()
            };
            (
                cx.e.router.size,
                [
                    each(&r.split.train)?,
                    each(&r.split.val)?,
                    each(&r.split.test)?,
                ],
            )
        }
        None => {
            let split = &learned.encoded[0].split;
            (
                learned.prepared[0].size,
                [
                    vec![split.train.clone()],
                    vec![split.val.clone()],
                    vec![split.test.clone()],
                ],
            )
        }
    })
}

fn novelty_stage(
    cx: &RunContext<'_>,
    learned: &Learned,
    reporter: &mut dyn Reporter,
) -> Result<(NoveltyModel, NoveltyReport)> {
    let (e, order) = (cx.e, &cx.order);
    let (prepared, encoded_tasks) = (&learned.prepared, &learned.encoded);
    let routed = learned.router.as_ref().map(|(_, routed)| routed);
    let (size, [train, val, test]) = novelty_inputs(cx, learned)?;
    let (train_refs, val_refs): (Vec<_>, Vec<_>) = (train.iter().collect(), val.iter().collect());
    let model = NoveltyModel::fit(order, size, &train_refs, &val_refs, e.novelty.keep)?;
    let (ood_set, kinds, ood_blank) = encode_ood_set(e, cx.enc, size, cx.dir, reporter)?;
    let scores = |sets: &[medpath_pathnet::FeatureSet]| -> Result<Vec<f64>> {
        let mut all = Vec::new();
        for set in sets {
            all.extend(model.scores(set)?);
        }
        Ok(all)
    };
    // Both rules: a blank picture is rejected whatever its score (an infinite one here).
    let either = |scores: Vec<f64>, blank: &[bool]| -> Vec<f64> {
        scores
            .into_iter()
            .zip(blank)
            .map(|(s, &b)| if b { f64::INFINITY } else { s })
            .collect()
    };
    let test_scores = scores(&test)?;
    let test_blank = if test_scores.is_empty() {
        Vec::new()
    } else {
        test_paths(prepared, encoded_tasks, routed)
            .iter()
            .map(|p| Ok(crate::novelty::blank_file(p)?.is_some()))
            .collect::<Result<Vec<bool>>>()?
    };
    let ood_scores = either(model.scores(&ood_set)?, &ood_blank);
    let ood: Vec<(String, f64)> = kinds.into_iter().zip(ood_scores).collect();
    let report = crate::novelty::report(
        &model,
        &scores(&val)?,
        &either(test_scores, &test_blank),
        &ood,
    );
    reporter.stage(&format!(
        "novelty: threshold {:.1} keeps {:.1} % of validation and {} of test inputs; accepts {:.1} % of {} generated pictures of no task (AUROC against {} inputs {})",
        report.threshold,
        100.0 * report.val_kept,
        report
            .test_kept
            .map_or("n/a (no test inputs)".into(), |k| format!("{:.1} %", 100.0 * k)),
        100.0 * report.ood_false_accept,
        report.ood,
        report.auroc_inputs,
        report.auroc.map_or("n/a".into(), |a| format!("{a:.4}"))
    ));
    Ok((model, report))
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

/// The per-record table and folds of a cross-validated task, for `metrics.json`.
fn kfold_summary(dir: &FilePath, task: &str) -> serde_json::Value {
    let file = dir
        .join("tasks")
        .join(task)
        .join("kfold")
        .join("kfold.json");
    match read_json::<crate::crossval::CrossValidation>(&file) {
        Ok(cv) => serde_json::json!({
            "folds": cv.folds,
            "fold_records": cv.fold_records,
            "records": cv.records,
        }),
        Err(_) => serde_json::Value::Null,
    }
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
    if smoothing.is_some() {
        if let Some(x) = task.examples.iter().find(|x| x.seconds.is_none()) {
            return Err(Error::task(
                &task.name,
                format!(
                    "{}: no beat time, which smoothing needs (prepared by an older medpath: start a new run folder)",
                    x.path.display()
                ),
            ));
        }
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
    }
    learn_task(e, net, &plan, &encoded.split, task_dir, reporter)
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
    let i = order.iter().position(|t| t == task).ok_or_else(|| {
        Error::Config(format!(
            "no task `{task}` in the experiment (tasks: {})",
            order.join(", ")
        ))
    })?;
    let enc = run_encoding(e, dir, reporter)?;
    let prepared = prepare_task(e, dir, i, task, reporter)?;
    let mut net = match i {
        0 => SuperNet::new(network_config(e)?, e.seed)?,
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
        let (_, found) =
            crate::learn::search_phase(e, &mut net, &plan, &encoded.split, &task_dir, reporter)?;
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
    };
    let mut prepared = Vec::new();
    for (i, name) in cx.order.iter().enumerate() {
        prepared.push(prepare_task(e, dir, i, name, reporter)?);
    }
    let mut net = SuperNet::new(network_config(e)?, e.seed)?;
    let mut results = Vec::new();
    let mut encoded = Vec::new();
    for (i, task) in prepared.iter().enumerate() {
        let (result, task_encoded) = task_stage(&cx, &mut net, i, task, reporter)?;
        results.push(result);
        encoded.push(task_encoded);
    }
    let router = router_stage(&cx, &mut net, &prepared, reporter)?;
    let learned = Learned {
        prepared,
        results,
        encoded,
        router,
    };
    check_no_forgetting(&net, &learned, &cx.order, reporter)?;
    let novelty = if e.novelty.enabled {
        Some(novelty_stage(&cx, &learned, reporter)?)
    } else {
        None
    };
    let joint = joint_stage(&cx, &net, &learned, reporter)?;
    let metrics = metrics_json(&cx, &learned, &joint, novelty.as_ref().map(|(_, r)| r));
    write_json(&dir.join("metrics.json"), &metrics)?;
    bundle_stage(&cx, &net, &learned, novelty.as_ref().map(|(m, _)| m))?;
    crate::report::write_report(dir)?;
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        metrics,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What every stage of a run reads: the experiment, its encoder, the run folder, the task order.
struct RunContext<'a> {
    e: &'a Experiment,
    enc: &'a Encoding,
    dir: &'a FilePath,
    order: Vec<String>,
}

/// What the tasks and the router learned, for the stages after them.
struct Learned {
    prepared: Vec<PreparedTask>,
    results: Vec<TaskResult>,
    encoded: Vec<Encoded>,
    router: Option<(TaskResult, RouterData)>,
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
    }
    sample_sheet(
        task,
        &encoded.test_rows,
        &result,
        cx.e.evaluation.samples,
        &task_dir.join("samples.png"),
    )?;
    heatmap_sheet(cx.enc, net, task, &result, &encoded, &task_dir, 1)?;
    Ok((result, encoded))
}

/// The router: one more task of the same network, classes = task names (or read from an
/// earlier invocation). With one task there is nothing to route.
fn router_stage(
    cx: &RunContext,
    net: &mut SuperNet,
    prepared: &[PreparedTask],
    reporter: &mut dyn Reporter,
) -> Result<Option<(TaskResult, RouterData)>> {
    if prepared.len() < 2 {
        reporter.stage("one task: no router to train; the joint test equals the task's test");
        return Ok(None);
    }
    reporter.stage("router: which task does an input belong to");
    let routed = router_data(cx.e, cx.enc, prepared, reporter)?;
    let router_dir = cx.dir.join(ROUTER);
    let after_router = network_after(cx.dir, ROUTER);
    let result = if after_router.exists() && router_dir.join("result.json").exists() {
        *net = load_network(&after_router)?;
        read_json::<TaskResult>(&router_dir.join("result.json"))?
    } else {
        let plan = TaskPlan {
            name: ROUTER,
            classes: &cx.order,
            protocol: "every task's own test inputs, labelled with their task",
            tournaments: cx.e.router.tournaments,
            seed: cx.e.seed + 999_000,
            ablations: false,
            pooled: None,
            target: OperatingTarget::Argmax,
            positive: None,
            readout: Readout::Path,
            ensemble: 1,
            smoothing: None,
        };
        let result = learn_task(cx.e, net, &plan, &routed.split, &router_dir, reporter)?;
        save_network(&after_router, net)?;
        result
    };
    Ok(Some((result, routed)))
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
        let now = evaluate_views(
            net,
            head,
            &result.path,
            &encoded.split.val,
            &encoded.split.val_views,
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

/// The joint test (route, then classify) with its confusion matrix, and the figure of every
/// path.
fn joint_stage(
    cx: &RunContext,
    net: &SuperNet,
    learned: &Learned,
    reporter: &mut dyn Reporter,
) -> Result<JointResult> {
    let joint = joint_test(cx, net, learned)?;
    medpath_plot::confusion_heatmap("joint test", &joint.classes, &joint.test.confusion)
        .save(&cx.dir.join("joint_confusion.png"))?;
    reporter.stage(&format!(
        "joint test: routing accuracy {:.4}, accuracy {:.4}, macro recall {:.4} over {} classes",
        joint.routing_accuracy,
        joint.test.accuracy,
        joint.test.recall_macro,
        joint.classes.len()
    ));
    let marks: Vec<PathMark> = learned
        .results
        .iter()
        .chain(learned.router.as_ref().map(|(r, _)| r))
        .map(|r| PathMark {
            task: r.name.clone(),
            path: r.path.clone(),
        })
        .collect();
    path_grid(net.config.layers(), net.config.modules, &marks, &net.frozen)
        .save(&cx.dir.join("paths.png"))?;
    Ok(joint)
}

/// A calibration as `metrics.json` gives it (validation NLL only where it was measured).
fn calibration_json(c: &crate::decision::CalibrationReport, with_nll: bool) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "temperature": c.temperature,
        "test_ece": {"before": c.test_ece[0], "after": c.test_ece[1], "bins": crate::decision::CALIBRATION_BINS},
    });
    if with_nll {
        doc["val_nll"] = serde_json::json!({"before": c.val_nll[0], "after": c.val_nll[1]});
    }
    doc
}

/// One task's entry of `metrics.json`.
fn task_metrics(r: &TaskResult, p: &PreparedTask, dir: &FilePath) -> serde_json::Value {
    serde_json::json!({
        "classes": r.classes,
        "protocol": r.protocol,
        "examples": p.counts(),
        "test": r.test,
        "ablations": r.ablations,
        "path": r.path,
        "random_path": r.random_path,
        "search": {
            "tournaments": r.tournaments,
            "best_fitness": r.best_fitness,
            "steps": r.search_steps,
            "seconds": r.search_seconds,
            "steps_per_second": r.search_steps as f64 / r.search_seconds.max(1e-9),
        },
        "training": {"epochs": r.fit.log.len(), "best_epoch": r.fit.best_epoch, "steps": r.fit.steps},
        "budget_steps": r.budget_steps,
        "decision": r.decision,
        "calibration": r.calibration.as_ref().map(|c| calibration_json(c, true)),
        "operating_point": r.operating_point,
        "readout": r.readout,
        "answer": r.answer(),
        "members": r.members,
        "evolved_path": r.path_test.as_ref().unwrap_or(&r.test),
        "record_kfold": p.folds.gt(&0).then(|| kfold_summary(dir, &p.name)),
    })
}

/// `metrics.json`: every task, the router, the joint test, the no-forgetting check and the
/// novelty report.
fn metrics_json(
    cx: &RunContext,
    learned: &Learned,
    joint: &JointResult,
    novelty: Option<&NoveltyReport>,
) -> serde_json::Value {
    let tasks: serde_json::Map<String, serde_json::Value> = learned
        .results
        .iter()
        .zip(&learned.prepared)
        .map(|(r, p)| (r.name.clone(), task_metrics(r, p, cx.dir)))
        .collect();
    serde_json::json!({
        "experiment": cx.e.name,
        "encoder": cx.enc.reference,
        "tasks": tasks,
        "router": learned.router.as_ref().map(|(r, _)| serde_json::json!({
            "classes": cx.order,
            "test": r.test,
            "path": r.path,
            "calibration": r.calibration.as_ref().map(|c| calibration_json(c, false)),
        })),
        "joint": {"classes": joint.classes, "routing_accuracy": joint.routing_accuracy, "test": joint.test},
        "no_forgetting": {"checked": true, "tasks": cx.order},
        "novelty": novelty,
    })
}

/// A learned task as the bundle records it.
fn bundle_task(e: &Experiment, p: &PreparedTask, r: &TaskResult, encoded: &Encoded) -> BundleTask {
    let (ecg, centre) = match &e.tasks[&p.name] {
        TaskSpec::Ecg(t) => (Some(t), t.centre),
        TaskSpec::Images(t) => (None, t.centre),
    };
    BundleTask {
        name: p.name.clone(),
        kind: p.kind.clone(),
        classes: p.classes.clone(),
        path: r.path.clone(),
        size: p.size,
        protocol: p.protocol.clone(),
        beat_options: p.beat_options.clone(),
        side_inputs: ecg.map_or_else(Vec::new, |t| t.side_inputs.clone()),
        centre,
        centre_beats: ecg.map_or(0, |t| t.centre_beats),
        site_centre: match centre {
            Centre::Site => encoded
                .all
                .centres
                .get(TRAINING_SITE)
                .cloned()
                .unwrap_or_default(),
            Centre::None | Centre::Record => Vec::new(),
        },
        side_scaling: (!p.side_names.is_empty()).then(|| encoded.scaling.clone()),
        decision: r.decision.clone(),
        tta_views: p.tta_views,
        view_rule: p.view_rule.clone(),
        augment: p.augment,
        readout: r.readout,
        members: r.members.clone(),
        smoothing: ecg.and_then(|t| t.smooth.resolve(&p.classes).ok().flatten()),
    }
}

/// The model bundle: the network, every task and the router, boosted-tree readouts and the
/// novelty model.
fn bundle_stage(
    cx: &RunContext,
    net: &SuperNet,
    learned: &Learned,
    novelty: Option<&NoveltyModel>,
) -> Result<()> {
    let bundle = Bundle {
        format: crate::bundle::FORMAT.into(),
        experiment: cx.e.name.clone(),
        encoder: cx.enc.reference.clone(),
        tasks: learned
            .prepared
            .iter()
            .zip(&learned.results)
            .zip(&learned.encoded)
            .map(|((p, r), encoded)| bundle_task(cx.e, p, r, encoded))
            .collect(),
        router: learned.router.as_ref().map(|(r, _)| BundleTask {
            name: ROUTER.into(),
            kind: "router".into(),
            classes: cx.order.clone(),
            path: r.path.clone(),
            size: cx.e.router.size,
            protocol: r.protocol.clone(),
            beat_options: None,
            side_inputs: Vec::new(),
            side_scaling: None,
            decision: r.decision.clone(),
            tta_views: 1,
            view_rule: ViewRule::Mean,
            augment: AugmentSet::Paper,
            centre: Centre::None,
            centre_beats: 0,
            site_centre: Vec::new(),
            readout: Readout::Path,
            members: Vec::new(),
            smoothing: None,
        }),
    };
    let bundle_dir = cx.dir.join("bundle");
    bundle.save(&bundle_dir, net)?;
    for r in learned
        .results
        .iter()
        .filter(|r| r.readout == Readout::BoostedTrees)
    {
        let file = crate::learn::boosted_file(&r.name);
        let from = cx.dir.join("tasks").join(&r.name).join(&file);
        std::fs::copy(&from, bundle_dir.join(&file)).map_err(|err| Error::io(&from, err))?;
    }
    for r in &learned.results {
        for m in 1..=r.members.len() {
            let file = crate::ensemble::member_file(&r.name, m);
            let from = cx.dir.join("tasks").join(&r.name).join("members");
            let from = from.join(m.to_string()).join(&file);
            std::fs::copy(&from, bundle_dir.join(&file)).map_err(|err| Error::io(&from, err))?;
        }
    }
    if let Some(model) = novelty {
        model.save(&bundle_dir.join(crate::bundle::NOVELTY_FILE))?;
    }
    Ok(())
}
