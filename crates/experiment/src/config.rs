//! The experiment file: one TOML document describing tasks, encoder, path network, search,
//! training and router, with `key=value` overrides applied before it is read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// The tasks by name.
    pub tasks: BTreeMap<String, TaskSpec>,
}

/// Encoder weights, preprocessing and cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderSettings {
    /// VGG-16 weights file (safetensors or .pth); none: seeded random weights (demo only).
    pub weights: Option<PathBuf>,
    /// Seed of the random weights.
    pub random_seed: u64,
    /// `caffe` or `torchvision`; default: what the weights declare, else torchvision.
    pub preprocess: Option<String>,
    /// `stretch`, `pad` or `crop`.
    pub fit: String,
    /// Feature cache folder (default: `$MEDPATH_CACHE`, else `~/.cache/medpath`).
    pub cache: Option<PathBuf>,
    /// `f16` or `f32`.
    pub cache_precision: String,
    /// Images per encoder batch.
    pub batch: usize,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings {
            weights: None,
            random_seed: 0,
            preprocess: None,
            fit: "stretch".into(),
            cache: None,
            cache_precision: "f16".into(),
            batch: 8,
        }
    }
}

/// Shape of the super-network and genotype rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// Modules per layer, M.
    pub modules: usize,
    /// Most active modules per layer, N.
    pub active: usize,
    /// Channels of each layer-1 (1x1 convolution) module.
    pub conv_width: usize,
    /// Side of the grid layer 1 is pooled to.
    pub grid: usize,
    /// Widths of the fully connected layers 2..L.
    pub fc_widths: Vec<usize>,
    /// `sum` or `mean`.
    pub aggregate: String,
    /// Whether a genotype may list a module twice.
    pub duplicates: bool,
    /// `wrap` or `clamp`.
    pub boundary: String,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            modules: 10,
            active: 3,
            conv_width: 32,
            grid: 2,
            fc_widths: vec![64, 64],
            aggregate: "sum".into(),
            duplicates: true,
            boundary: "wrap".into(),
        }
    }
}

/// Phase 1 settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchSection {
    /// Population P.
    pub population: usize,
    /// Most tournaments.
    pub tournaments: usize,
    /// Stop when a fitness reaches this.
    pub threshold: Option<f64>,
    /// Minibatches per candidate per tournament, T.
    pub steps: usize,
    /// Minibatch size.
    pub batch: usize,
    /// `validation` or `training`.
    pub fitness: String,
    /// Score fitness on at most this many examples.
    pub fitness_samples: Option<usize>,
    /// Adam learning rate during the search.
    pub learning_rate: f32,
}

impl Default for SearchSection {
    fn default() -> Self {
        SearchSection {
            population: 20,
            tournaments: 60,
            threshold: Some(0.998),
            steps: 50,
            batch: 16,
            fitness: "validation".into(),
            fitness_samples: Some(1000),
            learning_rate: 1e-3,
        }
    }
}

/// Phase 2 settings (also the ablations' optimiser).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainSection {
    /// Most epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch: usize,
    /// Early stopping patience in epochs.
    pub patience: usize,
    /// Adam learning rate.
    pub learning_rate: f32,
}

impl Default for TrainSection {
    fn default() -> Self {
        TrainSection {
            epochs: 30,
            batch: 32,
            patience: 4,
            learning_rate: 1e-3,
        }
    }
}

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

/// Test statistics and report settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationSection {
    /// Bootstrap resamples for the 95 % intervals.
    pub bootstrap: usize,
    /// Example inputs per class and outcome (right / wrong) shown in the report.
    pub samples: usize,
}

impl Default for EvaluationSection {
    fn default() -> Self {
        EvaluationSection {
            bootstrap: 1000,
            samples: 4,
        }
    }
}

/// One task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TaskSpec {
    /// Heart beats cut from WFDB records at their annotations.
    Ecg(EcgTask),
    /// An image folder (Kermany layout or ImageFolder).
    Images(ImageTask),
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
    /// `intra-patient` (the paper's random beat split) or `inter-patient` (DS1 train, DS2 test).
    #[serde(default = "intra")]
    pub protocol: String,
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

/// An image classification task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTask {
    /// Image folder (Kermany `train/val/test/<CLASS>` or `<CLASS>/`).
    pub root: PathBuf,
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
fn intra() -> String {
    "intra-patient".into()
}
fn fraction_20() -> f64 {
    0.2
}
fn fraction_15() -> f64 {
    0.15
}
fn one() -> usize {
    1
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
            .try_into()
            .map_err(|e| Error::Config(format!("{origin}: {e}")))?;
        experiment.check(origin)?;
        Ok(experiment)
    }

    /// Reads an experiment file with overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Experiment::parse(&text, overrides, &path.display().to_string())
    }

    /// Tasks in learning order.
    pub fn task_order(&self) -> Vec<String> {
        if self.order.is_empty() {
            self.tasks.keys().cloned().collect()
        } else {
            self.order.clone()
        }
    }

    fn check(&self, origin: &str) -> Result<()> {
        let bad = |m: String| Err(Error::Config(format!("{origin}: {m}")));
        if self.tasks.is_empty() {
            return bad("no [tasks.NAME] section".into());
        }
        for name in &self.order {
            if !self.tasks.contains_key(name) {
                return bad(format!(
                    "order names task `{name}`, which has no [tasks.{name}] section"
                ));
            }
        }
        if !self.order.is_empty() && self.order.len() != self.tasks.len() {
            return bad("order must list every task once".into());
        }
        for (name, task) in &self.tasks {
            if name == "router" || name.contains('/') {
                return bad(format!("task name `{name}` is reserved or contains `/`"));
            }
            if task.size() < 32 {
                return bad(format!(
                    "task `{name}`: size {} is below VGG-16's 32 pixels",
                    task.size()
                ));
            }
        }
        if self.router.size < 32 {
            return bad(format!(
                "router.size {} is below 32 pixels",
                self.router.size
            ));
        }
        if self.network.fc_widths.is_empty() {
            return bad("network.fc_widths needs at least one layer".into());
        }
        Ok(())
    }
}
