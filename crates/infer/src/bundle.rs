//! The saved model: what `predict` needs to route and classify new inputs. `bundle/model.json`
//! names the encoder (weights file and hash, preprocessing), every task's classes, path, input
//! size and (ECG tasks) record pipeline, and the router; `bundle/network.safetensors` holds the super-network,
//! and `member_<task>_<m>.safetensors` the networks of a task's further ensemble members.

use std::collections::BTreeMap;
use std::path::{Path as FilePath, PathBuf};

use medpath_pathnet::checkpoint;
use medpath_pathnet::{Path, SuperNet};
use serde::{Deserialize, Serialize};

use crate::encoder::EncoderReference;
use crate::error::{InferError as Error, Result};
use medpath_data::AugmentSet;
use medpath_readout::Decision;
use medpath_readout::SideScaling;
use medpath_readout::Smoothing;
use medpath_readout::ViewRule;
use medpath_readout::member_file;
use medpath_readout::{Centre, ReadoutKind};
use medpath_runkit::{read_json, write_json};

/// File of the novelty model in a bundle folder (absent: nothing is rejected).
pub const NOVELTY_FILE: &str = "novelty.json";

/// Bundle format written by this version.
pub const FORMAT: &str = "medpath-bundle 2";

/// One task (or the router) in a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleTask {
    /// Name (also the readout's name in the network).
    pub name: String,
    /// `ecg`, `images` or `router`.
    pub kind: String,
    /// Class names.
    pub classes: Vec<String>,
    /// Active modules per layer.
    pub path: Path,
    /// Input side in pixels.
    pub size: usize,
    /// Evaluation protocol of its numbers.
    pub protocol: String,
    /// How a record becomes beats, pictures and side inputs (ECG tasks): the pipeline the task
    /// was trained and tested with.
    #[serde(default)]
    pub pipeline: Option<medpath_ecg::EcgPipeline>,
    /// How the side inputs are standardised.
    #[serde(default)]
    pub side_scaling: Option<SideScaling>,
    /// How its raw probabilities become answers: temperature and operating point, fitted on
    /// validation.
    #[serde(default)]
    pub decision: Decision,
    /// Views of each image whose probabilities are averaged (1: none).
    #[serde(default = "one_view")]
    pub tta_views: usize,
    /// How the answer joins each input's picture with its test-time pictures (ECG tasks with
    /// first-lead classes read those from the beat drawn with its first lead alone).
    #[serde(default)]
    pub view_rule: ViewRule,
    /// The augmentation the views come from.
    #[serde(default)]
    pub augment: AugmentSet,
    /// Feature centring: per record (ECG tasks) or per site (image tasks).
    #[serde(default)]
    pub centre: Centre,
    /// With site centring, the training site's mean features: what `predict` subtracts when it
    /// is given too few images together to centre them on their own mean
    /// (`SITE_MIN_IMAGES` in the predict module).
    #[serde(default)]
    pub site_centre: Vec<f32>,
    /// Beats of a record averaged for its centre.
    #[serde(default)]
    pub centre_beats: usize,
    /// What the task answers with (boosted trees: `boosted_<task>.json` beside the network).
    #[serde(default)]
    pub readout: ReadoutKind,
    /// Paths of the ensemble's further members, member `m` (from 1) in its own network file
    /// [`medpath_readout::member_file`] beside the main one; the answer averages the raw
    /// probabilities of `path` and of these before `decision` (empty: `path` alone).
    #[serde(default)]
    pub members: Vec<Path>,
    /// Classes pooled over a record's neighbouring beats before `decision` (ECG tasks; see
    /// [`crate::smoothing`]).
    #[serde(default)]
    pub smoothing: Option<Smoothing>,
    /// The expected calibration error of the task's probabilities on records it never saw
    /// (record k-fold, after temperature scaling); `None` where the run did not measure it.
    #[serde(default)]
    pub unseen_ece: Option<f64>,
    /// The task and class whose inputs this task answers further (a follow-up question, such
    /// as the kind of a pneumonia): the router never routes to it; `predict` asks it about an
    /// input only when that task answered that class.
    #[serde(default)]
    pub follows: Option<FollowUp>,
}

/// Where a follow-up task is asked: after `task` answered `class`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// The task whose answer leads to this one.
    pub task: String,
    /// The class of that task's answer that leads to this one.
    pub class: String,
}

/// One view per input: no test-time augmentation (bundles written before the setting existed).
fn one_view() -> usize {
    1
}

/// `bundle/model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// Experiment name.
    pub experiment: String,
    /// The encoder the features came from.
    pub encoder: EncoderReference,
    /// Tasks in learning order.
    pub tasks: Vec<BundleTask>,
    /// The router (absent when the model has a single task).
    pub router: Option<BundleTask>,
}

impl Bundle {
    /// The tasks the router chooses between (every task that is not a follow-up), in order:
    /// they come before the follow-ups.
    pub fn routed_tasks(&self) -> usize {
        self.tasks.iter().filter(|t| t.follows.is_none()).count()
    }

    /// The follow-up tasks asked after task `t` answered class `class`.
    pub fn follow_ups_of(&self, t: usize, class: &str) -> impl Iterator<Item = &BundleTask> {
        let parent = &self.tasks[t].name;
        self.tasks.iter().filter(move |f| {
            f.follows
                .as_ref()
                .is_some_and(|w| &w.task == parent && w.class == class)
        })
    }
}

/// A loaded bundle with its network.
pub struct LoadedBundle {
    /// Folder it came from.
    pub dir: PathBuf,
    /// The description.
    pub bundle: Bundle,
    /// The super-network.
    pub net: SuperNet,
    /// The networks of each task's further ensemble members, by task, in member order.
    pub members: BTreeMap<String, Vec<SuperNet>>,
}

