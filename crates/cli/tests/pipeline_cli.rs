//! The whole pipeline through the binary: `medpath demo` end to end (metrics shape, report with
//! every figure, model bundle), a run killed mid-search and resumed to the same metrics, and
//! `medpath predict` on images and records, with its bad-input errors.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn medpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "medpath failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The numbers of a JSON array.
fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn metrics(dir: &Path) -> Value {
    // The run folder appears in protocol descriptions; the two runs live in different folders.
    let text = std::fs::read_to_string(dir.join("metrics.json"))
        .unwrap()
        .replace(dir.to_str().unwrap(), "RUN");
    let mut value: Value = serde_json::from_str(&text).unwrap();
    // Wall-clock figures differ between runs; everything else must not.
    for task in value["tasks"].as_object_mut().unwrap().values_mut() {
        let search = task["search"].as_object_mut().unwrap();
        search.remove("seconds");
        search.remove("steps_per_second");
    }
    value
}

fn check_metrics_shape(m: &Value) {
    let check = |m: &Value, what: &str| {
        for key in [
            "n",
            "accuracy",
            "recall_macro",
            "precision_macro",
            "specificity_macro",
            "f1_macro",
            "auroc_macro",
            "accuracy_ci95",
            "recall_macro_ci95",
            "per_class",
            "confusion",
        ] {
            assert!(m.get(key).is_some(), "{what}: `{key}` missing");
        }
    };
    for (name, task) in m["tasks"].as_object().unwrap() {
        check(&task["test"], name);
        check(&task["ablations"]["linear_readout"], name);
        check(&task["ablations"]["random_path"], name);
        assert!(
            task["classes"].is_array() && task["protocol"].is_string() && task["path"].is_array()
        );
        // Far above chance even with random encoder weights on generated data.
        let accuracy = task["test"]["accuracy"].as_f64().unwrap();
        assert!(accuracy > 0.75, "{name}: test accuracy {accuracy}");
    }
    check(&m["router"]["test"], "router");
    check(&m["joint"]["test"], "joint");
    assert_eq!(m["joint"]["classes"].as_array().unwrap().len(), 5);
    assert_eq!(m["no_forgetting"]["checked"], true);
}

/// `medpath predict --json` of one input with the model of run folder `model`.
fn predict_one(model: &str, input: &Path) -> Value {
    let args = [
        "predict",
        "--model",
        model,
        "--json",
        input.to_str().unwrap(),
    ];
    serde_json::from_str(&ok(&medpath(&args))).unwrap()
}

/// The reason a prediction was rejected (empty when it was not).
fn rejection_of(prediction: &Value) -> &str {
    prediction["rejected"]["reason"].as_str().unwrap_or("")
}

/// Writes `count` generated WFDB records of `seconds` each into `records`.
fn synth_records(records: &Path, count: usize, seconds: usize) {
    let (count, seconds) = (count.to_string(), seconds.to_string());
    ok(&medpath(&[
        "ecg",
        "synth",
        "--out",
        records.to_str().unwrap(),
        "--records",
        &count,
        "--seconds",
        &seconds,
    ]));
}

