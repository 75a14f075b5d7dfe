//! `medpath evolve` and `medpath train`: one task's phase 1 or phase 2 as a separate step, in
//! the run folder `medpath run` uses (which then reuses what the stages finished).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use medpath_experiment::Experiment;

use crate::output::emit;
use crate::progress::TerminalReporter;

/// Arguments of the stage commands.
#[derive(Args)]
pub struct StageArgs {
    /// The experiment file.
    experiment: PathBuf,
    /// The task (a `[tasks.NAME]` of the file).
    #[arg(long)]
    task: String,
    /// Override a setting, e.g. `--set search.tournaments=20`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Run folder (default: runs/<experiment file name>); an interrupted stage resumes.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs phase 1 (`train == false`) or phase 2 of the task.
pub fn run(args: StageArgs, train: bool) -> Result<ExitCode> {
    let experiment = Experiment::load(&args.experiment, &args.overrides)?;
    let out = args
        .out
        .unwrap_or_else(|| crate::commands::run::default_out(&args.experiment));
    let line = medpath_experiment::run::run_stage(
        &experiment,
        &out,
        &args.task,
        train,
        &mut TerminalReporter::default(),
    )?;
    emit(&format!("{line}\n"))?;
    Ok(ExitCode::SUCCESS)
}
