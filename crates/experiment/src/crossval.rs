//! Cross-validation of a task under the record-kfold protocol: each fold's records are tested
//! by a model trained (path search, phase 2, ablations) on the other folds only, starting from
//! the network as it was before the task. The folds' test outputs are pooled into the task's
//! test metrics, with a table per record, so every record is measured as a patient the model
//! has never seen.

use std::collections::BTreeMap;
use std::path::Path as FilePath;

use medpath_metrics::Metrics;
use medpath_pathnet::{SuperNet, argmax_rows};
use serde::{Deserialize, Serialize};

use crate::config::{Experiment, TaskSpec};
use crate::dataset::EncodedTask;
use crate::error::{Error, Result};
use crate::tasks::PreparedTask;
use crate::tasks::ecg::fold_roles;
use medpath_learn::{PooledTest, TaskPlan, TaskResult, learn_task, metrics_of};
use medpath_runkit::Reporter;
use medpath_runkit::{read_json, write_atomic, write_json};

/// One record's beats and how the evolved path did on them when its fold was tested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordRow {
    /// Record name.
    pub record: String,
    /// Fold that tested it (1-based).
    pub fold: usize,
    /// Beats per class.
    pub beats: BTreeMap<String, usize>,
    /// Share of each class's beats predicted right (classes with beats only).
    pub recall: BTreeMap<String, f64>,
    /// Share of all its beats predicted right.
    pub accuracy: f64,
}

/// What cross-validation measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Folds.
    pub folds: usize,
    /// Records of each fold.
    pub fold_records: Vec<Vec<String>>,
    /// Pooled test metrics of the evolved path.
    pub test: Metrics,
    /// Pooled test metrics of the ablations by name.
    pub ablations: BTreeMap<String, Metrics>,
    /// Pooled test metrics of the evolved path when the task answers with another readout.
    #[serde(default)]
    pub path_test: Option<Metrics>,
    /// Expected calibration error of the pooled answers on the records the folds left out
    /// (patients the answering model never saw): before and after each fold's temperature.
    #[serde(default)]
    pub test_ece: [f64; 2],
    /// Per record, sorted by name.
    pub records: Vec<RecordRow>,
    /// Example index of each pooled test row.
    pub rows: Vec<usize>,
    /// Pooled probabilities of the evolved path.
    pub probs: Vec<f32>,
    /// Pooled probabilities of the ablations.
    pub ablation_probs: BTreeMap<String, Vec<f32>>,
    /// Labels of the pooled rows.
    pub truth: Vec<usize>,
    /// Example index of every pooled test row, scored or not (the beats of whole records).
    #[serde(default)]
    pub answered_rows: Vec<usize>,
    /// The answers' probabilities on every pooled test row, before the decision.
    #[serde(default)]
    pub answers: Vec<f32>,
}

impl CrossValidation {
    /// The pooled results in the form a task's final model reports them.
    pub fn pooled(&self) -> PooledTest {
        PooledTest {
            answers: self.answers.clone(),
            test: self.test.clone(),
            ablations: self.ablations.clone(),
            ablation_probs: self.ablation_probs.clone(),
            path_test: self.path_test.clone(),
            probs: self.probs.clone(),
            truth: self.truth.clone(),
        }
    }
}

/// Everything the folds' tests give, pooled.
#[derive(Default)]
struct Pool {
    rows: Vec<usize>,
    answered_rows: Vec<usize>,
    probs: Vec<f32>,
    calibrated: Vec<f32>,
    answers: Vec<f32>,
    path_probs: Vec<f32>,
    truth: Vec<usize>,
    ablation_probs: BTreeMap<String, Vec<f32>>,
}