#[test]
fn demo_runs_end_to_end_resumes_after_a_kill_and_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let stdout = ok(&medpath(&["demo", "--out", whole.to_str().unwrap()]));
    assert!(stdout.contains("joint (route, then classify)"), "{stdout}");
    let m = metrics(&whole);
    check_metrics_shape(&m);
    let report = std::fs::read_to_string(whole.join("report.html")).unwrap();
    assert!(!report.contains("figure missing"));
    // Charts inline as SVG with their text as text: 4 per task (fitness, loss, accuracy,
    // confusion) and a reliability diagram, the ROC curve of the two-class task, 3 of the
    // router, the joint confusion matrix and the path grid. Pictures as PNG: test inputs and
    // occlusion maps of each task.
    assert_eq!(report.matches("<svg role=\"img\"").count(), 16);
    assert_eq!(report.matches("</svg>").count(), 16);
    assert!(
        report.contains(">\ntournament\n</text>"),
        "axis titles are text"
    );
    assert_eq!(report.matches("data:image/png;base64,").count(), 4);
    // Inputs of no task: measured on the generated set, thresholds keep most validation inputs.
    let novelty = &m["novelty"];
    assert!(novelty["val_kept"].as_f64().unwrap() >= 0.95, "{novelty}");
    assert!(novelty["ood"].as_u64().unwrap() >= 30, "{novelty}");
    assert!(novelty["test_kept"].as_f64().unwrap() >= 0.9, "{novelty}");
    assert!(report.contains("Unknown inputs") && report.contains("generated pictures of no task"));
    for task in m["tasks"].as_object().unwrap().values() {
        let ece = &task["calibration"]["test_ece"];
        assert!(
            ece["before"].is_number() && ece["after"].is_number(),
            "{task}"
        );
    }
    ok(&medpath(&["report", whole.to_str().unwrap()]));

    // Kill a second run as soon as its first search has checkpointed, then run it again.
    let killed = tmp.path().join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_medpath"))
        .args(["demo", "--out", killed.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint = killed.join("tasks/ecg/search.ckpt");
    let started = Instant::now();
    while !checkpoint.exists() && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !killed.join("metrics.json").exists(),
        "the run was killed before it finished"
    );
    let resumed = ok(&medpath(&["demo", "--out", killed.to_str().unwrap()]));
    assert!(resumed.contains("joint"), "{resumed}");
    assert_eq!(
        metrics(&killed),
        m,
        "a resumed run ends with the same metrics"
    );

    // predict: images are routed and classified; a record without annotations goes through
    // the QRS detector, one with them is cut at its beats.
    let model = whole.to_str().unwrap();
    let shapes = whole.join("generated/shapes/RING");
    let csv = ok(&medpath(&[
        "predict",
        "--model",
        model,
        shapes.to_str().unwrap(),
    ]));
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 120);
    let routed = rows.iter().filter(|r| r.contains(",shapes,")).count();
    // The `rejected` column (the ninth) holds the reason of a rejected input.
    let rejected = rows
        .iter()
        .filter(|r| r.split(',').nth(8).is_some_and(|f| !f.is_empty()))
        .count();
    assert!(
        routed + rejected == 120 && routed >= 110,
        "shapes are routed to their task ({routed}) or rejected ({rejected})"
    );
    // Noise belongs to no task: rejected, with the reason, and nothing routed or classified.
    let noise = whole.join("ood/noise_0.png");
    let doc = predict_one(model, &noise);
    let p = &doc["predictions"][0];
    assert!(rejection_of(p).contains("novelty score"), "{p}");
    assert!(p["class"].is_null() && p["task"].is_null() && p["routed_task"].is_null());
    assert_eq!(doc["summary"]["rejected"], 1);
    // A blank picture (one gray level and a little noise) holds nothing to classify.
    let blank = tmp.path().join("blank.png");
    image::GrayImage::from_fn(90, 70, |x, y| image::Luma([128 + ((x + y) % 2) as u8]))
        .save(&blank)
        .unwrap();
    let doc = predict_one(model, &blank);
    let p = &doc["predictions"][0];
    assert!(rejection_of(p).contains("a blank picture"), "{p}");
    assert!(p["class"].is_null() && p["routed_task"].is_null(), "{p}");
    // Where the model looked: on a ring drawn at a known place, the occlusion map marks it, and
    // covering it lowers the answer more than covering the rest does.
    let ring = tmp.path().join("ring.png");
    write_ring(&ring, (26, 54), 12);
    let heat_dir = tmp.path().join("heat");
    let doc: Value = serde_json::from_str(&ok(&medpath(&[
        "predict",
        "--model",
        model,
        "--json",
        "--explain",
        heat_dir.to_str().unwrap(),
        ring.to_str().unwrap(),
    ])))
    .unwrap();
    assert_eq!(doc["predictions"][0]["class"], "RING", "{doc}");
    assert!(heat_dir.join("ring_heat.png").exists());
    let map: Value =
        serde_json::from_str(&std::fs::read_to_string(heat_dir.join("ring_heat.json")).unwrap())
            .unwrap();
    let (size, window) = (
        map["size"].as_f64().unwrap(),
        map["window"].as_f64().unwrap(),
    );
    // The ring (centre 26, 54; radius 12 and half-width 4) in the input the model sees.
    let scale = size / 80.0;
    let (lo_x, hi_x, lo_y, hi_y) = (10.0 * scale, 42.0 * scale, 38.0 * scale, 70.0 * scale);
    let overlaps = |c: &Value| {
        let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        x + window > lo_x && x < hi_x && y + window > lo_y && y < hi_y
    };
    let corners = map["corners"].as_array().unwrap();
    let drops = floats(&map["drops"]);
    let hottest = (0..drops.len())
        .max_by(|&a, &b| drops[a].total_cmp(&drops[b]))
        .unwrap();
    assert!(
        overlaps(&corners[hottest]),
        "hottest square {} off the ring",
        corners[hottest]
    );
    let away: Vec<f64> = (0..drops.len())
        .filter(|&i| !overlaps(&corners[i]))
        .map(|i| drops[i])
        .collect();
    let mean_away = away.iter().sum::<f64>() / away.len() as f64;
    assert!(
        drops[hottest] > mean_away + 0.01,
        "{} vs {mean_away}",
        drops[hottest]
    );
    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    for ext in ["hea", "dat"] {
        std::fs::copy(
            whole.join(format!("generated/ecg_records/s003.{ext}")),
            bare.join(format!("s003.{ext}")),
        )
        .unwrap();
    }
    let annotated = whole.join("generated/ecg_records/s003");
    let out = medpath(&[
        "predict",
        "--model",
        model,
        "--json",
        bare.join("s003").to_str().unwrap(),
        annotated.to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_str(&ok(&out)).unwrap();
    let records = doc["records"].as_array().unwrap();
    assert_eq!(records[0]["beats_from"], "qrs detector");
    assert_eq!(records[1]["beats_from"], "annotations");
    let (detected, annotated_beats) = (
        records[0]["beats"].as_u64().unwrap(),
        records[1]["beats"].as_u64().unwrap(),
    );
    assert!(
        detected.abs_diff(annotated_beats) <= 2,
        "detected {detected}, annotated {annotated_beats}"
    );
    // Every beat is counted once per annotation: answered as some class, or rejected.
    for record in records {
        let total = |v: &Value| -> u64 {
            v.as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum()
        };
        let answered: u64 = record["by_annotation"]
            .as_object()
            .unwrap()
            .values()
            .map(total)
            .sum();
        let rejected = total(&record["rejected_by_annotation"]);
        assert_eq!(rejected, record["rejected"].as_u64().unwrap(), "{record}");
        assert_eq!(
            answered + rejected,
            record["beats"].as_u64().unwrap(),
            "{record}"
        );
    }
    // s003 is a right bundle branch block record: most beats are R.
    let r = records[1]["predicted"]["R"].as_u64().unwrap_or(0);
    assert!(r * 10 > annotated_beats * 8, "{}", records[1]);

    // The same X-ray as PNG and as DICOM in several encodings gets the same answer (here a
    // rejection or a class of the demo's tasks: the demo knows no X-rays).
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/tests/fixtures/dicom");
    let answers: Vec<String> = [
        "normal.png",
        "normal_mono2_8.dcm",
        "normal_mono1_12.dcm",
        "normal_rescale_16.dcm",
        "normal_rle.dcm",
        "normal_jpeg.dcm",
        "normal_noext",
    ]
    .iter()
    .map(|file| {
        let doc: Value = serde_json::from_str(&ok(&medpath(&[
            "predict",
            "--model",
            model,
            "--json",
            fixtures.join(file).to_str().unwrap(),
        ])))
        .unwrap();
        let p = &doc["predictions"][0];
        format!("{} {} {}", p["task"], p["class"], p["rejected"].is_null())
    })
    .collect();
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");

    // Bad input: a text file as image, an empty folder, a bundle from another version.
    let text = tmp.path().join("notes.png");
    std::fs::write(&text, "not an image").unwrap();
    let err = medpath(&["predict", "--model", model, text.to_str().unwrap()]);
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("notes.png"));
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = medpath(&["predict", "--model", model, empty.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("no images"));
    let old = tmp.path().join("old");
    std::fs::create_dir_all(old.join("bundle")).unwrap();
    let json = std::fs::read_to_string(whole.join("bundle/model.json")).unwrap();
    std::fs::write(
        old.join("bundle/model.json"),
        json.replace("medpath-bundle 2", "medpath-bundle 0"),
    )
    .unwrap();
    let err = medpath(&[
        "predict",
        "--model",
        old.to_str().unwrap(),
        text.to_str().unwrap(),
    ]);
    let message = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        message.contains("medpath-bundle 0") && message.contains("model.json"),
        "{message}"
    );
}

/// An 80 x 80 gray PNG like the demo's RING class: a bright ring of radius `r` at `centre` on a
/// dark noisy background.
fn write_ring(path: &Path, centre: (usize, usize), r: usize) {
    let mut pixels = Vec::with_capacity(80 * 80);
    for y in 0..80 {
        for x in 0..80 {
            let d = ((x as f64 - centre.0 as f64).powi(2) + (y as f64 - centre.1 as f64).powi(2))
                .sqrt();
            let noise = ((x * 7919 + y * 104_729) % 41) as f64 - 20.0;
            let v = if (d - r as f64).abs() < 4.0 {
                190.0 + noise
            } else {
                60.0 + noise
            };
            pixels.push(v as u8);
        }
    }
    let file = std::fs::File::create(path).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), 80, 80);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder
        .write_header()
        .unwrap()
        .write_image_data(&pixels)
        .unwrap();
}

