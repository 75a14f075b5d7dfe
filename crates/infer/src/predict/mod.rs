//! `predict`: new inputs through a saved model. Images are routed to a task and classified on
//! its path; a WFDB record goes through the ECG task's record pipeline (the one its run was
//! trained and tested with: every beat at its annotations, or at R peaks found by the QRS
//! detector when it has none) and every beat is classified, the answers read over the whole
//! record as the run read them.
//!
//! - [`images`]: routing and answering images.
//! - [`record`]: answering every beat of a record, a chunk of beats at a time.
//! - [`heat`]: occlusion heat maps of answers.

mod heat;
mod images;
mod memo;
mod record;

use std::collections::BTreeMap;
use std::path::{Path as FilePath, PathBuf};

use medpath_data::AugmentConfig;
use medpath_data::folder::is_image_file;
use medpath_model::ViewRequest;
use medpath_pathnet::FeatureSet;
use medpath_wfdb::RecordPath;
use serde::Serialize;

use crate::bundle::{Bundle, BundleTask, LoadedBundle, NOVELTY_FILE};
use crate::encoder::{Encoding, no_augmentation};
use crate::error::{InferError as Error, Result};
use crate::novelty::{NoveltyModel, Rejection};
use medpath_readout::BoostedReadout;
use medpath_readout::mean_of;
use medpath_readout::{Centre, ReadoutKind};
use medpath_readout::{Ensemble, PathReadout, answer, boosted_file};

/// One classified input (an image, or one beat of a record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The image file or record.
    pub input: String,
    /// Beat position in samples (records only).
    pub sample: Option<i64>,
    /// The record's own annotation symbol of the beat (`Q` where beats were detected).
    pub annotation: Option<String>,
    /// The task that classified it (none when rejected).
    pub task: Option<String>,
    /// Its class (none when rejected).
    pub class: Option<String>,
    /// Calibrated probability of that class.
    pub probability: Option<f32>,
    /// The task the router chose (none when rejected).
    pub routed_task: Option<String>,
    /// The router's calibrated probability for it.
    pub routing_probability: Option<f32>,
    /// Why the input was not classified: it belongs to no task the model knows, or (a beat)
    /// its signal is flat or clipped.
    pub rejected: Option<Rejection>,
    /// The follow-up task's answer, where the answering task's class has one (the kind of a
    /// pneumonia, say).
    pub follow_up: Option<FollowUpAnswer>,
}

/// A follow-up task's answer on an input.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FollowUpAnswer {
    /// The follow-up task.
    pub task: String,
    /// Its class.
    pub class: String,
    /// Its calibrated probability.
    pub probability: f32,
}

impl Prediction {
    /// A rejected input.
    fn rejected(
        input: String,
        sample: Option<i64>,
        annotation: Option<String>,
        why: Rejection,
    ) -> Prediction {
        Prediction {
            input,
            sample,
            annotation,
            task: None,
            class: None,
            probability: None,
            routed_task: None,
            routing_probability: None,
            rejected: Some(why),
            follow_up: None,
        }
    }
}

/// Per-record summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordSummary {
    /// The record.
    pub record: String,
    /// Where beat positions came from (`annotations` or `qrs detector`).
    pub beats_from: String,
    /// Beats classified.
    pub beats: usize,
    /// Beats per predicted class.
    pub predicted: BTreeMap<String, usize>,
    /// Beats per annotation symbol and predicted class.
    pub by_annotation: BTreeMap<String, BTreeMap<String, usize>>,
    /// The classes the model can answer: a beat of any other kind (a normal beat of a model
    /// without `N`, say) is still given one of these.
    pub model_classes: Vec<String>,
    /// Beats rejected instead of classified.
    pub rejected: usize,
    /// Beats rejected, per annotation symbol (so that a user sees which kinds of beat the
    /// model would not answer).
    pub rejected_by_annotation: BTreeMap<String, usize>,
}

