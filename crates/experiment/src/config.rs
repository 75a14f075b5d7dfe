//! The experiment file: one TOML document describing tasks, encoder, path network, search,
//! training and router, with `key=value` overrides applied before it is read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medpath_ecg::{BeatAugment, Normalization};
pub use medpath_learn::{
    ClassWeights, EvaluationSection, LearnSettings, NetworkSettings, SearchSection, TrainSection,
};
use medpath_readout::{Smoothing, ViewRule};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name shown in reports.
    pub name: String,
    /// Master seed: splits, network initialisation, search and training derive from it.
    #[serde(default)]
    pub seed: u64,
    /// Order in which tasks are learned (default: the names sorted).
    #[serde(default)]
    pub order: Vec<String>,
    /// Encoder and feature cache.
    #[serde(default)]
    pub encoder: EncoderSettings,
    /// Super-network shape.
    #[serde(default)]
    pub network: NetworkSettings,
    /// Phase 1.
    #[serde(default)]
    pub search: SearchSection,
    /// Phase 2 and the ablations.
    #[serde(default)]
    pub train: TrainSection,
    /// Routing inputs to tasks.
    #[serde(default)]
    pub router: RouterSection,
    /// Test-set statistics and the report.
    #[serde(default)]
    pub evaluation: EvaluationSection,
    /// Rejecting inputs of no task.
    #[serde(default)]
    pub novelty: NoveltySection,
    /// The tasks by name.
    pub tasks: BTreeMap<String, TaskSpec>,
}

pub use medpath_infer::encoder::{EncoderSettings, FeatureStore};

/// Router settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSection {
    /// Input side the router sees every input at.
    pub size: usize,
    /// Training examples per task at most (a seeded sample).
    pub max_per_task: usize,
    /// Tournaments of the router's own path search.
    pub tournaments: usize,
}

impl Default for RouterSection {
    fn default() -> Self {
        RouterSection {
            size: 64,
            max_per_task: 1500,
            tournaments: 20,
        }
    }
}

/// Settings of the rule that rejects inputs belonging to no task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoveltySection {
    /// Whether to fit and apply it.
    pub enabled: bool,
    /// Share of validation inputs the threshold keeps.
    pub keep: f64,
    /// Beats of each ECG task's training records whose annotation is none of the task's
    /// classes (normal beats of an A/L/R task, say) that the rule is also fitted on, spread
    /// evenly over the records: they are ECG inputs too (0: none).
    pub other_beats: usize,
}

impl Default for NoveltySection {
    fn default() -> Self {
        NoveltySection {
            enabled: true,
            keep: 0.99,
            other_beats: 750,
        }
    }
}

/// One task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TaskSpec {
    /// Heart beats cut from WFDB records at their annotations.
    Ecg(Box<EcgTask>),
    /// An image folder (Kermany layout or ImageFolder).
    Images(Box<ImageTask>),
}

impl TaskSpec {
    /// Input side of the task's images.
    pub fn size(&self) -> usize {
        match self {
            TaskSpec::Ecg(t) => t.size,
            TaskSpec::Images(t) => t.size,
        }
    }
}

