//! Phase 2: training a fixed path (its readout and unfrozen modules) epoch by epoch, with early
//! stopping on validation loss; the weights of the best epoch are kept. Also used for the
//! ablations, with a step budget instead of early stopping.

use std::ops::ControlFlow;
use std::path::Path as FilePath;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Resumable;
use crate::error::{Error, Result};
use crate::network::{Path, SuperNet};
use crate::train::{Adam, Examples, Learner, Regularisation, Stepper, evaluate};

/// How long and how a path is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitSettings {
    /// Most epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Stop after this many epochs without a lower validation loss (`None`: never).
    pub patience: Option<usize>,
    /// Stop after this many gradient steps in all (`None`: no limit).
    pub max_steps: Option<usize>,
    /// Seed of the batch order.
    pub seed: u64,
    /// Dropout and class weights (the class weights also weigh the validation loss that early
    /// stopping watches).
    #[serde(default)]
    pub regularisation: Regularisation,
}

/// Loss and accuracy after one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Gradient steps so far.
    pub steps: usize,
    /// Mean minibatch loss during the epoch.
    pub train_loss: f64,
    /// Minibatch accuracy during the epoch (before each step).
    pub train_accuracy: f64,
    /// Validation loss after the epoch (class-weighted when training is).
    pub val_loss: f64,
    /// Validation accuracy after the epoch.
    pub val_accuracy: f64,
}

/// The result of phase 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitOutcome {
    /// One record per epoch run.
    pub log: Vec<EpochRecord>,
    /// Epoch whose weights were kept (lowest validation loss).
    pub best_epoch: usize,
    /// Gradient steps taken.
    pub steps: usize,
    /// Whether training ended by a stop rule (false when `progress` interrupted it).
    pub finished: bool,
}

#[derive(Serialize, Deserialize)]
struct FitState {
    settings: FitSettings,
    head: String,
    path: Path,
    outcome: FitOutcome,
    best_loss: f64,
}

/// Whether a stop rule ends training before `epoch`: the epoch budget, the step budget or
/// spent patience.
fn stop_before(settings: &FitSettings, outcome: &FitOutcome, epoch: usize) -> bool {
    let out_of_budget = settings.max_steps.is_some_and(|m| outcome.steps >= m);
    let patience_spent = settings
        .patience
        .is_some_and(|p| epoch > outcome.best_epoch + p && outcome.best_epoch > 0);
    epoch > settings.epochs || out_of_budget || patience_spent
}

/// One epoch of training along `path` and its validation score (a NaN or infinite validation
/// loss is [`Error::Diverged`]); the step count goes into `state`.
fn one_epoch(
    learner: Learner<'_>,
    path: &Path,
    data: Examples<'_>,
    settings: &FitSettings,
    state: &mut FitState,
) -> Result<EpochRecord> {
    let Learner { net, adam, head } = learner;
    let Examples { train, val } = data;
    let epoch = state.outcome.log.len() + 1;
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    rng.set_stream(epoch as u64);
    let mut stepper = Stepper::new(net, adam, head, path)?.regularised(&settings.regularisation);
    stepper.steps = state.outcome.steps;
    let (train_loss, train_accuracy, _) =
        stepper.epoch(train, settings.batch, settings.max_steps, &mut rng)?;
    state.outcome.steps = stepper.steps;
    let scored = evaluate(net, head, path, val)?;
    let val_loss = match settings.regularisation.class_weights.as_slice() {
        [] => scored.loss,
        weights => scored.weighted_loss(&val.labels, weights),
    };
    if !val_loss.is_finite() {
        return Err(Error::Diverged {
            task: state.head.clone(),
            step: state.outcome.steps,
            loss: val_loss as f32,
        });
    }
    Ok(EpochRecord {
        epoch,
        steps: state.outcome.steps,
        train_loss,
        train_accuracy,
        val_loss,
        val_accuracy: scored.accuracy,
    })
}

/// Trains the learner's readout along the fixed `path` on `data.train`, stopping early on
/// `data.val` (resuming from `checkpoint` when it exists), and leaves the network at its best
/// epoch's weights.
pub fn fit(
    learner: Learner<'_>,
    path: &Path,
    data: Examples<'_>,
    settings: &FitSettings,
    checkpoint: Option<&FilePath>,
    progress: &mut dyn FnMut(&EpochRecord) -> ControlFlow<()>,
) -> Result<FitOutcome> {
    let Learner { net, adam, head } = learner;
    let Examples { train, val } = data;
    net.check_examples(train, val, "training")?;
    net.check_path(path)?;
    let head_name = net.heads[head].name.clone();
    let mut state = FitState {
        settings: settings.clone(),
        head: head_name,
        path: path.clone(),
        outcome: FitOutcome {
            log: Vec::new(),
            best_epoch: 0,
            steps: 0,
            finished: false,
        },
        best_loss: f64::INFINITY,
    };
    let mut best = net.params.clone();
    let resumable = Resumable {
        file: checkpoint,
        what: "training",
    };
    let same_run =
        |s: &FitState| s.settings == *settings && s.path == *path && s.head == state.head;
    if let Some(mut resumed) = resumable.resume(same_run)? {
        best = resumable.extra(&mut resumed, "best")?;
        *net = resumed.net;
        *adam = resumed.adam;
        state = resumed.state;
    }
    let save = |net: &SuperNet, adam: &Adam, best: &[f32], state: &FitState| -> Result<()> {
        let extra = [("best".to_string(), best.to_vec())].into();
        resumable.save((net, adam), extra, state)
    };
    let mut interrupted = false;
    while !state.outcome.finished {
        let epoch = state.outcome.log.len() + 1;
        if stop_before(settings, &state.outcome, epoch) {
            state.outcome.finished = true;
            break;
        }
        let record = one_epoch(
            Learner { net, adam, head },
            path,
            Examples { train, val },
            settings,
            &mut state,
        )?;
        if record.val_loss < state.best_loss {
            state.best_loss = record.val_loss;
            state.outcome.best_epoch = epoch;
            best.clone_from(&net.params);
        }
        state.outcome.log.push(record.clone());
        save(net, adam, &best, &state)?;
        if progress(&record).is_break() {
            interrupted = true;
            break;
        }
    }
    if !interrupted {
        net.params.clone_from(&best);
        save(net, adam, &best, &state)?;
    }
    Ok(state.outcome)
}
