//! Damaged or unsupported records give errors that name the file; nothing panics.

use std::path::Path;

use medpath_wfdb::{Annotation, Header, Record, RecordPath, SignalSpec, WfdbError};

/// Writes a small valid two-signal record `rec` (format 212) into `dir`.
fn write_small_record(dir: &Path) -> Record {
    let header = Header {
        record: medpath_wfdb::RecordLine {
            name: "rec".into(),
            n_signals: 2,
            fs: 360.0,
            counter_freq: None,
            base_counter: None,
            n_samples: None,
            base_time: None,
            base_date: None,
        },
        signals: vec![
            SignalSpec::new("rec.dat", 212, 200.0, "MLII"),
            SignalSpec::new("rec.dat", 212, 200.0, "V1"),
        ],
        comments: vec!["generated".into()],
    };
    let n = 1001;
    let mut record = Record {
        path: RecordPath {
            dir: dir.to_path_buf(),
            name: "rec".into(),
        },
        header,
        signals: vec![
            (0..n).map(|i: i32| i % 4000 - 2000).collect(),
            (0..n).map(|i: i32| (i * 7) % 300).collect(),
        ],
    };
    record.write().unwrap();
    record
        .write_annotations("atr", &[Annotation::new(10, 1), Annotation::new(900, 8)])
        .unwrap();
    record
}

#[test]
fn written_record_reads_back_identically() {
    let tmp = tempfile::tempdir().unwrap();
    let written = write_small_record(tmp.path());
    let read = Record::read(&tmp.path().join("rec")).unwrap();
    assert_eq!(read, written);
    assert!(read.checksums().iter().all(|c| c.ok()));
}

#[test]
fn truncated_dat_names_file_and_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_record(tmp.path());
    let dat = tmp.path().join("rec.dat");
    let bytes = std::fs::read(&dat).unwrap();
    std::fs::write(&dat, &bytes[..bytes.len() / 2]).unwrap();
    let err = Record::read(&tmp.path().join("rec")).unwrap_err();
    assert!(matches!(err, WfdbError::Truncated { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("rec.dat") && msg.contains("truncated") && msg.contains("3003"),
        "{msg}"
    );
}

#[test]
fn changed_sample_fails_the_checksum() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_record(tmp.path());
    let dat = tmp.path().join("rec.dat");
    let mut bytes = std::fs::read(&dat).unwrap();
    bytes[30] ^= 0x01;
    std::fs::write(&dat, &bytes).unwrap();
    let read = Record::read(&tmp.path().join("rec")).unwrap();
    assert!(read.checksums().iter().any(|c| !c.ok()));
}

#[test]
fn unknown_format_missing_field_and_missing_file_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    write_small_record(tmp.path());
    let hea = tmp.path().join("rec.hea");
    let text = std::fs::read_to_string(&hea).unwrap();

    std::fs::write(&hea, text.replace(" 212 ", " 311 ")).unwrap();
    let msg = Record::read(&hea).unwrap_err().to_string();
    assert!(
        msg.contains("rec.hea") && msg.contains("unsupported signal format 311"),
        "{msg}"
    );

    std::fs::write(&hea, "rec 2 360 1001\nrec.dat\n").unwrap();
    let msg = Record::read(&hea).unwrap_err().to_string();
    assert!(
        msg.contains("rec.hea, line 2") && msg.contains("format"),
        "{msg}"
    );

    std::fs::write(&hea, text).unwrap();
    std::fs::remove_file(tmp.path().join("rec.dat")).unwrap();
    let msg = Record::read(&hea).unwrap_err().to_string();
    assert!(
        msg.contains("rec.dat") && msg.contains("No such file"),
        "{msg}"
    );

    let msg = Record::read(&tmp.path().join("absent"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("absent.hea"), "{msg}");
}

#[test]
fn corrupt_atr_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let record = write_small_record(tmp.path());
    let atr = tmp.path().join("rec.atr");
    std::fs::write(&atr, [0x05u8, 0xDC, 0x01]).unwrap();
    let msg = record.read_annotations("atr").unwrap_err().to_string();
    assert!(msg.contains("rec.atr") && msg.contains("corrupt"), "{msg}");
}

#[test]
fn values_outside_the_format_are_refused_on_write() {
    let tmp = tempfile::tempdir().unwrap();
    let mut record = write_small_record(tmp.path());
    record.signals[0][5] = 5000;
    let msg = record.write().unwrap_err().to_string();
    assert!(msg.contains("5000") && msg.contains("format 212"), "{msg}");
}
