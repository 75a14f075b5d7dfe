//! `predict`: new inputs through a saved model. Images are routed to a task and classified on
//! its path; a WFDB record is cut into beats at its annotations (or, without any, at R peaks
//! found by the QRS detector) and every beat is classified by the bundle's ECG task.

use std::collections::BTreeMap;
use std::path::{Path as FilePath, PathBuf};

use medpath_data::folder::has_image_extension;
use medpath_ecg::{
    BeatOptions, TraceStyle, detect_qrs, record_beats, render_traces, rhythm_features,
};
use medpath_model::ViewRequest;
use medpath_pathnet::FeatureSet;
use medpath_wfdb::{Annotation, Record, RecordPath, code_of};
use serde::Serialize;

use crate::bundle::{Bundle, BundleTask, LoadedBundle};
use crate::config::SideInput;
use crate::encoding::{Encoding, augmentation, no_augmentation};
use crate::error::{Error, Result};
use crate::learn::evaluate_views;
use medpath_pathnet::argmax_rows;

/// One classified input (an image, or one beat of a record).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The image file or record.
    pub input: String,
    /// Beat position in samples (records only).
    pub sample: Option<i64>,
    /// The record's own annotation symbol of the beat (`Q` where beats were detected).
    pub annotation: Option<String>,
    /// The task that classified it.
    pub task: String,
    /// Its class.
    pub class: String,
    /// Probability of that class.
    pub probability: f32,
    /// The task the router chose.
    pub routed_task: String,
    /// The router's probability for it.
    pub routing_probability: f32,
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
}

/// A loaded model ready to predict.
pub struct Predictor {
    bundle: LoadedBundle,
    encoding: Encoding,
}

