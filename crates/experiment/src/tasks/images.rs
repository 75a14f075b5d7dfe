//! Preparing an image task: a class folder (Kermany or ImageFolder layout) split by patient,
//! or tested on its official test folder or a separate one.

use std::collections::{BTreeMap, BTreeSet};

use medpath_data::{
    ImageDataset, ImageEntry, LabelSource, SplitPlan, assign_splits, content_hashes,
};
use medpath_split::Role;

use super::{Example, Input, PreparedTask, TEST_SITE, TRAINING_SITE};
use crate::config::{Centre, ImageTask};
use crate::error::{Error, Result};
use medpath_readout::ViewRule;

/// An image example of `entry`.
fn image_example(entry: &ImageEntry, label: usize, role: Role, site: Option<String>) -> Example {
    Example {
        input: Input::File(entry.path.clone()),
        label,
        scored: true,
        trains: true,
        group: entry.patient.clone(),
        role,
        side: Vec::new(),
        fold: None,
        seconds: None,
        symbol: None,
        rejected: None,
        site,
    }
}

/// The site of an image when its task centres on sites (see [`Example::site`]).
fn site_of(task: &ImageTask, from_test_folder: bool) -> Option<String> {
    (task.centre == Centre::Site).then(|| {
        if from_test_folder {
            TEST_SITE
        } else {
            TRAINING_SITE
        }
        .to_string()
    })
}

/// The examples of a separate test folder, labelled with the training classes.
fn test_folder_examples(
    name: &str,
    task: &ImageTask,
    classes: &[String],
    notes: &mut Vec<String>,
) -> Result<Vec<Example>> {
    let Some(test_dir) = &task.test_dir else {
        return Ok(Vec::new());
    };
    let test = ImageDataset::load(test_dir, &test_labels(task, test_dir), classes)?;
    notes.extend(test.warnings.iter().map(|w| format!("test folder: {w}")));
    test.entries
        .iter()
        .map(|entry| {
            let class_name = &test.classes[entry.class];
            let label = classes
                .iter()
                .position(|c| c == class_name)
                .ok_or_else(|| {
                    Error::task(
                        name,
                        format!(
                            "test folder class `{class_name}` is not a training class ({classes:?})"
                        ),
                    )
                })?;
            Ok(image_example(entry, label, Role::Test, site_of(task, true)))
        })
        .collect()
}

/// How a separate test folder is labelled: by its class folders when it has one named after a
/// class (or the task reads class folders), else by the task's file-name rule (a test folder
/// of the training layout, e.g. `PNEUMONIA/` of `person1_virus_2.jpeg` files).
fn test_labels(task: &ImageTask, test_dir: &std::path::Path) -> LabelSource {
    let by_file_names = task.labels.as_deref() == Some("file-names")
        && !task.classes.iter().any(|c| test_dir.join(c).is_dir());
    if by_file_names {
        LabelSource::FileNames
    } else {
        LabelSource::Folders
    }
}

/// Keeps at most `per_class` training examples of each class training (a draw seeded by
/// `seed`); the others stay in the task but neither train nor answer. Validation and test
/// examples are untouched.
pub(crate) fn keep_per_class(examples: &mut [Example], per_class: usize, seed: u64) {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 4242);
    let classes = examples.iter().map(|e| e.label + 1).max().unwrap_or(0);
    for class in 0..classes {
        let mut train: Vec<usize> = (0..examples.len())
            .filter(|&i| examples[i].role == Role::Train && examples[i].label == class)
            .filter(|&i| examples[i].trains)
            .collect();
        train.shuffle(&mut rng);
        for &i in train.iter().skip(per_class) {
            examples[i].trains = false;
        }
    }
}

/// The protocol line of an image task.
fn protocol_of(task: &ImageTask, given_test: bool) -> String {
    if let Some(test_dir) = &task.test_dir {
        format!(
            "separate test folder {} (validation carved by patient from {})",
            test_dir.display(),
            task.root.display()
        )
    } else if given_test {
        format!(
            "official test split ({}/test); validation carved by patient from train",
            task.root.display()
        )
    } else {
        format!(
            "patient-aware re-split: {:.0} % test and {:.0} % validation carved by patient from {} (not comparable with official-test-set numbers)",
            100.0 * task.test_fraction,
            100.0 * task.val_fraction,
            task.root.display()
        )
    }
}

/// Prepares an image task.
pub fn prepare_images(name: &str, task: &ImageTask, seed: u64) -> Result<PreparedTask> {
    let labels = LabelSource::parse(task.labels.as_deref());
    let mut dataset = ImageDataset::load(&task.root, &labels, &task.classes)?;
    dataset.check_trainable()?;
    let mut notes = dataset.warnings.clone();
    let given_test = dataset
        .entries
        .iter()
        .any(|e| e.given_split == Some(Role::Test));
    let mut plan = SplitPlan {
        val_fraction: task.val_fraction,
        test_fraction: task.test_fraction,
        seed,
    };
    if task.test_dir.is_some() {
        // The separate folder is the test set: everything under root trains or validates.
        for e in &mut dataset.entries {
            if e.given_split == Some(Role::Test) {
                e.given_split = None;
            }
        }
        plan.test_fraction = 0.0;
    }
    let hashes = content_hashes(&dataset)?;
    let assignment = assign_splits(&dataset, &hashes, &plan);
    notes.extend(assignment.notes.iter().cloned());
    let mut examples: Vec<Example> = dataset
        .entries
        .iter()
        .zip(&assignment.roles)
        .map(|(e, &role)| {
            let site = site_of(task, e.given_split == Some(Role::Test));
            image_example(e, e.class, role, site)
        })
        .filter(|e| task.test_dir.is_none() || e.role != Role::Test)
        .collect();
    if let Some(n) = task.train_per_class {
        keep_per_class(&mut examples, n, seed);
        notes.push(format!(
            "training pool cut to at most {n} images per class (seeded draw); validation and test unchanged"
        ));
    }
    examples.extend(test_folder_examples(
        name,
        task,
        &dataset.classes,
        &mut notes,
    )?);
    Ok(PreparedTask {
        name: name.to_string(),
        kind: "images".into(),
        classes: dataset.classes.clone(),
        protocol: protocol_of(task, given_test),
        notes,
        size: task.size,
        augment_views: task.augment_views.max(1),
        augment: task.augment,
        tta_views: task.tta_views.max(1),
        train_original: task.train_original,
        view_rule: ViewRule::Mean,
        pipeline: None,
        records: Vec::new(),
        side_names: Vec::new(),
        folds: 0,
        centre_refs: site_refs(&examples),
        examples,
    })
}

/// The images whose mean features centre each site: a site's training images, or all its
/// images where it has none (a test folder). Empty without site centring.
fn site_refs(examples: &[Example]) -> BTreeMap<String, Vec<Input>> {
    let sited = || examples.iter().filter_map(|e| Some((e.site.as_ref()?, e)));
    let training_sites: BTreeSet<&String> = sited()
        .filter(|(_, e)| e.role == Role::Train)
        .map(|(site, _)| site)
        .collect();
    let mut refs = BTreeMap::<String, Vec<Input>>::new();
    for (site, e) in sited() {
        if e.role == Role::Train || !training_sites.contains(site) {
            refs.entry(site.clone()).or_default().push(e.input.clone());
        }
    }
    refs
}
