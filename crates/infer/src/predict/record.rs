//! Answering every beat of a record: the ECG task's record pipeline cuts and draws the beats
//! (in memory), the encoder and the task's readout answer them a chunk at a time (memory stays
//! flat however long the record), then the answers are read over the whole record (pooling,
//! record prior) as the run read them, and decided.

use std::collections::BTreeMap;
use std::path::Path as FilePath;
use std::sync::Arc;

use medpath_ecg::{EcgPipeline, Picture, TransformedRecord};
use medpath_model::ViewRequest;
use medpath_pathnet::{FeatureSet, argmax_rows};
use rayon::prelude::*;

use super::heat::Shown;
use super::{EXPLAINED_BEATS, Prediction, Predictor, RecordSummary, decide, mean_features};
use crate::bundle::BundleTask;
use crate::error::{InferError as Error, Result};
use crate::novelty::Rejection;
use crate::pixel_image;
use medpath_readout::Centre;
use medpath_readout::ViewRule;
use medpath_readout::subtract;
use medpath_readout::{BeatPlace, Smoothing};

/// Beats encoded and answered together: a few tens of megabytes of features at a time.
pub const BEATS_AT_ONCE: usize = 512;

/// A record's beats answered by a task, before anything is read over the record.
struct RawAnswers {
    /// Raw probabilities, `k` per beat.
    probs: Vec<f32>,
    /// The router's task probabilities, one row per beat.
    routes: Vec<f32>,
    /// Why each beat gets no answer (a signal problem, or the novelty rule), if it gets none.
    rejections: Vec<Option<Rejection>>,
}

/// Picture `which` of beat `i` of `beats` as an encoder request.
fn beat_request(
    pipeline: &EcgPipeline,
    beats: &TransformedRecord,
    i: usize,
    which: Picture,
) -> Result<ViewRequest> {
    let image = pixel_image(pipeline.picture(&beats.beats[i], which)?);
    let name = format!(
        "record {}, beat at sample {}",
        beats.name, beats.beats[i].sample
    );
    Ok(ViewRequest::pixels(name, Arc::new(image)))
}

/// Pictures `which` of beats `range`, drawn on all cores.
fn beat_requests(
    pipeline: &EcgPipeline,
    beats: &TransformedRecord,
    range: std::ops::Range<usize>,
    which: Picture,
) -> Result<Vec<ViewRequest>> {
    range
        .into_par_iter()
        .map(|i| beat_request(pipeline, beats, i, which))
        .collect()
}

