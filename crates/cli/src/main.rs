//! The `medpath` command-line program.

mod commands;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Multitask medical image classification: a frozen VGG-16 encoder shared by all tasks and a
/// PathNet-style path network whose per-task paths are found by evolutionary search.
#[derive(Parser)]
#[command(name = "medpath", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Speed measurements (see bench/encoder.sh for the comparison with peers).
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// The feature cache: what it holds, and whether every entry reads back.
    #[command(subcommand)]
    Cache(commands::cache::CacheCommand),
    /// Run the pipeline end to end on built-in generated data.
    Demo(commands::demo::DemoArgs),
    /// Image data sets: inspect folders, splits, duplicates.
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// Phase 1 of one task of an experiment: evolutionary path search (resumable).
    Evolve(commands::stage::StageArgs),
    /// Phase 2 of one task: train its path, test it, run the ablations (after `evolve`).
    Train(commands::stage::StageArgs),
    /// Compute VGG-16 features of images and write them as safetensors.
    Encode(commands::encode::EncodeArgs),
    /// Classify images and WFDB records with a trained model (a run folder).
    Predict(commands::predict::PredictArgs),
    /// Rebuild the HTML report of a run folder.
    Report(commands::report::ReportArgs),
    /// Serve a trained model: an HTTP API (`POST /v1/predict`) and a web page.
    Serve(commands::serve::ServeArgs),
    /// Run an experiment file end to end (resumes an interrupted run).
    Run(commands::run::RunArgs),
    /// What learning a task after the others buys: few-image curves against a fresh network,
    /// a random path, a linear readout and boosted trees.
    Transfer(commands::transfer::TransferArgs),
    /// Download published weights.
    #[command(subcommand)]
    Fetch(commands::fetch::FetchCommand),
    /// ECG records: inspect WFDB records, cut beats into images, generate synthetic records.
    #[command(subcommand)]
    Ecg(commands::ecg::EcgCommand),
}

fn main() -> ExitCode {
    // A panic inside the DICOM reader becomes an error naming the file (see
    // `medpath_data::dicom`); the default hook would print it as a crash first.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !medpath_data::dicom::decoding_in_progress() {
            default_hook(info);
        }
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Bench(command) => commands::bench::run(command),
        Command::Cache(command) => commands::cache::run(command),
        Command::Demo(args) => commands::demo::run(args),
        Command::Data(command) => commands::data::run(command),
        Command::Ecg(command) => commands::ecg::run(command),
        Command::Encode(args) => commands::encode::run(args),
        Command::Evolve(args) => commands::stage::run(args, false),
        Command::Train(args) => commands::stage::run(args, true),
        Command::Fetch(command) => commands::fetch::run(command),
        Command::Predict(args) => commands::predict::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Run(args) => commands::run::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Transfer(args) => commands::transfer::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes in one line, each said once: a message that already holds its
/// cause's text (`FILE: No such file or directory`) does not repeat it.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Unreadable {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_said_once_and_a_new_one_is_added() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let error = anyhow::Error::new(Unreadable {
            path: "w.safetensors".into(),
            source: io,
        });
        assert_eq!(one_line(&error), "w.safetensors: No such file or directory");
        let wrapped = error.context("loading the model");
        assert_eq!(
            one_line(&wrapped),
            "loading the model: w.safetensors: No such file or directory"
        );
    }
}
