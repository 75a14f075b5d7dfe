//! What a run leaves for its users: `metrics.json`, each task's answers on every test input
//! (`test_answers.csv`), and the model bundle.

use std::fmt::Write as _;
use std::path::Path as FilePath;

use medpath_pathnet::SuperNet;

use super::joint::JointResult;
use super::{Encoded, Learned, ROUTER, RunContext};
use crate::config::{AugmentSet, Centre, Experiment, ReadoutKind, TaskSpec};
use crate::error::{Error, Result};
use crate::tasks::{Input, PreparedTask, TRAINING_SITE};
use medpath_infer::bundle::{Bundle, BundleTask};
use medpath_infer::novelty::{NoveltyModel, NoveltyReport};
use medpath_learn::TaskResult;
use medpath_readout::ViewRule;
use medpath_runkit::{read_json, write_atomic};

/// Writes `task_dir/test_answers.csv`: the task's answer on every test input (for an ECG task
/// under a whole-record protocol, every beat of each test record, as `predict` answers it):
/// input, record, sample, annotation, whether it is scored, answered class and its calibrated
/// probability, or why it got no answer.
pub(super) fn write_test_answers(
    task: &PreparedTask,
    answered_rows: &[usize],
    result: &TaskResult,
    task_dir: &FilePath,
) -> Result<()> {
    let k = task.classes.len();
    if result.test_answers.len() != answered_rows.len() * k {
        return Ok(());
    }
    let classes = result.decision.classes_of(&result.test_answers, k);
    let calibrated = result.decision.calibrated(&result.test_answers, k);
    let mut csv =
        String::from("input,record,sample,annotation,scored,class,probability,rejected\n");
    for (row, &i) in answered_rows.iter().enumerate() {
        let example = &task.examples[i];
        let (input, record, sample) = match &example.input {
            Input::File(path) => (path.display().to_string(), String::new(), String::new()),
            Input::Beat { sample, .. } => {
                (String::new(), example.group.clone(), sample.to_string())
            }
        };
        let (class, probability) = match &example.rejected {
            Some(_) => (String::new(), String::new()),
            None => {
                let c = classes[row];
                (
                    task.classes[c].clone(),
                    format!("{:.6}", calibrated[row * k + c]),
                )
            }
        };
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{}",
            csv_field(&input),
            csv_field(&record),
            sample,
            csv_field(example.symbol.as_deref().unwrap_or("")),
            example.scored,
            csv_field(&class),
            probability,
            csv_field(example.rejected.as_deref().unwrap_or("")),
        );
    }
    Ok(write_atomic(
        &task_dir.join("test_answers.csv"),
        csv.as_bytes(),
    )?)
}

/// Quotes a CSV field when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Where a cross-validated task's record k-fold summary is written.
fn kfold_file(dir: &FilePath, task: &str) -> std::path::PathBuf {
    dir.join("tasks")
        .join(task)
        .join("kfold")
        .join("kfold.json")
}

/// The per-record table and folds of a cross-validated task, for `metrics.json`.
fn kfold_summary(dir: &FilePath, task: &str) -> serde_json::Value {
    match read_json::<crate::crossval::CrossValidation>(&kfold_file(dir, task)) {
        Ok(cv) => serde_json::json!({
            "folds": cv.folds,
            "fold_records": cv.fold_records,
            "records": cv.records,
            "unseen_record_ece": {"before": cv.test_ece[0], "after": cv.test_ece[1]},
        }),
        Err(_) => serde_json::Value::Null,
    }
}

/// A calibration as `metrics.json` gives it (validation NLL only where it was measured).
fn calibration_json(c: &medpath_readout::CalibrationReport, with_nll: bool) -> serde_json::Value {
    let mut doc = serde_json::json!({
        "temperature": c.temperature,
        "test_ece": {"before": c.test_ece[0], "after": c.test_ece[1], "bins": medpath_readout::CALIBRATION_BINS},
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
        "aami": (p.kind == "ecg")
            .then(|| medpath_ecg::AamiView::from_confusion(&r.classes, &r.test.confusion))
            .flatten(),
        "whole_records": p.kind == "ecg" && p.examples.iter().any(|x| !x.scored),
        "validated_by_time": crate::tasks::ecg::validated_by_time(&p.examples),
        "rejected_beats": p.examples.iter().filter(|x| x.rejected.is_some()).count(),
    })
}

