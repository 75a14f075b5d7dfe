//! A task's encoded examples and the feature sets a role assignment makes of them: training
//! pictures (each example with its augmented views), validation and test examples, every
//! example's side inputs standardised with the training examples' mean and spread.

use medpath_data::AugmentConfig;
use medpath_pathnet::FeatureSet;
use medpath_split::Role;

use medpath_infer::encoder::{Encoding, no_augmentation};

use crate::encoding::{picture_features, picture_features_into};
use crate::error::{Error, Result};
use crate::pictures::PictureOf;
use crate::tasks::{Example, Input, PreparedTask};
use medpath_learn::{EvalSet, Split};
use medpath_readout::BeatPlace;
use medpath_readout::ViewRule;
use medpath_readout::{SideScaling, mean_of, subtract};
use medpath_runkit::Reporter;

/// Encoder features of every picture of a task, each held once (in memory or on disk, as the
/// encoding keeps task sets); role assignments select from them.
pub struct EncodedTask {
    /// Pictures per validation and test example averaged at test time (1: none).
    tta_views: usize,
    /// Every readable picture's maps (no labels or side inputs of their own).
    pictures: FeatureSet,
    /// Per example, the rows of its pictures in `pictures` (the example itself first, then its
    /// augmented views); empty when the example is never used or could not be read.
    rows: Vec<Vec<usize>>,
    /// Per example, the row of its first-lead picture (ECG tasks with first-lead classes),
    /// which only validation and test answers read.
    first_lead_rows: Vec<Option<usize>>,
    /// The mean features subtracted from each record's or site's pictures (empty without
    /// centring), by [`crate::tasks::Example::centre_key`], in the feature sets' layout
    /// (position-major).
    pub centres: std::collections::BTreeMap<String, Vec<f32>>,
}

/// The feature sets of one role assignment.
pub struct Assembled {
    /// Training pictures, validation and test sets.
    pub split: Split,
    /// Example index of each test row (scored or not).
    pub test_rows: Vec<usize>,
    /// Example index of each validation row (scored or not).
    pub val_rows: Vec<usize>,
    /// How the side inputs were standardised (fitted on this assignment's training examples).
    pub scaling: SideScaling,
    /// The number of each group (record or patient) in the split's `train_groups`.
    pub group_ids: std::collections::BTreeMap<String, usize>,
}

/// The pictures of `example` the run encodes: for an example that may train, itself and its
/// augmented views; for one that may be answered, itself, its test-time views and its
/// first-lead picture; none for an example that is neither.
fn pictures_of(task: &PreparedTask, example: &Example) -> Vec<PictureOf> {
    let (trains, answered) = (task.may_train(example), task.may_answer(example));
    let mut pictures = Vec::new();
    if trains || answered {
        pictures.push(PictureOf::Own);
    }
    let views = if trains {
        task.augment_views
    } else if answered {
        task.tta_views.max(1).min(task.augment_views)
    } else {
        1
    };
    pictures.extend((1..views).map(PictureOf::View));
    if answered && task.pipeline.as_ref().is_some_and(|p| p.first_lead) {
        pictures.push(PictureOf::FirstLead);
    }
    pictures
}

/// Every picture `EncodedTask::encode` asks the encoder for, with the example each belongs to
/// (see [`pictures_of`]).
pub fn task_pictures(task: &PreparedTask) -> Vec<(usize, PictureOf)> {
    task.examples
        .iter()
        .enumerate()
        .flat_map(|(i, example)| pictures_of(task, example).into_iter().map(move |p| (i, p)))
        .collect()
}

/// How a task's augmented views are made by the encoder (image tasks; a beat's views are drawn
/// by its record pipeline, so an ECG task's pictures are encoded as they are).
pub fn task_augmentation(task: &PreparedTask) -> AugmentConfig {
    if task.pipeline.is_some() {
        return no_augmentation();
    }
    task.augment.config(task.augment_views, 0)
}

/// The inputs whose mean features centre each record or site (empty without centring), in
/// the order of `task.centre_refs`, with the picture each is encoded as.
pub fn centre_pictures(task: &PreparedTask) -> Vec<(&Input, PictureOf)> {
    task.centre_refs
        .values()
        .flatten()
        .map(|input| (input, PictureOf::Own))
        .collect()
}

