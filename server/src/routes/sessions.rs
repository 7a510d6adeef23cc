//! Sessions: anonymous creation (the token is the credential) and history.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{bearer, hash_token, new_token};
use crate::error::{ApiError, ErrorBody};
use crate::store::{Message, Session};
use crate::App;

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Where the citizen is: `web`, `miniprogram`, `h5` … (for statistics).
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionCreated {
    pub session_id: String,
    /// Bearer token for this session; keep it on the device. It is not stored on the server.
    pub token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct History {
    pub session_id: String,
    pub messages: Vec<Message>,
    /// Pass as `after` to fetch the next page; `None` when this page is the last.
    pub next_after: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only messages with a larger id (for catching up after a reconnect).
    #[serde(default)]
    pub after: i64,
    /// Page size, 1–200 (default 100).
    pub limit: Option<u32>,
}

/// The session `id`, if the request's bearer token owns it, with an expired citizen sign-in
/// ended (see [`crate::signins`]).
pub async fn authorize(app: &App, id: &str, headers: &HeaderMap) -> Result<Session, ApiError> {
    Ok(authorize_expiring(app, id, headers).await?.0)
}

/// [`authorize`], also saying whether the citizen's sign-in in the session expired just now.
pub async fn authorize_expiring(app: &App, id: &str, headers: &HeaderMap) -> Result<(Session, bool), ApiError> {
    let token = bearer(headers).ok_or(ApiError::Unauthorized)?;
    let mut session = app.store.session(id).await?.ok_or(ApiError::Unauthorized)?;
    // Hashes are compared, so timing reveals nothing about the token.
    if session.token_hash != hash_token(token) {
        return Err(ApiError::Unauthorized);
    }
    let expired = crate::signins::expire(app, &mut session).await?;
    Ok((session, expired))
}

/// Start an anonymous conversation.
#[utoipa::path(post, path = "/api/v1/sessions", request_body(content = CreateSession, description = "optional; `{}` is fine"),
    responses((status = 201, body = SessionCreated), (status = 422, body = ErrorBody)), tag = "sessions")]
pub async fn create(State(app): State<App>, body: Option<Json<CreateSession>>) -> Result<(StatusCode, Json<SessionCreated>), ApiError> {
    let req = body.map(|Json(b)| b).unwrap_or_default();
    let channel = req.channel.unwrap_or_else(|| "web".into());
    if channel.is_empty() || channel.len() > 32 || !channel.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(ApiError::BadRequest("channel 须为 1–32 位字母、数字、- 或 _".into()));
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let token = new_token();
    app.store.create_session(&id, &hash_token(&token), &channel).await?;
    tracing::info!(session = %id, channel = %channel, "session created");
    Ok((StatusCode::CREATED, Json(SessionCreated { session_id: id, token })))
}

/// Messages of a session, oldest first.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/messages", params(("id" = String, Path), HistoryQuery),
    responses((status = 200, body = History), (status = 401, body = ErrorBody)), security(("bearer" = [])), tag = "sessions")]
pub async fn history(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<History>, ApiError> {
    let Query(q) = q?;
    authorize(&app, &id, &headers).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit 须在 1–200 之间".into()));
    }
    let messages = app.store.messages(&id, q.after, limit).await?;
    let next_after = (messages.len() == limit as usize).then(|| messages.last().map(|m| m.id)).flatten();
    Ok(Json(History { session_id: id, messages, next_after }))
}
