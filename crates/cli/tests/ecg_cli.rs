//! The `medpath ecg` commands as a user runs them: output formats, exit codes, error messages.

use std::path::Path;
use std::process::{Command, Output};

fn medpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Generates `count` synthetic records of `seconds` each into `dir` with `medpath ecg synth`.
fn synth_records(dir: &Path, count: usize, seconds: usize) {
    let (count, seconds) = (count.to_string(), seconds.to_string());
    let out = medpath(&[
        "ecg",
        "synth",
        "--out",
        s(dir),
        "--records",
        &count,
        "--seconds",
        &seconds,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn inspect_json_reports_record_100_as_documented() {
    let Some(dir) = medpath_testkit::shared_path("data/mitdb") else {
        return;
    };
    let out = medpath(&[
        "ecg",
        "inspect",
        s(&dir.join("100")),
        s(&dir.join("118.hea")),
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let first = &json[0];
    assert_eq!(first["record"], "100");
    assert_eq!(first["fs"], 360);
    assert_eq!(first["samples"], 650000);
    assert_eq!(first["signals"], serde_json::json!(["MLII", "V5"]));
    assert_eq!(first["checksums_ok"], true);
    assert_eq!(
        first["counts"],
        serde_json::json!({"N": 2239, "A": 33, "V": 1, "+": 1})
    );
    assert_eq!(json[1]["counts"]["R"], 2166);
}

#[test]
fn synth_then_beats_gives_an_image_folder_with_three_classes() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records");
    synth_records(&records, 3, 30);
    let inspect = medpath(&["ecg", "inspect", s(&records), "--json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&inspect)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 3);
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .all(|r| r["checksums_ok"] == true)
    );

    let images = tmp.path().join("images");
    let out = medpath(&[
        "ecg",
        "beats",
        "--mitdb",
        s(&records),
        "--out",
        s(&images),
        "--size",
        "64",
        "--leads",
        "MLII,V1",
        "--context",
        "1",
        "--normalize",
        "record",
        "--window-ms",
        "200,400",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("beats skipped at record edges"),
        "{}",
        stdout(&out)
    );
    for class in ["A", "L", "R"] {
        let n = std::fs::read_dir(images.join(class)).unwrap().count();
        assert!(n > 0, "class {class} empty");
    }
    let first_png = std::fs::read_dir(images.join("L"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(first_png).unwrap(),
    ));
    let info = decoder.read_info().unwrap();
    assert_eq!(
        (info.info().width, info.info().color_type),
        (64, png::ColorType::Rgb)
    );
}

#[test]
fn missing_lead_is_a_warning_naming_the_record() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("r");
    synth_records(&records, 1, 10);
    let out = medpath(&[
        "ecg",
        "beats",
        "--mitdb",
        s(&records),
        "--out",
        s(&tmp.path().join("o")),
        "--lead",
        "V5",
    ]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("record s001 skipped: no lead V5 (has MLII, V1)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_input_fails_with_one_line_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("r");
    synth_records(&records, 1, 10);
    let out_dir = tmp.path().join("o");
    let beats = |extra: &[&str]| {
        let mut args = vec!["ecg", "beats", "--mitdb", s(&records), "--out", s(&out_dir)];
        args.extend_from_slice(extra);
        medpath(&args)
    };
    let out = beats(&["--records", "999"]);
    assert!(
        stderr(&out).contains("record 999 not found"),
        "{}",
        stderr(&out)
    );

    let out = beats(&["--leads", "I,II,III,V1"]);
    assert!(
        !out.status.success() && stderr(&out).contains("1 to 3"),
        "{}",
        stderr(&out)
    );

    let dat = records.join("s001.dat");
    let bytes = std::fs::read(&dat).unwrap();
    std::fs::write(&dat, &bytes[..100]).unwrap();
    let out = beats(&[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: ") && err.contains("s001.dat") && err.contains("truncated"),
        "{err}"
    );

    let out = medpath(&["ecg", "inspect", s(&tmp.path().join("nothing-here"))]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("nothing-here.hea"),
        "{}",
        stderr(&out)
    );
}
