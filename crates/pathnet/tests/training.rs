//! Training, search and checkpoint behaviour on small generated feature sets.

use std::ops::ControlFlow;

use medpath_pathnet::{
    Adam, AdamConfig, DiskPrecision, Examples, FeatureSet, FitSettings, Learner, NetworkConfig,
    SearchSettings, SuperNet, checkpoint, evaluate, evolve, fit,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` examples of 3 classes on 2x2 maps of 16 channels: class c raises channels 4c..4c+3 at one
/// corner, everything else is noise, so the classes are learnable but not trivially so.
fn generated(n: usize, seed: u64) -> FeatureSet {
    generated_into(FeatureSet::new(2, 2, 16), n, seed)
}

/// [`generated`]'s examples pushed into `set` (in memory or on disk).
fn generated_into(mut set: FeatureSet, n: usize, seed: u64) -> FeatureSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for i in 0..n {
        let label = i % 3;
        let mut chw = vec![0.0f32; 16 * 4];
        for (k, v) in chw.iter_mut().enumerate() {
            *v = rng.random_range(0.0..1.0);
            let (channel, position) = (k / 4, k % 4);
            if channel / 4 == label && position == label {
                *v += 0.9;
            }
        }
        set.push_chw(&chw, label).unwrap();
    }
    set
}

fn config() -> NetworkConfig {
    NetworkConfig {
        channels: 16,
        modules: 5,
        conv_width: 6,
        grid: 2,
        fc_widths: vec![8, 8],
        ..NetworkConfig::paper()
    }
}

fn classes() -> Vec<String> {
    ["A", "L", "R"].map(String::from).to_vec()
}

/// `result` is the refusal of a checkpoint `file` written by another `what` run.
fn assert_refused_as_another_run<T: std::fmt::Debug>(
    result: Result<T, medpath_pathnet::Error>,
    file: &str,
    what: &str,
) {
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(file)
            && message.contains(&format!(
                "{what} checkpoint was written with other settings"
            )),
        "{message}"
    );
}

/// A new network (weights from `seed`) with one readout "task" and its optimiser.
fn fresh(seed: u64) -> (SuperNet, usize, Adam) {
    let mut net = SuperNet::new(config(), seed).unwrap();
    let head = net.add_head("task", &classes(), false, 2);
    let adam = Adam::new(AdamConfig::default(), &net);
    (net, head, adam)
}

fn settings(tournaments: usize) -> SearchSettings {
    let mut s = SearchSettings::paper(tournaments, 5);
    s.space.modules = 5;
    s.config.population = 8;
    s.steps = 10;
    s.config.threshold = None;
    s
}

#[test]
fn search_then_fit_learns_the_generated_classes() {
    let (train, val, test) = (generated(240, 1), generated(90, 2), generated(90, 3));
    let (mut net, head, mut adam) = fresh(1);
    let found = evolve(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        Examples {
            train: &train,
            val: &val,
        },
        &settings(15),
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    assert_eq!(found.search.log.len(), 15);
    assert_eq!(found.steps, 15 * 2 * 10);
    let fit_settings = FitSettings {
        epochs: 30,
        batch: 16,
        patience: Some(4),
        max_steps: None,
        seed: 3,
        regularisation: Default::default(),
    };
    let outcome = fit(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        &found.best,
        Examples {
            train: &train,
            val: &val,
        },
        &fit_settings,
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    let best = &outcome.log[outcome.best_epoch - 1];
    let restored = evaluate(&net, head, &found.best, &val).unwrap();
    assert!(
        (restored.loss - best.val_loss).abs() < 1e-9,
        "best weights restored"
    );
    let accuracy = evaluate(&net, head, &found.best, &test).unwrap().accuracy;
    assert!(accuracy > 0.9, "test accuracy {accuracy}");
}

#[test]
fn frozen_modules_and_other_readouts_never_change() {
    let (train, val) = (generated(120, 4), generated(60, 5));
    let mut net = SuperNet::new(config(), 1).unwrap();
    let first = net.add_head("first", &classes(), false, 2);
    let path = vec![vec![0, 1], vec![2], vec![3, 4]];
    let mut adam = Adam::new(AdamConfig::default(), &net);
    let s = FitSettings {
        epochs: 3,
        batch: 16,
        patience: None,
        max_steps: None,
        seed: 0,
        regularisation: Default::default(),
    };
    fit(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head: first,
        },
        &path,
        Examples {
            train: &train,
            val: &val,
        },
        &s,
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    net.freeze(&path);
    let before = evaluate(&net, first, &path, &val).unwrap();
    let params_before = net.params.clone();
    net.reinitialise_unfrozen(9);
    let second = net.add_head("second", &classes(), false, 3);
    evolve(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head: second,
        },
        Examples {
            train: &train,
            val: &val,
        },
        &settings(6),
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap();
    let after = evaluate(&net, first, &path, &val).unwrap();
    assert_eq!(before.probs, after.probs, "the first task's outputs moved");
    for (l, modules) in path.iter().enumerate() {
        for &m in modules {
            let r = net.blocks[net.module_block(l, m)].range();
            assert_eq!(net.params[r.clone()], params_before[r]);
        }
    }
}

#[test]
fn search_is_deterministic_and_resumes_exactly_after_an_interruption() {
    let (train, val) = (generated(120, 6), generated(60, 7));
    let run = |stop_after: Option<usize>, file: Option<&std::path::Path>| {
        let (mut net, head, mut adam) = fresh(1);
        let mut seen = 0;
        let outcome = evolve(
            Learner {
                net: &mut net,
                adam: &mut adam,
                head,
            },
            Examples {
                train: &train,
                val: &val,
            },
            &settings(12),
            file,
            &mut |_| {
                seen += 1;
                if Some(seen) == stop_after {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
        (outcome, net)
    };
    let (whole, whole_net) = run(None, None);
    let (again, again_net) = run(None, None);
    assert_eq!(whole.search.log, again.search.log);
    assert_eq!(whole_net.params, again_net.params);

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("search.ckpt");
    let (part, _) = run(Some(5), Some(&file));
    assert!(!part.finished);
    assert_eq!(part.search.log.len(), 5);
    let (resumed, resumed_net) = run(None, Some(&file));
    assert!(resumed.finished);
    assert_eq!(resumed.search.log, whole.search.log);
    assert_eq!(resumed.best, whole.best);
    assert_eq!(resumed_net.params, whole_net.params);

    // The same file under other search settings is refused, naming the file.
    let (mut net, head, mut adam) = fresh(1);
    let refused = evolve(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        Examples {
            train: &train,
            val: &val,
        },
        &settings(13),
        Some(&file),
        &mut |_| ControlFlow::Continue(()),
    );
    assert_refused_as_another_run(refused, "search.ckpt", "search");
}

#[test]
fn fit_resumes_exactly_and_checkpoints_reject_bad_files() {
    let (train, val) = (generated(120, 8), generated(60, 9));
    let path = vec![vec![1], vec![0, 2], vec![4]];
    let s = FitSettings {
        epochs: 6,
        batch: 16,
        patience: None,
        max_steps: Some(30),
        seed: 1,
        regularisation: Default::default(),
    };
    let run = |stop_after: Option<usize>, file: Option<&std::path::Path>| {
        let (mut net, head, mut adam) = fresh(1);
        let outcome = fit(
            Learner {
                net: &mut net,
                adam: &mut adam,
                head,
            },
            &path,
            Examples {
                train: &train,
                val: &val,
            },
            &s,
            file,
            &mut |r| {
                if Some(r.epoch) == stop_after {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
        (outcome, net)
    };
    let (whole, whole_net) = run(None, None);
    assert_eq!(whole.steps, 30, "the step budget holds");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fit.ckpt");
    run(Some(2), Some(&file));
    let (resumed, resumed_net) = run(None, Some(&file));
    assert_eq!(resumed, whole);
    assert_eq!(resumed_net.params, whole_net.params);

    // A checkpoint of another run (other settings) is refused, naming the file.
    let (mut net, head, mut adam) = fresh(1);
    let other = FitSettings {
        epochs: 7,
        ..s.clone()
    };
    let refused = fit(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        &path,
        Examples {
            train: &train,
            val: &val,
        },
        &other,
        Some(&file),
        &mut |_| ControlFlow::Continue(()),
    );
    assert_refused_as_another_run(refused, "fit.ckpt", "training");

    let loaded = checkpoint::load(&file).unwrap();
    assert_eq!(loaded.net.params, whole_net.params);
    let bytes = std::fs::read(&file).unwrap();
    let truncated = dir.path().join("truncated.ckpt");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let error = checkpoint::load(&truncated).unwrap_err().to_string();
    assert!(error.contains("truncated.ckpt"), "{error}");
    let text = dir.path().join("text.ckpt");
    std::fs::write(&text, "hello").unwrap();
    let error = checkpoint::load(&text).unwrap_err().to_string();
    assert!(
        error.contains("text.ckpt") && error.contains("safetensors"),
        "{error}"
    );
}

#[test]
fn non_finite_features_and_a_diverging_loss_are_clear_errors() {
    let mut set = FeatureSet::new(2, 2, 16);
    let mut chw = vec![0.5f32; 64];
    chw[7] = f32::NAN;
    let error = set.push_chw(&chw, 0).unwrap_err().to_string();
    assert!(
        error.contains("NaN") && error.contains("value 7"),
        "{error}"
    );

    let (mut train, val) = (generated(60, 10), generated(30, 11));
    // Finite, but far beyond what f32 products survive: the loss overflows.
    train
        .map_examples(|row| row.iter_mut().for_each(|v| *v *= 1e38))
        .unwrap();
    let (mut net, head, mut adam) = fresh(1);
    let s = FitSettings {
        epochs: 2,
        batch: 16,
        patience: None,
        max_steps: None,
        seed: 1,
        regularisation: Default::default(),
    };
    let path = vec![vec![0], vec![0], vec![0]];
    let error = fit(
        Learner {
            net: &mut net,
            adam: &mut adam,
            head,
        },
        &path,
        Examples {
            train: &train,
            val: &val,
        },
        &s,
        None,
        &mut |_| ControlFlow::Continue(()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("diverged") && error.contains("task"),
        "{error}"
    );
}

/// `n` examples whose class shows only in their side inputs; the maps are noise.
fn side_only(n: usize, seed: u64) -> FeatureSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut set = FeatureSet::new(2, 2, 16).with_side(3);
    for i in 0..n {
        let label = i % 3;
        let chw: Vec<f32> = (0..64).map(|_| rng.random_range(0.0..1.0)).collect();
        let mut side: Vec<f32> = (0..3).map(|_| rng.random_range(-0.3..0.3)).collect();
        side[label] += 1.0;
        set.push_with_side(&chw, &side, label).unwrap();
    }
    set
}

#[test]
fn side_inputs_with_dropout_and_class_weights_are_learned() {
    let (train, val, test) = (side_only(300, 1), side_only(90, 2), side_only(90, 3));
    let mut net = SuperNet::new(
        NetworkConfig {
            side_width: 3,
            ..config()
        },
        1,
    )
    .unwrap();
    for (name, path) in [
        ("path", vec![vec![0, 1], vec![2], vec![3]]),
        ("linear", Vec::new()),
    ] {
        let head = net.add_head(name, &classes(), path.is_empty(), 2);
        let mut adam = Adam::new(
            AdamConfig {
                weight_decay: 1e-4,
                ..AdamConfig::default()
            },
            &net,
        );
        let s = FitSettings {
            epochs: 60,
            batch: 16,
            patience: Some(10),
            max_steps: None,
            seed: 4,
            regularisation: medpath_pathnet::Regularisation {
                dropout: 0.2,
                class_weights: medpath_pathnet::balanced_class_weights(&train.labels, 3),
                seed: 9,
            },
        };
        fit(
            Learner {
                net: &mut net,
                adam: &mut adam,
                head,
            },
            &path,
            Examples {
                train: &train,
                val: &val,
            },
            &s,
            None,
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        let accuracy = evaluate(&net, head, &path, &test).unwrap().accuracy;
        assert!(accuracy > 0.9, "{name}: test accuracy {accuracy}");
    }
    let wrong = generated(10, 1);
    let error = net.check_features(&wrong).unwrap_err().to_string();
    assert!(error.contains("side inputs"), "{error}");
}

/// Search, training and evaluation on a set whose maps are on disk (read a batch at a time)
/// give exactly what they give on the same set in memory; selecting, joining and changing
/// disk-backed sets behaves as in memory; the file leaves nothing behind.
#[test]
fn disk_backed_sets_train_exactly_like_sets_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let on_disk = |n, seed, precision| {
        let set = FeatureSet::on_disk(2, 2, 16, dir.path(), precision).unwrap();
        generated_into(set, n, seed)
    };
    let (train, val) = (generated(150, 21), generated(60, 22));
    let (disk_train, disk_val) = (
        on_disk(150, 21, DiskPrecision::F32),
        on_disk(60, 22, DiskPrecision::F32),
    );
    assert_eq!(disk_train.disk_precision(), Some(DiskPrecision::F32));
    assert_eq!(
        disk_train, train,
        "the same examples, wherever they are kept"
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "the spill files have no name"
    );

    let learn = |train: &FeatureSet, val: &FeatureSet| {
        let (mut net, head, mut adam) = fresh(3);
        let found = evolve(
            Learner {
                net: &mut net,
                adam: &mut adam,
                head,
            },
            Examples { train, val },
            &settings(6),
            None,
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        let s = FitSettings {
            epochs: 3,
            batch: 16,
            patience: None,
            max_steps: None,
            seed: 2,
            regularisation: Default::default(),
        };
        let outcome = fit(
            Learner {
                net: &mut net,
                adam: &mut adam,
                head,
            },
            &found.best,
            Examples { train, val },
            &s,
            None,
            &mut |_| ControlFlow::Continue(()),
        )
        .unwrap();
        let probs = evaluate(&net, head, &found.best, val).unwrap().probs;
        (found.search.log, outcome, net.params, probs)
    };
    assert_eq!(learn(&disk_train, &disk_val), learn(&train, &val));

    // Views, joins and in-place changes.
    let rows = [5, 0, 149, 5];
    let picked = disk_train.select(&rows).unwrap();
    assert_eq!(picked, train.select(&rows).unwrap());
    let mut joined = picked.clone();
    joined.extend(&disk_train.select(&[7, 8]).unwrap()).unwrap();
    joined.extend(&train.select(&[9]).unwrap()).unwrap();
    assert_eq!(joined, train.select(&[5, 0, 149, 5, 7, 8, 9]).unwrap());
    let mut doubled = picked.clone();
    doubled
        .map_examples(|row| row.iter_mut().for_each(|v| *v *= 2.0))
        .unwrap();
    assert_eq!(
        doubled.example(1).unwrap(),
        train
            .example(0)
            .unwrap()
            .iter()
            .map(|v| v * 2.0)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        picked,
        train.select(&rows).unwrap(),
        "the view it was made from is unchanged"
    );

    // Half precision: the values rounded to f16, nothing else.
    let half = on_disk(150, 21, DiskPrecision::F16);
    let (a, b) = (half.example(17).unwrap(), train.example(17).unwrap());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() <= 1e-3 * y.abs().max(1.0), "{x} vs {y}");
    }
    drop((disk_train, disk_val, picked, joined, doubled, half));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
