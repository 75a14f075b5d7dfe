//! Cutting beats of chosen classes out of a record: R-peak-centred windows of the chosen leads,
//! baseline removed, optionally normalised per record, with each beat's RR timing.

use medpath_wfdb::{Annotation, Record};

use crate::error::{EcgError, Result};
use crate::leads::{LeadChoice, LeadSource};
use crate::morphology::lead_measurements;
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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BeatOptions {
    /// Annotation symbols to keep (`A`, `L`, `R`, ...).
    pub classes: Vec<String>,
    /// Leads to draw, one trace each.
    #[serde(
        serialize_with = "serialize_leads",
        deserialize_with = "deserialize_leads"
    )]
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
    #[serde(default)]
    pub normalization: Normalization,
    /// Points each lead's beat window (without context) is averaged down to for
    /// [`Beat::signal`]; 0: none.
    #[serde(default)]
    pub signal_points: usize,
}

fn serialize_leads<S: serde::Serializer>(
    leads: &[LeadChoice],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(leads.iter().map(|l| l.to_string()))
}

fn deserialize_leads<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<LeadChoice>, D::Error> {
    let names: Vec<String> = serde::Deserialize::deserialize(d)?;
    names
        .iter()
        .map(|n| LeadChoice::parse(n).map_err(serde::de::Error::custom))
        .collect()
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
            signal_points: 0,
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
    /// One trace per lead (mV, baseline removed, normalised if asked; zeros for a blank lead).
    pub traces: Vec<Vec<f32>>,
    /// Index of the R peak within each trace.
    pub r_index: usize,
    /// Each lead's beat window (without context), baseline removed, averaged down to
    /// [`BeatOptions::signal_points`] values, leads one after the other (empty when 0 points
    /// were asked for).
    pub signal: Vec<f32>,
    /// [`lead_measurements`] of each lead's beat window (without context, baseline removed),
    /// leads one after the other.
    pub measurements: Vec<f32>,
}

/// The beats of one record, or why it gave none.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordBeats {
    /// Beats of the chosen classes whose window fits in the record.
    pub beats: Vec<Beat>,
    /// Beats of the chosen classes skipped because the window runs past the record's ends.
    pub skipped_at_edges: usize,
    /// Signal names of the leads used (`-` for a blank one).
    pub lead_names: Vec<String>,
    /// Median of all RR intervals of the record in seconds (every beat annotation counts), the
    /// record's own rhythm that a beat's timing is compared with; `None` with fewer than two
    /// beats.
    pub median_rr: Option<f64>,
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

/// Means of `values` over `bins` equal consecutive spans (each value counted in proportion to
/// its overlap with a span), so that downsampling averages instead of aliasing.
pub fn bin_means(values: &[f32], bins: usize) -> Vec<f32> {
    if bins == 0 || values.is_empty() {
        return Vec::new();
    }
    let width = values.len() as f64 / bins as f64;
    (0..bins)
        .map(|b| {
            let (lo, hi) = (b as f64 * width, (b + 1) as f64 * width);
            let (mut sum, mut weight) = (0.0f64, 0.0f64);
            let first = lo.floor() as usize;
            let last = (hi.ceil() as usize).min(values.len());
            for (i, v) in values.iter().enumerate().take(last).skip(first) {
                let overlap = (hi.min(i as f64 + 1.0) - lo.max(i as f64)).max(0.0);
                sum += overlap * f64::from(*v);
                weight += overlap;
            }
            (sum / weight.max(f64::MIN_POSITIVE)) as f32
        })
        .collect()
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
    cut_beats(record, annotations, options, &|symbol| {
        options.classes.iter().any(|c| c == symbol)
    })
}

/// Cuts every beat of `record`, whatever its annotation symbol (`options.classes` is not
/// consulted): the whole record as a user gives it.
pub fn all_beats(
    record: &Record,
    annotations: &[Annotation],
    options: &BeatOptions,
) -> std::result::Result<RecordBeats, MissingLead> {
    cut_beats(record, annotations, options, &|_| true)
}

/// Cuts the beats whose symbol `keep` accepts.
fn cut_beats(
    record: &Record,
    annotations: &[Annotation],
    options: &BeatOptions,
    keep: &dyn Fn(&str) -> bool,
) -> std::result::Result<RecordBeats, MissingLead> {
    let names = record.signal_names();
    let lead_sources = resolve_leads(options, &names)?;
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
    let signals = lead_signals(record, &lead_sources, &beat_samples, options);
    let mut intervals: Vec<f32> = beat_samples
        .windows(2)
        .map(|w| ((w[1] - w[0]) as f64 / fs) as f32)
        .collect();
    let mut out = RecordBeats {
        beats: Vec::new(),
        skipped_at_edges: 0,
        lead_names: lead_sources
            .iter()
            .map(|&source| match source {
                LeadSource::Signal(i) => names[i].clone(),
                LeadSource::Blank => crate::leads::BLANK.to_string(),
            })
            .collect(),
        median_rr: (!intervals.is_empty()).then(|| f64::from(median(&mut intervals))),
    };
    let window = BeatWindow {
        record,
        signals: &signals,
        options,
        mean_rr,
    };
    for (annotation, timing) in beat_annotations.iter().zip(&timings) {
        if !keep(&annotation.symbol()) {
            continue;
        }
        match window.cut(annotation, timing) {
            Some(beat) => out.beats.push(beat),
            None => out.skipped_at_edges += 1,
        }
    }
    Ok(out)
}

