//! Writing beats as an ImageFolder: `OUT/<class>/<record>_<sample>.png` plus `OUT/beats.csv`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use medpath_wfdb::{Record, RecordPath, code_of, name_of};

use crate::augment::BeatAugment;
use crate::beats::{Beat, BeatOptions, record_beats};
use crate::error::{EcgError, Result};
use crate::render::{TraceStyle, render_traces};
use crate::timing::rhythm_features;

/// Name of the beat table written next to the class folders.
pub const BEATS_CSV: &str = "beats.csv";
/// Name of the file recording the options an export was made with.
pub const OPTIONS_JSON: &str = "beats_options.json";
/// Columns of [`BEATS_CSV`].
pub const CSV_HEADER: &str =
    "record,sample,symbol,class,path,leads,prev_rr_s,next_rr_s,local_rr_s,median_rr_s,views";

/// Augmented views drawn beside each beat (training data).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ViewPlan {
    /// Pictures per beat: 1 = the beat alone; view `k >= 1` is written as
    /// `<record>_<sample>_v<k>.png`.
    pub views: usize,
    /// How views differ from the beat.
    pub augment: BeatAugment,
    /// Seed of the views.
    pub seed: u64,
    /// Also draw each beat with its first lead alone (the later leads flat) as
    /// `<record>_<sample>_first.png`: the picture a task's first-lead classes are read from.
    pub first_lead: bool,
}

/// One beat written by an export.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedBeat {
    /// Record name.
    pub record: String,
    /// Sample of the R peak.
    pub sample: i64,
    /// Time of the R peak in seconds from the record's start.
    pub seconds: f64,
    /// Annotation symbol.
    pub symbol: String,
    /// The picture, relative to the export folder.
    pub path: String,
    /// Augmented views, relative to the export folder.
    pub views: Vec<String>,
    /// The beat drawn with its first lead alone, relative to the export folder (when the plan
    /// asks for it).
    pub first_lead: Option<String>,
    /// [`rhythm_features`] of the beat.
    pub rhythm: [f32; 6],
    /// [`Beat::signal`].
    pub signal: Vec<f32>,
    /// [`Beat::measurements`].
    pub measurements: Vec<f32>,
}

/// What an export did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExportSummary {
    /// Records read.
    pub records: usize,
    /// Images written per class folder.
    pub written: BTreeMap<String, usize>,
    /// Beats skipped because their window runs past a record's ends.
    pub skipped_at_edges: usize,
    /// Records passed over, with the reason (a missing lead).
    pub skipped_records: Vec<(String, String)>,
    /// Every beat written, in the order of [`BEATS_CSV`].
    pub beats: Vec<ExportedBeat>,
}

impl ExportSummary {
    /// Images written in all.
    pub fn total(&self) -> usize {
        self.written.values().sum()
    }

    /// One line for a terminal: counts per class and what was skipped.
    pub fn line(&self) -> String {
        let per_class: Vec<String> = self
            .written
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let mut line = format!(
            "{} beat images from {} records ({}); {} beats skipped at record edges",
            self.total(),
            self.records,
            per_class.join(", "),
            self.skipped_at_edges
        );
        if !self.skipped_records.is_empty() {
            let names: Vec<&str> = self
                .skipped_records
                .iter()
                .map(|(r, _)| r.as_str())
                .collect();
            let _ = write!(
                line,
                "; records without the chosen leads: {}",
                names.join(" ")
            );
        }
        line
    }
}

/// The folder name for a beat symbol: the symbol itself when it is alphanumeric (`A`, `L`),
/// otherwise the WFDB mnemonic (`/` becomes `PACE`).
pub fn class_folder(symbol: &str) -> String {
    if !symbol.is_empty() && symbol.chars().all(|c| c.is_ascii_alphanumeric()) {
        symbol.to_string()
    } else {
        code_of(symbol)
            .map(name_of)
            .unwrap_or_else(|| "OTHER".into())
    }
}

fn seconds(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.4}")).unwrap_or_default()
}

/// Quotes a CSV field when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Prepares `out`: creates it, or, when it holds an earlier export, removes exactly the images
/// (and their views) that export listed. A non-empty folder that is not an export is refused, so nothing of the
/// user's is lost.
fn prepare_out_dir(out: &Path) -> Result<()> {
    let csv = out.join(BEATS_CSV);
    if csv.exists() {
        let text = std::fs::read_to_string(&csv).map_err(|e| EcgError::io(&csv, e))?;
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split(',').collect();
            let Some(rel) = fields.get(4) else { continue };
            let old = out.join(rel);
            if !(old.starts_with(out) && old.extension().is_some_and(|e| e == "png")) {
                continue;
            }
            let views: usize = fields.get(10).and_then(|v| v.parse().ok()).unwrap_or(1);
            for view in 1..views {
                let _ = std::fs::remove_file(view_path(&old, view));
            }
            let _ = std::fs::remove_file(first_lead_path(&old));
            let _ = std::fs::remove_file(old);
        }
    } else if out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(EcgError::Invalid(format!(
            "{} is not empty and holds no {BEATS_CSV}: choose an empty or new folder",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| EcgError::io(out, e))
}

/// The PNG beside the beat drawn at `path` whose name adds `suffix` to the beat's.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}_{suffix}.png"))
}

/// The file of augmented view `view` of the beat drawn at `path`.
fn view_path(path: &Path, view: usize) -> PathBuf {
    beside(path, &format!("v{view}"))
}

/// The file of the first-lead picture of the beat drawn at `path`.
fn first_lead_path(path: &Path) -> PathBuf {
    beside(path, "first")
}

