//! The router: API routes, the web pages, operations, and the layers around them (metrics,
//! rate limits, body limit, CORS, request tracing, JSON errors, security headers).

pub(crate) mod agent;
pub(crate) mod applications;
pub(crate) mod auth;
pub(crate) mod chat;
pub(crate) mod citizen;
pub(crate) mod curation;
pub(crate) mod editor;
pub(crate) mod editor_bundles;
pub(crate) mod items;
pub(crate) mod live;
pub(crate) mod offers;
pub(crate) mod ops;
pub(crate) mod proxies;
pub(crate) mod sessions;
pub(crate) mod uploads;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use chat::{SendMessage, SseEventDoc};
pub use citizen::{check_profile, PROFILE_KEYS};
pub use items::{ItemSummary, ItemsPage, QuickAction, QuickActions};
pub use ops::Readiness;
pub use sessions::{CreateSession, History, SessionCreated};

use crate::{web, App};

pub fn router(app: App) -> Router {
    let api = Router::new()
        .route("/sessions", post(sessions::create))
        .route("/sessions/{id}/messages", post(chat::send).get(sessions::history))
        .route("/sessions/{id}/events", get(live::events))
        .route("/sessions/{id}/ratings", post(live::rate))
        .route("/sessions/{id}/sign-in", post(citizen::sign_in))
        .route("/sessions/{id}/sign-out", post(citizen::sign_out))
        .route("/sessions/{id}/profile", get(citizen::profile).post(citizen::update_profile))
        .route("/sessions/{id}/form", get(applications::form).post(applications::edit_field))
        .route("/sessions/{id}/applications", get(applications::of_session).post(applications::submit))
        .route("/sessions/{id}/offers", get(offers::list))
        .route("/sessions/{id}/offers/answers", post(offers::answer))
        .route("/sessions/{id}/offers/settings", post(offers::settings))
        .route("/sessions/{id}/offers/{code}/accept", post(offers::accept))
        .route("/sessions/{id}/offers/{code}/decline", post(offers::decline))
        .route("/sessions/{id}/proxies", get(proxies::list).post(proxies::create))
        .route("/sessions/{id}/proxies/{grant}/revoke", post(proxies::revoke))
        .route("/sessions/{id}/acting-for", post(proxies::act))
        .route("/sessions/{id}/acting-for/stop", post(proxies::stop))
        .route("/applications/{tracking_no}", get(applications::progress))
        .route("/agent/applications", get(applications::list))
        .route("/agent/applications/{tracking_no}", get(applications::detail))
        .route("/agent/applications/{tracking_no}/status", post(applications::set_status))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route("/agent/tickets", get(agent::list))
        .route("/agent/tickets/{id}", get(agent::detail))
        .route("/agent/tickets/{id}/claim", post(agent::claim))
        .route("/agent/tickets/{id}/release", post(agent::release))
        .route("/agent/tickets/{id}/messages", post(agent::reply))
        .route("/agent/tickets/{id}/resolve", post(agent::resolve))
        .route("/agent/tickets/{id}/reopen", post(agent::reopen))
        .route("/agent/tickets/{id}/knowledge", post(agent::to_knowledge))
        .route("/agent/canned-replies", get(agent::canned))
        .route("/agent/stats", get(agent::stats))
        .route("/agent/events", get(agent::events))
        .route("/editor/guides", get(editor::list))
        .route("/editor/guides/{code}", get(editor::get))
        .route("/editor/guides/{code}/drafts", post(editor::save_draft))
        .route("/editor/guides/{code}/publish", post(editor::publish))
        .route("/editor/guides/{code}/rollback", post(editor::rollback))
        .route("/editor/guides/{code}/versions", get(editor::versions))
        .route("/editor/guides/{code}/diff", get(editor::diff))
        .route("/editor/bundles", get(editor_bundles::list))
        .route("/editor/bundles/{code}", get(editor_bundles::get))
        .route("/editor/bundles/{code}/drafts", post(editor_bundles::save_draft))
        .route("/editor/bundles/{code}/publish", post(editor_bundles::publish))
        .route("/editor/bundles/{code}/rollback", post(editor_bundles::rollback))
        .route("/editor/bundles/{code}/versions", get(editor_bundles::versions))
        .route("/editor/bundles/{code}/diff", get(editor_bundles::diff))
        .route("/editor/preview", post(editor::preview))
        .route("/editor/curated", get(curation::list).post(curation::add))
        .route("/editor/curated/{id}/retire", post(curation::retire))
        .route("/editor/knowledge-drafts", get(curation::drafts))
        .route("/editor/gaps", get(curation::gaps))
        .route("/editor/gaps/close", post(curation::close_gap))
        .route("/editor/knowledge-drafts/{id}/reject", post(curation::reject))
        .route("/editor/offers/report", get(offers::report))
        .route("/admin/audit", get(editor::audit))
        .route("/quick-actions", get(items::quick_actions))
        .route("/items", get(items::list))
        .route("/items/{code}", get(items::get))
        .route("/openapi.json", get(ops::openapi));
    // Uploads get their own body limit (files); everything else the small JSON limit.
    let api = api
        .route("/sessions/{id}/prereview", post(uploads::prereview))
        .route("/sessions/{id}/uploads", get(uploads::list))
        .layer(middleware::from_fn(crate::error::rejection::no_nul_in_json))
        .layer(RequestBodyLimitLayer::new(app.config.max_body_bytes));
    let files = Router::new()
        .route("/sessions/{id}/uploads", post(uploads::upload))
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(app.config.max_upload_bytes + 64 * 1024));
    Router::new()
        .nest("/api/v1", api.merge(files))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(web::routes())
        // Rejections, 404, 405 and the body limit's 413 as the JSON error body, in Chinese.
        .layer(middleware::from_fn_with_state(app.clone(), crate::error::rejection::json_errors))
        // Inside `record`, so refusals are counted by route like any other answer.
        .layer(middleware::from_fn_with_state(app.clone(), crate::limits::guard))
        .layer(middleware::from_fn_with_state(app.clone(), record))
        .layer(cors(&app.config.cors_origins))
        .layer(TraceLayer::new_for_http())
        // On every response, errors and CORS preflights included (see SECURITY_HEADERS).
        .layer(SetResponseHeaderLayer::overriding(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(API_CSP)))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(PERMISSIONS_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .with_state(app)
}