impl EncodedTask {
    /// Encodes (through the cache) the pictures of every example of `task` that a model of the
    /// run trains on or answers (see [`task_pictures`]).
    pub fn encode(
        enc: &Encoding,
        task: &PreparedTask,
        reporter: &mut dyn Reporter,
    ) -> Result<EncodedTask> {
        let centres = if task.centre_refs.is_empty() {
            Default::default()
        } else {
            centres(enc, task, reporter)?
        };
        let pictures = task_pictures(task);
        let inputs: Vec<(&Input, PictureOf)> = pictures
            .iter()
            .map(|&(i, p)| (&task.examples[i].input, p))
            .collect();
        let label = format!("{} encode", task.name);
        let total = inputs.len();
        let mut encoded = enc.task_set(task.size, 0, !task.centre_refs.is_empty())?;
        let mut row_of = vec![None; inputs.len()];
        let failed = picture_features_into(
            enc,
            task,
            &inputs,
            task.size,
            task_augmentation(task),
            &mut |i, mut values| {
                let example = &task.examples[pictures[i].0];
                if !task.centre_refs.is_empty() {
                    let key = example.centre_key();
                    let centre = centres.get(key).ok_or_else(|| {
                        Error::task(
                            &task.name,
                            format!("{key}: nothing to centre its features on"),
                        )
                    })?;
                    subtract(&mut values, centre);
                }
                row_of[i] = Some(encoded.len());
                encoded.push_chw(&values, 0).map_err(|e| {
                    Error::task(&task.name, format!("{}: {e}", task.describe(pictures[i].0)))
                })
            },
            &mut |done| reporter.progress(&label, done, total),
        )?;
        reporter.progress(&label, total, total);
        if !failed.is_empty() {
            reporter.warn(&format!(
                "task `{}`: {} inputs could not be read and are left out, e.g. {}",
                task.name,
                failed.len(),
                failed[0]
            ));
        }
        let (rows, first_lead_rows) = rows_by_example(task, &pictures, row_of);
        let centres = centres
            .into_iter()
            .map(|(key, chw)| Ok((key, in_layout(&encoded, &chw)?)))
            .collect::<medpath_pathnet::Result<_>>()
            .map_err(|e| Error::task(&task.name, format!("centres: {e}")))?;
        Ok(EncodedTask {
            tta_views: task.tta_views.max(1).min(task.augment_views),
            pictures: encoded,
            rows,
            first_lead_rows,
            centres,
        })
    }

    /// The feature sets of `task` under `roles` (one per example), with side inputs padded to
    /// `side_width`.
    pub fn assemble(
        &self,
        task: &PreparedTask,
        roles: &[Role],
        side_width: usize,
    ) -> Result<Assembled> {
        let scaling = SideScaling::fit(
            task.examples
                .iter()
                .zip(roles)
                .filter(|(e, r)| **r == Role::Train && e.scored && e.trains)
                .map(|(e, _)| e.side.as_slice()),
            task.side_names.len(),
        );
        let mut groups = Groups::default();
        let mut train = Chosen::default();
        let (mut val, mut test) = (Answered::default(), Answered::default());
        for (i, ((example, pictures), role)) in
            task.examples.iter().zip(&self.rows).zip(roles).enumerate()
        {
            let Some(&first) = pictures.first() else {
                continue;
            };
            let side = scaling.apply(&example.side, side_width);
            let group = groups.id(&example.group);
            match role {
                Role::Train if example.scored && example.trains => {
                    let skip = usize::from(!task.train_original && pictures.len() > 1);
                    for &row in &pictures[skip..] {
                        train.add(row, example.label, &side, group);
                    }
                }
                Role::Train => {}
                Role::Val | Role::Test => {
                    let into = if *role == Role::Val {
                        &mut val
                    } else {
                        &mut test
                    };
                    let views = self.view_rows(task, i, pictures)?;
                    into.add(i, example, (first, &views), &side, group);
                }
            }
        }
        let sets = |c: &Chosen| {
            self.pictures
                .relabelled(&c.rows, c.labels.clone(), side_width, c.side.clone())
                .map_err(|e| Error::task(&task.name, e.to_string()))
        };
        let (val_rows, test_rows) = (val.examples.clone(), test.examples.clone());
        let split = Split {
            train: sets(&train)?,
            train_groups: train.groups.clone(),
            val: val.eval_set(&sets)?,
            test: test.eval_set(&sets)?,
            view_rule: task.view_rule.clone(),
        };
        Ok(Assembled {
            split,
            test_rows,
            val_rows,
            scaling,
            group_ids: groups.0,
        })
    }

    /// The rows of example `i`'s test-time pictures: its first-lead picture under the
    /// first-lead rule, else its test-time augmented views.
    fn view_rows(&self, task: &PreparedTask, i: usize, pictures: &[usize]) -> Result<Vec<usize>> {
        if matches!(task.view_rule, ViewRule::FirstLead { .. }) {
            let row = self.first_lead_rows[i].ok_or_else(|| {
                Error::task(
                    &task.name,
                    format!("{}: first-lead picture missing", task.describe(i)),
                )
            })?;
            return Ok(vec![row]);
        }
        (1..self.tta_views)
            .map(|v| {
                pictures.get(v).copied().ok_or_else(|| {
                    Error::task(
                        &task.name,
                        format!("{}: test-time view {v} missing", task.describe(i)),
                    )
                })
            })
            .collect()
    }
}

