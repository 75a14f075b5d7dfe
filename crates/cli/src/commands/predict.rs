//! `medpath predict --model RUN_DIR INPUT...`: classify new images and WFDB records.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use medpath_infer::predict::{Answers, Prediction, Predictor, RecordSummary, expand_inputs};

use crate::output::emit;

/// Arguments of `medpath predict`.
#[derive(Args)]
pub struct PredictArgs {
    /// A run folder from `medpath run` or `medpath demo` (or its bundle/ folder).
    #[arg(long)]
    model: PathBuf,
    /// Image files, folders of images, or WFDB records (`DIR/118`, `118.hea`, a folder of records).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Print one JSON document (predictions and record summaries) instead of CSV.
    #[arg(long)]
    json: bool,
    /// Also write, for each classified image (and the first beats of each answered class of a
    /// record), an occlusion heat map into this folder: `<name>_heat.png` (the input as the
    /// model sees it, with the regions whose covering lowers the answer most in red to yellow)
    /// and `<name>_heat.json` (the map's numbers).
    #[arg(long, value_name = "OUT_DIR")]
    explain: Option<PathBuf>,
    /// The encoder weights, where not at the path the model names (a model moved to another
    /// machine); they must hash to what the model was trained with.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
}

fn field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn csv(predictions: &[Prediction]) -> String {
    let mut out = String::from(
        "input,sample,annotation,task,class,probability,routed_task,routing_probability,rejected,follow_up_task,follow_up_class,follow_up_probability\n",
    );
    let text = |v: &Option<String>| v.as_deref().map_or(String::new(), field);
    let number = |v: Option<f32>| v.map_or(String::new(), |p| format!("{p:.4}"));
    for p in predictions {
        let follow = p.follow_up.as_ref();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            field(&p.input),
            p.sample.map_or(String::new(), |s| s.to_string()),
            text(&p.annotation),
            text(&p.task),
            text(&p.class),
            number(p.probability),
            text(&p.routed_task),
            number(p.routing_probability),
            p.rejected
                .as_ref()
                .map_or(String::new(), |r| field(&r.reason)),
            follow.map_or(String::new(), |f| field(&f.task)),
            follow.map_or(String::new(), |f| field(&f.class)),
            number(follow.map(|f| f.probability)),
        );
    }
    out
}

/// Per follow-up task, how many inputs it was asked about and what it answered, in words.
fn follow_up_lines(predictions: &[Prediction]) -> Vec<String> {
    let mut asked: BTreeMap<(String, String, String), BTreeMap<String, usize>> = BTreeMap::new();
    for p in predictions {
        if let (Some(f), Some(task), Some(class)) = (&p.follow_up, &p.task, &p.class) {
            let key = (f.task.clone(), task.clone(), class.clone());
            *asked
                .entry(key)
                .or_default()
                .entry(f.class.clone())
                .or_default() += 1;
        }
    }
    asked
        .into_iter()
        .map(|((follow, task, class), counts)| {
            let total: usize = counts.values().sum();
            let each: Vec<String> = counts.iter().map(|(c, n)| format!("{c} {n}")).collect();
            format!(
                "{total} input(s) answered {class} by {task} were also asked {follow}: {}",
                each.join(", ")
            )
        })
        .collect()
}

/// Every annotation symbol of a record's summary, answered or rejected, in order.
fn annotation_symbols(summary: &RecordSummary) -> BTreeSet<&String> {
    summary
        .by_annotation
        .keys()
        .chain(summary.rejected_by_annotation.keys())
        .collect()
}

/// Runs the predictions.
pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let predictor = Predictor::open_with_weights(&args.model, args.weights.as_deref())?;
    let loaded = started.elapsed().as_secs_f64();
    let (images, records) = expand_inputs(&args.inputs)?;
    let mut predictions = predictor.images(&images, args.explain.as_deref())?;
    let mut summaries = Vec::new();
    for record in &records {
        let (rows, summary) = predictor.record(record, args.explain.as_deref())?;
        predictions.extend(rows);
        summaries.push(summary);
    }
    let answered = started.elapsed().as_secs_f64() - loaded;
    let rejected = predictions.iter().filter(|p| p.rejected.is_some()).count();
    let notes = predictor.notes(&predictions);
    if args.json {
        let doc = Answers::new(predictions, summaries, notes);
        emit(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        emit(&csv(&predictions))?;
        eprintln!(
            "{} inputs, {rejected} rejected (not classified: unlike every task's inputs, or a flat or clipped beat)",
            predictions.len()
        );
        eprintln!(
            "model loaded in {loaded:.2} s; inputs read and answered in {answered:.2} s ({:.1} per second)",
            predictions.len() as f64 / answered.max(1e-9)
        );
        for note in &notes {
            eprintln!("{note}");
        }
        for line in follow_up_lines(&predictions) {
            eprintln!("{line}");
        }
        for s in &summaries {
            eprintln!(
                "record {}: {} beats (positions from {}); answered {:?}; rejected {}",
                s.record, s.beats, s.beats_from, s.predicted, s.rejected
            );
            eprintln!(
                "  the model knows only the classes {}: a beat of any other kind is given one of them",
                s.model_classes.join(", ")
            );
            for symbol in annotation_symbols(s) {
                let counts = s.by_annotation.get(symbol).cloned().unwrap_or_default();
                let rejected = s.rejected_by_annotation.get(symbol);
                let rejected = rejected
                    .map(|n| format!(", rejected {n}"))
                    .unwrap_or_default();
                eprintln!("  annotated {symbol}: predicted {counts:?}{rejected}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
