//! Preparing a task's examples: beat images cut from WFDB records or images found in folders,
//! each with a class, a group (record or patient) and a role under the task's protocol.

use std::path::{Path, PathBuf};

use medpath_data::{ImageDataset, SplitPlan, assign_splits, content_hashes};
use medpath_ecg::splits::{
    DS1, DS2, Fractions, inter_patient_split, intra_patient_split, record_folds,
};
use medpath_ecg::{
    BeatOptions, ExportedBeat, TraceStyle, ViewPlan, export_beat_images, parse_lead_list,
    reference_beats, render_traces,
};
use medpath_split::Role;
use medpath_wfdb::Record;
use medpath_wfdb::RecordPath;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::config::{AugmentSet, Centre, EcgTask, ImageTask, SideInput, TaskSpec, one, yes};
use crate::error::{Error, Result};
use crate::views::ViewRule;

/// One input of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Example {
    /// The image file.
    pub path: PathBuf,
    /// Class index.
    pub label: usize,
    /// Record or patient: examples of one group never straddle train and test unless the
    /// protocol says so.
    pub group: String,
    /// Train, val or test.
    pub role: Role,
    /// Side inputs as measured (not yet standardised), see [`PreparedTask::side_names`].
    #[serde(default)]
    pub side: Vec<f32>,
    /// Augmented pictures of the same input, used while it trains (ECG beats).
    #[serde(default)]
    pub views: Vec<PathBuf>,
    /// The beat drawn with its first lead alone, which the task's first-lead classes are read
    /// from (ECG beats of a task with `first_lead_classes`; see [`crate::views`]).
    #[serde(default)]
    pub first_lead: Option<PathBuf>,
    /// Its fold under the record-kfold protocol.
    #[serde(default)]
    pub fold: Option<usize>,
    /// Time of the beat's R peak in its record, in seconds (ECG beats; none for images).
    #[serde(default)]
    pub seconds: Option<f64>,
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
    /// Views per training image.
    pub augment_views: usize,
    /// Which augmented views.
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
    /// How beats were cut (ECG tasks).
    pub beat_options: Option<serde_json::Value>,
    /// Names of the side inputs each example carries.
    #[serde(default)]
    pub side_names: Vec<String>,
    /// Folds of the record-kfold protocol (0: not cross-validated).
    #[serde(default)]
    pub folds: usize,
    /// Per record (ECG) or site (images, see [`Example::site`]), pictures of its own inputs (of
    /// any kind) whose mean features are subtracted from its examples' (empty: no centring).
    #[serde(default)]
    pub centre_refs: std::collections::BTreeMap<String, Vec<PathBuf>>,
}

impl PreparedTask {
    /// Indices of the examples with `role`.
    pub fn with_role(&self, role: Role) -> Vec<usize> {
        (0..self.examples.len())
            .filter(|&i| self.examples[i].role == role)
            .collect()
    }

