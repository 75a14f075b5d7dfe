//! The shared Kermany chest X-ray folders: counts, patient-aware splits, full-size originals.

use std::collections::BTreeMap;

use medpath_data::{
    ImageDataset, Layout, SplitPlan, assign_splits, content_hashes, duplicate_groups, load_rgb,
};
use medpath_split::Role;

#[test]
fn kermany_train_counts_patients_and_duplicates_split_cleanly() {
    let Some(root) = medpath_testkit::shared_path("data/chest_xray") else {
        return;
    };
    let dataset = ImageDataset::scan(&root).unwrap();
    assert_eq!(dataset.layout, Layout::Kermany);
    assert_eq!(dataset.classes, vec!["NORMAL", "PNEUMONIA"]);
    let on_disk = |class: &str| {
        std::fs::read_dir(root.join("train").join(class))
            .unwrap()
            .count()
    };
    assert_eq!(
        dataset.class_counts(),
        vec![on_disk("NORMAL"), on_disk("PNEUMONIA")]
    );
    assert_eq!(dataset.class_counts(), vec![1291, 3825]);

    let hashes = content_hashes(&dataset).unwrap();
    let duplicates = duplicate_groups(&hashes);
    assert_eq!(duplicates.len(), 24, "SOURCES.md lists 24 duplicate groups");
    assert_eq!(duplicates.iter().map(Vec::len).sum::<usize>(), 50);

    let split = assign_splits(
        &dataset,
        &hashes,
        &SplitPlan {
            val_fraction: 0.15,
            test_fraction: 0.15,
            seed: 3,
        },
    );
    assert!(split.straddling_groups.is_empty());
    assert!(
        split
            .notes
            .iter()
            .any(|n| n.contains("no test split given"))
    );
    let mut role_of_patient: BTreeMap<&str, Role> = BTreeMap::new();
    for (entry, role) in dataset.entries.iter().zip(&split.roles) {
        let seen = *role_of_patient
            .entry(entry.patient.as_str())
            .or_insert(*role);
        assert_eq!(seen, *role, "patient {} on two sides", entry.patient);
    }
    for group in &duplicates {
        assert!(
            group
                .iter()
                .all(|&i| split.roles[i] == split.roles[group[0]]),
            "duplicate group split"
        );
    }
    for role in [Role::Val, Role::Test] {
        for class in 0..2 {
            let n = split
                .roles
                .iter()
                .zip(&dataset.entries)
                .filter(|(r, e)| **r == role && e.class == class)
                .count();
            let share = n as f64 / dataset.class_counts()[class] as f64;
            assert!(
                (0.12..=0.18).contains(&share),
                "{role:?} class {class}: {share}"
            );
        }
    }
}

#[test]
fn full_resolution_originals_load_at_their_own_size() {
    let Some(root) = medpath_testkit::shared_path("data/chest_xray_fullres") else {
        return;
    };
    let dataset = ImageDataset::scan(&root).unwrap();
    assert_eq!(dataset.entries.len(), 50);
    let mut widths = Vec::new();
    for entry in &dataset.entries {
        let (image, info) = load_rgb(&entry.path).unwrap();
        assert_eq!((image.width, image.height), (info.width, info.height));
        assert!(
            info.width >= 848 && info.height >= 480,
            "{}: {info:?}",
            entry.path.display()
        );
        widths.push(info.width);
    }
    assert!(widths.iter().any(|&w| w > 2000));
}
