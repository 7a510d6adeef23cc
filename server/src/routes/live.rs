//! A citizen's live channel and their 好差评 rating.
//!
//! `GET /sessions/{id}/events` is a long-lived Server-Sent Events stream: first what the page
//! missed (messages after `after`, the ticket's state), then agents' replies, queue positions
//! and rating requests as they happen. It subscribes before reading the store, so nothing
//! falls between the catch-up and the live part (the page ignores message ids it has).

use std::convert::Infallible;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};

use super::sessions::authorize;
use crate::error::{ApiError, ErrorBody};
use crate::handoff::{self, level_zh};
use crate::live::{sse_parts, CitizenEvent, Note};
use crate::store::{Rating, Role, TicketStatus};
use crate::App;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The last message id the page has; older messages are not sent again (a `Last-Event-ID`
    /// header, as `EventSource` sends on reconnecting, counts the same).
    #[serde(default)]
    pub after: i64,
}

/// A message event carries its id as the SSE id, so a client that reconnects (to any replica)
/// with `Last-Event-ID` gets exactly the messages after it.
fn sse_event(e: &CitizenEvent) -> Result<Event, Infallible> {
    let (name, data) = sse_parts(e);
    let event = Event::default().event(name).data(data.to_string());
    Ok(match e {
        CitizenEvent::Message { message } => event.id(message.id.to_string()),
        _ => event,
    })
}

/// Where the stream starts: after `Last-Event-ID` (what an `EventSource` resends on
/// reconnecting) or `after`, whichever is later; 400 for a `Last-Event-ID` that is no id.
fn resume_after(headers: &HeaderMap, after: i64) -> Result<i64, ApiError> {
    let Some(v) = headers.get("last-event-id") else { return Ok(after) };
    let id = v.to_str().ok().and_then(|s| s.trim().parse::<i64>().ok()).filter(|id| *id >= 0);
    let id = id.ok_or_else(|| ApiError::BadRequest("Last-Event-ID 应为消息编号（非负整数）".into()))?;
    Ok(id.max(after))
}

/// Live events of a session: agent replies, queue position, rating requests.
#[utoipa::path(get, path = "/api/v1/sessions/{id}/events", params(("id" = String, Path), EventsQuery),
    responses((status = 200, description = "text/event-stream of `CitizenEvent`s", body = CitizenEvent, content_type = "text/event-stream"),
        (status = 401, body = ErrorBody)),
    security(("bearer" = [])), tag = "sessions")]
pub async fn events(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q?;
    authorize(&app, &id, &headers).await?;
    let mut rx = app.live.subscribe(&id);
    let (tx, out) = mpsc::channel::<Result<Event, Infallible>>(32);
    let mut last = resume_after(&headers, q.after)?;
    let catch_up = |app: App, id: String, after: i64| async move {
        let mut events = Vec::new();
        for m in app.store.messages(&id, after, 200).await? {
            events.push(CitizenEvent::Message { message: m });
        }
        if let Some(t) = app.store.open_ticket(&id).await? {
            events.push(handoff::state_event(&app, &t).await?);
        }
        Ok::<_, ApiError>(events)
    };
    let first = catch_up(app.clone(), id.clone(), last).await?;
    tokio::spawn(async move {
        let send = |e: &CitizenEvent, last: &mut i64| {
            if let CitizenEvent::Message { message } = e {
                *last = (*last).max(message.id);
            }
            sse_event(e)
        };
        for e in &first {
            if tx.send(send(e, &mut last)).await.is_err() {
                return;
            }
        }
        loop {
            let e = tokio::select! {
                r = rx.recv() => r,
                _ = tx.closed() => return,
            };
            let batch = match e {
                Ok(Note::Event(CitizenEvent::Message { message })) if message.id <= last => continue,
                Ok(Note::Event(e)) => vec![e],
                // Fell behind the channel, or notifications may have been lost: read what was
                // missed from the store.
                Ok(Note::CatchUp) | Err(broadcast::error::RecvError::Lagged(_)) => match catch_up(app.clone(), id.clone(), last).await {
                    Ok(events) => events,
                    Err(_) => return,
                },
                Err(broadcast::error::RecvError::Closed) => return,
            };
            for e in &batch {
                if tx.send(send(e, &mut last)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(out)).keep_alive(KeepAlive::default()).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意.
    pub level: i64,
    /// Optional comment, at most 500 characters.
    #[serde(default)]
    pub comment: Option<String>,
    /// Rate this (resolved) ticket; without it the rating is for the whole session.
    #[serde(default)]
    pub ticket_id: Option<i64>,
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct Rated {
    pub rating: Rating,
    /// The follow-up (整改 / 回访) ticket a 不满意 or 非常不满意 rating opened (not for an anonymous
    /// session that never got an answer).
    pub follow_up_ticket: Option<i64>,
}

/// Rate the service (好差评), once per session and once per ticket. A bad rating opens a priority
/// follow-up ticket, unless the session is anonymous and never got an answer; 429 (nothing
/// stored) over the rating or handoff limits.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/ratings", params(("id" = String, Path)), request_body = RateRequest,
    responses((status = 201, body = Rated), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "already rated", body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "too many ratings or follow-ups; see Retry-After", body = ErrorBody)),
    security(("bearer" = [])), tag = "sessions")]
pub async fn rate(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RateRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<Rated>), ApiError> {
    let Json(req) = body?;
    let session = authorize(&app, &id, &headers).await?;
    if !(1..=5).contains(&req.level) {
        return Err(ApiError::BadRequest("评价等级须为 1–5（5 非常满意 … 1 非常不满意）".into()));
    }
    let comment = req.comment.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if comment.is_some_and(|c| c.chars().count() > 500) {
        return Err(ApiError::TooLarge("评价意见请控制在 500 字以内".into()));
    }
    let parent = match req.ticket_id {
        Some(t) => {
            let ticket = app
                .store
                .ticket(t)
                .await?
                .filter(|x| x.session_id == id)
                .ok_or_else(|| ApiError::NotFound(format!("本会话没有工单 {t}")))?;
            if ticket.status != TicketStatus::Resolved {
                return Err(ApiError::Conflict("工单尚未办结，办结后再评价".into()));
            }
            Some(ticket)
        }
        None => None,
    };
    let follow_up = req.level <= 2 && handoff::deserves_follow_up(&app, &session, parent.as_ref()).await?;
    if follow_up {
        app.limits.handoff(&id).await?;
    }
    let rating = app.store.add_rating(&id, req.ticket_id, req.level, comment).await?;
    tracing::info!(session = %id, ticket = ?req.ticket_id, level = req.level, follow_up, "rated");
    let mut follow_up_ticket = None;
    if follow_up {
        let t = handoff::open_follow_up(&app, &id, parent.as_ref(), req.level, comment).await?;
        let text = format!("您的评价（{}）已收到，我们已安排工作人员回访（工单 #{}），请保持电话畅通。", level_zh(req.level), t.id);
        handoff::post(&app, Some(&t), &id, Role::System, &text, serde_json::json!({"ticket_id": t.id})).await?;
        app.live.to_citizen(&id, handoff::state_event(&app, &t).await?);
        follow_up_ticket = Some(t.id);
    }
    Ok((StatusCode::CREATED, Json(Rated { rating, follow_up_ticket })))
}
