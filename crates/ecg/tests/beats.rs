//! Beat extraction and export on generated records and on real MIT-BIH records.

use std::collections::BTreeMap;
use std::path::Path;

use medpath_ecg::{
    BeatOptions, Conduction, Normalization, SynthOptions, ViewPlan, export_beat_images,
    lead_measurements, parse_lead_list, record_beats, synthesize, write_synthetic_set,
};
use medpath_wfdb::{Record, RecordPath};

/// `records` generated records of `duration_s` seconds written to `dir`.
fn synthetic_records(dir: &Path, records: usize, duration_s: f64, seed: u64) -> Vec<RecordPath> {
    write_synthetic_set(
        dir,
        &SynthOptions {
            records,
            duration_s,
            seed,
        },
    )
    .unwrap()
}

fn no_progress() -> impl FnMut(usize, usize, &str) {
    |_, _, _| {}
}

fn read_tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

#[test]
fn generated_records_round_trip_through_writer_and_reader() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, conduction) in [
        Conduction::Normal,
        Conduction::LeftBundleBranchBlock,
        Conduction::RightBundleBranchBlock,
    ]
    .into_iter()
    .enumerate()
    {
        let mut generated = synthesize(&format!("g{i}"), conduction, 60.0, 11 + i as u64);
        generated.record.path = RecordPath {
            dir: tmp.path().to_path_buf(),
            name: format!("g{i}"),
        };
        generated.record.write().unwrap();
        generated
            .record
            .write_annotations("atr", &generated.annotations)
            .unwrap();
        let read = Record::read(&tmp.path().join(format!("g{i}"))).unwrap();
        assert_eq!(read, generated.record);
        assert!(read.checksums().iter().all(|c| c.ok()));
        assert_eq!(read.read_annotations("atr").unwrap(), generated.annotations);
    }
}

#[test]
fn generated_records_have_the_classes_and_plausible_rates() {
    let normal = synthesize("n", Conduction::Normal, 300.0, 5);
    let count = |symbol: &str| {
        normal
            .annotations
            .iter()
            .filter(|a| a.symbol() == symbol)
            .count()
    };
    let beats = count("N") + count("A");
    assert!((300..=480).contains(&beats), "{beats} beats in 5 minutes");
    assert!(
        count("A") * 100 / beats >= 8,
        "A share {} of {beats}",
        count("A")
    );
    let lbbb = synthesize("l", Conduction::LeftBundleBranchBlock, 60.0, 6);
    assert!(
        lbbb.annotations
            .iter()
            .filter(|a| a.symbol() == "L")
            .count()
            > 50
    );
    // A premature beat comes early: its preceding RR is well under the record's mean.
    let times: Vec<i64> = normal
        .annotations
        .iter()
        .filter(|a| a.is_beat())
        .map(|a| a.sample)
        .collect();
    let mean_rr = (times[times.len() - 1] - times[0]) as f64 / (times.len() - 1) as f64;
    for (k, a) in normal
        .annotations
        .iter()
        .filter(|a| a.is_beat())
        .enumerate()
        .skip(1)
    {
        if a.symbol() == "A" {
            assert!(((times[k] - times[k - 1]) as f64) < 0.8 * mean_rr);
        }
    }
}

#[test]
fn beats_are_centred_cut_counted_and_skipped_at_edges() {
    let generated = synthesize("c", Conduction::RightBundleBranchBlock, 30.0, 2);
    let mut options = BeatOptions::paper();
    let beats = record_beats(&generated.record, &generated.annotations, &options).unwrap();
    let wanted = generated
        .annotations
        .iter()
        .filter(|a| ["A", "L", "R"].contains(&a.symbol().as_str()))
        .count();
    assert_eq!(beats.beats.len() + beats.skipped_at_edges, wanted);
    assert_eq!(beats.lead_names, vec!["MLII"]);
    let expected_len = (0.25f64 * 360.0).round() as usize + (0.45f64 * 360.0).round() as usize + 1;
    for beat in &beats.beats {
        assert_eq!(beat.traces[0].len(), expected_len);
        if beat.timing.next_rr.is_none_or(|rr| rr < 0.5) {
            continue; // the next R peak falls inside the window
        }
        // The R peak (largest deflection of an R beat in MLII) lies at the annotated sample.
        let centre = (0.25f64 * 360.0).round() as usize;
        let peak = beat.traces[0]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert!(
            peak.abs_diff(centre) <= 4,
            "peak at {peak}, centre {centre}"
        );
    }
    // With 5 s of window on each side, beats in the first and last 5 s are skipped.
    options.before_s = 5.0;
    options.after_s = 4.0;
    let wide = record_beats(&generated.record, &generated.annotations, &options).unwrap();
    assert!(wide.skipped_at_edges >= 8, "{}", wide.skipped_at_edges);
    // Two leads with context: longer windows, two traces.
    options = BeatOptions::paper();
    options.leads = parse_lead_list("MLII,V1").unwrap();
    options.context = 1;
    options.normalization = Normalization::Record;
    let ctx = record_beats(&generated.record, &generated.annotations, &options).unwrap();
    assert_eq!(ctx.lead_names, vec!["MLII", "V1"]);
    assert!(
        ctx.beats
            .iter()
            .all(|b| b.traces.len() == 2 && b.traces[0].len() > expected_len + 300)
    );
    options.leads = parse_lead_list("V6").unwrap();
    let missing = record_beats(&generated.record, &generated.annotations, &options).unwrap_err();
    assert_eq!(missing.available, vec!["MLII", "V1"]);
}

