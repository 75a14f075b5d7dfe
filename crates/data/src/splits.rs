//! Patient- and duplicate-aware splits of an image data set.
//!
//! Images are grouped so that a group never straddles two parts: two images share a group when
//! they have the same patient id or byte-identical content (duplicates under different names).
//! Validation, and test where the data set has no test folder, are carved from the training
//! images by group, stratified by class, seeded.

use std::collections::BTreeMap;
use std::path::PathBuf;

use medpath_split::{Fractions, Item, Role, stratified_group_split};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::folder::ImageDataset;

/// SHA-256 of a file's bytes.
pub type ContentHash = [u8; 32];

/// SHA-256 of each entry's file, in entry order.
pub fn content_hashes(dataset: &ImageDataset) -> Result<Vec<ContentHash>> {
    dataset
        .entries
        .iter()
        .map(|e| {
            let bytes = std::fs::read(&e.path).map_err(|err| DataError::io(&e.path, err))?;
            Ok(Sha256::digest(&bytes).into())
        })
        .collect()
}

/// Groups of entry indices whose files are byte-identical (only groups of two or more).
pub fn duplicate_groups(hashes: &[ContentHash]) -> Vec<Vec<usize>> {
    let mut by_hash: BTreeMap<&ContentHash, Vec<usize>> = BTreeMap::new();
    for (i, h) in hashes.iter().enumerate() {
        by_hash.entry(h).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_hash.into_values().filter(|g| g.len() > 1).collect();
    groups.sort();
    groups
}

/// Union-find over entry indices.
struct Components {
    parent: Vec<usize>,
}

impl Components {
    fn new(n: usize) -> Self {
        Components {
            parent: (0..n).collect(),
        }
    }

    fn root(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn join(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        // The smaller index becomes the root, so component ids do not depend on join order.
        let (lo, hi) = (ra.min(rb), ra.max(rb));
        self.parent[hi] = lo;
    }
}

/// For each entry, the smallest entry index of its group (same patient or same content).
pub fn split_groups(dataset: &ImageDataset, hashes: &[ContentHash]) -> Vec<usize> {
    let n = dataset.entries.len();
    let mut components = Components::new(n);
    let mut first_of_patient: BTreeMap<&str, usize> = BTreeMap::new();
    let mut first_of_hash: BTreeMap<&ContentHash, usize> = BTreeMap::new();
    for (i, entry) in dataset.entries.iter().enumerate() {
        let p = *first_of_patient.entry(entry.patient.as_str()).or_insert(i);
        components.join(p, i);
        let h = *first_of_hash.entry(&hashes[i]).or_insert(i);
        components.join(h, i);
    }
    (0..n).map(|i| components.root(i)).collect()
}

/// Settings of a split.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitPlan {
    /// Share of the training pool carved out for validation.
    pub val_fraction: f64,
    /// Share carved out for test when the data set has no test folder.
    pub test_fraction: f64,
    /// Seed of the shuffle.
    pub seed: u64,
}

impl Default for SplitPlan {
    fn default() -> Self {
        SplitPlan {
            val_fraction: 0.15,
            test_fraction: 0.15,
            seed: 0,
        }
    }
}

/// The role of every entry, and what the split decided and why.
#[derive(Debug, Clone)]
pub struct SplitAssignment {
    /// Role of each entry, in entry order.
    pub roles: Vec<Role>,
    /// Human-readable notes (e.g. that the official validation split was too small).
    pub notes: Vec<String>,
    /// Groups (patients or duplicate sets) that the given folders put on two sides; the split
    /// cannot move official test images, so these are reported.
    pub straddling_groups: Vec<Vec<PathBuf>>,
}

/// Assigns train/val/test roles. Official test images (a `test` folder) stay test. The official
/// validation folder is used as is only when it holds at least half the requested validation
/// share; otherwise (Kermany's has 16 images) it joins the training pool and a validation set is
/// carved from the pool by group. Without a test folder, test is carved the same way.
pub fn assign_splits(
    dataset: &ImageDataset,
    hashes: &[ContentHash],
    plan: &SplitPlan,
) -> SplitAssignment {
    let groups = split_groups(dataset, hashes);
    let given = |role: Role| {
        dataset
            .entries
            .iter()
            .filter(|e| e.given_split == Some(role))
            .count()
    };
    let (n_train, n_val, n_test) = (given(Role::Train), given(Role::Val), given(Role::Test));
    let mut notes = Vec::new();
    let pool_size = n_train + n_val;
    let keep_given_val = n_val > 0 && (n_val as f64) >= 0.5 * plan.val_fraction * pool_size as f64;
    if n_val > 0 && !keep_given_val {
        notes.push(format!(
            "the given val split has only {n_val} images ({:.1} % of train+val): it joins the training pool and a validation set of {:.0} % is carved from the pool by patient",
            100.0 * n_val as f64 / pool_size.max(1) as f64,
            100.0 * plan.val_fraction
        ));
    }
    let has_test = n_test > 0;
    let fractions = Fractions {
        val: if keep_given_val {
            0.0
        } else {
            plan.val_fraction
        },
        test: if has_test { 0.0 } else { plan.test_fraction },
    };
    if !has_test && plan.test_fraction > 0.0 {
        notes.push(format!(
            "no test split given: {:.0} % of the images are carved out as test by patient (a re-split: not comparable with numbers on an official test set)",
            100.0 * plan.test_fraction
        ));
    }
    // The pool to carve from: everything not fixed by the folders.
    let fixed = |role: Option<Role>| {
        role == Some(Role::Test) || (keep_given_val && role == Some(Role::Val))
    };
    let pool: Vec<usize> = (0..dataset.entries.len())
        .filter(|&i| !fixed(dataset.entries[i].given_split))
        .collect();
    let items: Vec<Item<usize>> = pool
        .iter()
        .map(|&i| Item {
            group: groups[i],
            label: dataset.entries[i].class,
        })
        .collect();
    let pool_roles = stratified_group_split(&items, fractions, plan.seed);
    let mut roles: Vec<Role> = dataset
        .entries
        .iter()
        .map(|e| e.given_split.unwrap_or(Role::Train))
        .collect();
    for (&i, role) in pool.iter().zip(pool_roles) {
        roles[i] = role;
    }
    let straddling_groups = straddling(dataset, &groups, &roles);
    if !straddling_groups.is_empty() {
        notes.push(format!(
            "{} patient or duplicate groups lie on two sides of the given folders (listed in the split report)",
            straddling_groups.len()
        ));
    }
    SplitAssignment {
        roles,
        notes,
        straddling_groups,
    }
}

/// Groups whose entries got more than one role.
fn straddling(dataset: &ImageDataset, groups: &[usize], roles: &[Role]) -> Vec<Vec<PathBuf>> {
    let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, g) in groups.iter().enumerate() {
        by_group.entry(*g).or_default().push(i);
    }
    by_group
        .into_values()
        .filter(|members| members.iter().any(|&i| roles[i] != roles[members[0]]))
        .map(|members| {
            members
                .into_iter()
                .map(|i| dataset.entries[i].path.clone())
                .collect()
        })
        .collect()
}