/// A MIT-BIH style beat classification task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcgTask {
    /// Folder of WFDB records with `atr` annotations.
    pub mitdb: PathBuf,
    /// Records to use (default: every record in the folder).
    #[serde(default)]
    pub records: Option<Vec<String>>,
    /// Annotation symbols, one class each.
    #[serde(default = "paper_classes")]
    pub classes: Vec<String>,
    /// Beat image side in pixels.
    #[serde(default = "size_64")]
    pub size: usize,
    /// Leads drawn, comma-separated (`MLII`, `MLII,V1`, `#0`, `MLII|V5`).
    #[serde(default = "mlii")]
    pub leads: String,
    /// Neighbouring beats of context on each side.
    #[serde(default)]
    pub context: usize,
    /// Amplitude normalisation before drawing: `none` (millivolts) or `record`.
    #[serde(default)]
    pub normalize: Normalization,
    /// How the task is tested (see [`Protocol`]).
    #[serde(default)]
    pub protocol: Protocol,
    /// Folds of the `record-kfold` protocol.
    #[serde(default = "five")]
    pub folds: usize,
    /// Inputs joined to the pooled features before the fully connected layers: `rhythm` (six
    /// RR ratios), `signal` (each lead's beat window averaged down to `signal_points`) and
    /// `morphology` (seven measurements of each lead's beat).
    #[serde(default)]
    pub side_inputs: Vec<SideInput>,
    /// Points per lead of the `signal` side input.
    #[serde(default = "signal_points")]
    pub signal_points: usize,
    /// Pictures per training beat (1 = no augmentation; view 0 is the beat itself).
    #[serde(default = "one")]
    pub augment_views: usize,
    /// How augmented beat views differ from the beat.
    #[serde(default)]
    pub augment: BeatAugment,
    /// At most this many beats of each class per record (a seeded sample), to keep common
    /// classes (N) from swamping a run.
    #[serde(default)]
    pub max_per_record: Option<usize>,
    /// Per-record feature centring: `none`, or `record` (each beat's encoder features minus the
    /// mean features of `centre_beats` beats of any kind of the same record, evenly spaced:
    /// computed without labels, so `predict` does the same on a new record).
    #[serde(default)]
    pub centre: Centre,
    /// Beats per record averaged for the centre.
    #[serde(default = "centre_beats")]
    pub centre_beats: usize,
    /// What the task answers with: `path` or `boosted-trees`.
    #[serde(default)]
    pub readout: ReadoutKind,
    /// Answers the task's answer averages (1: one). With `readout = "path"`: paths, each further
    /// one searched and trained again, from the network as it was before the task, with its
    /// own seed, in a copy of the network that the bundle keeps beside the main one. With
    /// `readout = "boosted-trees"`: tree readouts fitted with their own seeds.
    #[serde(default = "one_answer")]
    pub ensemble: usize,
    /// Classes whose shares are pooled over the neighbouring beats of the same record before
    /// the answer (none by default; see [`crate::smoothing`]).
    #[serde(default)]
    pub smooth: SmoothSpec,
    /// Classes whose probability is read from the beat drawn with its first lead alone (the
    /// later leads flat); the other classes share the rest as the full picture shares it (none
    /// by default; see [`crate::views`]).
    #[serde(default)]
    pub first_lead_classes: Vec<String>,
    /// The first-lead picture's share of a `first_lead_classes` probability, in (0, 1]; the
    /// beat's full picture gives the rest (1 by default: the first-lead picture alone; not
    /// used without `first_lead_classes`).
    #[serde(default = "whole_share")]
    pub first_lead_weight: f64,
    /// Records whose beats are all test (inter-patient with your own records).
    #[serde(default)]
    pub test_mitdb: Option<PathBuf>,
    /// Share of the training pool used for validation.
    #[serde(default = "fraction_20")]
    pub val_fraction: f64,
    /// Share of beats used for test under the intra-patient protocol.
    #[serde(default = "fraction_20")]
    pub test_fraction: f64,
}

/// How an ECG task is tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Protocol {
    /// The paper's: beats of all records split at random (a patient's beats on both sides).
    #[default]
    IntraPatient,
    /// de Chazal's: DS1 records train, DS2 records test (whole).
    InterPatient,
    /// Records dealt into `folds` folds, each tested (whole) by a model trained on the others.
    RecordKfold,
}

/// What an ECG task's answers read over a whole record (`[tasks.NAME.smooth]`): which classes
/// are pooled over a record's neighbouring beats, how far, and how many rounds of the record
/// prior follow (see [`crate::smoothing`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmoothSpec {
    /// Class names pooled (empty: no pooling; else at least two).
    pub classes: Vec<String>,
    /// Half-width of the window of neighbouring beats, in seconds.
    pub seconds: f64,
    /// Rounds of the record prior: each record's class balance estimated from the answers'
    /// own probabilities and every beat re-weighted by it (0: none; needs
    /// `train.class_weights = "balanced"`).
    pub prior_steps: usize,
}

