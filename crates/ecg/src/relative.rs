//! A beat measured against its own record: its shape against the record's dominant beat and
//! its timing against the record's own rhythm. What makes a beat premature or ectopic is how
//! it differs from the same patient's other beats, not how it looks beside other patients'; a
//! model that reads these can recognise an atrial premature beat in a patient whose every beat
//! has a bundle branch block, and a premature ventricular beat in any patient.
//!
//! Per beat: its RR intervals over a high quantile and over the median of the RR intervals of
//! the beats around it (in a record where premature beats are the majority, the median is the
//! ectopic rhythm, while the slowest beats around still show the underlying one), the change
//! from the previous interval, and how irregular the rhythm is around it and in the whole
//! record; per lead, the correlation, amplitude ratio and mean difference of its QRS complex
//! and of its P-wave span with the record's median beat.

use crate::beats::Beat;

/// Beats on each side whose intervals make up a beat's local rhythm.
pub const RHYTHM_NEIGHBOURS: usize = 30;
/// Beats (evenly spaced over the record) whose median is the record's dominant beat.
pub const TEMPLATE_BEATS: usize = 400;
/// The QRS span around the R peak, in seconds before and after it.
const QRS_SPAN_S: (f64, f64) = (0.10, 0.12);
/// The P-wave span before the R peak, in seconds before it (start, end).
const P_SPAN_S: (f64, f64) = (0.25, 0.06);

/// Names of the timing values, in order.
pub const TIMING_NAMES: [&str; 6] = [
    "prev_rr/local_p90",
    "next_rr/local_p90",
    "prev_rr/local_median",
    "prev_rr/previous_prev_rr",
    "local_irregularity",
    "record_irregularity",
];

/// Names of the values per lead, in order.
pub const SHAPE_NAMES: [&str; 4] = ["qrs_corr", "qrs_amplitude", "qrs_difference", "p_corr"];

/// Names of every value [`relative_features`] gives a beat drawn with `leads` leads.
pub fn relative_names(leads: usize) -> Vec<String> {
    let mut names: Vec<String> = TIMING_NAMES.iter().map(|n| format!("rel.{n}")).collect();
    for l in 0..leads {
        names.extend(SHAPE_NAMES.iter().map(|n| format!("rel.lead{l}.{n}")));
    }
    names
}

/// The median of `values` (0 for none).
fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    values.select_nth_unstable_by(mid, f64::total_cmp);
    values[mid]
}

/// The `q` quantile of `values` (nearest rank; 0 for none).
fn quantile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * q).round() as usize;
    values.select_nth_unstable_by(k, f64::total_cmp);
    values[k]
}

/// `a / b`, or 1 when `b` is not positive.
fn ratio(a: f64, b: f64) -> f64 {
    if b > 1e-9 { a / b } else { 1.0 }
}

/// The previous RR interval of each beat (the next one's where a beat has none), in seconds.
fn previous_intervals(beats: &[Beat]) -> Vec<f64> {
    beats
        .iter()
        .map(|b| {
            b.timing
                .prev_rr
                .or(b.timing.next_rr)
                .or(b.timing.local_rr)
                .unwrap_or(1.0)
        })
        .collect()
}

/// The timing values of every beat (see [`TIMING_NAMES`]).
fn timing(beats: &[Beat]) -> Vec<[f64; 6]> {
    let prev = previous_intervals(beats);
    let n = prev.len();
    let changes: Vec<f64> = prev.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let record_median = median(&mut prev.clone());
    let record_irregularity = ratio(median(&mut changes.clone()), record_median);
    (0..n)
        .map(|i| {
            let (lo, hi) = (
                i.saturating_sub(RHYTHM_NEIGHBOURS),
                (i + RHYTHM_NEIGHBOURS + 1).min(n),
            );
            let mut around: Vec<f64> = prev[lo..hi].to_vec();
            let p90 = quantile(&mut around, 0.9);
            let local_median = median(&mut around);
            let (clo, chi) = (i.saturating_sub(10), (i + 10).min(changes.len()));
            let local_changes = median(&mut changes[clo.min(chi)..chi].to_vec());
            let next = beats[i].timing.next_rr.unwrap_or(prev[i]);
            let previous = if i > 0 { prev[i - 1] } else { prev[i] };
            [
                ratio(prev[i], p90),
                ratio(next, p90),
                ratio(prev[i], local_median),
                ratio(prev[i], previous),
                ratio(local_changes, local_median),
                record_irregularity,
            ]
        })
        .collect()
}

/// The samples `span` (seconds before, after) around `beat`'s R peak of lead `lead`, or `None`
/// where the trace does not reach.
fn segment(beat: &Beat, lead: usize, fs: f64, (before, after): (f64, f64)) -> Option<&[f32]> {
    let trace = beat.traces.get(lead)?;
    let start = beat.r_index.checked_sub((before * fs).round() as usize)?;
    let end = (beat.r_index as f64 + after * fs).round() as usize;
    (end <= trace.len() && start < end).then(|| &trace[start..end])
}

/// The element-wise median of the segments of up to [`TEMPLATE_BEATS`] beats evenly spaced
/// over the record (none when no beat has the span).
fn template(beats: &[Beat], lead: usize, fs: f64, span: (f64, f64)) -> Option<Vec<f64>> {
    let n = beats.len();
    let step = n.div_ceil(TEMPLATE_BEATS).max(1);
    let segments: Vec<&[f32]> = (0..n)
        .step_by(step)
        .filter_map(|i| segment(&beats[i], lead, fs, span))
        .collect();
    let len = segments.first()?.len();
    let mut column = Vec::with_capacity(segments.len());
    Some(
        (0..len)
            .map(|t| {
                column.clear();
                column.extend(segments.iter().map(|s| f64::from(s[t])));
                median(&mut column)
            })
            .collect(),
    )
}

