//! Beat timing: RR intervals around each beat, from the annotated beat times of a record.

/// RR intervals around one beat, in seconds. `None` where the beat has no neighbour on that side.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeatTiming {
    /// Interval from the previous beat to this one.
    pub prev_rr: Option<f64>,
    /// Interval from this beat to the next one.
    pub next_rr: Option<f64>,
    /// Mean of the RR intervals within [`LOCAL_WINDOW`] beats on each side: the local rhythm that
    /// prematurity is judged against.
    pub local_rr: Option<f64>,
}

/// Beats on each side of a beat whose intervals make up its local mean RR.
pub const LOCAL_WINDOW: usize = 5;

/// Names of the values [`rhythm_features`] returns, in order.
pub const RHYTHM_FEATURES: [&str; 6] = [
    "prev_rr/median_rr",
    "next_rr/median_rr",
    "local_rr/median_rr",
    "prev_rr/next_rr",
    "prev_rr/local_rr",
    "next_rr/local_rr",
];

/// A beat's rhythm as ratios that do not depend on the patient's heart rate: its previous, next
/// and local mean RR interval over the record's median RR, and the three intervals over each
/// other. An atrial premature beat comes early (previous RR short against the local and median
/// RR), usually followed by a pause. A missing neighbour counts as the local mean (a missing
/// local mean as the median).
pub fn rhythm_features(timing: &BeatTiming, median_rr: f64) -> [f32; 6] {
    let median = if median_rr > 0.0 { median_rr } else { 1.0 };
    let local = timing.local_rr.filter(|v| *v > 0.0).unwrap_or(median);
    let prev = timing.prev_rr.filter(|v| *v > 0.0).unwrap_or(local);
    let next = timing.next_rr.filter(|v| *v > 0.0).unwrap_or(local);
    [
        prev / median,
        next / median,
        local / median,
        prev / next,
        prev / local,
        next / local,
    ]
    .map(|v| v as f32)
}

/// Timing of every beat, given all beat times (sample numbers, ascending) and the sampling rate.
pub fn beat_timings(beat_samples: &[i64], fs: f64) -> Vec<BeatTiming> {
    let rr: Vec<f64> = beat_samples
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / fs)
        .collect();
    (0..beat_samples.len())
        .map(|k| {
            // Interval i lies between beats i and i+1; beat k has intervals k-1 (before) and k (after).
            let lo = k.saturating_sub(LOCAL_WINDOW);
            let hi = (k + LOCAL_WINDOW).min(rr.len());
            let local = &rr[lo.min(hi)..hi];
            BeatTiming {
                prev_rr: k.checked_sub(1).map(|i| rr[i]),
                next_rr: rr.get(k).copied(),
                local_rr: (!local.is_empty())
                    .then(|| local.iter().sum::<f64>() / local.len() as f64),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_and_local_mean() {
        let t = beat_timings(&[0, 360, 720, 900, 1440], 360.0);
        assert_eq!(t[0].prev_rr, None);
        assert_eq!(t[0].next_rr, Some(1.0));
        assert_eq!(t[3].prev_rr, Some(0.5));
        assert_eq!(t[3].next_rr, Some(1.5));
        assert_eq!(t[4].next_rr, None);
        assert_eq!(t[2].local_rr, Some(1.0));
        assert!(beat_timings(&[5], 360.0)[0].local_rr.is_none());
        assert!(beat_timings(&[], 360.0).is_empty());
    }

    #[test]
    fn rhythm_features_are_the_ratios() {
        let t = BeatTiming {
            prev_rr: Some(0.5),
            next_rr: Some(1.0),
            local_rr: Some(0.8),
        };
        let f = rhythm_features(&t, 0.8);
        let expected = [0.625, 1.25, 1.0, 0.5, 0.625, 1.25];
        for (a, b) in f.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{f:?}");
        }
        let edge = BeatTiming {
            prev_rr: None,
            next_rr: Some(1.0),
            local_rr: Some(1.0),
        };
        assert_eq!(rhythm_features(&edge, 1.0)[0], 1.0);
    }
}
