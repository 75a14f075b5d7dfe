//! A follow-up task measured as a user meets it: each of its test inputs is routed (when there
//! is a router), answered by the task it follows, and asked the follow-up question only when
//! that answer is the class it follows, as `predict` does.

use serde::{Deserialize, Serialize};

use super::joint::misrouted_features;
use super::sheets::raw_answers;
use super::{Learned, ROUTER, RunContext};
use crate::config::TaskSpec;
use crate::error::Result;
use medpath_infer::encoder::Encoding;
use medpath_pathnet::SuperNet;
use medpath_runkit::Reporter;

/// A follow-up task's test inputs through the whole chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FollowUpChain {
    /// The follow-up task.
    pub task: String,
    /// The task it follows and the class it follows.
    pub follows: (String, String),
    /// Scored test inputs.
    pub inputs: usize,
    /// Share routed to the task it follows (1 without a router).
    pub routed: f64,
    /// Share that task answered with the class (so the follow-up was asked).
    pub asked: f64,
    /// Share asked and answered right by the follow-up task: what a user gets.
    pub accuracy: f64,
    /// The follow-up task's own test accuracy on every input (asked or not).
    pub task_accuracy: f64,
}

/// Task `name`'s index among the learned tasks.
fn index_of(learned: &Learned, name: &str) -> usize {
    learned
        .results
        .iter()
        .position(|r| r.name == name)
        .expect("a follow-up's task is checked to be learned before it")
}

/// The class task `t` answers for `values` (features at its size).
fn answer_of(
    cx: &RunContext<'_>,
    net: &SuperNet,
    learned: &Learned,
    t: usize,
    values: &[f32],
) -> Result<usize> {
    let result = &learned.results[t];
    let size = learned.prepared[t].size;
    let mut set = Encoding::feature_set(size, net.config.side_width);
    set.push_chw(values, 0)?;
    let dir = cx.dir.join("tasks").join(&result.name);
    let raw = raw_answers(net, result, &dir, &set)?;
    Ok(result.decision.classes_of(&raw, result.classes.len())[0])
}

/// The route the router gives `values` (features at the router's size).
fn route_of(
    cx: &RunContext<'_>,
    net: &SuperNet,
    learned: &Learned,
    values: &[f32],
) -> Result<Option<usize>> {
    let Some((router, _)) = &learned.router else {
        return Ok(None);
    };
    let mut set = Encoding::feature_set(cx.e.router.size, net.config.side_width);
    set.push_chw(values, 0)?;
    let raw = raw_answers(net, router, &cx.dir.join(ROUTER), &set)?;
    Ok(Some(
        router.decision.classes_of(&raw, router.classes.len())[0],
    ))
}

/// Every follow-up task's chain measurement.
pub(super) fn follow_up_chains(
    cx: &RunContext<'_>,
    net: &SuperNet,
    learned: &Learned,
    reporter: &mut dyn Reporter,
) -> Result<Vec<FollowUpChain>> {
    let mut chains = Vec::new();
    for (f, task) in learned.prepared.iter().enumerate() {
        let TaskSpec::Images(spec) = &cx.e.tasks[&task.name] else {
            continue;
        };
        let Some(follows) = &spec.follows else {
            continue;
        };
        let p = index_of(learned, &follows.task);
        let wanted = learned.prepared[p]
            .classes
            .iter()
            .position(|c| *c == follows.class)
            .expect("checked when the tasks were prepared");
        let result = &learned.results[f];
        let (predicted, truth) = (result.test_predictions(), &result.test_truth);
        let rows = &learned.encoded[f].test_rows;
        let (mut routed, mut asked, mut right) = (0usize, 0usize, 0usize);
        for (row, &example) in rows.iter().enumerate() {
            let at_router = misrouted_features(cx.enc, task, example, cx.e.router.size)?;
            if route_of(cx, net, learned, &at_router)?.is_some_and(|r| r != p) {
                continue;
            }
            routed += 1;
            let at_parent = misrouted_features(cx.enc, task, example, learned.prepared[p].size)?;
            if answer_of(cx, net, learned, p, &at_parent)? != wanted {
                continue;
            }
            asked += 1;
            right += usize::from(predicted[row] == truth[row]);
        }
        let n = rows.len().max(1) as f64;
        let chain = FollowUpChain {
            task: task.name.clone(),
            follows: (follows.task.clone(), follows.class.clone()),
            inputs: rows.len(),
            routed: routed as f64 / n,
            asked: asked as f64 / n,
            accuracy: right as f64 / n,
            task_accuracy: result.test.accuracy,
        };
        reporter.stage(&format!(
            "follow-up {}: of its {} test inputs, {:.1} % routed to {}, {:.1} % answered {} there and asked, {:.1} % asked and answered right (its own test accuracy {:.1} %)",
            chain.task,
            chain.inputs,
            100.0 * chain.routed,
            follows.task,
            100.0 * chain.asked,
            follows.class,
            100.0 * chain.accuracy,
            100.0 * chain.task_accuracy
        ));
        chains.push(chain);
    }
    Ok(chains)
}
