//! The routes: `POST /v1/predict`, `GET /v1/model`, `GET /healthz`, `GET /metrics` and the page
//! at `/`, behind the token check, the body limit, the timeout and the request log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use medpath_infer::predict::Predictor;
use serde::Deserialize;
use serde_json::json;
use tower_http::timeout::TimeoutLayer;

use crate::AppState;
use crate::auth::authorised;
use crate::upload::{Staged, UploadError, stage_body, stage_parts};
use crate::workers::Job;

/// The page: self-contained, its script served with it.
const PAGE: &str = include_str!("page.html");

/// A one-line error as JSON with its status.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// The application with every route and layer.
pub fn router(state: Arc<AppState>, timeout: Duration) -> Router {
    let max_body = state.max_body;
    Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/model", get(model))
        .route("/v1/predict", post(predict))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// The token check (every route but the page and `/healthz`), then the request log and the
/// request counters. The log names method, route, status and time: never a body or a header.
async fn guard(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let (method, route) = (request.method().clone(), request.uri().path().to_string());
    let open = matches!(route.as_str(), "/" | "/healthz");
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let response = match &state.token {
        Some(token) if !open && !authorised(presented, token) => error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token (Authorization: Bearer TOKEN)",
        ),
        _ => next.run(request).await,
    };
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    let known = matches!(
        route.as_str(),
        "/" | "/healthz" | "/metrics" | "/v1/model" | "/v1/predict"
    );
    let counted = if known { route.as_str() } else { "other" };
    state.metrics.request(counted, status, seconds);
    eprintln!("{method} {counted} {status} {:.1} ms", seconds * 1000.0);
    response
}

/// `GET /metrics`.
async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// `GET /v1/model`.
async fn model(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    axum::Json(state.model.clone())
}

/// What `/v1/model` says: tasks, classes, operating points, the router, the encoder and the
/// versions.
pub fn model_description(predictor: &Predictor) -> serde_json::Value {
    let b = predictor.bundle();
    let task = |t: &medpath_infer::bundle::BundleTask| {
        json!({
            "name": t.name, "kind": t.kind, "classes": t.classes, "size": t.size,
            "protocol": t.protocol, "decision": t.decision, "readout": t.readout,
            "ensemble": 1 + t.members.len(), "follows": t.follows,
        })
    };
    json!({
        "experiment": b.experiment,
        "format": b.format,
        "medpath": env!("CARGO_PKG_VERSION"),
        "encoder": b.encoder,
        "tasks": b.tasks.iter().map(task).collect::<Vec<_>>(),
        "router": b.router.as_ref().map(|r| json!({"classes": r.classes, "size": r.size})),
    })
}

/// The query of `/v1/predict`.
#[derive(Debug, Default, Deserialize)]
struct PredictQuery {
    /// Add the occlusion heat maps.
    #[serde(default)]
    explain: bool,
}

/// `POST /v1/predict`.
async fn predict(
    State(state): State<Arc<AppState>>,
    Query(query): Query<PredictQuery>,
    request: Request,
) -> Response {
    // Counted while it is held, so that models know how many images may come together.
    let _held = state.workers.enter();
    let staged = match stage(&state, request).await {
        Ok(staged) => staged,
        Err(response) => return response,
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job {
        staged,
        explain: query.explain,
        reply,
    };
    if let Err(message) = state.workers.submit(job) {
        return error(StatusCode::SERVICE_UNAVAILABLE, message);
    }
    match answer.await {
        Ok(Ok(doc)) => axum::Json(doc).into_response(),
        Ok(Err(message)) => error(StatusCode::BAD_REQUEST, message),
        Err(_) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model failed on this input",
        ),
    }
}

/// The upload on disk: a multipart form's parts, or the raw body.
async fn stage(state: &AppState, request: Request) -> Result<Staged, Response> {
    // A body announced larger than the limit is refused before any of it is read.
    let announced = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(length) = announced.filter(|&n| n > state.max_body) {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a body of {length} bytes: the limit is {} bytes",
                state.max_body
            ),
        ));
    }
    let multipart = is_multipart(request.headers());
    let staged = if multipart {
        let mut form = Multipart::from_request(request, &())
            .await
            .map_err(|e| error(e.status(), e.body_text()))?;
        let mut parts = Vec::new();
        while let Some(field) = form
            .next_field()
            .await
            .map_err(|e| error(e.status(), e.body_text()))?
        {
            let name = field.file_name().map(str::to_string);
            let bytes = field
                .bytes()
                .await
                .map_err(|e| error(e.status(), e.body_text()))?;
            parts.push((name, bytes.to_vec()));
        }
        stage_parts(parts)
    } else {
        let bytes = Bytes::from_request(request, &())
            .await
            .map_err(|e| e.into_response())?;
        stage_body(&bytes, state.max_body.saturating_mul(8))
    };
    staged.map_err(|e| {
        let status = match e {
            UploadError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UploadError::Bad(_) => StatusCode::BAD_REQUEST,
            UploadError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        };
        error(status, e.to_string())
    })
}

/// Whether the request carries a multipart form.
fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}
