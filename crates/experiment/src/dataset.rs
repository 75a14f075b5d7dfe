//! A task's encoded examples and the feature sets a role assignment makes of them: training
//! pictures (each example with its augmented views), validation and test examples, every
//! example's side inputs standardised with the training examples' mean and spread.

use medpath_data::AugmentConfig;
use medpath_model::ViewRequest;
use medpath_pathnet::FeatureSet;
use medpath_split::Role;
use serde::{Deserialize, Serialize};

use crate::encoding::{Encoding, augmentation, no_augmentation};
use crate::error::{Error, Result};
use crate::learn::Split;
use crate::progress::Reporter;
use crate::smoothing::BeatPlace;
use crate::tasks::{Example, PreparedTask};
use crate::views::ViewRule;

/// Mean and standard deviation of each side input over the training examples: side inputs are
/// fed to the network as `(value - mean) / std`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SideScaling {
    /// Mean per side input.
    pub mean: Vec<f32>,
    /// Standard deviation per side input (1 where the input never varies).
    pub std: Vec<f32>,
}

impl SideScaling {
    /// The scaling of `rows` (each one example's raw side inputs).
    pub fn fit<'a>(rows: impl Iterator<Item = &'a [f32]>, width: usize) -> SideScaling {
        let (mut sum, mut squares, mut n) = (vec![0f64; width], vec![0f64; width], 0usize);
        for row in rows {
            for (i, v) in row.iter().enumerate() {
                sum[i] += f64::from(*v);
                squares[i] += f64::from(*v) * f64::from(*v);
            }
            n += 1;
        }
        let n = n.max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = squares
            .iter()
            .zip(&mean)
            .map(|(q, m)| {
                let sd = (q / n - m * m).max(0.0).sqrt();
                if sd > 1e-6 { sd as f32 } else { 1.0 }
            })
            .collect();
        SideScaling {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// `raw` standardised and padded with zeros to `width` (the network's side width).
    pub fn apply(&self, raw: &[f32], width: usize) -> Vec<f32> {
        let mut out = vec![0.0; width];
        for (i, v) in raw.iter().enumerate().take(width) {
            out[i] = (v - self.mean.get(i).copied().unwrap_or(0.0))
                / self.std.get(i).copied().unwrap_or(1.0);
        }
        out
    }
}

/// Encoder features of every picture of a task, each held once (in memory or on disk, as the
/// encoding keeps task sets); role assignments select from them.
pub struct EncodedTask {
    /// Pictures per validation and test example averaged at test time (1: none).
    tta_views: usize,
    /// Every readable picture's maps (no labels or side inputs of their own).
    pictures: FeatureSet,
    /// Per example, the rows of its pictures in `pictures` (the example itself first, then its
    /// augmented views); empty when the input could not be read.
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
    /// Training pictures, validation and test examples.
    pub split: Split,
    /// Example index of each test row.
    pub test_rows: Vec<usize>,
    /// Example index of each validation row.
    pub val_rows: Vec<usize>,
    /// How the side inputs were standardised (fitted on this assignment's training examples).
    pub scaling: SideScaling,
}

/// The pictures encoded for `example`: itself, then (when `views`) its augmented views, then its
/// first-lead picture where it has one.
fn requests_of(example: &Example, augment_views: usize, views: bool) -> Vec<ViewRequest> {
    let mut requests = vec![ViewRequest {
        path: example.path.clone(),
        view: 0,
    }];
    if views {
        requests.extend((1..augment_views).map(|view| ViewRequest {
            path: example.path.clone(),
            view,
        }));
        requests.extend(example.views.iter().map(|p| ViewRequest {
            path: p.clone(),
            view: 0,
        }));
    }
    requests.extend(example.first_lead.iter().map(|p| ViewRequest {
        path: p.clone(),
        view: 0,
    }));
    requests
}

/// Every picture `EncodedTask::encode` asks the encoder for, with the example each belongs to:
/// every example, and for examples that may train (training examples, or any example of a
/// cross-validated task) their augmented views; test-time views where the task averages them.
pub fn task_requests(task: &PreparedTask) -> (Vec<ViewRequest>, Vec<usize>) {
    let mut requests = Vec::new();
    let mut owners = Vec::new();
    let tta = task.tta_views.max(1);
    for (i, example) in task.examples.iter().enumerate() {
        let may_train = example.role == Role::Train || task.folds > 0;
        let views = if may_train {
            task.augment_views
        } else {
            tta.min(task.augment_views)
        };
        for request in requests_of(example, views, may_train || tta > 1) {
            requests.push(request);
            owners.push(i);
        }
    }
    (requests, owners)
}

/// How a task's augmented views are made.
pub fn task_augmentation(task: &PreparedTask) -> AugmentConfig {
    augmentation(task.augment, task.augment_views, 0)
}

/// The pictures whose mean features centre each record or site (empty without centring), in
/// the order of `task.centre_refs`.
pub fn centre_requests(task: &PreparedTask) -> Vec<ViewRequest> {
    task.centre_refs
        .values()
        .flatten()
        .map(|p| ViewRequest {
            path: p.clone(),
            view: 0,
        })
        .collect()
}

impl EncodedTask {
    /// Encodes (through the cache) every example of `task` and, for examples that may train
    /// (training examples, or any example of a cross-validated task), their augmented views.
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
        let (requests, owners) = task_requests(task);
        let label = format!("{} encode", task.name);
        let total = requests.len();
        let mut pictures = enc.task_set(task.size, 0, !task.centre_refs.is_empty())?;
        let mut row_of = vec![None; requests.len()];
        let failed = enc.features_into(
            &requests,
            task.size,
            task_augmentation(task),
            &mut |i, mut values| {
                let example = &task.examples[owners[i]];
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
                row_of[i] = Some(pictures.len());
                pictures.push_chw(&values, 0).map_err(|e| {
                    Error::task(&task.name, format!("{}: {e}", example.path.display()))
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
        let mut rows: Vec<Vec<usize>> = vec![Vec::new(); task.examples.len()];
        let mut first_lead_rows = vec![None; task.examples.len()];
        let mut unreadable = vec![false; task.examples.len()];
        for ((row, &owner), request) in row_of.into_iter().zip(&owners).zip(&requests) {
            let first_lead = task.examples[owner].first_lead.as_ref() == Some(&request.path);
            match row {
                Some(r) if first_lead => first_lead_rows[owner] = Some(r),
                Some(r) => rows[owner].push(r),
                None => unreadable[owner] = true,
            }
        }
        // An example whose picture could not be read is left out whole, views included.
        for (mine, bad) in rows.iter_mut().zip(unreadable) {
            if bad {
                mine.clear();
            }
        }
        let centres = centres
            .into_iter()
            .map(|(key, chw)| Ok((key, in_layout(&pictures, &chw)?)))
            .collect::<medpath_pathnet::Result<_>>()
            .map_err(|e| Error::task(&task.name, format!("centres: {e}")))?;
        Ok(EncodedTask {
            tta_views: task.tta_views.max(1).min(task.augment_views),
            pictures,
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
                .filter(|(_, r)| **r == Role::Train)
                .map(|(e, _)| e.side.as_slice()),
            task.side_names.len(),
        );
        // Per set (training, validation, test, then each test-time view of validation and
        // of test): the pictures' rows, labels and side inputs. With first-lead classes the
        // one test-time view is the first-lead picture.
        let first_lead = matches!(task.view_rule, ViewRule::FirstLead { .. });
        let views = if first_lead { 1 } else { self.tta_views - 1 };
        let mut chosen: Vec<Chosen> = (0..3 + 2 * views).map(|_| Chosen::default()).collect();
        let (mut test_rows, mut val_rows) = (Vec::new(), Vec::new());
        let mut group_ids = std::collections::BTreeMap::new();
        let (mut train_groups, mut val_groups) = (Vec::new(), Vec::new());
        let (mut val_places, mut test_places) = (Vec::new(), Vec::new());
        for (i, ((example, pictures), role)) in
            task.examples.iter().zip(&self.rows).zip(roles).enumerate()
        {
            let Some(&first) = pictures.first() else {
                continue;
            };
            let side = scaling.apply(&example.side, side_width);
            let next_id = group_ids.len();
            let group = *group_ids.entry(example.group.as_str()).or_insert(next_id);
            match role {
                Role::Train => {
                    let skip = usize::from(!task.train_original && pictures.len() > 1);
                    for &row in &pictures[skip..] {
                        chosen[0].add(row, example.label, &side);
                        train_groups.push(group);
                    }
                }
                Role::Val | Role::Test => {
                    let (set, rows) = if *role == Role::Val {
                        (1, &mut val_rows)
                    } else {
                        (2, &mut test_rows)
                    };
                    rows.push(i);
                    let place = example.seconds.map(|seconds| BeatPlace {
                        record: group,
                        seconds,
                    });
                    if *role == Role::Val {
                        val_groups.push(group);
                        val_places.push(place);
                    } else {
                        test_places.push(place);
                    }
                    chosen[set].add(first, example.label, &side);
                    for v in 0..views {
                        let view_row = if first_lead {
                            self.first_lead_rows[i]
                        } else {
                            pictures.get(1 + v).copied()
                        };
                        let row = view_row.ok_or_else(|| {
                            Error::task(
                                &task.name,
                                format!(
                                    "{}: test-time view {} missing",
                                    example.path.display(),
                                    v + 1
                                ),
                            )
                        })?;
                        chosen[3 + (set - 1) * views + v].add(row, example.label, &side);
                    }
                }
            }
        }
        let mut sets = chosen
            .into_iter()
            .map(|c| {
                self.pictures
                    .relabelled(&c.rows, c.labels, side_width, c.side)
                    .map_err(|e| Error::task(&task.name, e.to_string()))
            })
            .collect::<Result<Vec<FeatureSet>>>()?;
        let test_views = sets.split_off(3 + views);
        let val_views = sets.split_off(3);
        let [train, val, test]: [FeatureSet; 3] = sets
            .try_into()
            .map_err(|_| Error::task(&task.name, "assembling the feature sets"))?;
        let split = Split {
            train,
            val,
            test,
            val_views,
            test_views,
            view_rule: task.view_rule.clone(),
            train_groups,
            val_groups,
            val_places,
            test_places,
        };
        Ok(Assembled {
            split,
            test_rows,
            val_rows,
            scaling,
        })
    }
}

/// The pictures chosen for one feature set of an assignment.
#[derive(Default)]
struct Chosen {
    rows: Vec<usize>,
    labels: Vec<usize>,
    side: Vec<f32>,
}

impl Chosen {
    fn add(&mut self, row: usize, label: usize, side: &[f32]) {
        self.rows.push(row);
        self.labels.push(label);
        self.side.extend_from_slice(side);
    }
}

/// The mean features of each record's reference beats, or of each site's reference images (see
/// [`PreparedTask::centre_refs`]).
fn centres(
    enc: &Encoding,
    task: &PreparedTask,
    reporter: &mut dyn Reporter,
) -> Result<std::collections::BTreeMap<String, Vec<f32>>> {
    let requests = centre_requests(task);
    let label = format!("{} encode centres", task.name);
    let total = requests.len();
    let (features, _) = enc.features(&requests, task.size, no_augmentation(), &mut |done| {
        reporter.progress(&label, done, total)
    })?;
    let mut features = features.into_iter();
    let mut centres = std::collections::BTreeMap::new();
    for (record, files) in &task.centre_refs {
        let mine: Vec<Vec<f32>> = features.by_ref().take(files.len()).flatten().collect();
        if let Some(centre) = mean_of(&mine) {
            centres.insert(record.clone(), centre);
        }
    }
    Ok(centres)
}

/// The element-wise mean of equally long vectors (`None` for none).
pub fn mean_of(rows: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = rows.first()?;
    let mut mean = vec![0f64; first.len()];
    for row in rows {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += f64::from(*v);
        }
    }
    let n = rows.len() as f64;
    Some(mean.into_iter().map(|m| (m / n) as f32).collect())
}

/// `chw` (one picture's maps, channel-major, as the encoder gives them) in the layout of `like`'s
/// examples.
fn in_layout(like: &FeatureSet, chw: &[f32]) -> medpath_pathnet::Result<Vec<f32>> {
    let mut one = FeatureSet::new(like.height, like.width, like.channels);
    one.push_chw(chw, 0)?;
    one.example(0)
}

/// `values -= centre`, element-wise.
pub fn subtract(values: &mut [f32], centre: &[f32]) {
    for (v, c) in values.iter_mut().zip(centre) {
        *v -= c;
    }
}

/// Every example's role as prepared.
pub fn prepared_roles(task: &PreparedTask) -> Vec<Role> {
    task.examples.iter().map(|e| e.role).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_standardises_and_pads() {
        let rows: Vec<Vec<f32>> = vec![vec![1.0, 5.0], vec![3.0, 5.0]];
        let s = SideScaling::fit(rows.iter().map(|r| r.as_slice()), 2);
        assert_eq!(s.mean, vec![2.0, 5.0]);
        assert_eq!(s.std, vec![1.0, 1.0]);
        assert_eq!(s.apply(&[3.0, 5.0], 4), vec![1.0, 0.0, 0.0, 0.0]);
    }
}
