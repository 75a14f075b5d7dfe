//! Answers read over a whole record: pooling a beat's conduction classes over its neighbours,
//! and re-weighting every beat to its record's own class balance.
//!
//! A bundle branch block is a property of the patient's conduction: over minutes of one record
//! the beats are all left or all right bundle branch block (or, intermittently, change in
//! episodes), while premature beats come and go beat by beat. A model that reads each beat alone
//! may call part of one patient's right bundle branch block beats left. Smoothing keeps each
//! beat's own probability of the pooled classes together (so a premature beat stays premature)
//! and shares it out between them as the beats of the same record within `seconds` on either
//! side do, on average. It needs no labels: `predict` does the same on a new record.
//!
//! The classes' balance differs from patient to patient far more than from beat to beat: one
//! record holds three premature atrial beats, another more premature beats than sinus ones. A
//! model trained with balanced class weights answers as if every class were equally likely. The
//! record prior estimates each record's class balance from the model's own probabilities
//! (expectation-maximisation of Saerens, Latinne and Decaestecker, 2002, started from equal
//! classes; no labels) and re-weights every beat's probabilities by it: `prior_steps` rounds,
//! where one round takes the record's mean probability as its balance.

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
    /// Indices of the classes whose shares are pooled (none, or at least two).
    pub classes: Vec<usize>,
    /// Half-width of the window of neighbouring beats, in seconds.
    pub seconds: f64,
    /// Rounds of the record prior after pooling (0: none). Needs probabilities of a model
    /// trained with balanced class weights, which assume equal classes.
    #[serde(default)]
    pub prior_steps: usize,
}

impl Smoothing {
    /// Probabilities (`[n, k]`, row per beat) with the pooled classes' shares averaged over each
    /// beat's window: beat `j` keeps its total probability `m_j` of the pooled classes, and class
    /// `c` of them gets `m_j * S_c / S`, where `S_c` sums class `c`'s probability over the beats
    /// of the same record within `seconds` of beat `j` (itself included) and `S` sums every
    /// pooled class there. Rows without a place (`None`) neither change nor count.
    /// Then, with `prior_steps`, each record's rows are re-weighted to its estimated class
    /// balance (see [`record_prior`]).
    pub fn apply(&self, probs: &[f32], k: usize, places: &[Option<BeatPlace>]) -> Vec<f32> {
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
        let mut out = self.pooled(probs, k, &mut by_record);
        if self.prior_steps > 0 {
            for beats in by_record.values() {
                let rows: Vec<usize> = beats.iter().map(|&(_, row)| row).collect();
                record_prior(&mut out, k, &rows, self.prior_steps);
            }
        }
        out
    }

