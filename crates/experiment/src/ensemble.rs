//! Ensembles of paths: a task's answer averaged over several paths. The evolved path of the
//! main network is the first member; each further member is the same task learned again (search,
//! then training) from the network as it was before the task, with its own seed, in its own
//! copy of the network. Cached features make a member cost one search and one training, no
//! encoding.

use std::path::Path as FilePath;

use medpath_pathnet::{Path, SuperNet, checkpoint};

use crate::config::Readout;
use crate::error::Result;
use crate::files::read_json;
use crate::learn::{TaskPlan, TaskResult, learn_task};
use crate::progress::Reporter;
use crate::sets::Split;

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

/// File of member `m` (from 1) of `task`: in the task's `members/` folder and in the bundle.
pub fn member_file(task: &str, m: usize) -> String {
    format!("member_{}_{m}.safetensors", task.replace('/', "_"))
}

/// Learns members 1 .. `plan.ensemble` of the task from `before` (the network as it was before
/// the task), each in `dir/members/<m>/` with its own checkpoints; a member finished in an earlier
/// invocation is read back.
pub fn train_members(
    e: &crate::config::Experiment,
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
                readout: Readout::Path,
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

/// The row-wise mean of probability tables of the same shape.
pub fn mean_probs<'a>(tables: impl IntoIterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    let mut count = 0usize;
    for table in tables {
        if sum.is_empty() {
            sum = vec![0.0; table.len()];
        }
        sum.iter_mut().zip(table).for_each(|(s, v)| *s += v);
        count += 1;
    }
    let n = count.max(1) as f32;
    sum.iter_mut().for_each(|s| *s /= n);
    sum
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_of_tables_is_taken_row_by_row() {
        let a = [0.2f32, 0.8, 1.0, 0.0];
        let b = [0.4f32, 0.6, 0.0, 1.0];
        let mean = mean_probs([&a[..], &b[..]]);
        for (m, expected) in mean.iter().zip([0.3f32, 0.7, 0.5, 0.5]) {
            assert!((m - expected).abs() < 1e-6, "{mean:?}");
        }
        assert_eq!(mean.len(), 4);
        assert_eq!(mean_probs([&a[..]]), a.to_vec());
    }
}
