//! Learning one task on the shared super-network: search its path, re-initialise the free
//! modules, train the path with early stopping, freeze it, test it, and run the ablations with
//! the same step budget. Every step checkpoints under the task's folder, so a killed run resumes.

use std::collections::BTreeMap;
use std::path::Path as FilePath;

use medpath_metrics::Metrics;
use medpath_pathnet::{Path, SuperNet};
use medpath_plot::{Figure, confusion_heatmap};
use medpath_readout::{CalibrationReport, Decision, OperatingReport, ReadoutKind, boosted_file};
use medpath_runkit::{Reporter, write_json};

use crate::ablations::{AblationResults, ablations_of};
use crate::charts::write_calibration_figures;
use crate::error::Result;
use crate::measure::metrics_decided;
use crate::members::{Member, ensemble_probs, train_members};
use crate::phases::{search_phase, train_path};
use crate::plan::{Answers, TaskPlan};
use crate::result::TaskResult;
use crate::sets::{Split, evaluate_on};
use crate::settings::LearnSettings;
use crate::trees::train_and_predict;

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
    e: &LearnSettings,
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
    e: &LearnSettings,
    plan: &TaskPlan<'_>,
    data: &Split,
    (path_val, path_test): (&[f32], &[f32]),
    members: &[Member],
    dir: &FilePath,
) -> Result<Option<(Vec<f32>, Vec<f32>)>> {
    match plan.readout {
        ReadoutKind::Path if members.is_empty() => Ok(None),
        ReadoutKind::Path => Ok(Some(ensemble_probs((path_val, path_test), members))),
        ReadoutKind::BoostedTrees => {
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
    e: &LearnSettings,
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
        plan.readout.describe(plan.ensemble),
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

/// Probabilities (a row per input) with the inputs' true classes.
type Labelled<'a> = (&'a [f32], &'a [usize]);

/// The answer's calibration (where the test set has labels) and operating point, measured on
/// validation and test, with the reliability, ROC and confusion figures drawn into `dir`.
fn judge_answer(
    plan: &TaskPlan<'_>,
    decision: &Decision,
    (val, scored): (Labelled<'_>, Labelled<'_>),
    confusion: &[Vec<usize>],
    dir: &FilePath,
) -> Result<(Option<CalibrationReport>, Option<OperatingReport>)> {
    let k = plan.classes.len();
    let calibration =
        (!scored.1.is_empty()).then(|| CalibrationReport::measure(decision, k, val, scored));
    let operating_point = OperatingReport::measure(decision, plan.classes, val, scored);
    if let Some(report) = &calibration {
        write_calibration_figures(dir, plan, decision, scored, report)?;
    }
    confusion_heatmap(&format!("{}: test", plan.name), plan.classes, confusion)
        .save(&dir.join("confusion.png"))?;
    Ok((calibration, operating_point))
}

/// An ablation's name with its metrics, and its name with its probabilities.
fn split_ablation(
    (name, (metrics, probs)): (String, (Metrics, Vec<f32>)),
) -> ((String, Metrics), (String, Vec<f32>)) {
    ((name.clone(), metrics), (name, probs))
}

/// Learns one task on `net` (which must hold every earlier task, frozen), writing logs, figures
/// and checkpoints into `dir`; leaves the task's path frozen in `net`.
pub fn learn_task(
    e: &LearnSettings,
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
        ReadoutKind::Path => train_members(learn_task, e, &before, plan, data, dir, reporter)?,
        ReadoutKind::BoostedTrees => Vec::new(),
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
    let val = (answer_val.as_slice(), data.val.labels());
    let scored = (tested.probs.as_slice(), tested.truth.as_slice());
    let (calibration, operating_point) =
        judge_answer(plan, &decision, (val, scored), &tested.test.confusion, dir)?;
    let (ablations, ablation_probs) = tested.ablations.into_iter().map(split_ablation).unzip();
    let result = TaskResult {
        name: plan.name.to_string(),
        classes: plan.classes.to_vec(),
        protocol: plan.protocol.to_string(),
        path: found.best.clone(),
        best_fitness: found.best_fitness,
        tournaments: found.search.log.len(),
        search_steps: found.steps,
        search_best: found.search.log.iter().map(|r| r.best).collect(),
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
