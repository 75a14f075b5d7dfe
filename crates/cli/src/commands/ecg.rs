//! `medpath ecg ...`: inspect WFDB records, cut beats into images, generate synthetic records.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use medpath_ecg::{
    BeatAugment, BeatOptions, LeadChoice, Normalization, SynthOptions, ViewPlan,
    export_beat_images, parse_lead_list, write_synthetic_set,
};
use medpath_wfdb::{Record, RecordPath};
use serde::Serialize;

use crate::output::emit;
use crate::progress;
use std::fmt::Write as _;

/// The `ecg` subcommands.
#[derive(Subcommand)]
pub enum EcgCommand {
    /// Summarise WFDB records: sampling rate, length, signals, checksums, annotation counts.
    Inspect(InspectArgs),
    /// Cut annotated beats out of records and write them as an ImageFolder of PNG images.
    Beats(BeatsArgs),
    /// Write synthetic WFDB records with N, A, L and R beats (for trying things out and tests).
    Synth(SynthArgs),
}

/// Arguments of `medpath ecg inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// Records (`dir/100` or `dir/100.hea`) or folders of records.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print one JSON array with an object per record instead of a table.
    #[arg(long)]
    json: bool,
}

/// Amplitude normalisation choices on the command line.
#[derive(Clone, Copy, ValueEnum)]
enum NormalizeArg {
    /// Millivolts, the same scale for every record (the paper's way).
    None,
    /// Scale each record's leads to a common median QRS amplitude.
    Record,
}

/// Arguments of `medpath ecg beats`.
#[derive(Args)]
pub struct BeatsArgs {
    /// Folder of WFDB records with `.atr` annotations (e.g. MIT-BIH).
    #[arg(long)]
    mitdb: PathBuf,
    /// Output folder: `OUT/<class>/<record>_<sample>.png` and `OUT/beats.csv`.
    #[arg(long)]
    out: PathBuf,
    /// Beat classes (annotation symbols), comma-separated.
    #[arg(long, default_value = "A,L,R", value_delimiter = ',')]
    classes: Vec<String>,
    /// Only these records, comma-separated (default: every record in the folder).
    #[arg(long, value_delimiter = ',')]
    records: Option<Vec<String>>,
    /// Image side in pixels.
    #[arg(long, default_value_t = 128)]
    size: u32,
    /// The one lead to draw: a name, `#INDEX`, or alternatives `A|B` (default: MLII, else the first signal).
    #[arg(long, conflicts_with = "leads")]
    lead: Option<String>,
    /// Several leads, comma-separated, each drawn into its own image channel (at most 3), e.g.
    /// `MLII,V1`. Records without one of them are skipped and named in the summary.
    #[arg(long)]
    leads: Option<String>,
    /// Window before and after the R peak in milliseconds.
    #[arg(long, default_value = "250,450", value_delimiter = ',')]
    window_ms: Vec<f64>,
    /// Also show N neighbouring beats on each side (the window widens by N local mean RR intervals
    /// per side), so that prematurity is visible.
    #[arg(long, default_value_t = 0)]
    context: usize,
    /// Amplitude normalisation.
    #[arg(long, value_enum, default_value = "none")]
    normalize: NormalizeArg,
    /// Pictures per beat: 1 = the beat alone; more adds augmented views beside it
    /// (`<record>_<sample>_v<k>.png`: amplitude ±20 %, baseline ±0.1 mV, time stretch ±10 %,
    /// noise 0.02 mV).
    #[arg(long, default_value_t = 1)]
    views: usize,
    /// Seed of the augmented views.
    #[arg(long, default_value_t = 0)]
    view_seed: u64,
}

/// Arguments of `medpath ecg synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Output folder for the records (`s001.hea`, `s001.dat`, `s001.atr`, ...).
    #[arg(long)]
    out: PathBuf,
    /// Number of records; conduction types cycle normal (N with A), LBBB (L), RBBB (R).
    #[arg(long, default_value_t = 6)]
    records: usize,
    /// Length of each record in seconds.
    #[arg(long, default_value_t = 120.0)]
    seconds: f64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs an `ecg` subcommand.
pub fn run(command: EcgCommand) -> Result<ExitCode> {
    match command {
        EcgCommand::Inspect(args) => inspect(args),
        EcgCommand::Beats(args) => beats(args),
        EcgCommand::Synth(args) => synth(args),
    }
}

/// Expands record paths and folders into a sorted, de-duplicated record list.
fn expand_records(paths: &[PathBuf]) -> Result<Vec<RecordPath>> {
    let mut records = Vec::new();
    for path in paths {
        if path.is_dir() {
            let found = RecordPath::list_dir(path)?;
            if found.is_empty() {
                bail!(
                    "{}: no WFDB records (.hea files) in this folder",
                    path.display()
                );
            }
            records.extend(found);
        } else {
            records.push(RecordPath::new(path));
        }
    }
    records.dedup();
    Ok(records)
}

/// What `inspect` reports for one record.
#[derive(Serialize)]
struct RecordSummary {
    record: String,
    fs: serde_json::Number,
    samples: usize,
    signals: Vec<String>,
    checksums_ok: bool,
    counts: BTreeMap<String, usize>,
}

