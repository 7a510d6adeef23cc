//! The agent console's API (`/api/v1/agent/…`, agents and admins only): the queue, a ticket's
//! transcript and summary, claim / reply / release / resolve / reopen, canned replies, "send to
//! knowledge", rating statistics, and a live event stream.

use std::convert::Infallible;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use utoipa::{IntoParams, ToSchema};

use crate::auth::Agent;
use crate::error::{ApiError, ErrorBody};
use crate::handoff;
use crate::live::{sse_parts, AgentEvent, Note};
use crate::store::{Message, Rating, RatingStats, Role, StaffRole, Ticket, TicketEvent, TicketFilter, TicketKind, TicketStatus};
use crate::App;

/// Longest agent reply, note or draft answer, in characters.
const MAX_TEXT: usize = 2000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `queue` (waiting), `mine` (assigned to me), `open` (waiting + in progress), `resolved`,
    /// `suggestions`. Default `open`.
    pub view: Option<String>,
}

/// List tickets for one of the console's views.
#[utoipa::path(get, path = "/api/v1/agent/tickets", params(ListQuery),
    responses((status = 200, body = [Ticket]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn list(
    State(app): State<App>,
    Agent(staff): Agent,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Ticket>>, ApiError> {
    let Query(q) = q?;
    let people = vec![TicketKind::Handoff, TicketKind::FollowUp];
    let f = match q.view.as_deref().unwrap_or("open") {
        "queue" => TicketFilter { statuses: vec![TicketStatus::Pending], kinds: people, ..Default::default() },
        "mine" => TicketFilter { statuses: vec![TicketStatus::Assigned], assignee_id: Some(staff.0.id), ..Default::default() },
        "open" => TicketFilter { statuses: vec![TicketStatus::Pending, TicketStatus::Assigned], kinds: people, ..Default::default() },
        "resolved" => TicketFilter { statuses: vec![TicketStatus::Resolved], limit: 100, ..Default::default() },
        "suggestions" => TicketFilter {
            kinds: vec![TicketKind::Suggestion],
            statuses: vec![TicketStatus::Pending, TicketStatus::Assigned],
            ..Default::default()
        },
        other => return Err(ApiError::BadRequest(format!("未知视图 {other:?}：可选 queue、mine、open、resolved、suggestions"))),
    };
    Ok(Json(app.store.tickets(&f).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    pub ticket: Ticket,
    /// The whole conversation, oldest first.
    pub transcript: Vec<Message>,
    pub events: Vec<TicketEvent>,
    pub ratings: Vec<Rating>,
    /// Files the citizen uploaded (pre-review), newest first.
    #[schema(value_type = Vec<Object>)]
    pub attachments: Vec<serde_json::Value>,
    /// Applications submitted from this conversation (values, their sources, materials).
    pub applications: Vec<crate::store::Application>,
    /// The latest pre-review report in the conversation.
    #[schema(value_type = Option<Object>)]
    pub prereview: Option<serde_json::Value>,
}

/// Record a ticket change in the audit log (a failure to record is logged, the change stands:
/// the ticket's own event history has it too).
async fn audit_ticket(app: &App, actor: &str, action: &str, before: Option<Ticket>, after: &Ticket) {
    let e = crate::store::NewAudit {
        actor: actor.to_string(),
        action: action.to_string(),
        entity: "ticket".into(),
        entity_id: after.id.to_string(),
        before: before.map(|t| serde_json::json!(t)),
        after: Some(serde_json::json!(after)),
    };
    if let Err(err) = app.store.record(e).await {
        tracing::error!(ticket = after.id, "audit log: {err}");
    }
}

async fn ticket_or_404(app: &App, id: i64) -> Result<Ticket, ApiError> {
    app.store.ticket(id).await?.ok_or_else(|| ApiError::NotFound(format!("工单 {id} 不存在")))
}

/// A ticket with its transcript, summary, history and ratings.
#[utoipa::path(get, path = "/api/v1/agent/tickets/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = TicketDetail), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn detail(State(app): State<App>, _agent: Agent, Path(id): Path<i64>) -> Result<Json<TicketDetail>, ApiError> {
    let ticket = ticket_or_404(&app, id).await?;
    let mut transcript = Vec::new();
    let mut after = 0;
    loop {
        let page = app.store.messages(&ticket.session_id, after, 200).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() == 200;
        transcript.extend(page);
        if !full {
            break;
        }
    }
    let attachments = transcript.iter().filter_map(|m| m.meta.get("upload").cloned()).rev().collect();
    let events = app.store.ticket_events(id).await?;
    let ratings = app.store.ratings(&ticket.session_id).await?;
    let applications = app.store.session_applications(&ticket.session_id).await?;
    let prereview = transcript.iter().rev().find_map(|m| m.meta.get("prereview").and_then(|p| p.get("report")).cloned());
    Ok(Json(TicketDetail { ticket, transcript, events, ratings, attachments, applications, prereview }))
}

/// Take a waiting ticket; 409 when someone else took it first.
#[utoipa::path(post, path = "/api/v1/agent/tickets/{id}/claim", params(("id" = i64, Path)),
    responses((status = 200, body = Ticket), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn claim(State(app): State<App>, Agent(staff): Agent, Path(id): Path<i64>) -> Result<Json<Ticket>, ApiError> {
    let before = app.store.ticket(id).await?;
    let t = app.store.claim(id, staff.0.id, &staff.actor()).await?;
    audit_ticket(&app, &staff.actor(), "ticket.claim", before, &t).await;
    tracing::info!(ticket = id, agent = %staff.0.username, "claimed");
    let notice = (t.kind != TicketKind::Suggestion).then(|| format!("人工客服{}已接入，正在为您服务。", staff.0.display_name));
    handoff::announce(&app, &t, notice.as_deref()).await?;
    Ok(Json(t))
}

/// Put an assigned ticket back in the queue.
#[utoipa::path(post, path = "/api/v1/agent/tickets/{id}/release", params(("id" = i64, Path)),
    responses((status = 200, body = Ticket), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn release(State(app): State<App>, Agent(staff): Agent, Path(id): Path<i64>) -> Result<Json<Ticket>, ApiError> {
    let before = app.store.ticket(id).await?;
    let t = app.store.release(id, staff.0.id, staff.0.role == StaffRole::Admin, &staff.actor()).await?;
    audit_ticket(&app, &staff.actor(), "ticket.release", before, &t).await;
    handoff::announce(&app, &t, Some("客服已将您的咨询转回等待队列，其他客服将尽快接入。")).await?;
    Ok(Json(t))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextBody {
    pub text: String,
}

fn checked(text: &str, what: &str) -> Result<String, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ApiError::BadRequest(format!("{what}不能为空")));
    }
    let n = t.chars().count();
    if n > MAX_TEXT {
        return Err(ApiError::TooLarge(format!("{what}过长（{n} 字），请控制在 {MAX_TEXT} 字以内")));
    }
    Ok(t.to_string())
}

/// Reply to the citizen (only on a ticket assigned to you).
#[utoipa::path(post, path = "/api/v1/agent/tickets/{id}/messages", params(("id" = i64, Path)), request_body = TextBody,
    responses((status = 201, body = Message), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn reply(
    State(app): State<App>,
    Agent(staff): Agent,
    Path(id): Path<i64>,
    body: Result<Json<TextBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let Json(b) = body?;
    let text = checked(&b.text, "回复内容")?;
    let t = ticket_or_404(&app, id).await?;
    if t.status != TicketStatus::Assigned || (t.assignee_id != Some(staff.0.id) && staff.0.role != StaffRole::Admin) {
        return Err(ApiError::Conflict("请先接单，只能回复由您处理中的工单".into()));
    }
    let meta = serde_json::json!({"ticket_id": id, "agent": staff.0.display_name});
    let m = handoff::post(&app, Some(&t), &t.session_id, Role::Agent, &text, meta).await?;
    Ok((StatusCode::CREATED, Json(m)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// What was done (办结说明), shown to other agents and in the ticket's history.
    pub note: String,
}

/// Resolve with a note; the citizen is asked to rate.
#[utoipa::path(post, path = "/api/v1/agent/tickets/{id}/resolve", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 200, body = Ticket), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn resolve(
    State(app): State<App>,
    Agent(staff): Agent,
    Path(id): Path<i64>,
    body: Result<Json<NoteBody>, JsonRejection>,
) -> Result<Json<Ticket>, ApiError> {
    let Json(b) = body?;
    let note = checked(&b.note, "办结说明")?;
    let before = app.store.ticket(id).await?;
    let t = app.store.resolve(id, staff.0.id, staff.0.role == StaffRole::Admin, &note, &staff.actor()).await?;
    audit_ticket(&app, &staff.actor(), "ticket.resolve", before, &t).await;
    tracing::info!(ticket = id, agent = %staff.0.username, "resolved");
    let notice = (t.kind != TicketKind::Suggestion).then_some("本次人工服务已结束，感谢您的耐心。请对本次服务进行评价。");
    handoff::announce(&app, &t, notice).await?;
    Ok(Json(t))
}

/// Reopen a resolved ticket (back to the queue).
#[utoipa::path(post, path = "/api/v1/agent/tickets/{id}/reopen", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 200, body = Ticket), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn reopen(
    State(app): State<App>,
    Agent(staff): Agent,
    Path(id): Path<i64>,
    body: Result<Json<NoteBody>, JsonRejection>,
) -> Result<Json<Ticket>, ApiError> {
    let Json(b) = body?;
    let note = checked(&b.note, "重新打开的原因")?;
    let before = app.store.ticket(id).await?;
    let t = app.store.reopen(id, &note, &staff.actor()).await?;
    audit_ticket(&app, &staff.actor(), "ticket.reopen", before, &t).await;
    handoff::announce(&app, &t, (t.kind != TicketKind::Suggestion).then_some("您的问题已重新进入人工服务队列。")).await?;
    Ok(Json(t))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftBody {
    /// The question, as the editors should see it.
    pub question: String,
    /// The answer the agent gave.
    pub answer: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DraftCreated {
    pub draft_id: i64,
}

/// Send an answer to the knowledge editors as a draft FAQ.
#[utoipa::path(post, path = "/api/v1/agent/tickets/{id}/knowledge", params(("id" = i64, Path)), request_body = DraftBody,
    responses((status = 201, body = DraftCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn to_knowledge(
    State(app): State<App>,
    Agent(staff): Agent,
    Path(id): Path<i64>,
    body: Result<Json<DraftBody>, JsonRejection>,
) -> Result<(StatusCode, Json<DraftCreated>), ApiError> {
    let Json(b) = body?;
    let (question, answer) = (checked(&b.question, "问题")?, checked(&b.answer, "答案")?);
    let t = ticket_or_404(&app, id).await?;
    let draft_id = app.store.add_knowledge_draft(Some(id), t.item_code.as_deref(), &question, &answer, staff.0.id).await?;
    tracing::info!(ticket = id, draft = draft_id, "answer sent to knowledge editors");
    Ok((StatusCode::CREATED, Json(DraftCreated { draft_id })))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CannedReply {
    pub title: String,
    pub text: String,
}

/// Replies agents use often.
#[utoipa::path(get, path = "/api/v1/agent/canned-replies", responses((status = 200, body = [CannedReply]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn canned(_agent: Agent) -> Json<Vec<CannedReply>> {
    const REPLIES: &[(&str, &str)] = &[
        ("问候", "您好，我是12345政务服务便民热线客服，很高兴为您服务。请问有什么可以帮您？"),
        ("核实中", "您反映的情况我们已经记录，正在核实，请您稍等。"),
        ("转办部门", "您的诉求已转交相关责任部门办理，承办部门将在规定时限内联系您并反馈办理结果。"),
        ("需补充信息", "为便于核实处理，请您补充具体地址、发生时间和联系方式。"),
        ("政策答复", "根据现行规定，具体以窗口审核为准。如需进一步了解，可拨打事项咨询电话。"),
        ("结束语", "感谢您的来电来信，如有其他问题欢迎随时联系我们。祝您生活愉快！"),
    ];
    Json(REPLIES.iter().map(|(t, x)| CannedReply { title: (*t).into(), text: (*x).into() }).collect())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub ratings: RatingStats,
    /// Share of ratings at 满意 or better (4–5), when any.
    pub satisfaction: Option<f64>,
    pub waiting: usize,
    pub in_progress: usize,
    pub suggestions_open: usize,
}

/// 好差评 distribution and queue counts.
#[utoipa::path(get, path = "/api/v1/agent/stats", responses((status = 200, body = Stats), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])), tag = "agent")]
pub async fn stats(State(app): State<App>, _agent: Agent) -> Result<Json<Stats>, ApiError> {
    let ratings = app.store.rating_stats().await?;
    let count = |statuses: Vec<TicketStatus>, kinds: Vec<TicketKind>| {
        let app = app.clone();
        async move { app.store.tickets(&TicketFilter { statuses, kinds, assignee_id: None, limit: 10_000 }).await.map(|v| v.len()) }
    };
    let people = vec![TicketKind::Handoff, TicketKind::FollowUp];
    let waiting = count(vec![TicketStatus::Pending], people.clone()).await?;
    let in_progress = count(vec![TicketStatus::Assigned], people).await?;
    let suggestions_open = count(vec![TicketStatus::Pending, TicketStatus::Assigned], vec![TicketKind::Suggestion]).await?;
    let satisfaction = (ratings.total > 0).then(|| (ratings.by_level[0] + ratings.by_level[1]) as f64 / ratings.total as f64);
    Ok(Json(Stats { ratings, satisfaction, waiting, in_progress, suggestions_open }))
}

fn agent_event(e: &AgentEvent) -> Result<Event, Infallible> {
    let (name, data) = sse_parts(e);
    Ok(Event::default().event(name).data(data.to_string()))
}

/// Live console events: tickets created or changed, new messages in tickets. Starts with every
/// open ticket, so a console that reconnects is up to date.
#[utoipa::path(get, path = "/api/v1/agent/events", responses((status = 200, description = "text/event-stream of `AgentEvent`s", body = AgentEvent, content_type = "text/event-stream"),
    (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])), tag = "agent")]
pub async fn events(State(app): State<App>, _agent: Agent) -> Result<Response, ApiError> {
    let mut rx = app.live.subscribe_agents();
    let open = TicketFilter { statuses: vec![TicketStatus::Pending, TicketStatus::Assigned], ..Default::default() };
    let snapshot = app.store.tickets(&open).await?;
    let (tx, out) = mpsc::channel::<Result<Event, Infallible>>(64);
    tokio::spawn(async move {
        for t in snapshot {
            if tx.send(agent_event(&AgentEvent::Ticket { ticket: t })).await.is_err() {
                return;
            }
        }
        loop {
            let e = tokio::select! {
                r = rx.recv() => r,
                _ = tx.closed() => return,
            };
            let ev = match e {
                Ok(Note::Event(e)) => agent_event(&e),
                // Behind, or notifications may have been lost: tell the console to reload its lists.
                Ok(Note::CatchUp) | Err(broadcast::error::RecvError::Lagged(_)) => Ok(Event::default().event("resync").data("{}")),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if tx.send(ev).await.is_err() {
                return;
            }
        }
    });
    Ok(Sse::new(ReceiverStream::new(out)).keep_alive(KeepAlive::default()).into_response())
}
