//! `predict`: new inputs through a saved model. Images are routed to a task and classified on
//! its path; a WFDB record is cut into beats at its annotations (or, without any, at R peaks
//! found by the QRS detector) and every beat is classified by the bundle's ECG task.

use std::collections::BTreeMap;
use std::path::{Path as FilePath, PathBuf};

use medpath_data::folder::is_image_file;
use medpath_ecg::{
    BeatOptions, TraceStyle, detect_qrs, first_lead_only, record_beats, reference_beats,
    render_traces, rhythm_features,
};
use medpath_model::ViewRequest;
use medpath_pathnet::FeatureSet;
use medpath_wfdb::{Annotation, Record, RecordPath, code_of};
use serde::Serialize;

use crate::boosted::BoostedReadout;
use crate::bundle::{Bundle, BundleTask, LoadedBundle, NOVELTY_FILE};
use crate::config::Readout;
use crate::config::{Centre, SideInput};
use crate::dataset::{mean_of, subtract};
use crate::encoding::{Encoding, augmentation, no_augmentation};
use crate::ensemble::mean_probs;
use crate::error::{Error, Result};
use crate::explain::{occlusion_map, save_overlay};
use crate::files::write_json;
use crate::learn::boosted_file;
use crate::learn::evaluate_views;
use crate::novelty::{NoveltyModel, Rejection};
use crate::smoothing::{BeatPlace, Smoothing};
use crate::views::{ViewRule, answer_views};
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

fn beat_options(task: &BundleTask) -> Result<BeatOptions> {
    let v = task.beat_options.clone().ok_or_else(|| {
        Error::Config(format!("bundle task `{}`: beat options missing", task.name))
    })?;
    let mut options: BeatOptions = serde_json::from_value(v)
        .map_err(|e| Error::Config(format!("bundle task `{}`: beat options: {e}", task.name)))?;
    options.classes = task.classes.clone();
    Ok(options)
}

/// Beats of each answered class of a record that `--explain` maps.
pub const EXPLAINED_BEATS: usize = 3;

/// Least peak-to-peak amplitude of a beat's first lead, in mV, below which its signal counts as
/// flat (a QRS complex is at least a few tenths of a millivolt).
pub const FLAT_MV: f32 = 0.1;
/// Shortest run of equal samples at a window's extreme, in seconds, that counts as clipping.
pub const CLIPPED_S: f64 = 0.04;

