//! Experiment files and task preparation: overrides, protocols, separate test folders.

use medpath_data::AugmentConfig;
use medpath_ecg::{SynthOptions, write_synthetic_set};
use medpath_experiment::Experiment;
use medpath_experiment::Recorder;
use medpath_experiment::config::{AugmentSet, TaskSpec};
use medpath_experiment::dataset::EncodedTask;
use medpath_experiment::demo::write_shapes;
use medpath_experiment::tasks::{Input, PreparedTask, prepare};
use medpath_infer::encoder::Encoding;
use medpath_split::Role;

/// An experiment of one ECG and one image task whose folders exist under `dir`
/// (settings name folders that must be there before a run starts).
fn base_experiment(dir: &std::path::Path) -> String {
    for folder in ["records", "shapes", "elsewhere"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    format!(
        "name = \"t\"\n[tasks.ecg]\nkind = \"ecg\"\nmitdb = {:?}\n\
         [tasks.img]\nkind = \"images\"\nroot = {:?}\n",
        dir.join("records"),
        dir.join("shapes")
    )
}

/// The error message of parsing `base` with the one override `set`, which must be refused.
fn refusal(base: &str, set: &str) -> String {
    Experiment::parse(base, &[set.into()], "base")
        .unwrap_err()
        .to_string()
}

#[test]
fn overrides_set_nested_keys_and_typos_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_experiment(tmp.path());
    let elsewhere = tmp.path().join("elsewhere");
    let e = Experiment::parse(
        &base,
        &[
            "search.population=7".into(),
            format!("tasks.img.test_dir={:?}", elsewhere),
            "order=[\"img\", \"ecg\"]".into(),
        ],
        "base",
    )
    .unwrap();
    assert_eq!(e.search.population, 7);
    assert_eq!(e.task_order(), vec!["img", "ecg"]);
    match &e.tasks["img"] {
        TaskSpec::Images(t) => assert_eq!(t.test_dir.as_deref(), Some(elsewhere.as_path())),
        other => panic!("{other:?}"),
    }
    let typo = refusal(&base, "search.populaton=7");
    assert!(typo.contains("populaton"), "{typo}");
    let bad_order = refusal(&base, "order=[\"ecg\"]");
    assert!(bad_order.contains("order"), "{bad_order}");
    let no_equals = refusal(&base, "search");
    assert!(no_equals.contains("KEY=VALUE"), "{no_equals}");
    let missing = refusal(&base, "tasks.img.test_dir=\"nowhere/at/all\"");
    assert!(
        missing.contains("tasks.img.test_dir") && missing.contains("does not exist"),
        "{missing}"
    );
    let record_centre = refusal(&base, "tasks.img.centre=record");
    assert!(
        record_centre.contains("tasks.img.centre") && record_centre.contains("none or site"),
        "{record_centre}"
    );
}

#[test]
fn strong_aspect_views_are_the_strong_ones_with_the_aspect_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_experiment(tmp.path());
    let e = Experiment::parse(
        &base,
        &[
            "tasks.img.augment=\"strong-aspect\"".into(),
            "tasks.img.augment_views=4".into(),
        ],
        "base",
    )
    .unwrap();
    let TaskSpec::Images(t) = &e.tasks["img"] else {
        panic!("not an image task")
    };
    let views = t.augment.config(t.augment_views, 5);
    assert_eq!(views.aspect, 0.3);
    assert_eq!(
        AugmentConfig {
            aspect: 0.0,
            ..views
        },
        AugmentSet::Strong.config(4, 5)
    );
    let unknown = refusal(&base, "tasks.img.augment=\"aspect\"");
    assert!(unknown.contains("strong-aspect"), "{unknown}");
}

#[test]
fn without_the_original_only_augmented_views_train() {
    let tmp = tempfile::tempdir().unwrap();
    let training_rows = |train_original: bool| {
        let dir = tmp.path().join(format!("original-{train_original}"));
        let (e, task) = prepared_with_test_folder(
            &dir,
            &format!(
                "size = 32\naugment = \"strong-aspect\"\naugment_views = 3\n\
                 train_original = {train_original}\n[encoder]\ncache = {:?}\n",
                tmp.path().join(format!("cache-{train_original}"))
            ),
        );
        let enc = Encoding::load(&e.encoder, &mut |_| {}).unwrap();
        let encoded = EncodedTask::encode(&enc, &task, &mut Recorder::default()).unwrap();
        let roles: Vec<Role> = task.examples.iter().map(|x| x.role).collect();
        let split = encoded.assemble(&task, &roles, 0).unwrap().split;
        let train = task.with_role(Role::Train).len();
        let rows: Vec<Vec<f32>> = (0..split.train.len())
            .map(|i| split.train.example(i).unwrap())
            .collect();
        (train, rows)
    };
    let (train, all) = training_rows(true);
    let (same_train, views) = training_rows(false);
    assert_eq!(train, same_train);
    assert_eq!(all.len(), 3 * train);
    assert_eq!(views.len(), 2 * train);
    // The views are the same pictures as with the original, and no original is among them.
    let originals: Vec<&Vec<f32>> = all.iter().filter(|row| !views.contains(row)).collect();
    assert_eq!(originals.len(), train);
    assert!(views.iter().all(|row| all.contains(row)));
    let refused = refusal(
        &base_experiment(tmp.path()),
        "tasks.img.train_original=false",
    );
    assert!(refused.contains("tasks.img.augment_views"), "{refused}");
}

