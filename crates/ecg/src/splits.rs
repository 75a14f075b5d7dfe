//! The two evaluation protocols for MIT-BIH beats.
//!
//! - Intra-patient (the paper's): beats of all records pooled and split at random, stratified by
//!   class. Beats of one patient land on both sides, so numbers are optimistic.
//! - Inter-patient (de Chazal et al. 2004): whole records are either training or test; here the
//!   validation set is carved from the training records by record as well, so model selection
//!   never sees a test patient nor a training patient's own beats.

pub use medpath_split::{Fractions, Role};
use medpath_split::{Item, stratified_group_split, stratified_item_split};

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

/// Inter-patient protocol: beats of `test_records` are test; the other records are divided by
/// record into training and validation (`val_fraction` of their beats, stratified by each
/// record's majority class, seeded).
pub fn inter_patient_split(
    records: &[String],
    labels: &[usize],
    test_records: &[&str],
    val_fraction: f64,
    seed: u64,
) -> Vec<Role> {
    let train_items: Vec<Item<String>> = records
        .iter()
        .zip(labels)
        .filter(|(r, _)| !test_records.contains(&r.as_str()))
        .map(|(r, &label)| Item {
            group: r.clone(),
            label,
        })
        .collect();
    let fractions = Fractions {
        val: val_fraction,
        test: 0.0,
    };
    let mut train_roles = stratified_group_split(&train_items, fractions, seed).into_iter();
    records
        .iter()
        .map(|r| {
            if test_records.contains(&r.as_str()) {
                Role::Test
            } else {
                train_roles.next().unwrap_or(Role::Train)
            }
        })
        .collect()
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

    #[test]
    fn inter_patient_keeps_records_whole() {
        let records: Vec<String> = (0..400)
            .map(|i| ["100", "101", "106", "109", "118", "207"][i % 6].to_string())
            .collect();
        let labels: Vec<usize> = (0..400).map(|i| i % 3).collect();
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
