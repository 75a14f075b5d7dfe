//! Synthetic ECG records with realistic P-QRS-T morphology, for tests and the demo.
//!
//! Each beat is a sum of Gaussian waves (P, Q, R, S, T and, where the conduction needs them, a
//! second R or a slurred S) in two leads, MLII and V1, with beat-to-beat variation of amplitude,
//! width and timing, heart-rate variability, baseline wander and noise. A record has one
//! conduction type, like the MIT-BIH records it imitates:
//!
//! - normal conduction: beats `N`, with atrial premature beats `A` (early, inverted P wave);
//! - left bundle branch block: beats `L` (wide notched R in MLII, deep wide QS in V1), rare `A`;
//! - right bundle branch block: beats `R` (wide slurred S in MLII, rSR' in V1), rare `A`.
//!
//! Records are written as real WFDB files (format 212, 360 Hz) with MIT-format annotations.

use std::path::Path;

use medpath_wfdb::{Annotation, Header, Record, RecordLine, RecordPath, SignalSpec, code_of};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::error::Result;

/// Sampling frequency of generated records, as in MIT-BIH.
pub const SYNTH_FS: f64 = 360.0;
/// ADC units per mV of generated records.
const GAIN: f64 = 200.0;
/// Lead names of generated records.
pub const SYNTH_LEADS: [&str; 2] = ["MLII", "V1"];

/// The conduction type of a generated record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conduction {
    /// Normal conduction; beats `N` with atrial premature beats `A`.
    Normal,
    /// Left bundle branch block; beats `L`.
    LeftBundleBranchBlock,
    /// Right bundle branch block; beats `R`.
    RightBundleBranchBlock,
}

impl Conduction {
    fn symbol(self) -> &'static str {
        match self {
            Conduction::Normal => "N",
            Conduction::LeftBundleBranchBlock => "L",
            Conduction::RightBundleBranchBlock => "R",
        }
    }

    /// Share of beats that are atrial premature beats.
    fn apc_rate(self) -> f64 {
        match self {
            Conduction::Normal => 0.18,
            _ => 0.03,
        }
    }
}

/// One Gaussian wave: amplitude (mV), centre relative to the R peak (s), width sigma (s).
type Wave = (f64, f64, f64);

/// QRS and T waves of a conduction type in each lead.
fn ventricular_waves(conduction: Conduction) -> [&'static [Wave]; 2] {
    match conduction {
        Conduction::Normal => [
            &[
                (-0.10, -0.030, 0.008),
                (1.30, 0.0, 0.010),
                (-0.30, 0.028, 0.009),
                (0.32, 0.26, 0.045),
            ],
            &[
                (0.25, -0.008, 0.008),
                (-0.95, 0.022, 0.012),
                (0.12, 0.26, 0.050),
            ],
        ],
        Conduction::LeftBundleBranchBlock => [
            &[
                (0.75, -0.015, 0.022),
                (0.85, 0.040, 0.024),
                (-0.35, 0.32, 0.055),
            ],
            &[
                (0.08, -0.030, 0.008),
                (-1.20, 0.030, 0.035),
                (0.35, 0.33, 0.060),
            ],
        ],
        Conduction::RightBundleBranchBlock => [
            &[
                (-0.08, -0.030, 0.008),
                (1.10, 0.0, 0.011),
                (-0.45, 0.055, 0.025),
                (0.20, 0.28, 0.050),
            ],
            &[
                (0.30, -0.020, 0.009),
                (-0.55, 0.018, 0.010),
                (0.90, 0.060, 0.018),
                (-0.25, 0.30, 0.050),
            ],
        ],
    }
}

/// P waves per lead: sinus, and the ectopic (earlier, inverted) P of an atrial premature beat.
const SINUS_P: [Wave; 2] = [(0.15, -0.17, 0.022), (0.06, -0.17, 0.022)];
const ECTOPIC_P: [Wave; 2] = [(-0.13, -0.13, 0.018), (-0.08, -0.13, 0.018)];

/// A generated record in memory with its annotations.
#[derive(Debug, Clone)]
pub struct SyntheticRecord {
    /// The record (header and samples), ready to write.
    pub record: Record,
    /// Beat annotations, preceded by a rhythm annotation.
    pub annotations: Vec<Annotation>,
}

fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}

