//! The editors' API for 一件事 bundles (`/api/v1/editor/bundles/…`), the same life cycle as
//! guides: drafts as versions (a stale base is a 409), publish after checking the bundle against
//! the live guides (items, field maps, material covers), history, diffs, roll back. Audited.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use banshi_knowledge::bundle::Bundle;
use banshi_knowledge::store::{GoLive, VersionInfo};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::editor::{diff_lines, pretty_for_diff, rollback_target, DiffLine, DiffQuery, GuideRow, Saved, VersionRef};
use crate::auth::{Editor, Staff};
use crate::error::{ApiError, ErrorBody};
use crate::live::Knowledge;
use crate::store::NewAudit;
use crate::App;

/// Every bundle.
#[utoipa::path(get, path = "/api/v1/editor/bundles", responses((status = 200, body = [GuideRow]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn list(State(app): State<App>, _e: Editor) -> Result<Json<Vec<GuideRow>>, ApiError> {
    let rows = app.kb.bundles.list().await?;
    Ok(Json(
        rows.into_iter()
            .map(|g| GuideRow {
                code: g.code,
                name: g.name,
                source: g.source,
                live_version: g.live_version,
                latest_version: g.latest_version,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BundleForEditing {
    pub code: String,
    pub live_version: Option<u32>,
    pub latest_version: u32,
    #[schema(value_type = Object)]
    pub latest: Bundle,
    /// The version an edit starts from (send it as `base_version`): the newest draft on the live
    /// version, else the live version — after a rollback, the version rolled back to.
    pub editing_version: u32,
    #[schema(value_type = Object)]
    pub editing: Bundle,
}

/// A bundle's version to edit (`editing`) and its newest version.
#[utoipa::path(get, path = "/api/v1/editor/bundles/{code}", params(("code" = String, Path)),
    responses((status = 200, body = BundleForEditing), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn get(State(app): State<App>, _e: Editor, Path(code): Path<String>) -> Result<Json<BundleForEditing>, ApiError> {
    let history = app.kb.bundles.history(&code).await?;
    let newest = history.first().ok_or_else(|| ApiError::NotFound(format!("一件事 {code} 不存在")))?;
    let latest = app.kb.bundles.version(&code, newest.version).await?.ok_or_else(|| ApiError::NotFound(format!("一件事 {code} 不存在")))?;
    let editing_version = app.kb.bundles.head(&code).await?.unwrap_or(newest.version);
    let editing = if editing_version == newest.version {
        latest.clone()
    } else {
        app.kb
            .bundles
            .version(&code, editing_version)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("一件事 {code} 没有第 {editing_version} 版")))?
    };
    Ok(Json(BundleForEditing {
        live_version: history.iter().find(|v| v.live).map(|v| v.version),
        latest_version: newest.version,
        latest,
        editing_version,
        editing,
        code,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveBundle {
    pub base_version: u32,
    #[schema(value_type = Object)]
    pub bundle: Bundle,
}

/// Save a bundle draft. 409 on a stale base; 422 naming each problem.
#[utoipa::path(post, path = "/api/v1/editor/bundles/{code}/drafts", params(("code" = String, Path)), request_body = SaveBundle,
    responses((status = 201, body = Saved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn save_draft(
    State(app): State<App>,
    Editor(staff): Editor,
    Path(code): Path<String>,
    body: Result<Json<SaveBundle>, JsonRejection>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let Json(req) = body?;
    if req.bundle.code != code {
        return Err(ApiError::BadRequest(format!("编码 {} 与地址中的 {code} 不一致", req.bundle.code)));
    }
    let before = match req.base_version {
        0 => None,
        v => app.kb.bundles.version(&code, v).await?,
    };
    let version = app.kb.bundles.save_draft(&req.bundle, req.base_version, &staff.actor()).await?;
    let after = app.kb.bundles.version(&code, version).await?;
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: "bundle.draft".into(),
            entity: "bundle".into(),
            entity_id: code.clone(),
            before: before.map(|b| json!(b)),
            after: after.map(|b| json!(b)),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(Saved { code, version })))
}

async fn go_live(app: &App, staff: &Staff, code: &str, version: u32, how: GoLive, action: &str) -> Result<Json<Saved>, ApiError> {
    let before = app.kb.bundles.live(code).await?;
    let made = app.kb.make_live_bundle(code, version, how).await;
    // Told even when the re-index failed after the switch: the others re-read what is live.
    app.live.knowledge_changed(Knowledge::Item(code.to_string()));
    made?;
    let after = app.kb.bundles.live(code).await?;
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: action.into(),
            entity: "bundle".into(),
            entity_id: code.to_string(),
            before: before.map(|b| json!(b)),
            after: after.map(|b| json!(b)),
        })
        .await?;
    Ok(Json(Saved { code: code.to_string(), version }))
}

/// Publish a bundle version (checked against the live guides first). 409 when it is not built
/// on the live version (rolled back, or a draft on a version rolled back since).
#[utoipa::path(post, path = "/api/v1/editor/bundles/{code}/publish", params(("code" = String, Path)), request_body = VersionRef,
    responses((status = 200, body = Saved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn publish(
    State(app): State<App>,
    Editor(staff): Editor,
    Path(code): Path<String>,
    body: Result<Json<VersionRef>, JsonRejection>,
) -> Result<Json<Saved>, ApiError> {
    let Json(req) = body?;
    go_live(&app, &staff, &code, req.version, GoLive::Publish, "bundle.publish").await
}

/// Roll a bundle back to a version published before.
#[utoipa::path(post, path = "/api/v1/editor/bundles/{code}/rollback", params(("code" = String, Path)), request_body = VersionRef,
    responses((status = 200, body = Saved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn rollback(
    State(app): State<App>,
    Editor(staff): Editor,
    Path(code): Path<String>,
    body: Result<Json<VersionRef>, JsonRejection>,
) -> Result<Json<Saved>, ApiError> {
    let Json(req) = body?;
    rollback_target(&app.kb.bundles.history(&code).await?, &format!("一件事 {code}"), req.version)?;
    go_live(&app, &staff, &code, req.version, GoLive::Rollback, "bundle.rollback").await
}

/// Every version of a bundle, newest first.
#[utoipa::path(get, path = "/api/v1/editor/bundles/{code}/versions", params(("code" = String, Path)),
    responses((status = 200, body = [Object]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])), tag = "editor")]
pub async fn versions(State(app): State<App>, _e: Editor, Path(code): Path<String>) -> Result<Json<Vec<VersionInfo>>, ApiError> {
    Ok(Json(app.kb.bundles.history(&code).await?))
}

/// A line diff of two bundle versions.
#[utoipa::path(get, path = "/api/v1/editor/bundles/{code}/diff", params(("code" = String, Path), DiffQuery),
    responses((status = 200, body = [DiffLine]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn diff(
    State(app): State<App>,
    _e: Editor,
    Path(code): Path<String>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<Vec<DiffLine>>, ApiError> {
    let Query(q) = q?;
    let mut texts = Vec::new();
    for v in [q.from, q.to] {
        let b = app.kb.bundles.version(&code, v).await?.ok_or_else(|| ApiError::NotFound(format!("一件事 {code} 没有第 {v} 版")))?;
        texts.push(pretty_for_diff(&b));
    }
    Ok(Json(diff_lines(&texts[0], &texts[1])))
}
