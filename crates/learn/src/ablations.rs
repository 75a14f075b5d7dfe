//! The ablations of a task, each from the network as it was before the task with the evolved
//! path's step budget: a linear readout, a random fixed path and, when asked for,
//! gradient-boosted trees on the pooled features.

use std::collections::BTreeMap;
use std::path::Path as FilePath;

use medpath_metrics::Metrics;
use medpath_pathnet::{Examples, FitSettings, Learner, Path, Regularisation, SuperNet, fit};
use medpath_readout::ReadoutKind;
use medpath_runkit::Reporter;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::measure::metrics_decided;
use crate::phases::quiet;
use crate::plan::TaskPlan;
use crate::sets::{Split, evaluate_on};
use crate::settings::LearnSettings;
use crate::setup::{adam, regularisation, search_settings};
use crate::trees::train_and_predict;

/// Trains an ablation on a copy of the network as it was before the task, with a fixed step
/// budget, keeping the weights of its best validation epoch, and returns its raw probabilities
/// on every validation and test row.
fn ablation(
    e: &LearnSettings,
    before: &SuperNet,
    classes: &[String],
    data: &Split,
    budget: usize,
    run: Ablation<'_>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let Ablation {
        name,
        path,
        seed,
        checkpoint,
    } = run;
    let (name, checkpoint) = (name.as_str(), checkpoint.as_path());
    let mut net = before.clone();
    net.reinitialise_unfrozen(seed);
    let head = net.add_head(name, classes, path.is_empty(), seed + 1);
    let mut optimiser = adam(e, e.train.learning_rate, &net);
    let steps_per_epoch = data.train.len().div_ceil(e.train.batch.max(1)).max(1);
    let settings = FitSettings {
        epochs: budget.div_ceil(steps_per_epoch).max(1),
        batch: e.train.batch,
        patience: None,
        max_steps: Some(budget.max(1)),
        seed: seed + 2,
        regularisation: regularisation(e, &data.train, classes.len(), seed),
    };
    fit(
        Learner {
            net: &mut net,
            adam: &mut optimiser,
            head,
        },
        path,
        Examples {
            train: &data.train,
            val: data.val.fitness(),
        },
        &settings,
        Some(checkpoint),
        &mut quiet,
    )?;
    Ok((
        evaluate_on(&net, head, path, &data.val, &data.view_rule)?,
        evaluate_on(&net, head, path, &data.test, &data.view_rule)?,
    ))
}

/// One ablation: its readout's name, the fixed path it trains (empty: a linear readout on the
/// pooled features), its seed and its checkpoint file.
struct Ablation<'a> {
    name: String,
    path: &'a Path,
    seed: u64,
    checkpoint: std::path::PathBuf,
}

/// Test metrics and probabilities of each ablation, by name.
pub(crate) type AblationResults = BTreeMap<String, (Metrics, Vec<f32>)>;

/// The ablations of a task, each from the network as it was before the task with the evolved
/// path's step budget: a linear readout, a random fixed path and, when asked for,
/// gradient-boosted trees on the pooled features.
pub(crate) fn ablations_of(
    e: &LearnSettings,
    before: &SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    budget: usize,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<(AblationResults, Option<Path>)> {
    reporter.stage(&format!(
        "  [{}] ablations, {budget} steps each: linear readout, random fixed path{}",
        plan.name,
        if e.evaluation.boosted_trees && plan.readout != ReadoutKind::BoostedTrees {
            ", boosted trees"
        } else {
            ""
        }
    ));
    let mut ablations = BTreeMap::new();
    let linear = ablation(
        e,
        before,
        plan.classes,
        data,
        budget,
        Ablation {
            name: format!("{}/linear", plan.name),
            path: &Vec::new(),
            seed: plan.seed + 21,
            checkpoint: dir.join("ablation_linear.ckpt"),
        },
    )?;
    ablations.insert("linear_readout".to_string(), decided(e, plan, data, linear));
    let space = search_settings(e, plan.tournaments, plan.seed, Regularisation::default()).space;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed + 31);
    let random = space.random(&mut rng).layers;
    let metrics = ablation(
        e,
        before,
        plan.classes,
        data,
        budget,
        Ablation {
            name: format!("{}/random", plan.name),
            path: &random,
            seed: plan.seed + 32,
            checkpoint: dir.join("ablation_random.ckpt"),
        },
    )?;
    ablations.insert("random_path".to_string(), decided(e, plan, data, metrics));
    if e.evaluation.boosted_trees && plan.readout != ReadoutKind::BoostedTrees {
        let (_, val, test) = train_and_predict(e, plan.classes.len(), data, plan.seed, 1)?;
        ablations.insert(
            "boosted_trees".to_string(),
            decided(e, plan, data, (val, test)),
        );
    }
    Ok((ablations, Some(random)))
}

/// An ablation's test metrics, answered as the evolved path's are (read over each record, then
/// temperature and operating point fitted on its own validation answers), and its calibrated
/// probabilities on the scored test rows.
fn decided(
    e: &LearnSettings,
    plan: &TaskPlan<'_>,
    data: &Split,
    raw: (Vec<f32>, Vec<f32>),
) -> (Metrics, Vec<f32>) {
    let answers = plan.answers(data, raw);
    let decision = plan.decision(data, &answers);
    let metrics = metrics_decided(e, plan, data, &answers.test, &decision);
    (
        metrics,
        decision.calibrated(&answers.test, plan.classes.len()),
    )
}
