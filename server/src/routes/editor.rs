//! The knowledge editors' API (`/api/v1/editor/…`, editors and admins): list and read guides,
//! save drafts (a new version each time; a stale base version is a 409, never a silent
//! overwrite), preview how the assistant answers typical questions from a draft, publish a
//! version (re-indexing only that guide, so answers change within seconds), history, readable
//! diffs between any two versions, and roll back to any published version. Edits start from
//! the live line ([`banshi_knowledge::store::DocStore::head`]): after a rollback, the version
//! rolled back to; a draft built on a rolled-back version is a 409 to publish, never a silent
//! republish. Every change is in the audit log with before and after; `/admin/audit` shows it
//! to admins.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use banshi_assistant::card::SourcesCard;
use banshi_assistant::citations::Source;
use banshi_assistant::{extractive, intent};
use banshi_knowledge::store::{GoLive, VersionInfo};
use banshi_knowledge::Guide;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Admin, Editor};
use crate::error::{ApiError, ErrorBody};
use crate::live::Knowledge;
use crate::store::{AuditEntry, NewAudit};
use crate::App;

#[derive(Debug, Serialize, ToSchema)]
pub struct GuideRow {
    pub code: String,
    pub name: String,
    pub source: String,
    pub live_version: Option<u32>,
    pub latest_version: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Part of the code or name.
    pub q: Option<String>,
}

/// Guides, hand-written samples first, filtered by `q` (at most 200).
#[utoipa::path(get, path = "/api/v1/editor/guides", params(ListQuery),
    responses((status = 200, body = [GuideRow]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])), tag = "editor")]
