//! The two evaluation protocols for MIT-BIH beats.
//!
//! - Intra-patient (the paper's): beats of all records pooled and split at random, stratified by
//!   class. Beats of one patient land on both sides, so numbers are optimistic.
//! - Inter-patient (de Chazal et al. 2004): whole records are either training or test; here the
//!   validation set is carved from the training records by record as well, so model selection
//!   never sees a test patient nor a training patient's own beats.
//! - Record k-fold: records are dealt into k folds; each fold is tested by a model trained on
//!   the other folds (validation carved from those by record), so every record is tested once,
//!   as a patient the model has never seen.

use std::collections::BTreeMap;

pub use medpath_split::{Fractions, Role};
use medpath_split::{Item, stratified_group_split, stratified_item_split};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// de Chazal's training records (DS1).
pub const DS1: [&str; 22] = [
    "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122", "124", "201",
    "203", "205", "207", "208", "209", "215", "220", "223", "230",
];
/// de Chazal's test records (DS2).
pub const DS2: [&str; 22] = [
    "100", "103", "105", "111", "113", "117", "121", "123", "200", "202", "210", "212", "213",
    "214", "219", "221", "222", "228", "231", "232", "233", "234",
];
/// Records with paced beats, excluded from both DS1 and DS2.
pub const PACED: [&str; 4] = ["102", "104", "107", "217"];

/// The paper's protocol: each beat its own group, stratified by label, seeded.
pub fn intra_patient_split(labels: &[usize], fractions: Fractions, seed: u64) -> Vec<Role> {
    stratified_item_split(labels, fractions, seed)
}

/// Fewest records whose majority class is `c` that the training pool needs before whole
/// records of class `c` may be set aside for validation. With fewer (MIT-BIH has two LBBB and
/// three RBBB records), every one of them is needed for training.
pub const MIN_RECORDS_TO_VALIDATE_BY_RECORD: usize = 4;

/// Inter-patient protocol: beats of `test_records` are test; the other records are divided by
/// record into training and validation (`val_fraction` of their beats, stratified by each
/// record's majority class, seeded). Records whose majority class is held by fewer than
/// [`MIN_RECORDS_TO_VALIDATE_BY_RECORD`] records all train, and the last `val_fraction` of each
/// one's beats (in the order given, which is time order for exported beats) validate instead.
pub fn inter_patient_split(
    records: &[String],
    labels: &[usize],
    test_records: &[&str],
    val_fraction: f64,
    seed: u64,
) -> Vec<Role> {
    let is_test = |r: &String| test_records.contains(&r.as_str());
    let mut counts: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
    for (r, &y) in records.iter().zip(labels) {
        if !is_test(r) {
            *counts.entry(r.as_str()).or_default().entry(y).or_default() += 1;
        }
    }
    let majority = |c: &BTreeMap<usize, usize>| {
        c.iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(y, _)| *y)
            .unwrap_or(0)
    };
    let mut holders: BTreeMap<usize, usize> = BTreeMap::new();
    for c in counts.values() {
        *holders.entry(majority(c)).or_default() += 1;
    }
    let by_time: Vec<&str> = counts
        .iter()
        .filter(|(_, c)| holders[&majority(c)] < MIN_RECORDS_TO_VALIDATE_BY_RECORD)
        .map(|(r, _)| *r)
        .collect();
    let train_items: Vec<Item<String>> = records
        .iter()
        .zip(labels)
        .filter(|(r, _)| !is_test(r) && !by_time.contains(&r.as_str()))
        .map(|(r, &label)| Item {
            group: r.clone(),
            label,
        })
        .collect();
    let fractions = Fractions {
        val: val_fraction,
        test: 0.0,
    };
    let mut grouped = stratified_group_split(&train_items, fractions, seed).into_iter();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    records
        .iter()
        .map(|r| {
            if is_test(r) {
                Role::Test
            } else if by_time.contains(&r.as_str()) {
                let total: usize = counts[r.as_str()].values().sum();
                let index = seen.entry(r.as_str()).or_default();
                *index += 1;
                let train_share = ((1.0 - val_fraction) * total as f64).round() as usize;
                if *index > train_share {
                    Role::Val
                } else {
                    Role::Train
                }
            } else {
                grouped.next().unwrap_or(Role::Train)
            }
        })
        .collect()
}

/// Deals records into `k` folds and returns each example's fold. Records holding a rare class
/// are dealt first, each to a fold that does not have that class yet where possible, so every
/// class appears in as many folds as the records allow; ties go to the fold with fewer beats,
/// then to a seeded order.
pub fn record_folds(records: &[String], labels: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let k = k.max(1);
    let classes = labels.iter().max().map_or(0, |m| m + 1);
    let mut per_record: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (r, &y) in records.iter().zip(labels) {
        per_record
            .entry(r.as_str())
            .or_insert_with(|| vec![0; classes])[y] += 1;
    }
    let holders: Vec<usize> = (0..classes)
        .map(|c| per_record.values().filter(|n| n[c] > 0).count())
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<(&str, &Vec<usize>)> = per_record.iter().map(|(r, n)| (*r, n)).collect();
    order.shuffle(&mut rng);
    let rarest = |n: &Vec<usize>| {
        (0..classes)
            .filter(|&c| n[c] > 0)
            .map(|c| holders[c])
            .min()
            .unwrap_or(usize::MAX)
    };
    order.sort_by_key(|(_, n)| (rarest(n), std::cmp::Reverse(n.iter().sum::<usize>())));
    let mut fold_order: Vec<usize> = (0..k).collect();
    fold_order.shuffle(&mut rng);
    let mut has = vec![vec![false; classes]; k];
    let mut beats = vec![0usize; k];
    let mut fold_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (record, counts) in order {
        let fold = *fold_order
            .iter()
            .min_by_key(|&&f| {
                let clashes = (0..classes).filter(|&c| counts[c] > 0 && has[f][c]).count();
                (clashes, beats[f])
            })
            .expect("k >= 1");
        for c in 0..classes {
            has[fold][c] |= counts[c] > 0;
        }
        beats[fold] += counts.iter().sum::<usize>();
        fold_of.insert(record, fold);
    }
    records.iter().map(|r| fold_of[r.as_str()]).collect()
}