impl Predictor {
    /// The ECG task of the bundle and its record pipeline.
    fn ecg_task(&self) -> Result<(&BundleTask, &EcgPipeline)> {
        let task = self
            .bundle
            .bundle
            .tasks
            .iter()
            .find(|t| t.kind == "ecg")
            .ok_or_else(|| {
                Error::Config("this model has no ECG task: it cannot classify WFDB records".into())
            })?;
        let pipeline = task.pipeline.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "bundle task `{}`: its record pipeline is missing",
                task.name
            ))
        })?;
        Ok((task, pipeline))
    }

    /// The standardised side inputs of beats `range` of `beats`, as the task was trained with
    /// them, flat.
    fn side_inputs(
        &self,
        task: &BundleTask,
        beats: &TransformedRecord,
        range: std::ops::Range<usize>,
    ) -> Vec<f32> {
        let width = self.bundle.net.config.side_width;
        let scaling = task.side_scaling.clone().unwrap_or_default();
        range
            .flat_map(|i| scaling.apply(&beats.side[i], width))
            .collect()
    }

    /// The mean features (in the feature set's layout) of up to `centre_beats` beats of any
    /// kind of the record, evenly spaced, as the task was trained to subtract; none for a task
    /// without record centring.
    fn record_centre(
        &self,
        task: &BundleTask,
        pipeline: &EcgPipeline,
        beats: &TransformedRecord,
    ) -> Result<Option<Vec<f32>>> {
        if task.centre != Centre::Record {
            return Ok(None);
        }
        let requests = beats
            .centre_beats(task.centre_beats)
            .into_iter()
            .map(|i| beat_request(pipeline, beats, i, Picture::Own))
            .collect::<Result<Vec<_>>>()?;
        let set = self.plain_features(&requests, task.size)?;
        mean_features(&set)?
            .ok_or_else(|| {
                Error::Config(format!(
                    "record {}: no beats to centre its features on",
                    beats.name
                ))
            })
            .map(Some)
    }

    /// Every beat of `beats` answered by `task` (raw, before pooling), routed and checked, a
    /// chunk of [`BEATS_AT_ONCE`] beats at a time.
    fn raw_record_answers(
        &self,
        (task, pipeline): (&BundleTask, &EcgPipeline),
        beats: &TransformedRecord,
        centre: Option<&[f32]>,
    ) -> Result<RawAnswers> {
        let first_lead = matches!(task.view_rule, ViewRule::FirstLead { .. });
        let mut answers = RawAnswers {
            probs: Vec::new(),
            routes: Vec::new(),
            rejections: Vec::new(),
        };
        let n = beats.beats.len();
        for start in (0..n).step_by(BEATS_AT_ONCE) {
            let range = start..(start + BEATS_AT_ONCE).min(n);
            let own = beat_requests(pipeline, beats, range.clone(), Picture::Own)?;
            let seen = self.plain_features(&own, task.size)?;
            let side = self.side_inputs(task, beats, range.clone());
            let mut set = seen.clone();
            set.side = side.clone();
            let mut views: Vec<FeatureSet> = Vec::new();
            if first_lead {
                let flat = beat_requests(pipeline, beats, range.clone(), Picture::FirstLead)?;
                let mut flat = self.plain_features(&flat, task.size)?;
                flat.side = side;
                views.push(flat);
            }
            if let Some(centre) = centre {
                for s in std::iter::once(&mut set).chain(views.iter_mut()) {
                    s.map_examples(|example| subtract(example, centre))?;
                }
            }
            answers.probs.extend(self.raw_probs(task, &set, &views)?);
            answers
                .routes
                .extend(self.route(&own, Some((task.size, &seen)))?);
            let novel = self.novelty_checks(&own, Some((task.size, &seen)))?;
            for (i, novel) in range.zip(novel) {
                let problem = beats.problems[i].as_ref().map(|p| Rejection {
                    reason: p.reason.clone(),
                    score: p.score,
                    threshold: p.threshold,
                });
                answers
                    .rejections
                    .push(problem.or(novel.map(|r| r.of_beat(&task.name))));
            }
        }
        Ok(answers)
    }

    /// Cuts a record into beats with the ECG task's pipeline and classifies each. With
    /// `explain`, occlusion maps of the first [`EXPLAINED_BEATS`] beats of each answered class
    /// are written there.
    pub fn record(
        &self,
        path: &FilePath,
        explain: Option<&FilePath>,
    ) -> Result<(Vec<Prediction>, RecordSummary)> {
        let (task, pipeline) = self.ecg_task()?;
        let beats = pipeline.read_and_transform(path)?;
        let centre = self.record_centre(task, pipeline, &beats)?;
        let raw = self.raw_record_answers((task, pipeline), &beats, centre.as_deref())?;
        // Rejected beats neither take nor give a share when the answers are read over the
        // record.
        let places: Vec<Option<BeatPlace>> = (0..beats.beats.len())
            .map(|i| {
                raw.rejections[i].is_none().then(|| BeatPlace {
                    record: 0,
                    seconds: beats.seconds(i),
                })
            })
            .collect();
        let k = task.classes.len();
        let pooled = Smoothing::maybe(task.smoothing.as_ref(), raw.probs, k, &places);
        let (classes, probs) = decide(task, &pooled);
        let tasks = self.bundle.bundle.routed_tasks();
        let routes = argmax_rows(&raw.routes, tasks);
        let mut summary = RecordSummary {
            record: beats.name.clone(),
            beats_from: beats.beats_from.describe().into(),
            beats: beats.beats.len(),
            predicted: BTreeMap::new(),
            by_annotation: BTreeMap::new(),
            model_classes: task.classes.clone(),
            rejected: 0,
            rejected_by_annotation: BTreeMap::new(),
        };
        let mut predictions = Vec::with_capacity(beats.beats.len());
        for (i, beat) in beats.beats.iter().enumerate() {
            if let Some(why) = raw.rejections[i].clone() {
                summary.rejected += 1;
                *summary
                    .rejected_by_annotation
                    .entry(beat.symbol.clone())
                    .or_default() += 1;
                let (name, sample, symbol) = (
                    beats.name.clone(),
                    Some(beat.sample),
                    Some(beat.symbol.clone()),
                );
                predictions.push(Prediction::rejected(name, sample, symbol, why));
                continue;
            }
            let c = classes[i];
            let class = task.classes[c].clone();
            if let Some(dir) = explain
                && summary.predicted.get(&class).copied().unwrap_or(0) < EXPLAINED_BEATS
            {
                self.explain_beat((task, pipeline), (&beats, i), (c, centre.as_deref()), dir)?;
            }
            *summary.predicted.entry(class.clone()).or_default() += 1;
            *summary
                .by_annotation
                .entry(beat.symbol.clone())
                .or_default()
                .entry(class.clone())
                .or_default() += 1;
            predictions.push(Prediction {
                input: beats.name.clone(),
                sample: Some(beat.sample),
                annotation: Some(beat.symbol.clone()),
                task: Some(task.name.clone()),
                class: Some(class),
                probability: Some(probs[i * k + c]),
                routed_task: Some(self.bundle.bundle.tasks[routes[i]].name.clone()),
                routing_probability: Some(raw.routes[i * tasks + routes[i]]),
                rejected: None,
                follow_up: None,
            });
        }
        Ok((predictions, summary))
    }

    /// The heat map of beat `i`'s answer `class` (features centred on `centre`), on its
    /// pictures drawn in memory.
    fn explain_beat(
        &self,
        (task, pipeline): (&BundleTask, &EcgPipeline),
        (beats, i): (&TransformedRecord, usize),
        (class, centre): (usize, Option<&[f32]>),
        dir: &FilePath,
    ) -> Result<()> {
        let beat = &beats.beats[i];
        let stem = format!("{}_{}", beats.name, beat.sample);
        let own = pixel_image(pipeline.picture(beat, Picture::Own)?).to_rgb();
        let own = Shown::drawn(stem.clone(), &own, self, task.size);
        let first = if pipeline.first_lead {
            let image = pixel_image(pipeline.picture(beat, Picture::FirstLead)?).to_rgb();
            Some(Shown::drawn(stem, &image, self, task.size))
        } else {
            None
        };
        let side = self.side_inputs(task, beats, i..i + 1);
        self.explain(
            task,
            (&own, first.as_ref()),
            (class, Some(&side), centre),
            dir,
        )?;
        Ok(())
    }
}
