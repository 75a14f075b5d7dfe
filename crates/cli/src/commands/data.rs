//! `medpath data ...`: image data sets.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use medpath_data::{
    DatasetReport, ImageDataset, LabelSource, SplitPlan, assign_splits, content_hashes,
};

use crate::output::emit;
use crate::progress;

/// The `data` subcommands.
#[derive(Subcommand)]
pub enum DataCommand {
    /// Summarise an image data set: layout, classes, counts per split and class, patients,
    /// duplicate groups, image sizes, unreadable files.
    Inspect(InspectArgs),
}

/// Arguments of `medpath data inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The data set folder: `<class>/<image>` or `{train,val,test}/<class>/<image>`.
    dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Share of the training pool carved out (by patient) for validation.
    #[arg(long, default_value_t = 0.15)]
    val_fraction: f64,
    /// Share carved out (by patient) for test when there is no test folder.
    #[arg(long, default_value_t = 0.15)]
    test_fraction: f64,
    /// Seed of the split.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the split as CSV (path, class, patient, given split, role).
    #[arg(long)]
    split_csv: Option<PathBuf>,
    /// Where the classes come from instead of class folders: a CSV file with a header
    /// `path,label[,patient][,split]` (paths relative to DIR), or `file-names` (a word of each
    /// image's file name, e.g. `person1_bacteria_2.jpeg`; needs --classes).
    #[arg(long)]
    labels: Option<String>,
    /// The classes, comma-separated: required by `--labels file-names`; with a CSV, a label
    /// outside them is an error.
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
}

/// Runs a `data` subcommand.
pub fn run(command: DataCommand) -> Result<ExitCode> {
    match command {
        DataCommand::Inspect(args) => inspect(args),
    }
}

fn inspect(args: InspectArgs) -> Result<ExitCode> {
    for (name, f) in [
        ("--val-fraction", args.val_fraction),
        ("--test-fraction", args.test_fraction),
    ] {
        anyhow::ensure!((0.0..0.9).contains(&f), "{name} {f}: must be in [0, 0.9)");
    }
    let labels = LabelSource::parse(args.labels.as_deref());
    let dataset = ImageDataset::load(&args.dir, &labels, &args.classes)?;
    let hashes = content_hashes(&dataset)?;
    let plan = SplitPlan {
        val_fraction: args.val_fraction,
        test_fraction: args.test_fraction,
        seed: args.seed,
    };
    let split = assign_splits(&dataset, &hashes, &plan);
    let bar = progress::bar(dataset.entries.len(), "decoding");
    let report = DatasetReport::build(&dataset, &hashes, &split, &mut |done| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    if let Some(path) = &args.split_csv {
        let mut csv = String::from("path,class,patient,given_split,role\n");
        for (entry, role) in dataset.entries.iter().zip(&split.roles) {
            let _ = writeln!(
                csv,
                "{},{},{},{},{}",
                entry.path.display(),
                dataset.classes[entry.class],
                entry.patient,
                entry.given_split.map_or("", |r| r.as_str()),
                role.as_str()
            );
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&report.to_text())?;
    }
    Ok(ExitCode::SUCCESS)
}