    /// `probs` with the pooled classes' shares averaged over each beat's window (unchanged
    /// when no class is pooled); `by_record` holds each record's beats as (seconds, row).
    fn pooled(
        &self,
        probs: &[f32],
        k: usize,
        by_record: &mut std::collections::BTreeMap<usize, Vec<(f64, usize)>>,
    ) -> Vec<f32> {
        let mut out = probs.to_vec();
        let pooled = self.classes.len();
        if pooled == 0 {
            return out;
        }
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

/// Re-weights `rows` of `probs` (`k` per row; one record's beats) to the record's class
/// balance, estimated in `steps` rounds of expectation-maximisation from equal classes: each
/// round takes the balance as the mean of the rows re-weighted by the previous estimate, and
/// every row ends as its probabilities times the balance, over their sum. A row whose
/// re-weighted sum is 0 is left as it was.
pub fn record_prior(probs: &mut [f32], k: usize, rows: &[usize], steps: usize) {
    if rows.is_empty() {
        return;
    }
    let mut balance = vec![1.0 / k as f64; k];
    for _ in 0..steps {
        let mut next = vec![0.0f64; k];
        for &row in rows {
            let Some(w) = reweighted(&probs[row * k..(row + 1) * k], &balance) else {
                continue;
            };
            for (n, v) in next.iter_mut().zip(w) {
                *n += v / rows.len() as f64;
            }
        }
        balance = next;
    }
    for &row in rows {
        let cells = &mut probs[row * k..(row + 1) * k];
        if let Some(w) = reweighted(cells, &balance) {
            for (cell, v) in cells.iter_mut().zip(w) {
                *cell = v as f32;
            }
        }
    }
}

/// One row's probabilities times `balance`, over their sum; `None` when the sum is 0.
fn reweighted(row: &[f32], balance: &[f64]) -> Option<Vec<f64>> {
    let weighted: Vec<f64> = row
        .iter()
        .zip(balance)
        .map(|(&p, &b)| f64::from(p) * b)
        .collect();
    let total: f64 = weighted.iter().sum();
    (total > 0.0).then(|| weighted.iter().map(|w| w / total).collect())
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
            prior_steps: 0,
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
            prior_steps: 0,
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

    #[test]
    fn the_record_prior_reweights_each_record_to_its_own_mean_answer() {
        let smoothing = Smoothing {
            classes: Vec::new(),
            seconds: 0.0,
            prior_steps: 1,
        };
        let probs = [
            0.8, 0.1, 0.1, // record 0: two clear class-0 beats ...
            0.8, 0.1, 0.1, //
            0.4, 0.5, 0.1, // ... and an unsure one, which the record's balance decides
            0.5, 0.3, 0.2, // record 1: alone, re-weighted by itself
            0.2, 0.7, 0.1, // no place: untouched, and not counted
        ];
        let places = [at(0, 1.0), at(0, 2.0), at(0, 3.0), at(1, 0.0), None];
        let out = smoothing.apply(&probs, 3, &places);
        // Record 0's balance is its mean row (2/3, 0.7/3, 0.1); record 1's is its one row.
        let unsure = [0.4 * 2.0 / 3.0, 0.5 * 0.7 / 3.0, 0.1 * 0.1];
        let clear = [0.8 * 2.0 / 3.0, 0.1 * 0.7 / 3.0, 0.1 * 0.1];
        let alone = [0.25, 0.09, 0.04];
        let mut expected = Vec::new();
        for row in [clear, clear, unsure, alone] {
            let total: f64 = row.iter().sum();
            expected.extend(row.iter().map(|v| v / total));
        }
        expected.extend([0.2, 0.7, 0.1]);
        for (o, e) in out.iter().zip(&expected) {
            assert!((f64::from(*o) - e).abs() < 1e-6, "{out:?}");
        }
        assert!(
            out[6] > out[7],
            "the unsure beat is answered as its record's class"
        );
    }

    #[test]
    fn more_prior_steps_follow_the_em_updates_and_pooling_comes_first() {
        // Two rounds by hand: balance b1 = mean row; b2 = mean of rows times b1, normalised.
        let probs = [0.6f32, 0.4, 0.3, 0.7, 0.8, 0.2];
        let rows = [0, 1, 2];
        let norm = |v: [f64; 2]| [v[0] / (v[0] + v[1]), v[1] / (v[0] + v[1])];
        let p = |r: usize| [f64::from(probs[2 * r]), f64::from(probs[2 * r + 1])];
        let b1 = [(0.6 + 0.3 + 0.8) / 3.0, (0.4 + 0.7 + 0.2) / 3.0];
        let mut b2 = [0.0; 2];
        for r in rows {
            let w = norm([p(r)[0] * b1[0], p(r)[1] * b1[1]]);
            b2 = [b2[0] + w[0] / 3.0, b2[1] + w[1] / 3.0];
        }
        let mut out = probs.to_vec();
        record_prior(&mut out, 2, &rows, 2);
        for r in rows {
            let e = norm([p(r)[0] * b2[0], p(r)[1] * b2[1]]);
            assert!((f64::from(out[2 * r]) - e[0]).abs() < 1e-6, "{out:?}");
        }
        // With pooling as well, the prior reads the pooled probabilities.
        let both = Smoothing {
            classes: vec![0, 1],
            seconds: 100.0,
            prior_steps: 1,
        };
        let places = [at(0, 0.0), at(0, 1.0), at(0, 2.0)];
        let pooled_only = Smoothing {
            prior_steps: 0,
            ..both.clone()
        };
        let mut expected = pooled_only.apply(&probs, 2, &places);
        record_prior(&mut expected, 2, &rows, 1);
        assert_eq!(both.apply(&probs, 2, &places), expected);
    }
}