impl SmoothSpec {
    /// The smoothing with class names turned into indices of `classes`; `None` when no class
    /// is pooled and no prior step asked for. Names that are not classes are an error naming
    /// them.
    pub fn resolve(&self, classes: &[String]) -> std::result::Result<Option<Smoothing>, String> {
        if self.classes.is_empty() {
            return Ok((self.prior_steps > 0).then(|| Smoothing {
                classes: Vec::new(),
                seconds: 0.0,
                prior_steps: self.prior_steps,
            }));
        }
        if self.classes.len() < 2 {
            return Err("smooth.classes: pool at least two classes".into());
        }
        if !(self.seconds.is_finite() && self.seconds > 0.0) {
            return Err(format!(
                "smooth.seconds: {} (a window of more than 0 seconds)",
                self.seconds
            ));
        }
        Ok(Some(Smoothing {
            classes: class_indices("smooth.classes", &self.classes, classes)?,
            seconds: self.seconds,
            prior_steps: self.prior_steps,
        }))
    }
}

/// The indices in `classes` of `names` (the option `key`); a name that is not a class, or is
/// listed twice, is an error naming it.
fn class_indices(
    key: &str,
    names: &[String],
    classes: &[String],
) -> std::result::Result<Vec<usize>, String> {
    let mut indices = Vec::new();
    for name in names {
        let i = classes
            .iter()
            .position(|c| c == name)
            .ok_or_else(|| format!("{key}: `{name}` is not one of the classes {classes:?}"))?;
        if indices.contains(&i) {
            return Err(format!("{key}: `{name}` is listed twice"));
        }
        indices.push(i);
    }
    Ok(indices)
}

impl EcgTask {
    /// How the task's answer joins each beat's picture with its test-time pictures: the mean
    /// (none), or `first_lead_classes` read from the beat drawn with its first lead alone. The
    /// rule needs a second lead and at least one class left to the full picture;
    /// `first_lead_weight` must lie in (0, 1] even where no class is listed.
    pub fn view_rule(&self) -> std::result::Result<ViewRule, String> {
        let weight = self.first_lead_weight;
        if !(weight > 0.0 && weight <= 1.0) {
            return Err(format!(
                "first_lead_weight: {weight} (the first-lead picture's share, more than 0 and at most 1)"
            ));
        }
        if self.first_lead_classes.is_empty() {
            return Ok(ViewRule::Mean);
        }
        let key = "first_lead_classes";
        let classes = class_indices(key, &self.first_lead_classes, &self.classes)?;
        if classes.len() == self.classes.len() {
            return Err(format!(
                "{key}: every class is listed; leave at least one to the full picture"
            ));
        }
        let leads = medpath_ecg::parse_lead_list(&self.leads)
            .map(|l| l.len())
            .unwrap_or(0);
        if leads < 2 {
            return Err(format!(
                "{key}: the beat has one lead (leads = \"{}\"); this needs a second one to leave out",
                self.leads
            ));
        }
        Ok(ViewRule::FirstLead {
            classes,
            weight: weight as f32,
        })
    }
}

