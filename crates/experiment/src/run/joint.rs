//! The joint test: every task's test inputs routed (by the router when there is one), then
//! answered by the routed task; a misrouted input is encoded at the other task's size and runs
//! through that task's answer.

use std::collections::HashMap;

use medpath_pathnet::SuperNet;
use medpath_plot::{Figure, PathMark, path_grid};
use serde::{Deserialize, Serialize};

use super::router::RouterData;
use super::sheets::raw_answers;
use super::{Encoded, Learned, RunContext};
use medpath_infer::encoder::{Encoding, no_augmentation};

use crate::encoding::picture_features;
use crate::error::{Error, Result};
use crate::pictures::PictureOf;
use crate::tasks::PreparedTask;
use medpath_learn::TaskResult;
use medpath_runkit::Reporter;

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
    decision: &medpath_readout::Decision,
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
/// Features of `task`'s example `example` at another task's input size `size`.
pub(super) fn misrouted_features(
    enc: &Encoding,
    task: &PreparedTask,
    example: usize,
    size: usize,
) -> Result<Vec<f32>> {
    let input = &task.examples[example].input;
    let (mut values, failed) = picture_features(
        enc,
        task,
        &[(input, PictureOf::Own)],
        size,
        no_augmentation(),
        &mut |_| {},
    )?;
    values
        .pop()
        .flatten()
        .ok_or_else(|| Error::task(&task.name, failed.join("; ")))
}

fn joint_test(cx: &RunContext<'_>, net: &SuperNet, learned: &Learned) -> Result<JointResult> {
    let (e, enc, dir) = (cx.e, cx.enc, cx.dir);
    // Follow-up tasks are asked only after their task's answer: the joint test routes between
    // the others.
    let routed = cx.routed.len();
    let (prepared, results) = (&learned.prepared[..routed], &learned.results[..routed]);
    let (encoded_tasks, router) = (&learned.encoded[..routed], learned.router.as_ref());
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
            let values = misrouted_features(enc, &prepared[t], example, target.size)?;
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

/// The joint test (route, then classify) with its confusion matrix, and the figure of every
/// path.
pub(super) fn joint_stage(
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
