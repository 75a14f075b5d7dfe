//! Phase 1: evolutionary path search on the shared super-network. Each tournament trains both
//! candidates for T minibatches from the same weights snapshot (and the same batches), scores
//! them, and keeps the winner's weights; the population logic is `medpath-evolve`'s.

use std::ops::ControlFlow;
use std::path::Path as FilePath;
use std::time::Instant;

use medpath_evolve::{Genotype, Search, SearchConfig, SearchSpace, TournamentRecord};
use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Resumable;
use crate::error::{Error, Result};
use crate::features::FeatureSet;
use crate::network::{Path, SuperNet};
use crate::train::{Adam, Examples, Learner, Regularisation, Stepper, evaluate};

/// Which examples a candidate's fitness is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FitnessOn {
    /// Accuracy on the validation set (the paper's choice).
    Validation,
    /// Accuracy on the training set.
    Training,
}

/// What a candidate's fitness measures on the fitness set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FitnessMetric {
    /// Share of examples right (the paper's choice).
    #[default]
    Accuracy,
    /// Mean recall over classes: a rare class counts as much as a common one.
    MacroRecall,
}

/// Everything that decides a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSettings {
    /// Genotype shape, mutation and duplicate rules.
    pub space: SearchSpace,
    /// Population size and stop rules.
    pub config: SearchConfig,
    /// Minibatches each candidate trains per tournament (T).
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Seed of the population, batches and fitness subset.
    pub seed: u64,
    /// Fitness set.
    pub fitness: FitnessOn,
    /// Score fitness on at most this many examples (a fixed random subset), for speed.
    pub fitness_samples: Option<usize>,
    /// Save a checkpoint every this many tournaments.
    pub checkpoint_every: usize,
    /// What fitness measures.
    #[serde(default)]
    pub metric: FitnessMetric,
    /// Dropout and class weights while candidates train.
    #[serde(default)]
    pub regularisation: Regularisation,
}

impl SearchSettings {
    /// The published PathNet settings: P = 20, T = 50, batch 16, paper search space, fitness
    /// on validation, at most `tournaments` tournaments.
    pub fn paper(tournaments: usize, seed: u64) -> SearchSettings {
        SearchSettings {
            space: SearchSpace::paper(),
            config: SearchConfig {
                population: 20,
                max_tournaments: tournaments,
                threshold: Some(0.998),
            },
            steps: 50,
            batch: 16,
            seed,
            fitness: FitnessOn::Validation,
            fitness_samples: None,
            checkpoint_every: 1,
            metric: FitnessMetric::Accuracy,
            regularisation: Regularisation::default(),
        }
    }
}

/// The result of a search.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// Final population and the log of every tournament.
    pub search: Search,
    /// The fittest path.
    pub best: Path,
    /// Its fitness.
    pub best_fitness: f64,
    /// Gradient steps taken (both candidates of every tournament).
    pub steps: usize,
    /// Seconds spent searching, over all resumed parts.
    pub seconds: f64,
    /// Whether a stop rule was met (false when the progress callback stopped the search).
    pub finished: bool,
}

#[derive(Serialize, Deserialize)]
struct SearchState {
    settings: SearchSettings,
    head: String,
    search: Search,
    seconds: f64,
}

fn fitness_set(train: &FeatureSet, val: &FeatureSet, s: &SearchSettings) -> Result<FeatureSet> {
    let set = match s.fitness {
        FitnessOn::Validation => val,
        FitnessOn::Training => train,
    };
    match s.fitness_samples {
        Some(k) if k < set.len() => {
            let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ 0x5EED_F17E);
            let mut chosen = sample(&mut rng, set.len(), k).into_vec();
            chosen.sort_unstable();
            set.select(&chosen)
        }
        _ => Ok(set.clone()),
    }
}

/// Batches of tournament `t`: the same for both candidates, different per tournament.
fn batch_rng(seed: u64, tournament: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(tournament as u64 + 1);
    rng
}

/// Trains one candidate from the current weights on `data.train` and returns its fitness on
/// `data.val` (the fitness set).
fn train_candidate(
    net: &mut SuperNet,
    adam: &mut Adam,
    head: usize,
    genotype: &Genotype,
    data: Examples<'_>,
    s: &SearchSettings,
    tournament: usize,
) -> Result<f64> {
    let (train, scored) = (data.train, data.val);
    let mut rng = batch_rng(s.seed, tournament);
    let path = &genotype.layers;
    Stepper::new(net, adam, head, path)?
        .regularised(&s.regularisation)
        .run_random(train, s.steps, s.batch, &mut rng)?;
    let evaluation = evaluate(net, head, path, scored)?;
    Ok(match s.metric {
        FitnessMetric::Accuracy => evaluation.accuracy,
        FitnessMetric::MacroRecall => evaluation.macro_recall(&scored.labels),
    })
}

