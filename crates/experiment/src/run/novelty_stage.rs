//! The rule that rejects inputs of no task: fitted on every task's training inputs, its
//! threshold set on validation inputs, measured on the test inputs and on a generated set of
//! pictures of no task.

use std::path::Path as FilePath;

use medpath_model::ViewRequest;
use medpath_pathnet::FeatureSet;

use std::collections::BTreeMap;

use super::other_beats::{other_training_beats, symbol_counts};
use super::router::RouterData;
use super::{Encoded, Learned, RunContext};
use crate::config::Experiment;
use crate::encoding::picture_features_into;
use crate::error::Result;
use crate::ood::write_ood_set;
use crate::pictures::{Drawer, PictureOf};
use crate::tasks::{Input, PreparedTask};
use medpath_infer::encoder::{Encoding, no_augmentation};
use medpath_infer::novelty::{NoveltyModel, NoveltyReport};
use medpath_runkit::Reporter;

/// The generated pictures of no task (written under `dir/ood`), encoded at `size`, with each
/// one's kind and whether it is blank.
fn encode_ood_set(
    e: &Experiment,
    enc: &Encoding,
    size: usize,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<(FeatureSet, Vec<String>, Vec<bool>)> {
    let files = write_ood_set(&dir.join("ood"), e.seed)?;
    let requests: Vec<ViewRequest> = files.iter().cloned().map(ViewRequest::file).collect();
    let total = requests.len();
    let (features, _) = enc.features(&requests, size, no_augmentation(), &mut |done| {
        reporter.progress("novelty: encode generated pictures", done, total)
    })?;
    let mut ood_set = Encoding::feature_set(size, e.side_width());
    let mut kinds = Vec::new();
    let mut ood_blank = Vec::new();
    for (values, file) in features.iter().zip(&files) {
        if let Some(values) = values {
            ood_set.push_chw(values, 0)?;
            ood_blank.push(medpath_infer::novelty::blank_file(file)?.is_some());
            let name = file
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            kinds.push(
                name.rsplit_once('_')
                    .map_or(name.clone(), |(k, _)| k.to_string()),
            );
        }
    }
    Ok((ood_set, kinds, ood_blank))
}

/// Whether each of the novelty stage's test inputs is blank, in the order their scores come:
/// by task, then as the router's (or the one task's) test rows were encoded.
fn test_blanks(
    prepared: &[PreparedTask],
    encoded_tasks: &[Encoded],
    routed: Option<&RouterData>,
) -> Result<Vec<bool>> {
    let inputs: Vec<(usize, usize)> = match routed {
        Some(r) => (0..prepared.len())
            .flat_map(|t| {
                r.test_rows
                    .iter()
                    .filter(move |&&(task, _)| task == t)
                    .copied()
            })
            .collect(),
        None => encoded_tasks[0].test_rows.iter().map(|&i| (0, i)).collect(),
    };
    let mut drawers: Vec<Drawer> = prepared.iter().map(Drawer::new).collect();
    inputs
        .into_iter()
        .map(|(t, i)| {
            let image = drawers[t].image(&prepared[t].examples[i].input, PictureOf::Own)?;
            Ok(medpath_infer::novelty::blank_picture(&image).is_some())
        })
        .collect()
}

/// The inputs the novelty rule is fitted and measured on: the router's features split by task,
/// or with one task (no router) that task's own, with the record or patient of every
/// training input.
fn novelty_inputs(
    cx: &RunContext<'_>,
    learned: &Learned,
    reporter: &mut dyn Reporter,
) -> Result<NoveltyInputs> {
    let routed = learned.router.as_ref().map(|(_, routed)| routed);
    let by_task = |set: &FeatureSet, t: usize| {
        let rows: Vec<usize> = (0..set.len()).filter(|&i| set.labels[i] == t).collect();
        Ok(set.select(&rows)?)
    };
    let groups_of = |split: &medpath_learn::Split, t: Option<usize>| -> Vec<usize> {
        (0..split.train_groups.len())
            .filter(|&i| t.is_none_or(|t| split.train.labels[i] == t))
            .map(|i| split.train_groups[i])
            .collect()
    };
    Ok(match routed {
        Some(r) => {
            let tasks = 0..cx.routed.len();
            let each = |set| {
                tasks
                    .clone()
                    .map(|t| by_task(set, t))
                    .collect::<Result<_>>()
            };
            let mut inputs = NoveltyInputs {
                size: cx.e.router.size,
                sets: [
                    each(&r.split.train)?,
                    each(&r.split.val.set)?,
                    each(&r.split.test.set)?,
                ],
                train_groups: tasks
                    .clone()
                    .map(|t| groups_of(&r.split, Some(t)))
                    .collect(),
            };
            for t in tasks {
                // The router numbered each training record's group.
                let mut group_of = BTreeMap::new();
                for (&(row_task, i), &group) in r.train_rows.iter().zip(&r.split.train_groups) {
                    if row_task == t {
                        group_of.insert(learned.prepared[t].examples[i].group.clone(), group);
                    }
                }
                let task = (&learned.prepared[t], t);
                add_other_beats(cx, task, group_of, &mut inputs, reporter)?;
            }
            inputs
        }
        None => {
            let split = &learned.encoded[0].split;
            let mut inputs = NoveltyInputs {
                size: learned.prepared[0].size,
                sets: [
                    vec![split.train.clone()],
                    vec![split.val.fitness().clone()],
                    vec![split.test.fitness().clone()],
                ],
                train_groups: vec![groups_of(split, None)],
            };
            let group_of = learned.encoded[0].group_ids.clone();
            add_other_beats(
                cx,
                (&learned.prepared[0], 0),
                group_of,
                &mut inputs,
                reporter,
            )?;
            inputs
        }
    })
}

/// Adds to task `t`'s training inputs of the rule a sample of its training records' beats of
/// none of its classes (ECG tasks; see [`other_training_beats`]), each with its record's number
/// in `group_of`.
fn add_other_beats(
    cx: &RunContext<'_>,
    (task, t): (&PreparedTask, usize),
    mut group_of: BTreeMap<String, usize>,
    inputs: &mut NoveltyInputs,
    reporter: &mut dyn Reporter,
) -> Result<()> {
    let beats = other_training_beats(task, cx.e.novelty.other_beats, cx.e.seed + 555 + t as u64)?;
    if beats.is_empty() {
        return Ok(());
    }
    // A record none of whose beats the rule was fitted on gets a number of its own.
    let numbered = inputs.train_groups.iter().flatten();
    let mut next = numbered.chain(group_of.values()).max().map_or(0, |g| g + 1);
    let pictures: Vec<(&Input, PictureOf)> =
        beats.iter().map(|b| (&b.input, PictureOf::Own)).collect();
    let (set, groups) = (&mut inputs.sets[0][t], &mut inputs.train_groups[t]);
    let label = format!("novelty: encode other beats of {}", task.name);
    let total = pictures.len();
    picture_features_into(
        cx.enc,
        task,
        &pictures,
        inputs.size,
        no_augmentation(),
        &mut |k, values| {
            let group = *group_of.entry(beats[k].group.clone()).or_insert_with(|| {
                next += 1;
                next - 1
            });
            groups.push(group);
            Ok(set.push_chw(&values, t)?)
        },
        &mut |done| reporter.progress(&label, done, total),
    )?;
    reporter.stage(&format!(
        "novelty: task `{}` also fitted on {} beats of its training records of none of its classes ({})",
        task.name,
        beats.len(),
        symbol_counts(&beats)
    ));
    Ok(())
}

/// What the novelty rule is fitted and measured on.
struct NoveltyInputs {
    /// Input side.
    size: usize,
    /// Training, validation and test feature sets, one per task each.
    sets: [Vec<FeatureSet>; 3],
    /// Per task, the record or patient of each training row.
    train_groups: Vec<Vec<usize>>,
}

/// Fits the rule that rejects inputs of no task on every task's training inputs at the
/// router's size (the task's own size for a one-task model), sets its threshold on inputs of
/// patients the rule was not fitted on, and measures it on the test inputs and on the
/// generated out-of-distribution set.
pub(super) fn novelty_stage(
    cx: &RunContext<'_>,
    learned: &Learned,
    reporter: &mut dyn Reporter,
) -> Result<(NoveltyModel, NoveltyReport)> {
    let (e, order) = (cx.e, &cx.routed);
    let routed_tasks = cx.routed.len();
    let prepared = &learned.prepared[..routed_tasks];
    let encoded_tasks = &learned.encoded[..routed_tasks];
    let routed = learned.router.as_ref().map(|(_, routed)| routed);
    let inputs = novelty_inputs(cx, learned, reporter)?;
    let (size, [train, val, test]) = (inputs.size, inputs.sets);
    let (train_refs, val_refs): (Vec<_>, Vec<_>) = (train.iter().collect(), val.iter().collect());
    let fitted_on = (train_refs.as_slice(), inputs.train_groups.as_slice());
    let model = NoveltyModel::fit(order, size, fitted_on, &val_refs, e.novelty.keep)?;
    let (ood_set, kinds, ood_blank) = encode_ood_set(e, cx.enc, size, cx.dir, reporter)?;
    let scores = |sets: &[FeatureSet]| -> Result<Vec<f64>> {
        let mut all = Vec::new();
        for set in sets {
            all.extend(model.scores(set)?);
        }
        Ok(all)
    };
    // Both rules: a blank picture is rejected whatever its score (an infinite one here).
    let either = |scores: Vec<f64>, blank: &[bool]| -> Vec<f64> {
        scores
            .into_iter()
            .zip(blank)
            .map(|(s, &b)| if b { f64::INFINITY } else { s })
            .collect()
    };
    let test_scores = scores(&test)?;
    let test_blank = if test_scores.is_empty() {
        Vec::new()
    } else {
        test_blanks(prepared, encoded_tasks, routed)?
    };
    let ood_scores = either(model.scores(&ood_set)?, &ood_blank);
    let ood: Vec<(String, f64)> = kinds.into_iter().zip(ood_scores).collect();
    let report = medpath_infer::novelty::report(
        &model,
        &scores(&val)?,
        &either(test_scores, &test_blank),
        &ood,
    );
    reporter.stage(&format!(
        "novelty: threshold {:.1} keeps {:.1} % of validation and {} of test inputs; accepts {:.1} % of {} generated pictures of no task (AUROC against {} inputs {})",
        report.threshold,
        100.0 * report.val_kept,
        report
            .test_kept
            .map_or("n/a (no test inputs)".into(), |k| format!("{:.1} %", 100.0 * k)),
        100.0 * report.ood_false_accept,
        report.ood,
        report.auroc_inputs,
        report.auroc.map_or("n/a".into(), |a| format!("{a:.4}"))
    ));
    Ok((model, report))
}
