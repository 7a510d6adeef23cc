//! Live events between replicas over PostgreSQL `LISTEN/NOTIFY`.
//!
//! Publishing sends one `NOTIFY banshi_live` per event, in order, from one task; every replica
//! (the sender too) `LISTEN`s on its own connection and hands what arrives to its listeners.
//! A notification carries the event itself when it fits PostgreSQL's payload limit, else only
//! "catch up" for the session: the event's data is in the store already.
//!
//! Failure modes: a `NOTIFY` that fails (PostgreSQL down) is logged and lost, and the listening
//! connection of every replica broke with it; when a replica's listener connects again it tells
//! all its listeners to catch up from the store ([`super::Wire::Everyone`]), so an event lost
//! while it was away is still read. Nothing waits on the bus: publishing never blocks a request.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Wire;

/// The channel every replica listens on.
pub const CHANNEL: &str = "banshi_live";

/// PostgreSQL refuses payloads of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7900;

/// The publishing half; the tasks stop when the last clone is dropped.
#[derive(Clone)]
pub struct Bus {
    out: mpsc::UnboundedSender<Wire>,
    _tasks: Arc<Tasks>,
}

struct Tasks(Vec<JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl Bus {
    /// Connect to `url`, start listening, and hand every notification to `deliver`.
    pub async fn start(url: &str, deliver: impl Fn(Wire) + Send + Sync + 'static) -> Result<Bus, sqlx::Error> {
        let pool = PgPoolOptions::new().max_connections(2).acquire_timeout(Duration::from_secs(5)).connect(url).await?;
        let first = listen(&pool).await?;
        let (out, rx) = mpsc::unbounded_channel();
        let sender = tokio::spawn(send_all(pool.clone(), rx));
        let listener = tokio::spawn(receive_all(pool, first, deliver));
        Ok(Bus { out, _tasks: Arc::new(Tasks(vec![sender, listener])) })
    }

    /// Queue `w` for every replica (this one included).
    pub fn publish(&self, w: Wire) {
        // The sending task only ends with the process.
        let _ = self.out.send(w);
    }
}

async fn listen(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut l = PgListener::connect_with(pool).await?;
    l.listen(CHANNEL).await?;
    Ok(l)
}

/// The notification's text: the event, or a catch-up when the event is too large.
pub fn payload(w: &Wire) -> String {
    let text = serde_json::to_string(w).expect("wire events serialise");
    if text.len() < MAX_PAYLOAD {
        return text;
    }
    let smaller = match w {
        Wire::Citizen { session_id, .. } => Wire::CitizenCatchUp { session_id: session_id.clone() },
        Wire::Agents { .. } => Wire::AgentsCatchUp,
        _ => Wire::Everyone,
    };
    serde_json::to_string(&smaller).expect("wire events serialise")
}

/// Send `w` to every replica listening on the PostgreSQL behind `pool`, from a process that
/// runs no bus of its own (`banshi ingest`).
pub async fn announce(pool: &sqlx::AnyPool, w: &Wire) -> Result<(), sqlx::Error> {
    // pg_notify returns void, which the Any driver cannot read: select a constant instead.
    sqlx::query("SELECT 1 FROM (SELECT pg_notify($1, $2)) AS n").bind(CHANNEL).bind(payload(w)).execute(pool).await.map(drop)
}

async fn send_all(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Wire>) {
    while let Some(w) = rx.recv().await {
        let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload(&w)).execute(&pool).await;
        if let Err(e) = sent {
            tracing::warn!("live event not sent to the other replicas: {e}");
        }
    }
}

async fn receive_all(pool: PgPool, first: PgListener, deliver: impl Fn(Wire)) {
    let mut listener = Some(first);
    let mut backoff = Duration::from_millis(200);
    loop {
        let mut l = match listener.take() {
            Some(l) => l,
            None => match listen(&pool).await {
                Ok(l) => {
                    tracing::info!("live events: listening again; every stream catches up from the store");
                    deliver(Wire::Everyone);
                    backoff = Duration::from_millis(200);
                    l
                }
                Err(e) => {
                    tracing::warn!("live events: cannot listen on PostgreSQL: {e}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            },
        };
        // `Ok(None)` or an error: the connection broke; make a new listener, then catch up.
        while let Ok(Some(n)) = l.try_recv().await {
            match serde_json::from_str::<Wire>(n.payload()) {
                Ok(w) => deliver(w),
                // From a replica of another version, say: whatever it was is in the tables.
                Err(e) => {
                    tracing::warn!("live events: unreadable notification, every stream catches up: {e}");
                    deliver(Wire::Everyone);
                }
            }
        }
        tracing::warn!("live events: the listening connection to PostgreSQL broke");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use banshi_knowledge::testing::Postgres;
    use tokio::sync::broadcast::Receiver;

    use super::*;
    use crate::live::{CitizenEvent, Live, Note};

    async fn next<T: Clone>(rx: &mut Receiver<Note<T>>) -> Note<T> {
        tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("a note within 20 s").expect("an open channel")
    }

    /// Two replicas on one real PostgreSQL: an event published on A reaches B's listener; when
    /// B's listening connection is cut, B's listeners are told to catch up once it listens again.
    #[tokio::test]
    async fn events_cross_replicas_and_a_cut_listener_catches_up() {
        let Some(pg) = Postgres::start("events_cross_replicas_and_a_cut_listener_catches_up") else { return };
        let (a, b) = (Live::over_postgres(&pg.url).await.unwrap(), Live::over_postgres(&pg.url).await.unwrap());
        let mut on_b = b.subscribe("s1");
        a.to_citizen("s1", CitizenEvent::RatingRequest { ticket_id: 7 });
        assert!(matches!(next(&mut on_b).await, Note::Event(CitizenEvent::RatingRequest { ticket_id: 7 })));

        // Cut every listening connection (as a network blip or a PostgreSQL restart would).
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&pg.url).await.unwrap();
        let cut: Vec<(bool,)> =
            sqlx::query_as("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
                .fetch_all(&mut admin)
                .await
                .unwrap();
        assert_eq!(cut.len(), 2, "both replicas were listening");
        assert!(matches!(next(&mut on_b).await, Note::CatchUp), "what was missed meanwhile is read from the tables");
        // And it listens again.
        a.to_citizen("s1", CitizenEvent::RatingRequest { ticket_id: 8 });
        loop {
            match next(&mut on_b).await {
                Note::Event(CitizenEvent::RatingRequest { ticket_id: 8 }) => break,
                Note::CatchUp => continue,
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn large_events_travel_as_a_catch_up() {
        let small = Wire::Citizen { session_id: "s1".into(), event: CitizenEvent::RatingRequest { ticket_id: 1 } };
        assert!(payload(&small).contains("rating_request"));
        let status = CitizenEvent::Ticket { ticket_id: 1, status: "办".repeat(4000), position: None, eta_minutes: None, agent: None };
        let big = Wire::Citizen { session_id: "s1".into(), event: status };
        let p = payload(&big);
        assert!(p.len() < MAX_PAYLOAD);
        assert!(matches!(serde_json::from_str(&p).unwrap(), Wire::CitizenCatchUp { session_id } if session_id == "s1"));
    }
}