/// Pearson correlation of `a` and `b` (0 when either is flat).
fn correlation(a: &[f32], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let ma = a.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let mb = b.iter().sum::<f64>() / n;
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x) - ma, y - mb);
        sab += x * y;
        saa += x * x;
        sbb += y * y;
    }
    let d = (saa * sbb).sqrt();
    if d > 1e-12 { sab / d } else { 0.0 }
}

/// Peak-to-peak amplitude.
fn range(values: impl Iterator<Item = f64>) -> f64 {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi >= lo { hi - lo } else { 0.0 }
}

/// The shape values of every beat of one lead (see [`SHAPE_NAMES`]).
fn shape(beats: &[Beat], lead: usize, fs: f64) -> Vec<[f64; 4]> {
    let qrs_template = template(beats, lead, fs, QRS_SPAN_S);
    let p_template = template(beats, lead, fs, P_SPAN_S);
    beats
        .iter()
        .map(|beat| {
            let (Some(qt), Some(qrs)) = (&qrs_template, segment(beat, lead, fs, QRS_SPAN_S)) else {
                return [0.0, 1.0, 0.0, 0.0];
            };
            let amplitude = range(qt.iter().copied());
            let difference = qrs
                .iter()
                .zip(qt)
                .map(|(&x, &t)| (f64::from(x) - t).abs())
                .sum::<f64>()
                / qrs.len() as f64;
            let p_corr = match (&p_template, segment(beat, lead, fs, P_SPAN_S)) {
                (Some(pt), Some(p)) => correlation(p, pt),
                _ => 0.0,
            };
            [
                correlation(qrs, qt),
                ratio(range(qrs.iter().map(|&v| f64::from(v))), amplitude),
                ratio(difference, amplitude),
                p_corr,
            ]
        })
        .collect()
}

/// Every beat of a record (in time order, sampled at `fs`) measured against the record:
/// [`TIMING_NAMES`], then [`SHAPE_NAMES`] for each lead.
pub fn relative_features(beats: &[Beat], fs: f64) -> Vec<Vec<f32>> {
    let leads = beats.first().map_or(0, |b| b.traces.len());
    let timing = timing(beats);
    let shapes: Vec<Vec<[f64; 4]>> = (0..leads).map(|l| shape(beats, l, fs)).collect();
    (0..beats.len())
        .map(|i| {
            let mut row: Vec<f32> = timing[i].iter().map(|&v| v as f32).collect();
            for lead in &shapes {
                row.extend(lead[i].iter().map(|&v| v as f32));
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::BeatTiming;

    /// A beat whose lead traces are `shape` scaled by `gain`, R at index 100, with RR `prev`.
    fn beat(prev: f64, gain: f32, bump: f32) -> Beat {
        let trace: Vec<f32> = (0..250)
            .map(|t| {
                let x = (t as f32 - 100.0) / 8.0;
                gain * (-x * x).exp() + bump * (-((t as f32 - 40.0) / 10.0).powi(2)).exp()
            })
            .collect();
        Beat {
            record: "r".into(),
            sample: 0,
            symbol: "N".into(),
            timing: BeatTiming {
                prev_rr: Some(prev),
                next_rr: Some(prev),
                local_rr: Some(prev),
            },
            traces: vec![trace.clone(), trace],
            r_index: 100,
            signal: Vec::new(),
            measurements: Vec::new(),
        }
    }

    #[test]
    fn a_premature_beat_is_early_against_the_slow_beats_even_when_most_are_premature() {
        // Runs of fast beats (0.5 s) with a slow beat (1.0 s) every fifth: the median is the
        // fast rhythm, the 90 % quantile the slow one.
        let beats: Vec<Beat> = (0..100)
            .map(|i| beat(if i % 5 == 0 { 1.0 } else { 0.5 }, 1.0, 0.2))
            .collect();
        let f = relative_features(&beats, 360.0);
        assert_eq!(f[0].len(), relative_names(2).len());
        assert!((f[50][0] - 1.0).abs() < 1e-6, "slow beat: {:?}", f[50]);
        assert!((f[51][0] - 0.5).abs() < 1e-6, "fast beat: {:?}", f[51]);
        assert!(
            (f[51][2] - 1.0).abs() < 1e-6,
            "fast beat against the median: {:?}",
            f[51]
        );
    }

    #[test]
    fn a_beat_unlike_its_record_has_a_low_correlation_and_its_own_amplitude() {
        let mut beats: Vec<Beat> = (0..50).map(|_| beat(0.8, 1.0, 0.2)).collect();
        beats[25] = beat(0.8, -2.0, 0.0);
        let f = relative_features(&beats, 360.0);
        let (qrs_corr, amplitude, p_corr) = (6, 7, 9);
        assert!(f[10][qrs_corr] > 0.99 && (f[10][amplitude] - 1.0).abs() < 1e-5);
        assert!(f[25][qrs_corr] < -0.9, "{:?}", f[25]);
        assert!((f[25][amplitude] - 2.0).abs() < 0.05, "{:?}", f[25]);
        assert!(f[25][p_corr] < f[10][p_corr], "{:?}", f[25]);
    }
}
