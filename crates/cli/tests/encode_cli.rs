//! `medpath encode`: output format, cache reuse, and bad input that loses nothing; `medpath
//! bench encoder` names its precision and refuses one this machine or engine lacks.

use std::path::Path;
use std::process::{Command, Output};

use medpath_model::Arithmetic;

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

/// `n` generated PNG images of different content in `dir`.
fn write_many_images(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let img = image::RgbImage::from_fn(48, 40, |x, y| {
            image::Rgb([(x * 5 + i) as u8, (y * 7) as u8, (i * 37 % 256) as u8])
        });
        img.save(dir.join(format!("img{i:03}.png"))).unwrap();
    }
}

/// Arguments of `medpath encode` over `images` into `cache` at 64 px, then `tail`.
fn encode_args(cache: &Path, images: &Path, tail: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["encode", "--size", "64", "--cache"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(cache.to_str().unwrap().into());
    args.push(images.to_str().unwrap().into());
    args.extend(tail.iter().map(|s| s.to_string()));
    args
}

#[test]
fn three_shards_at_once_fill_one_cache_and_a_plain_encode_computes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_many_images(&images, 24);
    let shared_cache = tmp.path().join("shared-cache");
    let shards: Vec<std::process::Child> = (1..=3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_medpath"))
                .args(encode_args(
                    &shared_cache,
                    &images,
                    &["--shard", &format!("{i}/3")],
                ))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut shares = 0;
    for child in shards {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let share: usize = text
            .split_whitespace()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        shares += share;
    }
    assert_eq!(shares, 24, "every image in exactly one shard");

    let sharded_out = tmp.path().join("sharded.safetensors");
    let after = medpath(
        &encode_args(
            &shared_cache,
            &images,
            &["--out", sharded_out.to_str().unwrap()],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(
        String::from_utf8_lossy(&after.stdout).contains("0 computed, 24 from cache"),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );
    let single_out = tmp.path().join("single.safetensors");
    let single = medpath(
        &encode_args(
            &tmp.path().join("own-cache"),
            &images,
            &["--out", single_out.to_str().unwrap()],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert!(String::from_utf8_lossy(&single.stdout).contains("24 computed"));
    assert_eq!(
        std::fs::read(&sharded_out).unwrap(),
        std::fs::read(&single_out).unwrap(),
        "sharded features equal a single process's, byte for byte"
    );
    let stats = medpath(&["cache", "verify", "--cache", shared_cache.to_str().unwrap()]);
    assert!(stats.status.success());
    assert!(String::from_utf8_lossy(&stats.stdout).contains("0 damaged entries"));
}

#[test]
fn a_shard_killed_midway_completes_when_run_again_and_the_cache_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_many_images(&images, 60);
    let cache = tmp.path().join("cache");
    let args = encode_args(&cache, &images, &["--shard", "1/1"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let entries = |dir: &Path| {
        walk(dir)
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "feat"))
            .count()
    };
    let started = std::time::Instant::now();
    while entries(&cache) < 5 && started.elapsed().as_secs() < 120 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().ok();
    child.wait().unwrap();
    let partial = entries(&cache);
    assert!(
        partial < 60,
        "killed before the end: {partial} of 60 entries"
    );

    let again = medpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        text.contains(&format!(
            "{} computed, {partial} already in the cache",
            60 - partial
        )),
        "{text}"
    );
    let verify = medpath(&[
        "cache",
        "verify",
        "--repair",
        "--cache",
        cache.to_str().unwrap(),
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let stats = String::from_utf8_lossy(&verify.stdout);
    assert!(
        stats.contains("60 entries") && stats.contains("0 damaged entries"),
        "{stats}"
    );
}

/// Every file under `dir`, at any depth.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                files.extend(walk(&path));
            } else {
                files.push(path);
            }
        }
    }
    files
}

#[test]
fn bench_encoder_names_its_precision_and_refuses_what_it_lacks() {
    let bench = |extra: &[&str]| {
        let mut args = vec![
            "bench",
            "encoder",
            "--batch",
            "1",
            "--size",
            "32",
            "--repeats",
            "1",
        ];
        args.extend_from_slice(extra);
        medpath(&args)
    };
    let f32_run = bench(&["--precision", "f32"]);
    assert!(f32_run.status.success());
    let line: serde_json::Value = serde_json::from_slice(&f32_run.stdout).unwrap();
    assert_eq!(line["precision"], "f32");
    assert!(line["images_per_s"].as_f64().unwrap() > 0.0);

    for arithmetic in [Arithmetic::Bf16, Arithmetic::Int8] {
        let name = arithmetic.name();
        let run = bench(&["--precision", name]);
        if arithmetic.is_available() {
            let line: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
            let unit = arithmetic.unit().unwrap();
            assert_eq!(
                line["engine"],
                format!("medpath cpu (winograd, {name} {unit})")
            );
            assert_eq!(line["precision"], name);
        } else {
            let err = String::from_utf8_lossy(&run.stderr);
            assert!(err.contains(arithmetic.needs()), "{err}");
        }
    }
    for (extra, reason) in [
        (&["--precision", "int4"][..], "expected f32, bf16 or int8"),
        (
            &["--engine", "burn", "--precision", "bf16"][..],
            "only the cpu engine",
        ),
    ] {
        let refused = bench(extra);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && err.contains(reason),
            "{extra:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
