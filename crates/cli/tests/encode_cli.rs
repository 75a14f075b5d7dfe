//! `medpath encode`: output format, cache reuse, and bad input that loses nothing.

use std::path::Path;
use std::process::{Command, Output};

fn medpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args(args)
        .output()
        .unwrap()
}

fn write_images(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..3u32 {
        let img = image::RgbImage::from_fn(40 + i * 10, 36, |x, y| {
            image::Rgb([(x * 5) as u8, (y * 7) as u8, (i * 80) as u8])
        });
        img.save(dir.join(format!("img{i}.png"))).unwrap();
    }
}

#[test]
fn encode_writes_one_tensor_in_order_and_reuses_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    let cache = tmp.path().join("cache");
    let out1 = tmp.path().join("a.safetensors");
    let args = |out: &Path| {
        vec![
            "encode".to_string(),
            "--size".into(),
            "32".into(),
            "--cache".into(),
            cache.to_str().unwrap().into(),
            images.to_str().unwrap().into(),
            "--out".into(),
            out.to_str().unwrap().into(),
        ]
    };
    let run = |out: &Path| {
        let a = args(out);
        medpath(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let first = run(&out1);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("RANDOM weights"));
    assert!(String::from_utf8_lossy(&first.stdout).contains("3 computed, 0 from cache"));
    let bytes = std::fs::read(&out1).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let features = tensors.tensor("features").unwrap();
    assert_eq!(features.shape(), &[3, 512, 1, 1]);
    assert_eq!(features.dtype(), safetensors::Dtype::F32);

    let out2 = tmp.path().join("b.safetensors");
    let second = run(&out2);
    assert!(String::from_utf8_lossy(&second.stdout).contains("0 computed, 3 from cache"));
    assert_eq!(
        std::fs::read(&out2).unwrap(),
        bytes,
        "cached features equal computed ones"
    );
}

#[test]
fn a_corrupt_image_is_named_and_no_partial_output_is_left() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images);
    std::fs::write(images.join("img1.png"), b"\x89PNG\r\n\x1a\n broken").unwrap();
    let out = tmp.path().join("f.safetensors");
    let result = medpath(&[
        "encode",
        "--size",
        "32",
        "--no-cache",
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(err.contains("img1.png"), "{err}");
    assert!(!out.exists());
    assert!(!tmp.path().join("f.safetensors.partial").exists());
    let bad_weights = tmp.path().join("w.safetensors");
    std::fs::write(&bad_weights, b"nonsense").unwrap();
    let result = medpath(&[
        "encode",
        "--weights",
        bad_weights.to_str().unwrap(),
        images.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(
        !result.status.success() && err.contains("w.safetensors"),
        "{err}"
    );
}
