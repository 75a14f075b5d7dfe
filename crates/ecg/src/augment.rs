//! Augmented views of a beat that mimic differences between patients and recordings: another
//! amplitude per lead, a baseline offset, a slightly faster or slower beat, noise, and
//! optionally a lead that is missing. Each view is drawn from a generator seeded by (seed,
//! record, beat, view), so the same view is always the same picture and its encoder features
//! can be cached.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::beats::Beat;
use crate::error::{EcgError, Result};

/// How much augmented views may differ from the beat.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BeatAugment {
    /// Each lead's amplitude is scaled by a factor in `1 ± amplitude`.
    pub amplitude: f32,
    /// Each lead is shifted by up to this many millivolts.
    pub baseline_mv: f32,
    /// Time is stretched about the R peak by a factor in `1 ± stretch`.
    pub stretch: f32,
    /// Standard deviation of the Gaussian noise added to every sample, in millivolts.
    pub noise_mv: f32,
    /// Probability that each lead after the first is replaced by a flat line (a record whose
    /// second lead is missing or unlike any seen in training).
    pub lead_dropout: f32,
    /// Probability that the first lead (MLII, a limb lead) is drawn upside down: a cardiac
    /// axis or electrode placement unlike the training patients' (record 207's LBBB beats are
    /// negative in MLII, record 109's positive). The other leads keep their polarity, since
    /// V1's polarity is what tells RBBB from LBBB.
    pub first_lead_inversion: f32,
}

impl Default for BeatAugment {
    fn default() -> Self {
        BeatAugment {
            amplitude: 0.2,
            baseline_mv: 0.1,
            stretch: 0.1,
            noise_mv: 0.02,
            lead_dropout: 0.0,
            first_lead_inversion: 0.0,
        }
    }
}

