//! The router: which task an input belongs to, learned as one more task of the network on
//! every task's inputs at the router's size.

use medpath_metrics::OperatingTarget;
use medpath_pathnet::SuperNet;
use medpath_split::Role;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{ROUTER, RunContext, load_network, network_after, save_network};
use crate::config::{Experiment, ReadoutKind};
use medpath_infer::encoder::{Encoding, no_augmentation};

use crate::encoding::picture_features_into;
use crate::error::Result;
use crate::pictures::PictureOf;
use crate::tasks::{Input, PreparedTask};
use medpath_learn::{EvalSet, Split};
use medpath_learn::{TaskPlan, TaskResult, learn_task};
use medpath_runkit::Reporter;
use medpath_runkit::read_json;

/// The router's data: every task's inputs at the router's size, labelled with the task index.
pub(super) struct RouterData {
    pub(super) split: Split,
    /// (task index, example index) of each training row.
    pub(super) train_rows: Vec<(usize, usize)>,
    /// (task index, example index) of each test row.
    pub(super) test_rows: Vec<(usize, usize)>,
}

/// The examples of task `t` that the router learns and is tested on (a seeded sample of
/// training and validation examples, every scored test example), with their roles. Beats that
/// get no answer (a flat or clipped signal) are left out.
pub(crate) fn router_choice(e: &Experiment, t: usize, task: &PreparedTask) -> Vec<(Role, usize)> {
    let mut rng = ChaCha8Rng::seed_from_u64(e.seed + 77 + t as u64);
    let mut chosen = Vec::new();
    for (role, cap) in [
        (Role::Train, e.router.max_per_task),
        (Role::Val, (e.router.max_per_task / 4).max(1)),
        (Role::Test, usize::MAX),
    ] {
        let mut ids = match role {
            Role::Test => task.scored_with_role(role),
            _ => task.with_role(role),
        };
        ids.retain(|&i| task.examples[i].rejected.is_none());
        ids.shuffle(&mut rng);
        ids.truncate(cap);
        ids.sort_unstable();
        chosen.extend(ids.into_iter().map(|i| (role, i)));
    }
    chosen
}

/// The router's pictures of the chosen examples: each one's own picture.
pub(crate) fn router_pictures<'a>(
    task: &'a PreparedTask,
    chosen: &[(Role, usize)],
) -> Vec<(&'a Input, PictureOf)> {
    chosen
        .iter()
        .map(|&(_, i)| (&task.examples[i].input, PictureOf::Own))
        .collect()
}

/// Encodes the chosen examples of every task at the router's size into the router's split.
fn router_data(
    e: &Experiment,
    enc: &Encoding,
    tasks: &[PreparedTask],
    reporter: &mut dyn Reporter,
) -> Result<RouterData> {
    let size = e.router.size;
    let make = || enc.task_set(size, e.side_width(), false);
    let (mut train, mut val, mut test) = (make()?, make()?, make()?);
    let (mut train_rows, mut test_rows) = (Vec::new(), Vec::new());
    // Each training row's group (its task's record or patient), numbered across tasks.
    let mut groups: std::collections::BTreeMap<(usize, String), usize> = Default::default();
    let mut train_groups = Vec::new();
    for (t, task) in tasks.iter().enumerate() {
        let chosen = router_choice(e, t, task);
        let pictures = router_pictures(task, &chosen);
        let label = format!("router encode {}", task.name);
        let total = pictures.len();
        // Unreadable inputs are left out (the task's own encoding has reported them).
        picture_features_into(
            enc,
            task,
            &pictures,
            size,
            no_augmentation(),
            &mut |k, values| {
                let (role, i) = chosen[k];
                let set = match role {
                    Role::Train => {
                        let next = groups.len();
                        let key = (t, task.examples[i].group.clone());
                        train_groups.push(*groups.entry(key).or_insert(next));
                        train_rows.push((t, i));
                        &mut train
                    }
                    Role::Val => &mut val,
                    Role::Test => {
                        test_rows.push((t, i));
                        &mut test
                    }
                };
                Ok(set.push_chw(&values, t)?)
            },
            &mut |done| reporter.progress(&label, done, total),
        )?;
        reporter.progress(&label, total, total);
    }
    let split = Split {
        train,
        train_groups,
        val: EvalSet::plain(val),
        test: EvalSet::plain(test),
        view_rule: medpath_readout::ViewRule::Mean,
    };
    Ok(RouterData {
        split,
        train_rows,
        test_rows,
    })
}

/// The router: one more task of the same network, classes = task names (or read from an
/// earlier invocation). With one task there is nothing to route.
pub(super) fn router_stage(
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
            classes: &cx.routed,
            protocol: "every task's own test inputs, labelled with their task",
            tournaments: cx.e.router.tournaments,
            seed: cx.e.seed + 999_000,
            ablations: false,
            pooled: None,
            target: OperatingTarget::Argmax,
            positive: None,
            readout: ReadoutKind::Path,
            ensemble: 1,
            smoothing: None,
        };
        let result = learn_task(
            &cx.e.learn_settings(),
            net,
            &plan,
            &routed.split,
            &router_dir,
            reporter,
        )?;
        save_network(&after_router, net)?;
        result
    };
    Ok(Some((result, routed)))
}
