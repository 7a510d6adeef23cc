//! Item guides for the page (the guide view behind the sources card and citations) and the
//! quick actions shown under the chat input.

use axum::extract::{Path, Query, State};
use axum::Json;
use banshi_knowledge::Guide;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody};
use crate::App;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuickAction {
    pub id: String,
    pub label: String,
    /// `items`: show the list at `href`; `prefill`: put `text` into the input box; `send`: send
    /// `text` as a message; `rate`: open the 好差评 rating; `upload`: open the 预审材料 uploader.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub href: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuickActions {
    pub actions: Vec<QuickAction>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemSummary {
    pub code: String,
    pub name: String,
    /// `sample`, `gd_catalogue` or `editor`.
    pub source: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ItemsPage {
    pub total: usize,
    pub items: Vec<ItemSummary>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// Part of the item name.
    pub q: Option<String>,
    /// Only items from this source (`sample`, `gd_catalogue`, `editor`).
    pub source: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: usize,
}

/// Shortcuts under the input box.
#[utoipa::path(get, path = "/api/v1/quick-actions", responses((status = 200, body = QuickActions)), tag = "items")]
pub async fn quick_actions() -> Json<QuickActions> {
    let a = |id: &str, label: &str, kind: &str, href: Option<&str>, text: Option<&str>| QuickAction {
        id: id.into(),
        label: label.into(),
        kind: kind.into(),
        href: href.map(Into::into),
        text: text.map(Into::into),
    };
    Json(QuickActions {
        actions: vec![
            a("common", "常见事项", "items", Some("/api/v1/items?source=sample&limit=100"), None),
            a("apply", "我要办", "send", None, Some("我要办理")),
            a("prereview", "预审材料", "upload", None, None),
            a("human", "转人工", "send", None, Some("转人工")),
            a("rate", "评价服务", "rate", None, None),
        ],
    })
}

/// Live item guides, filtered by name and source.
#[utoipa::path(get, path = "/api/v1/items", params(ItemsQuery), responses((status = 200, body = ItemsPage), (status = 422, body = ErrorBody)), tag = "items")]
pub async fn list(
    State(app): State<App>,
    q: Result<Query<ItemsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ItemsPage>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::BadRequest("limit 须在 1–100 之间".into()));
    }
    let all = app.kb.store.list().await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let needle = q.q.as_deref().map(str::trim).unwrap_or("");
    let matched: Vec<ItemSummary> = all
        .into_iter()
        .filter(|s| s.live_version.is_some())
        .filter(|s| q.source.as_deref().is_none_or(|src| s.source == src))
        .filter(|s| needle.is_empty() || s.name.contains(needle))
        .map(|s| ItemSummary { code: s.code, name: s.name, source: s.source })
        .collect();
    let total = matched.len();
    Ok(Json(ItemsPage { total, items: matched.into_iter().skip(q.offset).take(limit).collect() }))
}

/// One live item guide, all of its elements.
#[utoipa::path(get, path = "/api/v1/items/{code}", params(("code" = String, Path)),
    responses((status = 200, description = "the guide in the project's JSON format", body = Object), (status = 404, body = ErrorBody)), tag = "items")]
pub async fn get(State(app): State<App>, Path(code): Path<String>) -> Result<Json<Guide>, ApiError> {
    let g = app.kb.guide(&code).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    g.map(Json).ok_or_else(|| ApiError::NotFound(format!("事项 {code} 不存在或未发布")))
}