/// An image classification task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTask {
    /// Image folder (Kermany `train/val/test/<CLASS>` or `<CLASS>/`, or any layout with
    /// `labels`).
    pub root: PathBuf,
    /// Where the classes come from: absent, the class folders; `"file-names"`, a word of each
    /// image's file name (needs `classes`); otherwise a CSV file with a header
    /// `path,label[,patient][,split]`, paths relative to `root`.
    #[serde(default)]
    pub labels: Option<String>,
    /// The classes, with `labels`: required by the file-name rule; with a CSV, a label outside
    /// them is an error (empty: the CSV's labels).
    #[serde(default)]
    pub classes: Vec<String>,
    /// A separate test folder with one subfolder per class (then all of `root` trains).
    #[serde(default)]
    pub test_dir: Option<PathBuf>,
    /// Input side in pixels.
    #[serde(default = "size_128")]
    pub size: usize,
    /// Share of the training pool used for validation (carved by patient).
    #[serde(default = "fraction_15")]
    pub val_fraction: f64,
    /// Share carved as test when there is no test folder (by patient).
    #[serde(default = "fraction_15")]
    pub test_fraction: f64,
    /// Views per training image (1 = no augmentation; view 0 is the image itself).
    #[serde(default = "one")]
    pub augment_views: usize,
    /// Which augmented views: `paper` (flip, zoom ±10 %, rotation ±5 degrees), `strong`
    /// (also shifts, contrast and gamma; zoom ±15 %, rotation ±10 degrees) or `strong-aspect`
    /// (`strong` with the aspect ratio changed up to 1.3x either way).
    #[serde(default)]
    pub augment: AugmentSet,
    /// Per-site feature centring: `none`, or `site` (each image's encoder features minus the
    /// mean features of its site's images, computed without labels: a test folder from
    /// another hospital is centred on its own mean, so a shift common to all its images
    /// cancels).
    #[serde(default)]
    pub centre: Centre,
    /// Test-time augmentation: each validation and test image is judged by the mean
    /// probabilities of this many of its views (view 0 and the first augmented ones; at most
    /// `augment_views`; 1: none).
    #[serde(default = "one")]
    pub tta_views: usize,
    /// Whether each training image itself (view 0) is among the training pictures; `false`
    /// trains on its augmented views only (needs `augment_views` of at least 2), for images
    /// whose originals carry a cue the views are there to blur (a squash to a square whose
    /// amount differs by class). Validation and test answers always read view 0.
    #[serde(default = "yes")]
    pub train_original: bool,
    /// How a two-class task answers: `argmax` (the most probable class), `balanced-accuracy`
    /// or `sensitivity=S` (a threshold on the positive class's calibrated probability, chosen
    /// on validation for that target).
    #[serde(default = "argmax")]
    pub operating_point: String,
    /// The positive class of the operating point (default: the last class).
    #[serde(default)]
    pub positive: Option<String>,
    /// What the task answers with: `path` or `boosted-trees`.
    #[serde(default)]
    pub readout: ReadoutKind,
    /// Answers the task's answer averages (1: one). With `readout = "path"`: paths, each further
    /// one searched and trained again, from the network as it was before the task, with its
    /// own seed, in a copy of the network that the bundle keeps beside the main one. With
    /// `readout = "boosted-trees"`: tree readouts fitted with their own seeds.
    #[serde(default = "one_answer")]
    pub ensemble: usize,
    /// A follow-up question: this task answers only the inputs that an earlier image task
    /// answered with one class (`{ task = "xray", class = "PNEUMONIA" }`). The router does not
    /// route to it; `predict` gives both answers. Follow-up tasks come after every routed task
    /// in `order`.
    #[serde(default)]
    pub follows: Option<FollowUp>,
    /// Trains on at most this many images per class (a seeded draw from the training pool;
    /// validation and test unchanged): how the task learns from few examples.
    #[serde(default)]
    pub train_per_class: Option<usize>,
}

pub use medpath_infer::bundle::FollowUp;

pub use medpath_data::AugmentSet;

pub use medpath_readout::ReadoutKind;

pub use medpath_readout::Centre;

pub use medpath_ecg::SideInput;

impl EcgTask {
    /// Names of the side inputs, in the order they are joined.
    pub fn side_names(&self) -> Vec<String> {
        let leads = self.leads.split(',').count();
        self.side_inputs
            .iter()
            .flat_map(|s| s.names(leads, self.signal_points))
            .collect()
    }
}

impl TaskSpec {
    /// What the task answers with.
    pub fn readout(&self) -> ReadoutKind {
        match self {
            TaskSpec::Ecg(t) => t.readout,
            TaskSpec::Images(t) => t.readout,
        }
    }