/// `metrics.json`: every task, the router, the joint test, the follow-up chains, the
/// no-forgetting check and the novelty report.
pub(super) fn metrics_json(
    cx: &RunContext,
    learned: &Learned,
    (joint, follow_ups): (&JointResult, &[super::FollowUpChain]),
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
            "classes": cx.routed,
            "test": r.test,
            "path": r.path,
            "calibration": r.calibration.as_ref().map(|c| calibration_json(c, false)),
        })),
        "joint": {"classes": joint.classes, "routing_accuracy": joint.routing_accuracy, "test": joint.test},
        "follow_ups": follow_ups,
        "no_forgetting": {"checked": true, "tasks": cx.order},
        "novelty": novelty,
    })
}

/// A learned task as the bundle records it.
fn bundle_task(
    (e, dir): (&Experiment, &FilePath),
    p: &PreparedTask,
    r: &TaskResult,
    encoded: &Encoded,
) -> BundleTask {
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
        pipeline: p.pipeline.clone(),
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
        unseen_ece: read_json::<crate::crossval::CrossValidation>(&kfold_file(dir, &p.name))
            .ok()
            .map(|cv| cv.test_ece[1]),
        follows: match &e.tasks[&p.name] {
            TaskSpec::Images(t) => t.follows.clone(),
            TaskSpec::Ecg(_) => None,
        },
    }
}

/// The model bundle: the network, every task and the router, boosted-tree readouts and the
/// novelty model.
pub(super) fn bundle_stage(
    cx: &RunContext,
    net: &SuperNet,
    learned: &Learned,
    novelty: Option<&NoveltyModel>,
) -> Result<()> {
    let bundle = Bundle {
        format: medpath_infer::bundle::FORMAT.into(),
        experiment: cx.e.name.clone(),
        encoder: cx.enc.reference.clone(),
        tasks: learned
            .prepared
            .iter()
            .zip(&learned.results)
            .zip(&learned.encoded)
            .map(|((p, r), encoded)| bundle_task((cx.e, cx.dir), p, r, encoded))
            .collect(),
        router: learned.router.as_ref().map(|(r, _)| BundleTask {
            name: ROUTER.into(),
            kind: "router".into(),
            classes: cx.routed.clone(),
            path: r.path.clone(),
            size: cx.e.router.size,
            protocol: r.protocol.clone(),
            pipeline: None,
            side_scaling: None,
            decision: r.decision.clone(),
            tta_views: 1,
            view_rule: ViewRule::Mean,
            augment: AugmentSet::Paper,
            centre: Centre::None,
            centre_beats: 0,
            site_centre: Vec::new(),
            readout: ReadoutKind::Path,
            members: Vec::new(),
            smoothing: None,
            unseen_ece: None,
            follows: None,
        }),
    };
    let bundle_dir = cx.dir.join("bundle");
    bundle.save(&bundle_dir, net)?;
    for r in learned
        .results
        .iter()
        .filter(|r| r.readout == ReadoutKind::BoostedTrees)
    {
        let file = medpath_readout::boosted_file(&r.name);
        let from = cx.dir.join("tasks").join(&r.name).join(&file);
        std::fs::copy(&from, bundle_dir.join(&file)).map_err(|err| Error::io(&from, err))?;
    }
    for r in &learned.results {
        for m in 1..=r.members.len() {
            let file = medpath_readout::member_file(&r.name, m);
            let from = cx.dir.join("tasks").join(&r.name).join("members");
            let from = from.join(m.to_string()).join(&file);
            std::fs::copy(&from, bundle_dir.join(&file)).map_err(|err| Error::io(&from, err))?;
        }
    }
    if let Some(model) = novelty {
        model.save(&bundle_dir.join(medpath_infer::bundle::NOVELTY_FILE))?;
    }
    Ok(())
}
