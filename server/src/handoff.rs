//! The human side of a conversation: opening tickets, moving them, and telling whoever listens.
//!
//! Every function here writes to the store first and only then notifies (see [`crate::live`]):
//! a notification that is lost costs a refresh, never a record. Queue positions are recomputed
//! from the store after each change and sent to every waiting citizen.

use banshi_assistant::appeal::Appeal;
use banshi_assistant::handoff::{summarise, Handoff, HandoffReason, Summary, Turn};
use serde_json::json;

use crate::error::ApiError;
use crate::live::{AgentEvent, CitizenEvent};
use crate::store::{Message, NewMessage, NewTicket, Role, Ticket, TicketFilter, TicketKind, TicketStatus};
use crate::App;

/// Minutes per queue position when there is no history to estimate from.
const DEFAULT_MINUTES_PER_POSITION: f64 = 3.0;

/// Open a handoff ticket for `session_id` with a summary of its transcript. Charged to the
/// session's handoff limits first ([`crate::limits::Limits::handoff`]): over them, 429
/// `rate_limited` and no ticket.
pub async fn open(app: &App, session_id: &str, h: &Handoff) -> Result<Ticket, ApiError> {
    app.limits.handoff(session_id).await?;
    let summary = summary_of(app, session_id, h).await?;
    let t = NewTicket {
        session_id: session_id.to_string(),
        kind: if h.reason == HandoffReason::BadRating { TicketKind::FollowUp } else { TicketKind::Handoff },
        parent_id: None,
        reason: h.reason.as_str().to_string(),
        appeal_type: summary.appeal_type.clone(),
        domain: summary.domain.clone(),
        department: summary.department.clone(),
        item_code: h.item.as_ref().map(|i| i.code.clone()),
        priority: h.reason.priority(),
        summary: serde_json::to_value(&summary).expect("summaries serialise"),
    };
    let ticket = app.store.create_ticket(t, "citizen").await?;
    audit_created(app, &ticket).await;
    app.metrics.handoffs.get_or_create(&crate::metrics::ReasonLabels { reason: ticket.reason.clone() }).inc();
    tracing::info!(session = %session_id, ticket = ticket.id, reason = %ticket.reason, "handed off to the agent queue");
    app.live.to_agents(AgentEvent::Ticket { ticket: ticket.clone() });
    publish_queue(app).await?;
    Ok(ticket)
}

/// What the citizen is told when a handoff's ticket cannot be opened.
pub fn refused_message(e: &ApiError) -> String {
    match e {
        ApiError::RateLimited(..) => "转人工的请求过于频繁，暂时无法为您转接。如需人工帮助，请稍后再试或拨打12345政务服务便民热线。".into(),
        _ => "暂时无法为您转接人工客服，请稍后再试，或拨打12345政务服务便民热线。".into(),
    }
}

/// Record a suggestion (建言) for routing to its department.
pub async fn record_suggestion(app: &App, session_id: &str, text: &str, appeal: &Appeal) -> Result<Ticket, ApiError> {
    let department = appeal.domain.as_deref().map(|d| app.assistant.deployment.department_for(d).to_string());
    let summary = json!({
        "wants": [text.chars().take(200).collect::<String>()],
        "answered": [],
        "missing": "研究建言并转交责任部门",
        "reason": "市民建言",
        "appeal_type": appeal.kind.label(),
        "domain": appeal.domain,
        "department": department,
    });
    let t = NewTicket {
        session_id: session_id.to_string(),
        kind: TicketKind::Suggestion,
        parent_id: None,
        reason: "suggestion".into(),
        appeal_type: Some(appeal.kind.label().into()),
        domain: appeal.domain.clone(),
        department,
        item_code: None,
        priority: 3,
        summary,
    };
    let ticket = app.store.create_ticket(t, "citizen").await?;
    audit_created(app, &ticket).await;
    app.live.to_agents(AgentEvent::Ticket { ticket: ticket.clone() });
    Ok(ticket)
}

