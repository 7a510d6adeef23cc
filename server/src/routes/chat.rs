//! Sending a message: the answer streams back as Server-Sent Events.
//!
//! Order of events: `message` (the stored question's id), `status` while waiting or searching
//! (including the queue position), `sources` (the item's card, straight from the guide),
//! `token`s, then `citations` — or `settled` / `replace` / `withdraw` + `clarify` / `decline` /
//! `handoff` — and finally `done` (the stored answer's id and its `text`) or `error`.
//!
//! The contract ([`banshi_assistant::contract`]): `token`s are provisional. Before `done`, every
//! streamed token has been confirmed (`citations`, or `done.text` equal to it), replaced
//! (`settled`, `replace`) or withdrawn (`withdraw`, sent by the server whenever the turn ends
//! another way). `done.text` is exactly the stored answer, and the stored answer keeps the events
//! the citizen was left with (`meta.shown`) so a replay and the history show the same. The question is committed before the stream starts; the
//! answer is committed before `done`. A client that disconnects cancels the generation and the
//! partial answer is stored as `interrupted`. Re-sending with the same `client_id` is idempotent:
//! a finished answer is replayed, an interrupted one is answered again.
//!
//! A handoff answers with `handoff` and, after the ticket is stored, `ticket` (queue position,
//! estimated wait). While a ticket holds the conversation, messages are stored and forwarded to
//! the agents instead: `message`, `ticket`, `status`, `done` with kind `forwarded`.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use banshi_assistant::contract::{shown_text, Contract};
use banshi_assistant::handoff::HandoffReason;
use banshi_assistant::stored::StoredAnswer;
use banshi_assistant::{AnswerEvent, AssistantError, Outcome, OutcomeKind};
use futures::Stream;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use utoipa::ToSchema;

use super::sessions::authorize;
use crate::admission::Ticket;
use crate::error::{ApiError, ErrorBody};
use crate::handoff;
use crate::live::{sse_parts, AgentEvent, CitizenEvent};
use crate::mask::preview;
use crate::store::{Message, NewMessage, Role, Session};
use crate::App;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The citizen's message (1 to the configured maximum of characters).
    pub text: String,
    /// Client-chosen id (≤ 64 chars) that makes re-sending after a network loss safe.
    #[serde(default)]
    pub client_id: Option<String>,
}

/// The SSE stream's events (documentation only: each is sent as `event: <name>` with this JSON
/// as `data`).
#[derive(Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SseEventDoc {
    Message {
        message_id: i64,
        replayed: bool,
    },
    Status {
        message: String,
        queue_position: Option<usize>,
    },
    Sources {
        card: banshi_assistant::card::SourcesCard,
    },
    Token {
        text: String,
    },
    /// The streamed text stands as sent; its sources and how each sentence is backed.
    Citations {
        sources: Vec<banshi_assistant::citations::Source>,
        verification: banshi_assistant::citations::Verification,
    },
    /// The streamed answer as verified: unbacked claims `removed`, each claim citing its source.
    Settled {
        text: String,
        removed: Vec<banshi_assistant::citations::CheckedSentence>,
        sources: Vec<banshi_assistant::citations::Source>,
        verification: banshi_assistant::citations::Verification,
    },
    /// The streamed text is replaced by the guide's own words, for `reason`.
    Replace {
        text: String,
        reason: String,
        sources: Vec<banshi_assistant::citations::Source>,
    },
    /// Every token streamed since the last confirmation is taken back (not shown, not stored as
    /// the answer); the turn goes on with a clarification, a decline or a handoff.
    Withdraw {
        reason: String,
    },
    Clarify {
        question: String,
        options: Vec<String>,
    },
    Decline {
        message: String,
        offer_human: bool,
    },
    /// The conversation went to a person (then a `ticket` event with the queue position).
    Handoff {
        reason: HandoffReason,
        message: String,
    },
    /// A 一件事 bundle: its items, the merged material list, what merging saves.
    Bundle {
        card: banshi_assistant::apply::BundleCard,
    },
    /// The form being filled in the chat (values with sources, errors, 免提交 materials).
    Form {
        form: banshi_assistant::apply::FormView,
    },
    /// The answer that follows is an editor-approved curated answer (with its source).
    Curated {
        id: i64,
        question: String,
        source: String,
    },
    /// Buttons that send their `text` as the next message.
    Actions {
        actions: Vec<banshi_assistant::apply::QuickReply>,
    },
    Ticket {
        ticket_id: i64,
        status: String,
        position: Option<usize>,
        eta_minutes: Option<u32>,
        agent: Option<String>,
    },
    /// `kind` is the outcome (`generated`, `extractive`, `handoff` …) or `forwarded` (the
    /// message went to the agent holding the conversation). `text` is the stored answer: what
    /// the client must be showing once every token is confirmed, replaced or withdrawn.
    Done {
        message_id: i64,
        kind: String,
        text: Option<String>,
    },
    /// The answer failed; `message_id` is the stored (interrupted) answer, when it was stored.
    Error {
        code: String,
        message: String,
        message_id: Option<i64>,
    },
}

