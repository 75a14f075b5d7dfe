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
