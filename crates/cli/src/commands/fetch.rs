//! `medpath fetch vgg16`: download published VGG-16 weights (resumable, checksum-verified).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use medpath_fetch::{KnownWeights, TIMM_VGG16, TORCHVISION_VGG16, download};

use crate::output::emit;
use crate::progress;

/// The `fetch` subcommands.
#[derive(Subcommand)]
pub enum FetchCommand {
    /// Download ImageNet VGG-16 weights (torchvision's .pth or timm's safetensors).
    Vgg16(Vgg16Args),
}

/// Where to download from.
#[derive(Clone, Copy, ValueEnum)]
pub enum SourceArg {
    /// torchvision's vgg16-397923af.pth (SHA-256 prefix checked).
    Torchvision,
    /// timm's vgg16.tv_in1k model.safetensors.
    Timm,
}

/// Arguments of `medpath fetch vgg16`.
#[derive(Args)]
pub struct Vgg16Args {
    /// Folder to save the weights in.
    #[arg(long)]
    out: PathBuf,
    /// Which published file.
    #[arg(long, value_enum, default_value = "torchvision")]
    source: SourceArg,
    /// Download from this URL instead (a mirror); the file name and checksum stay the source's
    /// unless --sha256 is given.
    #[arg(long)]
    url: Option<String>,
    /// Expected SHA-256 (or a prefix of it).
    #[arg(long)]
    sha256: Option<String>,
}

/// Runs a `fetch` subcommand.
pub fn run(command: FetchCommand) -> Result<ExitCode> {
    match command {
        FetchCommand::Vgg16(args) => vgg16(args),
    }
}

fn vgg16(args: Vgg16Args) -> Result<ExitCode> {
    let known: KnownWeights = match args.source {
        SourceArg::Torchvision => TORCHVISION_VGG16,
        SourceArg::Timm => TIMM_VGG16,
    };
    let url = args.url.as_deref().unwrap_or(known.url);
    let expected = args.sha256.as_deref().or(known.sha256_prefix);
    let dest = args.out.join(known.file);
    if dest.exists() {
        emit(&format!(
            "{} already exists; delete it to download again\n",
            dest.display()
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let bar = progress::bar(0, "download");
    let hash = download(url, &dest, expected, 3, &mut |done, total| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    let check = if expected.is_some() {
        "checksum verified"
    } else {
        "no published checksum to verify"
    };
    emit(&format!(
        "{} (SHA-256 {hash}; {check}; preprocessing: {})\nuse it with --weights {}\n",
        dest.display(),
        known.preprocess,
        dest.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}
