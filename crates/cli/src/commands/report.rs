//! `medpath report RUN_DIR`: rebuilds the HTML report from a run folder.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;

use crate::output::emit;

/// Arguments of `medpath report`.
#[derive(Args)]
pub struct ReportArgs {
    /// A finished run folder (from `medpath run` or `medpath demo`).
    run: PathBuf,
}

/// Writes RUN_DIR/report.html.
pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let missing = medpath_report::write_report(&args.run)?;
    if !missing.is_empty() {
        let names: Vec<String> = missing.iter().map(|p| p.display().to_string()).collect();
        bail!(
            "report written, but {} figures are missing: {}",
            missing.len(),
            names.join(", ")
        );
    }
    emit(&format!("{}\n", args.run.join("report.html").display()))?;
    Ok(ExitCode::SUCCESS)
}
