//! Cutting beats of chosen classes out of a record: R-peak-centred windows of the chosen leads,
//! baseline removed, optionally normalised per record, with each beat's RR timing.

use medpath_wfdb::{Annotation, Record};

use crate::error::{EcgError, Result};
use crate::leads::LeadChoice;
use crate::timing::{BeatTiming, beat_timings};

/// Amplitude normalisation applied before drawing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Normalization {
    /// Physical millivolts, the same scale for every beat of every record (the paper's way).
    #[default]
    None,
    /// Each lead of each record scaled so that its median QRS peak-to-peak amplitude is
    /// [`RECORD_TARGET_MV`].
    Record,
}

/// Median QRS peak-to-peak amplitude after per-record normalisation, in mV.
pub const RECORD_TARGET_MV: f32 = 1.5;
/// Half-width of the span around an R peak in which the QRS amplitude is measured, in seconds.
const QRS_HALF_WIDTH_S: f64 = 0.05;

/// What to cut: classes, leads, window and context.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BeatOptions {
    /// Annotation symbols to keep (`A`, `L`, `R`, ...).
    pub classes: Vec<String>,
    /// Leads to draw, one trace each.
    #[serde(serialize_with = "serialize_leads")]
    pub leads: Vec<LeadChoice>,
    /// Window before the R peak, seconds.
    pub before_s: f64,
    /// Window after the R peak, seconds.
    pub after_s: f64,
    /// Neighbouring beats to include on each side: the window widens by this many local mean RR
    /// intervals on each side, so normal neighbours sit at the same place in every picture and a
    /// premature beat's short preceding interval shows.
    pub context: usize,
    /// Amplitude normalisation.
    pub normalization: Normalization,
}

fn serialize_leads<S: serde::Serializer>(
    leads: &[LeadChoice],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(leads.iter().map(|l| l.to_string()))
}

impl BeatOptions {
    /// The paper's setting: classes A, L, R; lead MLII (else the first signal); 250 ms before and
    /// 450 ms after the R peak; no context; no normalisation.
    pub fn paper() -> BeatOptions {
        BeatOptions {
            classes: vec!["A".into(), "L".into(), "R".into()],
            leads: vec![LeadChoice::paper_default()],
            before_s: 0.25,
            after_s: 0.45,
            context: 0,
            normalization: Normalization::None,
        }
    }

    /// Checks the options make sense.
    pub fn validate(&self) -> Result<()> {
        if self.classes.is_empty() {
            return Err(EcgError::Invalid("no beat classes chosen".into()));
        }
        if self.leads.is_empty() || self.leads.len() > 3 {
            return Err(EcgError::Invalid(format!(
                "{} leads chosen: 1 to 3 fit in an image",
                self.leads.len()
            )));
        }
        if !(self.before_s >= 0.0 && self.after_s > 0.0 && self.before_s + self.after_s < 10.0) {
            return Err(EcgError::Invalid(format!(
                "window {} s before, {} s after: both must be >= 0 (after > 0) and together under 10 s",
                self.before_s, self.after_s
            )));
        }
        Ok(())
    }
}

/// One selected beat and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Beat {
    /// Record name.
    pub record: String,
    /// Sample number of the annotated R peak.
    pub sample: i64,
    /// Annotation symbol (the class).
    pub symbol: String,
    /// RR timing around the beat.
    pub timing: BeatTiming,
    /// One trace per lead (mV, baseline removed, normalised if asked).
    pub traces: Vec<Vec<f32>>,
}

/// The beats of one record, or why it gave none.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBeats {
    /// Beats of the chosen classes whose window fits in the record.
    pub beats: Vec<Beat>,
    /// Beats of the chosen classes skipped because the window runs past the record's ends.
    pub skipped_at_edges: usize,
    /// Signal names of the leads used.
    pub lead_names: Vec<String>,
}

