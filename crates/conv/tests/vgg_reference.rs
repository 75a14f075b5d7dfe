//! The CPU network's features equal an independent numpy forward (float64) over the shared
//! ImageNet weights, for both weight conventions (`fixtures/make_vgg_reference.py` made the
//! references; the torchvision file is the same numbers saved under that convention).

use std::path::{Path, PathBuf};

use medpath_conv::Vgg16Cpu;
use medpath_weights::EncoderWeights;

/// A fixture file of this crate's tests.
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

#[test]
fn features_match_numpy_within_1e_4_for_both_conventions() {
    let Some(shared) =
        medpath_testkit::shared_path("weights/vgg16_imagenet_keras_features.safetensors")
    else {
        return;
    };
    let net = Vgg16Cpu::new(&EncoderWeights::load(&shared).unwrap());
    for convention in ["caffe", "torchvision"] {
        let input = read_f32(&fixture(&format!("vgg_input_{convention}.f32")));
        let reference = read_f32(&fixture(&format!("vgg_features_{convention}.f32")));
        let ours = net.encode_nchw(&input, 1, 64, 64);
        let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max)
            / scale;
        eprintln!("{convention}: relative error {err:e}");
        assert!(err < 1e-4, "{convention}: relative error {err}");
    }
}
