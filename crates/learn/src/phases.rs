//! The two phases of a task: the path search (phase 1) and the training of the found path
//! (phase 2), each resumable from its checkpoint in the task's folder.

use std::ops::ControlFlow;
use std::path::Path as FilePath;

use medpath_pathnet::{
    Examples, FitOutcome, FitSettings, Learner, Path, SearchOutcome, SuperNet, evolve, fit,
};
use medpath_runkit::Reporter;

use crate::charts::{write_fit_log, write_search_log};
use crate::error::Result;
use crate::plan::TaskPlan;
use crate::sets::Split;
use crate::settings::LearnSettings;
use crate::setup::{adam, regularisation, search_settings};

pub(crate) fn quiet<T>(_: &T) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Phase 1 of a task: adds its readout to `net` and searches its path (resuming from
/// `dir/search.ckpt`), writing the search log and fitness curve. Returns the readout index and
/// the outcome; `net` holds the weights the search left.
pub fn search_phase(
    e: &LearnSettings,
    net: &mut SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<(usize, SearchOutcome)> {
    let head = net.add_head(plan.name, plan.classes, false, plan.seed);
    let regularised = regularisation(e, &data.train, plan.classes.len(), plan.seed);
    let settings = search_settings(e, plan.tournaments, plan.seed, regularised);
    let mut optimiser = adam(e, e.search.learning_rate, net);
    reporter.stage(&format!(
        "  [{}] path search: population {}, up to {} tournaments of 2 x {} steps (batch {}); {} training views, {} validation",
        plan.name, settings.config.population, plan.tournaments, settings.steps, settings.batch, data.train.len(), data.val.fitness().len()
    ));
    let total = plan.tournaments;
    let label = format!("{} search", plan.name);
    let found = evolve(
        Learner {
            net,
            adam: &mut optimiser,
            head,
        },
        Examples {
            train: &data.train,
            val: data.val.fitness(),
        },
        &settings,
        Some(&dir.join("search.ckpt")),
        &mut |r| {
            reporter.progress(&label, r.tournament + 1, total);
            ControlFlow::Continue(())
        },
    )?;
    reporter.progress(&label, total, total);
    write_search_log(dir, &found.search.log, plan.name)?;
    reporter.stage(&format!(
        "  [{}] search: {} tournaments, best path {:?} (validation fitness {:.4}), {:.1} s, {:.0} steps/s",
        plan.name,
        found.search.log.len(),
        found.best,
        found.best_fitness,
        found.seconds,
        found.steps as f64 / found.seconds.max(1e-9)
    ));
    Ok((head, found))
}

/// Phase 2 of a task: re-initialises every module that is neither frozen nor on the found
/// path, trains the path with early stopping (resuming from `dir/fit.ckpt`), writes its logs
/// and freezes its modules.
pub(crate) fn train_path(
    e: &LearnSettings,
    net: &mut SuperNet,
    plan: &TaskPlan<'_>,
    data: &Split,
    (dir, head, best): (&FilePath, usize, &Path),
    reporter: &mut dyn Reporter,
) -> Result<FitOutcome> {
    let regularised = regularisation(e, &data.train, plan.classes.len(), plan.seed);
    net.reinitialise_except(best, plan.seed + 11);
    let mut optimiser = adam(e, e.train.learning_rate, net);
    let fit_settings = FitSettings {
        epochs: e.train.epochs,
        batch: e.train.batch,
        patience: Some(e.train.patience),
        max_steps: None,
        seed: plan.seed + 12,
        regularisation: regularised,
    };
    let label = format!("{} training", plan.name);
    let epochs = e.train.epochs;
    let outcome = fit(
        Learner {
            net,
            adam: &mut optimiser,
            head,
        },
        best,
        Examples {
            train: &data.train,
            val: data.val.fitness(),
        },
        &fit_settings,
        Some(&dir.join("fit.ckpt")),
        &mut |r| {
            reporter.progress(&label, r.epoch, epochs);
            ControlFlow::Continue(())
        },
    )?;
    reporter.progress(&label, epochs, epochs);
    write_fit_log(dir, &outcome.log, plan.name)?;
    net.freeze(best);
    Ok(outcome)
}