/// Per example, the rows of its own and augmented pictures and of its first-lead picture,
/// from the row each picture got (`None`: unreadable; an example with an unreadable picture
/// is left out whole, views included).
fn rows_by_example(
    task: &PreparedTask,
    pictures: &[(usize, PictureOf)],
    row_of: Vec<Option<usize>>,
) -> (Vec<Vec<usize>>, Vec<Option<usize>>) {
    let n = task.examples.len();
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut first_lead_rows = vec![None; n];
    let mut unreadable = vec![false; n];
    for (&(owner, which), row) in pictures.iter().zip(row_of) {
        match (row, which) {
            (Some(r), PictureOf::FirstLead) => first_lead_rows[owner] = Some(r),
            (Some(r), _) => rows[owner].push(r),
            (None, _) => unreadable[owner] = true,
        }
    }
    for (mine, bad) in rows.iter_mut().zip(unreadable) {
        if bad {
            mine.clear();
        }
    }
    (rows, first_lead_rows)
}

/// Group ids numbered in order of first appearance.
#[derive(Default)]
struct Groups(std::collections::BTreeMap<String, usize>);

impl Groups {
    fn id(&mut self, name: &str) -> usize {
        let next = self.0.len();
        *self.0.entry(name.to_string()).or_insert(next)
    }
}

/// The rows chosen for a validation or test set: each example's own picture and its
/// test-time pictures.
#[derive(Default)]
struct Answered {
    own: Chosen,
    views: Vec<Chosen>,
    places: Vec<Option<BeatPlace>>,
    scored: Vec<usize>,
    examples: Vec<usize>,
}

impl Answered {
    fn add(
        &mut self,
        index: usize,
        example: &Example,
        (own, views): (usize, &[usize]),
        side: &[f32],
        group: usize,
    ) {
        if example.scored {
            self.scored.push(self.examples.len());
        }
        self.examples.push(index);
        self.places
            .push(match (&example.rejected, example.seconds) {
                (None, Some(seconds)) => Some(BeatPlace {
                    record: group,
                    seconds,
                }),
                _ => None,
            });
        self.own.add(own, example.label, side, group);
        if self.views.len() < views.len() {
            self.views.resize_with(views.len(), Chosen::default);
        }
        for (chosen, &row) in self.views.iter_mut().zip(views) {
            chosen.add(row, example.label, side, group);
        }
    }

    fn eval_set(self, sets: &dyn Fn(&Chosen) -> Result<FeatureSet>) -> Result<EvalSet> {
        let views = self.views.iter().map(sets).collect::<Result<Vec<_>>>()?;
        let has_places = self.places.iter().any(Option::is_some);
        Ok(EvalSet::new(
            sets(&self.own)?,
            views,
            if has_places { self.places } else { Vec::new() },
            self.own.groups.clone(),
            self.scored,
        )?)
    }
}

/// The pictures chosen for one feature set of an assignment.
#[derive(Default)]
struct Chosen {
    rows: Vec<usize>,
    labels: Vec<usize>,
    side: Vec<f32>,
    groups: Vec<usize>,
}

impl Chosen {
    fn add(&mut self, row: usize, label: usize, side: &[f32], group: usize) {
        self.rows.push(row);
        self.labels.push(label);
        self.side.extend_from_slice(side);
        self.groups.push(group);
    }
}

/// The mean features of each record's reference beats, or of each site's reference images (see
/// [`PreparedTask::centre_refs`]).
fn centres(
    enc: &Encoding,
    task: &PreparedTask,
    reporter: &mut dyn Reporter,
) -> Result<std::collections::BTreeMap<String, Vec<f32>>> {
    let pictures = centre_pictures(task);
    let label = format!("{} encode centres", task.name);
    let total = pictures.len();
    let (features, _) = picture_features(
        enc,
        task,
        &pictures,
        task.size,
        no_augmentation(),
        &mut |done| reporter.progress(&label, done, total),
    )?;
    let mut features = features.into_iter();
    let mut centres = std::collections::BTreeMap::new();
    for (key, inputs) in &task.centre_refs {
        let mine: Vec<Vec<f32>> = features.by_ref().take(inputs.len()).flatten().collect();
        if let Some(centre) = mean_of(&mine) {
            centres.insert(key.clone(), centre);
        }
    }
    Ok(centres)
}

/// `chw` (one picture's maps, channel-major, as the encoder gives them) in the layout of `like`'s
/// examples.
fn in_layout(like: &FeatureSet, chw: &[f32]) -> medpath_pathnet::Result<Vec<f32>> {
    let mut one = FeatureSet::new(like.height, like.width, like.channels);
    one.push_chw(chw, 0)?;
    one.example(0)
}

/// Every example's role as prepared.
pub fn prepared_roles(task: &PreparedTask) -> Vec<Role> {
    task.examples.iter().map(|e| e.role).collect()
}