/// Trains both candidates of a tournament from the same weights and keeps the winner's
/// (shared modules trained by the loser are rolled back, as PathNet does); returns their fitness.
fn play_pair(
    learner: Learner<'_>,
    (a, b): (&Genotype, &Genotype),
    candidates: Examples<'_>,
    settings: &SearchSettings,
    tournament: usize,
) -> Result<(f64, f64)> {
    let Learner { net, adam, head } = learner;
    let snapshot = (net.params.clone(), adam.clone());
    let fa = train_candidate(net, adam, head, a, candidates, settings, tournament);
    let after_a = (net.params.clone(), adam.clone());
    net.params.clone_from(&snapshot.0);
    *adam = snapshot.1;
    let fb = train_candidate(net, adam, head, b, candidates, settings, tournament);
    let (fa, fb) = (fa?, fb?);
    if fa >= fb {
        net.params = after_a.0;
        *adam = after_a.1;
    }
    Ok((fa, fb))
}

/// Runs (or resumes from `checkpoint`) the path search for the learner's readout, training on
/// `data.train` and scoring fitness on `data.val` (or as `settings` say). `progress` sees every
/// tournament and may stop the search early (`ControlFlow::Break`); the checkpoint then holds
/// the last completed tournament.
pub fn evolve(
    learner: Learner<'_>,
    data: Examples<'_>,
    settings: &SearchSettings,
    checkpoint: Option<&FilePath>,
    progress: &mut dyn FnMut(&TournamentRecord) -> ControlFlow<()>,
) -> Result<SearchOutcome> {
    let Learner { net, adam, head } = learner;
    let Examples { train, val } = data;
    net.check_examples(train, val, "path search")?;
    let head_name = net.heads[head].name.clone();
    let mut search = Search::new(settings.space, settings.config, settings.seed);
    let mut seconds_before = 0.0;
    let resumable = Resumable {
        file: checkpoint,
        what: "search",
    };
    let same_run = |s: &SearchState| s.settings == *settings && s.head == head_name;
    if let Some(resumed) = resumable.resume(same_run)? {
        *net = resumed.net;
        *adam = resumed.adam;
        search = resumed.state.search;
        seconds_before = resumed.state.seconds;
    }
    let scored = fitness_set(train, val, settings)?;
    let save = |net: &SuperNet, adam: &Adam, search: &Search, seconds: f64| -> Result<()> {
        let state = SearchState {
            settings: settings.clone(),
            head: head_name.clone(),
            search: search.clone(),
            seconds,
        };
        resumable.save((net, adam), Default::default(), &state)
    };
    // Candidates train on the training set and are scored on the fitness set.
    let candidates = Examples {
        train,
        val: &scored,
    };
    let started = Instant::now();
    let mut stopped = false;
    while !search.finished() {
        let t = search.log.len();
        let mut failure = None;
        let record = search
            .tournament(&mut |a, b| {
                let learner = Learner { net, adam, head };
                play_pair(learner, (a, b), candidates, settings, t).unwrap_or_else(|e| {
                    failure = Some(e);
                    (f64::NAN, f64::NAN)
                })
            })
            .clone();
        if let Some(e) = failure {
            return Err(e);
        }
        let seconds = seconds_before + started.elapsed().as_secs_f64();
        let done = search.log.len();
        if done.is_multiple_of(settings.checkpoint_every.max(1)) || search.finished() {
            save(net, adam, &search, seconds)?;
        }
        if progress(&record).is_break() {
            stopped = !search.finished();
            save(net, adam, &search, seconds)?;
            break;
        }
    }
    let (best, best_fitness) = search
        .best()
        .map(|(g, f)| (g.layers.clone(), f))
        .ok_or_else(|| Error::Shape("the search ran no tournament".into()))?;
    Ok(SearchOutcome {
        steps: search.log.len() * 2 * settings.steps,
        best,
        best_fitness,
        seconds: seconds_before + started.elapsed().as_secs_f64(),
        finished: !stopped,
        search,
    })
}
