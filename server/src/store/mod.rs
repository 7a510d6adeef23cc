//! Persistence behind the [`Store`] trait: citizens' sessions and messages ([`Sessions`]),
//! tickets, ratings and knowledge drafts ([`Tickets`], see [`tickets`]), staff and their
//! log-ins ([`Users`], see [`users`]), citizens' profiles, e-licences and applications
//! ([`Applications`], see [`applications`]), 免申即享 offers and answers ([`Offers`], see [`offers`]), 亲友代办
//! grants ([`Proxies`], see [`proxies`]).
//!
//! Handlers only see the traits; [`SqlStore`] implements them once for SQLite (the default)
//! and PostgreSQL (replicas). Every write is committed before the call returns: a message or
//! state change the API acknowledged survives a crash (SQLite runs WAL with
//! `synchronous=FULL`). Multi-row changes (a ticket and its event) are one transaction.

pub mod applications;
pub mod audit;
pub mod gaps;
pub mod offers;
pub mod proxies;
mod sql;
pub mod tickets;
pub mod uploads;
pub mod users;

use async_trait::async_trait;
use banshi_assistant::DialogueState;
use serde::{Deserialize, Serialize};

pub use applications::{AppEvent, AppStatus, Application, Applications, Citizen, NewApplication};
pub use audit::{Audit, AuditEntry, NewAudit};
pub use gaps::{Failure, GapClosure, Gaps};
pub use offers::{OfferKind, OfferRecord, OfferStatus, OfferTally, Offers};
pub use proxies::{Proxies, ProxyGrant};
pub use sql::SqlStore;
pub(crate) use sql::{now, stamp};
pub use tickets::{KnowledgeDraft, NewTicket, Rating, RatingStats, Ticket, TicketEvent, TicketFilter, TicketKind, TicketStatus, Tickets};
pub use uploads::{NewUpload, StoredReport, Upload, UploadQuota, Uploads};
pub use users::{Role as StaffRole, User, Users};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The change conflicts with the current state (a ticket someone else claimed, a second
    /// rating of the same thing, a username that exists).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotFound(String),
}

/// Everything the service persists.
pub trait Store: Sessions + Tickets + Users + Applications + Uploads + Audit + Gaps + Offers + Proxies {}

impl<T: Sessions + Tickets + Users + Applications + Uploads + Audit + Gaps + Offers + Proxies> Store for T {}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    /// SHA-256 of the bearer token (the token itself is never stored).
    pub token_hash: String,
    pub channel: String,
    pub state: DialogueState,
    /// Bumped by every [`Sessions::save_state`]: the version `state` was read at.
    pub version: i64,
    /// When a signed-in citizen last used the session ([`Sessions::touch_session`]).
    pub seen_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
    Agent,
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Agent => "agent",
            Role::System => "system",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "agent" => Role::Agent,
            "system" => Role::System,
            other => return Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        })
    }
}

/// A message to append.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    pub session_id: String,
    pub role: Option<Role>,
    pub text: String,
    /// Outcome kind of an assistant message (generated, extractive, clarified …).
    pub kind: Option<String>,
    /// The answer was cut off (client left, model failed) before it finished.
    pub interrupted: bool,
    /// Client-chosen id that makes re-sending the same message idempotent.
    pub client_id: Option<String>,
    pub reply_to: Option<i64>,
    /// Sources card, citations, verification … as JSON.
    pub meta: serde_json::Value,
}

/// A stored message, as the history API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Message {
    pub id: i64,
    pub role: Role,
    pub text: String,
    pub kind: Option<String>,
    /// `complete` or `interrupted`.
    pub status: String,
    pub client_id: Option<String>,
    pub reply_to: Option<i64>,
    /// For an assistant answer, a `StoredAnswer` (render its `shown` events as a live
    /// stream's); for other messages, what they carry (`upload`, `prereview`, `agent` …).
    #[schema(value_type = Object)]
    pub meta: serde_json::Value,
    pub created_at: String,
}

#[async_trait]
pub trait Sessions: Send + Sync {
    /// Create a session owned by the holder of the token whose hash is `token_hash`.
    async fn create_session(&self, id: &str, token_hash: &str, channel: &str) -> Result<Session, StoreError>;
    async fn session(&self, id: &str) -> Result<Option<Session>, StoreError>;
    /// Whether some citizen session has this token hash (tells a citizen's token from a forged one).
    async fn is_citizen_token(&self, token_hash: &str) -> Result<bool, StoreError>;
    /// Save `state` over version `read_version` (the [`Session::version`] it was read at) and
    /// return the new version. `Conflict` when the session was saved since (another turn, tab or
    /// replica got there first): a stale write is refused, never silently applied.
    async fn save_state(&self, session_id: &str, state: &DialogueState, read_version: i64) -> Result<i64, StoreError>;
    /// Record that the session was used at `at` (RFC 3339). Not part of the dialogue state: it
    /// neither needs nor bumps [`Session::version`].
    async fn touch_session(&self, session_id: &str, at: &str) -> Result<(), StoreError>;
    /// Append a message; fails on a duplicate `client_id` within the session.
    async fn add_message(&self, m: NewMessage) -> Result<Message, StoreError>;
    async fn message_by_client_id(&self, session_id: &str, client_id: &str) -> Result<Option<Message>, StoreError>;
    /// The newest reply to message `id`, if any.
    async fn reply_to(&self, session_id: &str, id: i64) -> Result<Option<Message>, StoreError>;
    /// Messages with id greater than `after`, oldest first, at most `limit`.
    async fn messages(&self, session_id: &str, after: i64, limit: u32) -> Result<Vec<Message>, StoreError>;
    /// Cheap round trip for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}