/// Roles for fold `fold` of a record k-fold: its records are test, the other records are
/// divided by record into training and validation as in [`inter_patient_split`].
pub fn fold_roles(
    records: &[String],
    labels: &[usize],
    folds: &[usize],
    fold: usize,
    val_fraction: f64,
    seed: u64,
) -> Vec<Role> {
    let mut test: Vec<&str> = records
        .iter()
        .zip(folds)
        .filter(|(_, f)| **f == fold)
        .map(|(r, _)| r.as_str())
        .collect();
    test.sort_unstable();
    test.dedup();
    inter_patient_split(records, labels, &test, val_fraction, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn de_chazal_sets_are_disjoint_and_exclude_paced_records() {
        for r in DS1 {
            assert!(!DS2.contains(&r) && !PACED.contains(&r), "{r}");
        }
        for r in DS2 {
            assert!(!PACED.contains(&r), "{r}");
        }
    }

    /// Records like MIT-BIH's: many with A, two with L, three with R.
    fn mitbih_like(seed: u64) -> (Vec<String>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut records = Vec::new();
        let mut labels = Vec::new();
        for r in 0..20 {
            let classes: &[usize] = match r {
                0 | 1 => &[1],
                2..=4 => &[2, 0],
                _ => &[0],
            };
            let n = 5 + (rand::Rng::random_range(&mut rng, 0..40));
            for i in 0..n {
                records.push(format!("{}", 100 + r));
                labels.push(classes[i % classes.len()]);
            }
        }
        (records, labels)
    }

    #[test]
    fn record_kfold_never_puts_a_record_in_train_and_test() {
        for seed in 0..40 {
            let (records, labels) = mitbih_like(seed);
            let k = 2 + (seed as usize % 5);
            let folds = record_folds(&records, &labels, k, seed);
            assert!(folds.iter().all(|&f| f < k));
            for fold in 0..k {
                let roles = fold_roles(&records, &labels, &folds, fold, 0.2, seed);
                let mut tested = BTreeMap::new();
                for ((r, role), f) in records.iter().zip(&roles).zip(&folds) {
                    assert_eq!(*role == Role::Test, *f == fold, "seed {seed} record {r}");
                    assert_eq!(
                        *tested.entry(r).or_insert(*role == Role::Test),
                        *role == Role::Test,
                        "seed {seed}: record {r} both tested and trained on in fold {fold}"
                    );
                }
            }
        }
    }

    #[test]
    fn records_of_rare_classes_train_and_validate_on_their_last_beats() {
        let (records, labels) = mitbih_like(3);
        let roles = inter_patient_split(&records, &labels, &[], 0.2, 3);
        for rare in ["100", "101"] {
            let mine: Vec<Role> = records
                .iter()
                .zip(&roles)
                .filter(|(r, _)| *r == rare)
                .map(|(_, role)| *role)
                .collect();
            let first_val = mine
                .iter()
                .position(|r| *r == Role::Val)
                .unwrap_or(mine.len());
            assert!(first_val >= mine.len() * 7 / 10, "{rare}: {mine:?}");
            assert!(mine[..first_val].iter().all(|r| *r == Role::Train));
            assert!(mine[first_val..].iter().all(|r| *r == Role::Val));
        }
        // Common-class records stay whole.
        for r in 105..120 {
            let name = r.to_string();
            let mut mine: Vec<Role> = records
                .iter()
                .zip(&roles)
                .filter(|(x, _)| **x == name)
                .map(|(_, role)| *role)
                .collect();
            mine.dedup();
            assert_eq!(mine.len(), 1, "{name}");
        }
    }

    #[test]
    fn record_kfold_spreads_rare_classes_over_folds() {
        for seed in 0..20 {
            let (records, labels) = mitbih_like(seed);
            let folds = record_folds(&records, &labels, 5, seed);
            for (class, holders) in [(1usize, 2usize), (2, 3)] {
                let mut with: Vec<usize> = folds
                    .iter()
                    .zip(&labels)
                    .filter(|(_, y)| **y == class)
                    .map(|(f, _)| *f)
                    .collect();
                with.sort_unstable();
                with.dedup();
                assert_eq!(with.len(), holders, "seed {seed} class {class}");
            }
        }
    }

    #[test]
    fn inter_patient_keeps_records_whole() {
        let names = [
            "100", "101", "106", "108", "109", "112", "114", "115", "116", "118", "119", "122",
        ];
        let records: Vec<String> = (0..480).map(|i| names[i % 12].to_string()).collect();
        let labels: Vec<usize> = (0..480).map(|i| i % 2).collect();
        let roles = inter_patient_split(&records, &labels, &DS2, 0.25, 4);
        let mut by_record = std::collections::BTreeMap::new();
        for (r, role) in records.iter().zip(&roles) {
            assert_eq!(
                *by_record.entry(r).or_insert(*role),
                *role,
                "record {r} split"
            );
        }
        assert_eq!(by_record[&"100".to_string()], Role::Test);
        assert!(by_record.values().any(|r| *r == Role::Val));
        assert!(by_record.values().any(|r| *r == Role::Train));
    }
}
