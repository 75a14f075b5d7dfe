//! Seeded, stratified train/validation/test splits that keep every group (a patient, a record,
//! a set of identical files) on one side.
//!
//! A random beat split (the paper's intra-patient protocol) is the special case where every item
//! is its own group; an inter-patient split assigns whole records.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Which part of a split an item belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Used to fit weights.
    Train,
    /// Used for model selection (fitness, early stopping).
    Val,
    /// Held out for the final numbers only.
    Test,
}

impl Role {
    /// The lowercase name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Train => "train",
            Role::Val => "val",
            Role::Test => "test",
        }
    }
}

/// One item to split: the group it must stay with and its class label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item<G> {
    /// Items with equal groups always get the same role.
    pub group: G,
    /// Class label, used for stratification.
    pub label: usize,
}

/// Fractions of the items that go to validation and to test; the rest is training.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fractions {
    /// Share of items for validation, in [0, 1).
    pub val: f64,
    /// Share of items for test, in [0, 1).
    pub test: f64,
}

/// Assigns each item a role so that groups stay whole and every class is split close to the
/// requested fractions. Groups are stratified by their most frequent label and shuffled with
/// `seed`; the same input and seed always give the same split.
pub fn stratified_group_split<G: Ord + Clone>(
    items: &[Item<G>],
    fractions: Fractions,
    seed: u64,
) -> Vec<Role> {
    // Group sizes and majority label per group, in a deterministic (sorted) order.
    let mut groups: BTreeMap<&G, BTreeMap<usize, usize>> = BTreeMap::new();
    for item in items {
        *groups
            .entry(&item.group)
            .or_default()
            .entry(item.label)
            .or_default() += 1;
    }
    let mut by_label: BTreeMap<usize, Vec<(&G, usize)>> = BTreeMap::new();
    for (group, labels) in &groups {
        let majority = labels
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(label, _)| *label)
            .unwrap_or(0);
        by_label
            .entry(majority)
            .or_default()
            .push((*group, labels.values().sum()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut role_of: BTreeMap<&G, Role> = BTreeMap::new();
    for (_, mut members) in by_label {
        members.shuffle(&mut rng);
        let total: usize = members.iter().map(|m| m.1).sum();
        let want_test = (fractions.test * total as f64).round() as usize;
        let want_val = (fractions.val * total as f64).round() as usize;
        let (mut test, mut val) = (0usize, 0usize);
        for (group, size) in members {
            let role = if test < want_test && test + size / 2 < want_test.max(1) {
                test += size;
                Role::Test
            } else if val < want_val && val + size / 2 < want_val.max(1) {
                val += size;
                Role::Val
            } else {
                Role::Train
            };
            role_of.insert(group, role);
        }
    }
    // Big groups can leave a small requested part empty; then it takes the smallest training
    // group, as long as training keeps at least one group.
    for (role, fraction) in [(Role::Val, fractions.val), (Role::Test, fractions.test)] {
        if fraction > 0.0 && !role_of.values().any(|r| *r == role) {
            let smallest = groups
                .iter()
                .filter(|(g, _)| role_of[*g] == Role::Train)
                .map(|(g, labels)| (labels.values().sum::<usize>(), *g))
                .min();
            let trains = role_of.values().filter(|r| **r == Role::Train).count();
            if let (Some((_, group)), true) = (smallest, trains > 1) {
                role_of.insert(group, role);
            }
        }
    }
    items.iter().map(|item| role_of[&item.group]).collect()
}

/// A split where every item is its own group (random stratified split by item).
pub fn stratified_item_split(labels: &[usize], fractions: Fractions, seed: u64) -> Vec<Role> {
    let items: Vec<Item<usize>> = labels
        .iter()
        .enumerate()
        .map(|(i, &label)| Item { group: i, label })
        .collect();
    stratified_group_split(&items, fractions, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(roles: &[Role], labels: &[usize], role: Role, label: usize) -> usize {
        roles
            .iter()
            .zip(labels)
            .filter(|(r, l)| **r == role && **l == label)
            .count()
    }

    #[test]
    fn item_split_hits_the_fractions_per_class_and_is_seeded() {
        let labels: Vec<usize> = (0..1000).map(|i| if i % 10 == 0 { 1 } else { 0 }).collect();
        let f = Fractions {
            val: 0.1,
            test: 0.2,
        };
        let roles = stratified_item_split(&labels, f, 7);
        assert_eq!(count(&roles, &labels, Role::Test, 0), 180);
        assert_eq!(count(&roles, &labels, Role::Test, 1), 20);
        assert_eq!(count(&roles, &labels, Role::Val, 0), 90);
        assert_eq!(count(&roles, &labels, Role::Val, 1), 10);
        assert_eq!(roles, stratified_item_split(&labels, f, 7));
        assert_ne!(roles, stratified_item_split(&labels, f, 8));
    }

    #[test]
    fn groups_never_straddle_roles() {
        let items: Vec<Item<String>> = (0..600)
            .map(|i| Item {
                group: format!("patient{}", i / 3),
                label: (i / 3) % 2,
            })
            .collect();
        let roles = stratified_group_split(
            &items,
            Fractions {
                val: 0.2,
                test: 0.2,
            },
            1,
        );
        let mut seen: BTreeMap<&String, Role> = BTreeMap::new();
        for (item, role) in items.iter().zip(&roles) {
            assert_eq!(*seen.entry(&item.group).or_insert(*role), *role);
        }
        for role in [Role::Train, Role::Val, Role::Test] {
            let n = roles.iter().filter(|r| **r == role).count();
            assert!(n > 0, "{role:?} is empty");
        }
        let test = roles.iter().filter(|r| **r == Role::Test).count();
        assert!((110..=130).contains(&test), "test size {test}");
    }

    #[test]
    fn a_requested_part_is_never_left_empty_by_big_groups() {
        let items: Vec<Item<u32>> = (0..300)
            .map(|i| Item {
                group: i % 3,
                label: 0,
            })
            .collect();
        let roles = stratified_group_split(
            &items,
            Fractions {
                val: 0.1,
                test: 0.1,
            },
            0,
        );
        for role in [Role::Train, Role::Val, Role::Test] {
            assert_eq!(
                roles.iter().filter(|r| **r == role).count(),
                100,
                "{role:?}"
            );
        }
    }

    #[test]
    fn zero_fractions_put_everything_in_train() {
        let roles = stratified_item_split(
            &[0, 1, 1, 0],
            Fractions {
                val: 0.0,
                test: 0.0,
            },
            3,
        );
        assert!(roles.iter().all(|r| *r == Role::Train));
    }
}