/// A beat's traces with every lead after the first flat (zero), as lead dropout draws them.
pub fn first_lead_only(traces: &[Vec<f32>]) -> Vec<Vec<f32>> {
    traces
        .iter()
        .enumerate()
        .map(|(lead, trace)| {
            if lead == 0 {
                trace.clone()
            } else {
                vec![0.0; trace.len()]
            }
        })
        .collect()
}

/// Reads each record and its `atr` annotations, cuts the chosen beats, draws each as a
/// `size`-pixel PNG (plus `plan.views - 1` augmented views) and writes the ImageFolder and
/// [`BEATS_CSV`] into `out`. `progress` is called after each record with (records done, records
/// in all, record name). The same inputs always give byte-identical files.
pub fn export_beat_images(
    records: &[RecordPath],
    options: &BeatOptions,
    size: u32,
    plan: &ViewPlan,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<ExportSummary> {
    options.validate()?;
    plan.augment.validate()?;
    if size < 16 {
        return Err(EcgError::Invalid(format!(
            "image size {size}: at least 16 pixels"
        )));
    }
    prepare_out_dir(out)?;
    let style = TraceStyle::for_size(size);
    let mut summary = ExportSummary::default();
    let mut csv = String::from(CSV_HEADER);
    csv.push('\n');
    for (done, path) in records.iter().enumerate() {
        let record = Record::read(&path.dir.join(&path.name))?;
        let annotations = record.read_annotations("atr")?;
        summary.records += 1;
        match record_beats(&record, &annotations, options) {
            Err(missing) => summary.skipped_records.push((
                path.name.clone(),
                format!(
                    "no lead {} (has {})",
                    missing.lead,
                    missing.available.join(", ")
                ),
            )),
            Ok(beats) => {
                let drawing = (&style, plan, out);
                export_record(&record, &beats, drawing, &mut summary, &mut csv)?;
            }
        }
        progress(done + 1, records.len(), &path.name);
    }
    let csv_path = out.join(BEATS_CSV);
    std::fs::write(&csv_path, csv).map_err(|e| EcgError::io(&csv_path, e))?;
    let options_path = out.join(OPTIONS_JSON);
    let json = serde_json::json!({
        "size": size,
        "options": options,
        "views": plan.views.max(1),
        "augment": plan.augment,
        "seed": plan.seed,
    });
    std::fs::write(&options_path, format!("{json:#}\n"))
        .map_err(|e| EcgError::io(&options_path, e))?;
    Ok(summary)
}

/// Draws and writes every beat of `beats` (cut from `record`), adding a row per beat to `csv`
/// and to `summary`.
fn export_record(
    record: &Record,
    beats: &crate::beats::RecordBeats,
    (style, plan, out): (&TraceStyle, &ViewPlan, &Path),
    summary: &mut ExportSummary,
    csv: &mut String,
) -> Result<()> {
    summary.skipped_at_edges += beats.skipped_at_edges;
    let leads = beats.lead_names.join(";");
    let median_rr = beats.median_rr.unwrap_or(1.0);
    for beat in &beats.beats {
        let (relative, first_lead) = write_beat(beat, style, plan, out)?;
        *summary
            .written
            .entry(class_folder(&beat.symbol))
            .or_default() += 1;
        let t = &beat.timing;
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&beat.record),
            beat.sample,
            csv_field(&beat.symbol),
            class_folder(&beat.symbol),
            csv_field(&relative[0]),
            csv_field(&leads),
            seconds(t.prev_rr),
            seconds(t.next_rr),
            seconds(t.local_rr),
            seconds(beats.median_rr),
            relative.len()
        );
        summary.beats.push(ExportedBeat {
            record: beat.record.clone(),
            sample: beat.sample,
            seconds: beat.sample as f64 / record.fs(),
            symbol: beat.symbol.clone(),
            path: relative[0].clone(),
            views: relative[1..].to_vec(),
            first_lead,
            rhythm: rhythm_features(t, median_rr),
            signal: beat.signal.clone(),
            measurements: beat.measurements.clone(),
        });
    }
    Ok(())
}

/// Draws one beat to `out/<class>/<record>_<sample>.png` and its augmented views (and its
/// first-lead picture, when asked) beside it; returns the relative paths, the beat's first, and
/// the first-lead picture's.
fn write_beat(
    beat: &Beat,
    style: &TraceStyle,
    plan: &ViewPlan,
    out: &Path,
) -> Result<(Vec<String>, Option<String>)> {
    let class = class_folder(&beat.symbol);
    let dir: PathBuf = out.join(&class);
    std::fs::create_dir_all(&dir).map_err(|e| EcgError::io(&dir, e))?;
    let file = format!("{}_{}.png", beat.record, beat.sample);
    render_traces(&beat.traces, style)?.save_png(&dir.join(&file))?;
    let mut written = vec![format!("{class}/{file}")];
    for view in 1..plan.views.max(1) {
        let path = view_path(&dir.join(&file), view);
        render_traces(&plan.augment.traces(beat, plan.seed, view), style)?.save_png(&path)?;
        let name = path.file_name().expect("a file name").to_string_lossy();
        written.push(format!("{class}/{name}"));
    }
    let first_lead = if plan.first_lead {
        let path = first_lead_path(&dir.join(&file));
        render_traces(&first_lead_only(&beat.traces), style)?.save_png(&path)?;
        let name = path.file_name().expect("a file name").to_string_lossy();
        Some(format!("{class}/{name}"))
    } else {
        None
    };
    Ok((written, first_lead))
}
