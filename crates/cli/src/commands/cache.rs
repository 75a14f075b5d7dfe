//! `medpath cache stats|verify [--repair]`: what a feature cache folder holds, and whether every
//! entry reads back.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, Subcommand};
use medpath_infer::encoder::default_cache_dir;

use crate::output::emit;

/// Temporary files older than this are a killed writer's, and `--repair` removes them.
const STALE_TEMPORARY: Duration = Duration::from_secs(600);

/// The cache subcommands.
#[derive(Subcommand)]
pub enum CacheCommand {
    /// Count namespaces, entries, bytes and writers' temporary files.
    Stats(CacheArgs),
    /// Read every entry back and list the damaged ones (exit status 1 when there are any).
    Verify(VerifyArgs),
}

/// Which cache.
#[derive(Args)]
pub struct CacheArgs {
    /// Cache folder (default: $MEDPATH_CACHE, else ~/.cache/medpath).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
}

/// Arguments of `medpath cache verify`.
#[derive(Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    cache: CacheArgs,
    /// Remove damaged entries (they are computed again when next needed) and temporary files
    /// older than ten minutes.
    #[arg(long)]
    repair: bool,
}

/// Runs a cache subcommand.
pub fn run(command: CacheCommand) -> Result<ExitCode> {
    let (args, verify, repair) = match command {
        CacheCommand::Stats(args) => (args, false, false),
        CacheCommand::Verify(v) => (v.cache, true, v.repair),
    };
    let root = args.cache.unwrap_or_else(default_cache_dir);
    let stats = medpath_cache::scan(&root, verify)?;
    let removed = if repair {
        medpath_cache::repair(&root, &stats, STALE_TEMPORARY)?
    } else {
        0
    };
    if args.json {
        let doc = serde_json::json!({
            "cache": root,
            "stats": stats,
            "removed": removed,
        });
        emit(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        let mut text = format!(
            "{}: {} namespaces, {} entries, {:.1} MB, {} temporary files\n",
            root.display(),
            stats.namespaces,
            stats.entries,
            stats.bytes as f64 / 1e6,
            stats.temporaries
        );
        if verify {
            text += &format!("{} damaged entries\n", stats.damaged.len());
            for path in &stats.damaged {
                text += &format!("  damaged: {}\n", path.display());
            }
        }
        if repair {
            text += &format!("{removed} files removed\n");
        }
        emit(&text)?;
    }
    Ok(if verify && !stats.damaged.is_empty() && !repair {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
