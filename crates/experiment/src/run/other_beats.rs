//! Beats of an ECG task's training records whose annotation is none of the task's classes (the
//! normal and ventricular beats of an A/L/R task, say). They are still ECG inputs: a record given
//! to `predict` is mostly such beats, and the rule that rejects inputs of no task must not take
//! them for foreign pictures. So the rule is fitted on a sample of them beside the task's own
//! beats; they never train or test the task.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use medpath_split::Role;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::error::Result;
use crate::tasks::{Input, PreparedTask};

/// A beat of a training record that is none of its task's classes.
pub(super) struct OtherBeat {
    /// The beat, as an input of the task.
    pub(super) input: Input,
    /// Its annotation symbol.
    pub(super) symbol: String,
    /// Its record's name (the group of the task's examples from that record).
    pub(super) group: String,
}

/// A seeded sample of up to `count` beats of `task`'s training records whose annotation is none
/// of its classes and whose signal can be read, spread evenly over the records and, within a
/// record, over the kinds of beat it holds (none for an image task).
pub(super) fn other_training_beats(
    task: &PreparedTask,
    count: usize,
    seed: u64,
) -> Result<Vec<OtherBeat>> {
    let Some(pipeline) = &task.pipeline else {
        return Ok(Vec::new());
    };
    let records: BTreeSet<usize> = task
        .examples
        .iter()
        .filter(|e| e.role == Role::Train)
        .filter_map(|e| match e.input {
            Input::Beat { record, .. } => Some(record),
            Input::File(_) => None,
        })
        .collect();
    if records.is_empty() || count == 0 {
        return Ok(Vec::new());
    }
    let per_record = count.div_ceil(records.len());
    let mut chosen = Vec::new();
    for &record in &records {
        let Some(path) = task.records.get(record) else {
            continue;
        };
        let transformed = pipeline.read_and_transform(path)?;
        let mut beats: Vec<OtherBeat> = transformed
            .beats
            .iter()
            .zip(&transformed.problems)
            .filter(|(beat, problem)| problem.is_none() && !task.classes.contains(&beat.symbol))
            .map(|(beat, _)| OtherBeat {
                input: Input::Beat {
                    record,
                    sample: beat.sample,
                },
                symbol: beat.symbol.clone(),
                group: transformed.name.clone(),
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(record as u64));
        beats.shuffle(&mut rng);
        let mut kept = by_kind_in_turn(beats, per_record);
        kept.sort_by(|a, b| a.input.cmp(&b.input));
        chosen.extend(kept);
    }
    Ok(chosen)
}

/// Up to `count` of `beats`, taking one beat of each annotation symbol in turn (in the order
/// given within a symbol), so that a rare kind (the ventricular beats of a mostly normal
/// record) is not crowded out by the common one.
fn by_kind_in_turn(beats: Vec<OtherBeat>, count: usize) -> Vec<OtherBeat> {
    let mut kinds: BTreeMap<String, VecDeque<OtherBeat>> = BTreeMap::new();
    for beat in beats {
        kinds
            .entry(beat.symbol.clone())
            .or_default()
            .push_back(beat);
    }
    let mut kept = Vec::new();
    while kept.len() < count && kinds.values().any(|kind| !kind.is_empty()) {
        for kind in kinds.values_mut() {
            if kept.len() < count
                && let Some(beat) = kind.pop_front()
            {
                kept.push(beat);
            }
        }
    }
    kept
}

/// How many of `beats` carry each annotation symbol, most first, in words (`N 612, V 98`).
pub(super) fn symbol_counts(beats: &[OtherBeat]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for beat in beats {
        *counts.entry(beat.symbol.as_str()).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .iter()
        .map(|(symbol, n)| format!("{symbol} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Experiment;
    use crate::tasks::prepare;
    use medpath_ecg::{SynthOptions, write_synthetic_set};

    #[test]
    fn other_beats_are_of_training_records_and_of_none_of_the_classes() {
        let tmp = tempfile::tempdir().unwrap();
        let records = tmp.path().join("records");
        let options = SynthOptions {
            records: 3,
            duration_s: 60.0,
            seed: 4,
        };
        write_synthetic_set(&records, &options).unwrap();
        let text =
            format!("name = \"t\"\n[tasks.ecg]\nkind = \"ecg\"\nmitdb = {records:?}\nsize = 32\n");
        let e = Experiment::parse(&text, &[], "t").unwrap();
        let task = prepare("ecg", &e.tasks["ecg"], &tmp.path().join("prepared"), 0).unwrap();
        let beats = other_training_beats(&task, 40, 7).unwrap();
        assert!(!beats.is_empty());
        let training: BTreeSet<&str> = task
            .with_role(Role::Train)
            .iter()
            .map(|&i| task.examples[i].group.as_str())
            .collect();
        let mut per_record: BTreeMap<&str, usize> = BTreeMap::new();
        for beat in &beats {
            assert!(!task.classes.contains(&beat.symbol), "{}", beat.symbol);
            assert!(training.contains(beat.group.as_str()), "{}", beat.group);
            *per_record.entry(&beat.group).or_default() += 1;
        }
        let cap = 40usize.div_ceil(training.len());
        assert!(per_record.values().all(|&n| n <= cap), "{per_record:?}");
        // Seeded: the same sample again, another with another seed; none asked, none given.
        let again = other_training_beats(&task, 40, 7).unwrap();
        let inputs = |b: &[OtherBeat]| b.iter().map(|b| b.input.clone()).collect::<Vec<_>>();
        assert_eq!(inputs(&again), inputs(&beats));
        assert_ne!(
            inputs(&other_training_beats(&task, 40, 8).unwrap()),
            inputs(&beats)
        );
        assert!(other_training_beats(&task, 0, 7).unwrap().is_empty());
        let counts = symbol_counts(&beats);
        assert!(counts.starts_with('N'), "{counts}");
    }

    #[test]
    fn each_kind_of_beat_is_taken_in_turn() {
        let beat = |symbol: &str, sample: i64| OtherBeat {
            input: Input::Beat { record: 0, sample },
            symbol: symbol.into(),
            group: "r".into(),
        };
        let mut beats: Vec<OtherBeat> = (0..20).map(|s| beat("N", s)).collect();
        beats.extend([beat("V", 100), beat("V", 101), beat("F", 200)]);
        let kept = by_kind_in_turn(beats, 6);
        assert_eq!(symbol_counts(&kept), "N 3, V 2, F 1");
        let few = by_kind_in_turn(vec![beat("N", 1), beat("V", 2)], 6);
        assert_eq!(few.len(), 2);
    }
}
