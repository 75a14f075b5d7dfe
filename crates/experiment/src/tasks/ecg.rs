//! Preparing an ECG task: every record goes through the task's [`EcgPipeline`] (the one
//! `predict` reads records with), and its beats become examples.
//!
//! Under the protocols that test unseen patients (record-kfold, inter-patient, a separate
//! folder of test records) a validation or test record is given whole, as a user gives a
//! record to `predict`: every beat is answered, and what is read over a record (pooling, the
//! record prior) sees every beat; only the beats annotated with one of the task's classes are
//! scored. Under the paper's intra-patient protocol, which is about beats, the examples are
//! the beats of the task's classes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use medpath_ecg::splits::{
    DS1, DS2, Fractions, inter_patient_split, intra_patient_split, record_folds,
};
use medpath_ecg::{BeatOptions, EcgPipeline, TransformedRecord, parse_lead_list};
use medpath_split::Role;
use medpath_wfdb::RecordPath;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::{Example, Input, PreparedTask};
use crate::config::{AugmentSet, Centre, EcgTask, Protocol};
use crate::error::{Error, Result};

/// The beat options of an ECG task.
pub fn beat_options(task: &EcgTask) -> Result<BeatOptions> {
    let mut options = BeatOptions::paper();
    options.classes = task.classes.clone();
    options.leads = parse_lead_list(&task.leads)?;
    options.context = task.context;
    options.normalization = task.normalize;
    if task.side_inputs.contains(&medpath_ecg::SideInput::Signal) {
        options.signal_points = task.signal_points;
    }
    options.validate()?;
    Ok(options)
}

/// The record pipeline of an ECG task (`seed` seeds its augmented views).
pub fn pipeline_of(task: &EcgTask, seed: u64) -> Result<EcgPipeline> {
    let pipeline = EcgPipeline {
        beats: beat_options(task)?,
        size: task.size as u32,
        side_inputs: task.side_inputs.clone(),
        first_lead: !task.first_lead_classes.is_empty(),
        augment: task.augment,
        seed,
    };
    pipeline.validate()?;
    Ok(pipeline)
}

/// Whether the task's validation and test records are given whole (every protocol but the
/// paper's intra-patient one).
pub fn whole_records(task: &EcgTask) -> bool {
    task.protocol != Protocol::IntraPatient || task.test_mitdb.is_some()
}

fn records_in(dir: &Path, only: Option<&[String]>) -> Result<Vec<RecordPath>> {
    let mut records = RecordPath::list_dir(dir)?;
    if let Some(names) = only {
        records.retain(|r| names.contains(&r.name));
    }
    Ok(records)
}

/// What cutting a set of records gave.
#[derive(Default)]
struct Cut {
    examples: Vec<Example>,
    records: Vec<PathBuf>,
    centre_refs: BTreeMap<String, Vec<Input>>,
    per_class: BTreeMap<String, usize>,
    others: usize,
    rejected: usize,
    skipped_at_edges: usize,
    without_leads: Vec<String>,
}

impl Cut {
    /// One line for the run's notes, counting the records from index `first` on (a test cut
    /// carries the main records before its own, so that its indices follow theirs).
    fn line(&self, what: &str, first: usize) -> String {
        let per_class: Vec<String> = self
            .per_class
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let mut line = format!(
            "{what}: {} records, beats of the task's classes {}, {} beats of other kinds, {} beats rejected for a flat or clipped signal, {} beats skipped at record edges",
            self.records.len() - first,
            per_class.join(", "),
            self.others,
            self.rejected,
            self.skipped_at_edges
        );
        if !self.without_leads.is_empty() {
            line.push_str(&format!(
                "; records without the chosen leads: {}",
                self.without_leads.join(" ")
            ));
        }
        line
    }

    /// Adds the beats of one transformed record (index `index` in the task's records).
    fn add(&mut self, task: &EcgTask, beats: &TransformedRecord, index: usize, whole: bool) {
        for (i, beat) in beats.beats.iter().enumerate() {
            let label = task.classes.iter().position(|c| *c == beat.symbol);
            let rejected = beats.problems[i].as_ref().map(|p| p.reason.clone());
            match label {
                Some(_) if rejected.is_none() => {
                    *self.per_class.entry(beat.symbol.clone()).or_default() += 1
                }
                Some(_) => self.rejected += 1,
                None => self.others += 1,
            }
            if label.is_none() && !whole {
                continue;
            }
            self.examples.push(Example {
                input: Input::Beat {
                    record: index,
                    sample: beat.sample,
                },
                label: label.unwrap_or(0),
                scored: label.is_some() && rejected.is_none(),
                trains: true,
                group: beats.name.clone(),
                role: medpath_split::Role::Train,
                side: beats.side[i].clone(),
                fold: None,
                seconds: Some(beats.seconds(i)),
                symbol: Some(beat.symbol.clone()),
                rejected,
                site: None,
            });
        }
    }
}