/// Everything one `predict` call answers: what `predict --json` prints and what the service
/// returns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answers {
    /// Every classified or rejected input (images, then every beat of each record).
    pub predictions: Vec<Prediction>,
    /// One summary per record.
    pub records: Vec<RecordSummary>,
    /// Counts and notes.
    pub summary: AnswerSummary,
}

/// Counts and notes of one `predict` call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnswerSummary {
    /// Inputs answered (images and beats).
    pub inputs: usize,
    /// Inputs rejected.
    pub rejected: usize,
    /// What the user should know about the answers (site centring, calibration).
    pub notes: Vec<String>,
}

impl Answers {
    /// The answers with their counts and `notes`.
    pub fn new(
        predictions: Vec<Prediction>,
        records: Vec<RecordSummary>,
        notes: Vec<String>,
    ) -> Answers {
        let summary = AnswerSummary {
            inputs: predictions.len(),
            rejected: predictions.iter().filter(|p| p.rejected.is_some()).count(),
            notes,
        };
        Answers {
            predictions,
            records,
            summary,
        }
    }
}

/// Fewest images of a site-centred task given together that `predict` centres on their own mean
/// features; with fewer it subtracts the training site's mean (stored in the bundle).
pub const SITE_MIN_IMAGES: usize = 30;

/// For a task trained with site centring, what `predict` centred `images` of it on, in words
/// (none for other tasks).
pub fn site_centring_note(task: &BundleTask, images: usize) -> Option<String> {
    (task.centre == Centre::Site).then(|| {
        if images >= SITE_MIN_IMAGES {
            format!(
                "task `{}` centres features per site: the {images} images given together were \
                 centred on their own mean (give a site's images in one call)",
                task.name
            )
        } else {
            format!(
                "task `{}` centres features per site: {images} image(s) are fewer than \
                 {SITE_MIN_IMAGES}, so they were centred on the training site's mean; give at \
                 least {SITE_MIN_IMAGES} images of one site together to adapt to it",
                task.name
            )
        }
    })
}

/// A loaded model ready to predict.
pub struct Predictor {
    bundle: LoadedBundle,
    encoding: Encoding,
    novelty: Option<NoveltyModel>,
    boosted: BTreeMap<String, BoostedReadout>,
}

/// Beats of each answered class of a record that `--explain` maps.
pub const EXPLAINED_BEATS: usize = 3;

/// Whether `path` names a WFDB record (a `.hea` file, or a stem with a `.hea` next to it).
pub fn is_record(path: &FilePath) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("hea" | "dat" | "atr") => true,
        Some(_) => false,
        None => path.with_extension("hea").exists(),
    }
}

impl Predictor {
    /// Loads the bundle of a run folder and its encoder.
    pub fn open(run: &FilePath) -> Result<Predictor> {
        Predictor::open_with_weights(run, None)
    }

    /// Loads the bundle of a run folder, reading the encoder's weights from `weights` instead
    /// of the file the bundle names (a model moved to another machine or a container); they
    /// must hash to what the bundle recorded.
    pub fn open_with_weights(run: &FilePath, weights: Option<&FilePath>) -> Result<Predictor> {
        let bundle = Bundle::load(run)?;
        let mut reference = bundle.bundle.encoder.clone();
        if let Some(file) = weights {
            reference.weights_file = Some(file.to_path_buf());
        }
        let encoding = Encoding::for_bundle(&reference)?;
        let novelty_file = bundle.dir.join(NOVELTY_FILE);
        let novelty = novelty_file
            .exists()
            .then(|| NoveltyModel::load(&novelty_file))
            .transpose()?;
        let mut boosted = BTreeMap::new();
        for task in &bundle.bundle.tasks {
            if task.readout == ReadoutKind::BoostedTrees {
                let file = bundle.dir.join(boosted_file(&task.name));
                boosted.insert(task.name.clone(), BoostedReadout::load(&file)?);
            }
        }
        Ok(Predictor {
            bundle,
            encoding,
            novelty,
            boosted,
        })
    }

