//! Finite-difference checks of the hand-written backward pass.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::network::{
    Aggregate, Batch, Dropout, GradientSink, NetworkConfig, Path, SuperNet, Targets,
};

/// What a check varies beyond the path.
#[derive(Default)]
struct Extras {
    side_width: usize,
    class_weights: Option<Vec<f32>>,
    dropout: Option<f32>,
}

/// The same dropout masks for every forward pass of one check.
fn dropout(rate: Option<f32>) -> Option<Dropout> {
    rate.map(|rate| Dropout {
        rate,
        rng: ChaCha8Rng::seed_from_u64(17),
    })
}

fn loss(
    net: &SuperNet,
    head: usize,
    path: &Path,
    batch: &Batch<'_>,
    y: &[usize],
    extras: &Extras,
) -> f64 {
    let trace = net.forward(head, path, batch, dropout(extras.dropout).as_mut());
    let classes = trace.probs.len() / batch.n;
    y.iter()
        .enumerate()
        .map(|(e, &c)| {
            let w = extras.class_weights.as_ref().map_or(1.0, |w| w[c]);
            -f64::from(w) * f64::from(trace.probs[e * classes + c]).ln()
        })
        .sum::<f64>()
        / batch.n as f64
}

fn check(aggregate: Aggregate, path: Path, freeze: Option<Path>, linear: bool, extras: Extras) {
    let config = NetworkConfig {
        channels: 6,
        modules: 4,
        conv_width: 3,
        grid: 2,
        fc_widths: vec![5, 4],
        aggregate,
        side_width: extras.side_width,
    };
    let mut net = SuperNet::new(config, 7).unwrap();
    if let Some(f) = &freeze {
        net.freeze(f);
    }
    let classes: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let head = net.add_head("t", &classes, linear, 9);
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    // 3x2 maps pooled to a 2x2 grid: the row bins overlap, which the unpooling must honour.
    let (n, hw) = (4, (3, 2));
    let x: Vec<f32> = (0..n * 6 * 6)
        .map(|_| rng.random_range(-1.0..2.0))
        .collect();
    let side: Vec<f32> = (0..n * extras.side_width)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let batch = Batch {
        maps: &x,
        side: &side,
        n,
        hw,
    };
    let y = vec![0, 2, 1, 2];
    let trainable = net.trainable_blocks(head, &path);
    let mut grad = vec![0.0; net.params.len()];
    let trace = net.forward(head, &path, &batch, dropout(extras.dropout).as_mut());
    let targets = Targets {
        labels: &y,
        class_weights: extras.class_weights.as_deref(),
    };
    net.backward(
        (head, &path),
        &batch,
        &trace,
        &targets,
        GradientSink {
            trainable: &trainable,
            values: &mut grad,
        },
    );
    let mut checked = 0;
    for (b, block) in net.blocks.clone().iter().enumerate() {
        for i in block.range().step_by(3) {
            if !trainable.contains(&b) {
                assert_eq!(grad[i], 0.0, "frozen or unused block {b} got a gradient");
                continue;
            }
            let h = 1e-3f32;
            let original = net.params[i];
            net.params[i] = original + h;
            let up = loss(&net, head, &path, &batch, &y, &extras);
            net.params[i] = original - h;
            let down = loss(&net, head, &path, &batch, &y, &extras);
            net.params[i] = original;
            let numeric = (up - down) / (2.0 * f64::from(h));
            let analytic = f64::from(grad[i]);
            assert!(
                (numeric - analytic).abs() <= 2e-3 + 2e-2 * numeric.abs(),
                "block {b} parameter {i}: numeric {numeric}, analytic {analytic}"
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} parameters checked");
}

#[test]
fn backward_matches_finite_differences_with_sums() {
    check(
        Aggregate::Sum,
        vec![vec![0, 2], vec![1, 1, 3], vec![2]],
        None,
        false,
        Extras::default(),
    );
}

#[test]
fn backward_matches_finite_differences_with_means_and_frozen_modules() {
    let frozen = vec![vec![2], vec![1], vec![0]];
    check(
        Aggregate::Mean,
        vec![vec![0, 2], vec![1, 3], vec![0, 2]],
        Some(frozen),
        false,
        Extras::default(),
    );
}

#[test]
fn backward_matches_finite_differences_for_a_linear_readout() {
    check(Aggregate::Sum, Vec::new(), None, true, Extras::default());
}

#[test]
fn backward_matches_finite_differences_with_side_inputs_weights_and_dropout() {
    let extras = || Extras {
        side_width: 3,
        class_weights: Some(vec![0.5, 1.0, 2.5]),
        dropout: Some(0.3),
    };
    check(
        Aggregate::Sum,
        vec![vec![0, 2], vec![1, 3], vec![2]],
        None,
        false,
        extras(),
    );
    check(Aggregate::Sum, Vec::new(), None, true, extras());
}

#[test]
fn side_inputs_reach_the_output() {
    let config = NetworkConfig {
        channels: 4,
        modules: 2,
        conv_width: 2,
        grid: 1,
        fc_widths: vec![3],
        aggregate: Aggregate::Sum,
        side_width: 2,
    };
    let net = {
        let mut net = SuperNet::new(config, 1).unwrap();
        net.add_head("t", &["a".into(), "b".into()], false, 2);
        net
    };
    let maps = vec![0.5f32; 4];
    let probs = |side: [f32; 2]| {
        let batch = Batch {
            maps: &maps,
            side: &side,
            n: 1,
            hw: (1, 1),
        };
        net.forward(0, &vec![vec![0], vec![1]], &batch, None).probs
    };
    assert_ne!(probs([0.0, 0.0]), probs([3.0, -2.0]));
}
