//! `medpath run EXPERIMENT.toml`: an experiment end to end, resumable.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use medpath_experiment::Experiment;

use crate::commands::summary::summary_table;
use crate::output::emit;
use crate::progress::TerminalReporter;

/// Arguments of `medpath run`.
#[derive(Args)]
pub struct RunArgs {
    /// The experiment file (see experiments/paper.toml).
    experiment: PathBuf,
    /// Override a setting, e.g. `--set search.tournaments=20 --set tasks.ecg.mitdb=DIR`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Run folder (default: runs/<experiment file name>). Running again resumes it.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// The default run folder of an experiment file: `runs/<file name without extension>`.
pub fn default_out(experiment: &std::path::Path) -> PathBuf {
    let stem = experiment
        .file_stem()
        .map_or_else(|| "run".into(), |s| s.to_string_lossy().to_string());
    PathBuf::from("runs").join(stem)
}

/// Runs the experiment.
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let experiment = Experiment::load(&args.experiment, &args.overrides)?;
    let out = args.out.unwrap_or_else(|| default_out(&args.experiment));
    let summary = medpath_experiment::run(&experiment, &out, &mut TerminalReporter::default())?;
    emit(&summary_table(&summary))?;
    Ok(ExitCode::SUCCESS)
}
