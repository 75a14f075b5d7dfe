//! Preparing a task's examples: beats of WFDB records or images found in folders, each with a
//! class, a group (record or patient) and a role under the task's protocol.
//!
//! - [`ecg`]: beats, by the one record pipeline `predict` uses too (whole records under the
//!   protocols that test unseen patients).
//! - [`images`]: image folders, patient-aware splits, separate test folders.

pub mod ecg;
pub mod images;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medpath_ecg::EcgPipeline;
use medpath_split::Role;
use serde::{Deserialize, Serialize};

use crate::config::{AugmentSet, TaskSpec, one, yes};
use crate::error::{Error, Result};
use medpath_readout::ViewRule;

/// What an example's picture is drawn from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Input {
    /// An image file.
    File(PathBuf),
    /// The beat of record `record` (an index into [`PreparedTask::records`]) whose R peak is at
    /// `sample`: its pictures are drawn in memory by the task's [`EcgPipeline`].
    Beat {
        /// Index into [`PreparedTask::records`].
        record: usize,
        /// Sample of the R peak.
        sample: i64,
    },
}

/// One input of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// Where its picture comes from.
    pub input: Input,
    /// Class index (0 where the example is not scored).
    pub label: usize,
    /// Whether its label counts: false for a beat of a validation or test record whose
    /// annotation is none of the task's classes (or whose signal cannot be read). Such beats
    /// are answered, and take part in what is read over their record, but are never scored
    /// and never train.
    #[serde(default = "yes")]
    pub scored: bool,
    /// Whether it may train (false: left out by `max_per_record`; it is still answered and
    /// scored when its record validates or tests).
    #[serde(default = "yes")]
    pub trains: bool,
    /// Record or patient: examples of one group never straddle train and test unless the
    /// protocol says so.
    pub group: String,
    /// Train, val or test.
    pub role: Role,
    /// Side inputs as measured (not yet standardised), see [`PreparedTask::side_names`].
    #[serde(default)]
    pub side: Vec<f32>,
    /// Its fold under the record-kfold protocol.
    #[serde(default)]
    pub fold: Option<usize>,
    /// Time of the beat's R peak in its record, in seconds (ECG beats; none for images).
    #[serde(default)]
    pub seconds: Option<f64>,
    /// The beat's annotation symbol (ECG beats).
    #[serde(default)]
    pub symbol: Option<String>,
    /// Why the beat gets no answer (a flat or clipped signal), as `predict` rejects it.
    #[serde(default)]
    pub rejected: Option<String>,
    /// Where the image comes from when its task centres on its site (`train` for the
    /// training folder, `test` for a separate test folder); none otherwise.
    #[serde(default)]
    pub site: Option<String>,
}

impl Example {
    /// The key of the centre its features are centred on: its site where it has one, else its
    /// record.
    pub fn centre_key(&self) -> &str {
        self.site.as_deref().unwrap_or(&self.group)
    }
}

/// Site of the images a task trains and validates on (see [`Example::site`]).
pub const TRAINING_SITE: &str = "train";
/// Site of a task's separate test images.
pub const TEST_SITE: &str = "test";

/// A task ready to encode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreparedTask {
    /// Task name.
    pub name: String,
    /// `ecg` or `images`.
    pub kind: String,
    /// Class names in label order.
    pub classes: Vec<String>,
    /// Every example.
    pub examples: Vec<Example>,
    /// The evaluation protocol, in words.
    pub protocol: String,
    /// What the preparation decided and why.
    pub notes: Vec<String>,
    /// Input side in pixels.
    pub size: usize,
    /// Pictures per training example: the example itself and its augmented views (drawn by the
    /// record pipeline for beats, by the encoder's augmentation for images).
    pub augment_views: usize,
    /// Which augmented views (image tasks).
    #[serde(default)]
    pub augment: AugmentSet,
    /// Pictures per validation and test example whose probabilities are averaged (test-time
    /// augmentation; at most `augment_views`; 1: none).
    #[serde(default = "one")]
    pub tta_views: usize,
    /// Whether each training example's own picture (view 0) trains, beside its augmented views.
    #[serde(default = "yes")]
    pub train_original: bool,
    /// How the answer joins each example's picture with its test-time pictures.
    #[serde(default)]
    pub view_rule: ViewRule,
    /// How records become beats, pictures and side inputs (ECG tasks): the same pipeline
    /// `predict` reads a record with.
    #[serde(default)]
    pub pipeline: Option<EcgPipeline>,
    /// The task's records (ECG tasks), as paths to their headers' stems.
    #[serde(default)]
    pub records: Vec<PathBuf>,
    /// Names of the side inputs each example carries.
    #[serde(default)]
    pub side_names: Vec<String>,
    /// Folds of the record-kfold protocol (0: not cross-validated).
    #[serde(default)]
    pub folds: usize,
    /// Per record (ECG) or site (images, see [`Example::site`]), the inputs (of any kind) whose
    /// mean features are subtracted from its examples' (empty: no centring).
    #[serde(default)]
    pub centre_refs: BTreeMap<String, Vec<Input>>,
}