    /// The bundle's description.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle.bundle
    }

    /// What the user should know about `predictions`: what each site-centred task's images
    /// were centred on, and which answering tasks are calibrated for their training patients
    /// only.
    pub fn notes(&self, predictions: &[Prediction]) -> Vec<String> {
        let answered = |task: &BundleTask, images_only: bool| {
            predictions
                .iter()
                .filter(|p| p.task.as_deref() == Some(task.name.as_str()))
                .filter(|p| !images_only || p.sample.is_none())
                .count()
        };
        let tasks = &self.bundle().tasks;
        let centring = tasks.iter().filter_map(|task| {
            let images = answered(task, true);
            (images > 0)
                .then(|| site_centring_note(task, images))
                .flatten()
        });
        let calibration = tasks
            .iter()
            .filter(|task| answered(task, false) > 0)
            .filter_map(|task| task.calibration_note());
        centring.chain(calibration).collect()
    }

    /// Features of `requests` at side `size` (views augmented by `augment`; side inputs zero).
    /// An input that cannot be read is an error naming it.
    fn features(
        &self,
        requests: &[ViewRequest],
        size: usize,
        augment: AugmentConfig,
    ) -> Result<FeatureSet> {
        let (values, failed) = self
            .encoding
            .features(requests, size, augment, &mut |_| {})?;
        if !failed.is_empty() {
            return Err(Error::Config(format!(
                "cannot read {} input(s): {}",
                failed.len(),
                failed.join("; ")
            )));
        }
        let mut set = Encoding::feature_set(size, self.bundle.net.config.side_width);
        for v in values.into_iter().flatten() {
            set.push_chw(&v, 0)?;
        }
        Ok(set)
    }

    /// Features of `requests` as they are, at side `size`.
    fn plain_features(&self, requests: &[ViewRequest], size: usize) -> Result<FeatureSet> {
        self.features(requests, size, no_augmentation())
    }

    /// `task`'s answers on `set` with its probabilities joined with those on the test-time
    /// `views`: the decided class and the calibrated probabilities, row per input.
    fn answer_views(
        &self,
        task: &BundleTask,
        set: &FeatureSet,
        views: &[FeatureSet],
    ) -> Result<(Vec<usize>, Vec<f32>)> {
        let raw = self.raw_probs(task, set, views)?;
        Ok(decide(task, &raw))
    }

    /// `task`'s raw probabilities on `set`, joined with those on the test-time `views` by the
    /// task's rule and averaged over the ensemble's members, before its decision.
    fn raw_probs(
        &self,
        task: &BundleTask,
        set: &FeatureSet,
        views: &[FeatureSet],
    ) -> Result<Vec<f32>> {
        let net = &self.bundle.net;
        let head = net
            .head_index(&task.name)
            .expect("checked when the bundle was loaded");
        let rule = &task.view_rule;
        if let Some(trees) = self.boosted.get(&task.name) {
            return Ok(answer(trees, set, views, rule)?);
        }
        let mut readouts: Vec<Box<dyn medpath_readout::Readout + '_>> =
            vec![Box::new(PathReadout {
                net,
                head,
                path: &task.path,
            })];
        let members = self.bundle.members.get(&task.name).into_iter().flatten();
        for (member, path) in members.zip(&task.members) {
            let head = member
                .head_index(&task.name)
                .expect("checked when the bundle was loaded");
            readouts.push(Box::new(PathReadout {
                net: member,
                head,
                path,
            }));
        }
        Ok(answer(&Ensemble(readouts), set, views, rule)?)
    }

    /// Task probabilities (`[n, tasks]`) of `requests` from the router; `known` are features of
    /// the same inputs at some size, reused when the router works at that size. Without a
    /// router (a one-task model) every input belongs to the one task.
    fn route(
        &self,
        requests: &[ViewRequest],
        known: Option<(usize, &FeatureSet)>,
    ) -> Result<Vec<f32>> {
        let b = &self.bundle.bundle;
        let Some(router) = &b.router else {
            return Ok(vec![1.0; requests.len() * b.routed_tasks()]);
        };
        let probs = match known {
            Some((size, set)) if size == router.size => self.answer_views(router, set, &[])?.1,
            _ => {
                let set = self.plain_features(requests, router.size)?;
                self.answer_views(router, &set, &[])?.1
            }
        };
        Ok(probs)
    }

    /// The novelty rejection of each of `requests` (features `known` at some size are reused
    /// when the rule works at that size).
    fn novelty_checks(
        &self,
        requests: &[ViewRequest],
        known: Option<(usize, &FeatureSet)>,
    ) -> Result<Vec<Option<Rejection>>> {
        let Some(model) = &self.novelty else {
            return Ok(vec![None; requests.len()]);
        };
        let nearest = match known {
            Some((size, set)) if size == model.size => model.nearest(set)?,
            _ => model.nearest(&self.plain_features(requests, model.size)?)?,
        };
        Ok(nearest.into_iter().map(|n| model.judge(n)).collect())
    }
}