fn beat_options(task: &BundleTask) -> Result<BeatOptions> {
    let v = task.beat_options.clone().ok_or_else(|| {
        Error::Config(format!("bundle task `{}`: beat options missing", task.name))
    })?;
    let mut options: BeatOptions = serde_json::from_value(v)
        .map_err(|e| Error::Config(format!("bundle task `{}`: beat options: {e}", task.name)))?;
    options.classes = task.classes.clone();
    Ok(options)
}

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
        let bundle = Bundle::load(run)?;
        let encoding = Encoding::for_bundle(&bundle.bundle.encoder)?;
        Ok(Predictor { bundle, encoding })
    }

    /// The bundle's description.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle.bundle
    }

    /// Features of `paths` at side `size` (side inputs zero).
    fn features(&self, paths: &[PathBuf], size: usize) -> Result<FeatureSet> {
        self.view_features(paths, size, no_augmentation(), 0)
    }

    /// Features of view `view` of `paths` under `augment` at side `size` (side inputs zero).
    fn view_features(
        &self,
        paths: &[PathBuf],
        size: usize,
        augment: medpath_data::AugmentConfig,
        view: usize,
    ) -> Result<FeatureSet> {
        let requests: Vec<ViewRequest> = paths
            .iter()
            .map(|p| ViewRequest {
                path: p.clone(),
                view,
            })
            .collect();
        let (values, failed) = self
            .encoding
            .features(&requests, size, augment, &mut |_| {})?;
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

    /// `task`'s answers on `set`: the decided class and the calibrated probabilities, row per
    /// input.
    fn answer(&self, task: &BundleTask, set: &FeatureSet) -> (Vec<usize>, Vec<f32>) {
        self.answer_views(task, set, &[])
    }

    /// `task`'s answers on `set` with its probabilities averaged over the test-time `views`.
    fn answer_views(
        &self,
        task: &BundleTask,
        set: &FeatureSet,
        views: &[FeatureSet],
    ) -> (Vec<usize>, Vec<f32>) {
        let net = &self.bundle.net;
        let head = net
            .head_index(&task.name)
            .expect("checked when the bundle was loaded");
        let raw = evaluate_views(net, head, &task.path, set, views);
        let k = task.classes.len();
        (
            task.decision.classes_of(&raw, k),
            task.decision.calibrated(&raw, k),
        )
    }

    /// Task probabilities (`[n, tasks]`) of `paths` from the router; `known` are features of
    /// the same inputs at some size, reused when the router works at that size. Without a router
    /// (a one-task model) every input belongs to the one task.
    fn route(&self, paths: &[PathBuf], known: Option<(usize, &FeatureSet)>) -> Result<Vec<f32>> {
        let b = &self.bundle.bundle;
        let Some(router) = &b.router else {
            return Ok(vec![1.0; paths.len()]);
        };
        let probs = match known {
            Some((size, set)) if size == router.size => self.answer(router, set).1,
            _ => self.answer(router, &self.features(paths, router.size)?).1,
        };
        Ok(probs)
    }

    /// Routes and classifies images.
    pub fn images(&self, paths: &[PathBuf]) -> Result<Vec<Prediction>> {
        let b = &self.bundle.bundle;
        let route_probs = self.route(paths, None)?;
        let routes = argmax_rows(&route_probs, b.tasks.len());
        let mut out: Vec<Option<Prediction>> = vec![None; paths.len()];
        for (t, task) in b.tasks.iter().enumerate() {
            let mine: Vec<usize> = (0..paths.len()).filter(|&i| routes[i] == t).collect();
            if mine.is_empty() {
                continue;
            }
            let mine_paths: Vec<PathBuf> = mine.iter().map(|&i| paths[i].clone()).collect();
            let set = self.features(&mine_paths, task.size)?;
            let views = (1..task.tta_views)
                .map(|view| {
                    let augment = augmentation(task.augment, task.tta_views, 0);
                    self.view_features(&mine_paths, task.size, augment, view)
                })
                .collect::<Result<Vec<_>>>()?;
            let (answers, probs) = self.answer_views(task, &set, &views);
            let k = task.classes.len();
            for (row, &i) in mine.iter().enumerate() {
                let c = answers[row];
                out[i] = Some(Prediction {
                    input: paths[i].display().to_string(),
                    sample: None,
                    annotation: None,
                    task: task.name.clone(),
                    class: task.classes[c].clone(),
                    probability: probs[row * k + c],
                    routed_task: task.name.clone(),
                    routing_probability: route_probs[i * b.tasks.len() + t],
                });
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The standardised side inputs of every beat of `beats`, padded to the network's side
    /// width, as the task was trained with them.
    fn side_inputs(&self, task: &BundleTask, beats: &medpath_ecg::RecordBeats) -> Vec<Vec<f32>> {
        let width = self.bundle.net.config.side_width;
        let scaling = task.side_scaling.clone().unwrap_or_default();
        let median_rr = beats.median_rr.unwrap_or(1.0);
        beats
            .beats
            .iter()
            .map(|beat| {
                let mut raw = Vec::new();
                for input in &task.side_inputs {
                    match input {
                        SideInput::Rhythm => {
                            raw.extend_from_slice(&rhythm_features(&beat.timing, median_rr))
                        }
                        SideInput::Signal => raw.extend_from_slice(&beat.signal),
                    }
                }
                scaling.apply(&raw, width)
            })
            .collect()
    }

    /// Cuts a record into beats and classifies each with the bundle's ECG task; beat images are
    /// drawn into `scratch`.
    pub fn record(
        &self,
        path: &FilePath,
        scratch: &FilePath,
    ) -> Result<(Vec<Prediction>, RecordSummary)> {
        let b = &self.bundle.bundle;
        let task = b.tasks.iter().find(|t| t.kind == "ecg").ok_or_else(|| {
            Error::Config("this model has no ECG task: it cannot classify WFDB records".into())
        })?;
        let record_path = RecordPath::new(path);
        let record = Record::read(&record_path.dir.join(&record_path.name))?;
        let mut options = beat_options(task)?;
        let has_annotations = record_path.file("atr").exists();
        let (annotations, beats_from) = if has_annotations {
            (record.read_annotations("atr")?, "annotations")
        } else {
            let lead = options.leads[0]
                .resolve_signal(&record.signal_names())
                .ok_or_else(|| {
                    Error::Config(format!(
                        "record {} has no lead {}",
                        record_path.name, options.leads[0]
                    ))
                })?;
            let q = code_of("Q").expect("Q is a WFDB beat code");
            let peaks = detect_qrs(&record.physical(lead), record.fs());
            (
                peaks
                    .into_iter()
                    .map(|s| Annotation::new(s, q))
                    .collect::<Vec<_>>(),
                "qrs detector",
            )
        };
        let mut symbols: Vec<String> = annotations
            .iter()
            .filter(|a| a.is_beat())
            .map(|a| a.symbol())
            .collect();
        symbols.sort();
        symbols.dedup();
        options.classes = symbols;
        let beats = record_beats(&record, &annotations, &options).map_err(|m| {
            Error::Config(format!(
                "record {}: no lead {} (has {})",
                record_path.name,
                m.lead,
                m.available.join(", ")
            ))
        })?;
        let style = TraceStyle::for_size(task.size as u32);
        std::fs::create_dir_all(scratch).map_err(|e| Error::io(scratch, e))?;
        let mut files = Vec::new();
        for beat in &beats.beats {
            let file = scratch.join(format!("{}_{}.png", beat.record, beat.sample));
            render_traces(&beat.traces, &style)?.save_png(&file)?;
            files.push(file);
        }
        let mut predictions = Vec::new();
        let mut summary = RecordSummary {
            record: record_path.name.clone(),
            beats_from: beats_from.into(),
            beats: beats.beats.len(),
            predicted: BTreeMap::new(),
            by_annotation: BTreeMap::new(),
            model_classes: task.classes.clone(),
        };
        if !files.is_empty() {
            let route_set = self.features(&files, task.size)?;
            let mut set = route_set.clone();
            set.side = self.side_inputs(task, &beats).concat();
            let (answers, probs) = self.answer(task, &set);
            let route_probs = self.route(&files, Some((task.size, &route_set)))?;
            let routes = argmax_rows(&route_probs, b.tasks.len());
            let k = task.classes.len();
            for (i, beat) in beats.beats.iter().enumerate() {
                let c = answers[i];
                let class = task.classes[c].clone();
                *summary.predicted.entry(class.clone()).or_default() += 1;
                *summary
                    .by_annotation
                    .entry(beat.symbol.clone())
                    .or_default()
                    .entry(class.clone())
                    .or_default() += 1;
                predictions.push(Prediction {
                    input: record_path.name.clone(),
                    sample: Some(beat.sample),
                    annotation: Some(beat.symbol.clone()),
                    task: task.name.clone(),
                    class,
                    probability: probs[i * k + c],
                    routed_task: b.tasks[routes[i]].name.clone(),
                    routing_probability: route_probs[i * b.tasks.len() + routes[i]],
                });
            }
        }
        for file in &files {
            let _ = std::fs::remove_file(file);
        }
        Ok((predictions, summary))
    }
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
                    } else if has_image_extension(&p) {
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
