//! `medpath transfer EXPERIMENT --task NAME`: what learning a task after the others buys, from
//! few training images per class to all of them (see `medpath_experiment::run::transfer`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::Args;
use medpath_experiment::Experiment;
use medpath_experiment::run::{SummaryRow, TransferPlan, summarise, transfer};

use crate::output::emit;
use crate::progress::TerminalReporter;

/// Arguments of `medpath transfer`.
#[derive(Args)]
pub struct TransferArgs {
    /// The experiment file; its run must have finished the tasks before `--task`.
    experiment: PathBuf,
    /// The task to learn again (a `[tasks.NAME]` after at least one other task).
    #[arg(long)]
    task: String,
    /// Training images per class of each size measured (`all`: the whole training pool).
    #[arg(long, value_delimiter = ',', default_value = "10,30,100,300,all")]
    per_class: Vec<String>,
    /// Seeded draws per size.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Override a setting, as the run was started with (e.g. `--set tasks.subtype.test_dir=DIR`).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Run folder (default: runs/<experiment file name>); a rerun skips finished draws.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// `10`, `300` or `all` as a size.
fn size(text: &str) -> Result<Option<usize>> {
    if text == "all" {
        return Ok(None);
    }
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => bail!("--per-class: `{text}` is neither a positive number nor `all`"),
    }
}

/// The summary as a text table.
fn table(rows: &[SummaryRow]) -> String {
    let mut out = String::from(
        "per class  images  method           seeds  test accuracy    AUROC            steps to 95 %\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<9}  {:>6.0}  {:<15}  {:>5}  {:.4} ± {:.4}  {}  {}",
            r.per_class.map_or("all".to_string(), |n| n.to_string()),
            r.train_images,
            r.method,
            r.seeds,
            r.accuracy.0,
            r.accuracy.1,
            r.auroc
                .map_or("n/a            ".to_string(), |(m, s)| format!(
                    "{m:.4} ± {s:.4}"
                )),
            r.steps_to_95
                .map_or("n/a".to_string(), |s| format!("{s:.0}")),
        );
    }
    out
}

/// Runs the measurement.
pub fn run(args: TransferArgs) -> Result<ExitCode> {
    let experiment = Experiment::load(&args.experiment, &args.overrides)?;
    if args.seeds == 0 {
        bail!("--seeds: 0 (at least 1)");
    }
    let plan = TransferPlan {
        task: args.task,
        per_class: args
            .per_class
            .iter()
            .map(|s| size(s))
            .collect::<Result<_>>()?,
        seeds: args.seeds,
    };
    let out = args
        .out
        .unwrap_or_else(|| crate::commands::run::default_out(&args.experiment));
    let draws = transfer(&experiment, &out, &plan, &mut TerminalReporter::default())?;
    emit(&table(&summarise(&draws)))?;
    eprintln!(
        "every draw: {}; figure: {}",
        out.join("transfer/transfer.csv").display(),
        out.join("transfer/transfer.png").display()
    );
    Ok(ExitCode::SUCCESS)
}
