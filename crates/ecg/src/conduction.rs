//! Conduction read from a stretch of the record, not from one beat: a bundle branch block
//! lasts (minutes to the whole record), and the QRS width that defines it (at least 120 ms)
//! is measured far more reliably on the median of many beats than on one beat drawn at 64
//! pixels (where a pixel is about 35 ms). Every beat gets the values of the median beat of
//! its block of [`BLOCK_BEATS`] consecutive beats.
//!
//! Per block: the QRS width of the median beat over both leads together (where the summed
//! slope of the leads exceeds 10 % and 20 % of its peak above the baseline's, in ms), and per
//! lead the mean of the terminal forces (40-120 ms after R: positive in V1 with a right,
//! negative with a left bundle branch block), of the initial forces (40 ms before R), the R/S
//! balance within the QRS and its net area, each over the median beat's QRS amplitude.

use crate::beats::Beat;

/// Consecutive beats whose median beat a block's values are measured on.
pub const BLOCK_BEATS: usize = 64;

/// Names of the values of the whole median beat, then per lead.
const WIDTH_NAMES: [&str; 2] = ["qrs_width_10_ms", "qrs_width_20_ms"];
const LEAD_NAMES: [&str; 4] = ["terminal", "initial", "r_over_s", "net_area"];

/// Names of every value [`conduction_features`] gives a beat drawn with `leads` leads.
pub fn conduction_names(leads: usize) -> Vec<String> {
    let mut names: Vec<String> = WIDTH_NAMES.iter().map(|n| format!("cond.{n}")).collect();
    for l in 0..leads {
        names.extend(LEAD_NAMES.iter().map(|n| format!("cond.lead{l}.{n}")));
    }
    names
}

/// The element-wise median of the samples from `before` to `after` seconds around the R peak
/// of `beats`, of lead `lead`; none when no beat has that span.
fn median_beat(
    beats: &[Beat],
    lead: usize,
    fs: f64,
    (before, after): (f64, f64),
) -> Option<Vec<f64>> {
    let (b, a) = (
        (before * fs).round() as usize,
        (after * fs).round() as usize,
    );
    let spans: Vec<&[f32]> = beats
        .iter()
        .filter_map(|beat| {
            let trace = beat.traces.get(lead)?;
            let start = beat.r_index.checked_sub(b)?;
            let end = beat.r_index + a;
            (end <= trace.len()).then(|| &trace[start..end])
        })
        .collect();
    let len = spans.first()?.len();
    let mut column = Vec::with_capacity(spans.len());
    Some(
        (0..len)
            .map(|t| {
                column.clear();
                column.extend(spans.iter().map(|s| f64::from(s[t])));
                column.sort_by(f64::total_cmp);
                column[column.len() / 2]
            })
            .collect(),
    )
}

/// The QRS width (ms) of median beats `leads` (R at index `r`), where their summed absolute
/// slope stays above `fraction` of its peak over the baseline's (gaps under 20 ms bridged).
fn qrs_width(leads: &[Vec<f64>], r: usize, fs: f64, fraction: f64) -> f64 {
    let len = leads.iter().map(Vec::len).min().unwrap_or(0);
    if len < 3 {
        return 0.0;
    }
    let mut slope = vec![0f64; len];
    for lead in leads {
        for t in 1..len - 1 {
            slope[t] += ((lead[t + 1] - lead[t - 1]) / 2.0).abs();
        }
    }
    let (lo, hi) = (
        r.saturating_sub((0.10 * fs) as usize),
        (r + (0.16 * fs) as usize).min(len - 1),
    );
    let base_end = r.saturating_sub((0.12 * fs) as usize).max(1);
    let mut baseline: Vec<f64> = slope[..base_end].to_vec();
    baseline.sort_by(f64::total_cmp);
    let base = baseline.get(baseline.len() / 2).copied().unwrap_or(0.0);
    let (peak_at, peak) = (lo..hi).fold((r, 0.0), |best, t| {
        if slope[t] > best.1 {
            (t, slope[t])
        } else {
            best
        }
    });
    let threshold = base + fraction * (peak - base);
    let gap = (0.02 * fs) as usize;
    let walk = |step: isize, stop: usize| {
        let (mut t, mut last, mut missed) = (peak_at as isize, peak_at, 0);
        while t != stop as isize && missed <= gap {
            if slope[t as usize] > threshold {
                last = t as usize;
                missed = 0;
            } else {
                missed += 1;
            }
            t += step;
        }
        last
    };
    (walk(1, hi) - walk(-1, lo)) as f64 / fs * 1000.0
}