impl Bundle {
    /// Writes `model.json` and `network.safetensors` into `dir`.
    pub fn save(&self, dir: &FilePath, net: &SuperNet) -> Result<()> {
        checkpoint::save_weights(&dir.join("network.safetensors"), net)?;
        Ok(write_json(&dir.join("model.json"), self)?)
    }

    /// Reads a bundle from a run folder (or its `bundle/` folder), checking format, readouts and
    /// paths against the network.
    pub fn load(run_or_bundle: &FilePath) -> Result<LoadedBundle> {
        let dir = if run_or_bundle.join("bundle").is_dir() {
            run_or_bundle.join("bundle")
        } else {
            run_or_bundle.to_path_buf()
        };
        let json = dir.join("model.json");
        if !json.exists() {
            return Err(Error::run(
                run_or_bundle,
                "no model bundle here (expected bundle/model.json from `medpath run` or `medpath demo`)",
            ));
        }
        let value: serde_json::Value = read_json(&json)?;
        let format = value
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or("none");
        if format != FORMAT {
            return Err(Error::run(
                &json,
                format!(
                    "bundle format `{format}`, this medpath reads `{FORMAT}`: rerun the experiment with this version"
                ),
            ));
        }
        let bundle: Bundle = serde_json::from_value(value)
            .map_err(|e| Error::run(&json, format!("bundle description: {e}")))?;
        check_follow_ups(&bundle).map_err(|m| Error::run(&json, m))?;
        let net = checkpoint::load(&dir.join("network.safetensors"))?.net;
        let mut members = BTreeMap::new();
        for task in bundle.tasks.iter().chain(bundle.router.as_ref()) {
            check_readout(&net, &dir, task, &task.path)?;
            let mut nets = Vec::new();
            for (m, path) in task.members.iter().enumerate() {
                let file = dir.join(member_file(&task.name, m + 1));
                let member = checkpoint::load(&file)?.net;
                check_readout(&member, &file, task, path)?;
                nets.push(member);
            }
            members.insert(task.name.clone(), nets);
        }
        Ok(LoadedBundle {
            dir,
            bundle,
            net,
            members,
        })
    }
}

/// Checks that the follow-up tasks come after the routed ones and each follows a routed task's
/// class, and that the router chooses between exactly the routed tasks.
fn check_follow_ups(bundle: &Bundle) -> std::result::Result<(), String> {
    let routed = bundle.routed_tasks();
    let parents = &bundle.tasks[..routed];
    for task in &bundle.tasks[routed..] {
        let Some(follows) = &task.follows else {
            return Err(format!(
                "task `{}` is routed but comes after a follow-up task",
                task.name
            ));
        };
        let parent = parents.iter().find(|p| p.name == follows.task);
        if !parent.is_some_and(|p| p.classes.contains(&follows.class)) {
            return Err(format!(
                "task `{}` follows `{}` answering `{}`, which no routed task answers",
                task.name, follows.task, follows.class
            ));
        }
    }
    if let Some(router) = &bundle.router {
        let names: Vec<&String> = parents.iter().map(|t| &t.name).collect();
        if router.classes.iter().collect::<Vec<_>>() != names {
            return Err(format!(
                "the router chooses between {:?}, the routed tasks are {names:?}",
                router.classes
            ));
        }
    }
    Ok(())
}

/// Checks that `net` (read from `file`) has `task`'s readout and can run `path`.
fn check_readout(net: &SuperNet, file: &FilePath, task: &BundleTask, path: &Path) -> Result<()> {
    if net.head_index(&task.name).is_none() {
        return Err(Error::run(
            file,
            format!("the network has no readout for `{}`", task.name),
        ));
    }
    Ok(net.check_path(path)?)
}

/// Above this expected calibration error on unseen records, `predict` says that a task's
/// probabilities are calibrated for its training patients only.
pub const UNSEEN_ECE_WARNING: f64 = 0.05;

impl BundleTask {
    /// Whether the task centres features on the images given together (then its answers
    /// depend on which images come in one call).
    pub fn centres_on_site(&self) -> bool {
        self.centre == Centre::Site
    }

    /// A note for `predict`'s output when the task's probabilities were measured to be off on
    /// unseen records ([`UNSEEN_ECE_WARNING`]).
    pub fn calibration_note(&self) -> Option<String> {
        let ece = self.unseen_ece.filter(|e| *e > UNSEEN_ECE_WARNING)?;
        Some(format!(
            "task {}: probabilities are calibrated for the training patients only: on records it never saw (record k-fold) their expected calibration error was {ece:.3}; read them as a ranking, not as frequencies",
            self.name
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task_with(unseen_ece: Option<f64>) -> BundleTask {
        let mut task: BundleTask = serde_json::from_value(serde_json::json!({
            "name": "ecg", "kind": "ecg", "classes": ["A", "L", "R"],
            "path": [[0, 1, 2]], "size": 64, "protocol": "record-kfold",
        }))
        .expect("a task of the bundle format");
        task.unseen_ece = unseen_ece;
        task
    }

    #[test]
    fn predict_warns_only_where_unseen_records_were_badly_calibrated() {
        assert_eq!(task_with(None).calibration_note(), None);
        assert_eq!(task_with(Some(0.03)).calibration_note(), None);
        let note = task_with(Some(0.17)).calibration_note().expect("a note");
        assert!(note.contains("training patients only"), "{note}");
        assert!(note.contains("0.170"), "{note}");
    }
}