impl PreparedTask {
    /// Indices of the examples with `role`.
    pub fn with_role(&self, role: Role) -> Vec<usize> {
        (0..self.examples.len())
            .filter(|&i| self.examples[i].role == role)
            .collect()
    }

    /// Indices of the scored examples with `role`.
    pub fn scored_with_role(&self, role: Role) -> Vec<usize> {
        (0..self.examples.len())
            .filter(|&i| self.examples[i].role == role && self.examples[i].scored)
            .collect()
    }

    /// The example's input in words: its file, or its record and beat.
    pub fn describe(&self, example: usize) -> String {
        self.describe_input(&self.examples[example].input)
    }

    /// An input in words: a file's path, or a beat's record and sample.
    pub fn describe_input(&self, input: &Input) -> String {
        match input {
            Input::File(path) => path.display().to_string(),
            Input::Beat { record, sample } => {
                let name = self
                    .records
                    .get(*record)
                    .and_then(|p| p.file_name())
                    .map_or_else(|| format!("#{record}"), |n| n.to_string_lossy().into());
                format!("record {name}, beat at sample {sample}")
            }
        }
    }

    /// Whether an example of this task may train in some model the run learns: a scored
    /// training example (any role under record-kfold, whose folds train on every record in
    /// turn) that `max_per_record` kept.
    pub fn may_train(&self, example: &Example) -> bool {
        example.scored && example.trains && (example.role == Role::Train || self.folds > 0)
    }

    /// Whether an example is answered in some validation or test set of the run.
    pub fn may_answer(&self, example: &Example) -> bool {
        example.role != Role::Train || self.folds > 0
    }

    /// Scored examples per role and class, for a summary line.
    pub fn counts(&self) -> String {
        let roles = [Role::Train, Role::Val, Role::Test];
        roles
            .iter()
            .map(|&role| {
                let per_class: Vec<String> = self
                    .classes
                    .iter()
                    .enumerate()
                    .map(|(c, name)| {
                        let n = self
                            .examples
                            .iter()
                            .filter(|e| e.role == role && e.scored && e.label == c)
                            .count();
                        format!("{name} {n}")
                    })
                    .collect();
                format!("{} {}", role.as_str(), per_class.join("/"))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn check(&self) -> Result<()> {
        let needed: &[Role] = if self.folds > 0 {
            // Cross-validated: every fold is tested in turn; the final model has no test set.
            &[Role::Train, Role::Val]
        } else {
            &[Role::Train, Role::Val, Role::Test]
        };
        for &role in needed {
            if self.scored_with_role(role).is_empty() {
                return Err(Error::task(
                    &self.name,
                    format!(
                        "no {} examples after the split ({})",
                        role.as_str(),
                        self.counts()
                    ),
                ));
            }
        }
        for (c, name) in self.classes.iter().enumerate() {
            if !self
                .examples
                .iter()
                .any(|e| e.label == c && e.scored && e.role == Role::Train)
            {
                return Err(Error::task(
                    &self.name,
                    format!("class `{name}` has no training examples"),
                ));
            }
        }
        Ok(())
    }
}

/// Prepares task `name` under `data_dir`, or reads the preparation a previous run left in
/// `data_dir/prepared.json`.
pub fn prepare(name: &str, spec: &TaskSpec, data_dir: &Path, seed: u64) -> Result<PreparedTask> {
    let saved = data_dir.join("prepared.json");
    if let Ok(text) = std::fs::read_to_string(&saved)
        && let Ok(prepared) = serde_json::from_str::<PreparedTask>(&text)
    {
        return Ok(prepared);
    }
    // Whatever an interrupted preparation left behind is redone from scratch.
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
    }
    std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
    let prepared = match spec {
        TaskSpec::Ecg(task) => ecg::prepare_ecg(name, task, seed)?,
        TaskSpec::Images(task) => images::prepare_images(name, task, seed)?,
    };
    prepared.check()?;
    medpath_runkit::write_json(&saved, &prepared)?;
    Ok(prepared)
}