type EventStream = std::pin::Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

/// Every answer stream, live or replayed, with keep-alive comments so proxies keep it open.
fn sse(stream: EventStream) -> Response {
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// Ask the assistant; the answer streams back as Server-Sent Events.
#[utoipa::path(post, path = "/api/v1/sessions/{id}/messages", params(("id" = String, Path)), request_body = SendMessage,
    responses(
        (status = 200, description = "text/event-stream of events as in `SseEventDoc`", body = SseEventDoc, content_type = "text/event-stream"),
        (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, description = "wait queue full; see Retry-After", body = ErrorBody)),
    security(("bearer" = [])), tag = "sessions")]
pub async fn send(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<SendMessage>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let session = authorize(&app, &id, &headers).await?;
    let text = req.text.trim().to_string();
    if text.is_empty() {
        return Err(ApiError::BadRequest("消息不能为空".into()));
    }
    let chars = text.chars().count();
    if chars > app.config.max_message_chars {
        return Err(ApiError::TooLarge(format!("消息过长（{chars} 字），请控制在 {} 字以内", app.config.max_message_chars)));
    }
    if req.client_id.as_ref().is_some_and(|c| c.is_empty() || c.len() > 64) {
        return Err(ApiError::BadRequest("client_id 须为 1–64 个字符".into()));
    }
    let mut earlier = None;
    if let Some(cid) = &req.client_id {
        if let Some(question) = app.store.message_by_client_id(&id, cid).await? {
            if let Some(answer) = app.store.reply_to(&id, question.id).await?.filter(|a| a.status == "complete") {
                return Ok(replay(&question, &answer));
            }
            earlier = Some(question);
        }
    }
    // With a person on the conversation, messages go to them, not to the assistant.
    if let Some(open) = app.store.open_ticket(&id).await? {
        return forward(&app, &open, earlier, text, req.client_id).await;
    }
    let Some(ticket) = app.admission.try_enter() else {
        app.metrics.rejected.inc();
        return Err(ApiError::Busy(app.config.retry_after_secs));
    };
    let question = match earlier {
        Some(q) => q,
        None => {
            let new = NewMessage {
                session_id: id.clone(),
                role: Some(Role::User),
                text,
                client_id: req.client_id,
                meta: json!({}),
                ..Default::default()
            };
            app.store.add_message(new).await?
        }
    };
    tracing::info!(session = %id, message = question.id, text = %preview(&question.text), "message accepted");
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(run_turn(app, session, question, ticket, tx));
    Ok(sse(Box::pin(ReceiverStream::new(rx))))
}

/// A message while a ticket holds the conversation: stored, shown to the agents, and
/// acknowledged with the queue state (no assistant answer).
async fn forward(
    app: &App,
    ticket: &crate::store::Ticket,
    earlier: Option<Message>,
    text: String,
    client_id: Option<String>,
) -> Result<Response, ApiError> {
    let (message, replayed) = match earlier {
        Some(q) => (q, true),
        None => {
            let new = NewMessage {
                session_id: ticket.session_id.clone(),
                role: Some(Role::User),
                text,
                client_id,
                meta: json!({"ticket_id": ticket.id}),
                ..Default::default()
            };
            let m = app.store.add_message(new).await?;
            app.live.to_agents(AgentEvent::Message { ticket_id: ticket.id, message: m.clone() });
            (m, false)
        }
    };
    let state = handoff::state_event(app, ticket).await?;
    let status = match &state {
        CitizenEvent::Ticket { position: Some(p), eta_minutes, .. } => {
            format!("已转人工客服，您前面还有 {} 位，预计等待约 {} 分钟。您的消息已转给客服。", p - 1, eta_minutes.unwrap_or(1))
        }
        CitizenEvent::Ticket { agent: Some(a), .. } => format!("客服{a}正在为您服务，您的消息已送达。"),
        _ => "您的消息已转给人工客服。".to_string(),
    };
    let events = vec![
        event("message", json!({"message_id": message.id, "replayed": replayed})),
        event("ticket", sse_parts(&state).1),
        event("status", json!({"message": status})),
        event("done", json!({"message_id": message.id, "kind": "forwarded"})),
    ];
    Ok(sse(Box::pin(futures::stream::iter(events))))
}

type Tx = mpsc::Sender<Result<Event, Infallible>>;

fn event(name: &str, data: serde_json::Value) -> Result<Event, Infallible> {
    Ok(Event::default().event(name).data(data.to_string()))
}

/// When the first token went out (time to first token), for the metrics.
#[derive(Default)]
struct Collected {
    first_token: Option<f64>,
}