    /// Examples per role and class, for a summary line.
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
                            .filter(|e| e.role == role && e.label == c)
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
            if self.with_role(role).is_empty() {
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
                .any(|e| e.label == c && e.role == Role::Train)
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

/// The beat options of an ECG task.
pub fn beat_options(task: &EcgTask) -> Result<BeatOptions> {
    let mut options = BeatOptions::paper();
    options.classes = task.classes.clone();
    options.leads = parse_lead_list(&task.leads)?;
    options.context = task.context;
    options.normalization = task.normalize;
    if task.side_inputs.contains(&SideInput::Signal) {
        options.signal_points = task.signal_points;
    }
    options.validate()?;
    Ok(options)
}

/// The side inputs of one exported beat, in the order [`EcgTask::side_names`] lists them.
fn side_of(task: &EcgTask, beat: &ExportedBeat) -> Vec<f32> {
    let mut side = Vec::new();
    for input in &task.side_inputs {
        match input {
            SideInput::Rhythm => side.extend_from_slice(&beat.rhythm),
            SideInput::Signal => side.extend_from_slice(&beat.signal),
            SideInput::Morphology => side.extend_from_slice(&beat.measurements),
        }
    }
    side
}

/// Keeps at most `cap` beats of each (record, class), a seeded sample, in their original order.
fn cap_per_record(examples: Vec<Example>, cap: Option<usize>, seed: u64) -> Vec<Example> {
    let Some(cap) = cap else { return examples };
    let mut groups: std::collections::BTreeMap<(String, usize), Vec<usize>> = Default::default();
    for (i, e) in examples.iter().enumerate() {
        groups
            .entry((e.group.clone(), e.label))
            .or_default()
            .push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xCA9);
    let mut keep = vec![false; examples.len()];
    for ids in groups.values_mut() {
        ids.shuffle(&mut rng);
        for &i in ids.iter().take(cap) {
            keep[i] = true;
        }
    }
    examples
        .into_iter()
        .zip(keep)
        .filter_map(|(e, k)| k.then_some(e))
        .collect()
}

fn records_in(dir: &Path, only: Option<&[String]>) -> Result<Vec<RecordPath>> {
    let mut records = RecordPath::list_dir(dir)?;
    if let Some(names) = only {
        records.retain(|r| names.contains(&r.name));
    }
    Ok(records)
}

/// The augmented views of an ECG task's beats (`views` pictures per beat).
fn view_plan(task: &EcgTask, views: usize, seed: u64) -> ViewPlan {
    ViewPlan {
        views,
        augment: task.augment,
        seed,
        first_lead: !task.first_lead_classes.is_empty(),
    }
}

/// Cuts beats of `records` into `out` (with the views `plan` asks for) and returns them as
/// examples of `task` with `role`.
fn export(
    name: &str,
    task: &EcgTask,
    records: &[RecordPath],
    plan: &ViewPlan,
    role: Role,
    out: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Example>> {
    if records.is_empty() {
        return Err(Error::task(
            name,
            format!("no WFDB records for {}", out.display()),
        ));
    }
    let options = beat_options(task)?;
    let summary = export_beat_images(
        records,
        &options,
        task.size as u32,
        plan,
        out,
        &mut |_, _, _| {},
    )?;
    notes.push(summary.line());
    let examples = summary
        .beats
        .iter()
        .filter_map(|beat| {
            Some(Example {
                path: out.join(&beat.path),
                label: task.classes.iter().position(|c| *c == beat.symbol)?,
                group: beat.record.clone(),
                role,
                side: side_of(task, beat),
                views: beat.views.iter().map(|v| out.join(v)).collect(),
                first_lead: beat.first_lead.as_ref().map(|p| out.join(p)),
                fold: None,
                seconds: Some(beat.seconds),
                site: None,
            })
        })
        .collect();
    Ok(cap_per_record(examples, task.max_per_record, plan.seed))
}

fn prepare_ecg(name: &str, task: &EcgTask, data_dir: &Path, seed: u64) -> Result<PreparedTask> {
    let options = beat_options(task)?;
    let mut notes = Vec::new();
    let main = records_in(&task.mitdb, task.records.as_deref())?;
    let mut examples = export(
        name,
        task,
        &main,
        &view_plan(task, task.augment_views, seed),
        Role::Train,
        &data_dir.join("beats"),
        &mut notes,
    )?;
    if let Some(cap) = task.max_per_record {
        notes.push(format!(
            "at most {cap} beats of each class per record (a seeded sample): {} beats kept",
            examples.len()
        ));
    }
    if !task.smooth.classes.is_empty() {
        notes.push(format!(
            "answers share each beat's {} probability out as the beats of its record within {} s on either side do (no labels used; predict does the same on a record)",
            task.smooth.classes.join("+"),
            task.smooth.seconds
        ));
    }
    if task.smooth.prior_steps > 0 {
        notes.push(format!(
            "answers re-weighted to each record's class balance, estimated from the answers themselves in {} round(s) from equal classes (no labels used; predict does the same on a record)",
            task.smooth.prior_steps
        ));
    }
    let labels: Vec<usize> = examples.iter().map(|e| e.label).collect();
    let records: Vec<String> = examples.iter().map(|e| e.group.clone()).collect();
    let mut folds = 0;
    let protocol;
    if let Some(test_dir) = &task.test_mitdb {
        let roles = inter_patient_split(&records, &labels, &[], task.val_fraction, seed);
        for (e, r) in examples.iter_mut().zip(roles) {
            e.role = r;
        }
        let test_records = records_in(test_dir, None)?;
        let overlap: Vec<&String> = test_records
            .iter()
            .map(|r| &r.name)
            .filter(|n| records.contains(n))
            .collect();
        if !overlap.is_empty() {
            return Err(Error::task(
                name,
                format!(
                    "records {overlap:?} are in both mitdb and test_mitdb: the inter-patient protocol needs disjoint records"
                ),
            ));
        }
        let test = export(
            name,
            &EcgTask {
                max_per_record: None,
                ..task.clone()
            },
            &test_records,
            &view_plan(task, 1, seed),
            Role::Test,
            &data_dir.join("test_beats"),
            &mut notes,
        )?;
        examples.extend(test);
        protocol = format!(
            "inter-patient: test = every beat of the records in {}, validation carved by record from the training records",
            test_dir.display()
        );
    } else if task.protocol == "inter-patient" {
        let keep: Vec<bool> = records
            .iter()
            .map(|r| DS1.contains(&r.as_str()) || DS2.contains(&r.as_str()))
            .collect();
        let dropped = keep.iter().filter(|k| !**k).count();
        examples = examples
            .into_iter()
            .zip(&keep)
            .filter_map(|(e, k)| k.then_some(e))
            .collect();
        let labels: Vec<usize> = examples.iter().map(|e| e.label).collect();
        let records: Vec<String> = examples.iter().map(|e| e.group.clone()).collect();
        let roles = inter_patient_split(&records, &labels, &DS2, task.val_fraction, seed);
        for (e, r) in examples.iter_mut().zip(roles) {
            e.role = r;
        }
        notes.push(format!(
            "{dropped} beats of records outside DS1 and DS2 (paced records) left out"
        ));
        protocol = "inter-patient (de Chazal 2004): train DS1, test DS2, validation carved by record from DS1".into();
    } else if task.protocol == "record-kfold" {
        folds = task.folds;
        let fold_of = record_folds(&records, &labels, folds, seed);
        let roles = inter_patient_split(&records, &labels, &[], task.val_fraction, seed);
        for ((e, f), r) in examples.iter_mut().zip(fold_of).zip(roles) {
            e.fold = Some(f);
            e.role = r;
        }
        protocol = format!(
            "record-kfold: records dealt into {folds} folds (each class in as many folds as records allow); each fold tested by a model trained on the other folds, validation carved by record from those; every record tested once, as an unseen patient"
        );
    } else {
        let fractions = Fractions {
            val: task.val_fraction,
            test: task.test_fraction,
        };
        for (e, r) in examples
            .iter_mut()
            .zip(intra_patient_split(&labels, fractions, seed))
        {
            e.role = r;
        }
        protocol = "intra-patient (the paper's): beats of all records split at random, stratified by class; beats of one patient fall on both sides, so accuracy is optimistic".into();
    }
    Ok(PreparedTask {
        name: name.to_string(),
        kind: "ecg".into(),
        classes: task.classes.clone(),
        examples,
        protocol,
        notes,
        size: task.size,
        augment_views: 1,
        augment: AugmentSet::Paper,
        tta_views: 1,
        train_original: true,
        view_rule: task.view_rule().map_err(|e| Error::task(name, e))?,
        beat_options: Some(serde_json::to_value(&options).expect("plain data serialises")),
        side_names: task.side_names(),
        folds,
        centre_refs: match task.centre {
            Centre::None | Centre::Site => Default::default(),
            Centre::Record => {
                let mut all = main.clone();
                if let Some(dir) = &task.test_mitdb {
                    all.extend(records_in(dir, None)?);
                }
                draw_centre_refs(task, &all, &data_dir.join("centre"))?
            }
        },
    })
}

/// Draws up to `centre_beats` beats of any kind of each record (evenly spaced) into
/// `out/<record>/`, for per-record centring.
fn draw_centre_refs(
    task: &EcgTask,
    records: &[RecordPath],
    out: &Path,
) -> Result<std::collections::BTreeMap<String, Vec<PathBuf>>> {
    let options = beat_options(task)?;
    let style = TraceStyle::for_size(task.size as u32);
    let mut refs = std::collections::BTreeMap::new();
    for path in records {
        let record = Record::read(&path.dir.join(&path.name))?;
        let annotations = record.read_annotations("atr")?;
        let Ok(beats) = reference_beats(&record, &annotations, &options, task.centre_beats) else {
            continue;
        };
        let dir = out.join(&path.name);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let files = beats
            .beats
            .iter()
            .map(|beat| {
                let file = dir.join(format!("{}.png", beat.sample));
                render_traces(&beat.traces, &style)?.save_png(&file)?;
                Ok(file)
            })
            .collect::<Result<Vec<_>>>()?;
        refs.insert(path.name.clone(), files);
    }
    Ok(refs)
}

fn prepare_images(name: &str, task: &ImageTask, seed: u64) -> Result<PreparedTask> {
    let mut dataset = ImageDataset::scan(&task.root)?;
    dataset.check_trainable()?;
    let mut notes = dataset.warnings.clone();
    let given_test = dataset
        .entries
        .iter()
        .any(|e| e.given_split == Some(Role::Test));
    let mut plan = SplitPlan {
        val_fraction: task.val_fraction,
        test_fraction: task.test_fraction,
        seed,
    };
    if task.test_dir.is_some() {
        // The separate folder is the test set: everything under root trains or validates.
        for e in &mut dataset.entries {
            if e.given_split == Some(Role::Test) {
                e.given_split = None;
            }
        }
        plan.test_fraction = 0.0;
    }
    let hashes = content_hashes(&dataset)?;
    let assignment = assign_splits(&dataset, &hashes, &plan);
    notes.extend(assignment.notes.iter().cloned());
    let site_of = |from_test_folder: bool| {
        (task.centre == Centre::Site).then(|| {
            if from_test_folder {
                TEST_SITE
            } else {
                TRAINING_SITE
            }
            .to_string()
        })
    };
    let mut examples: Vec<Example> = dataset
        .entries
        .iter()
        .zip(&assignment.roles)
        .map(|(e, &role)| Example {
            path: e.path.clone(),
            label: e.class,
            group: e.patient.clone(),
            role,
            side: Vec::new(),
            views: Vec::new(),
            first_lead: None,
            fold: None,
            seconds: None,
            site: site_of(e.given_split == Some(Role::Test)),
        })
        .filter(|e| task.test_dir.is_none() || e.role != Role::Test)
        .collect();
    let protocol = if let Some(test_dir) = &task.test_dir {
        let test = ImageDataset::scan(test_dir)?;
        notes.extend(test.warnings.iter().map(|w| format!("test folder: {w}")));
        for entry in &test.entries {
            let class_name = &test.classes[entry.class];
            let label = dataset
                .classes
                .iter()
                .position(|c| c == class_name)
                .ok_or_else(|| {
                    Error::task(
                        name,
                        format!(
                            "test folder class `{class_name}` is not a training class ({:?})",
                            dataset.classes
                        ),
                    )
                })?;
            examples.push(Example {
                path: entry.path.clone(),
                label,
                group: entry.patient.clone(),
                role: Role::Test,
                side: Vec::new(),
                views: Vec::new(),
                first_lead: None,
                fold: None,
                seconds: None,
                site: site_of(true),
            });
        }
        format!(
            "separate test folder {} (validation carved by patient from {})",
            test_dir.display(),
            task.root.display()
        )
    } else if given_test {
        format!(
            "official test split ({}/test); validation carved by patient from train",
            task.root.display()
        )
    } else {
        format!(
            "patient-aware re-split: {:.0} % test and {:.0} % validation carved by patient from {} (not comparable with official-test-set numbers)",
            100.0 * task.test_fraction,
            100.0 * task.val_fraction,
            task.root.display()
        )
    };
    Ok(PreparedTask {
        name: name.to_string(),
        kind: "images".into(),
        classes: dataset.classes.clone(),
        protocol,
        notes,
        size: task.size,
        augment_views: task.augment_views.max(1),
        augment: task.augment,
        tta_views: task.tta_views.max(1),
        train_original: task.train_original,
        view_rule: ViewRule::Mean,
        beat_options: None,
        side_names: Vec::new(),
        folds: 0,
        centre_refs: site_refs(&examples),
        examples,
    })
}

/// The images whose mean features centre each site: a site's training images, or all its
/// images where it has none (a test folder). Empty without site centring.
fn site_refs(examples: &[Example]) -> std::collections::BTreeMap<String, Vec<PathBuf>> {
    let sited = || examples.iter().filter_map(|e| Some((e.site.as_ref()?, e)));
    let training_sites: std::collections::BTreeSet<&String> = sited()
        .filter(|(_, e)| e.role == Role::Train)
        .map(|(site, _)| site)
        .collect();
    let mut refs = std::collections::BTreeMap::<String, Vec<PathBuf>>::new();
    for (site, e) in sited() {
        if e.role == Role::Train || !training_sites.contains(site) {
            refs.entry(site.clone()).or_default().push(e.path.clone());
        }
    }
    refs
}

/// Prepares task `name` under `data_dir` (beat images go there), or reads the preparation a
/// previous run left in `data_dir/prepared.json`.
pub fn prepare(name: &str, spec: &TaskSpec, data_dir: &Path, seed: u64) -> Result<PreparedTask> {
    let saved = data_dir.join("prepared.json");
    if let Ok(text) = std::fs::read_to_string(&saved) {
        if let Ok(prepared) = serde_json::from_str::<PreparedTask>(&text) {
            return Ok(prepared);
        }
    }
    // Whatever an interrupted preparation left behind is redone from scratch.
    if data_dir.exists() {
        std::fs::remove_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
    }
    std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
    let prepared = match spec {
        TaskSpec::Ecg(task) => prepare_ecg(name, task, data_dir, seed)?,
        TaskSpec::Images(task) => prepare_images(name, task, seed)?,
    };
    prepared.check()?;
    crate::files::write_json(&saved, &prepared)?;
    Ok(prepared)
}
