//! Operations: liveness, readiness, Prometheus metrics and the OpenAPI document.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use crate::auth::{bearer, hash_token};
use crate::error::{ApiError, ErrorBody};
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
    /// Answers are generated now (false while a model server is failing: answers are then
    /// the guides' words, and the service stays ready).
    pub generator: bool,
    pub problems: Vec<String>,
    /// Degraded but still answering (a model server that is failing).
    pub warnings: Vec<String>,
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
    let index_chunks = match app.kb.index.len().await {
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
    let warnings: Vec<String> = app.assistant.chat.as_ref().and_then(|c| c.failing()).into_iter().collect();
    let ready = problems.is_empty();
    let generator = app.assistant.has_generator() && warnings.is_empty();
    let r = Readiness { ready, database, index_chunks, models: app.models_ready, generator, problems, warnings };
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(r))
}

/// Prometheus metrics (OpenMetrics text format). With `serve --metrics-token` set, only for
/// `Authorization: Bearer <token>` (401 otherwise); without it, only for requests from this
/// machine (403 otherwise): see [`metrics_access`].
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "OpenMetrics text"),
    (status = 401, description = "a metrics token is configured and the request lacks it", body = ErrorBody),
    (status = 403, description = "no metrics token is configured and the request is not from this machine", body = ErrorBody)),
    security(("bearer" = [])), tag = "ops")]
pub async fn metrics(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    metrics_access(app.config.metrics_token.as_deref(), peer, req.headers())?;
    let m = &app.metrics;
    m.compute_queue.set(app.assistant.compute.as_ref().map_or(0, |c| c.queue_depth()) as i64);
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], m.encode()).into_response())
}

/// Who may read `/metrics`. With a `token`, exactly the requests bearing it (compared as
/// hashes, so timing says nothing about it): 401 otherwise. Without one, requests whose TCP peer
/// is a loopback address and that carry no forwarding header (`Forwarded`, `X-Forwarded-For`,
/// `X-Real-IP`: a reverse proxy on this machine relays the public), 403 otherwise; an unknown
/// peer (no connection info) is refused too.
pub fn metrics_access(token: Option<&str>, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(expected) = token {
        return match bearer(headers) {
            Some(given) if hash_token(given) == hash_token(expected) => Ok(()),
            _ => Err(ApiError::Unauthenticated("访问 /metrics 需要监控令牌（Authorization: Bearer …，见 --metrics-token）".into())),
        };
    }
    let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| headers.contains_key(*h));
    match peer {
        Some(ip) if ip.is_loopback() && !forwarded => Ok(()),
        _ => Err(ApiError::Forbidden("/metrics 只对本机开放；要从其他地址采集，请用 --metrics-token 设置监控令牌".into())),
    }
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", responses((status = 200, description = "OpenAPI 3.1 document")), tag = "ops")]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn metrics_need_the_token_when_one_is_set() {
        let local = Some(IpAddr::from([127, 0, 0, 1]));
        assert!(metrics_access(Some("s3cret"), local, &headers(&[("authorization", "Bearer s3cret")])).is_ok());
        for h in [headers(&[]), headers(&[("authorization", "Bearer wrong")]), headers(&[("authorization", "s3cret")])] {
            let e = metrics_access(Some("s3cret"), local, &h).unwrap_err();
            assert_eq!((e.status(), e.code()), (StatusCode::UNAUTHORIZED, "unauthorized"));
        }
    }

    #[test]
    fn without_a_token_metrics_are_for_this_machine_only() {
        let none = headers(&[]);
        assert!(metrics_access(None, Some(IpAddr::from([127, 0, 0, 1])), &none).is_ok());
        assert!(metrics_access(None, Some("::1".parse().unwrap()), &none).is_ok());
        for (peer, h) in [
            (Some(IpAddr::from([203, 0, 113, 9])), headers(&[])),
            (Some(IpAddr::from([127, 0, 0, 1])), headers(&[("x-forwarded-for", "203.0.113.9")])),
            (Some(IpAddr::from([127, 0, 0, 1])), headers(&[("forwarded", "for=203.0.113.9")])),
            (None, headers(&[])),
        ] {
            assert_eq!(metrics_access(None, peer, &h).unwrap_err().status(), StatusCode::FORBIDDEN, "{peer:?} {h:?}");
        }
    }
}
