//! Pooling a beat's conduction classes over its record.
//!
//! A bundle branch block is a property of the patient's conduction: over minutes of one record
//! the beats are all left or all right bundle branch block (or, intermittently, change in
//! episodes), while premature beats come and go beat by beat. A model that reads each beat alone
//! may call part of one patient's right bundle branch block beats left. Smoothing keeps each
//! beat's own probability of the pooled classes together (so a premature beat stays premature)
//! and shares it out between them as the beats of the same record within `seconds` on either
//! side do, on average. It needs no labels: `predict` does the same on a new record.

use serde::{Deserialize, Serialize};

/// Where a beat lies: its record (numbered within a set) and the time of its R peak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BeatPlace {
    /// Record number within the set.
    pub record: usize,
    /// Time of the R peak in seconds from the record's start.
    pub seconds: f64,
}

/// The smoothing a task applies to its answers' probabilities, with classes as indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Smoothing {
    /// Indices of the classes whose shares are pooled (at least two).
    pub classes: Vec<usize>,
    /// Half-width of the window of neighbouring beats, in seconds.
    pub seconds: f64,
}

impl Smoothing {
    /// Probabilities (`[n, k]`, row per beat) with the pooled classes' shares averaged over each
    /// beat's window: beat `j` keeps its total probability `m_j` of the pooled classes, and class
    /// `c` of them gets `m_j * S_c / S`, where `S_c` sums class `c`'s probability over the beats
    /// of the same record within `seconds` of beat `j` (itself included) and `S` sums every
    /// pooled class there. Rows without a place (`None`) neither change nor count.
    pub fn apply(&self, probs: &[f32], k: usize, places: &[Option<BeatPlace>]) -> Vec<f32> {
        let mut out = probs.to_vec();
        let mut by_record: std::collections::BTreeMap<usize, Vec<(f64, usize)>> =
            Default::default();
        for (row, place) in places.iter().enumerate() {
            if let Some(p) = place {
                by_record
                    .entry(p.record)
                    .or_default()
                    .push((p.seconds, row));
            }
        }
        let pooled = self.classes.len();
        for beats in by_record.values_mut() {
            beats.sort_by(|a, b| a.0.total_cmp(&b.0));
            // Running sums of each pooled class's probability in time order.
            let mut running = vec![0.0f64; (beats.len() + 1) * pooled];
            for (i, &(_, row)) in beats.iter().enumerate() {
                for (c, &class) in self.classes.iter().enumerate() {
                    running[(i + 1) * pooled + c] =
                        running[i * pooled + c] + f64::from(probs[row * k + class]);
                }
            }
            let (mut lo, mut hi) = (0, 0);
            for &(t, row) in beats.iter() {
                while beats[lo].0 < t - self.seconds {
                    lo += 1;
                }
                while hi < beats.len() && beats[hi].0 <= t + self.seconds {
                    hi += 1;
                }
                let window: Vec<f64> = (0..pooled)
                    .map(|c| running[hi * pooled + c] - running[lo * pooled + c])
                    .collect();
                let total: f64 = window.iter().sum();
                if total <= 0.0 {
                    continue;
                }
                let mass: f64 = self
                    .classes
                    .iter()
                    .map(|&class| f64::from(probs[row * k + class]))
                    .sum();
                for (c, &class) in self.classes.iter().enumerate() {
                    out[row * k + class] = (mass * window[c] / total) as f32;
                }
            }
        }
        out
    }

    /// Smoothed probabilities when `smoothing` is set and the rows' places are known (`places`
    /// not empty); otherwise `probs` as they are.
    pub fn maybe(
        smoothing: Option<&Smoothing>,
        probs: Vec<f32>,
        k: usize,
        places: &[Option<BeatPlace>],
    ) -> Vec<f32> {
        match smoothing {
            Some(s) if !places.is_empty() => s.apply(&probs, k, places),
            _ => probs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(record: usize, seconds: f64) -> Option<BeatPlace> {
        Some(BeatPlace { record, seconds })
    }

    #[test]
    fn each_beat_keeps_its_pooled_mass_and_takes_its_windows_shares() {
        // Classes A, L, R; L and R pooled over 10 s either side.
        let smoothing = Smoothing {
            classes: vec![1, 2],
            seconds: 10.0,
        };
        let probs = [
            0.2, 0.6, 0.2, // record 0 at 0 s
            0.0, 0.3, 0.7, // record 0 at 5 s
            0.5, 0.5, 0.0, // record 0 at 100 s: alone in its window
            0.1, 0.1, 0.8, // record 1 at 0 s: another record, not pooled with record 0
            0.3, 0.3, 0.4, // no place: untouched, and not counted
        ];
        let places = [at(0, 0.0), at(0, 5.0), at(0, 100.0), at(1, 0.0), None];
        let out = smoothing.apply(&probs, 3, &places);
        // Beats 0 and 1 share a window: L 0.9, R 0.9 of 1.8, so each pooled mass splits evenly.
        let expected = [
            0.2, 0.4, 0.4, //
            0.0, 0.5, 0.5, //
            0.5, 0.5, 0.0, //
            0.1, 0.1, 0.8, //
            0.3, 0.3, 0.4,
        ];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn a_window_edge_is_inclusive_and_order_of_rows_does_not_matter() {
        let smoothing = Smoothing {
            classes: vec![0, 1],
            seconds: 2.0,
        };
        // Rows out of time order; the beat at 4 s sees 2 s and 6 s, the beat at 2 s sees 4 s
        // only, the beat at 6 s sees 4 s only.
        let probs = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
        let places = [at(3, 6.0), at(3, 2.0), at(3, 4.0)];
        let out = smoothing.apply(&probs, 2, &places);
        let expected = [0.5, 0.5, 1.0, 0.0, 2.0 / 3.0, 1.0 / 3.0];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-6, "{out:?}");
        }
        assert_eq!(Smoothing::maybe(None, probs.to_vec(), 2, &places), probs);
        assert_eq!(
            Smoothing::maybe(Some(&smoothing), probs.to_vec(), 2, &[]),
            probs
        );
    }
}