    /// Answers the task's answer averages (paths or tree readouts).
    pub fn ensemble(&self) -> usize {
        match self {
            TaskSpec::Ecg(t) => t.ensemble,
            TaskSpec::Images(t) => t.ensemble,
        }
    }

    /// Side inputs per example (0 for image tasks).
    pub fn side_width(&self) -> usize {
        match self {
            TaskSpec::Ecg(t) => t.side_names().len(),
            TaskSpec::Images(_) => 0,
        }
    }
}

fn one_answer() -> usize {
    1
}

fn argmax() -> String {
    "argmax".into()
}
fn centre_beats() -> usize {
    200
}
fn five() -> usize {
    5
}
fn signal_points() -> usize {
    24
}
fn paper_classes() -> Vec<String> {
    vec!["A".into(), "L".into(), "R".into()]
}
fn size_64() -> usize {
    64
}
fn size_128() -> usize {
    128
}
fn mlii() -> String {
    "MLII".into()
}
fn fraction_20() -> f64 {
    0.2
}
fn whole_share() -> f64 {
    1.0
}
fn fraction_15() -> f64 {
    0.15
}
/// Serde default of counts that start at one (views, answers).
pub(crate) fn one() -> usize {
    1
}
/// Serde default of switches that are on unless turned off.
pub(crate) fn yes() -> bool {
    true
}

/// A settings error as a person reads it: an unknown choice is named with its key and the
/// choices there are (`network.boundary: "clmap" is not one of wrap, clamp`); any other
/// error is the parser's own words. `table` is what was parsed: where the parser names only
/// the table holding the bad choice (a task's table), the key is found by the value.
fn explain_toml_error(e: &toml::de::Error, table: &toml::Table) -> String {
    let text = e.to_string();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("");
    let key = lines
        .find_map(|l| l.trim().strip_prefix("in `")?.strip_suffix('`'))
        .unwrap_or("");
    let Some(rest) = first.strip_prefix("unknown variant `") else {
        return text.replace('\n', " ");
    };
    let Some((value, expected)) = rest.split_once("`, expected ") else {
        return text.replace('\n', " ");
    };
    let choices: Vec<&str> = expected
        .trim_start_matches("one of ")
        .split(['`', ',', ' '])
        .filter(|w| !w.is_empty() && *w != "or")
        .collect();
    let key = key_holding(table, key, value).unwrap_or_else(|| key.to_string());
    format!("{key}: \"{value}\" is not one of {}", choices.join(", "))
}

/// The dotted key under `key` of `table` whose value is the string `value`: `key` itself
/// when it holds it, else the first of its entries (depth first) that does.
fn key_holding(table: &toml::Table, key: &str, value: &str) -> Option<String> {
    let mut at = toml::Value::Table(table.clone());
    for part in key.split('.').filter(|p| !p.is_empty()) {
        at = at.get(part)?.clone();
    }
    fn find(v: &toml::Value, value: &str, path: String) -> Option<String> {
        match v {
            toml::Value::String(s) if s == value => Some(path),
            toml::Value::Table(t) => t.iter().find_map(|(k, v)| {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                find(v, value, child)
            }),
            _ => None,
        }
    }
    find(&at, value, key.to_string())
}

/// Sets `dotted.key` in a TOML table to `value` (parsed as TOML, else taken as a string).
pub fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<()> {
    let (key, value) = assignment.split_once('=').ok_or_else(|| {
        Error::Config(format!(
            "--set {assignment}: expected KEY=VALUE, e.g. search.population=20"
        ))
    })?;
    let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {}", value.trim()))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.trim().to_string()));
    let parts: Vec<&str> = key.trim().split('.').collect();
    let mut current = table;
    for part in &parts[..parts.len() - 1] {
        current = current
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| Error::Config(format!("--set {key}: `{part}` is not a table")))?;
    }
    current.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