/// Where each requested lead comes from in a record with signals `names`.
fn resolve_leads(
    options: &BeatOptions,
    names: &[String],
) -> std::result::Result<Vec<LeadSource>, MissingLead> {
    options
        .leads
        .iter()
        .map(|lead| {
            lead.resolve(names).ok_or_else(|| MissingLead {
                lead: lead.to_string(),
                available: names.to_vec(),
            })
        })
        .collect()
}

/// Each requested lead's signal in millivolts (scaled to the record's typical beat amplitude
/// under record normalisation; zeros for a blank lead).
fn lead_signals(
    record: &Record,
    lead_sources: &[LeadSource],
    beat_samples: &[i64],
    options: &BeatOptions,
) -> Vec<Vec<f32>> {
    let fs = record.fs();
    lead_sources
        .iter()
        .map(|&source| match source {
            LeadSource::Signal(i) => {
                let mut s = record.physical(i);
                if options.normalization == Normalization::Record {
                    let scale = record_scale(&s, beat_samples, fs);
                    s.iter_mut().for_each(|v| *v *= scale);
                }
                s
            }
            LeadSource::Blank => vec![0.0; record.n_samples()],
        })
        .collect()
}

/// What cutting one beat out of a record needs: the record's lead signals and the options.
struct BeatWindow<'a> {
    record: &'a Record,
    signals: &'a [Vec<f32>],
    options: &'a BeatOptions,
    mean_rr: f64,
}

impl BeatWindow<'_> {
    /// The beat at `annotation` (its window widened by the context beats), or `None` where the
    /// window runs past the record's edges.
    fn cut(&self, annotation: &Annotation, timing: &BeatTiming) -> Option<Beat> {
        let (options, fs) = (self.options, self.record.fs());
        let n = self.record.n_samples() as i64;
        let before = (options.before_s * fs).round() as i64;
        let after = (options.after_s * fs).round() as i64;
        let extra = options.context as f64 * timing.local_rr.unwrap_or(self.mean_rr);
        let start = annotation.sample - ((options.before_s + extra) * fs).round() as i64;
        let (core_start, core_end) = (annotation.sample - before, annotation.sample + after + 1);
        let end = annotation.sample + ((options.after_s + extra) * fs).round() as i64 + 1;
        if start < 0 || end > n || core_start < start || core_end > end {
            return None;
        }
        let traces = self.baselined(start, end);
        let cores = self.baselined(core_start, core_end);
        let signal = cores
            .iter()
            .flat_map(|core| bin_means(core, options.signal_points))
            .collect();
        let measurements = cores
            .iter()
            .flat_map(|core| lead_measurements(core, before as usize, fs))
            .collect();
        Some(Beat {
            record: self.record.path.name.clone(),
            sample: annotation.sample,
            symbol: annotation.symbol(),
            timing: *timing,
            traces,
            r_index: (annotation.sample - start) as usize,
            signal,
            measurements,
        })
    }

    /// Every lead's samples `start..end`, minus their median (the baseline).
    fn baselined(&self, start: i64, end: i64) -> Vec<Vec<f32>> {
        self.signals
            .iter()
            .map(|s| {
                let window = &s[start as usize..end as usize];
                let baseline = median(&mut window.to_vec());
                window.iter().map(|v| v - baseline).collect()
            })
            .collect()
    }
}

/// Up to `count` beats of `record` of any beat type, evenly spaced over the record and cut and
/// drawn as `options` says (its classes ignored): a label-free sample of the record's own beats,
/// for statistics of the record such as its mean encoder features.
pub fn reference_beats(
    record: &Record,
    annotations: &[Annotation],
    options: &BeatOptions,
    count: usize,
) -> std::result::Result<RecordBeats, MissingLead> {
    let mut all = all_beats(record, annotations, options)?;
    let n = all.beats.len();
    if n > count {
        let keep: Vec<usize> = (0..count).map(|i| i * n / count).collect();
        let mut index = 0;
        all.beats.retain(|_| {
            let kept = keep.binary_search(&index).is_ok();
            index += 1;
            kept
        });
    }
    Ok(all)
}