/// The mean of `lead` from `from` to `to` seconds after R (negative: before), over `scale`.
fn mean_over(lead: &[f64], r: usize, fs: f64, (from, to): (f64, f64), scale: f64) -> f64 {
    let at = |s: f64| (r as f64 + s * fs).round().clamp(0.0, lead.len() as f64) as usize;
    let span = &lead[at(from)..at(to).max(at(from) + 1).min(lead.len())];
    let mean = span.iter().sum::<f64>() / span.len().max(1) as f64;
    if scale > 1e-9 { mean / scale } else { 0.0 }
}

/// The values of one block's median beats (see the module's documentation).
fn block_values(beats: &[Beat], leads: usize, fs: f64) -> Vec<f32> {
    let span = (0.25, 0.40);
    let r = (span.0 * fs).round() as usize;
    let medians: Vec<Vec<f64>> = (0..leads)
        .filter_map(|l| median_beat(beats, l, fs, span))
        .collect();
    if medians.len() != leads {
        return vec![0.0; WIDTH_NAMES.len() + LEAD_NAMES.len() * leads];
    }
    let mut values = vec![
        qrs_width(&medians, r, fs, 0.10),
        qrs_width(&medians, r, fs, 0.20),
    ];
    for m in &medians {
        let qrs =
            &m[r.saturating_sub((0.06 * fs) as usize)..(r + (0.10 * fs) as usize).min(m.len())];
        let (lo, hi) = qrs
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
        let amplitude = (hi - lo).max(0.0);
        let area = qrs.iter().sum::<f64>() / qrs.len().max(1) as f64;
        values.extend([
            mean_over(m, r, fs, (0.04, 0.12), amplitude),
            mean_over(m, r, fs, (-0.04, 0.0), amplitude),
            if amplitude > 1e-9 {
                (hi + lo) / amplitude
            } else {
                0.0
            },
            if amplitude > 1e-9 {
                area / amplitude
            } else {
                0.0
            },
        ]);
    }
    values.into_iter().map(|v| v as f32).collect()
}

/// Every beat of a record (in time order, sampled at `fs`) given its block's conduction
/// values ([`conduction_names`]).
pub fn conduction_features(beats: &[Beat], fs: f64) -> Vec<Vec<f32>> {
    let leads = beats.first().map_or(0, |b| b.traces.len());
    let mut out = Vec::with_capacity(beats.len());
    for block in beats.chunks(BLOCK_BEATS) {
        let values = block_values(block, leads, fs);
        out.extend(std::iter::repeat_n(values, block.len()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::BeatTiming;

    /// A beat whose QRS is a Gaussian of `sigma_ms`, with a terminal wave of `terminal` mV.
    fn beat(sigma_ms: f32, terminal: f32) -> Beat {
        let fs = 360.0f32;
        let r = 150usize;
        let trace: Vec<f32> = (0..400)
            .map(|t| {
                let s = (t as f32 - r as f32) / fs * 1000.0;
                (-(s / sigma_ms).powi(2)).exp() + terminal * (-((s - 80.0) / 20.0).powi(2)).exp()
            })
            .collect();
        Beat {
            record: "r".into(),
            sample: 0,
            symbol: "N".into(),
            timing: BeatTiming {
                prev_rr: Some(0.8),
                next_rr: Some(0.8),
                local_rr: Some(0.8),
            },
            traces: vec![trace.clone(), trace],
            r_index: r,
            signal: Vec::new(),
            measurements: Vec::new(),
        }
    }

    #[test]
    fn a_wide_block_measures_wider_than_a_narrow_one_and_terminal_forces_show() {
        let narrow: Vec<Beat> = (0..70).map(|_| beat(15.0, 0.0)).collect();
        let wide: Vec<Beat> = (0..70).map(|_| beat(45.0, 0.6)).collect();
        let (n, w) = (
            conduction_features(&narrow, 360.0),
            conduction_features(&wide, 360.0),
        );
        assert_eq!(n.len(), 70);
        assert_eq!(n[0].len(), conduction_names(2).len());
        assert!(w[0][0] > n[0][0] + 30.0, "{} vs {}", w[0][0], n[0][0]);
        assert!(
            w[0][2] > n[0][2] + 0.2,
            "terminal {} vs {}",
            w[0][2],
            n[0][2]
        );
        // Every beat of a block carries its block's values.
        assert_eq!(n[0], n[63]);
    }
}
