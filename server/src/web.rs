//! The citizen chat page (`/`), the agent console (`/agent`) and the editor console (`/editor`), compiled into the binary (no files to deploy, nothing fetched from
//! elsewhere: the page works on an offline network).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::App;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const DOM_JS: &str = include_str!("../static/dom.js");
const STAFF_JS: &str = include_str!("../static/staff.js");
const APPLY_JS: &str = include_str!("../static/apply.js");
const OFFERS_JS: &str = include_str!("../static/offers.js");
const ELDER_JS: &str = include_str!("../static/elder.js");
const PROXIES_JS: &str = include_str!("../static/proxies.js");
const APP_CSS: &str = include_str!("../static/app.css");
const AGENT_HTML: &str = include_str!("../static/agent.html");
const AGENT_JS: &str = include_str!("../static/agent.js");
const EDITOR_HTML: &str = include_str!("../static/editor.html");
const EDITOR_JS: &str = include_str!("../static/editor.js");
const CONSOLE_CSS: &str = include_str!("../static/console.css");

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/static/app.js", get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/static/dom.js", get(|| async { page(DOM_JS, "text/javascript; charset=utf-8") }))
        .route("/static/staff.js", get(|| async { page(STAFF_JS, "text/javascript; charset=utf-8") }))
        .route("/static/apply.js", get(|| async { page(APPLY_JS, "text/javascript; charset=utf-8") }))
        .route("/static/offers.js", get(|| async { page(OFFERS_JS, "text/javascript; charset=utf-8") }))
        .route("/static/elder.js", get(|| async { page(ELDER_JS, "text/javascript; charset=utf-8") }))
        .route("/static/proxies.js", get(|| async { page(PROXIES_JS, "text/javascript; charset=utf-8") }))
        .route("/static/app.css", get(|| async { page(APP_CSS, "text/css; charset=utf-8") }))
        .route("/agent", get(|| async { page(AGENT_HTML, "text/html; charset=utf-8") }))
        .route("/static/agent.js", get(|| async { page(AGENT_JS, "text/javascript; charset=utf-8") }))
        .route("/editor", get(|| async { page(EDITOR_HTML, "text/html; charset=utf-8") }))
        .route("/static/editor.js", get(|| async { page(EDITOR_JS, "text/javascript; charset=utf-8") }))
        .route("/static/console.css", get(|| async { page(CONSOLE_CSS, "text/css; charset=utf-8") }))
}

fn page(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; \
                 frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'",
            ),
        ],
        body,
    )
}
