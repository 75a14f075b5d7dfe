//! The one way a record becomes classifier inputs: every beat of a record (at its annotations,
//! or at R peaks found by the QRS detector when it has none) cut, normalised, measured and drawn
//! as the model was trained to see it. `medpath run` (training, validation and test records)
//! and `medpath predict` both go through [`EcgPipeline::transform`], so a test record of a run
//! is read exactly as a user's record is.

use std::path::Path;

use medpath_wfdb::{Annotation, Record, RecordPath, code_of};
use serde::{Deserialize, Serialize};

use crate::augment::BeatAugment;
use crate::beats::{Beat, BeatOptions, all_beats};
use crate::conduction::conduction_features;
use crate::error::{EcgError, Result};
use crate::export::first_lead_only;
use crate::qrs::detect_qrs;
use crate::relative::relative_features;
use crate::render::{BeatImage, TraceStyle, render_traces};
use crate::timing::rhythm_features;

/// A value a beat carries beside its picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SideInput {
    /// Six RR ratios ([`rhythm_features`]).
    Rhythm,
    /// Each lead's beat window averaged down to [`BeatOptions::signal_points`] values.
    Signal,
    /// Seven measurements per lead ([`crate::lead_measurements`]).
    Morphology,
    /// The beat against its own record: timing against the record's rhythm, and per lead its
    /// QRS and P-wave span against the record's median beat ([`crate::relative`]).
    Relative,
    /// Conduction measured on the median beat of the beat's block of the record: QRS width,
    /// terminal and initial forces ([`crate::conduction`]).
    Conduction,
}

impl SideInput {
    /// Names of the values this input adds for a record drawn with `leads` leads and
    /// `signal_points` points per lead.
    pub fn names(self, leads: usize, signal_points: usize) -> Vec<String> {
        match self {
            SideInput::Rhythm => crate::timing::RHYTHM_FEATURES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            SideInput::Signal => (0..leads)
                .flat_map(|l| (0..signal_points).map(move |p| format!("lead{l}[{p}]")))
                .collect(),
            SideInput::Morphology => (0..leads)
                .flat_map(|l| {
                    crate::morphology::MEASUREMENTS
                        .iter()
                        .map(move |m| format!("lead{l}.{m}"))
                })
                .collect(),
            SideInput::Relative => crate::relative::relative_names(leads),
            SideInput::Conduction => crate::conduction::conduction_names(leads),
        }
    }
}

/// Which picture of a beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Picture {
    /// The beat as it is, every lead drawn.
    Own,
    /// The beat with its first lead alone (the later leads flat).
    FirstLead,
    /// Augmented view `k` (from 1) of the beat, for training.
    View(usize),
}

/// Where a record's beat positions came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BeatsFrom {
    /// The record's reference annotations (`.atr`).
    Annotations,
    /// R peaks found by the QRS detector (the record has no annotations).
    QrsDetector,
}

impl BeatsFrom {
    /// In words, as `predict` prints it.
    pub fn describe(self) -> &'static str {
        match self {
            BeatsFrom::Annotations => "annotations",
            BeatsFrom::QrsDetector => "qrs detector",
        }
    }
}

/// Why a beat's signal cannot be classified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalProblem {
    /// In words.
    pub reason: String,
    /// The measured amount.
    pub score: f64,
    /// The limit it crossed.
    pub threshold: f64,
}

/// Least peak-to-peak amplitude of a beat's first lead, in mV, below which its signal counts as
/// flat (a QRS complex is at least a few tenths of a millivolt).
pub const FLAT_MV: f32 = 0.1;
/// Shortest run of equal samples at a window's extreme, in seconds, that counts as clipping.
pub const CLIPPED_S: f64 = 0.04;

