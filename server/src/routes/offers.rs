//! 免申即享 / 主动服务 over HTTP: the signed-in citizen's offers (listing them grants what the
//! city grants by itself), one-tap confirmation, declining, answering a question that settles
//! an unknown condition, turning offers off; and the editors' report of each rule's reach
//! (see [`crate::offers`]).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use super::citizen::signed_in_session;
use crate::auth::Editor;
use crate::error::{ApiError, ErrorBody};
use crate::offers::{self, Accepted, OfferList, OfferReport};
use crate::store::OfferStatus;
use crate::App;

/// The signed-in citizen's offers; items the city grants by itself are applied for now and
/// listed as `granted` with their tracking numbers. 403 when nobody is signed in.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/offers", params(("id" = String, Path)),
    responses((status = 200, body = OfferList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "offers")]
pub async fn list(State(app): State<App>, Path(id): Path<String>, headers: HeaderMap) -> Result<Json<OfferList>, ApiError> {
    let (mut session, citizen) = signed_in_session(&app, &id, &headers).await?;
    Ok(Json(offers::list(&app, &mut session, &citizen).await?))
}

/// Confirm an offer (一键确认): 201 with the submitted application, or 200 with the form opened
/// in the chat when something only the citizen can fill in is missing. 409 when not eligible
/// (the unmet conditions named) or already decided; 422 while questions are open.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/offers/{code}/accept", params(("id" = String, Path), ("code" = String, Path)),
    responses((status = 201, body = Accepted), (status = 200, body = Accepted), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "offers")]
pub async fn accept(
    State(app): State<App>,
    Path((id, code)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let (mut session, citizen) = signed_in_session(&app, &id, &headers).await?;
    let done = offers::accept(&app, &mut session, &citizen, &code).await?;
    let status = if done.application.is_some() { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(done)))
}

/// Decline an open offer: it is not made again. 404 when it was never offered, 409 when
/// already decided.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/offers/{code}/decline", params(("id" = String, Path), ("code" = String, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "offers")]
pub async fn decline(State(app): State<App>, Path((id, code)): Path<(String, String)>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let (_, citizen) = signed_in_session(&app, &id, &headers).await?;
    app.store.move_offer(citizen.id, &code, &[OfferStatus::Open], OfferStatus::Declined, None).await?;
    tracing::info!(citizen = citizen.id, target = %code, "offer declined");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The question's key, from an offer's `questions`.
    pub key: String,
    /// 是 or 否.
    pub answer: String,
}

/// Answer a question of an offer (是 / 否); the offers come back re-evaluated. 422 for a key no
/// live rule asks, or an answer other than 是 / 否.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/offers/answers", params(("id" = String, Path)), request_body = Answer,
    responses((status = 200, body = OfferList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "offers")]
pub async fn answer(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Answer>, JsonRejection>,
) -> Result<Json<OfferList>, ApiError> {
    let Json(req) = body?;
    let (mut session, citizen) = signed_in_session(&app, &id, &headers).await?;
    let answer = req.answer.trim();
    if answer != "是" && answer != "否" {
        return Err(ApiError::BadRequest("请回答“是”或“否”".into()));
    }
    let rules = app.kb.rules().await?;
    if !rules.iter().any(|r| asks(&r.eligibility.conditions, &req.key)) {
        return Err(ApiError::BadRequest(format!("没有需要回答的问题 {:?}", req.key)));
    }
    app.store.set_answer(citizen.id, &req.key, answer).await?;
    Ok(Json(offers::list(&app, &mut session, &citizen).await?))
}

fn asks(conditions: &[banshi_knowledge::eligibility::Condition], key: &str) -> bool {
    conditions.iter().any(|c| c.ask.as_ref().is_some_and(|a| a.key == key) || asks(&c.any, key) || asks(&c.all, key))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// False: no offers are made (and nothing is granted) until turned on again.
    pub enabled: bool,
}

/// Turn offers on or off for the signed-in citizen; the offers come back (none when off).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/offers/settings", params(("id" = String, Path)), request_body = Settings,
    responses((status = 200, body = OfferList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "offers")]
pub async fn settings(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Settings>, JsonRejection>,
) -> Result<Json<OfferList>, ApiError> {
    let Json(req) = body?;
    let (mut session, citizen) = signed_in_session(&app, &id, &headers).await?;
    app.store.set_offers_enabled(citizen.id, req.enabled).await?;
    tracing::info!(citizen = citizen.id, enabled = req.enabled, "offers switched");
    Ok(Json(offers::list(&app, &mut session, &citizen).await?))
}

/// Each live rule's reach over every citizen account today (eligible, possible) beside the
/// offers made and what became of them.
#[utoipa::path(get, path = "/api/v1/editor/offers/report",
    responses((status = 200, body = OfferReport), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "editor")]
pub async fn report(State(app): State<App>, _editor: Editor) -> Result<Json<OfferReport>, ApiError> {
    Ok(Json(offers::report(&app).await?))
}
