//! `medpath demo`: the whole pipeline on built-in generated data.
//!
//! Today it runs the stages that exist: synthetic WFDB records are generated, read back and
//! checked, and cut into beat images twice (the paper's single-lead setting and the two-lead
//! setting with context). The learning stages (encoder, path search, training, router, report)
//! join as they are built; the demo says which ones are still missing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, ensure};
use clap::Args;
use medpath_ecg::{
    BeatOptions, SynthOptions, export_beat_images, parse_lead_list, write_synthetic_set,
};
use medpath_wfdb::Record;

use crate::output::emit;
use crate::progress;

/// Arguments of `medpath demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Folder for everything the demo writes.
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Random seed of the generated data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<ExitCode> {
    let records_dir = args.out.join("ecg_records");
    let synth = SynthOptions {
        records: 6,
        duration_s: 120.0,
        seed: args.seed,
    };
    let records = write_synthetic_set(&records_dir, &synth)?;
    let mut report = format!(
        "medpath demo\n\n1. generated {} synthetic WFDB records ({} s each, MLII + V1, 360 Hz) in {}\n",
        records.len(),
        synth.duration_s,
        records_dir.display()
    );
    for path in &records {
        let record = Record::read(&path.dir.join(&path.name))?;
        ensure!(
            record.checksums().iter().all(|c| c.ok()),
            "record {} fails its checksum after writing",
            path.name
        );
    }
    report.push_str("   read back: every record's checksums match its header\n");
    let paper = BeatOptions::paper();
    let mut two_leads = BeatOptions::paper();
    two_leads.leads = parse_lead_list("MLII,V1")?;
    two_leads.context = 1;
    for (step, (name, options)) in [("paper", paper), ("two_leads_context", two_leads)]
        .into_iter()
        .enumerate()
    {
        let out = args.out.join(format!("beats_{name}"));
        let bar = progress::bar(records.len(), name);
        let summary = export_beat_images(&records, &options, 128, &out, &mut |done, _, _| {
            bar.set_position(done as u64)
        })?;
        bar.finish_and_clear();
        report.push_str(&format!(
            "{}. beat images ({name}): {}\n   in {}\n",
            step + 2,
            summary.line(),
            out.display()
        ));
    }
    report.push_str(
        "\nNot built yet (coming with the next stages): the VGG-16 encoder and feature cache, path search,\n\
         training, router, joint test and the HTML report.\n",
    );
    emit(&report)?;
    Ok(ExitCode::SUCCESS)
}
