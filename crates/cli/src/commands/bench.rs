//! `medpath bench encoder`: the encoder's speed on this machine (used by `bench/encoder.sh`,
//! which runs the peers in the same session and prints the ratios).

use std::process::ExitCode;

use anyhow::{Result, ensure};
use clap::{Args, Subcommand};
use medpath_model::{Arithmetic, Engine, Vgg16Encoder};
use medpath_weights::EncoderWeights;

use crate::output::emit;

/// The `bench` subcommands.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time the VGG-16 encoder forward pass on random inputs and weights; prints one JSON line.
    Encoder(EncoderBenchArgs),
}

/// Arguments of `medpath bench encoder`.
#[derive(Args)]
pub struct EncoderBenchArgs {
    /// Images per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Input side in pixels.
    #[arg(long, default_value_t = 224)]
    size: usize,
    /// Timed repetitions after one warm-up; the median is reported.
    #[arg(long, default_value_t = 7)]
    repeats: usize,
    /// `cpu` (medpath-conv's kernels, the default engine) or `burn` (burn 0.22 Flex, or the GPU
    /// of a `cuda`/`wgpu` build).
    #[arg(long, default_value = "cpu")]
    engine: String,
    /// Arithmetic of the cpu engine's matrix products: `f32`, or `bf16` (AVX512-BF16 or Intel
    /// AMX; an error on CPUs with neither).
    #[arg(long, default_value = "f32")]
    precision: String,
}

/// Runs a `bench` subcommand.
pub fn run(command: BenchCommand) -> Result<ExitCode> {
    match command {
        BenchCommand::Encoder(args) => encoder(args),
    }
}

fn encoder(args: EncoderBenchArgs) -> Result<ExitCode> {
    ensure!(
        args.batch > 0 && args.repeats > 0 && args.size >= 32,
        "need batch > 0, repeats > 0, size >= 32"
    );
    let engine = engine_of(&args.engine, &args.precision)?;
    let encoder = Vgg16Encoder::new(&EncoderWeights::random(0), &engine)?;
    let n = args.batch * 3 * args.size * args.size;
    let input: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    encoder.encode(&input, args.batch, args.size)?;
    let mut times = Vec::with_capacity(args.repeats);
    for _ in 0..args.repeats {
        let start = std::time::Instant::now();
        let out = encoder.encode(&input, args.batch, args.size)?;
        times.push(start.elapsed().as_secs_f64());
        ensure!(out.iter().all(|v| v.is_finite()), "non-finite features");
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let line = serde_json::json!({
        "engine": format!("medpath {}", engine.describe()),
        "precision": args.precision,
        "batch": args.batch,
        "size": args.size,
        "images_per_s": args.batch as f64 / median,
        "median_s": median,
    });
    emit(&format!("{line}\n"))?;
    Ok(ExitCode::SUCCESS)
}

/// The engine named by `--engine` at `--precision` (only the cpu engine has a choice).
fn engine_of(name: &str, precision: &str) -> Result<Engine> {
    let arithmetic = Arithmetic::parse(precision)
        .ok_or_else(|| anyhow::anyhow!("--precision {precision}: expected f32, bf16 or int8"))?;
    match Engine::parse(name)? {
        Engine::Cpu(_) => Ok(Engine::Cpu(arithmetic)),
        burn => {
            ensure!(
                arithmetic == Arithmetic::F32,
                "--precision {precision}: only the cpu engine has reduced precision"
            );
            Ok(burn)
        }
    }
}