/// After a 不满意 / 非常不满意 rating: a follow-up (整改 / 回访) ticket, urgent. The caller decides
/// whether the rating deserves one ([`deserves_follow_up`]) and charges the handoff limits
/// before storing the rating, so a refusal leaves nothing half done.
pub async fn open_follow_up(
    app: &App,
    session_id: &str,
    parent: Option<&Ticket>,
    level: i64,
    comment: Option<&str>,
) -> Result<Ticket, ApiError> {
    let wants = match comment {
        Some(c) if !c.trim().is_empty() => format!("评价：{}；意见：{}", level_zh(level), c.trim()),
        _ => format!("评价：{}（未填写意见）", level_zh(level)),
    };
    let mut summary = json!({
        "wants": [wants],
        "answered": [],
        "missing": HandoffReason::BadRating.missing(),
        "reason": HandoffReason::BadRating.label(),
    });
    if let Some(p) = parent {
        summary["appeal_type"] = json!(p.appeal_type);
        summary["domain"] = json!(p.domain);
        summary["department"] = json!(p.department);
        summary["answered"] = json!([format!("原工单 #{} 已办结：{}", p.id, p.resolution_note.clone().unwrap_or_default())]);
    }
    let t = NewTicket {
        session_id: session_id.to_string(),
        kind: TicketKind::FollowUp,
        parent_id: parent.map(|p| p.id),
        reason: HandoffReason::BadRating.as_str().into(),
        appeal_type: parent.and_then(|p| p.appeal_type.clone()),
        domain: parent.and_then(|p| p.domain.clone()),
        department: parent.and_then(|p| p.department.clone()),
        item_code: parent.and_then(|p| p.item_code.clone()),
        priority: HandoffReason::BadRating.priority(),
        summary,
    };
    let ticket = app.store.create_ticket(t, "citizen").await?;
    audit_created(app, &ticket).await;
    app.metrics.handoffs.get_or_create(&crate::metrics::ReasonLabels { reason: ticket.reason.clone() }).inc();
    app.live.to_agents(AgentEvent::Ticket { ticket: ticket.clone() });
    publish_queue(app).await?;
    Ok(ticket)
}

/// Whether a bad rating of `session` opens a priority follow-up ticket: when it rates a ticket,
/// when a citizen is signed in, or when the session got at least one answer (from the assistant
/// or an agent). An anonymous session that never got one has nothing to follow up, and a script
/// creating sessions to rate them must not push real handoffs down the queue.
pub async fn deserves_follow_up(app: &App, session: &crate::store::Session, parent: Option<&Ticket>) -> Result<bool, ApiError> {
    if parent.is_some() || session.state.citizen_id.is_some() {
        return Ok(true);
    }
    let messages = app.store.messages(&session.id, 0, 200).await?;
    Ok(messages.iter().any(|m| matches!(m.role, Role::Assistant | Role::Agent)))
}

/// 好差评 levels in words (5 非常满意 … 1 非常不满意).
pub fn level_zh(level: i64) -> &'static str {
    match level {
        5 => "非常满意",
        4 => "满意",
        3 => "基本满意",
        2 => "不满意",
        _ => "非常不满意",
    }
}

async fn summary_of(app: &App, session_id: &str, h: &Handoff) -> Result<Summary, ApiError> {
    let messages = app.store.messages(session_id, 0, 200).await?;
    let items: Vec<Option<String>> =
        messages.iter().map(|m| m.meta.get("item").and_then(|i| i.get("name")).and_then(|n| n.as_str()).map(str::to_string)).collect();
    let turns: Vec<Turn<'_>> = messages
        .iter()
        .zip(&items)
        .map(|(m, item)| Turn { role: m.role.as_str(), text: &m.text, kind: m.kind.as_deref(), item: item.as_deref() })
        .collect();
    Ok(summarise(&turns, h, &app.assistant.deployment))
}