async fn run_turn(app: App, mut session: Session, question: Message, ticket: Ticket, tx: Tx) {
    let started = Instant::now();
    let _ = tx.send(event("message", json!({"message_id": question.id, "replayed": false}))).await;
    let _running = match ticket.try_start() {
        Ok(r) => r,
        Err(ticket) => {
            app.metrics.waiting.inc();
            let ahead = app.admission.waiting();
            let msg = format!("当前咨询人数较多，您前面还有 {ahead} 位，请稍候…");
            let _ = tx.send(event("status", json!({"message": msg, "queue_position": ahead}))).await;
            let r = tokio::select! {
                r = ticket.start() => Some(r),
                _ = tx.closed() => None,
            };
            app.metrics.waiting.dec();
            match r {
                Some(r) => r,
                // Gave up while queued: the question stays stored, unanswered.
                None => return,
            }
        }
    };
    app.metrics.in_flight.inc();
    let (etx, mut erx) = mpsc::channel::<AnswerEvent>(64);
    let mut state = session.state.clone();
    let assistant = app.assistant.clone();
    let text = question.text.clone();
    let respond = async move {
        let r = assistant.respond(&mut state, &text, &etx).await;
        (r, state)
    };
    let mut got = Collected::default();
    let mut contract = Contract::new();
    let forward = async {
        'events: while let Some(ev) = erx.recv().await {
            for ev in contract.pass(ev) {
                if tx.send(sse_of(&ev, &mut got, started)).await.is_err() {
                    // Client gone: dropping `erx` makes the engine's next send fail, which cancels.
                    break 'events;
                }
            }
        }
        drop(erx);
    };
    let ((result, state), ()) = tokio::join!(respond, forward);
    app.metrics.in_flight.dec();
    if let Some(t) = got.first_token {
        app.metrics.ttft.observe(t);
    }
    let before = std::mem::replace(&mut session.state, state);
    // Merged with whatever another request of this session saved meanwhile.
    if let Err(e) = crate::dialogue_state::save(&app, &mut session, &before).await {
        tracing::error!(session = %session.id, "saving dialogue state: {e}");
    }
    finish(&app, &session, &question, result, got, contract, &tx).await;
}

/// Convert one engine event to SSE, noting the first token's time.
fn sse_of(ev: &AnswerEvent, got: &mut Collected, started: Instant) -> Result<Event, Infallible> {
    if let AnswerEvent::Token { .. } = ev {
        got.first_token.get_or_insert_with(|| started.elapsed().as_secs_f64());
    }
    answer_event(ev)
}

/// One engine event as its SSE event (`event:` is its `type`, `data:` the rest): the live
/// stream and a replay both send events through this.
fn answer_event(ev: &AnswerEvent) -> Result<Event, Infallible> {
    let mut data = serde_json::to_value(ev).unwrap_or_default();
    let name = data.get("type").and_then(|t| t.as_str()).unwrap_or("status").to_string();
    if let Some(o) = data.as_object_mut() {
        o.remove("type");
    }
    event(&name, data)
}

