//! The encoder's features equal an independent numpy forward (float64) over the same weights and
//! input, for both weight conventions and both engines (`fixtures/make_vgg_reference.py` made the
//! references); the bf16 and int8 CPU engines stay within their rounding of them.

use std::path::{Path, PathBuf};

use medpath_data::Normalization;
use medpath_model::{Arithmetic, Engine, Vgg16Encoder, default_device};
use medpath_weights::EncoderWeights;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// Largest absolute difference relative to the reference's largest magnitude.
fn relative_error(ours: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    ours.iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max)
        / scale
}

#[test]
fn features_match_numpy_for_caffe_and_torchvision_conventions() {
    let Some(shared) =
        medpath_testkit::shared_path("weights/vgg16_imagenet_keras_features.safetensors")
    else {
        return;
    };
    let caffe = EncoderWeights::load(&shared).unwrap();
    assert_eq!(caffe.declared_preprocess, Some(Normalization::Caffe));
    // The same numbers saved as a torchvision-convention file, read back through the loader.
    let tmp = tempfile::tempdir().unwrap();
    let tv_file = tmp.path().join("vgg16_tv.safetensors");
    caffe
        .save_safetensors(&tv_file, Normalization::Torchvision)
        .unwrap();
    let torchvision = EncoderWeights::load(&tv_file).unwrap();
    assert_eq!(
        torchvision.declared_preprocess,
        Some(Normalization::Torchvision)
    );

    for engine in [Engine::Cpu(Arithmetic::F32), Engine::Burn(default_device())] {
        for (weights, convention) in [(&caffe, "caffe"), (&torchvision, "torchvision")] {
            let encoder = Vgg16Encoder::new(weights, &engine).unwrap();
            let input = read_f32(&fixture(&format!("vgg_input_{convention}.f32")));
            let reference = read_f32(&fixture(&format!("vgg_features_{convention}.f32")));
            let ours = encoder.encode(&input, 1, 64).unwrap();
            assert_eq!(ours.len(), Vgg16Encoder::feature_len(64));
            let err = relative_error(&ours, &reference);
            let name = engine.describe();
            eprintln!("{name}, {convention}: relative error {err:e}");
            assert!(err < 1e-4, "{name}, {convention}: relative error {err}");
        }
    }
}

#[test]
fn batches_give_the_same_features_as_single_images_and_bad_inputs_are_refused() {
    let encoder =
        Vgg16Encoder::new(&EncoderWeights::random(1), &Engine::Cpu(Arithmetic::F32)).unwrap();
    let a = read_f32(&fixture("vgg_input_caffe.f32"));
    let b: Vec<f32> = a.iter().rev().copied().collect();
    let both: Vec<f32> = a.iter().chain(&b).copied().collect();
    let batch = encoder.encode(&both, 2, 64).unwrap();
    let single_a = encoder.encode(&a, 1, 64).unwrap();
    let single_b = encoder.encode(&b, 1, 64).unwrap();
    assert!(relative_error(&batch[..2048], &single_a) < 1e-5);
    assert!(relative_error(&batch[2048..], &single_b) < 1e-5);
    assert!(encoder.encode(&a, 2, 64).is_err());
    assert!(
        encoder
            .encode(&[0.0; 3 * 16 * 16], 1, 16)
            .unwrap_err()
            .to_string()
            .contains("at least 32")
    );
}

#[test]
fn both_engines_agree_on_a_batch_of_224_px_images() {
    let weights = EncoderWeights::random(5);
    let n: usize = 2 * 3 * 224 * 224;
    let input: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 997) as f32 / 400.0 - 1.2)
        .collect();
    let cpu = Vgg16Encoder::new(&weights, &Engine::Cpu(Arithmetic::F32))
        .unwrap()
        .encode(&input, 2, 224)
        .unwrap();
    let burn = Vgg16Encoder::new(&weights, &Engine::Burn(default_device()))
        .unwrap()
        .encode(&input, 2, 224)
        .unwrap();
    assert_eq!(cpu.len(), 2 * Vgg16Encoder::feature_len(224));
    let err = relative_error(&cpu, &burn);
    eprintln!("cpu against burn at 224 px: relative error {err:e}");
    assert!(err < 1e-4, "cpu against burn: {err}");
}

/// Euclidean norm of the difference over the reference's norm.
fn relative_l2_error(ours: &[f32], reference: &[f32]) -> f64 {
    let sq = |v: f32| f64::from(v) * f64::from(v);
    let diff: f64 = ours.iter().zip(reference).map(|(a, b)| sq(a - b)).sum();
    (diff / reference.iter().map(|b| sq(*b)).sum::<f64>()).sqrt()
}

#[test]
fn bf16_features_stay_within_bf16_rounding_of_numpy() {
    reduced_precision_features_against_numpy(Arithmetic::Bf16, (3e-2, 0.1));
}

#[test]
fn int8_features_stay_within_their_measured_error_of_numpy() {
    // Measured: 13.3 % relative L2, largest difference 11 % of the largest feature; most of it
    // from block 5, whose errors reach the features without later layers to average them.
    reduced_precision_features_against_numpy(Arithmetic::Int8, (0.16, 0.15));
}

/// The encoder at `arithmetic` against numpy's float64 features of the same picture: relative
/// L2 and largest errors under `bounds`; where this CPU lacks the arithmetic, the error says
/// what it needs.
fn reduced_precision_features_against_numpy(
    arithmetic: Arithmetic,
    (l2_bound, max_bound): (f64, f32),
) {
    let Some(shared) =
        medpath_testkit::shared_path("weights/vgg16_imagenet_keras_features.safetensors")
    else {
        return;
    };
    let engine = Engine::Cpu(arithmetic);
    let weights = EncoderWeights::load(&shared).unwrap();
    let encoder = match Vgg16Encoder::new(&weights, &engine) {
        Ok(encoder) => encoder,
        Err(e) => {
            assert!(!arithmetic.is_available());
            assert!(e.to_string().contains(arithmetic.needs()), "{e}");
            eprintln!("skipped: {e}");
            return;
        }
    };
    let input = read_f32(&fixture("vgg_input_caffe.f32"));
    let reference = read_f32(&fixture("vgg_features_caffe.f32"));
    let ours = encoder.encode(&input, 1, 64).unwrap();
    let (l2, max) = (
        relative_l2_error(&ours, &reference),
        relative_error(&ours, &reference),
    );
    eprintln!(
        "{}: relative error L2 {l2:e}, max {max:e}",
        engine.describe()
    );
    assert!(
        l2 < l2_bound && max < max_bound,
        "{} against float64: L2 {l2}, max {max}",
        arithmetic.name()
    );
}
