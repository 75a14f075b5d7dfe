//! Gradient check of block-5 fine-tuning: the backward passes (convolution + bias + ReLU,
//! max-pooling, the averaged linear readout and the class-weighted loss) against central
//! differences of the loss, for every parameter vector.

use medpath_conv::Activations;
use medpath_conv::backprop::{TrainableConv, max_pool2_backward};
use medpath_conv::finetune::Block5Classifier;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

/// A small block: 4 -> 6 -> 6 -> 5 channels on 2 images of 4 x 4, 3 classes.
fn small_block(rng: &mut ChaCha8Rng) -> (Block5Classifier, Activations) {
    let channels = [4, 6, 6, 5];
    let convs = channels
        .windows(2)
        .map(|pair| {
            TrainableConv::from_oihw(
                &random(rng, pair[0] * pair[1] * 9, 0.4),
                &random(rng, pair[1], 0.2),
                pair[0],
                pair[1],
            )
        })
        .collect();
    let model = Block5Classifier {
        convs,
        head: random(rng, 5 * 3, 1.0),
        head_bias: random(rng, 3, 0.3),
        classes: 3,
    };
    let mut x = Activations::zeros(2, 4, 4, 4);
    x.data = random(rng, x.data.len(), 1.0)
        .into_iter()
        .map(|v| v.max(0.0) + 0.05 * v)
        .collect();
    (model, x)
}

#[test]
fn every_gradient_matches_central_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (model, x) = small_block(&mut rng);
    let labels = [2, 0];
    let weights = [1.0, 0.5, 2.0];
    let (report, gradients) = model.loss_and_gradients(&x, &labels, &weights);
    assert!(report.loss.is_finite() && report.loss > 0.0);
    let eps = 1e-3f32;
    let (mut checked, mut worst) = (0, 0f32);
    for (v, gradient) in gradients.iter().enumerate() {
        assert!(
            gradient.iter().any(|g| *g != 0.0),
            "vector {v} has no gradient"
        );
        for i in (0..gradient.len()).step_by(gradient.len().div_ceil(25)) {
            let loss_at = |delta: f32| {
                let mut moved = model.clone();
                moved.parameters_mut()[v][i] += delta;
                moved.loss_and_gradients(&x, &labels, &weights).0.loss
            };
            let numeric = (loss_at(eps) - loss_at(-eps)) / (2.0 * eps);
            let error =
                (numeric - gradient[i]).abs() / (numeric.abs() + gradient[i].abs()).max(1e-2);
            worst = worst.max(error);
            assert!(
                error < 2e-2,
                "vector {v} index {i}: analytic {} numeric {numeric}",
                gradient[i]
            );
            checked += 1;
        }
    }
    assert!(checked >= 100, "checked {checked}");
    println!("{checked} gradients checked, worst relative error {worst:.2e}");
}

#[test]
fn pooling_sends_each_gradient_to_its_maximum() {
    let mut x = Activations::zeros(1, 2, 4, 1);
    x.data = vec![1.0, 5.0, 2.0, 2.0, 3.0, 0.0, 7.0, 2.0];
    let mut g = Activations::zeros(1, 1, 2, 1);
    g.data = vec![10.0, 20.0];
    // Maxima: 5 (top right of the first block), 7 (bottom left of the second).
    assert_eq!(
        max_pool2_backward(&x, &medpath_conv::pool::max_pool2(&x), &g).data,
        vec![0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 20.0, 0.0]
    );
}

#[test]
fn the_trainable_convolution_equals_the_encoders() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (c_in, c_out) = (16, 8);
    let weight = random(&mut rng, c_out * c_in * 9, 0.3);
    let bias = random(&mut rng, c_out, 0.1);
    let mut x = Activations::zeros(2, 8, 8, c_in);
    x.data = random(&mut rng, x.data.len(), 1.0);
    let trained = TrainableConv::from_oihw(&weight, &bias, c_in, c_out).forward(&x);
    let encoder = medpath_conv::Conv3x3::new(&weight, &bias, c_in, c_out).forward(&x);
    for (a, b) in trained.output.data.iter().zip(&encoder.data) {
        assert!((a - b).abs() < 1e-4, "{a} {b}");
    }
}
