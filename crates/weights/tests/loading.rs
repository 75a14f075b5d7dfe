//! Loading weights: the shared ImageNet file, files this crate writes, PyTorch checkpoints, and
//! broken files, each failure naming the file and the tensor.

use std::path::Path;

use medpath_weights::Normalization;
use medpath_weights::{EncoderWeights, WeightsError};

#[test]
fn the_shared_imagenet_weights_load_with_caffe_preprocessing_and_the_published_hash() {
    let Some(path) =
        medpath_testkit::shared_path("weights/vgg16_imagenet_keras_features.safetensors")
    else {
        return;
    };
    let w = EncoderWeights::load(&path).unwrap();
    assert_eq!(
        w.hash,
        "96a3980ad965e9e994880562f830c54bcf2e11964dffabbf2d050640592e8b33"
    );
    assert_eq!(w.declared_preprocess, Some(Normalization::Caffe));
    for (got, published) in
        w.convs[0]
            .bias
            .iter()
            .zip([0.734_298_35, 0.093_403_67, 0.067_756_74, 0.886_296_6])
    {
        assert!((got - published).abs() < 1e-7, "{got} vs {published}");
    }
    assert!(w.ignored.is_empty());
    assert!(!w.is_random());
}

#[test]
fn random_weights_are_seeded_and_round_trip_through_safetensors() {
    let a = EncoderWeights::random(5);
    assert_eq!(a.convs.len(), 13);
    assert_eq!(a.convs[0].weight, EncoderWeights::random(5).convs[0].weight);
    assert_ne!(a.convs[0].weight, EncoderWeights::random(6).convs[0].weight);
    assert!(a.is_random());
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("w.safetensors");
    a.save_safetensors(&file, Normalization::Torchvision)
        .unwrap();
    let b = EncoderWeights::load(&file).unwrap();
    assert_eq!(b.declared_preprocess, Some(Normalization::Torchvision));
    for (x, y) in a.convs.iter().zip(&b.convs) {
        assert_eq!((x.key, &x.weight, &x.bias), (y.key, &y.weight, &y.bias));
    }
    assert_ne!(a.hash, b.hash);
}

/// Writes a safetensors file with the given tensors (all float32 zeros unless `dtype` says).
fn write_file(path: &Path, tensors: &[(&str, Vec<usize>, safetensors::Dtype)]) {
    let buffers: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, shape, dtype)| vec![0u8; shape.iter().product::<usize>() * dtype.bitsize() / 8])
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .zip(&buffers)
        .map(|((name, shape, dtype), data)| {
            (
                name.to_string(),
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

#[test]
fn wrong_shape_wrong_type_missing_tensor_and_garbage_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let f32 = safetensors::Dtype::F32;
    let file = tmp.path().join("shape.safetensors");
    write_file(&file, &[("features.0.weight", vec![64, 3, 5, 5], f32)]);
    let err = EncoderWeights::load(&file).unwrap_err();
    assert!(matches!(err, WeightsError::Mismatch { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("shape.safetensors")
            && msg.contains("features.0.weight")
            && msg.contains("[64, 3, 3, 3]"),
        "{msg}"
    );

    write_file(
        &file,
        &[(
            "features.0.weight",
            vec![64, 3, 3, 3],
            safetensors::Dtype::F16,
        )],
    );
    let msg = EncoderWeights::load(&file).unwrap_err().to_string();
    assert!(
        msg.contains("element type f16") && msg.contains("float32"),
        "{msg}"
    );

    write_file(
        &file,
        &[
            ("features.0.weight", vec![64, 3, 3, 3], f32),
            ("features.0.bias", vec![64], f32),
        ],
    );
    let msg = EncoderWeights::load(&file).unwrap_err().to_string();
    assert!(
        msg.contains("missing tensor features.2.weight") && msg.contains("[64, 64, 3, 3]"),
        "{msg}"
    );

    let garbage = tmp.path().join("garbage.pth");
    std::fs::write(&garbage, b"definitely not a checkpoint").unwrap();
    let msg = EncoderWeights::load(&garbage).unwrap_err().to_string();
    assert!(
        msg.contains("garbage.pth") && msg.contains("not a readable weights file"),
        "{msg}"
    );

    let msg = EncoderWeights::load(&tmp.path().join("absent.safetensors"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("absent.safetensors"), "{msg}");
}

#[test]
fn a_pytorch_zip_checkpoint_is_read_up_to_its_first_missing_tensor() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/partial_vgg16.pth");
    let msg = EncoderWeights::load(&file).unwrap_err().to_string();
    // features.0.weight and .bias were found with the right shapes and type; the next is missing.
    assert!(
        msg.contains("partial_vgg16.pth") && msg.contains("missing tensor features.2.weight"),
        "{msg}"
    );
    assert!(
        msg.contains("classifier.6.weight"),
        "the remaining tensors are listed: {msg}"
    );
}

/// Runs `tests/fixtures/torch_save_vgg16.py` (Python standard library only) on `weights`; `None`
/// when there is no Python to run it.
fn torch_save_layouts(weights: &Path, out: &Path) -> Option<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_save_vgg16.py");
    let status = match std::process::Command::new("python3")
        .arg(&script)
        .arg(weights)
        .arg(out)
        .status()
    {
        Ok(status) => status,
        Err(e) => {
            eprintln!("SKIP: cannot run python3 ({e})");
            return None;
        }
    };
    assert!(status.success(), "{} failed", script.display());
    Some(())
}

#[test]
fn complete_pytorch_checkpoints_load_as_state_dict_nested_checkpoint_and_full_model() {
    let tmp = tempfile::tempdir().unwrap();
    let original = EncoderWeights::random(11);
    let source = tmp.path().join("vgg16.safetensors");
    original
        .save_safetensors(&source, Normalization::Torchvision)
        .unwrap();
    if torch_save_layouts(&source, tmp.path()).is_none() {
        return;
    }
    for file in ["state_dict.pth", "checkpoint.pth", "full_model.pth"] {
        let path = tmp.path().join(file);
        let loaded = EncoderWeights::load(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            loaded.convs, original.convs,
            "{file}: every value as written"
        );
        assert_eq!(
            loaded.declared_preprocess, None,
            "{file}: .pth files declare nothing"
        );
        // The classifier (and, in the checkpoint, the training metadata) is ignored, by name.
        for key in ["classifier.0.weight", "classifier.6.bias"] {
            assert!(
                loaded.ignored.iter().any(|name| name == key),
                "{file}: {key} not among the ignored {:?}",
                loaded.ignored
            );
        }
        assert!(!loaded.is_random());
    }
}