// Security headers. No page may be framed by another site (`X-Frame-Options: DENY`, CSP
// `frame-ancestors 'none'`: the agent console cannot be clickjacked); no referrer leaves a page
// (URLs carry session and tracking numbers); no camera, microphone, location or payment API
// (uploads use a file picker, which needs none); no MIME sniffing. The pages send their own CSP
// (`web.rs`: same-origin scripts, styles and fetches only, plus `frame-ancestors 'none'`);
// every other response gets `API_CSP`.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";
const PERMISSIONS_POLICY: &str = "camera=(), microphone=(), geolocation=(), payment=(), usb=()";

fn cors(origins: &[String]) -> CorsLayer {
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE, axum::http::header::AUTHORIZATION])
        .expose_headers([axum::http::header::RETRY_AFTER]);
    if origins.iter().any(|o| o == "*") {
        return base.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    base.allow_origin(AllowOrigin::list(list))
}

/// Count and time every request by its route template (not its path: no IDs in labels).
async fn record(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = Instant::now();
    let res = next.run(req).await;
    let m = &app.metrics;
    m.requests.get_or_create(&crate::metrics::RequestLabels { method, route: route.clone(), status: res.status().as_u16() }).inc();
    m.latency.get_or_create(&crate::metrics::RouteLabels { route }).observe(started.elapsed().as_secs_f64());
    res
}