/// Why `beat`'s signal (sampled at `fs`) cannot be classified: flat (a lead off), or clipped at
/// the recorder's range (samples stuck at the window's maximum or minimum); `None` when it can.
pub fn signal_problem(beat: &Beat, fs: f64) -> Option<SignalProblem> {
    let trace = beat.traces.first()?;
    let max = trace.iter().copied().fold(f32::MIN, f32::max);
    let min = trace.iter().copied().fold(f32::MAX, f32::min);
    if max - min < FLAT_MV {
        return Some(SignalProblem {
            reason: format!(
                "flat signal: {:.3} mV peak to peak in the beat window, under {FLAT_MV} mV",
                max - min
            ),
            score: f64::from(max - min),
            threshold: f64::from(FLAT_MV),
        });
    }
    let longest = |extreme: f32| {
        let (mut best, mut run) = (0usize, 0usize);
        for v in trace {
            run = if *v == extreme { run + 1 } else { 0 };
            best = best.max(run);
        }
        best
    };
    let stuck = longest(max).max(longest(min)) as f64 / fs;
    (stuck >= CLIPPED_S).then(|| SignalProblem {
        reason: format!(
            "clipped signal: stuck at its extreme for {:.0} ms (at least {:.0} ms counts as clipping)",
            stuck * 1000.0,
            CLIPPED_S * 1000.0
        ),
        score: stuck,
        threshold: CLIPPED_S,
    })
}

/// A record read for the pipeline: its signals and its beat positions.
pub struct RecordInput {
    /// The record.
    pub record: Record,
    /// Its beat annotations, or detected R peaks as `Q` beats.
    pub annotations: Vec<Annotation>,
    /// Which of the two.
    pub beats_from: BeatsFrom,
}

impl RecordInput {
    /// Reads the record at `path` (a `.hea` file or the record's stem) and its `.atr`
    /// annotations; without them, R peaks are found by the QRS detector on `detect_on`'s signal.
    pub fn read(path: &Path, detect_on: &crate::LeadChoice) -> Result<RecordInput> {
        let record_path = RecordPath::new(path);
        let record = Record::read(&record_path.dir.join(&record_path.name))?;
        if record_path.file("atr").exists() {
            let annotations = record.read_annotations("atr")?;
            return Ok(RecordInput {
                record,
                annotations,
                beats_from: BeatsFrom::Annotations,
            });
        }
        let names = record.signal_names();
        let lead = detect_on
            .resolve_signal(&names)
            .ok_or_else(|| EcgError::MissingLead {
                record: record_path.name.clone(),
                lead: detect_on.to_string(),
                available: names.join(", "),
            })?;
        let q = code_of("Q").expect("Q is a WFDB beat code");
        let annotations = detect_qrs(&record.physical(lead), record.fs())
            .into_iter()
            .map(|s| Annotation::new(s, q))
            .collect();
        Ok(RecordInput {
            record,
            annotations,
            beats_from: BeatsFrom::QrsDetector,
        })
    }
}

/// Every beat of one record as the pipeline gives it.
#[derive(Debug, Clone)]
pub struct TransformedRecord {
    /// Record name.
    pub name: String,
    /// Sampling rate in Hz.
    pub fs: f64,
    /// Where the beat positions came from.
    pub beats_from: BeatsFrom,
    /// Signal names of the leads drawn (`-` for a blank one).
    pub lead_names: Vec<String>,
    /// Every beat whose window fits in the record, in time order.
    pub beats: Vec<Beat>,
    /// Each beat's side inputs, as measured (not standardised), in the order of
    /// [`EcgPipeline::side_names`].
    pub side: Vec<Vec<f32>>,
    /// Each beat's signal problem, if it has one (such beats get no answer).
    pub problems: Vec<Option<SignalProblem>>,
    /// Beats whose window runs past the record's ends.
    pub skipped_at_edges: usize,
}

impl TransformedRecord {
    /// Index of the beat whose R peak is at `sample`.
    pub fn beat_at(&self, sample: i64) -> Option<usize> {
        self.beats.binary_search_by_key(&sample, |b| b.sample).ok()
    }

    /// Time of beat `i`'s R peak, in seconds from the record's start.
    pub fn seconds(&self, i: usize) -> f64 {
        self.beats[i].sample as f64 / self.fs
    }

    /// Indices of up to `count` beats evenly spaced over the record (of any kind; no labels):
    /// the beats whose mean features centre the record's.
    pub fn centre_beats(&self, count: usize) -> Vec<usize> {
        let n = self.beats.len();
        if n <= count {
            return (0..n).collect();
        }
        (0..count).map(|i| i * n / count).collect()
    }
}

/// How a record becomes beat pictures and side inputs: what is cut, how it is drawn, what is
/// measured. Fitted nothing itself (per-record normalisation is computed from each record); it
/// is saved with a model so that `predict` reads a record exactly as training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EcgPipeline {
    /// Leads, window, context, amplitude normalisation and signal points (its `classes` are not
    /// used: every beat is cut).
    pub beats: BeatOptions,
    /// Side of the square pictures, in pixels.
    pub size: u32,
    /// Side inputs, in order.
    pub side_inputs: Vec<SideInput>,
    /// Whether each beat is also drawn with its first lead alone ([`Picture::FirstLead`]).
    pub first_lead: bool,
    /// How augmented training views differ from the beat.
    pub augment: BeatAugment,
    /// Seed of the augmented views.
    pub seed: u64,
}

