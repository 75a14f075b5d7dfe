//! `medpath serve`: a trained model behind an HTTP API and a web page.
//!
//! - `POST /v1/predict`: one image (JPEG, PNG or DICOM, recognised by content) as the raw body or
//!   as a multipart part named `file`, or a WFDB record (its `.hea`, `.dat` and optional `.atr`
//!   as multipart parts, or a zip of them as the body); the answer is what `medpath predict
//!   --json` prints for the same input. `?explain=true` adds the occlusion heat maps.
//! - `GET /v1/model`, `GET /healthz`, `GET /metrics` (Prometheus text), `GET /` (the page).
//!
//! The model is loaded once per worker; requests queue for a worker instead of running side by
//! side on the same cores, and images waiting together are answered in one call. With a token, every route but `/`, `/healthz` asks for
//! `Authorization: Bearer TOKEN`. Uploads live in a temporary folder for the length of their
//! request; nothing is kept, and the log holds method, route, status and time only.
//!
//! - [`upload`]: a request body to files on disk.
//! - [`handlers`]: the routes.
//! - [`metrics`]: the counters behind `/metrics`.
//! - [`auth`]: the bearer-token check.
//! - [`workers`]: the loaded models, their queue, and images answered together.

pub mod auth;
pub mod handlers;
pub mod metrics;
pub mod upload;
pub mod workers;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use medpath_infer::predict::Predictor;

/// What can go wrong starting the service.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting that cannot work.
    #[error("{0}")]
    Setting(String),
    /// The model could not be loaded.
    #[error(transparent)]
    Model(#[from] medpath_infer::InferError),
    /// The address could not be bound, or the server failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// How the service runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The run folder (or bundle) of the model.
    pub model: PathBuf,
    /// The encoder weights, where not at the path the model names.
    pub weights: Option<PathBuf>,
    /// Address to listen on (port 0: any free port, printed at start).
    pub bind: SocketAddr,
    /// The bearer token callers must present (none: no authentication).
    pub token: Option<String>,
    /// Models loaded side by side; requests beyond them wait in a queue.
    pub workers: usize,
    /// Largest request body in bytes.
    pub max_body: usize,
    /// Longest a request may take, queueing included.
    pub timeout: Duration,
}

/// Refuses a non-loopback address without a token unless `insecure`, and a zero worker count.
pub fn check_config(config: &ServeConfig, insecure: bool) -> Result<(), ServeError> {
    if config.workers == 0 {
        return Err(ServeError::Setting("--workers: 0 (at least 1)".into()));
    }
    if !config.bind.ip().is_loopback() && config.token.is_none() && !insecure {
        return Err(ServeError::Setting(format!(
            "--bind {}: not a loopback address, and no --token-file: anyone who can reach it could use the model; give --token-file FILE, or --insecure if a proxy in front authenticates",
            config.bind
        )));
    }
    Ok(())
}

/// Everything the handlers share.
pub struct AppState {
    /// The models and their queue.
    pub(crate) workers: workers::Workers,
    /// The token, when one is required.
    pub(crate) token: Option<String>,
    /// The model's description for `/v1/model`.
    pub(crate) model: serde_json::Value,
    /// Request counters.
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// Largest request body in bytes.
    pub(crate) max_body: usize,
}

impl AppState {
    /// Loads `config.workers` copies of the model.
    pub fn load(config: &ServeConfig) -> Result<AppState, ServeError> {
        let mut pool = Vec::with_capacity(config.workers);
        for _ in 0..config.workers {
            pool.push(Predictor::open_with_weights(
                &config.model,
                config.weights.as_deref(),
            )?);
        }
        let model = handlers::model_description(&pool[0]);
        let metrics = Arc::new(metrics::Metrics::default());
        Ok(AppState {
            workers: workers::Workers::start(pool, metrics.clone()),
            token: config.token.clone(),
            model,
            metrics,
            max_body: config.max_body,
        })
    }
}

/// Serves until interrupted (Ctrl-C or SIGTERM), printing the address it listens on.
pub fn serve(config: ServeConfig) -> Result<(), ServeError> {
    let state = Arc::new(AppState::load(&config)?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            what: "starting the runtime".into(),
            source,
        })?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("binding {}", config.bind),
                source,
            })?;
        let address = listener.local_addr().map_err(|source| ServeError::Io {
            what: "reading the bound address".into(),
            source,
        })?;
        eprintln!("medpath serve: listening on http://{address}");
        let app = handlers::router(state, config.timeout);
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|source| ServeError::Io {
                what: "serving".into(),
                source,
            })
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
