//! `medpath demo`: the whole pipeline on built-in generated data.
//!
//! Today it runs the stages that exist: synthetic WFDB records are generated, read back and
//! checked, cut into beat images twice (the paper's single-lead setting and the two-lead setting
//! with context), and the paper-setting images are encoded by the VGG-16 encoder through the
//! feature cache. The learning stages (path search, training, router, report) join as they are
//! built; the demo says which ones are still missing.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, ensure};
use clap::Args;
use medpath_ecg::{
    BeatOptions, SynthOptions, export_beat_images, parse_lead_list, write_synthetic_set,
};
use medpath_wfdb::Record;

use crate::commands::encode::EncoderArgs;

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
    #[command(flatten)]
    encoder: EncoderArgs,
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
    report.push_str(&encode_beats(&args, &args.out.join("beats_paper"))?);
    report.push_str(
        "\nNot built yet (coming with the next stages): path search, training, router, joint test and the\n\
         HTML report.\n",
    );
    emit(&report)?;
    Ok(ExitCode::SUCCESS)
}

/// Encodes the beat images of `dir` (an export's `beats.csv`) and says what it did.
fn encode_beats(args: &DemoArgs, dir: &std::path::Path) -> Result<String> {
    use medpath_model::ViewRequest;

    let csv = std::fs::read_to_string(dir.join(medpath_ecg::export::BEATS_CSV))?;
    let requests: Vec<ViewRequest> = csv
        .lines()
        .skip(1)
        .filter_map(|line| line.split(',').nth(4))
        .map(|relative| ViewRequest {
            path: dir.join(relative),
            view: 0,
        })
        .collect();
    let loaded = args.encoder.load(64)?;
    let featurizer = args.encoder.originals_featurizer(&loaded);
    let bar = progress::bar(requests.len(), "encode");
    let started = std::time::Instant::now();
    let mut values = 0usize;
    let stats = featurizer.run(
        &requests,
        &mut |_, features| {
            values = features.len();
            Ok(())
        },
        &mut |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    let weights = if loaded.weights.is_random() {
        "random weights"
    } else {
        "ImageNet weights"
    };
    Ok(format!(
        "4. encoded {} beat images with VGG-16 ({weights}, {} px, {:?} preprocessing): {} values each; \
         {} computed, {} from the feature cache, {} unreadable, in {:.1} s\n",
        requests.len(),
        loaded.preprocess.size,
        loaded.preprocess.normalization,
        values,
        stats.computed,
        stats.cached,
        stats.failed.len(),
        started.elapsed().as_secs_f64()
    ))
}