/// Store a message in the session and tell the citizen's page and the agents.
pub async fn post(
    app: &App,
    ticket: Option<&Ticket>,
    session_id: &str,
    role: Role,
    text: &str,
    meta: serde_json::Value,
) -> Result<Message, ApiError> {
    let m = app
        .store
        .add_message(NewMessage { session_id: session_id.into(), role: Some(role), text: text.into(), meta, ..Default::default() })
        .await?;
    app.live.to_citizen(session_id, CitizenEvent::Message { message: m.clone() });
    if let Some(t) = ticket {
        app.live.to_agents(AgentEvent::Message { ticket_id: t.id, message: m.clone() });
    }
    Ok(m)
}

/// The waiting tickets in queue order (handoffs and follow-ups, not suggestions).
async fn waiting(app: &App) -> Result<Vec<Ticket>, ApiError> {
    let f = TicketFilter {
        statuses: vec![TicketStatus::Pending],
        kinds: vec![TicketKind::Handoff, TicketKind::FollowUp],
        assignee_id: None,
        limit: 1000,
    };
    Ok(app.store.tickets(&f).await?)
}

/// Minutes to wait at `position`: the median of recent waits per position ahead, else a default.
async fn eta_minutes(app: &App, position: usize) -> Result<u32, ApiError> {
    let mut waits = app.store.recent_waits(20).await?;
    let per_position = if waits.len() >= 3 {
        waits.sort_by(|a, b| a.total_cmp(b));
        (waits[waits.len() / 2] / 60.0).clamp(0.5, 30.0)
    } else {
        DEFAULT_MINUTES_PER_POSITION
    };
    Ok((per_position * position as f64).ceil().max(1.0) as u32)
}

/// The citizen-facing state of `ticket` (queue position while pending).
pub async fn state_event(app: &App, ticket: &Ticket) -> Result<CitizenEvent, ApiError> {
    let (position, eta) = if ticket.status == TicketStatus::Pending && ticket.kind != TicketKind::Suggestion {
        let queue = waiting(app).await?;
        let pos = queue.iter().position(|t| t.id == ticket.id).map(|i| i + 1);
        let eta = match pos {
            Some(p) => Some(eta_minutes(app, p).await?),
            None => None,
        };
        (pos, eta)
    } else {
        (None, None)
    };
    Ok(CitizenEvent::Ticket {
        ticket_id: ticket.id,
        status: ticket.status.as_str().into(),
        position,
        eta_minutes: eta,
        agent: ticket.assignee_name.clone(),
    })
}

/// Send every waiting citizen their current position.
pub async fn publish_queue(app: &App) -> Result<(), ApiError> {
    let queue = waiting(app).await?;
    app.metrics.tickets_waiting.set(queue.len() as i64);
    for (i, t) in queue.iter().enumerate() {
        let eta = eta_minutes(app, i + 1).await?;
        let ev =
            CitizenEvent::Ticket { ticket_id: t.id, status: "pending".into(), position: Some(i + 1), eta_minutes: Some(eta), agent: None };
        app.live.to_citizen(&t.session_id, ev);
    }
    Ok(())
}

/// Tell the citizen and the agents that `ticket` changed, with a system notice in the chat.
pub async fn announce(app: &App, ticket: &Ticket, notice: Option<&str>) -> Result<(), ApiError> {
    if let Some(text) = notice {
        post(app, Some(ticket), &ticket.session_id, Role::System, text, json!({"ticket_id": ticket.id})).await?;
    }
    app.live.to_citizen(&ticket.session_id, state_event(app, ticket).await?);
    if ticket.status == TicketStatus::Resolved && ticket.kind != TicketKind::Suggestion {
        app.live.to_citizen(&ticket.session_id, CitizenEvent::RatingRequest { ticket_id: ticket.id });
    }
    app.live.to_agents(AgentEvent::Ticket { ticket: ticket.clone() });
    publish_queue(app).await
}

/// Tickets opened by the service are in the audit log too (actor `system`).
async fn audit_created(app: &App, t: &crate::store::Ticket) {
    let e = crate::store::NewAudit {
        actor: "system".into(),
        action: "ticket.create".into(),
        entity: "ticket".into(),
        entity_id: t.id.to_string(),
        before: None,
        after: Some(serde_json::json!(t)),
    };
    if let Err(err) = app.store.record(e).await {
        tracing::error!(ticket = t.id, "audit log: {err}");
    }
}
