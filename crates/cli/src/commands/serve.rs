//! `medpath serve --model RUN_DIR`: the model behind an HTTP API and a web page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use medpath_serve::{ServeConfig, check_config, serve};

/// Arguments of `medpath serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// A run folder from `medpath run` or `medpath demo` (or its bundle/ folder).
    #[arg(long)]
    model: PathBuf,
    /// The encoder weights, where not at the path the model names (checked against its hash).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// A file whose first line is the bearer token every caller must present.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Copies of the model answering side by side; further requests queue.
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 64)]
    max_body_mib: usize,
    /// Longest a request may take, queueing included, in seconds.
    #[arg(long, default_value_t = 300)]
    timeout_s: u64,
    /// Listen on a non-loopback address without a token (a proxy in front authenticates).
    #[arg(long)]
    insecure: bool,
}

/// Runs the service until interrupted.
pub fn run(args: ServeArgs) -> Result<ExitCode> {
    let token = match &args.token_file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("{}: cannot read the token file", file.display()))?;
            let token = medpath_serve::auth::read_token(&text)
                .map_err(|m| anyhow::anyhow!("{}: {m}", file.display()))?;
            Some(token)
        }
        None => None,
    };
    let config = ServeConfig {
        model: args.model,
        weights: args.weights,
        bind: args.bind,
        token,
        workers: args.workers,
        max_body: args.max_body_mib.saturating_mul(1 << 20),
        timeout: Duration::from_secs(args.timeout_s.max(1)),
    };
    check_config(&config, args.insecure)?;
    serve(config)?;
    Ok(ExitCode::SUCCESS)
}
