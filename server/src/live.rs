//! Live updates: what a citizen's open page and the agents' consoles need to hear as it happens
//! (an agent's reply, the queue position, a ticket claimed or resolved).
//!
//! In-process `tokio::sync::broadcast` channels: one per citizen session (made when the first
//! listener subscribes, dropped when the last one leaves) and one for all agents. Events are
//! notifications, never the record: everything is written to the store first, and a listener
//! that reconnects catches up from the store (messages after the last id it saw). A slow
//! listener that lags behind the channel's buffer is told to catch up the same way. Several
//! replicas would carry these events over PostgreSQL LISTEN/NOTIFY instead; nothing else changes.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::store::{Message, Ticket};

/// Events buffered per channel before a listener counts as lagging.
const BUFFER: usize = 64;

/// Sent to a citizen's page (`GET /api/v1/sessions/{id}/events`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CitizenEvent {
    /// A stored message the page has not seen (an agent's reply, a system notice).
    Message { message: Message },
    /// The state of the conversation's ticket: queue position and estimated wait while pending,
    /// the agent's name once assigned.
    Ticket { ticket_id: i64, status: String, position: Option<usize>, eta_minutes: Option<u32>, agent: Option<String> },
    /// The ticket was resolved: ask for a rating.
    RatingRequest { ticket_id: i64 },
}

/// Sent to every agent console (`GET /api/v1/agent/events`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum AgentEvent {
    /// A ticket was created or changed.
    Ticket { ticket: Ticket },
    /// A new message in a ticket's conversation.
    Message { ticket_id: i64, message: Message },
}

/// An event as Server-Sent Events carry it: the serde tag becomes the SSE event name and the
/// rest the data.
pub fn sse_parts<T: Serialize>(e: &T) -> (String, serde_json::Value) {
    let mut data = serde_json::to_value(e).unwrap_or_default();
    let name = data.get("event").and_then(|n| n.as_str()).unwrap_or("message").to_string();
    if let Some(o) = data.as_object_mut() {
        o.remove("event");
    }
    (name, data)
}

pub struct Live {
    sessions: Mutex<HashMap<String, broadcast::Sender<CitizenEvent>>>,
    agents: broadcast::Sender<AgentEvent>,
}

impl Default for Live {
    fn default() -> Self {
        Live { sessions: Mutex::default(), agents: broadcast::channel(BUFFER * 4).0 }
    }
}

impl Live {
    /// Listen to one session's events.
    pub fn subscribe(&self, session_id: &str) -> broadcast::Receiver<CitizenEvent> {
        let mut map = self.sessions.lock().expect("live lock");
        map.entry(session_id.to_string()).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe()
    }

    /// Tell a session's listeners, if any; channels nobody listens to are dropped.
    pub fn to_citizen(&self, session_id: &str, event: CitizenEvent) {
        let mut map = self.sessions.lock().expect("live lock");
        if let Some(tx) = map.get(session_id) {
            if tx.send(event).is_err() {
                map.remove(session_id);
            }
        }
    }

    pub fn subscribe_agents(&self) -> broadcast::Receiver<AgentEvent> {
        self.agents.subscribe()
    }

    pub fn to_agents(&self, event: AgentEvent) {
        // No console open is not an error.
        let _ = self.agents.send(event);
    }

    /// Sessions with a listener now (for metrics).
    pub fn listening_sessions(&self) -> usize {
        self.sessions.lock().expect("live lock").values().filter(|tx| tx.receiver_count() > 0).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn events_reach_listeners_and_idle_channels_are_dropped() {
        let live = Live::default();
        let mut rx = live.subscribe("s1");
        live.to_citizen("s1", CitizenEvent::RatingRequest { ticket_id: 7 });
        assert!(matches!(rx.recv().await.unwrap(), CitizenEvent::RatingRequest { ticket_id: 7 }));
        drop(rx);
        live.to_citizen("s1", CitizenEvent::RatingRequest { ticket_id: 8 });
        assert_eq!(live.listening_sessions(), 0);
        assert!(live.sessions.lock().unwrap().is_empty(), "the channel without listeners was removed");
        live.to_citizen("nobody", CitizenEvent::RatingRequest { ticket_id: 9 });
    }
}
