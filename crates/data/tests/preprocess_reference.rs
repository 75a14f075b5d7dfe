//! Preprocessing equals an independent reference (Pillow resize + numpy normalisation, made by
//! `fixtures/make_fixtures.py`) within 1e-5, for both conventions, with and without resizing.

use std::path::{Path, PathBuf};

use medpath_data::{Fit, Normalization, Preprocess, load_rgb};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

#[test]
fn every_case_matches_the_pillow_numpy_reference() {
    let cases: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("cases.json")).unwrap())
            .unwrap();
    assert_eq!(cases.len(), 8);
    for case in &cases {
        let (image, _) = load_rgb(&fixtures().join(case["image"].as_str().unwrap())).unwrap();
        let preprocess = Preprocess {
            size: case["size"].as_u64().unwrap() as usize,
            fit: serde_json::from_value::<Fit>(case["fit"].clone()).unwrap(),
            normalization: Normalization::parse(case["normalization"].as_str().unwrap()).unwrap(),
        };
        let ours = preprocess.apply(&image);
        let bytes = std::fs::read(fixtures().join(case["reference"].as_str().unwrap())).unwrap();
        let reference: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(ours.len(), reference.len(), "{case}");
        let worst = ours
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= 1e-5, "{case}: max abs difference {worst}");
    }
}
