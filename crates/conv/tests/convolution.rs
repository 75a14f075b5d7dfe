//! Every convolution method equals a direct float64 convolution, on odd sizes, padding edges and
//! batches, and the whole network keeps shapes and batch independence; bf16 layers stay within
//! bf16's rounding of both.

use medpath_conv::{Activations, Arithmetic, Conv3x3, Vgg16Cpu};
use medpath_weights::EncoderWeights;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(len: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Direct 3x3 convolution, padding 1, + bias, ReLU, in f64; NHWC in and out.
fn direct(x: &Activations, weight: &[f32], bias: &[f32], c_out: usize) -> Vec<f64> {
    let (n, h, w, c) = (x.n, x.h, x.w, x.c);
    let mut out = vec![0.0; n * h * w * c_out];
    for img in 0..n {
        for y in 0..h {
            for col in 0..w {
                for o in 0..c_out {
                    let mut sum = bias[o] as f64;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let (yy, xx) = (y as isize + ky - 1, col as isize + kx - 1);
                            if yy < 0 || yy >= h as isize || xx < 0 || xx >= w as isize {
                                continue;
                            }
                            let at = ((img * h + yy as usize) * w + xx as usize) * c;
                            for i in 0..c {
                                let k = weight[((o * c + i) * 3 + ky as usize) * 3 + kx as usize];
                                sum += k as f64 * x.data[at + i] as f64;
                            }
                        }
                    }
                    out[((img * h + y) * w + col) * c_out + o] = sum.max(0.0);
                }
            }
        }
    }
    out
}

/// Euclidean norm of the difference over the reference's norm.
fn relative_l2_error(ours: &[f32], reference: &[f64]) -> f64 {
    let diff: f64 = ours
        .iter()
        .zip(reference)
        .map(|(a, b)| (*a as f64 - b).powi(2))
        .sum();
    (diff / reference.iter().map(|b| b * b).sum::<f64>()).sqrt()
}

fn max_relative_error(ours: &[f32], reference: &[f64]) -> f64 {
    let scale = reference.iter().fold(0f64, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (*a as f64 - b).abs())
        .fold(0.0, f64::max)
        / scale
}

#[test]
fn winograd_and_im2col_equal_direct_convolution_on_odd_shapes() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // (n, h, w, c_in, c_out): sizes not multiples of the 4x4 tile, one-pixel maps, the first
    // layer's 3 channels (im2col), and several bands per image.
    for (n, h, w, c_in, c_out) in [
        (2, 7, 9, 16, 24),
        (1, 1, 1, 8, 8),
        (3, 5, 4, 8, 16),
        (2, 13, 11, 3, 16),
        (1, 30, 6, 32, 8),
    ] {
        let x = Activations {
            data: random(n * h * w * c_in, &mut rng),
            n,
            h,
            w,
            c: c_in,
        };
        let weight = random(c_out * c_in * 9, &mut rng);
        let bias = random(c_out, &mut rng);
        let conv = Conv3x3::new(&weight, &bias, c_in, c_out);
        let method = conv.method();
        assert_eq!(method == "im2col", c_in == 3);
        let ours = conv.forward(&x);
        assert_eq!((ours.n, ours.h, ours.w, ours.c), (n, h, w, c_out));
        let err = max_relative_error(&ours.data, &direct(&x, &weight, &bias, c_out));
        eprintln!("{method} {n}x{h}x{w}x{c_in}->{c_out}: relative error {err:e}");
        assert!(err < 1e-5, "{method} {n}x{h}x{w}x{c_in}->{c_out}: {err}");
    }
}

#[test]
fn network_output_shape_and_batch_independence() {
    let net = Vgg16Cpu::new(&EncoderWeights::random(3));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (h, w) = (64, 96);
    let a = random(3 * h * w, &mut rng);
    let b = random(3 * h * w, &mut rng);
    let both = net.encode_nchw(&[a.clone(), b.clone()].concat(), 2, h, w);
    assert_eq!(both.len(), 2 * 512 * 2 * 3);
    let alone = [net.encode_nchw(&a, 1, h, w), net.encode_nchw(&b, 1, h, w)].concat();
    // Parts are cut differently for one image and for two; every value must still be identical.
    assert_eq!(both, alone);
    assert!(both.iter().all(|v| v.is_finite() && *v >= 0.0));
}

#[test]
fn bf16_layers_stay_within_bf16_rounding_of_direct_convolution() {
    // bf16 keeps 8 significant bits (2^-9 relative rounding per operand), and Winograd's
    // transforms (coefficients up to 8) amplify it about sevenfold; sums stay f32. A wrong
    // product is O(1).
    reduced_layers_against_direct(Arithmetic::Bf16, (4e-2, 0.1));
}