impl EcgPipeline {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        self.beats.validate()?;
        self.augment.validate()?;
        if self.size < 16 {
            return Err(EcgError::Invalid(format!(
                "image size {}: at least 16 pixels",
                self.size
            )));
        }
        if self.first_lead && self.beats.leads.len() < 2 {
            return Err(EcgError::Invalid(
                "a first-lead picture needs at least two leads".into(),
            ));
        }
        Ok(())
    }

    /// Names of the side inputs each beat carries, in order.
    pub fn side_names(&self) -> Vec<String> {
        let leads = self.beats.leads.len();
        self.side_inputs
            .iter()
            .flat_map(|s| s.names(leads, self.beats.signal_points))
            .collect()
    }

    /// Every beat of `input` cut, measured and checked (pictures are drawn on demand with
    /// [`EcgPipeline::picture`]). Fails when the record lacks a lead the pipeline draws.
    pub fn transform(&self, input: &RecordInput) -> Result<TransformedRecord> {
        let record = &input.record;
        let beats = all_beats(record, &input.annotations, &self.beats).map_err(|m| {
            EcgError::MissingLead {
                record: record.path.name.clone(),
                lead: m.lead,
                available: m.available.join(", "),
            }
        })?;
        let median_rr = beats.median_rr.unwrap_or(1.0);
        let of_record = |input: SideInput, measure: fn(&[Beat], f64) -> Vec<Vec<f32>>| {
            if self.side_inputs.contains(&input) {
                measure(&beats.beats, record.fs())
            } else {
                Vec::new()
            }
        };
        let relative = of_record(SideInput::Relative, relative_features);
        let conduction = of_record(SideInput::Conduction, conduction_features);
        let side = beats
            .beats
            .iter()
            .enumerate()
            .map(|(i, beat)| self.side_of(beat, median_rr, (relative.get(i), conduction.get(i))))
            .collect();
        let problems = beats
            .beats
            .iter()
            .map(|beat| signal_problem(beat, record.fs()))
            .collect();
        Ok(TransformedRecord {
            name: record.path.name.clone(),
            fs: record.fs(),
            beats_from: input.beats_from,
            lead_names: beats.lead_names,
            beats: beats.beats,
            side,
            problems,
            skipped_at_edges: beats.skipped_at_edges,
        })
    }

    /// Reads the record at `path` (annotations, else detected beats) and transforms it.
    pub fn read_and_transform(&self, path: &Path) -> Result<TransformedRecord> {
        let detect_on = self
            .beats
            .leads
            .first()
            .ok_or_else(|| EcgError::Invalid("no leads chosen".into()))?;
        self.transform(&RecordInput::read(path, detect_on)?)
    }

    /// The raw side inputs of `beat` in a record whose median RR is `median_rr` seconds, with
    /// its values measured against the record and on its block (when the pipeline reads them).
    fn side_of(
        &self,
        beat: &Beat,
        median_rr: f64,
        (relative, conduction): (Option<&Vec<f32>>, Option<&Vec<f32>>),
    ) -> Vec<f32> {
        let mut side = Vec::new();
        for input in &self.side_inputs {
            match input {
                SideInput::Rhythm => {
                    side.extend_from_slice(&rhythm_features(&beat.timing, median_rr))
                }
                SideInput::Signal => side.extend_from_slice(&beat.signal),
                SideInput::Morphology => side.extend_from_slice(&beat.measurements),
                SideInput::Relative => side.extend(relative.into_iter().flatten().copied()),
                SideInput::Conduction => side.extend(conduction.into_iter().flatten().copied()),
            }
        }
        side
    }

    /// Picture `which` of `beat`, drawn in memory.
    pub fn picture(&self, beat: &Beat, which: Picture) -> Result<BeatImage> {
        let style = TraceStyle::for_size(self.size);
        match which {
            Picture::Own => render_traces(&beat.traces, &style),
            Picture::FirstLead => render_traces(&first_lead_only(&beat.traces), &style),
            Picture::View(k) => render_traces(&self.augment.traces(beat, self.seed, k), &style),
        }
    }
}