#[test]
fn export_is_byte_identical_across_runs_and_lists_every_image() {
    let tmp = tempfile::tempdir().unwrap();
    let records = synthetic_records(&tmp.path().join("rec"), 3, 40.0, 9);
    let mut options = BeatOptions::paper();
    options.leads = parse_lead_list("MLII,V1").unwrap();
    options.context = 1;
    let export = |options: &BeatOptions, folder: &str| {
        export_beat_images(
            &records,
            options,
            64,
            &ViewPlan {
                views: 2,
                first_lead: true,
                ..ViewPlan::default()
            },
            &tmp.path().join(folder),
            &mut no_progress(),
        )
    };
    let a = export(&options, "a").unwrap();
    let b = export(&options, "b").unwrap();
    assert_eq!(a, b);
    assert!(
        a.written.contains_key("A") && a.written.contains_key("L") && a.written.contains_key("R"),
        "{a:?}"
    );
    let tree_a = read_tree(&tmp.path().join("a"));
    assert_eq!(tree_a, read_tree(&tmp.path().join("b")));
    let csv = String::from_utf8(tree_a["beats.csv"].clone()).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), a.total());
    for row in rows {
        let path = row.split(',').nth(4).unwrap();
        assert!(tree_a.contains_key(path), "{path} listed but not written");
        let view = path.replace(".png", "_v1.png");
        assert!(
            tree_a.contains_key(&view),
            "{view}: augmented view not written"
        );
    }
    assert_eq!(a.beats.len(), a.total());
    assert!(a.beats.iter().all(|b| b.views.len() == 1));
    // The first-lead picture keeps the beat's first lead (red) and draws the second (green)
    // flat: the same green channel for every beat, unlike the beat's own.
    let channels = |rel: &str| -> [Vec<u8>; 2] {
        let decoder = png::Decoder::new(std::io::Cursor::new(tree_a[rel].clone()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        let px = info.color_type.samples();
        let pick = |c: usize| {
            buf[..info.buffer_size()]
                .iter()
                .skip(c)
                .step_by(px)
                .copied()
                .collect()
        };
        [pick(0), pick(1)]
    };
    let mut flat_green = None;
    for beat in &a.beats {
        let first = beat
            .first_lead
            .as_deref()
            .expect("first-lead picture listed");
        let [red, green] = channels(first);
        let [own_red, own_green] = channels(&beat.path);
        assert_eq!(red, own_red, "{first}: first lead redrawn differently");
        assert_ne!(green, own_green, "{first}: second lead not flat");
        assert_eq!(flat_green.get_or_insert(green.clone()), &green);
    }
    // Exporting again into the same folder replaces the earlier images and their views, even
    // with fewer classes.
    options.classes = vec!["L".into()];
    let again = export(&options, "a").unwrap();
    let tree = read_tree(&tmp.path().join("a"));
    let pngs = tree.keys().filter(|k| k.ends_with(".png")).count();
    assert_eq!(pngs, 3 * again.total());
    // A folder with someone else's files is refused.
    std::fs::write(tmp.path().join("rec").join("notes.txt"), "mine").unwrap();
    let err = export_beat_images(
        &records,
        &options,
        64,
        &ViewPlan::default(),
        &tmp.path().join("rec"),
        &mut no_progress(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}

#[test]
fn real_records_give_the_inventory_counts_minus_edge_beats() {
    let Some(dir) = medpath_testkit::shared_path("data/mitdb") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let records: Vec<RecordPath> = ["118", "207"]
        .iter()
        .map(|r| RecordPath::new(&dir.join(r)))
        .collect();
    let summary = export_beat_images(
        &records,
        &BeatOptions::paper(),
        64,
        &ViewPlan::default(),
        tmp.path(),
        &mut no_progress(),
    )
    .unwrap();
    // INVENTORY.md: 118 has A 96, R 2166; 207 has A 107, L 1457, R 86.
    let total = |c: &str| summary.written.get(c).copied().unwrap_or(0);
    assert_eq!(
        total("A") + total("L") + total("R") + summary.skipped_at_edges,
        96 + 2166 + 107 + 1457 + 86
    );
    assert!(summary.skipped_at_edges <= 2);
    assert_eq!(total("L"), 1457);
}

#[test]
fn rhythm_features_and_signal_of_a_generated_record_match_a_hand_computation() {
    let tmp = tempfile::tempdir().unwrap();
    let records = synthetic_records(&tmp.path().join("rec"), 1, 60.0, 4);
    let mut options = BeatOptions::paper();
    options.classes = vec!["N".into(), "A".into()];
    options.leads = parse_lead_list("MLII,V1|-").unwrap();
    options.signal_points = 10;
    let summary = export_beat_images(
        &records,
        &options,
        32,
        &ViewPlan::default(),
        &tmp.path().join("out"),
        &mut no_progress(),
    )
    .unwrap();
    // By hand: every beat annotation's time, the intervals, their median.
    let record = Record::read(&records[0].dir.join(&records[0].name)).unwrap();
    let fs = record.fs();
    let mut times: Vec<i64> = record
        .read_annotations("atr")
        .unwrap()
        .iter()
        .filter(|a| a.is_beat())
        .map(|a| a.sample)
        .collect();
    times.sort_unstable();
    let rr: Vec<f64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / fs)
        .collect();
    let mut sorted: Vec<f32> = rr.iter().map(|&v| v as f32).collect();
    sorted.sort_by(f32::total_cmp);
    let median = f64::from(sorted[sorted.len() / 2]);
    let mut checked = 0;
    for beat in &summary.beats {
        let k = times.iter().position(|&t| t == beat.sample).unwrap();
        if k < 6 || k + 6 > times.len() {
            continue;
        }
        let (prev, next) = (rr[k - 1], rr[k]);
        let local: f64 = rr[k - 5..k + 5].iter().sum::<f64>() / 10.0;
        let expected = [
            prev / median,
            next / median,
            local / median,
            prev / next,
            prev / local,
            next / local,
        ];
        for (got, want) in beat.rhythm.iter().zip(expected) {
            assert!(
                (f64::from(*got) - want).abs() < 1e-5,
                "beat {}: {:?} vs {expected:?}",
                beat.sample,
                beat.rhythm
            );
        }
        // Two leads of 10 points each; the record has V1, so the second is not blank.
        assert_eq!(beat.signal.len(), 20);
        assert!(beat.signal[10..].iter().any(|v| *v != 0.0));
        checked += 1;
    }
    assert!(checked > 40, "only {checked} beats checked");
    assert!(
        summary
            .beats
            .iter()
            .any(|b| b.symbol == "A" && b.rhythm[4] < 0.9)
    );
}

#[test]
fn beat_measurements_are_read_off_each_lead_and_tell_the_bundle_branch_blocks_apart() {
    let tmp = tempfile::tempdir().unwrap();
    // Three records: normal conduction, LBBB, RBBB.
    let records = synthetic_records(&tmp.path().join("rec"), 3, 60.0, 9);
    let mut options = BeatOptions::paper();
    options.classes = vec!["N".into(), "L".into(), "R".into()];
    options.leads = parse_lead_list("MLII,V1").unwrap();
    let mut by_class: BTreeMap<String, Vec<Vec<f32>>> = BTreeMap::new();
    for path in &records {
        let record = Record::read(&path.dir.join(&path.name)).unwrap();
        let fs = record.fs();
        let annotations = record.read_annotations("atr").unwrap();
        let beats = record_beats(&record, &annotations, &options).unwrap();
        let (before, after) = ((0.25 * fs).round() as i64, (0.45 * fs).round() as i64);
        for beat in &beats.beats {
            // By hand: each lead's window around R, minus its median, measured.
            let mut expected = Vec::new();
            for lead in 0..2 {
                let signal = record.physical(lead);
                let window =
                    &signal[(beat.sample - before) as usize..=(beat.sample + after) as usize];
                let mut sorted = window.to_vec();
                sorted.sort_by(f32::total_cmp);
                let baseline = sorted[sorted.len() / 2];
                let core: Vec<f32> = window.iter().map(|v| v - baseline).collect();
                expected.extend(lead_measurements(&core, before as usize, fs));
            }
            assert_eq!(beat.measurements, expected, "beat {}", beat.sample);
            by_class
                .entry(beat.symbol.clone())
                .or_default()
                .push(beat.measurements.clone());
        }
    }
    let mean = |class: &str, index: usize| {
        let rows = &by_class[class];
        rows.iter().map(|m| m[index]).sum::<f32>() / rows.len() as f32
    };
    let (width, v1_width, v1_terminal) = (3, 7 + 3, 7 + 4);
    // LBBB widens the QRS in MLII, RBBB in V1 (its R'); in V1 RBBB ends positive, LBBB
    // negative.
    assert!(mean("L", width) > mean("N", width) * 1.5, "{by_class:?}");
    assert!(
        mean("R", v1_width) > mean("N", v1_width) * 1.5,
        "{by_class:?}"
    );
    assert!(mean("R", v1_terminal) > 0.2, "{}", mean("R", v1_terminal));
    assert!(mean("L", v1_terminal) < -0.2, "{}", mean("L", v1_terminal));
}
