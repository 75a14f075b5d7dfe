//! `medpath predict --model RUN_DIR INPUT...`: classify new images and WFDB records.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use medpath_experiment::predict::{Prediction, Predictor, expand_inputs};

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
        "input,sample,annotation,task,class,probability,routed_task,routing_probability\n",
    );
    for p in predictions {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{:.4},{},{:.4}",
            field(&p.input),
            p.sample.map_or(String::new(), |s| s.to_string()),
            p.annotation.as_deref().map_or(String::new(), field),
            field(&p.task),
            field(&p.class),
            p.probability,
            field(&p.routed_task),
            p.routing_probability
        );
    }
    out
}

/// Runs the predictions.
pub fn run(args: PredictArgs) -> Result<ExitCode> {
    let predictor = Predictor::open(&args.model)?;
    let (images, records) = expand_inputs(&args.inputs)?;
    let mut predictions = predictor.images(&images)?;
    let scratch = std::env::temp_dir().join(format!("medpath-predict-{}", std::process::id()));
    let mut summaries = Vec::new();
    for record in &records {
        let result = predictor.record(record, &scratch);
        let _ = std::fs::remove_dir_all(&scratch);
        let (rows, summary) = result?;
        predictions.extend(rows);
        summaries.push(summary);
    }
    if args.json {
        let doc = serde_json::json!({"predictions": predictions, "records": summaries});
        emit(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        emit(&csv(&predictions))?;
        for s in &summaries {
            eprintln!(
                "record {}: {} beats (positions from {}); predicted {:?}",
                s.record, s.beats, s.beats_from, s.predicted
            );
            eprintln!(
                "  the model knows only the classes {}: a beat of any other kind is given one of them",
                s.model_classes.join(", ")
            );
            for (symbol, counts) in &s.by_annotation {
                eprintln!("  annotated {symbol}: predicted {counts:?}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
