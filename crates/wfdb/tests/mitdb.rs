//! Every record of the shared MIT-BIH folder reads, checksums match, and annotation counts equal
//! the independent inventory (`INVENTORY.md`, written from the `wfdb` Python package).

use std::collections::BTreeMap;
use std::path::Path;

use medpath_wfdb::{Record, RecordPath};

/// One row of INVENTORY.md: record name, samples, total annotations and counts of N, A, L, R, V.
struct InventoryRow {
    record: String,
    samples: usize,
    annotations: usize,
    counts: [(char, usize); 5],
}

fn inventory(path: &Path) -> Vec<InventoryRow> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line
                .trim()
                .trim_matches('|')
                .split('|')
                .map(str::trim)
                .collect();
            if cells.len() != 10 || !cells[0].chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let n = |i: usize| cells[i].parse::<usize>().unwrap();
            Some(InventoryRow {
                record: cells[0].to_string(),
                samples: n(1),
                annotations: n(4),
                counts: [
                    ('N', n(5)),
                    ('A', n(6)),
                    ('L', n(7)),
                    ('R', n(8)),
                    ('V', n(9)),
                ],
            })
        })
        .collect()
}

#[test]
fn every_shared_record_matches_the_inventory() {
    let Some(dir) = medpath_testkit::shared_path("data/mitdb") else {
        return;
    };
    let rows = inventory(&dir.join("INVENTORY.md"));
    let listed = RecordPath::list_dir(&dir).unwrap();
    assert_eq!(rows.len(), 43, "inventory rows");
    assert_eq!(listed.len(), rows.len(), "records in the folder");
    for row in &rows {
        let record = Record::read(&dir.join(&row.record)).unwrap();
        assert_eq!(record.n_samples(), row.samples, "record {}", row.record);
        assert_eq!(record.fs(), 360.0);
        for (i, check) in record.checksums().iter().enumerate() {
            assert!(
                check.expected.is_some() && check.ok(),
                "record {} signal {i}: {check:?}",
                row.record
            );
        }
        for (spec, samples) in record.header.signals.iter().zip(&record.signals) {
            assert_eq!(
                spec.initial_value, samples[0],
                "record {} initial value",
                row.record
            );
        }
        let anns = record.read_annotations("atr").unwrap();
        assert_eq!(
            anns.len(),
            row.annotations,
            "record {} annotations",
            row.record
        );
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for a in &anns {
            *counts.entry(a.symbol()).or_default() += 1;
        }
        for (symbol, expected) in row.counts {
            let got = counts.get(&symbol.to_string()).copied().unwrap_or(0);
            assert_eq!(got, expected, "record {} symbol {symbol}", row.record);
        }
    }
}

#[test]
fn record_100_decodes_the_documented_first_frame_and_rhythm_text() {
    let Some(dir) = medpath_testkit::shared_path("data/mitdb") else {
        return;
    };
    let record = Record::read(&dir.join("100.hea")).unwrap();
    assert_eq!((record.signals[0][0], record.signals[1][0]), (995, 1011));
    assert_eq!(record.signal_names(), vec!["MLII", "V5"]);
    let anns = record.read_annotations("atr").unwrap();
    assert_eq!(anns[0].symbol(), "+");
    assert_eq!(anns[0].aux_text().as_deref(), Some("(N"));
    let mv = record.physical(0);
    assert!((mv[0] - (995.0 - 1024.0) / 200.0).abs() < 1e-6);
}
