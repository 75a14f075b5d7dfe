//! The QRS detector against the cardiologists' beat annotations of the shared MIT-BIH records.

use medpath_ecg::{detect_qrs, match_beats};
use medpath_wfdb::{Record, RecordPath};

#[test]
fn detects_annotated_beats_of_mitdb_records() {
    let Some(dir) = medpath_testkit::shared_path("data/mitdb") else {
        return;
    };
    let mut lines = Vec::new();
    let (mut total_se, mut total_ppv, mut n) = (0.0, 0.0, 0.0);
    for path in RecordPath::list_dir(&dir).unwrap() {
        let record = Record::read(&path.dir.join(&path.name)).unwrap();
        let reference: Vec<i64> = record
            .read_annotations("atr")
            .unwrap()
            .iter()
            .filter(|a| a.is_beat())
            .map(|a| a.sample)
            .collect();
        let detected = detect_qrs(&record.physical(0), record.fs());
        // 150 ms, the usual tolerance of QRS detector evaluations.
        let (se, ppv) = match_beats(&detected, &reference, (0.15 * record.fs()) as i64);
        lines.push(format!("{} se {se:.4} ppv {ppv:.4}", path.name));
        total_se += se;
        total_ppv += ppv;
        n += 1.0;
        if ["100", "118", "212", "231"].contains(&path.name.as_str()) {
            assert!(
                se > 0.98 && ppv > 0.98,
                "record {}: sensitivity {se}, PPV {ppv}",
                path.name
            );
        }
    }
    println!("{}", lines.join("\n"));
    let (se, ppv) = (total_se / n, total_ppv / n);
    println!("mean over {n} records: sensitivity {se:.4}, PPV {ppv:.4}");
    assert!(se > 0.97 && ppv > 0.97, "mean sensitivity {se}, PPV {ppv}");
}