/// Why a beat's signal cannot be classified: flat (a lead off), or clipped at the recorder's
/// range (samples stuck at the window's maximum or minimum).
pub fn signal_problem(beat: &medpath_ecg::Beat, fs: f64) -> Option<Rejection> {
    let trace = beat.traces.first()?;
    let max = trace.iter().copied().fold(f32::MIN, f32::max);
    let min = trace.iter().copied().fold(f32::MAX, f32::min);
    if max - min < FLAT_MV {
        return Some(Rejection {
            reason: format!(
                "flat signal: {:.3} mV peak to peak in the beat window, under {FLAT_MV} mV",
                max - min
            ),
            score: f64::from(max - min),
            threshold: f64::from(FLAT_MV),
        });
    }
    let longest = |extreme: f32| {
        let (mut best, mut run) = (0usize, 0usize);
        for v in trace {
            run = if *v == extreme { run + 1 } else { 0 };
            best = best.max(run);
        }
        best
    };
    let stuck = longest(max).max(longest(min)) as f64 / fs;
    (stuck >= CLIPPED_S).then(|| Rejection {
        reason: format!(
            "clipped signal: stuck at its extreme for {:.0} ms (at least {:.0} ms counts as clipping)",
            stuck * 1000.0,
            CLIPPED_S * 1000.0
        ),
        score: stuck,
        threshold: CLIPPED_S,
    })
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
        let novelty_file = bundle.dir.join(NOVELTY_FILE);
        let novelty = novelty_file
            .exists()
            .then(|| NoveltyModel::load(&novelty_file))
            .transpose()?;
        let mut boosted = BTreeMap::new();
        for task in &bundle.bundle.tasks {
            if task.readout == Readout::BoostedTrees {
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
    fn answer(&self, task: &BundleTask, set: &FeatureSet) -> Result<(Vec<usize>, Vec<f32>)> {
        self.answer_views(task, set, &[])
    }

    /// `task`'s answers on `set` with its probabilities averaged over the test-time `views`.
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
        let raw = match self.boosted.get(&task.name) {
            Some(trees) => answer_views(set, views, &task.view_rule, |s| trees.predict(s))?,
            None => {
                let rule = &task.view_rule;
                let mut tables = vec![evaluate_views(net, head, &task.path, set, views, rule)?];
                let members = self.bundle.members.get(&task.name).into_iter().flatten();
                for (member, path) in members.zip(&task.members) {
                    let head = member
                        .head_index(&task.name)
                        .expect("checked when the bundle was loaded");
                    tables.push(evaluate_views(member, head, path, set, views, rule)?);
                }
                mean_probs(tables.iter().map(Vec::as_slice))
            }
        };
        Ok(raw)
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
            Some((size, set)) if size == router.size => self.answer(router, set)?.1,
            _ => self.answer(router, &self.features(paths, router.size)?)?.1,
        };
        Ok(probs)
    }

    /// The novelty rejection of each input of `set` (features at `size`; the model's size is
    /// used when they differ, encoding `paths` again).
    fn novelty_checks(
        &self,
        paths: &[PathBuf],
        known: Option<(usize, &FeatureSet)>,
    ) -> Result<Vec<Option<Rejection>>> {
        let Some(model) = &self.novelty else {
            return Ok(vec![None; paths.len()]);
        };
        let scores = match known {
            Some((size, set)) if size == model.size => model.scores(set)?,
            _ => model.scores(&self.features(paths, model.size)?)?,
        };
        Ok(scores.into_iter().map(|s| model.judge(s)).collect())
    }

    /// The picture at `path` read and fitted to `size` as the encoder sees it, for a heat map.
    fn fitted_picture(&self, path: &FilePath, size: usize) -> Result<medpath_data::RgbImage> {
        let (image, _) = medpath_data::load_rgb(path)
            .map_err(|e| Error::run(path, format!("cannot read it to explain: {e}")))?;
        Ok(self.encoding.preprocess(size).fit(&image))
    }

    /// Writes the occlusion map of picture `path` for class `class` of `task` into `out` (a PNG
    /// overlay and the map as JSON, both named after the picture and `tag`); `side` are the
    /// picture's standardised side inputs (a beat's), zeros when none; `centre` the mean features
    /// its task subtracts (its record's or site's), if any. For a task with first-lead classes,
    /// `first_lead` is the beat's first-lead picture: the map is drawn on the picture the class
    /// is (mostly) read from (the first-lead one for first-lead classes), the other held as it
    /// is.
    fn explain(
        &self,
        task: &BundleTask,
        (path, first_lead): (&FilePath, Option<&FilePath>),
        (class, side, centre): (usize, Option<&[f32]>, Option<&[f32]>),
        out: &FilePath,
        tag: &str,
    ) -> Result<PathBuf> {
        let from_first_lead = matches!(
            &task.view_rule,
            ViewRule::FirstLead { classes, .. } if classes.contains(&class)
        );
        let (shown, held) = match first_lead {
            Some(first) if from_first_lead => (first, Some(path)),
            other => (path, other),
        };
        let fitted = self.fitted_picture(shown, task.size)?;
        let held = match held {
            Some(held) => {
                let picture = self.fitted_picture(held, task.size)?;
                self.encoding
                    .encode_images(&[picture], task.size)?
                    .into_iter()
                    .next()
            }
            None => None,
        };
        let width = self.bundle.net.config.side_width;
        let zeros = vec![0.0; width];
        let side = side.unwrap_or(&zeros);
        let k = task.classes.len();
        let mut score = |batch: &[medpath_data::RgbImage]| -> Result<Vec<f32>> {
            let mut set = Encoding::feature_set(task.size, width);
            for values in self.encoding.encode_images(batch, task.size)? {
                set.push_with_side(&values, side, 0)?;
            }
            let mut views = Vec::new();
            if let Some(held) = &held {
                let mut same = Encoding::feature_set(task.size, width);
                for _ in batch {
                    same.push_with_side(held, side, 0)?;
                }
                views.push(same);
            }
            for s in std::iter::once(&mut set).chain(views.iter_mut()) {
                if let Some(centre) = centre {
                    s.map_examples(|example| subtract(example, centre))?;
                }
            }
            // The first-lead picture is the view; the two-lead picture the set.
            if from_first_lead && first_lead.is_some() {
                std::mem::swap(&mut set, &mut views[0]);
            }
            let (_, probs) = self.answer_views(task, &set, &views)?;
            Ok(probs.chunks_exact(k).map(|r| r[class]).collect())
        };
        let map = occlusion_map(&fitted, &mut score)?;
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let stem = shown
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = out.join(format!("{stem}{tag}_heat.png"));
        let caption = format!("{} {:.2}", task.classes[class], map.base);
        save_overlay(&fitted, &map, &caption, &file)?;
        write_json(&out.join(format!("{stem}{tag}_heat.json")), &map)?;
        Ok(file)
    }

    /// Routes and classifies images; images that belong to no task are rejected. With
    /// `explain`, an occlusion map of each classified image is written there.
    pub fn images(&self, paths: &[PathBuf], explain: Option<&FilePath>) -> Result<Vec<Prediction>> {
        let b = &self.bundle.bundle;
        let mut rejections = self.novelty_checks(paths, None)?;
        if self.novelty.is_some() {
            for (path, rejection) in paths.iter().zip(rejections.iter_mut()) {
                if let Some(blank) = crate::novelty::blank_file(path)? {
                    *rejection = Some(blank);
                }
            }
        }
        let accepted: Vec<usize> = (0..paths.len())
            .filter(|&i| rejections[i].is_none())
            .collect();
        let accepted_paths: Vec<PathBuf> = accepted.iter().map(|&i| paths[i].clone()).collect();
        let route_probs = if accepted.is_empty() {
            Vec::new()
        } else {
            self.route(&accepted_paths, None)?
        };
        let routes = argmax_rows(&route_probs, b.tasks.len());
        let mut out: Vec<Option<Prediction>> = rejections
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                r.map(|why| Prediction::rejected(paths[i].display().to_string(), None, None, why))
            })
            .collect();
        for (t, task) in b.tasks.iter().enumerate() {
            let mine: Vec<usize> = (0..accepted.len()).filter(|&a| routes[a] == t).collect();
            if mine.is_empty() {
                continue;
            }
            let mine_paths: Vec<PathBuf> =
                mine.iter().map(|&a| accepted_paths[a].clone()).collect();
            let mut set = self.features(&mine_paths, task.size)?;
            let mut views = (1..task.tta_views)
                .map(|view| {
                    let augment = augmentation(task.augment, task.tta_views, 0);
                    self.view_features(&mine_paths, task.size, augment, view)
                })
                .collect::<Result<Vec<_>>>()?;
            let centre = site_centre(task, &set)?;
            if let Some(centre) = &centre {
                for s in std::iter::once(&mut set).chain(views.iter_mut()) {
                    s.map_examples(|example| subtract(example, centre))?;
                }
            }
            let (answers, probs) = self.answer_views(task, &set, &views)?;
            let k = task.classes.len();
            for (row, &a) in mine.iter().enumerate() {
                let c = answers[row];
                if let Some(dir) = explain {
                    let picture = (c, None, centre.as_deref());
                    self.explain(task, (&mine_paths[row], None), picture, dir, "")?;
                }
                out[accepted[a]] = Some(Prediction {
                    input: mine_paths[row].display().to_string(),
                    sample: None,
                    annotation: None,
                    task: Some(task.name.clone()),
                    class: Some(task.classes[c].clone()),
                    probability: Some(probs[row * k + c]),
                    routed_task: Some(task.name.clone()),
                    routing_probability: Some(route_probs[a * b.tasks.len() + t]),
                    rejected: None,
                });
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The mean features (in the feature set's layout) of up to `centre_beats` beats of any
    /// kind of `record`, evenly spaced, as the task was trained to subtract.
    fn record_centre(
        &self,
        task: &BundleTask,
        record: &Record,
        annotations: &[Annotation],
        options: &BeatOptions,
        scratch: &FilePath,
    ) -> Result<Vec<f32>> {
        let beats =
            reference_beats(record, annotations, options, task.centre_beats).map_err(|m| {
                Error::Config(format!("record {}: no lead {}", record.path.name, m.lead))
            })?;
        let style = TraceStyle::for_size(task.size as u32);
        let dir = scratch.join("centre");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut files = Vec::new();
        for beat in &beats.beats {
            let file = dir.join(format!("{}.png", beat.sample));
            render_traces(&beat.traces, &style)?.save_png(&file)?;
            files.push(file);
        }
        let set = self.features(&files, task.size)?;
        mean_features(&set)?.ok_or_else(|| {
            Error::Config(format!(
                "record {}: no beats to centre its features on",
                record.path.name
            ))
        })
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
                        SideInput::Morphology => raw.extend_from_slice(&beat.measurements),
                    }
                }
                scaling.apply(&raw, width)
            })
            .collect()
    }

    /// Cuts a record into beats and classifies each with the bundle's ECG task; beat images are
    /// drawn into `scratch`. With `explain`, occlusion maps of the first
    /// [`EXPLAINED_BEATS`] beats of each answered class are written there.
    pub fn record(
        &self,
        path: &FilePath,
        scratch: &FilePath,
        explain: Option<&FilePath>,
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
        let first_lead = matches!(task.view_rule, ViewRule::FirstLead { .. });
        let (mut files, mut first_lead_files) = (Vec::new(), Vec::new());
        for beat in &beats.beats {
            let file = scratch.join(format!("{}_{}.png", beat.record, beat.sample));
            render_traces(&beat.traces, &style)?.save_png(&file)?;
            files.push(file);
            if first_lead {
                let file = scratch.join(format!("{}_{}_first.png", beat.record, beat.sample));
                render_traces(&first_lead_only(&beat.traces), &style)?.save_png(&file)?;
                first_lead_files.push(file);
            }
        }
        let mut predictions = Vec::new();
        let mut summary = RecordSummary {
            record: record_path.name.clone(),
            beats_from: beats_from.into(),
            beats: beats.beats.len(),
            predicted: BTreeMap::new(),
            by_annotation: BTreeMap::new(),
            model_classes: task.classes.clone(),
            rejected: 0,
        };
        if !files.is_empty() {
            let route_set = self.features(&files, task.size)?;
            let mut set = route_set.clone();
            let side = self.side_inputs(task, &beats);
            set.side = side.concat();
            let centre = match task.centre {
                Centre::Record => {
                    Some(self.record_centre(task, &record, &annotations, &options, scratch)?)
                }
                Centre::None | Centre::Site => None,
            };
            let mut views = Vec::new();
            if first_lead {
                let mut flat = self.features(&first_lead_files, task.size)?;
                flat.side = set.side.clone();
                views.push(flat);
            }
            if let Some(centre) = &centre {
                for s in std::iter::once(&mut set).chain(views.iter_mut()) {
                    s.map_examples(|example| subtract(example, centre))?;
                }
            }
            let route_probs = self.route(&files, Some((task.size, &route_set)))?;
            let routes = argmax_rows(&route_probs, b.tasks.len());
            let k = task.classes.len();
            let novel = self.novelty_checks(&files, Some((task.size, &route_set)))?;
            let problems: Vec<Option<Rejection>> = beats
                .beats
                .iter()
                .zip(novel)
                .map(|(beat, novel)| signal_problem(beat, record.fs()).or(novel))
                .collect();
            // Rejected beats neither take nor give a share when the answers are smoothed.
            let places: Vec<Option<BeatPlace>> = beats
                .beats
                .iter()
                .zip(&problems)
                .map(|(beat, problem)| {
                    problem.is_none().then(|| BeatPlace {
                        record: 0,
                        seconds: beat.sample as f64 / record.fs(),
                    })
                })
                .collect();
            let raw = self.raw_probs(task, &set, &views)?;
            let raw = Smoothing::maybe(task.smoothing.as_ref(), raw, k, &places);
            let (answers, probs) = decide(task, &raw);
            for (i, beat) in beats.beats.iter().enumerate() {
                if let Some(why) = problems[i].clone() {
                    summary.rejected += 1;
                    predictions.push(Prediction::rejected(
                        record_path.name.clone(),
                        Some(beat.sample),
                        Some(beat.symbol.clone()),
                        why,
                    ));
                    continue;
                }
                let c = answers[i];
                let class = task.classes[c].clone();
                if let Some(dir) = explain {
                    if summary.predicted.get(&class).copied().unwrap_or(0) < EXPLAINED_BEATS {
                        let picture = (c, Some(side[i].as_slice()), centre.as_deref());
                        let pictures = (
                            files[i].as_path(),
                            first_lead_files.get(i).map(PathBuf::as_path),
                        );
                        self.explain(task, pictures, picture, dir, "")?;
                    }
                }
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
                    task: Some(task.name.clone()),
                    class: Some(class),
                    probability: Some(probs[i * k + c]),
                    routed_task: Some(b.tasks[routes[i]].name.clone()),
                    routing_probability: Some(route_probs[i * b.tasks.len() + routes[i]]),
                    rejected: None,
                });
            }
        }
        for file in files.iter().chain(&first_lead_files) {
            let _ = std::fs::remove_file(file);
        }
        Ok((predictions, summary))
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
