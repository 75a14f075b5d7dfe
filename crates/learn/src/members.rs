//! Ensembles of paths: a task's answer averaged over several paths. The evolved path of the
//! main network is the first member; each further member is the same task learned again (search,
//! then training) from the network as it was before the task, with its own seed, in its own
//! copy of the network. Cached features make a member cost one search and one training, no
//! encoding.

use std::path::Path as FilePath;

use medpath_pathnet::{Path, SuperNet, checkpoint};
use medpath_readout::{ReadoutKind, mean_probs, member_file};
use medpath_runkit::{Reporter, read_json};

use crate::error::Result;
use crate::plan::TaskPlan;
use crate::result::TaskResult;
use crate::sets::Split;
use crate::settings::LearnSettings;

/// Seed step between members, far from the offsets a task plan adds to its own seed.
const MEMBER_SEED_STEP: u64 = 10_007;

/// One further member of an ensemble.
pub struct Member {
    /// Its path in its own network.
    pub path: Path,
    /// Its network (the task's readout and path trained, everything else as before the task).
    pub net: SuperNet,
    /// Its raw probabilities on every validation row.
    pub val_probs: Vec<f32>,
    /// Its raw probabilities on every test row.
    pub test_probs: Vec<f32>,
}

/// How one task is learned on a network (the task module's `learn_task`, passed in so that the
/// members do not import the task that owns them).
pub type LearnOne = fn(
    &LearnSettings,
    &mut SuperNet,
    &TaskPlan<'_>,
    &Split,
    &FilePath,
    &mut dyn Reporter,
) -> Result<TaskResult>;

/// Learns members 1 .. `plan.ensemble` of the task from `before` (the network as it was before
/// the task) with `learn_task`, each in `dir/members/<m>/` with its own checkpoints; a member
/// finished in an earlier invocation is read back.
pub fn train_members(
    learn_task: LearnOne,
    e: &LearnSettings,
    before: &SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<Vec<Member>> {
    let mut members = Vec::new();
    for m in 1..plan.ensemble {
        let member_dir = dir.join("members").join(m.to_string());
        let network = member_dir.join(member_file(plan.name, m));
        let result_file = member_dir.join("result.json");
        reporter.stage(&format!(
            "  [{}] ensemble: path {} of {}",
            plan.name,
            m + 1,
            plan.ensemble
        ));
        let (net, result) = if network.exists() && result_file.exists() {
            let result: TaskResult = read_json(&result_file)?;
            (checkpoint::load(&network)?.net, result)
        } else {
            let mut net = before.clone();
            let member_plan = TaskPlan {
                seed: plan.seed + MEMBER_SEED_STEP * m as u64,
                ablations: false,
                pooled: plan.pooled.clone(),
                readout: ReadoutKind::Path,
                ensemble: 1,
                // Raw member probabilities: the ensemble's mean is smoothed, not each member.
                smoothing: None,
                ..*plan
            };
            let result = learn_task(e, &mut net, &member_plan, data, &member_dir, reporter)?;
            checkpoint::save_weights(&network, &net)?;
            (net, result)
        };
        members.push(Member {
            path: result.path,
            net,
            val_probs: result.val_probs,
            test_probs: result.test_raw,
        });
    }
    Ok(members)
}

/// Validation and test probabilities of the ensemble: the main path's and every member's,
/// averaged.
pub fn ensemble_probs((val, test): (&[f32], &[f32]), members: &[Member]) -> (Vec<f32>, Vec<f32>) {
    let val =
        mean_probs(std::iter::once(val).chain(members.iter().map(|m| m.val_probs.as_slice())));
    let test =
        mean_probs(std::iter::once(test).chain(members.iter().map(|m| m.test_probs.as_slice())));
    (val, test)
}