#[test]
fn int8_layers_stay_within_int8_rounding_of_direct_convolution() {
    // int8 keeps 127 steps of each row's (and kernel column's) largest magnitude, amplified by
    // the transforms like bf16's rounding.
    reduced_layers_against_direct(Arithmetic::Int8, (0.1, 0.25));
}

#[test]
fn layers_the_reduced_kernels_cannot_take_stay_f32() {
    // 8 input channels: not a whole vector for the int8 quantizer, nor a bf16 tile's depth.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (weight, bias) = (random(32 * 8 * 9, &mut rng), random(32, &mut rng));
    let x = Activations {
        data: random(2 * 6 * 6 * 8, &mut rng),
        n: 2,
        h: 6,
        w: 6,
        c: 8,
    };
    let reference = Conv3x3::new(&weight, &bias, 8, 32).forward(&x);
    for arithmetic in [Arithmetic::Bf16, Arithmetic::Int8] {
        if !arithmetic.is_available() {
            continue;
        }
        let conv = Conv3x3::with_arithmetic(&weight, &bias, (8, 32), arithmetic);
        assert_eq!(conv.method(), "winograd", "{}", arithmetic.name());
        assert_eq!(conv.forward(&x).data, reference.data);
    }
}

/// One layer at `arithmetic` against direct convolution in f64, on odd shapes: relative L2 and
/// largest errors under `bounds`, and above f32's rounding (the reduced arithmetic was used).
fn reduced_layers_against_direct(arithmetic: Arithmetic, (l2_bound, max_bound): (f64, f64)) {
    let name = arithmetic.name();
    if !arithmetic.is_available() {
        eprintln!("skipped: this CPU has no {}", arithmetic.needs());
        return;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // Tile counts that are not whole blocks (padding rows), one pixel, several bands.
    for (n, h, w, c_in, c_out) in [(2, 7, 9, 32, 64), (1, 1, 1, 64, 32), (3, 30, 22, 32, 32)] {
        let x = Activations {
            data: random(n * h * w * c_in, &mut rng),
            n,
            h,
            w,
            c: c_in,
        };
        let weight = random(c_out * c_in * 9, &mut rng);
        let bias = random(c_out, &mut rng);
        let conv = Conv3x3::with_arithmetic(&weight, &bias, (c_in, c_out), arithmetic);
        assert_eq!(conv.method(), format!("winograd-{name}"));
        let ours = conv.forward(&x);
        let reference = direct(&x, &weight, &bias, c_out);
        let (l2, max) = (
            relative_l2_error(&ours.data, &reference),
            max_relative_error(&ours.data, &reference),
        );
        eprintln!("{name} {n}x{h}x{w}x{c_in}->{c_out}: relative error L2 {l2:e}, max {max:e}");
        assert!(
            l2 < l2_bound && max < max_bound,
            "{name} {n}x{h}x{w}x{c_in}->{c_out}: {l2} {max}"
        );
        assert!(
            l2 > 1e-6,
            "{name} layer gave f32-exact results: its units not used"
        );
    }
}

#[test]
fn bf16_network_features_stay_close_to_f32() {
    if !Arithmetic::Bf16.is_available() {
        eprintln!("skipped: this CPU has no bf16 units");
        return;
    }
    let weights = EncoderWeights::random(5);
    let f32_net = Vgg16Cpu::new(&weights);
    let bf16_net =
        Vgg16Cpu::with_arithmetic(&weights, Arithmetic::Bf16).expect("bf16 units available");
    assert_eq!(bf16_net.arithmetic(), Arithmetic::Bf16);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (n, h, w) = (3, 64, 64);
    let x = random(n * 3 * h * w, &mut rng);
    let reference = f32_net.encode_nchw(&x, n, h, w);
    let ours = bf16_net.encode_nchw(&x, n, h, w);
    let reference: Vec<f64> = reference.iter().map(|v| f64::from(*v)).collect();
    let relative = relative_l2_error(&ours, &reference);
    eprintln!("bf16 network: relative L2 feature error {relative:e}");
    assert!(
        reference.iter().any(|v| *v > 0.0) && relative < 3e-2,
        "{relative}"
    );
    // Same batch-independence as f32: parts are cut differently for one image.
    let alone = bf16_net.encode_nchw(&x[..3 * h * w], 1, h, w);
    assert_eq!(alone, ours[..alone.len()]);
}