async fn finish(
    app: &App,
    session: &Session,
    question: &Message,
    result: Result<Outcome, AssistantError>,
    mut got: Collected,
    mut contract: Contract,
    tx: &Tx,
) {
    // What the contract still owes: a withdrawal of text the outcome does not stand behind.
    let owed: Vec<AnswerEvent> = match &result {
        Ok(o) => contract.finish(o),
        Err(AssistantError::Cancelled) => contract.abort("回答未完成，已撤回未经核实的内容").into_iter().collect(),
        Err(_) => contract.abort("回答出错，已撤回未经核实的内容").into_iter().collect(),
    };
    for ev in &owed {
        let _ = tx.send(sse_of(ev, &mut got, Instant::now())).await;
    }
    let mut result = result;
    // The ticket is opened before the answer is stored, so the answer can name it; when it
    // cannot be opened the citizen is told so at once, not left waiting for a person.
    let mut handoff_failed = None;
    let opened = match &mut result {
        Ok(o) => match &o.handoff {
            Some(h) => match handoff::open(app, &session.id, h).await {
                Ok(t) => Some(t),
                Err(e) => {
                    tracing::error!(session = %session.id, "opening a ticket: {e}");
                    let message = handoff::refused_message(&e);
                    for ev in contract.pass(AnswerEvent::Decline { message: message.clone(), offer_human: true }) {
                        let _ = tx.send(sse_of(&ev, &mut got, Instant::now())).await;
                    }
                    handoff_failed = Some(e.code().to_string());
                    o.text = format!("{}\n{message}", o.text);
                    None
                }
            },
            None => None,
        },
        Err(_) => None,
    };
    let (record, text, kind, interrupted, error) = match result {
        Ok(o) => {
            let mut record = StoredAnswer::of(&o, &contract);
            record.handoff_failed = handoff_failed;
            record.ticket_id = opened.as_ref().map(|t| t.id);
            if let (OutcomeKind::Suggestion, Some(appeal)) = (o.kind, &o.appeal) {
                match handoff::record_suggestion(app, &session.id, &question.text, appeal).await {
                    Ok(t) => record.ticket_id = Some(t.id),
                    Err(e) => tracing::error!(session = %session.id, "recording a suggestion: {e}"),
                }
            }
            app.metrics.answers.get_or_create(&crate::metrics::KindLabels { kind: o.kind.as_str().into() }).inc();
            if record.offered_human() {
                app.metrics.human_offers.inc();
            }
            (record, o.text, Some(o.kind.as_str().to_string()), false, None)
        }
        // Only what stayed on screen is the answer's text; withdrawn text is in `withdrawn`.
        Err(AssistantError::Cancelled) => (StoredAnswer::interrupted(&contract), shown_text(contract.shown()), None, true, None),
        Err(e) => {
            let api = ApiError::from(e);
            tracing::error!(session = %session.id, "answer failed: {api}");
            (StoredAnswer::interrupted(&contract), shown_text(contract.shown()), None, true, Some(api))
        }
    };
    let meta = serde_json::to_value(&record).expect("stored answers serialise");
    let new = NewMessage {
        session_id: session.id.clone(),
        role: Some(Role::Assistant),
        text,
        kind,
        interrupted,
        reply_to: Some(question.id),
        meta,
        ..Default::default()
    };
    match app.store.add_message(new).await {
        Ok(stored) => {
            if let Some(e) = error {
                let _ = tx.send(event("error", json!({"code": e.code(), "message": e.to_string(), "message_id": stored.id}))).await;
            } else if !interrupted {
                if let Some(t) = &opened {
                    if let Ok(state) = handoff::state_event(app, t).await {
                        let _ = tx.send(event("ticket", sse_parts(&state).1)).await;
                    }
                }
                let _ = tx.send(event("done", json!({"message_id": stored.id, "kind": stored.kind, "text": stored.text}))).await;
            }
            tracing::info!(session = %session.id, message = stored.id, kind = ?stored.kind, interrupted, "answer stored");
        }
        Err(e) => {
            tracing::error!(session = %session.id, "storing the answer: {e}");
            let api = ApiError::from(e);
            let _ = tx.send(event("error", json!({"code": api.code(), "message": api.to_string()}))).await;
        }
    }
}

/// The stored answer to a re-sent question, as the same events the live answer left on screen.
fn replay(question: &Message, answer: &Message) -> Response {
    let mut events = vec![event("message", json!({"message_id": question.id, "replayed": true}))];
    match serde_json::from_value::<StoredAnswer>(answer.meta.clone()) {
        Ok(record) if !record.shown.is_empty() => events.extend(record.shown.iter().map(answer_event)),
        _ => events.extend(legacy_replay(answer)),
    }
    events.push(event("done", json!({"message_id": answer.id, "kind": answer.kind, "text": answer.text})));
    sse(Box::pin(futures::stream::iter(events)))
}

/// Answers stored before the shown events were kept: rebuilt from their meta fields.
fn legacy_replay(answer: &Message) -> Vec<Result<Event, Infallible>> {
    let mut events = Vec::new();
    let m = &answer.meta;
    if let Some(card) = m.get("card") {
        events.push(event("sources", json!({"card": card})));
    }
    if let Some(card) = m.get("bundle") {
        events.push(event("bundle", json!({"card": card})));
    }
    if let Some(form) = m.get("form") {
        events.push(event("form", json!({"form": form})));
    }
    if let Some(c) = m.get("curated") {
        events.push(event("curated", c.clone()));
    }
    if let Some(c) = m.get("clarify") {
        events.push(event("clarify", c.clone()));
    } else if let Some(reason) = m.get("handoff_reason") {
        events.push(event("handoff", json!({"reason": reason, "message": answer.text})));
    } else if m.get("offer_human").is_some() {
        events.push(event("decline", json!({"message": answer.text, "offer_human": m["offer_human"]})));
    } else if let Some(reason) = m.get("replaced_because") {
        events.push(event("replace", json!({"text": answer.text, "reason": reason, "sources": m.get("sources")})));
    } else if let Some(removed) = m.get("removed") {
        events.push(event(
            "settled",
            json!({"text": answer.text, "removed": removed, "sources": m.get("sources"), "verification": m.get("verification")}),
        ));
    } else {
        events.push(event("token", json!({"text": answer.text})));
        if let Some(s) = m.get("sources") {
            events.push(event("citations", json!({"sources": s, "verification": m.get("verification")})));
        }
    }
    if let Some(actions) = m.get("actions") {
        events.push(event("actions", json!({"actions": actions})));
    }
    events
}