/// Cuts every record of `records` through `pipeline` into `cut` (records are numbered from
/// `cut.records.len()`). Records that lack a lead the pipeline draws are passed over with a
/// note; records without any beat of the task's classes are left out.
fn cut_records(
    task: &EcgTask,
    pipeline: &EcgPipeline,
    records: &[RecordPath],
    whole: bool,
    centre: bool,
    cut: &mut Cut,
) -> Result<()> {
    for path in records {
        let stem = path.dir.join(&path.name);
        let beats = match pipeline.read_and_transform(&stem) {
            Ok(beats) => beats,
            Err(medpath_ecg::EcgError::MissingLead { .. }) => {
                cut.without_leads.push(path.name.clone());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if !beats.beats.iter().any(|b| task.classes.contains(&b.symbol)) {
            continue;
        }
        let index = cut.records.len();
        cut.records.push(stem);
        cut.skipped_at_edges += beats.skipped_at_edges;
        if centre {
            let refs = beats
                .centre_beats(task.centre_beats)
                .into_iter()
                .map(|i| Input::Beat {
                    record: index,
                    sample: beats.beats[i].sample,
                })
                .collect();
            cut.centre_refs.insert(beats.name.clone(), refs);
        }
        cut.add(task, &beats, index, whole);
    }
    Ok(())
}

/// Keeps at most `cap` scored beats of each (record, class) for training, a seeded sample;
/// the others stay (they are answered and scored where their record validates or tests) but
/// do not train.
fn cap_per_record(examples: &mut [Example], cap: Option<usize>, seed: u64) {
    let Some(cap) = cap else { return };
    let mut groups: BTreeMap<(String, usize), Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate().filter(|(_, e)| e.scored) {
        groups
            .entry((e.group.clone(), e.label))
            .or_default()
            .push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xCA9);
    for ids in groups.values_mut() {
        ids.shuffle(&mut rng);
        for &i in ids.iter().skip(cap) {
            examples[i].trains = false;
        }
    }
}

/// Roles of every example of whole records from the roles `scored_roles` that a split gave the
/// scored examples (in order): a record whose scored beats share one role has it for every
/// beat; a record validated by time (its last beats validate) is cut where its first
/// validating scored beat lies, every beat from there on validating.
fn spread_roles(examples: &mut [Example], scored_roles: &[Role]) {
    let mut roles = scored_roles.iter();
    let mut by_record: BTreeMap<String, (Vec<Role>, Option<f64>)> = BTreeMap::new();
    for e in examples.iter().filter(|e| e.scored) {
        let role = *roles.next().expect("one role per scored example");
        let entry = by_record.entry(e.group.clone()).or_default();
        entry.0.push(role);
        if role == Role::Val && entry.1.is_none() {
            entry.1 = e.seconds;
        }
    }
    for e in examples.iter_mut() {
        let Some((roles, cut)) = by_record.get(&e.group) else {
            continue;
        };
        let single = roles.iter().all(|r| *r == roles[0]);
        e.role = match (single, cut) {
            (true, _) => roles[0],
            (false, Some(t)) if e.seconds.unwrap_or(0.0) >= *t => Role::Val,
            _ => Role::Train,
        };
    }
}

/// Records and labels of the scored examples, for a split.
fn scored_records_and_labels(examples: &[Example]) -> (Vec<String>, Vec<usize>) {
    examples
        .iter()
        .filter(|e| e.scored)
        .map(|e| (e.group.clone(), e.label))
        .unzip()
}

/// Records validated by time rather than by record under `inter_patient_split` (their
/// majority class is held by too few records to spare one), for the protocol line.
pub fn validated_by_time(examples: &[Example]) -> Vec<String> {
    let mut mixed: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
    for e in examples.iter().filter(|e| e.scored && e.role != Role::Test) {
        let entry = mixed.entry(e.group.as_str()).or_default();
        entry.0 |= e.role == Role::Train;
        entry.1 |= e.role == Role::Val;
    }
    mixed
        .into_iter()
        .filter(|(_, (t, v))| *t && *v)
        .map(|(r, _)| r.to_string())
        .collect()
}

/// The words that say how validation was carved.
fn validation_words(examples: &[Example]) -> String {
    let by_time = validated_by_time(examples);
    if by_time.is_empty() {
        "validation carved by record".into()
    } else {
        format!(
            "validation carved by record, except records {} (their class is held by too few records to spare one: their last beats validate instead, by time)",
            by_time.join(" ")
        )
    }
}

/// Sets every example's role (and fold) under the task's protocol and returns the protocol
/// line and the number of folds.
fn assign_roles(
    task: &EcgTask,
    cut: &mut Cut,
    main_records: usize,
    seed: u64,
) -> Result<(String, usize)> {
    let n_main = cut
        .examples
        .iter()
        .take_while(|e| input_record(e) < main_records)
        .count();
    let (main, test) = cut.examples.split_at_mut(n_main);
    if let Some(dir) = &task.test_mitdb {
        let (records, labels) = scored_records_and_labels(main);
        spread_roles(
            main,
            &inter_patient_split(&records, &labels, &[], task.val_fraction, seed),
        );
        test.iter_mut().for_each(|e| e.role = Role::Test);
        return Ok((
            format!(
                "inter-patient, whole records: test = every record in {} given whole (every beat answered, the beats of the task's classes scored), {}",
                dir.display(),
                validation_words(main)
            ),
            0,
        ));
    }
    match task.protocol {
        Protocol::InterPatient => {
            let (records, labels) = scored_records_and_labels(main);
            spread_roles(
                main,
                &inter_patient_split(&records, &labels, &DS2, task.val_fraction, seed),
            );
            Ok((
                format!(
                    "inter-patient (de Chazal 2004), whole records: train DS1, test DS2 records given whole (every beat answered, the beats of the task's classes scored), {} from DS1",
                    validation_words(main)
                ),
                0,
            ))
        }
        Protocol::RecordKfold => Ok(record_kfold_roles(task, main, seed)),
        Protocol::IntraPatient => {
            let labels: Vec<usize> = main.iter().map(|e| e.label).collect();
            let fractions = Fractions {
                val: task.val_fraction,
                test: task.test_fraction,
            };
            for (e, r) in main
                .iter_mut()
                .zip(intra_patient_split(&labels, fractions, seed))
            {
                e.role = r;
            }
            Ok(("intra-patient (the paper's): beats of all records split at random, stratified by class; beats of one patient fall on both sides, so accuracy is optimistic".into(), 0))
        }
    }
}

/// Deals the main records of a record-kfold task into folds, carves validation by record, and
/// returns the protocol line and the number of folds.
fn record_kfold_roles(task: &EcgTask, main: &mut [Example], seed: u64) -> (String, usize) {
    let (records, labels) = scored_records_and_labels(main);
    let folds = record_folds(&records, &labels, task.folds, seed);
    let fold_of: BTreeMap<&String, usize> = records.iter().zip(folds.iter().copied()).collect();
    for e in main.iter_mut() {
        e.fold = fold_of.get(&e.group).copied();
    }
    spread_roles(
        main,
        &inter_patient_split(&records, &labels, &[], task.val_fraction, seed),
    );
    (
        format!(
            "record-kfold, whole records: records dealt into {} folds (each class in as many folds as records allow); each fold's records given whole (every beat answered, the beats of the task's classes scored) to a model trained on the other folds, {} from those; every record tested once, as an unseen patient",
            task.folds,
            "validation carved by record (by time for records whose class too few records hold)"
        ),
        task.folds,
    )
}

/// Roles for fold `fold` of a record-kfold task: that fold's records test, given whole; the
/// other records divide into training and validation as in [`inter_patient_split`], each
/// record's unscored beats taking its role.
pub fn fold_roles(task: &PreparedTask, fold: usize, val_fraction: f64, seed: u64) -> Vec<Role> {
    let mut examples = task.examples.clone();
    let (records, labels) = scored_records_and_labels(&examples);
    let folds: Vec<usize> = examples
        .iter()
        .filter(|e| e.scored)
        .map(|e| e.fold.unwrap_or(0))
        .collect();
    let roles =
        medpath_ecg::splits::fold_roles(&records, &labels, &folds, fold, val_fraction, seed);
    spread_roles(&mut examples, &roles);
    examples.into_iter().map(|e| e.role).collect()
}

/// The record index of a beat example.
fn input_record(e: &Example) -> usize {
    match e.input {
        Input::Beat { record, .. } => record,
        Input::File(_) => usize::MAX,
    }
}

/// Notes on what is read over a record, for the run's summary.
fn answer_notes(task: &EcgTask, notes: &mut Vec<String>) {
    if let Some(cap) = task.max_per_record {
        notes.push(format!(
            "at most {cap} beats of each class per record train (a seeded sample); every beat of a validation or test record is answered and scored"
        ));
    }
    if !task.smooth.classes.is_empty() {
        notes.push(format!(
            "answers share each beat's {} probability out as the beats of its record within {} s on either side do (every beat of the record, no labels used; predict does the same on a record)",
            task.smooth.classes.join("+"),
            task.smooth.seconds
        ));
    }
    if task.smooth.prior_steps > 0 {
        notes.push(format!(
            "answers re-weighted to each record's class balance, estimated from the answers on every beat of the record in {} round(s) from equal classes (no labels used; predict does the same on a record)",
            task.smooth.prior_steps
        ));
    }
}

/// Prepares an ECG task: cuts its records (and its separate test records) through the task's
/// pipeline and assigns roles under its protocol.
pub fn prepare_ecg(name: &str, task: &EcgTask, seed: u64) -> Result<PreparedTask> {
    let pipeline = pipeline_of(task, seed)?;
    let whole = whole_records(task);
    let centre = task.centre == Centre::Record;
    let mut main = records_in(&task.mitdb, task.records.as_deref())?;
    if task.protocol == Protocol::InterPatient && task.test_mitdb.is_none() {
        main.retain(|r| DS1.contains(&r.name.as_str()) || DS2.contains(&r.name.as_str()));
    }
    if main.is_empty() {
        return Err(Error::task(
            name,
            format!("no WFDB records in {}", task.mitdb.display()),
        ));
    }
    let mut cut = Cut::default();
    cut_records(task, &pipeline, &main, whole, centre, &mut cut)?;
    let mut notes = vec![cut.line("records", 0)];
    let main_records = cut.records.len();
    if let Some(dir) = &task.test_mitdb {
        let test = records_in(dir, None)?;
        let overlap: Vec<&String> = test
            .iter()
            .map(|r| &r.name)
            .filter(|n| main.iter().any(|m| m.name == **n))
            .collect();
        if !overlap.is_empty() {
            return Err(Error::task(
                name,
                format!(
                    "records {overlap:?} are in both mitdb and test_mitdb: the inter-patient protocol needs disjoint records"
                ),
            ));
        }
        let mut tested = Cut {
            records: std::mem::take(&mut cut.records),
            ..Cut::default()
        };
        cut_records(task, &pipeline, &test, true, centre, &mut tested)?;
        notes.push(tested.line("test records", main_records));
        cut.records = tested.records;
        cut.examples.extend(tested.examples);
        cut.centre_refs.extend(tested.centre_refs);
    }
    if task.protocol == Protocol::InterPatient && task.test_mitdb.is_none() {
        notes.push("records outside DS1 and DS2 (paced records) left out".into());
    }
    cap_per_record(&mut cut.examples, task.max_per_record, seed);
    answer_notes(task, &mut notes);
    let (protocol, folds) = assign_roles(task, &mut cut, main_records, seed)?;
    Ok(PreparedTask {
        name: name.to_string(),
        kind: "ecg".into(),
        classes: task.classes.clone(),
        examples: cut.examples,
        protocol,
        notes,
        size: task.size,
        augment_views: task.augment_views.max(1),
        augment: AugmentSet::Paper,
        tta_views: 1,
        train_original: true,
        view_rule: task.view_rule().map_err(|e| Error::task(name, e))?,
        side_names: pipeline.side_names(),
        pipeline: Some(pipeline),
        records: cut.records,
        folds,
        centre_refs: cut.centre_refs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(group: &str, seconds: f64, scored: bool, label: usize) -> Example {
        Example {
            input: Input::Beat {
                record: 0,
                sample: (seconds * 360.0) as i64,
            },
            label,
            scored,
            trains: true,
            group: group.into(),
            role: Role::Train,
            side: Vec::new(),
            fold: None,
            seconds: Some(seconds),
            symbol: None,
            rejected: None,
            site: None,
        }
    }

    #[test]
    fn roles_spread_to_the_unscored_beats_of_a_record_and_cut_a_record_validated_by_time() {
        let mut examples = vec![
            beat("a", 1.0, true, 0),
            beat("a", 2.0, false, 0),
            beat("a", 3.0, true, 1),
            beat("b", 1.0, true, 0),
            beat("b", 2.0, false, 0),
            beat("b", 3.0, true, 0),
            beat("b", 4.0, false, 0),
        ];
        // Record a validates whole; record b's last scored beat validates (by time).
        spread_roles(
            &mut examples,
            &[Role::Val, Role::Val, Role::Train, Role::Val],
        );
        let roles: Vec<Role> = examples.iter().map(|e| e.role).collect();
        assert_eq!(
            roles,
            [
                Role::Val,
                Role::Val,
                Role::Val,
                Role::Train,
                Role::Train,
                Role::Val,
                Role::Val
            ]
        );
        assert_eq!(validated_by_time(&examples), vec!["b".to_string()]);
    }

    #[test]
    fn the_cap_keeps_beats_for_scoring_but_not_for_training() {
        let mut examples: Vec<Example> = (0..10).map(|i| beat("a", i as f64, true, 0)).collect();
        cap_per_record(&mut examples, Some(3), 7);
        assert_eq!(examples.iter().filter(|e| e.trains).count(), 3);
        assert!(examples.iter().all(|e| e.scored));
    }
}