/// The mean maps of the examples of `set` (none for an empty set).
fn mean_features(set: &FeatureSet) -> Result<Option<Vec<f32>>> {
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(set.len());
    set.for_each_example(|_, row| rows.push(row.to_vec()))?;
    Ok(mean_of(&rows))
}

/// What the features of `set` (images of a site-centred `task` given together) are centred
/// on: their own mean when there are at least [`SITE_MIN_IMAGES`], else the training site's.
/// None for a task without site centring.
fn site_centre(task: &BundleTask, set: &FeatureSet) -> Result<Option<Vec<f32>>> {
    if task.centre != Centre::Site {
        return Ok(None);
    }
    if set.len() >= SITE_MIN_IMAGES {
        return mean_features(set);
    }
    if task.site_centre.len() != set.example_len() {
        return Err(Error::Config(format!(
            "bundle task `{}`: its training site's centre has {} values, the features {}",
            task.name,
            task.site_centre.len(),
            set.example_len()
        )));
    }
    Ok(Some(task.site_centre.clone()))
}

/// The decided class and the calibrated probabilities of every row of `task`'s raw
/// probabilities.
fn decide(task: &BundleTask, raw: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let k = task.classes.len();
    (
        task.decision.classes_of(raw, k),
        task.decision.calibrated(raw, k),
    )
}

/// Expands inputs: files as they are, folders into their images (sorted, recursive) or, when
/// they hold `.hea` files, their records. An input that yields nothing is an error.
pub fn expand_inputs(inputs: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let (mut images, mut records) = (Vec::new(), Vec::new());
    for input in inputs {
        if input.is_dir() {
            let listed = RecordPath::list_dir(input).unwrap_or_default();
            if !listed.is_empty() {
                records.extend(listed.iter().map(|r| r.dir.join(&r.name)));
                continue;
            }
            let before = images.len();
            let mut stack = vec![input.clone()];
            while let Some(dir) = stack.pop() {
                let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map_err(|e| Error::io(&dir, e))?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .collect();
                entries.sort();
                for p in entries {
                    if p.is_dir() {
                        stack.push(p);
                    } else if is_image_file(&p) {
                        images.push(p);
                    }
                }
            }
            if images.len() == before {
                return Err(Error::run(
                    input,
                    "no images (JPEG, PNG) and no WFDB records in this folder",
                ));
            }
        } else if is_record(input) {
            records.push(input.clone());
        } else if input.exists() {
            images.push(input.clone());
        } else {
            return Err(Error::run(input, "no such file or folder"));
        }
    }
    Ok((images, records))
}
