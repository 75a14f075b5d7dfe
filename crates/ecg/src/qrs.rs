//! QRS detection after Pan and Tompkins (1985): band-pass 5-15 Hz, derivative, squaring,
//! 150 ms moving-window integration, adaptive signal and noise thresholds with a 200 ms
//! refractory period and search-back for missed beats; each detection is placed on the R peak
//! (largest band-passed deflection near it). Used by `predict` for records without annotations.

/// A biquad section `b0 b1 b2 / 1 a1 a2`.
struct Biquad([f64; 5]);

impl Biquad {
    /// Second-order Butterworth section (RBJ cookbook), `high` for a high-pass.
    fn butterworth(cutoff_hz: f64, fs: f64, high: bool) -> Biquad {
        let w = 2.0 * std::f64::consts::PI * cutoff_hz / fs;
        let (sin, cos) = w.sin_cos();
        let alpha = sin / (2.0 * std::f64::consts::FRAC_1_SQRT_2);
        let a0 = 1.0 + alpha;
        let (b0, b1) = if high {
            ((1.0 + cos) / 2.0, -(1.0 + cos))
        } else {
            ((1.0 - cos) / 2.0, 1.0 - cos)
        };
        Biquad([
            b0 / a0,
            b1 / a0,
            b0 / a0,
            -2.0 * cos / a0,
            (1.0 - alpha) / a0,
        ])
    }

    fn run(&self, x: &[f64]) -> Vec<f64> {
        let [b0, b1, b2, a1, a2] = self.0;
        let (mut x1, mut x2, mut y1, mut y2) = (0.0, 0.0, 0.0, 0.0);
        x.iter()
            .map(|&v| {
                let y = b0 * v + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2;
                (x2, x1, y2, y1) = (x1, v, y1, y);
                y
            })
            .collect()
    }
}

/// Forward-backward filtering: zero phase, so peaks stay where they are.
fn zero_phase(section: &Biquad, x: &[f64]) -> Vec<f64> {
    let mut y = section.run(x);
    y.reverse();
    let mut y = section.run(&y);
    y.reverse();
    y
}

/// Sample numbers of the R peaks found in `signal` (one lead, any unit) sampled at `fs` Hz.
pub fn detect_qrs(signal: &[f32], fs: f64) -> Vec<i64> {
    if signal.len() < (fs * 2.0) as usize || fs <= 30.0 {
        return Vec::new();
    }
    let x: Vec<f64> = signal.iter().map(|&v| f64::from(v)).collect();
    let high = zero_phase(&Biquad::butterworth(5.0, fs, true), &x);
    let band = zero_phase(&Biquad::butterworth(15.0, fs, false), &high);
    let integrated = integrated_energy(&band, fs);
    let refractory = (0.2 * fs).round() as usize;
    let candidates = candidate_peaks(&integrated, refractory);
    let peaks = threshold_peaks(&integrated, &candidates, fs);
    // The integrator lags the QRS; the R peak is the largest band-passed deflection in the
    // window before the integrator peak.
    let back = (0.25 * fs) as usize;
    let ahead = (0.05 * fs) as usize;
    let mut out: Vec<i64> = peaks
        .iter()
        .map(|&p| {
            let lo = p.saturating_sub(back);
            let hi = (p + ahead).min(band.len() - 1);
            (lo..=hi)
                .max_by(|&a, &b| band[a].abs().total_cmp(&band[b].abs()))
                .unwrap_or(p) as i64
        })
        .collect();
    out.sort_unstable();
    out.dedup_by(|a, b| (*a - *b) < refractory as i64);
    out
}

/// The band-passed signal's derivative, squared and integrated over a moving 150 ms window.
fn integrated_energy(band: &[f64], fs: f64) -> Vec<f64> {
    let step = ((fs / 200.0).round() as usize).max(1);
    let squared: Vec<f64> = (0..band.len())
        .map(|i| {
            let at = |k: usize| band[i.saturating_sub(k * step)];
            let d = (2.0 * band[i] + at(1) - at(3) - 2.0 * at(4)) / 8.0;
            d * d
        })
        .collect();
    let window = ((0.15 * fs).round() as usize).max(1);
    let mut integrated = vec![0.0; squared.len()];
    let mut sum = 0.0;
    for i in 0..squared.len() {
        sum += squared[i];
        if i >= window {
            sum -= squared[i - window];
        }
        integrated[i] = sum / window as f64;
    }
    integrated
}