impl Experiment {
    /// Parses an experiment from TOML text with overrides; `origin` names it in errors.
    pub fn parse(text: &str, overrides: &[String], origin: &str) -> Result<Experiment> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        for o in overrides {
            apply_override(&mut table, o)?;
        }
        let experiment: Experiment = table
            .clone()
            .try_into()
            .map_err(|e| Error::Config(format!("{origin}: {}", explain_toml_error(&e, &table))))?;
        experiment.check(origin)?;
        Ok(experiment)
    }

    /// Reads an experiment file with overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Experiment::parse(&text, overrides, &path.display().to_string())
    }

    /// What learning a task reads from the experiment.
    pub fn learn_settings(&self) -> LearnSettings {
        LearnSettings {
            network: self.network.clone(),
            search: self.search.clone(),
            train: self.train.clone(),
            evaluation: self.evaluation.clone(),
            side_width: self.side_width(),
            channels: medpath_weights::OUTPUT_CHANNELS,
        }
    }

    /// Side inputs of the super-network: the most any task has (tasks with fewer get zeros).
    pub fn side_width(&self) -> usize {
        self.tasks
            .values()
            .map(TaskSpec::side_width)
            .max()
            .unwrap_or(0)
    }

    /// Every enumerated setting is one of its values, every number in its range and every
    /// folder and file there, so that a bad setting fails before anything is written.
    fn check_settings(&self) -> std::result::Result<(), String> {
        let enc = &self.encoder;
        at_least("encoder.batch", enc.batch, 1)?;
        if let Some(w) = &enc.weights {
            exists("encoder.weights", w)?;
        }
        let n = &self.network;
        at_least("network.active", n.active, 1)?;
        at_least("network.modules", n.modules, n.active)?;
        at_least("network.conv_width", n.conv_width, 1)?;
        at_least("network.grid", n.grid, 1)?;
        for w in &n.fc_widths {
            at_least("network.fc_widths", *w, 1)?;
        }
        let s = &self.search;
        at_least("search.population", s.population, 2)?;
        at_least("search.tournaments", s.tournaments, 1)?;
        at_least("search.steps", s.steps, 1)?;
        at_least("search.batch", s.batch, 1)?;
        at_least("train.epochs", self.train.epochs, 1)?;
        at_least("train.batch", self.train.batch, 1)?;
        at_least("router.tournaments", self.router.tournaments, 1)?;
        input_size("router.size", self.router.size)?;
        for (name, task) in &self.tasks {
            check_task_settings(name, task)?;
        }
        Ok(())
    }

    /// Tasks in learning order: `order`, or without it the routed tasks by name, then the
    /// follow-up tasks by name.
    pub fn task_order(&self) -> Vec<String> {
        if self.order.is_empty() {
            let mut names: Vec<String> = self.tasks.keys().cloned().collect();
            names.sort_by_key(|n| self.follows(n).is_some());
            names
        } else {
            self.order.clone()
        }
    }

    /// Where task `name` is asked, when it is a follow-up task.
    fn follows(&self, name: &str) -> Option<&FollowUp> {
        match self.tasks.get(name)? {
            TaskSpec::Images(t) => t.follows.as_ref(),
            TaskSpec::Ecg(_) => None,
        }
    }

    fn check(&self, origin: &str) -> Result<()> {
        let config = |m: String| Error::Config(format!("{origin}: {m}"));
        self.check_structure().map_err(config)?;
        self.check_settings().map_err(config)?;
        for (name, task) in &self.tasks {
            if task.ensemble() == 0 {
                return Err(config(format!(
                    "tasks.{name}.ensemble: 0 (at least 1 answer)"
                )));
            }
            match task {
                TaskSpec::Ecg(t) => self.check_ecg_answer(t),
                TaskSpec::Images(t) => medpath_readout::parse_target(&t.operating_point)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            }
            .map_err(|m| config(format!("tasks.{name}.{m}")))?;
        }
        self.check_rates().map_err(config)
    }

    /// Tasks named and ordered consistently, input sizes VGG-16 can read, a classifier layer.
    fn check_structure(&self) -> std::result::Result<(), String> {
        if self.tasks.is_empty() {
            return Err("no [tasks.NAME] section".into());
        }
        for name in &self.order {
            if !self.tasks.contains_key(name) {
                return Err(format!(
                    "order names task `{name}`, which has no [tasks.{name}] section"
                ));
            }
        }
        if !self.order.is_empty() && self.order.len() != self.tasks.len() {
            return Err("order must list every task once".into());
        }
        for (name, task) in &self.tasks {
            if name == "router" || name.contains('/') {
                return Err(format!("task name `{name}` is reserved or contains `/`"));
            }
            if task.size() < 32 {
                return Err(format!(
                    "task `{name}`: size {} is below VGG-16's 32 pixels",
                    task.size()
                ));
            }
        }
        if self.router.size < 32 {
            return Err(format!(
                "router.size {} is below 32 pixels",
                self.router.size
            ));
        }
        if self.network.fc_widths.is_empty() {
            return Err("network.fc_widths needs at least one layer".into());
        }
        self.check_follow_ups()
    }

    /// Each follow-up task follows a routed image task that comes before it, and every routed
    /// task comes before the follow-ups.
    fn check_follow_ups(&self) -> std::result::Result<(), String> {
        let order = self.task_order();
        let routed = order
            .iter()
            .take_while(|n| self.follows(n).is_none())
            .count();
        if let Some(name) = order[routed..].iter().find(|n| self.follows(n).is_none()) {
            return Err(format!(
                "task `{name}` is routed but comes after a follow-up task in the order: follow-up tasks come last"
            ));
        }
        for name in &order[routed..] {
            let Some(f) = self.follows(name) else {
                continue;
            };
            let parent = order[..routed].iter().find(|n| **n == f.task);
            match parent.map(|p| &self.tasks[p]) {
                Some(TaskSpec::Images(p)) => {
                    if !p.classes.is_empty() && !p.classes.contains(&f.class) {
                        return Err(format!(
                            "tasks.{name}.follows.class: `{}` is not one of `{}`'s classes {:?}",
                            f.class, f.task, p.classes
                        ));
                    }
                }
                _ => {
                    return Err(format!(
                        "tasks.{name}.follows.task: `{}` is not an image task learned before `{name}`",
                        f.task
                    ));
                }
            }
        }
        Ok(())
    }

    /// The tasks the router chooses between: the order up to the first follow-up task.
    pub fn routed_order(&self) -> Vec<String> {
        let order = self.task_order();
        order
            .into_iter()
            .take_while(|n| self.follows(n).is_none())
            .collect()
    }

    /// An ECG task's protocol, side inputs, augmentation, smoothing and first-lead rule fit
    /// together (messages start at the key inside the task's table).
    fn check_ecg_answer(&self, t: &EcgTask) -> std::result::Result<(), String> {
        if t.protocol == Protocol::RecordKfold && t.folds < 2 {
            return Err(format!(
                "folds: {} (record-kfold needs at least 2)",
                t.folds
            ));
        }
        if t.side_inputs.contains(&SideInput::Signal) && t.signal_points == 0 {
            return Err("signal_points: 0 (the signal side input needs at least 1)".into());
        }
        if t.augment_views == 0 {
            return Err("augment_views: 0 (at least 1)".into());
        }
        t.augment.validate().map_err(|e| format!("augment: {e}"))?;
        t.smooth.resolve(&t.classes).map_err(|e| e.to_string())?;
        if t.smooth.prior_steps > 0 && self.train.class_weights != ClassWeights::Balanced {
            return Err(format!(
                "smooth.prior_steps: {} needs train.class_weights = \"balanced\" (the record prior starts from answers that assume equal classes)",
                t.smooth.prior_steps
            ));
        }
        t.view_rule().map(|_| ()).map_err(|e| e.to_string())
    }

    /// Shares and rates of the novelty and training sections in their ranges.
    fn check_rates(&self) -> std::result::Result<(), String> {
        if !(self.novelty.keep > 0.0 && self.novelty.keep <= 1.0) {
            return Err(format!(
                "novelty.keep: {} (a share in (0, 1])",
                self.novelty.keep
            ));
        }
        let t = &self.train;
        if !(0.0..1.0).contains(&t.dropout) {
            return Err(format!("train.dropout: {} (a rate in [0, 1))", t.dropout));
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return Err(format!(
                "train.weight_decay: {} (must be >= 0)",
                t.weight_decay
            ));
        }
        if !(0.0..=1.0).contains(&t.group_balance) {
            return Err(format!(
                "train.group_balance: {} (a power in [0, 1])",
                t.group_balance
            ));
        }
        Ok(())
    }
}