#[test]
fn site_centring_centres_training_on_training_images_and_a_test_folder_on_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, task) = prepared_with_test_folder(tmp.path(), "centre = \"site\"\n");
    let paths_of = |role: Role| -> Vec<_> {
        let mut paths: Vec<_> = task
            .with_role(role)
            .into_iter()
            .map(|i| task.examples[i].input.clone())
            .collect();
        paths.sort();
        paths
    };
    for e in &task.examples {
        let expected = if e.role == Role::Test {
            "test"
        } else {
            "train"
        };
        assert_eq!(e.centre_key(), expected, "{e:?}");
    }
    let sorted = |site: &str| {
        let mut paths = task.centre_refs[site].clone();
        paths.sort();
        paths
    };
    // Validation images are centred on the training images' mean but are not part of it.
    assert_eq!(sorted("train"), paths_of(Role::Train));
    assert_eq!(sorted("test"), paths_of(Role::Test));
    assert_eq!(task.centre_refs.len(), 2);
}

/// An image task `img` on 60 generated training images under `dir/train` with 20 more in a
/// separate test folder `dir/test` (`task_lines` added to the task), and its preparation.
fn prepared_with_test_folder(
    dir: &std::path::Path,
    task_lines: &str,
) -> (Experiment, PreparedTask) {
    write_shapes(&dir.join("train"), 30, 1).unwrap();
    write_shapes(&dir.join("test"), 10, 2).unwrap();
    let text = format!(
        "name = \"t\"\n[tasks.img]\nkind = \"images\"\nroot = {:?}\ntest_dir = {:?}\n{task_lines}",
        dir.join("train"),
        dir.join("test")
    );
    let e = Experiment::parse(&text, &[], "t").unwrap();
    let task = prepare("img", &e.tasks["img"], &dir.join("prepared"), 0).unwrap();
    (e, task)
}

#[test]
fn a_separate_test_folder_is_the_whole_test_set() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, task) = prepared_with_test_folder(tmp.path(), "");
    let test = task.with_role(Role::Test);
    assert_eq!(test.len(), 20);
    assert!(
        test.iter()
            .all(|&i| matches!(&task.examples[i].input, Input::File(p) if p.starts_with(tmp.path().join("test"))))
    );
    assert_eq!(
        task.with_role(Role::Train).len() + task.with_role(Role::Val).len(),
        60
    );
    assert!(
        task.protocol.contains("separate test folder"),
        "{}",
        task.protocol
    );
    // A second call reads the saved preparation.
    let again = prepare("img", &e.tasks["img"], &tmp.path().join("prepared"), 0).unwrap();
    assert_eq!(again, task);
}

#[test]
fn ecg_test_records_from_another_folder_must_be_other_records() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test) = (tmp.path().join("train"), tmp.path().join("test"));
    write_synthetic_set(
        &train,
        &SynthOptions {
            records: 3,
            duration_s: 60.0,
            seed: 1,
        },
    )
    .unwrap();
    write_synthetic_set(
        &test,
        &SynthOptions {
            records: 3,
            duration_s: 60.0,
            seed: 9,
        },
    )
    .unwrap();
    let text = format!(
        "name = \"t\"\n[tasks.ecg]\nkind = \"ecg\"\nmitdb = {train:?}\ntest_mitdb = {test:?}\nsize = 32\nval_fraction = 0.34\n"
    );
    let e = Experiment::parse(&text, &[], "t").unwrap();
    // The generated sets use the same record names (s001...): not an inter-patient split.
    let error = prepare("ecg", &e.tasks["ecg"], &tmp.path().join("p1"), 0)
        .unwrap_err()
        .to_string();
    assert!(error.contains("both mitdb and test_mitdb"), "{error}");
    for ext in ["hea", "dat", "atr"] {
        for (from, to) in [("s001", "t001"), ("s002", "t002"), ("s003", "t003")] {
            let bytes = std::fs::read(test.join(format!("{from}.{ext}"))).unwrap();
            let bytes = if ext == "hea" {
                String::from_utf8(bytes)
                    .unwrap()
                    .replace(from, to)
                    .into_bytes()
            } else {
                bytes
            };
            std::fs::write(test.join(format!("{to}.{ext}")), bytes).unwrap();
            std::fs::remove_file(test.join(format!("{from}.{ext}"))).unwrap();
        }
    }
    let task = prepare("ecg", &e.tasks["ecg"], &tmp.path().join("p2"), 0).unwrap();
    let test_groups: std::collections::BTreeSet<&str> = task
        .with_role(Role::Test)
        .iter()
        .map(|&i| task.examples[i].group.as_str())
        .collect();
    assert_eq!(
        test_groups.into_iter().collect::<Vec<_>>(),
        vec!["t001", "t002", "t003"]
    );
    for role in [Role::Train, Role::Val] {
        assert!(
            task.with_role(role)
                .iter()
                .all(|&i| task.examples[i].group.starts_with('s'))
        );
    }
    assert!(
        task.protocol.starts_with("inter-patient"),
        "{}",
        task.protocol
    );
}

