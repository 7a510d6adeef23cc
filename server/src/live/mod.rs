//! Live updates: what a citizen's open page and the agents' consoles need to hear as it happens
//! (an agent's reply, the queue position, a ticket claimed or resolved).
//!
//! Each process fans events out to its own listeners over `tokio::sync::broadcast` channels:
//! one per citizen session (made when the first listener subscribes, dropped when the last one
//! leaves) and one for all agents. Events are notifications, never the record: everything is
//! written to the store first, and a listener that reconnects (to any replica) catches up from
//! the store (messages after the last id it saw). A listener told [`Note::CatchUp`] (it lagged
//! behind its channel, or notifications may have been lost) reads what it missed the same way.
//!
//! One process alone publishes straight to its channels. Replicas sharing PostgreSQL publish
//! through it ([`bus`]: `NOTIFY`, and every replica `LISTEN`s), so a reply posted on replica A
//! reaches the streams held by replica B.

pub mod bus;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::store::{Message, Ticket};

/// Events buffered per channel before a listener counts as lagging.
const BUFFER: usize = 64;

/// Sent to a citizen's page (`GET /api/v1/sessions/{id}/events`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
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

/// What a listener's channel carries: an event, or "read what you missed from the store".
#[derive(Debug, Clone)]
pub enum Note<T> {
    Event(T),
    CatchUp,
}

/// What is published: to one session's listeners or to every agent console, on every replica.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Wire {
    Citizen {
        session_id: String,
        event: CitizenEvent,
    },
    Agents {
        event: AgentEvent,
    },
    /// The session's listeners read what they missed from the store.
    CitizenCatchUp {
        session_id: String,
    },
    /// Every listener of this process catches up (its notifications may have been lost).
    Everyone,
    /// Every agent console of this process reloads its lists.
    AgentsCatchUp,
    /// A replica (or `banshi ingest`) changed the knowledge base; the other replicas re-read
    /// what changed ([`follow_knowledge`]).
    Knowledge {
        origin: u64,
        change: Knowledge,
    },
}

/// What changed in the knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Knowledge {
    /// One guide or bundle was published or rolled back.
    Item(String),
    /// The curated answers.
    Curated,
    /// Anything: re-read everything (after an import, or when changes may have been missed).
    All,
}

/// This process's listeners, and how events reach the other replicas' ([`bus::Bus`]).
#[derive(Clone)]
pub struct Live {
    inner: Arc<Local>,
    bus: Option<bus::Bus>,
}

struct Local {
    sessions: Mutex<HashMap<String, broadcast::Sender<Note<CitizenEvent>>>>,
    agents: broadcast::Sender<Note<AgentEvent>>,
    /// Knowledge changes other replicas made.
    knowledge: broadcast::Sender<Knowledge>,
    /// This process, so it can tell its own knowledge changes from others'.
    origin: u64,
}

impl Default for Live {
    /// One process alone: events go straight to its own listeners.
    fn default() -> Self {
        let local = Local {
            sessions: Mutex::default(),
            agents: broadcast::channel(BUFFER * 4).0,
            knowledge: broadcast::channel(BUFFER).0,
            origin: rand::random(),
        };
        Live { inner: Arc::new(local), bus: None }
    }
}

impl Live {
    /// Replicas sharing the PostgreSQL at `url`: events go out through it and come back, from
    /// every replica, to this process's listeners. Fails when PostgreSQL cannot be reached.
    pub async fn over_postgres(url: &str) -> Result<Live, sqlx::Error> {
        let mut live = Live::default();
        let local = live.inner.clone();
        live.bus = Some(bus::Bus::start(url, move |w| local.deliver(w)).await?);
        Ok(live)
    }

    /// Listen to one session's events.
    pub fn subscribe(&self, session_id: &str) -> broadcast::Receiver<Note<CitizenEvent>> {
        let mut map = self.inner.sessions.lock().expect("live lock");
        map.entry(session_id.to_string()).or_insert_with(|| broadcast::channel(BUFFER).0).subscribe()
    }

    /// Tell a session's listeners, on whichever replica they are.
    pub fn to_citizen(&self, session_id: &str, event: CitizenEvent) {
        self.publish(Wire::Citizen { session_id: session_id.to_string(), event });
    }