/// Generates one record of `duration_s` seconds.
pub fn synthesize(
    name: &str,
    conduction: Conduction,
    duration_s: f64,
    seed: u64,
) -> SyntheticRecord {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = (duration_s * SYNTH_FS).round() as usize;
    let base_rr = 60.0 / rng.random_range(62.0..92.0);
    let lead_gain = [rng.random_range(0.8..1.25), rng.random_range(0.8..1.25)];
    let mut mv = [vec![0f64; n], vec![0f64; n]];
    let mut annotations = vec![Annotation {
        aux: Some(b"(N\0".to_vec()),
        ..Annotation::new(0, code_of("+").unwrap_or(28))
    }];
    let mut t = 0.6 + rng.random_range(0.0..base_rr);
    let mut beat = 0usize;
    let mut premature = false;
    let waves = ventricular_waves(conduction);
    while t < duration_s - 0.7 {
        let rr = rr_with_variability(base_rr, beat, &mut rng);
        // QT follows the heart rate: T waves move with the square root of the RR ratio.
        let t_shift = (rr / base_rr).sqrt();
        // An atrial premature beat keeps the record's conduction (narrow QRS when conduction is
        // normal) but has an ectopic P wave.
        let p = if premature { ECTOPIC_P } else { SINUS_P };
        let centre = (t * SYNTH_FS).round() as i64;
        for lead in 0..2 {
            let amp_jitter = 1.0 + 0.05 * gauss(&mut rng);
            let width_jitter = 1.0 + 0.04 * gauss(&mut rng);
            let last = waves[lead].len();
            let all = std::iter::once(p[lead]).chain(waves[lead].iter().copied());
            for (i, (a, mu, sigma)) in all.enumerate() {
                let mu = if i == last { mu * t_shift } else { mu };
                let amplitude = a * amp_jitter * lead_gain[lead];
                add_wave(&mut mv[lead], centre, amplitude, mu, sigma * width_jitter);
            }
        }
        let symbol = if premature { "A" } else { conduction.symbol() };
        annotations.push(Annotation::new(centre, code_of(symbol).unwrap_or(1)));
        let next_premature = !premature && beat > 0 && rng.random_bool(conduction.apc_rate());
        t += if next_premature {
            rr * rng.random_range(0.55..0.72)
        } else if premature {
            rr * 1.15
        } else {
            rr
        };
        premature = next_premature;
        beat += 1;
    }
    add_noise_and_wander(&mut mv, &mut rng);
    SyntheticRecord {
        record: synthetic_record(
            name,
            &mv,
            format!("medpath synthetic record, conduction {conduction:?}, seed {seed}"),
        ),
        annotations,
    }
}

/// A two-lead record named `name` of the millivolt signals `mv`, stored in format 212.
fn synthetic_record(name: &str, mv: &[Vec<f64>; 2], comment: String) -> Record {
    let signals = mv
        .iter()
        .map(|lead| {
            lead.iter()
                .map(|v| (v * GAIN).round().clamp(-2047.0, 2047.0) as i32)
                .collect()
        })
        .collect();
    let header = Header {
        record: RecordLine {
            name: name.to_string(),
            n_signals: 2,
            fs: SYNTH_FS,
            counter_freq: None,
            base_counter: None,
            n_samples: Some(mv[0].len() as u64),
            base_time: None,
            base_date: None,
        },
        signals: SYNTH_LEADS
            .iter()
            .map(|lead| SignalSpec::new(format!("{name}.dat"), 212, GAIN, *lead))
            .collect(),
        comments: vec![comment],
    };
    Record {
        path: RecordPath {
            dir: ".".into(),
            name: name.to_string(),
        },
        header,
        signals,
    }
}

/// The RR interval of beat `k`: a slow respiratory-like oscillation plus random variation.
fn rr_with_variability(base_rr: f64, k: usize, rng: &mut ChaCha8Rng) -> f64 {
    base_rr * (1.0 + 0.04 * (k as f64 * std::f64::consts::TAU / 11.0).sin() + 0.02 * gauss(rng))
}

/// Adds one Gaussian wave of the beat whose R peak is at sample `centre`.
fn add_wave(signal: &mut [f64], centre: i64, amplitude: f64, mu: f64, sigma: f64) {
    let mid = centre as f64 + mu * SYNTH_FS;
    let reach = (4.0 * sigma * SYNTH_FS).ceil();
    let lo = (mid - reach).max(0.0) as usize;
    let hi = ((mid + reach) as usize + 1).min(signal.len());
    let denominator = 2.0 * (sigma * SYNTH_FS).powi(2);
    for (i, v) in signal.iter_mut().enumerate().take(hi).skip(lo) {
        let d = i as f64 - mid;
        *v += amplitude * (-d * d / denominator).exp();
    }
}

/// Baseline wander (two slow sinusoids) and white measurement noise.
fn add_noise_and_wander(mv: &mut [Vec<f64>; 2], rng: &mut ChaCha8Rng) {
    for lead in mv.iter_mut() {
        let phase: f64 = rng.random_range(0.0..std::f64::consts::TAU);
        let (a1, a2) = (rng.random_range(0.03..0.12), rng.random_range(0.01..0.05));
        for (i, v) in lead.iter_mut().enumerate() {
            let s = i as f64 / SYNTH_FS;
            *v += a1 * (std::f64::consts::TAU * 0.25 * s + phase).sin()
                + a2 * (std::f64::consts::TAU * 0.05 * s).sin()
                + 0.015 * gauss(rng);
        }
    }
}

/// Options of a generated record set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthOptions {
    /// Number of records; conduction types cycle normal, LBBB, RBBB.
    pub records: usize,
    /// Length of each record in seconds.
    pub duration_s: f64,
    /// Seed of the whole set; record `i` uses `seed + i`.
    pub seed: u64,
}

/// Generates a record set and writes it into `dir` as WFDB records `s001`, `s002`, ...
pub fn write_synthetic_set(dir: &Path, options: &SynthOptions) -> Result<Vec<RecordPath>> {
    const KINDS: [Conduction; 3] = [
        Conduction::Normal,
        Conduction::LeftBundleBranchBlock,
        Conduction::RightBundleBranchBlock,
    ];
    let mut paths = Vec::with_capacity(options.records);
    for i in 0..options.records {
        let name = format!("s{:03}", i + 1);
        let mut generated = synthesize(
            &name,
            KINDS[i % 3],
            options.duration_s,
            options.seed.wrapping_add(i as u64),
        );
        generated.record.path = RecordPath {
            dir: dir.to_path_buf(),
            name,
        };
        generated.record.write()?;
        generated
            .record
            .write_annotations("atr", &generated.annotations)?;
        paths.push(generated.record.path.clone());
    }
    Ok(paths)
}
