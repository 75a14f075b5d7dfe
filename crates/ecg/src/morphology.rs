//! Measurements a cardiologist reads off one lead of a beat: the QRS complex's positive and
//! negative peaks, its net deflection and width, the terminal forces after the R peak, the T
//! wave, and the activity where a P wave would be. They describe the beat's shape in a few
//! numbers with a clinical meaning (bundle branch blocks widen the QRS and turn its terminal
//! part positive in V1 for RBBB, negative for LBBB). Measured on MIT-BIH under record-kfold they
//! did not transfer to unseen patients (docs/results/ecg.md).

/// Names of [`lead_measurements`]' values, in order.
pub const MEASUREMENTS: [&str; 7] = [
    "r_peak",
    "s_peak",
    "qrs_net",
    "qrs_width_s",
    "terminal",
    "t_wave",
    "p_activity",
];

/// Half-width of the span around the annotated R peak that holds the QRS complex, seconds.
const QRS_HALF_SPAN_S: f64 = 0.08;
/// Half-width of the span searched for the QRS's steep slopes, seconds.
const SLOPE_HALF_SPAN_S: f64 = 0.15;
/// A slope counts as part of the QRS when it is at least this fraction of the steepest one.
const SLOPE_FRACTION: f32 = 0.3;
/// Slopes are taken over this many seconds on each side of a sample.
const SLOPE_STEP_S: f64 = 0.01;
/// Terminal forces: from this long after the R peak ...
const TERMINAL_FROM_S: f64 = 0.04;
/// ... to this long after it.
const TERMINAL_TO_S: f64 = 0.12;
/// T wave span after the R peak, seconds.
const T_WAVE_S: (f64, f64) = (0.2, 0.4);
/// Span before the R peak where a P wave sits, seconds.
const P_WAVE_S: (f64, f64) = (0.25, 0.12);

/// The [`MEASUREMENTS`] of one lead's beat window `window` (baseline removed), sampled at `fs`
/// Hz with the annotated R peak at index `r`: the highest and lowest value within 80 ms of R,
/// the mean over that span, the QRS width in seconds (from the first to the last sample within
/// 150 ms of R whose slope over 10 ms each side is at least 30 % of the steepest), the mean
/// 40-120 ms after R, the mean 200-400 ms after R, and the peak-to-peak range 250-120 ms before
/// R. Spans are cut to the window; an empty span gives 0, and so does a flat (blank) lead.
pub fn lead_measurements(window: &[f32], r: usize, fs: f64) -> [f32; 7] {
    let span = |from_s: f64, to_s: f64| -> &[f32] {
        let at = |s: f64| (r as i64 + (s * fs).round() as i64).clamp(0, window.len() as i64);
        let (a, b) = (at(from_s) as usize, at(to_s) as usize);
        if a < b { &window[a..b] } else { &[] }
    };
    let mean = |values: &[f32]| {
        if values.is_empty() {
            0.0
        } else {
            values.iter().sum::<f32>() / values.len() as f32
        }
    };
    let extreme = |values: &[f32], pick: fn(f32, f32) -> f32| {
        values.iter().copied().reduce(pick).unwrap_or(0.0)
    };
    let qrs = span(-QRS_HALF_SPAN_S, QRS_HALF_SPAN_S + 1.0 / fs);
    let p = span(-P_WAVE_S.0, -P_WAVE_S.1);
    [
        extreme(qrs, f32::max),
        extreme(qrs, f32::min),
        mean(qrs),
        qrs_width(span(-SLOPE_HALF_SPAN_S, SLOPE_HALF_SPAN_S), fs),
        mean(span(TERMINAL_FROM_S, TERMINAL_TO_S)),
        mean(span(T_WAVE_S.0, T_WAVE_S.1)),
        extreme(p, f32::max) - extreme(p, f32::min),
    ]
}

/// Seconds from the first to the last sample of `span` whose slope (the change over
/// [`SLOPE_STEP_S`] on each side, which damps noise) is at least [`SLOPE_FRACTION`] of the
/// steepest; 0 for a flat span.
fn qrs_width(span: &[f32], fs: f64) -> f32 {
    let k = ((SLOPE_STEP_S * fs).round() as usize).max(1);
    if span.len() <= 2 * k {
        return 0.0;
    }
    let slopes: Vec<f32> = (k..span.len() - k)
        .map(|i| (span[i + k] - span[i - k]).abs())
        .collect();
    let steepest = slopes.iter().copied().fold(0.0, f32::max);
    if steepest <= 0.0 {
        return 0.0;
    }
    let steep = |s: &f32| *s >= SLOPE_FRACTION * steepest;
    match (
        slopes.iter().position(steep),
        slopes.iter().rposition(steep),
    ) {
        (Some(first), Some(last)) => ((last - first) as f64 / fs) as f32,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window at 100 Hz with a triangle QRS: up 1 mV over 30 ms to R, down to -0.5 mV over
    /// 40 ms, back to 0 over 20 ms; a +0.2 mV plateau 200-400 ms after R; a 0.1 mV P bump.
    fn hand_beat() -> (Vec<f32>, usize) {
        let mut w = vec![0f32; 80];
        let r = 30;
        for (i, v) in [(27, 0.0), (28, 1.0 / 3.0), (29, 2.0 / 3.0), (30, 1.0)] {
            w[i] = v;
        }
        for (i, v) in [
            (31, 0.625),
            (32, 0.25),
            (33, -0.125),
            (34, -0.5),
            (35, -0.25),
        ] {
            w[i] = v;
        }
        for v in &mut w[r + 20..r + 40] {
            *v = 0.2;
        }
        w[r - 20] = 0.1;
        (w, r)
    }

    #[test]
    fn measurements_of_a_hand_drawn_beat_are_the_ones_read_off_by_hand() {
        let (w, r) = hand_beat();
        let m = lead_measurements(&w, r, 100.0);
        assert_eq!(m[0], 1.0, "R peak");
        assert_eq!(m[1], -0.5, "S peak");
        // Net over R-80 ms .. R+80 ms inclusive (17 samples).
        let net: f32 = w[22..39].iter().sum::<f32>() / 17.0;
        assert!((m[2] - net).abs() < 1e-6, "net {} against {net}", m[2]);
        // Slopes over one sample each side (x[s + 1] - x[s - 1]): the steepest is 0.75 mV
        // (samples 31-33); the first at least 30 % of it is at sample 27 (1/3), the last at
        // sample 36 (0.25): 9 samples of 10 ms apart.
        assert!((m[3] - 0.09).abs() < 1e-6, "width {}", m[3]);
        // Terminal: R+40 .. R+120 ms = samples 34..42: -0.5, -0.25, then zeros.
        assert!((m[4] - (-0.75 / 8.0)).abs() < 1e-6, "terminal {}", m[4]);
        assert!((m[5] - 0.2).abs() < 1e-6, "T wave {}", m[5]);
        assert!((m[6] - 0.1).abs() < 1e-6, "P activity {}", m[6]);
    }

    #[test]
    fn a_blank_lead_measures_zero_and_short_windows_do_not_panic() {
        assert_eq!(lead_measurements(&[0.0; 50], 20, 360.0), [0.0; 7]);
        let (w, _) = hand_beat();
        for r in [0, 5, 79] {
            let m = lead_measurements(&w[..40], r.min(39), 100.0);
            assert!(m.iter().all(|v| v.is_finite()));
        }
        assert_eq!(lead_measurements(&[], 0, 100.0), [0.0; 7]);
    }
}