pub async fn list(
    State(app): State<App>,
    _e: Editor,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<GuideRow>>, ApiError> {
    let Query(q) = q?;
    let needle = q.q.unwrap_or_default();
    let mut rows: Vec<GuideRow> = app
        .kb
        .store
        .list()
        .await?
        .into_iter()
        .filter(|g| needle.is_empty() || g.code.contains(&needle) || g.name.contains(&needle))
        .map(|g| GuideRow { code: g.code, name: g.name, source: g.source, live_version: g.live_version, latest_version: g.latest_version })
        .collect();
    rows.sort_by_key(|g| (g.source != "sample", g.code.clone()));
    rows.truncate(200);
    Ok(Json(rows))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GuideForEditing {
    pub code: String,
    pub live_version: Option<u32>,
    pub latest_version: u32,
    /// The newest version saved (draft or published; after a rollback, possibly the one rolled back).
    #[schema(value_type = Object)]
    pub latest: Guide,
    #[schema(value_type = Option<Object>)]
    pub live: Option<Guide>,
    /// The version an edit starts from — send it as `base_version` when saving, and publish
    /// only versions built on it: the newest draft on the live version, else the live version
    /// (after a rollback, the version rolled back to).
    pub editing_version: u32,
    #[schema(value_type = Object)]
    pub editing: Guide,
}

async fn latest(app: &App, code: &str) -> Result<(Guide, u32, Option<u32>), ApiError> {
    let history = app.kb.store.history(code).await?;
    let newest = history.first().ok_or_else(|| ApiError::NotFound(format!("指南 {code} 不存在")))?;
    let live = history.iter().find(|v| v.live).map(|v| v.version);
    let g = app.kb.store.version(code, newest.version).await?.ok_or_else(|| ApiError::NotFound(format!("指南 {code} 不存在")))?;
    Ok((g, newest.version, live))
}

/// A guide's version to edit (`editing`), its newest and its live version.
#[utoipa::path(get, path = "/api/v1/editor/guides/{code}", params(("code" = String, Path)),
    responses((status = 200, body = GuideForEditing), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn get(State(app): State<App>, _e: Editor, Path(code): Path<String>) -> Result<Json<GuideForEditing>, ApiError> {
    let (latest, latest_version, live_version) = latest(&app, &code).await?;
    let live = app.kb.store.live(&code).await?;
    let editing_version = app.kb.store.head(&code).await?.unwrap_or(latest_version);
    let editing = if editing_version == latest_version {
        latest.clone()
    } else {
        app.kb
            .store
            .version(&code, editing_version)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("指南 {code} 没有第 {editing_version} 版")))?
    };
    Ok(Json(GuideForEditing { code, live_version, latest_version, latest, live, editing_version, editing }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveDraft {
    /// The version the edit started from (`editing_version` when it was loaded; 0 for a new guide).
    pub base_version: u32,
    #[schema(value_type = Object)]
    pub guide: Guide,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Saved {
    pub code: String,
    pub version: u32,
}

fn check_code(path: &str, guide: &Guide) -> Result<(), ApiError> {
    if guide.code != path {
        return Err(ApiError::BadRequest(format!("指南编码 {} 与地址中的 {path} 不一致", guide.code)));
    }
    Ok(())
}

/// Save a draft version. 409 when someone saved a draft after `base_version`, or when
/// `base_version` was rolled back or replaced by a later publish; 422 naming each problem.
#[utoipa::path(post, path = "/api/v1/editor/guides/{code}/drafts", params(("code" = String, Path)), request_body = SaveDraft,
    responses((status = 201, body = Saved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn save_draft(
    State(app): State<App>,
    Editor(staff): Editor,
    Path(code): Path<String>,
    body: Result<Json<SaveDraft>, JsonRejection>,
) -> Result<(StatusCode, Json<Saved>), ApiError> {
    let Json(req) = body?;
    check_code(&code, &req.guide)?;
    let before = match req.base_version {
        0 => None,
        v => app.kb.store.version(&code, v).await?,
    };
    let version = app.kb.store.save_draft(&req.guide, req.base_version, &staff.actor()).await?;
    let after = app.kb.store.version(&code, version).await?;
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: "guide.draft".into(),
            entity: "guide".into(),
            entity_id: code.clone(),
            before: before.map(|g| json!(g)),
            after: after.map(|g| json!(g)),
        })
        .await?;
    tracing::info!(guide = %code, version, by = %staff.0.username, "draft saved");
    Ok((StatusCode::CREATED, Json(Saved { code, version })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionRef {
    /// The version to publish or roll back to, as the editor saw it (never "the latest").
    pub version: u32,
}

async fn go_live(
    app: &App,
    staff: &crate::auth::Staff,
    code: &str,
    version: u32,
    how: GoLive,
    action: &str,
) -> Result<Json<Saved>, ApiError> {
    let before_version = app.kb.store.history(code).await?.into_iter().find(|v| v.live).map(|v| v.version);
    let before = match before_version {
        Some(v) => app.kb.store.version(code, v).await?,
        None => None,
    };
    let made = app.kb.make_live(code, version, how).await;
    // Told even when the re-index failed after the switch: the others re-read what is live.
    app.live.knowledge_changed(Knowledge::Item(code.to_string()));
    made?;
    let after = app.kb.store.live(code).await?;
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: action.into(),
            entity: "guide".into(),
            entity_id: code.to_string(),
            before: before.map(|g| json!(g)),
            after: after.map(|g| json!(g)),
        })
        .await?;
    tracing::info!(guide = %code, version, action, by = %staff.0.username, "guide made live");
    Ok(Json(Saved { code: code.to_string(), version }))
}

/// Publish a version: it becomes live and only this guide is re-indexed. 409 (nothing changes)
/// when the version is not built on the live version — it was rolled back, or it is a draft
/// built on a version that was rolled back or replaced since (roll back to restore one).
#[utoipa::path(post, path = "/api/v1/editor/guides/{code}/publish", params(("code" = String, Path)), request_body = VersionRef,
    responses((status = 200, body = Saved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn publish(
    State(app): State<App>,
    Editor(staff): Editor,
    Path(code): Path<String>,
    body: Result<Json<VersionRef>, JsonRejection>,
) -> Result<Json<Saved>, ApiError> {
    let Json(req) = body?;
    go_live(&app, &staff, &code, req.version, GoLive::Publish, "guide.publish").await
}

/// Roll back to a version that was published before.
#[utoipa::path(post, path = "/api/v1/editor/guides/{code}/rollback", params(("code" = String, Path)), request_body = VersionRef,
    responses((status = 200, body = Saved), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn rollback(
    State(app): State<App>,
    Editor(staff): Editor,
    Path(code): Path<String>,
    body: Result<Json<VersionRef>, JsonRejection>,
) -> Result<Json<Saved>, ApiError> {
    let Json(req) = body?;
    rollback_target(&app.kb.store.history(&code).await?, &format!("指南 {code}"), req.version)?;
    go_live(&app, &staff, &code, req.version, GoLive::Rollback, "guide.rollback").await
}

/// `version` must exist in `history` and have been published: a rollback never makes a draft
/// live (publishing does, after review).
pub(crate) fn rollback_target(history: &[VersionInfo], what: &str, version: u32) -> Result<(), ApiError> {
    let target = history.iter().find(|v| v.version == version).ok_or_else(|| ApiError::NotFound(format!("{what} 没有第 {version} 版")))?;
    if target.status != "published" {
        return Err(ApiError::Conflict(format!("第 {version} 版从未发布过，只能回滚到已发布的版本")));
    }
    Ok(())
}

/// Every version, newest first.
#[utoipa::path(get, path = "/api/v1/editor/guides/{code}/versions", params(("code" = String, Path)),
    responses((status = 200, body = [Object]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])), tag = "editor")]
pub async fn versions(State(app): State<App>, _e: Editor, Path(code): Path<String>) -> Result<Json<Vec<VersionInfo>>, ApiError> {
    Ok(Json(app.kb.store.history(&code).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    pub from: u32,
    pub to: u32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DiffLine {
    /// `+` added in `to`, `-` removed, ` ` unchanged context.
    pub op: String,
    pub text: String,
}

/// A line diff of two versions' JSON (unchanged runs shortened to their context).
#[utoipa::path(get, path = "/api/v1/editor/guides/{code}/diff", params(("code" = String, Path), DiffQuery),
    responses((status = 200, body = [DiffLine]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn diff(
    State(app): State<App>,
    _e: Editor,
    Path(code): Path<String>,
    q: Result<Query<DiffQuery>, QueryRejection>,
) -> Result<Json<Vec<DiffLine>>, ApiError> {
    let Query(q) = q?;
    let get = |v: u32| {
        let app = app.clone();
        let code = code.clone();
        async move { app.kb.store.version(&code, v).await?.ok_or_else(|| ApiError::NotFound(format!("指南 {code} 没有第 {v} 版"))) }
    };
    let (a, b) = (get(q.from).await?, get(q.to).await?);
    Ok(Json(diff_lines(&pretty_for_diff(&a), &pretty_for_diff(&b))))
}

/// Pretty JSON without the bookkeeping fields that differ on every save.
pub(crate) fn pretty_for_diff<T: Serialize>(g: &T) -> String {
    let mut v = json!(g);
    if let Some(o) = v.as_object_mut() {
        for k in ["version", "status", "updated_at", "updated_by"] {
            o.remove(k);
        }
    }
    serde_json::to_string_pretty(&v).expect("guides serialise")
}

pub(crate) fn diff_lines(a: &str, b: &str) -> Vec<DiffLine> {
    let d = similar::TextDiff::from_lines(a, b);
    let mut out = Vec::new();
    for group in d.grouped_ops(2) {
        for op in group {
            for change in d.iter_changes(&op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => "-",
                    similar::ChangeTag::Insert => "+",
                    similar::ChangeTag::Equal => " ",
                };
                out.push(DiffLine { op: sign.into(), text: change.value().trim_end_matches('\n').to_string() });
            }
        }
        out.push(DiffLine { op: "…".into(), text: String::new() });
    }
    out.pop();
    out
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    #[schema(value_type = Object)]
    pub guide: Guide,
    /// Questions to preview; default: materials, time limit and fees.
    #[serde(default)]
    pub questions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewAnswer {
    pub question: String,
    pub answer: String,
    pub sources: Vec<Source>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub card: SourcesCard,
    pub answers: Vec<PreviewAnswer>,
    /// Validation problems of the draft (empty: it can be published).
    pub problems: Vec<String>,
}

/// How the assistant would answer typical questions from this draft (its sources card and the
/// answers taken from the draft's sections), before anything is saved.
#[utoipa::path(post, path = "/api/v1/editor/preview", request_body = PreviewRequest,
    responses((status = 200, body = Preview), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn preview(_e: Editor, body: Result<Json<PreviewRequest>, JsonRejection>) -> Result<Json<Preview>, ApiError> {
    let Json(req) = body?;
    let g = req.guide;
    let questions = if req.questions.is_empty() {
        vec![format!("办理{}需要什么材料？", g.name), format!("{}多久能办好？", g.name), format!("{}收费吗？要交多少钱？", g.name)]
    } else {
        req.questions.into_iter().take(5).collect()
    };
    let answers = questions
        .into_iter()
        .map(|q| {
            let (answer, sources) = extractive::answer(&g, intent::aspect(&q), None);
            PreviewAnswer { question: q, answer, sources }
        })
        .collect();
    Ok(Json(Preview { card: SourcesCard::from_guide(&g), answers, problems: g.validate() }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `guide`, `bundle`, `curated_answer`, `user`, `ticket`, `application`.
    pub entity: Option<String>,
    pub entity_id: Option<String>,
    /// 1–500 (default 100).
    pub limit: Option<u32>,
}

/// The audit log, newest first (admins only).
#[utoipa::path(get, path = "/api/v1/admin/audit", params(AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])), tag = "admin")]
pub async fn audit(
    State(app): State<App>,
    _a: Admin,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    let Query(q) = q?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::BadRequest("limit 须在 1–500 之间".into()));
    }
    Ok(Json(app.store.audit_entries(q.entity.as_deref(), q.entity_id.as_deref(), limit).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_show_changed_lines_with_context() {
        let a = "{\n  \"a\": 1,\n  \"b\": 2,\n  \"c\": 3,\n  \"d\": 4,\n  \"e\": 5\n}";
        let b = a.replace("\"c\": 3", "\"c\": 30");
        let d = diff_lines(a, &b);
        let changed: Vec<(&str, &str)> = d.iter().filter(|l| l.op != " ").map(|l| (l.op.as_str(), l.text.as_str())).collect();
        assert_eq!(changed, [("-", "  \"c\": 3,"), ("+", "  \"c\": 30,")]);
        assert!(d.len() < 8, "unchanged lines far from the change are left out: {}", d.len());
    }
}
