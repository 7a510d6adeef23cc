//! Operations: liveness, readiness, Prometheus metrics and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::App;

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok")), tag = "ops")]
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: bool,
    /// Chunks in the vector index (`None` when the index cannot be read).
    pub index_chunks: Option<usize>,
    /// The models the service was started with are loaded.
    pub models: bool,
    pub generator: bool,
    pub problems: Vec<String>,
}

/// Ready to answer: database reachable, index open and non-empty, models loaded.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = Readiness), (status = 503, body = Readiness)), tag = "ops")]
pub async fn readyz(State(app): State<App>) -> (StatusCode, Json<Readiness>) {
    let mut problems = Vec::new();
    let database = match app.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            problems.push(format!("database: {e}"));
            false
        }
    };
    let index_chunks = match app.kb.index.len() {
        Ok(n) => Some(n),
        Err(e) => {
            problems.push(format!("index: {e}"));
            None
        }
    };
    if index_chunks == Some(0) {
        problems.push("index is empty: run `banshi ingest`".into());
    }
    if !app.models_ready {
        problems.push("models failed to load".into());
    }
    let ready = problems.is_empty();
    let r = Readiness { ready, database, index_chunks, models: app.models_ready, generator: app.assistant.has_generator(), problems };
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(r))
}

/// Prometheus metrics (OpenMetrics text format).
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text")), tag = "ops")]
pub async fn metrics(State(app): State<App>) -> Response {
    let m = &app.metrics;
    m.compute_queue.set(app.assistant.compute.as_ref().map_or(0, |c| c.queue_depth()) as i64);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.encode()).into_response()
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document")), tag = "ops")]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}
