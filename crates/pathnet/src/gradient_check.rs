//! Finite-difference checks of the hand-written backward pass.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::network::{Aggregate, NetworkConfig, Path, SuperNet};

fn loss(
    net: &SuperNet,
    head: usize,
    path: &Path,
    x: &[f32],
    n: usize,
    hw: (usize, usize),
    y: &[usize],
) -> f64 {
    let trace = net.forward(head, path, x, n, hw);
    let classes = trace.probs.len() / n;
    y.iter()
        .enumerate()
        .map(|(e, &c)| -f64::from(trace.probs[e * classes + c]).ln())
        .sum::<f64>()
        / n as f64
}

fn check(aggregate: Aggregate, path: Path, freeze: Option<Path>, linear: bool) {
    let config = NetworkConfig {
        channels: 6,
        modules: 4,
        conv_width: 3,
        grid: 2,
        fc_widths: vec![5, 4],
        aggregate,
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
    let y = vec![0, 2, 1, 2];
    let trainable = net.trainable_blocks(head, &path);
    let mut grad = vec![0.0; net.params.len()];
    let trace = net.forward(head, &path, &x, n, hw);
    net.backward(head, &path, &x, hw, &trace, &y, &trainable, &mut grad);
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
            let up = loss(&net, head, &path, &x, n, hw, &y);
            net.params[i] = original - h;
            let down = loss(&net, head, &path, &x, n, hw, &y);
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
    );
}

#[test]
fn backward_matches_finite_differences_for_a_linear_readout() {
    check(Aggregate::Sum, Vec::new(), None, true);
}