#[test]
fn a_bad_experiment_file_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    std::fs::write(
        &file,
        "name = \"x\"\n[tasks.a]\nkind = \"images\"\nroot = \"nowhere\"\nsize = 16\n",
    )
    .unwrap();
    let err = medpath(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        tmp.path().join("r").to_str().unwrap(),
    ]);
    let message = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(
        !err.status.success() && message.contains("bad.toml") && message.contains("32"),
        "{message}"
    );
    let err = medpath(&["run", file.to_str().unwrap(), "--set", "search.populaton=3"]);
    let message = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(message.contains("populaton"), "{message}");
}

#[test]
fn stage_commands_evolve_then_train_and_run_reuses_them() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records");
    synth_records(&records, 3, 90);
    let file = tmp.path().join("one.toml");
    let cache = tmp.path().join("cache");
    std::fs::write(
        &file,
        format!(
            "name = \"one task\"\n[encoder]\ncache = {cache:?}\n[search]\npopulation = 6\ntournaments = 5\nsteps = 10\n\
             [train]\nepochs = 4\n[tasks.ecg]\nkind = \"ecg\"\nmitdb = {records:?}\nsize = 32\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let (file, out) = (file.to_str().unwrap(), out.to_str().unwrap());
    let err = medpath(&["train", file, "--task", "ecg", "--out", out]);
    assert!(
        String::from_utf8_lossy(&err.stderr).contains("medpath evolve"),
        "train needs a search first"
    );
    let line = ok(&medpath(&["evolve", file, "--task", "ecg", "--out", out]));
    assert!(
        line.contains("best path") && line.contains("steps/s"),
        "{line}"
    );
    let out_dir = Path::new(out);
    assert!(
        out_dir.join("tasks/ecg/search_log.csv").exists()
            && out_dir.join("tasks/ecg/fitness.png").exists()
    );
    let log = std::fs::read_to_string(out_dir.join("tasks/ecg/search_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 1 + 5, "one row per tournament");
    let line = ok(&medpath(&["train", file, "--task", "ecg", "--out", out]));
    assert!(
        line.contains("test accuracy") && line.contains("random path"),
        "{line}"
    );
    let result = std::fs::read_to_string(out_dir.join("tasks/ecg/result.json")).unwrap();
    // `run` finds the task done and adds the rest (one task: no router).
    let stdout = ok(&medpath(&["run", file, "--out", out]));
    assert!(!stdout.contains("router (which task)"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(out_dir.join("tasks/ecg/result.json")).unwrap(),
        result
    );
    let m: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("metrics.json")).unwrap())
            .unwrap();
    assert!(m["router"].is_null());
    assert_eq!(m["joint"]["test"]["n"], m["tasks"]["ecg"]["test"]["n"]);
}

#[test]
fn record_kfold_with_every_ecg_lever_then_predict_a_record_with_rhythm_features() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records");
    synth_records(&records, 6, 60);
    let file = tmp.path().join("kfold.toml");
    let cache = tmp.path().join("cache");
    std::fs::write(
        &file,
        format!(
            "name = \"unseen patients\"\n[encoder]\ncache = {cache:?}\n\
             [search]\npopulation = 6\ntournaments = 4\nsteps = 10\nmetric = \"macro-recall\"\n\
             [train]\nepochs = 3\nclass_weights = \"balanced\"\ndropout = 0.2\nweight_decay = 0.0001\n\
             [evaluation]\nboosted_trees = true\nbootstrap = 50\n\
             [tasks.ecg]\nkind = \"ecg\"\nmitdb = {records:?}\nsize = 32\nleads = \"MLII,V1|-\"\ncontext = 1\n\
             protocol = \"record-kfold\"\nfolds = 3\nside_inputs = [\"rhythm\", \"signal\", \"morphology\"]\nsignal_points = 8\n\
             augment_views = 2\n[tasks.ecg.smooth]\nclasses = [\"L\", \"R\"]\nseconds = 60\nprior_steps = 1\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let (file, out) = (file.to_str().unwrap(), out.to_str().unwrap());
    ok(&medpath(&["run", file, "--out", out]));
    let out_dir = Path::new(out);
    let m = metrics(out_dir);
    let task = &m["tasks"]["ecg"];
    assert!(
        task["protocol"]
            .as_str()
            .unwrap()
            .starts_with("record-kfold"),
        "{}",
        task["protocol"]
    );
    // Every record is tested once, by the fold that left it out.
    let kfold = &task["record_kfold"];
    let tested: usize = kfold["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["beats"]
                .as_object()
                .unwrap()
                .values()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>() as usize
        })
        .sum();
    assert_eq!(kfold["records"].as_array().unwrap().len(), 6);
    assert_eq!(task["test"]["n"].as_u64().unwrap() as usize, tested);
    for ablation in ["linear_readout", "random_path", "boosted_trees"] {
        assert_eq!(
            task["ablations"][ablation]["n"], task["test"]["n"],
            "{ablation}"
        );
    }
    assert!(out_dir.join("tasks/ecg/kfold/kfold_records.csv").exists());
    // The folds' answers pool L and R over each record (60 s, as long as a record): every test
    // beat of a record splits its L+R probability between L and R in the record's one ratio.
    let read = |file: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(out_dir.join(file)).unwrap()).unwrap()
    };
    let (folds, prepared) = (
        read("tasks/ecg/kfold/kfold.json"),
        read("prepared/ecg/prepared.json"),
    );
    let probs = floats(&folds["probs"]);
    let mut l_shares: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    for (i, row) in folds["rows"].as_array().unwrap().iter().enumerate() {
        let (l, r) = (probs[i * 3 + 1], probs[i * 3 + 2]);
        let record = prepared["examples"][row.as_u64().unwrap() as usize]["group"]
            .as_str()
            .unwrap();
        l_shares.entry(record).or_default().push(l / (l + r));
    }
    assert_eq!(l_shares.len(), 6);
    for (record, shares) in &l_shares {
        let (lo, hi) = shares
            .iter()
            .fold((1.0f64, 0.0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        assert!(
            hi - lo < 1e-4,
            "record {record}: L shares from {lo} to {hi}"
        );
    }
    // The same run with the features kept on disk and read a batch at a time: the same numbers.
    let on_disk = tmp.path().join("run_disk");
    let on_disk = on_disk.to_str().unwrap();
    ok(&medpath(&[
        "run",
        file,
        "--out",
        on_disk,
        "--set",
        "encoder.features=\"disk\"",
    ]));
    let d = metrics(Path::new(on_disk));
    for key in ["test", "ablations", "record_kfold", "calibration"] {
        assert_eq!(d["tasks"]["ecg"][key], task[key], "{key}");
    }
    assert_eq!(d["novelty"], m["novelty"]);
    assert_eq!(
        std::fs::read_dir(Path::new(on_disk).join("features"))
            .unwrap()
            .count(),
        0,
        "the features' files have no names and are gone after the run"
    );
    let report = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(report.contains("Record k-fold") && report.contains("boosted trees"));
    // Under record-kfold the final model has no test inputs of its own: the novelty AUROC is
    // measured against validation inputs, and the test share is not a made-up zero.
    let m = metrics(out_dir);
    assert!(m["novelty"]["test_kept"].is_null(), "{}", m["novelty"]);
    assert_eq!(m["novelty"]["auroc_inputs"], "validation");
    // The bundle carries the side inputs and their scaling; predict computes them for a record.
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("bundle/model.json")).unwrap())
            .unwrap();
    assert_eq!(
        bundle["tasks"][0]["pipeline"]["side_inputs"],
        serde_json::json!(["rhythm", "signal", "morphology"])
    );
    assert_eq!(
        bundle["tasks"][0]["side_scaling"]["mean"]
            .as_array()
            .unwrap()
            .len(),
        6 + 2 * 8 + 2 * medpath_ecg::MEASUREMENTS.len()
    );
    let record = records.join("s002");
    let predicted = medpath(&[
        "predict",
        "--model",
        out,
        record.to_str().unwrap(),
        "--json",
    ]);
    let doc: Value = serde_json::from_str(&ok(&predicted)).unwrap();
    let beats = doc["predictions"].as_array().unwrap();
    assert!(beats.len() > 40, "{} beats", beats.len());
    // The bundle keeps the calibration error measured on unseen records (record-kfold, after
    // temperature); predict says so in its notes when it is above 0.05, and only then.
    let unseen_ece = bundle["tasks"][0]["unseen_ece"].as_f64().expect("measured");
    assert_eq!(
        unseen_ece,
        m["tasks"]["ecg"]["record_kfold"]["unseen_record_ece"]["after"]
            .as_f64()
            .unwrap()
    );
    let warned = doc["summary"]["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("training patients only"));
    assert_eq!(warned, unseen_ece > 0.05, "{}", doc["summary"]["notes"]);
    assert_eq!(
        doc["records"][0]["model_classes"],
        serde_json::json!(["A", "L", "R"])
    );
    // The bundle smooths L and R over 60 s, as long as the record: every beat not answered A
    // shares the record's L/R split, so all of them get the same class (the record prior
    // re-weights L and R of every beat of the record alike, so it keeps that).
    assert_eq!(
        bundle["tasks"][0]["smoothing"],
        serde_json::json!({"classes": [1, 2], "seconds": 60.0, "prior_steps": 1})
    );
    let blocks: std::collections::BTreeSet<&str> = beats
        .iter()
        .filter_map(|b| b["class"].as_str())
        .filter(|c| *c != "A")
        .collect();
    assert!(blocks.len() <= 1, "{blocks:?}");
    // Without the smoothing in the bundle, predict gives other probabilities: it applies it.
    let model_json = out_dir.join("bundle/model.json");
    let predict_with = |model: &Value| -> Value {
        std::fs::write(&model_json, model.to_string()).unwrap();
        serde_json::from_str(&ok(&medpath(&[
            "predict",
            "--model",
            out,
            record.to_str().unwrap(),
            "--json",
        ])))
        .unwrap()
    };
    let mut unsmoothed = bundle.clone();
    unsmoothed["tasks"][0]["smoothing"] = Value::Null;
    let plain = predict_with(&unsmoothed);
    let probability = |d: &Value| -> Vec<f64> {
        d["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["probability"].as_f64())
            .collect()
    };
    assert_ne!(probability(&plain), probability(&doc));
    // Nor without the record prior alone: predict re-weights the record's beats as run does.
    let mut no_prior = bundle.clone();
    no_prior["tasks"][0]["smoothing"]["prior_steps"] = 0.into();
    let pooled_only = predict_with(&no_prior);
    assert_ne!(probability(&pooled_only), probability(&doc));
    assert_ne!(probability(&pooled_only), probability(&plain));
    std::fs::write(&model_json, bundle.to_string()).unwrap();
    // The same record with its annotations removed: beats come from the QRS detector and still
    // get rhythm features.
    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    for ext in ["hea", "dat"] {
        std::fs::copy(
            records.join(format!("s002.{ext}")),
            bare.join(format!("s002.{ext}")),
        )
        .unwrap();
    }
    let detected = medpath(&[
        "predict",
        "--model",
        out,
        bare.join("s002").to_str().unwrap(),
    ]);
    let csv = ok(&detected);
    assert!(csv.lines().count() > 40);
    assert!(
        String::from_utf8_lossy(&detected.stderr)
            .contains("the model knows only the classes A, L, R")
    );
}

/// (sample, class, probability) of every beat of record `record` in a run's
/// `test_answers.csv`, and how many of them are scored.
fn run_answers(run: &Path, task: &str, record: &str) -> (Vec<(i64, String, f64)>, usize) {
    let text = std::fs::read_to_string(run.join(format!("tasks/{task}/test_answers.csv"))).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (rec, sample, class, probability, scored) = (
        column("record"),
        column("sample"),
        column("class"),
        column("probability"),
        column("scored"),
    );
    let mut answers = Vec::new();
    let mut n_scored = 0;
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields[rec] != record {
            continue;
        }
        n_scored += usize::from(fields[scored] == "true");
        answers.push((
            fields[sample].parse().unwrap(),
            fields[class].to_string(),
            fields[probability].parse().unwrap(),
        ));
    }
    (answers, n_scored)
}

/// (sample, class, probability) of every beat `predict --json` answered.
fn predicted_answers(doc: &Value) -> Vec<(i64, String, f64)> {
    doc["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["sample"].as_i64().unwrap(),
                p["class"].as_str().unwrap().to_string(),
                p["probability"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_run_tests_whole_records_as_predict_answers_them_beat_by_beat() {
    let tmp = tempfile::tempdir().unwrap();
    let (records, unseen) = (tmp.path().join("records"), tmp.path().join("unseen"));
    synth_records(&records, 6, 40);
    // Three records (a normal one, an L and an R one) become a folder of unseen patients.
    std::fs::create_dir_all(&unseen).unwrap();
    for name in ["s004", "s005", "s006"] {
        for ext in ["hea", "dat", "atr"] {
            let file = format!("{name}.{ext}");
            std::fs::rename(records.join(&file), unseen.join(&file)).unwrap();
        }
    }
    let (file, cache) = (tmp.path().join("first.toml"), tmp.path().join("cache"));
    // Features cached at f32, as predict computes them: the same numbers on both sides. The
    // encoder runs at bf16 where the CPU has bf16 units: predict must then encode at bf16 too.
    let precision = if medpath_model::Arithmetic::Bf16.is_available() {
        "bf16"
    } else {
        eprintln!("this CPU has no bf16 units: the encoder runs at f32");
        "f32"
    };
    std::fs::write(
        &file,
        format!(
            "name = \"first lead\"\n[encoder]\ncache = {cache:?}\ncache_precision = \"f32\"\n\
             precision = \"{precision}\"\n[search]\npopulation = 4\ntournaments = 2\nsteps = 5\n[train]\nepochs = 2\n\
             class_weights = \"balanced\"\n[novelty]\nenabled = false\n\
             [tasks.ecg]\nkind = \"ecg\"\nmitdb = {records:?}\ntest_mitdb = {unseen:?}\nsize = 32\n\
             leads = \"MLII,V1|-\"\nside_inputs = [\"rhythm\"]\nfirst_lead_classes = [\"A\"]\n\
             first_lead_weight = 0.75\n[tasks.ecg.smooth]\nclasses = [\"L\", \"R\"]\nseconds = 20\n\
             prior_steps = 1\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let model = out.to_str().unwrap();
    ok(&medpath(&["run", file.to_str().unwrap(), "--out", model]));
    let model_json = out.join("bundle/model.json");
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(&model_json).unwrap()).unwrap();
    assert_eq!(
        bundle["tasks"][0]["view_rule"],
        serde_json::json!({"first-lead": {"classes": [0], "weight": 0.75}})
    );
    assert_eq!(bundle["tasks"][0]["pipeline"]["first_lead"], true);
    assert_eq!(bundle["encoder"]["precision"], precision);
    let m = metrics(&out);
    let protocol = m["tasks"]["ecg"]["protocol"].as_str().unwrap();
    assert!(protocol.contains("whole"), "{protocol}");
    // The run tested every unseen record whole (a normal record's N beats too, answered but
    // not scored), and predict on each gives every beat the run's answer: the same beats,
    // classes and probabilities, pooling and the record prior included.
    for (name, whole) in [("s004", true), ("s006", false)] {
        let (run, scored) = run_answers(&out, "ecg", name);
        let answered = predicted_answers(&predict_one(model, &unseen.join(name)));
        assert!(scored > 5, "{name}: {scored} beats scored");
        assert_eq!(
            run.len() > scored,
            whole,
            "{name}: {scored} of {} scored",
            run.len()
        );
        assert_eq!(run.len(), answered.len(), "{name}");
        for ((sample, class, p), (sample_p, class_p, printed)) in run.iter().zip(&answered) {
            assert_eq!((sample, class), (sample_p, class_p), "{name}");
            assert!(
                (p - printed).abs() < 1e-5,
                "{name}, beat {sample}: {p} vs {printed}"
            );
        }
    }
    let record = unseen.join("s006");
    // Heat maps explain a beat's own answer (nothing read over the record): with the
    // bundle's pooling and prior left out, they start from the printed answer. An A beat's is
    // drawn on its first-lead picture (where its probability comes from), an L or R beat's on
    // its two-lead picture.
    let mut unpooled = bundle.clone();
    unpooled["tasks"][0]["smoothing"] = Value::Null;
    std::fs::write(&model_json, unpooled.to_string()).unwrap();
    let answered = predicted_answers(&predict_one(model, &record));
    let heat = tmp.path().join("heat");
    let args = [
        "predict",
        "--model",
        model,
        "--explain",
        heat.to_str().unwrap(),
        record.to_str().unwrap(),
    ];
    ok(&medpath(&args));
    let mut explained = std::collections::BTreeSet::new();
    for (sample, class, printed) in &answered {
        let suffix = if class == "A" { "_first" } else { "" };
        let file = heat.join(format!("s006_{sample}{suffix}_heat.json"));
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let base = serde_json::from_str::<Value>(&text).unwrap()["base"]
            .as_f64()
            .unwrap();
        assert!(
            (base - printed).abs() < 1e-5,
            "{}: heat map base {base} vs {printed}",
            file.display()
        );
        explained.insert(class.clone());
    }
    assert!(!explained.is_empty(), "no heat map read");
    // The rule is the bundle's: without it predict answers from the two-lead picture alone.
    let mut plain = unpooled.clone();
    plain["tasks"][0]["view_rule"] = serde_json::json!("mean");
    std::fs::write(&model_json, plain.to_string()).unwrap();
    assert_ne!(predicted_answers(&predict_one(model, &record)), answered);
}

#[test]
fn wrong_settings_are_refused_at_once_and_leave_no_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records");
    synth_records(&records, 3, 40);
    let file = tmp.path().join("small.toml");
    let cache = tmp.path().join("cache");
    std::fs::write(
        &file,
        format!(
            "name = \"small\"\n[encoder]\ncache = {cache:?}\n[search]\npopulation = 4\ntournaments = 2\nsteps = 5\n\
             [train]\nepochs = 2\n[tasks.ecg]\nkind = \"ecg\"\nmitdb = {records:?}\nsize = 32\n"
        ),
    )
    .unwrap();
    let out = tmp.path().join("run");
    let (file, out_str) = (file.to_str().unwrap(), out.to_str().unwrap());
    for (setting, key, says) in [
        (
            "network.boundary=clmap",
            "network.boundary",
            "\"clmap\" is not one of wrap, clamp",
        ),
        (
            "encoder.fit=strech",
            "encoder.fit",
            "is not one of stretch, pad, crop",
        ),
        ("search.population=0", "search.population", "at least 2"),
        (
            "tasks.ecg.mitdb=\"/no/such/folder\"",
            "tasks.ecg.mitdb",
            "does not exist",
        ),
        (
            "encoder.cache_precision=f8",
            "encoder.cache_precision",
            "is not one of f16, f32",
        ),
        (
            "tasks.ecg.protocol=inter-patent",
            "tasks.ecg.protocol",
            "is not one of intra-patient",
        ),
        (
            "tasks.ecg.ensemble=0",
            "tasks.ecg.ensemble",
            "at least 1 answer",
        ),
        (
            "tasks.ecg.smooth={classes=[\"L\",\"X\"],seconds=60}",
            "tasks.ecg.smooth.classes",
            "`X` is not one of the classes",
        ),
        (
            "tasks.ecg.smooth.classes=[\"L\",\"R\"]",
            "tasks.ecg.smooth.seconds",
            "a window of more than 0 seconds",
        ),
        (
            "tasks.ecg.centre=site",
            "tasks.ecg.centre",
            "centres on none or record",
        ),
        (
            "tasks.ecg.first_lead_classes=[\"A\"]",
            "tasks.ecg.first_lead_classes",
            "this needs a second one to leave out",
        ),
        (
            "tasks.ecg.first_lead_classes=[\"X\"]",
            "tasks.ecg.first_lead_classes",
            "`X` is not one of the classes",
        ),
        (
            "tasks.ecg.first_lead_weight=0",
            "tasks.ecg.first_lead_weight",
            "more than 0 and at most 1",
        ),
    ] {
        let started = Instant::now();
        let err = medpath(&["run", file, "--set", setting, "--out", out_str]);
        let message = String::from_utf8_lossy(&err.stderr).to_string();
        assert!(!err.status.success(), "{setting} was accepted");
        assert!(
            message.contains(key) && message.contains(says),
            "{setting}: {message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{setting} took {:?}",
            started.elapsed()
        );
        assert!(!out.exists(), "{setting} left a run folder");
    }
    ok(&medpath(&["run", file, "--out", out_str]));
    assert!(out.join("metrics.json").exists());
}

/// Writes `dir/NAME.toml`: a small, quick experiment of one image task `shapes` on
/// `dir/shapes` (32 px, f32 cache in `dir/cache`, no novelty model) with `task_lines` added to
/// the task.
fn shapes_experiment(dir: &Path, name: &str, task_lines: &str) -> std::path::PathBuf {
    let (shapes, cache) = (dir.join("shapes"), dir.join("cache"));
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(
        &file,
        format!(
            "name = \"{name}\"\n[encoder]\ncache = {cache:?}\ncache_precision = \"f32\"\n\
             [search]\npopulation = 4\ntournaments = 3\nsteps = 5\n[train]\nepochs = 3\n\
             [novelty]\nenabled = false\n[tasks.shapes]\nkind = \"images\"\nroot = {shapes:?}\n\
             size = 32\n{task_lines}"
        ),
    )
    .unwrap();
    file
}

#[test]
fn an_ensemble_of_paths_answers_alike_in_run_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let shapes = tmp.path().join("shapes");
    medpath_experiment::demo::write_shapes(&shapes, 40, 5).unwrap();
    let file = shapes_experiment(
        tmp.path(),
        "ensemble",
        "ensemble = 3\noperating_point = \"balanced-accuracy\"\n",
    );
    let out = tmp.path().join("run");
    let stdout = ok(&medpath(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    assert!(stdout.contains("shapes (ensemble of 3 paths)"), "{stdout}");
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bundle/model.json")).unwrap())
            .unwrap();
    assert_eq!(bundle["tasks"][0]["members"].as_array().unwrap().len(), 2);
    // The bundle answers every test image as the run did: the same confusion matrix.
    let classes = ["DISC", "RING"];
    let test = examples_in_role(&out, "shapes", "test");
    let mut args = vec!["predict", "--model", out.to_str().unwrap(), "--json"];
    args.extend(test.iter().map(|(path, _)| path.as_str()));
    let doc: Value = serde_json::from_str(&ok(&medpath(&args))).unwrap();
    // The run's test probabilities of the ensemble (raw means) and of the evolved path alone;
    // predict prints the ensemble's, calibrated with the bundle's temperature.
    let result = task_result(&out, "shapes");
    let (ensemble, single) = (floats(&result["test_probs"]), floats(&result["path_probs"]));
    let calibrated = calibration(&result);
    let mut confusion = vec![vec![0u64; 2]; 2];
    let mut members_matter = false;
    let predictions = doc["predictions"].as_array().unwrap();
    for (i, ((_, label), p)) in test.iter().zip(predictions).enumerate() {
        let class = classes.iter().position(|c| p["class"] == *c).unwrap();
        confusion[*label][class] += 1;
        let printed = p["probability"].as_f64().unwrap();
        let expected = calibrated(&ensemble[2 * i..2 * i + 2], class);
        assert!(
            (printed - expected).abs() < 1e-3,
            "{i}: {printed} vs {expected}"
        );
        members_matter |= (calibrated(&single[2 * i..2 * i + 2], class) - expected).abs() > 1e-3;
    }
    assert!(
        members_matter,
        "the members change the answer's probabilities"
    );
    let m = metrics(&out);
    let run_confusion: Vec<Vec<u64>> =
        serde_json::from_value(m["tasks"]["shapes"]["test"]["confusion"].clone()).unwrap();
    assert_eq!(confusion, run_confusion);
    // A member's network missing from the bundle is named.
    std::fs::remove_file(out.join("bundle/member_shapes_2.safetensors")).unwrap();
    let err = medpath(&["predict", "--model", out.to_str().unwrap(), &test[0].0]);
    assert!(!err.status.success());
    let message = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(message.contains("member_shapes_2.safetensors"), "{message}");
}

/// The (path, label) of each image example of `task` in `role`, in the run's order.
fn examples_in_role(run: &Path, task: &str, role: &str) -> Vec<(String, usize)> {
    let prepared: Value = serde_json::from_str(
        &std::fs::read_to_string(run.join(format!("prepared/{task}/prepared.json"))).unwrap(),
    )
    .unwrap();
    prepared["examples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["role"] == role)
        .map(|e| {
            let label = e["label"].as_u64().unwrap() as usize;
            (e["input"]["file"].as_str().unwrap().to_string(), label)
        })
        .collect()
}

/// A task's `result.json` of a run.
fn task_result(run: &Path, task: &str) -> Value {
    let file = run.join(format!("tasks/{task}/result.json"));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// The calibrated probability of `class` in a row of raw probabilities, with the temperature
/// of the task's decision in `result`.
fn calibration(result: &Value) -> impl Fn(&[f64], usize) -> f64 {
    let temperature = result["decision"]["temperature"].as_f64().unwrap();
    move |row: &[f64], class: usize| {
        let powered: Vec<f64> = row.iter().map(|p| p.powf(1.0 / temperature)).collect();
        powered[class] / powered.iter().sum::<f64>()
    }
}

#[test]
fn a_site_centred_task_answers_alike_in_run_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let (shapes, other_site) = (tmp.path().join("shapes"), tmp.path().join("other_site"));
    medpath_experiment::demo::write_shapes(&shapes, 40, 5).unwrap();
    // Another site: other shapes, every picture darker.
    medpath_experiment::demo::write_shapes(&other_site, 16, 9).unwrap();
    for class in ["DISC", "RING"] {
        for entry in std::fs::read_dir(other_site.join(class)).unwrap() {
            let path = entry.unwrap().path();
            let mut picture = image::open(&path).unwrap().to_luma8();
            picture
                .pixels_mut()
                .for_each(|p| p.0[0] = (p.0[0] as f32 * 0.6) as u8);
            picture.save(&path).unwrap();
        }
    }
    let task = format!("test_dir = {other_site:?}\ncentre = \"site\"\n");
    let file = shapes_experiment(tmp.path(), "site", &task);
    let out = tmp.path().join("run");
    let model = out.to_str().unwrap();
    ok(&medpath(&["run", file.to_str().unwrap(), "--out", model]));
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bundle/model.json")).unwrap())
            .unwrap();
    assert_eq!(bundle["tasks"][0]["centre"], "site");
    assert_eq!(
        bundle["tasks"][0]["site_centre"].as_array().unwrap().len(),
        512
    );
    let result = task_result(&out, "shapes");
    let calibrated = calibration(&result);
    let classes = ["DISC", "RING"];
    let predicted = |inputs: &[&str]| -> Value {
        let mut args = vec!["predict", "--model", model, "--json"];
        args.extend(inputs);
        serde_json::from_str(&ok(&medpath(&args))).unwrap()
    };
    let probability_of = |p: &Value| {
        let class = classes.iter().position(|c| p["class"] == *c).unwrap();
        (class, p["probability"].as_f64().unwrap())
    };
    // The other site's 32 images given together are centred on their own mean, as the run
    // centred its test folder: the same probabilities.
    let test = examples_in_role(&out, "shapes", "test");
    assert_eq!(test.len(), 32);
    let paths: Vec<&str> = test.iter().map(|(p, _)| p.as_str()).collect();
    let together = predicted(&paths);
    let notes = together["summary"]["notes"].to_string();
    assert!(
        notes.contains("32 images given together were centred on their own mean"),
        "{notes}"
    );
    let test_probs = floats(&result["test_probs"]);
    let mut alone_differs = false;
    for (i, p) in together["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let (class, printed) = probability_of(p);
        let expected = calibrated(&test_probs[2 * i..2 * i + 2], class);
        assert!(
            (printed - expected).abs() < 1e-3,
            "test {i}: {printed} vs {expected}"
        );
        if i < 4 {
            // One image alone is centred on the training site's mean instead.
            let alone = predicted(&[paths[i]]);
            let (alone_class, alone_printed) = probability_of(&alone["predictions"][0]);
            alone_differs |= alone_class != class || (alone_printed - printed).abs() > 1e-3;
            let notes = alone["summary"]["notes"].to_string();
            assert!(
                notes.contains("centred on the training site's mean"),
                "{notes}"
            );
        }
    }
    assert!(alone_differs, "the site's own centre changes its answers");
    // A validation image of the training site, given alone, is answered as the run did, and
    // its heat map starts from the same, centred, answer.
    let (val_path, _) = &examples_in_role(&out, "shapes", "val")[0];
    let heat = tmp.path().join("heat");
    let explained = predicted(&["--explain", heat.to_str().unwrap(), val_path]);
    let (class, printed) = probability_of(&explained["predictions"][0]);
    let expected = calibrated(&floats(&result["val_probs"])[..2], class);
    assert!(
        (printed - expected).abs() < 1e-3,
        "validation: {printed} vs {expected}"
    );
    let stem = Path::new(val_path).file_stem().unwrap().to_str().unwrap();
    let map: Value = serde_json::from_str(
        &std::fs::read_to_string(heat.join(format!("{stem}_heat.json"))).unwrap(),
    )
    .unwrap();
    let base = map["base"].as_f64().unwrap();
    assert!(
        (base - printed).abs() < 1e-3,
        "heat map base {base} vs {printed}"
    );
}

/// Entries in a feature cache, as `medpath cache stats --json` counts them.
fn cache_entries(cache: &Path) -> u64 {
    let text = ok(&medpath(&[
        "cache",
        "stats",
        "--json",
        "--cache",
        cache.to_str().unwrap(),
    ]));
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["stats"]["entries"].as_u64().unwrap()
}

#[test]
fn experiment_shards_at_once_fill_the_cache_and_run_computes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let records = tmp.path().join("records");
    synth_records(&records, 4, 40);
    let shapes = tmp.path().join("shapes");
    medpath_experiment::demo::write_shapes(&shapes, 20, 3).unwrap();
    let file = tmp.path().join("two.toml");
    let cache = tmp.path().join("shared-cache");
    std::fs::write(
        &file,
        format!(
            "name = \"two tasks\"\n[encoder]\ncache = {cache:?}\n[search]\npopulation = 4\ntournaments = 2\nsteps = 5\n\
             [train]\nepochs = 2\n[router]\nsize = 32\ntournaments = 2\n\
             [tasks.ecg]\nkind = \"ecg\"\nmitdb = {records:?}\nsize = 32\nprotocol = \"record-kfold\"\nfolds = 2\n\
             augment_views = 2\ncentre = \"record\"\ncentre_beats = 10\n\
             [tasks.shapes]\nkind = \"images\"\nroot = {shapes:?}\nsize = 32\naugment = \"strong\"\naugment_views = 2\ntta_views = 2\n"
        ),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let shards: Vec<std::process::Child> = (1..=3)
        .map(|i| {
            Command::new(env!("CARGO_BIN_EXE_medpath"))
                .args([
                    "encode",
                    "--experiment",
                    file,
                    "--set",
                    "seed=0",
                    "--shard",
                    &format!("{i}/3"),
                ])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut pictures = Vec::new();
    for child in shards {
        let text = ok(&child.wait_with_output().unwrap());
        // "shard I/3 of FILE: K of T pictures in S s"
        let words: Vec<&str> = text.split_whitespace().collect();
        let at = words.iter().position(|w| *w == "pictures").unwrap();
        pictures.push((
            words[at - 3].parse::<usize>().unwrap(),
            words[at - 1].parse::<usize>().unwrap(),
        ));
    }
    let total = pictures[0].1;
    assert!(pictures.iter().all(|&(mine, of)| of == total && mine > 0));
    assert_eq!(pictures.iter().map(|p| p.0).sum::<usize>(), total);
    let filled = cache_entries(&cache);
    assert!(filled > 0);

    let out = tmp.path().join("run");
    ok(&medpath(&["run", file, "--out", out.to_str().unwrap()]));
    assert_eq!(
        cache_entries(&cache),
        filled,
        "the run found every feature in the cache and computed none"
    );
    let m = metrics(&out);
    assert!(m["joint"]["routing_accuracy"].as_f64().is_some(), "{m}");
}

/// Writes `count` rings of each size class under `dir`, named by the file-name rule
/// (`p<i>_small_<i>.png`, `p<i>_large_<i>.png`).
fn write_ring_sizes(dir: &Path, count: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..count {
        let centre = (34 + i % 12, 46 - i % 12);
        write_ring(&dir.join(format!("p{i}_small_{i}.png")), centre, 10);
        write_ring(
            &dir.join(format!("p{}_large_{i}.png", i + count)),
            centre,
            26,
        );
    }
}

/// Writes the shapes and ring-size images under `dir` and returns the lines of a follow-up task
/// `subtype` (ring sizes, by file name) of the shapes task's RING class.
fn follow_up_data(dir: &Path) -> String {
    medpath_experiment::demo::write_shapes(&dir.join("shapes"), 40, 5).unwrap();
    let rings = dir.join("rings");
    write_ring_sizes(&rings, 30);
    format!(
        "\n[tasks.subtype]\nkind = \"images\"\nroot = {rings:?}\nsize = 32\n\
         labels = \"file-names\"\nclasses = [\"small\", \"large\"]\n\
         follows = {{ task = \"shapes\", class = \"RING\" }}\n"
    )
}

#[test]
fn a_follow_up_task_is_asked_after_its_class_in_run_and_predict_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let follow_up = follow_up_data(tmp.path());
    // A follow-up of a class its task does not have is refused once the tasks are read.
    let wrong = shapes_experiment(
        tmp.path(),
        "wrong",
        &follow_up.replace("\"RING\" }", "\"SQUARE\" }"),
    );
    let err = medpath(&[
        "run",
        wrong.to_str().unwrap(),
        "--out",
        tmp.path().join("w").to_str().unwrap(),
    ]);
    let message = String::from_utf8_lossy(&err.stderr).to_string();
    assert!(!err.status.success());
    assert!(
        message.contains("SQUARE") && message.contains("[\"DISC\", \"RING\"]"),
        "{message}"
    );
    let file = shapes_experiment(tmp.path(), "followup", &follow_up);
    let out = tmp.path().join("run");
    ok(&medpath(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("bundle/model.json")).unwrap())
            .unwrap();
    assert_eq!(bundle["tasks"][1]["name"], "subtype");
    assert_eq!(bundle["tasks"][1]["follows"]["class"], "RING");
    // One routed task: nothing to route, and the joint test covers `shapes` alone.
    assert!(bundle["router"].is_null());
    assert_eq!(
        metrics(&out)["joint"]["classes"],
        serde_json::json!(["DISC", "RING"])
    );
    // Every test ring of the follow-up task: `shapes` answers it, and where it says RING,
    // `subtype` answers too, with the run's own test probabilities.
    let test = examples_in_role(&out, "subtype", "test");
    let mut args = vec!["predict", "--model", out.to_str().unwrap(), "--json"];
    args.extend(test.iter().map(|(path, _)| path.as_str()));
    let doc: Value = serde_json::from_str(&ok(&medpath(&args))).unwrap();
    let result = task_result(&out, "subtype");
    let calibrated = calibration(&result);
    let probs = floats(&result["test_probs"]);
    let classes = bundle["tasks"][1]["classes"].as_array().unwrap();
    let mut asked = 0;
    for (i, p) in doc["predictions"].as_array().unwrap().iter().enumerate() {
        assert_eq!(p["task"], "shapes");
        if p["class"] != "RING" {
            assert!(p["follow_up"].is_null(), "{p}");
            continue;
        }
        asked += 1;
        let f = &p["follow_up"];
        assert_eq!(f["task"], "subtype");
        let class = classes.iter().position(|c| f["class"] == *c).unwrap();
        let expected = calibrated(&probs[2 * i..2 * i + 2], class);
        let printed = f["probability"].as_f64().unwrap();
        assert!(
            (printed - expected).abs() < 1e-3,
            "{i}: {printed} vs {expected}"
        );
    }
    assert!(asked > 0, "no ring was answered RING: {doc}");
    // The CSV carries the follow-up's answer in its own columns, and the summary says it.
    let csv = medpath(&["predict", "--model", out.to_str().unwrap(), &test[0].0]);
    let text = ok(&csv);
    assert!(
        text.starts_with("input,")
            && text
                .lines()
                .next()
                .unwrap()
                .ends_with("follow_up_probability"),
        "{text}"
    );
}

#[test]
fn transfer_learns_the_last_task_again_every_way_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let file = shapes_experiment(tmp.path(), "transfer", &follow_up_data(tmp.path()));
    let (file, out) = (file.to_str().unwrap(), tmp.path().join("run"));
    let out = out.to_str().unwrap();
    let transfer_of = |task: &str, extra: &[&str]| {
        let mut args = vec!["transfer", file, "--task", task, "--out", out];
        args.extend(extra);
        medpath(&args)
    };
    let transfer = |extra: &[&str]| transfer_of("subtype", extra);
    // Before the run, the earlier task is not there to reuse.
    let early = transfer(&[]);
    let message = String::from_utf8_lossy(&early.stderr).to_string();
    assert!(
        !early.status.success() && message.contains("run the experiment first"),
        "{message}"
    );
    ok(&medpath(&["run", file, "--out", out]));
    let first = transfer_of("shapes", &[]);
    assert!(String::from_utf8_lossy(&first.stderr).contains("learned first"));
    let zero = transfer(&["--per-class", "0"]);
    assert!(String::from_utf8_lossy(&zero.stderr).contains("--per-class"));
    let table = ok(&transfer(&["--per-class", "4,all", "--seeds", "2"]));
    for method in [
        "reuse",
        "fresh",
        "random_path",
        "linear_readout",
        "boosted_trees",
    ] {
        assert!(table.contains(method), "{method}: {table}");
    }
    let dir = tmp.path().join("run/transfer");
    let csv = std::fs::read_to_string(dir.join("transfer.csv")).unwrap();
    // Two sizes, two seeds, five methods; four images per class train in the small draws.
    assert_eq!(csv.lines().count(), 1 + 2 * 2 * 5, "{csv}");
    assert!(
        csv.lines()
            .filter(|l| l.starts_with("4,"))
            .all(|l| l.split(',').nth(2) == Some("8")),
        "{csv}"
    );
    assert!(dir.join("transfer.png").exists() && dir.join("transfer.svg").exists());
    let report = std::fs::read_to_string(tmp.path().join("run/report.html")).unwrap();
    assert!(report.contains("<h2>Transfer</h2>"));
    // A second call reads every finished draw back: the same table.
    assert_eq!(
        ok(&transfer(&["--per-class", "4,all", "--seeds", "2"])),
        table
    );
}