impl Pool {
    /// Adds one fold's test results (`scored_rows`: example index of each scored test row;
    /// `all_rows`: of every test row).
    fn add(&mut self, scored_rows: Vec<usize>, all_rows: &[usize], result: &TaskResult) {
        self.rows.extend(scored_rows);
        self.answered_rows.extend_from_slice(all_rows);
        self.probs.extend_from_slice(&result.test_probs);
        let k = result.classes.len();
        self.calibrated
            .extend(result.decision.calibrated(&result.test_probs, k));
        self.answers.extend_from_slice(&result.test_answers);
        self.path_probs.extend_from_slice(&result.path_probs);
        self.truth.extend_from_slice(&result.test_truth);
        for (name, p) in &result.ablation_probs {
            self.ablation_probs
                .entry(name.clone())
                .or_default()
                .extend_from_slice(p);
        }
    }
}

/// The records of each fold, in order of first appearance.
fn records_by_fold(task: &PreparedTask) -> Result<Vec<Vec<String>>> {
    let mut fold_records = vec![Vec::new(); task.folds];
    for x in &task.examples {
        let fold = x
            .fold
            .ok_or_else(|| Error::task(&task.name, "an example has no fold"))?;
        if !fold_records[fold].contains(&x.group) {
            fold_records[fold].push(x.group.clone());
        }
    }
    Ok(fold_records)
}

/// Runs (or resumes) every fold of `task` in `dir/fold_<i>` from the network `before`, and
/// writes `dir/kfold.json` and `dir/kfold_records.csv`. Each fold's validation records are the
/// task's `val_fraction` of its training records.
pub fn cross_validate(
    e: &Experiment,
    before: &SuperNet,
    task: &PreparedTask,
    encoded: &EncodedTask,
    plan: &TaskPlan<'_>,
    dir: &FilePath,
    reporter: &mut dyn Reporter,
) -> Result<CrossValidation> {
    let val_fraction = match e.tasks.get(&task.name) {
        Some(TaskSpec::Ecg(t)) => t.val_fraction,
        Some(TaskSpec::Images(t)) => t.val_fraction,
        None => return Err(Error::task(&task.name, "is not a task of the experiment")),
    };
    let saved = dir.join("kfold.json");
    if saved.exists() {
        return Ok(read_json(&saved)?);
    }
    let fold_records = records_by_fold(task)?;
    let mut pool = Pool::default();
    for (fold, tested) in fold_records.iter().enumerate() {
        reporter.stage(&format!(
            "  [{}] fold {} of {}: test records {}",
            task.name,
            fold + 1,
            task.folds,
            tested.join(" ")
        ));
        let seed = plan.seed + 100 * (fold as u64 + 1);
        let roles = fold_roles(task, fold, val_fraction, seed);
        let assembled = encoded.assemble(task, &roles, e.side_width())?;
        let fold_dir = dir.join(format!("fold_{}", fold + 1));
        let result_file = fold_dir.join("result.json");
        let result: TaskResult = if result_file.exists() {
            read_json(&result_file)?
        } else {
            let mut net = before.clone();
            let fold_plan = TaskPlan {
                seed,
                ablations: true,
                pooled: None,
                smoothing: plan.smoothing.clone(),
                ..*plan
            };
            learn_task(
                &e.learn_settings(),
                &mut net,
                &fold_plan,
                &assembled.split,
                &fold_dir,
                reporter,
            )?
        };
        let scored_rows = assembled
            .split
            .test
            .scored
            .iter()
            .map(|&r| assembled.test_rows[r])
            .collect();
        pool.add(scored_rows, &assembled.test_rows, &result);
    }
    let cv = pooled_results(e, task, plan, fold_records, pool);
    write_records_csv(&dir.join("kfold_records.csv"), &task.classes, &cv.records)?;
    write_json(&saved, &cv)?;
    reporter.stage(&format!(
        "  [{}] record-kfold, pooled over {} folds: accuracy {:.4} [{:.4}, {:.4}] (records resampled), macro recall {:.4}",
        task.name,
        task.folds,
        cv.test.accuracy,
        cv.test.accuracy_ci95[0],
        cv.test.accuracy_ci95[1],
        cv.test.recall_macro
    ));
    Ok(cv)
}