/// Local maxima of the integrated signal at least `refractory` samples apart (the larger kept).
fn candidate_peaks(integrated: &[f64], refractory: usize) -> Vec<usize> {
    let mut candidates: Vec<usize> = Vec::new();
    for i in 1..integrated.len() - 1 {
        if integrated[i] > integrated[i - 1] && integrated[i] >= integrated[i + 1] {
            match candidates.last() {
                Some(&last) if i - last < refractory => {
                    if integrated[i] > integrated[last] {
                        *candidates.last_mut().expect("non-empty") = i;
                    }
                }
                _ => candidates.push(i),
            }
        }
    }
    candidates
}

/// The candidates taken as beats by Pan-Tompkins' adaptive signal and noise levels, with a
/// search back for a beat missed in a long gap.
fn threshold_peaks(integrated: &[f64], candidates: &[usize], fs: f64) -> Vec<usize> {
    let refractory = (0.2 * fs).round() as usize;
    let learn = (2.0 * fs) as usize;
    let first: Vec<f64> = integrated[..learn.min(integrated.len())].to_vec();
    let mut spk = 0.25 * first.iter().copied().fold(0.0, f64::max);
    let mut npk = 0.5 * first.iter().sum::<f64>() / first.len() as f64;
    let mut peaks: Vec<usize> = Vec::new();
    let mut rr_mean: Option<f64> = None;
    let mut last_index = 0usize;
    for (ci, &c) in candidates.iter().enumerate() {
        let threshold = npk + 0.25 * (spk - npk);
        let value = integrated[c];
        // Search back: a long gap since the last beat means one was missed; take the largest
        // candidate in the gap above half the threshold.
        if let (Some(&last), Some(rr)) = (peaks.last(), rr_mean)
            && (c - last) as f64 > 1.66 * rr
        {
            let missed = candidates[last_index..ci]
                .iter()
                .copied()
                .filter(|&k| k > last + refractory && k + refractory < c)
                .filter(|&k| integrated[k] > 0.5 * threshold)
                .max_by(|&a, &b| integrated[a].total_cmp(&integrated[b]));
            if let Some(k) = missed {
                spk = 0.25 * integrated[k] + 0.75 * spk;
                peaks.push(k);
            }
        }
        if value > threshold && peaks.last().is_none_or(|&l| c - l >= refractory) {
            spk = 0.125 * value + 0.875 * spk;
            if let Some(&last) = peaks.last() {
                let rr = (c - last) as f64;
                rr_mean = Some(rr_mean.map_or(rr, |m| 0.875 * m + 0.125 * rr));
            }
            peaks.push(c);
            last_index = ci;
        } else {
            npk = 0.125 * value + 0.875 * npk;
        }
    }
    peaks
}

/// Sensitivity and positive predictive value of `detected` against `reference` R peaks, a
/// detection matching a reference beat within `tolerance` samples (each used once).
pub fn match_beats(detected: &[i64], reference: &[i64], tolerance: i64) -> (f64, f64) {
    let mut used = vec![false; detected.len()];
    let mut hits = 0usize;
    let mut start = 0usize;
    for &r in reference {
        while start < detected.len() && detected[start] < r - tolerance {
            start += 1;
        }
        let mut k = start;
        while k < detected.len() && detected[k] <= r + tolerance {
            if !used[k] {
                used[k] = true;
                hits += 1;
                break;
            }
            k += 1;
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    (ratio(hits, reference.len()), ratio(hits, detected.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Conduction, synthesize};

    #[test]
    fn finds_the_beats_of_generated_records() {
        for (kind, seed) in [
            (Conduction::Normal, 3),
            (Conduction::LeftBundleBranchBlock, 4),
            (Conduction::RightBundleBranchBlock, 5),
        ] {
            let generated = synthesize("t", kind, 60.0, seed);
            let reference: Vec<i64> = generated
                .annotations
                .iter()
                .filter(|a| a.is_beat())
                .map(|a| a.sample)
                .collect();
            let detected = detect_qrs(&generated.record.physical(0), generated.record.fs());
            let (se, ppv) = match_beats(&detected, &reference, 54);
            assert!(
                se > 0.98 && ppv > 0.98,
                "{kind:?}: sensitivity {se}, PPV {ppv}"
            );
        }
    }

    #[test]
    fn flat_or_short_signals_give_no_beats() {
        assert!(detect_qrs(&[0.0; 100], 360.0).is_empty());
        assert!(detect_qrs(&vec![0.0; 3600], 360.0).is_empty());
    }
}