#[test]
fn the_record_prior_needs_balanced_class_weights_and_works_without_pooling() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_experiment(tmp.path());
    let refused = refusal(&base, "tasks.ecg.smooth.prior_steps=1");
    assert!(
        refused.contains("tasks.ecg.smooth.prior_steps") && refused.contains("balanced"),
        "{refused}"
    );
    let e = Experiment::parse(
        &base,
        &[
            "tasks.ecg.smooth.prior_steps=2".into(),
            "train.class_weights=\"balanced\"".into(),
        ],
        "base",
    )
    .unwrap();
    let TaskSpec::Ecg(t) = &e.tasks["ecg"] else {
        panic!("not an ECG task");
    };
    let smoothing = t.smooth.resolve(&t.classes).unwrap().unwrap();
    assert!(smoothing.classes.is_empty());
    assert_eq!(smoothing.prior_steps, 2);
}

#[test]
fn a_follow_up_task_follows_an_earlier_image_task_and_comes_last() {
    let tmp = tempfile::tempdir().unwrap();
    let base = base_experiment(tmp.path());
    let with_follow_up = format!(
        "{base}[tasks.kind]\nkind = \"images\"\nroot = {:?}\nlabels = \"file-names\"\n\
         classes = [\"small\", \"large\"]\nfollows = {{ task = \"img\", class = \"RING\" }}\n",
        tmp.path().join("shapes")
    );
    // Without `order`, routed tasks come first, follow-ups last; only routed ones are routed.
    let e = Experiment::parse(&with_follow_up, &[], "t").unwrap();
    assert_eq!(e.task_order(), vec!["ecg", "img", "kind"]);
    assert_eq!(e.routed_order(), vec!["ecg", "img"]);
    let refused = |set: &str| {
        Experiment::parse(&with_follow_up, &[set.into()], "t")
            .unwrap_err()
            .to_string()
    };
    let early = refused("order=[\"ecg\", \"kind\", \"img\"]");
    assert!(early.contains("follow-up tasks come last"), "{early}");
    let of_ecg = refused("tasks.kind.follows.task=\"ecg\"");
    assert!(
        of_ecg.contains("tasks.kind.follows.task") && of_ecg.contains("not an image task"),
        "{of_ecg}"
    );
    let unknown = refused("tasks.kind.follows.task=\"nothing\"");
    assert!(unknown.contains("`nothing`"), "{unknown}");
    let typo = refused("tasks.kind.follows.klass=\"RING\"");
    assert!(typo.contains("klass"), "{typo}");
    // A parent that lists its classes is checked at once.
    let listed = format!(
        "{with_follow_up}\n",
    )
    .replace(
        "[tasks.img]\nkind = \"images\"\n",
        "[tasks.img]\nkind = \"images\"\nlabels = \"file-names\"\nclasses = [\"DISC\", \"SQUARE\"]\n",
    );
    let class = Experiment::parse(&listed, &[], "t")
        .unwrap_err()
        .to_string();
    assert!(
        class.contains("tasks.kind.follows.class") && class.contains("RING"),
        "{class}"
    );
}

#[test]
fn a_training_pool_cut_per_class_keeps_validation_and_test() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, all) = prepared_with_test_folder(&tmp.path().join("all"), "");
    let (_, cut) = prepared_with_test_folder(&tmp.path().join("cut"), "train_per_class = 4\n");
    let training = |task: &PreparedTask, class: usize| {
        task.examples
            .iter()
            .filter(|x| x.role == Role::Train && x.trains && x.label == class)
            .count()
    };
    for class in 0..2 {
        assert!(training(&all, class) > 4);
        assert_eq!(training(&cut, class), 4);
    }
    for role in [Role::Val, Role::Test] {
        assert_eq!(all.with_role(role), cut.with_role(role));
    }
    assert!(
        cut.notes
            .iter()
            .any(|n| n.contains("at most 4 images per class")),
        "{:?}",
        cut.notes
    );
    let refused = refusal(&base_experiment(tmp.path()), "tasks.img.train_per_class=0");
    assert!(refused.contains("tasks.img.train_per_class"), "{refused}");
}