/// The pooled metrics (bootstrap by record) and the per-record table of the folds' tests.
fn pooled_results(
    e: &Experiment,
    task: &PreparedTask,
    plan: &TaskPlan<'_>,
    fold_records: Vec<Vec<String>>,
    pool: Pool,
) -> CrossValidation {
    let classes = &task.classes;
    let mut record_ids: BTreeMap<&str, usize> = BTreeMap::new();
    let groups: Vec<usize> = pool
        .rows
        .iter()
        .map(|&i| {
            let next = record_ids.len();
            *record_ids
                .entry(task.examples[i].group.as_str())
                .or_insert(next)
        })
        .collect();
    let scored = (pool.truth.as_slice(), groups.as_slice());
    let learn = e.learn_settings();
    let e = &learn;
    let test = metrics_of(e, classes, scored, &pool.probs, plan.seed);
    let ablations = pool
        .ablation_probs
        .iter()
        .map(|(name, p)| (name.clone(), metrics_of(e, classes, scored, p, plan.seed)))
        .collect();
    let path_test = (!pool.path_probs.is_empty())
        .then(|| metrics_of(e, classes, scored, &pool.path_probs, plan.seed));
    let records = record_rows(task, &pool);
    let k = classes.len();
    let ece = |probs: &[f32]| {
        medpath_metrics::reliability(probs, k, &pool.truth, medpath_readout::CALIBRATION_BINS).1
    };
    let test_ece = [ece(&pool.probs), ece(&pool.calibrated)];
    CrossValidation {
        test_ece,
        folds: task.folds,
        fold_records,
        test,
        ablations,
        path_test,
        records,
        rows: pool.rows,
        probs: pool.probs,
        ablation_probs: pool.ablation_probs,
        truth: pool.truth,
        answered_rows: pool.answered_rows,
        answers: pool.answers,
    }
}

/// One row per record of how its scored beats were answered.
fn record_rows(task: &PreparedTask, pool: &Pool) -> Vec<RecordRow> {
    let classes = &task.classes;
    let predicted = argmax_rows(&pool.probs, classes.len());
    let mut per_record: BTreeMap<String, (usize, Vec<usize>, Vec<usize>)> = BTreeMap::new();
    for ((&example, &y), &p) in pool.rows.iter().zip(&pool.truth).zip(&predicted) {
        let x = &task.examples[example];
        let entry = per_record.entry(x.group.clone()).or_insert_with(|| {
            (
                x.fold.unwrap_or(0),
                vec![0; classes.len()],
                vec![0; classes.len()],
            )
        });
        entry.1[y] += 1;
        entry.2[y] += usize::from(y == p);
    }
    per_record
        .into_iter()
        .map(|(record, (fold, seen, right))| RecordRow {
            record,
            fold: fold + 1,
            beats: classes
                .iter()
                .zip(&seen)
                .map(|(c, &n)| (c.clone(), n))
                .collect(),
            recall: classes
                .iter()
                .enumerate()
                .filter(|(i, _)| seen[*i] > 0)
                .map(|(i, c)| (c.clone(), right[i] as f64 / seen[i] as f64))
                .collect(),
            accuracy: right.iter().sum::<usize>() as f64 / seen.iter().sum::<usize>().max(1) as f64,
        })
        .collect()
}

/// The per-record table as CSV: record, fold, beats per class, recall per class, accuracy.
fn write_records_csv(path: &FilePath, classes: &[String], rows: &[RecordRow]) -> Result<()> {
    let mut csv = String::from("record,fold");
    for c in classes {
        csv.push_str(&format!(",beats_{c}"));
    }
    for c in classes {
        csv.push_str(&format!(",recall_{c}"));
    }
    csv.push_str(",accuracy\n");
    for row in rows {
        csv.push_str(&format!("{},{}", row.record, row.fold));
        for c in classes {
            csv.push_str(&format!(",{}", row.beats[c]));
        }
        for c in classes {
            match row.recall.get(c) {
                Some(r) => csv.push_str(&format!(",{r:.4}")),
                None => csv.push(','),
            }
        }
        csv.push_str(&format!(",{:.4}\n", row.accuracy));
    }
    Ok(write_atomic(path, csv.as_bytes())?)
}