impl BeatAugment {
    /// Checks every setting is a usable amount.
    pub fn validate(&self) -> Result<()> {
        let fractions = [
            ("amplitude", self.amplitude),
            ("stretch", self.stretch),
            ("lead_dropout", self.lead_dropout),
            ("first_lead_inversion", self.first_lead_inversion),
        ];
        for (name, v) in fractions {
            if !(0.0..1.0).contains(&v) {
                return Err(EcgError::Invalid(format!(
                    "augmentation {name} {v}: must be in [0, 1)"
                )));
            }
        }
        for (name, v) in [
            ("baseline_mv", self.baseline_mv),
            ("noise_mv", self.noise_mv),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(EcgError::Invalid(format!(
                    "augmentation {name} {v}: must be a millivolt amount >= 0"
                )));
            }
        }
        Ok(())
    }

    /// The traces of augmented view `view` (>= 1) of `beat`.
    pub fn traces(&self, beat: &Beat, seed: u64, view: usize) -> Vec<Vec<f32>> {
        let mut rng = ChaCha8Rng::seed_from_u64(view_seed(seed, beat, view));
        let stretch = 1.0 + rng.random_range(-1.0..=1.0) * self.stretch;
        let noise = Normal::new(0.0f32, self.noise_mv.max(f32::MIN_POSITIVE)).expect("finite");
        beat.traces
            .iter()
            .enumerate()
            .map(|(lead, trace)| {
                let gain = 1.0 + rng.random_range(-1.0..=1.0) * self.amplitude;
                let offset = rng.random_range(-1.0..=1.0) * self.baseline_mv;
                let dropped = lead > 0 && rng.random::<f32>() < self.lead_dropout;
                // Drawn only when asked for, so that views without it stay as they were.
                let polarity = if lead == 0
                    && self.first_lead_inversion > 0.0
                    && rng.random::<f32>() < self.first_lead_inversion
                {
                    -1.0
                } else {
                    1.0
                };
                let stretched = stretch_about(trace, beat.r_index, stretch);
                stretched
                    .into_iter()
                    .map(|v| {
                        let jitter = if self.noise_mv > 0.0 {
                            noise.sample(&mut rng)
                        } else {
                            0.0
                        };
                        if dropped {
                            0.0
                        } else {
                            polarity * v * gain + offset + jitter
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// A seed unique to (seed, record, beat position, view).
fn view_seed(seed: u64, beat: &Beat, view: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    let bytes = beat
        .record
        .bytes()
        .chain(beat.sample.to_le_bytes())
        .chain((view as u64).to_le_bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `trace` resampled so that time runs `factor` times slower about `centre` (linear
/// interpolation, edges held).
fn stretch_about(trace: &[f32], centre: usize, factor: f32) -> Vec<f32> {
    let last = trace.len().saturating_sub(1) as f32;
    (0..trace.len())
        .map(|i| {
            let source = (centre as f32 + (i as f32 - centre as f32) / factor).clamp(0.0, last);
            let lo = source.floor() as usize;
            let hi = (lo + 1).min(trace.len() - 1);
            let t = source - lo as f32;
            trace[lo] * (1.0 - t) + trace[hi] * t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::BeatTiming;

    fn beat() -> Beat {
        Beat {
            record: "100".into(),
            sample: 1000,
            symbol: "N".into(),
            timing: BeatTiming {
                prev_rr: Some(0.8),
                next_rr: Some(0.8),
                local_rr: Some(0.8),
            },
            traces: vec![
                (0..100).map(|i| (i as f32 / 10.0).sin()).collect(),
                (0..100).map(|i| (i as f32 / 7.0).cos()).collect(),
            ],
            r_index: 40,
            signal: Vec::new(),
            measurements: Vec::new(),
        }
    }

    #[test]
    fn views_are_repeatable_distinct_and_bounded() {
        let a = BeatAugment::default();
        let b = beat();
        assert_eq!(a.traces(&b, 3, 1), a.traces(&b, 3, 1));
        assert_ne!(a.traces(&b, 3, 1), a.traces(&b, 3, 2));
        assert_ne!(a.traces(&b, 3, 1), a.traces(&b, 4, 1));
        let quiet = BeatAugment { noise_mv: 0.0, ..a };
        for view in 1..20 {
            for (orig, new) in b.traces.iter().zip(quiet.traces(&b, 1, view)) {
                let peak = |t: &[f32]| t.iter().fold(0f32, |m, v| m.max(v.abs()));
                assert!(peak(&new) <= peak(orig) * 1.2 + 0.1 + 1e-5);
                assert_eq!(new.len(), orig.len());
            }
        }
    }

    #[test]
    fn stretching_keeps_the_r_peak_in_place_and_dropout_flattens_later_leads() {
        let b = beat();
        let s = stretch_about(&b.traces[0], b.r_index, 1.1);
        assert_eq!(s[b.r_index], b.traces[0][b.r_index]);
        let all_dropped = BeatAugment {
            lead_dropout: 0.999,
            noise_mv: 0.0,
            ..BeatAugment::default()
        };
        let t = all_dropped.traces(&b, 1, 1);
        assert!(t[1].iter().all(|&v| v == 0.0));
        assert!(t[0].iter().any(|&v| v != 0.0));
        assert!(
            BeatAugment {
                stretch: 1.5,
                ..BeatAugment::default()
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn inversion_flips_only_the_first_lead_in_about_the_asked_share_of_views() {
        let b = beat();
        let plain = BeatAugment {
            amplitude: 0.0,
            baseline_mv: 0.0,
            stretch: 0.0,
            noise_mv: 0.0,
            ..BeatAugment::default()
        };
        let always = BeatAugment {
            first_lead_inversion: 0.999,
            ..plain
        };
        let t = always.traces(&b, 1, 1);
        let negated: Vec<f32> = b.traces[0].iter().map(|v| -v).collect();
        assert_eq!(t[0], negated);
        assert_eq!(t[1], b.traces[1]);
        // Nothing asked for: the beat itself.
        assert_eq!(plain.traces(&b, 1, 1), b.traces);
        let sometimes = BeatAugment {
            first_lead_inversion: 0.5,
            ..plain
        };
        let flipped = (1..200)
            .filter(|&view| sometimes.traces(&b, 1, view)[0] == negated)
            .count();
        assert!(
            (60..140).contains(&flipped),
            "{flipped} of 199 views flipped"
        );
    }
}