    pub fn subscribe_agents(&self) -> broadcast::Receiver<Note<AgentEvent>> {
        self.inner.agents.subscribe()
    }

    /// Tell every agent console, on every replica.
    pub fn to_agents(&self, event: AgentEvent) {
        self.publish(Wire::Agents { event });
    }

    /// Tell the other replicas what changed in the knowledge base here. One process alone has
    /// nobody to tell.
    pub fn knowledge_changed(&self, change: Knowledge) {
        if let Some(bus) = &self.bus {
            bus.publish(Wire::Knowledge { origin: self.inner.origin, change });
        }
    }

    /// Knowledge changes made by other replicas (and [`Knowledge::All`] when some may have been
    /// missed).
    pub fn subscribe_knowledge(&self) -> broadcast::Receiver<Knowledge> {
        self.inner.knowledge.subscribe()
    }

    fn publish(&self, w: Wire) {
        match &self.bus {
            Some(bus) => bus.publish(w),
            None => self.inner.deliver(w),
        }
    }

    /// Sessions with a listener now (for metrics).
    pub fn listening_sessions(&self) -> usize {
        self.inner.sessions.lock().expect("live lock").values().filter(|tx| tx.receiver_count() > 0).count()
    }
}

/// Keep this replica's knowledge base in step with the others': re-read every document
/// another replica publishes or rolls back, the curated answers when they change, and
/// everything after an import or when changes may have been missed (the listener was cut
/// off, changes came faster than followed, or re-reading failed: then it is retried). Runs
/// until the process ends.
pub fn follow_knowledge(live: &Live, kb: Arc<banshi_knowledge::KnowledgeBase>) {
    let mut rx = live.subscribe_knowledge();
    tokio::spawn(async move {
        let mut pending: Option<Knowledge> = None;
        loop {
            let change = match pending.take() {
                Some(c) => c,
                None => match rx.recv().await {
                    Ok(c) => c,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "knowledge changes came faster than this replica followed: re-reading all");
                        Knowledge::All
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            let done = match &change {
                Knowledge::Item(code) => kb.refresh(code).await,
                Knowledge::Curated => kb.curated.refresh().await,
                Knowledge::All => match kb.curated.refresh().await {
                    Ok(()) => kb.refresh_all().await,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = done {
                tracing::error!(?change, "following a knowledge change (retrying everything in 10 s): {e}");
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                pending = Some(Knowledge::All);
            }
        }
    });
}

impl Local {
    /// Hand `w` to this process's listeners; channels nobody listens to are dropped.
    fn deliver(&self, w: Wire) {
        let mut map = self.sessions.lock().expect("live lock");
        let to_session = |map: &mut HashMap<String, broadcast::Sender<Note<CitizenEvent>>>, id: &str, note| {
            if let Some(tx) = map.get(id) {
                if tx.send(note).is_err() {
                    map.remove(id);
                }
            }
        };
        match w {
            Wire::Citizen { session_id, event } => to_session(&mut map, &session_id, Note::Event(event)),
            Wire::CitizenCatchUp { session_id } => to_session(&mut map, &session_id, Note::CatchUp),
            Wire::Agents { event } => {
                // No console open is not an error.
                let _ = self.agents.send(Note::Event(event));
            }
            Wire::Everyone => {
                map.retain(|_, tx| tx.send(Note::CatchUp).is_ok());
                let _ = self.agents.send(Note::CatchUp);
                let _ = self.knowledge.send(Knowledge::All);
            }
            Wire::AgentsCatchUp => {
                let _ = self.agents.send(Note::CatchUp);
            }
            Wire::Knowledge { origin, change } => {
                if origin != self.origin {
                    let _ = self.knowledge.send(change);
                }
            }
        }
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
        assert!(matches!(rx.recv().await.unwrap(), Note::Event(CitizenEvent::RatingRequest { ticket_id: 7 })));
        drop(rx);
        live.to_citizen("s1", CitizenEvent::RatingRequest { ticket_id: 8 });
        assert_eq!(live.listening_sessions(), 0);
        assert!(live.inner.sessions.lock().unwrap().is_empty(), "the channel without listeners was removed");
        live.to_citizen("nobody", CitizenEvent::RatingRequest { ticket_id: 9 });
    }
}
