//! Curated answers for the editors (`/api/v1/editor/curated`, `/editor/knowledge-drafts`):
//! write an approved answer for a question pattern, accept or reject the answers agents sent to
//! knowledge, retire an answer. A matching citizen question gets the curated answer first,
//! marked as such. Every change is in the audit log.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use banshi_knowledge::curated::Curated;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::auth::Editor;
use crate::error::{ApiError, ErrorBody};
use crate::live::Knowledge;
use crate::store::{KnowledgeDraft, NewAudit};
use crate::App;

/// Active and retired curated answers, newest first.
#[utoipa::path(get, path = "/api/v1/editor/curated", responses((status = 200, body = [Curated]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn list(State(app): State<App>, _e: Editor) -> Result<Json<Vec<Curated>>, ApiError> {
    Ok(Json(app.kb.curated.list().await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCurated {
    /// The question pattern (a typical wording).
    pub question: String,
    pub answer: String,
    #[serde(default)]
    pub item_code: Option<String>,
    /// Accept this agent draft (it is marked accepted and named as the source).
    #[serde(default)]
    pub draft_id: Option<i64>,
    /// Where the need was seen (e.g. a gap group), named as the source.
    #[serde(default)]
    pub from_gap: Option<String>,
}

/// Write (or accept) a curated answer.
#[utoipa::path(post, path = "/api/v1/editor/curated", request_body = NewCurated,
    responses((status = 201, body = Curated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn add(
    State(app): State<App>,
    Editor(staff): Editor,
    body: Result<Json<NewCurated>, JsonRejection>,
) -> Result<(StatusCode, Json<Curated>), ApiError> {
    let Json(req) = body?;
    for (v, what, max) in [(&req.question, "问题", 200), (&req.answer, "答案", 2000)] {
        let n = v.trim().chars().count();
        if n == 0 || n > max {
            return Err(ApiError::BadRequest(format!("{what}须为 1–{max} 个字")));
        }
    }
    let source = match (&req.draft_id, &req.from_gap) {
        (Some(id), _) => {
            let d: KnowledgeDraft = app.store.decide_knowledge_draft(*id, true).await?;
            format!("坐席转知识（{}，工单 {}）", d.author, d.ticket_id.map(|t| t.to_string()).unwrap_or_else(|| "-".into()))
        }
        (None, Some(gap)) => format!("服务缺口：{}", gap.chars().take(40).collect::<String>()),
        (None, None) => "编辑撰写".into(),
    };
    let c = app.kb.curated.add(&req.question, &req.answer, req.item_code.as_deref(), &source, &staff.actor()).await?;
    app.live.knowledge_changed(Knowledge::Curated);
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: "curated.add".into(),
            entity: "curated_answer".into(),
            entity_id: c.id.to_string(),
            before: None,
            after: Some(json!(c)),
        })
        .await?;
    tracing::info!(curated = c.id, by = %staff.0.username, "curated answer added");
    Ok((StatusCode::CREATED, Json(c)))
}

/// Stop giving a curated answer.
#[utoipa::path(post, path = "/api/v1/editor/curated/{id}/retire", params(("id" = i64, Path)),
    responses((status = 200, body = Curated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn retire(State(app): State<App>, Editor(staff): Editor, Path(id): Path<i64>) -> Result<Json<Curated>, ApiError> {
    let before = app.kb.curated.list().await?.into_iter().find(|c| c.id == id);
    let c = app.kb.curated.retire(id).await?;
    app.live.knowledge_changed(Knowledge::Curated);
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: "curated.retire".into(),
            entity: "curated_answer".into(),
            entity_id: id.to_string(),
            before: before.map(|b| json!(b)),
            after: Some(json!(c)),
        })
        .await?;
    Ok(Json(c))
}

/// Answers agents sent to knowledge, waiting for an editor.
#[utoipa::path(get, path = "/api/v1/editor/knowledge-drafts", responses((status = 200, body = [KnowledgeDraft]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn drafts(State(app): State<App>, _e: Editor) -> Result<Json<Vec<KnowledgeDraft>>, ApiError> {
    Ok(Json(app.store.knowledge_drafts().await?))
}

/// Decline an agent's draft.
#[utoipa::path(post, path = "/api/v1/editor/knowledge-drafts/{id}/reject", params(("id" = i64, Path)),
    responses((status = 200, body = KnowledgeDraft), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn reject(State(app): State<App>, Editor(staff): Editor, Path(id): Path<i64>) -> Result<Json<KnowledgeDraft>, ApiError> {
    let d = app.store.decide_knowledge_draft(id, false).await?;
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: "knowledge_draft.reject".into(),
            entity: "curated_answer".into(),
            entity_id: format!("draft-{id}"),
            before: None,
            after: Some(json!(d)),
        })
        .await?;
    Ok(Json(d))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GapQuery {
    /// Look back this many days (1–365, default 30).
    pub days: Option<i64>,
}

/// What the service failed at, grouped by item or topic, with counts, trend and samples.
#[utoipa::path(get, path = "/api/v1/editor/gaps", params(GapQuery),
    responses((status = 200, body = [crate::gaps::GapGroup]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn gaps(
    State(app): State<App>,
    _e: Editor,
    q: Result<axum::extract::Query<GapQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<crate::gaps::GapGroup>>, ApiError> {
    let axum::extract::Query(q) = q?;
    let days = q.days.unwrap_or(30);
    if !(1..=365).contains(&days) {
        return Err(ApiError::BadRequest("days 须在 1–365 之间".into()));
    }
    let now = chrono::Utc::now();
    let since = (now - chrono::Duration::days(days)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let failures = app.store.failures(&since, 0.5).await?;
    let names = app.kb.store.list().await?.into_iter().map(|g| (g.code, g.name)).collect();
    let closures = app.store.gap_closures().await?;
    let kb = app.kb.clone();
    let groups = tokio::task::spawn_blocking(move || crate::gaps::group(&failures, &names, &|t| kb.words(t), &closures, now))
        .await
        .map_err(|e| ApiError::Internal(format!("grouping gaps: {e}")))?;
    Ok(Json(groups))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseGap {
    pub key: String,
    /// What was done (guide fixed, curated answer written …).
    pub note: String,
}

/// Record that a gap was closed.
#[utoipa::path(post, path = "/api/v1/editor/gaps/close", request_body = CloseGap,
    responses((status = 201, body = crate::store::GapClosure), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn close_gap(
    State(app): State<App>,
    Editor(staff): Editor,
    body: Result<Json<CloseGap>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::store::GapClosure>), ApiError> {
    let Json(req) = body?;
    if req.key.trim().is_empty() || req.note.trim().is_empty() || req.note.chars().count() > 500 {
        return Err(ApiError::BadRequest("请填写缺口和处理说明（500 字以内）".into()));
    }
    let c = app.store.close_gap(req.key.trim(), req.note.trim(), &staff.actor()).await?;
    app.store
        .record(NewAudit {
            actor: staff.actor(),
            action: "gap.close".into(),
            entity: "gap".into(),
            entity_id: c.gap_key.clone(),
            before: None,
            after: Some(json!(c)),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(c)))
}