/// A task's input size, folders and shares (keys `tasks.NAME.KEY`).
fn check_task_settings(name: &str, task: &TaskSpec) -> std::result::Result<(), String> {
    let key = |k: &str| format!("tasks.{name}.{k}");
    input_size(&key("size"), task.size())?;
    match task {
        TaskSpec::Ecg(t) => {
            exists(&key("mitdb"), &t.mitdb)?;
            if let Some(dir) = &t.test_mitdb {
                exists(&key("test_mitdb"), dir)?;
            }
            fraction(&key("val_fraction"), t.val_fraction)?;
            fraction(&key("test_fraction"), t.test_fraction)?;
            if t.centre == Centre::Site {
                return bad_centre(&key("centre"), "record");
            }
        }
        TaskSpec::Images(t) => {
            exists(&key("root"), &t.root)?;
            match t.labels.as_deref() {
                None => {}
                Some("file-names") => at_least(&key("classes"), t.classes.len(), 2)?,
                Some(csv) => exists(&key("labels"), Path::new(csv))?,
            }
            if let Some(dir) = &t.test_dir {
                exists(&key("test_dir"), dir)?;
            }
            fraction(&key("val_fraction"), t.val_fraction)?;
            if t.test_dir.is_none() {
                fraction(&key("test_fraction"), t.test_fraction)?;
            }
            at_least(&key("augment_views"), t.augment_views, 1)?;
            at_least(&key("tta_views"), t.tta_views, 1)?;
            if let Some(n) = t.train_per_class {
                at_least(&key("train_per_class"), n, 1)?;
            }
            if !t.train_original {
                // Without the image itself, training needs at least one augmented view.
                at_least(&key("augment_views"), t.augment_views, 2)?;
            }
            if t.centre == Centre::Record {
                return bad_centre(&key("centre"), "site");
            }
        }
    }
    Ok(())
}