/// Why a record was passed over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingLead {
    /// The lead asked for.
    pub lead: String,
    /// The signals the record has.
    pub available: Vec<String>,
}

fn median(values: &mut [f32]) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, f32::total_cmp);
    *m
}

/// Scale factor that brings a lead's median QRS peak-to-peak amplitude to [`RECORD_TARGET_MV`].
fn record_scale(signal: &[f32], beat_samples: &[i64], fs: f64) -> f32 {
    let half = (QRS_HALF_WIDTH_S * fs).round() as i64;
    let mut amplitudes: Vec<f32> = beat_samples
        .iter()
        .filter_map(|&s| {
            let (lo, hi) = (s - half, s + half + 1);
            (lo >= 0 && hi as usize <= signal.len()).then(|| {
                let w = &signal[lo as usize..hi as usize];
                let max = w.iter().copied().fold(f32::MIN, f32::max);
                let min = w.iter().copied().fold(f32::MAX, f32::min);
                max - min
            })
        })
        .collect();
    let typical = median(&mut amplitudes);
    if typical > 0.05 {
        RECORD_TARGET_MV / typical
    } else {
        1.0
    }
}

/// Cuts the beats of `options.classes` out of `record`. Fails with [`MissingLead`] when the record
/// lacks a requested lead; the caller decides whether that is fatal.
pub fn record_beats(
    record: &Record,
    annotations: &[Annotation],
    options: &BeatOptions,
) -> std::result::Result<RecordBeats, MissingLead> {
    let names = record.signal_names();
    let mut lead_indices = Vec::with_capacity(options.leads.len());
    for lead in &options.leads {
        match lead.resolve(&names) {
            Some(i) => lead_indices.push(i),
            None => {
                return Err(MissingLead {
                    lead: lead.to_string(),
                    available: names,
                });
            }
        }
    }
    let fs = record.fs();
    let mut beat_annotations: Vec<&Annotation> =
        annotations.iter().filter(|a| a.is_beat()).collect();
    beat_annotations.sort_by_key(|a| a.sample);
    let beat_samples: Vec<i64> = beat_annotations.iter().map(|a| a.sample).collect();
    let timings = beat_timings(&beat_samples, fs);
    let mean_rr = match beat_samples.len() {
        0 | 1 => 1.0,
        n => (beat_samples[n - 1] - beat_samples[0]) as f64 / fs / (n - 1) as f64,
    };
    let signals: Vec<Vec<f32>> = lead_indices
        .iter()
        .map(|&i| {
            let mut s = record.physical(i);
            if options.normalization == Normalization::Record {
                let scale = record_scale(&s, &beat_samples, fs);
                s.iter_mut().for_each(|v| *v *= scale);
            }
            s
        })
        .collect();
    let n = record.n_samples() as i64;
    let mut out = RecordBeats {
        beats: Vec::new(),
        skipped_at_edges: 0,
        lead_names: lead_indices.iter().map(|&i| names[i].clone()).collect(),
    };
    for (annotation, timing) in beat_annotations.iter().zip(&timings) {
        let symbol = annotation.symbol();
        if !options.classes.contains(&symbol) {
            continue;
        }
        let extra = options.context as f64 * timing.local_rr.unwrap_or(mean_rr);
        let start = annotation.sample - ((options.before_s + extra) * fs).round() as i64;
        let end = annotation.sample + ((options.after_s + extra) * fs).round() as i64 + 1;
        if start < 0 || end > n {
            out.skipped_at_edges += 1;
            continue;
        }
        let traces = signals
            .iter()
            .map(|s| {
                let window = &s[start as usize..end as usize];
                let baseline = median(&mut window.to_vec());
                window.iter().map(|v| v - baseline).collect()
            })
            .collect();
        out.beats.push(Beat {
            record: record.path.name.clone(),
            sample: annotation.sample,
            symbol,
            timing: *timing,
            traces,
        });
    }
    Ok(out)
}
