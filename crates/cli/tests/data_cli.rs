//! `medpath data inspect` as a user runs it: one bad file is reported and skipped, not fatal.

use std::process::Command;

#[test]
fn inspect_reports_a_corrupt_file_and_carries_on() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for class in ["NORMAL", "PNEUMONIA"] {
        std::fs::create_dir_all(root.join("train").join(class)).unwrap();
    }
    for i in 0..6u32 {
        let img = image::GrayImage::from_fn(40, 30, |x, y| image::Luma([(x * i + y) as u8]));
        img.save(root.join(format!("train/NORMAL/IM-{i:04}-0001.jpeg")))
            .unwrap();
        img.save(root.join(format!("train/PNEUMONIA/person{i}_virus_{i}.png")))
            .unwrap();
    }
    std::fs::write(
        root.join("train/NORMAL/IM-0099-0001.jpeg"),
        b"\xFF\xD8\xFF\xE0 truncated",
    )
    .unwrap();
    let split_csv = root.join("split.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args([
            "data",
            "inspect",
            root.to_str().unwrap(),
            "--json",
            "--split-csv",
            split_csv.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["layout"], "kermany");
    assert_eq!(json["given"]["train"]["NORMAL"], 7);
    assert_eq!(json["unreadable"].as_array().unwrap().len(), 1);
    assert!(
        json["unreadable"][0]
            .as_str()
            .unwrap()
            .contains("IM-0099-0001.jpeg")
    );
    assert_eq!(json["channels"]["1"], 12);
    let csv = std::fs::read_to_string(&split_csv).unwrap();
    assert_eq!(
        csv.lines().next().unwrap(),
        "path,class,patient,given_split,role"
    );
    assert_eq!(csv.lines().count(), 14);
    for line in csv.lines().skip(1) {
        let role = line.rsplit(',').next().unwrap();
        assert!(["train", "val", "test"].contains(&role), "{line}");
    }
}

#[test]
fn inspect_reads_dicom_headers_and_lists_cut_files_as_unreadable() {
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures/dicom");
    let tmp = tempfile::tempdir().unwrap();
    for (class, name) in [("NORMAL", "normal"), ("PNEUMONIA", "pneumonia")] {
        let dir = tmp.path().join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for variant in [
            "mono2_8.dcm",
            "mono1_12.dcm",
            "rle.dcm",
            "two_frames.dcm",
            "noext",
        ] {
            std::fs::copy(
                fixtures.join(format!("{name}_{variant}")),
                dir.join(format!("{name}_{variant}")),
            )
            .unwrap();
        }
    }
    // A JPEG cut to 1,500 bytes: the decoder alone would fill the missing rows and call it good.
    std::fs::copy(
        fixtures.join("truncated.jpeg"),
        tmp.path().join("NORMAL/cut.jpeg"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args(["data", "inspect", tmp.path().to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["dicom"]["modality"]["CR"], 10, "{report}");
    assert_eq!(report["dicom"]["photometric"]["MONOCHROME1"], 2);
    assert_eq!(report["dicom"]["bits stored"]["12"], 2);
    assert_eq!(report["dicom"]["frames"]["2"], 2);
    assert_eq!(
        report["patients"], 3,
        "two DICOM patients and the JPEG's own"
    );
    let unreadable = report["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(
        unreadable[0]
            .as_str()
            .unwrap()
            .contains("cut.jpeg: not a readable image: truncated")
    );
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("multi-frame"), "{warnings}");
}

#[test]
fn a_dicom_file_that_crashes_its_decoder_is_a_one_line_error() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/tests/fixtures/dicom/corrupt_rle_fuzz.dcm");
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args([
            "encode",
            "--size",
            "32",
            "--no-cache",
            file.to_str().unwrap(),
            "--out",
            tmp.path().join("f.safetensors").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let error: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(error.len(), 1, "{stderr}");
    assert!(error[0].contains("corrupt_rle_fuzz.dcm"), "{stderr}");
}

#[test]
fn inspect_reads_classes_from_a_csv_or_file_names_and_names_a_bad_row() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pneumonia");
    std::fs::create_dir_all(&root).unwrap();
    for (i, kind) in ["bacteria", "virus", "bacteria", "virus"]
        .iter()
        .enumerate()
    {
        let img =
            image::GrayImage::from_fn(40, 30, |x, y| image::Luma([(x * 3 + y + i as u32) as u8]));
        img.save(root.join(format!("person{i}_{kind}_1.png")))
            .unwrap();
    }
    let inspect = |extra: &[&str]| {
        let mut args = vec!["data", "inspect", root.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_medpath"))
            .args(&args)
            .output()
            .unwrap()
    };
    let by_name = inspect(&["--labels", "file-names", "--classes", "virus,bacteria"]);
    assert!(
        by_name.status.success(),
        "{}",
        String::from_utf8_lossy(&by_name.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&by_name.stdout).unwrap();
    assert_eq!(report["layout"], "file-names");
    assert_eq!(report["classes"], serde_json::json!(["bacteria", "virus"]));

    let csv = tmp.path().join("labels.csv");
    std::fs::write(&csv, "path,label\nperson0_bacteria_1.png,bacteria\nperson1_virus_1.png,virus\nperson2_bacteria_1.png,bacteria\n").unwrap();
    let by_csv = inspect(&["--labels", csv.to_str().unwrap()]);
    assert!(
        by_csv.status.success(),
        "{}",
        String::from_utf8_lossy(&by_csv.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&by_csv.stdout).unwrap();
    assert_eq!(report["layout"], "csv");

    std::fs::write(
        &csv,
        "path,label\nperson0_bacteria_1.png,bacteria\ngone.png,virus\n",
    )
    .unwrap();
    let bad = inspect(&["--labels", csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("labels.csv: line 3: image"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