/// `key`'s `value` is at least `least`.
fn at_least(key: &str, value: usize, least: usize) -> std::result::Result<(), String> {
    if value >= least {
        Ok(())
    } else {
        Err(format!("{key}: {value} (at least {least})"))
    }
}

/// `key`'s `value` is a share strictly between 0 and 1.
fn fraction(key: &str, value: f64) -> std::result::Result<(), String> {
    if value > 0.0 && value < 1.0 {
        Ok(())
    } else {
        Err(format!("{key}: {value} (a share in (0, 1))"))
    }
}

/// `key`'s `path` exists.
fn exists(key: &str, path: &Path) -> std::result::Result<(), String> {
    if path.exists() {
        Ok(())
    } else {
        Err(format!("{key}: {} does not exist", path.display()))
    }
}

/// The refusal of a centring this kind of task cannot do.
fn bad_centre(key: &str, allowed: &str) -> std::result::Result<(), String> {
    Err(format!(
        "{key}: this kind of task centres on none or {allowed}"
    ))
}

/// `key`'s input `size` is one VGG-16 reads: a multiple of 32, at least 32.
fn input_size(key: &str, size: usize) -> std::result::Result<(), String> {
    if size >= 32 && size.is_multiple_of(32) {
        Ok(())
    } else {
        Err(format!(
            "{key}: {size} (VGG-16 needs a multiple of 32, at least 32)"
        ))
    }
}
