//! `medpath demo`: the whole multitask pipeline on built-in generated data (synthetic ECG
//! records and two-class shape images), with the same code as `medpath run`, report included.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;

use crate::commands::summary::summary_table;
use crate::output::emit;
use crate::progress::TerminalReporter;

/// Arguments of `medpath demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Folder for everything the demo writes (generated data, cache, run, report).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Seed of the generated data and the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// VGG-16 weights; without them the encoder uses seeded random weights.
    #[arg(long)]
    weights: Option<PathBuf>,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let experiment = medpath_experiment::demo::prepare_demo(
        &args.out.join("generated"),
        args.seed,
        args.weights.as_deref(),
    )?;
    let summary =
        medpath_experiment::run(&experiment, &args.out, &mut TerminalReporter::default())?;
    emit(&summary_table(&summary))?;
    emit(&format!(
        "open {} in a browser for the report\n",
        args.out.join("report.html").display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