/// A JSON number that prints integral values without a fraction (`360`, not `360.0`).
fn json_number(x: f64) -> serde_json::Number {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        serde_json::Number::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

fn summarise(path: &RecordPath) -> Result<RecordSummary> {
    let record = Record::read(&path.dir.join(&path.name))?;
    let atr = path.file("atr");
    let mut counts = BTreeMap::new();
    if atr.exists() {
        for annotation in record.read_annotations("atr")? {
            *counts.entry(annotation.symbol()).or_insert(0) += 1;
        }
    }
    Ok(RecordSummary {
        record: path.name.clone(),
        fs: json_number(record.fs()),
        samples: record.n_samples(),
        signals: record.signal_names(),
        checksums_ok: record.checksums().iter().all(|c| c.ok()),
        counts,
    })
}

fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let records = expand_records(&args.paths)?;
    let mut summaries = Vec::new();
    let mut failures = 0usize;
    for path in &records {
        match summarise(path) {
            Ok(summary) => summaries.push(serde_json::to_value(summary)?),
            Err(error) => {
                failures += 1;
                eprintln!("error: {error:#}");
                summaries.push(
                    serde_json::json!({ "record": path.name, "error": format!("{error:#}") }),
                );
            }
        }
    }
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&summaries)?))?;
    } else {
        emit(&inspect_table(&summaries))?;
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn inspect_table(summaries: &[serde_json::Value]) -> String {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<10} {:>6} {:>9} {:<12} {:<9} annotations",
        "record", "fs", "samples", "signals", "checksums"
    );
    for s in summaries {
        if let Some(error) = s.get("error") {
            let _ = writeln!(
                table,
                "{:<10} unreadable: {}",
                s["record"].as_str().unwrap_or("?"),
                error.as_str().unwrap_or("")
            );
            continue;
        }
        let signals: Vec<&str> = s["signals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str())
            .collect();
        let counts: Vec<String> = s["counts"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect();
        let _ = writeln!(
            table,
            "{:<10} {:>6} {:>9} {:<12} {:<9} {}",
            s["record"].as_str().unwrap_or("?"),
            s["fs"],
            s["samples"],
            signals.join("/"),
            if s["checksums_ok"].as_bool() == Some(true) {
                "ok"
            } else {
                "MISMATCH"
            },
            counts.join(" ")
        );
    }
    table
}

fn beat_options(args: &BeatsArgs) -> Result<BeatOptions> {
    let mut options = BeatOptions::paper();
    options.classes = args
        .classes
        .iter()
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if let Some(lead) = &args.lead {
        options.leads = vec![LeadChoice::parse(lead)?];
    }
    if let Some(leads) = &args.leads {
        options.leads = parse_lead_list(leads)?;
    }
    let [before_ms, after_ms] = args.window_ms[..] else {
        bail!(
            "--window-ms takes two numbers, BEFORE,AFTER (e.g. 250,450), got {:?}",
            args.window_ms
        );
    };
    options.before_s = before_ms / 1000.0;
    options.after_s = after_ms / 1000.0;
    options.context = args.context;
    options.normalization = match args.normalize {
        NormalizeArg::None => Normalization::None,
        NormalizeArg::Record => Normalization::Record,
    };
    options.validate()?;
    Ok(options)
}

fn select_records(dir: &Path, only: Option<&[String]>) -> Result<Vec<RecordPath>> {
    let all = RecordPath::list_dir(dir)
        .with_context(|| format!("listing records in {}", dir.display()))?;
    let Some(only) = only else {
        if all.is_empty() {
            bail!(
                "{}: no WFDB records (.hea files) in this folder",
                dir.display()
            );
        }
        return Ok(all);
    };
    only.iter()
        .map(|name| {
            all.iter()
                .find(|r| r.name == *name)
                .cloned()
                .with_context(|| format!("record {name} not found in {}", dir.display()))
        })
        .collect()
}

fn beats(args: BeatsArgs) -> Result<ExitCode> {
    let options = beat_options(&args)?;
    let records = select_records(&args.mitdb, args.records.as_deref())?;
    let bar = progress::bar(records.len(), "beats");
    let plan = ViewPlan {
        views: args.views,
        augment: BeatAugment::default(),
        seed: args.view_seed,
        first_lead: false,
    };
    let summary = export_beat_images(
        &records,
        &options,
        args.size,
        &plan,
        &args.out,
        &mut |done, _, name| {
            bar.set_position(done as u64);
            bar.set_message(format!("record {name}"));
        },
    )?;
    bar.finish_and_clear();
    for (record, why) in &summary.skipped_records {
        eprintln!("warning: record {record} skipped: {why}");
    }
    emit(&format!(
        "{}\nwritten to {}\n",
        summary.line(),
        args.out.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn synth(args: SynthArgs) -> Result<ExitCode> {
    if args.records == 0 || args.seconds.is_nan() || args.seconds < 5.0 {
        bail!("need at least one record of at least 5 seconds");
    }
    let options = SynthOptions {
        records: args.records,
        duration_s: args.seconds,
        seed: args.seed,
    };
    let paths = write_synthetic_set(&args.out, &options)?;
    emit(&format!(
        "{} synthetic records written to {}\n",
        paths.len(),
        args.out.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
