//! Tickets (work for people), their event log, 好差评 ratings and knowledge drafts.
//!
//! A ticket moves pending → assigned → resolved and may be reopened (→ pending). Every change
//! writes the ticket row and a [`TicketEvent`] in one transaction. Claiming is a conditional
//! update (`WHERE status = 'pending'`), so two agents claiming at once cannot both win: the
//! second gets [`StoreError::Conflict`].

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// A conversation handed to the human queue.
    Handoff,
    /// 整改 / 回访 after a 不满意 or 非常不满意 rating.
    FollowUp,
    /// A citizen's suggestion (建言), recorded and routed to a department.
    Suggestion,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Pending,
    Assigned,
    Resolved,
}

macro_rules! str_enum {
    ($t:ty { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                match s { $($s => Ok(Self::$v),)+ other => Err(StoreError::Corrupt(format!("unknown {} {other:?}", stringify!($t)))) }
            }
        }
    };
}
str_enum!(TicketKind { Handoff => "handoff", FollowUp => "follow_up", Suggestion => "suggestion" });
str_enum!(TicketStatus { Pending => "pending", Assigned => "assigned", Resolved => "resolved" });

/// A ticket to create.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub session_id: String,
    pub kind: TicketKind,
    pub parent_id: Option<i64>,
    /// Why: `asked_human`, `complaint`, `low_confidence`, `angry`, `bad_rating`, `suggestion` ….
    pub reason: String,
    pub appeal_type: Option<String>,
    pub domain: Option<String>,
    pub department: Option<String>,
    pub item_code: Option<String>,
    /// 1 = urgent (complaints, anger, bad ratings), 2 = normal, 3 = low (suggestions).
    pub priority: i64,
    pub summary: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Ticket {
    pub id: i64,
    pub session_id: String,
    pub kind: TicketKind,
    pub parent_id: Option<i64>,
    pub status: TicketStatus,
    pub reason: String,
    pub appeal_type: Option<String>,
    pub domain: Option<String>,
    pub department: Option<String>,
    pub item_code: Option<String>,
    pub priority: i64,
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    pub assignee_id: Option<i64>,
    pub assignee_name: Option<String>,
    pub resolution_note: Option<String>,
    pub reopened: i64,
    pub created_at: String,
    pub assigned_at: Option<String>,
    pub resolved_at: Option<String>,
    pub updated_at: String,
}

impl Ticket {
    /// Whether the citizen's conversation is with people now (their messages go to the agent).
    pub fn holds_conversation(&self) -> bool {
        self.kind != TicketKind::Suggestion && self.status != TicketStatus::Resolved
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TicketEvent {
    pub id: i64,
    pub ticket_id: i64,
    /// `citizen`, `system` or `user:<username>`.
    pub actor: String,
    /// `created`, `claimed`, `released`, `resolved`, `reopened`, `rated` ….
    pub action: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub created_at: String,
}

/// Which tickets to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub statuses: Vec<TicketStatus>,
    pub kinds: Vec<TicketKind>,
    pub assignee_id: Option<i64>,
    pub limit: u32,
}

/// One 好差评 rating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Rating {
    pub id: i64,
    pub session_id: String,
    pub ticket_id: Option<i64>,
    /// 5 非常满意, 4 满意, 3 基本满意, 2 不满意, 1 非常不满意.
    pub level: i64,
    pub comment: Option<String>,
    pub created_at: String,
}

/// Ratings per level, 5 (非常满意) first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RatingStats {
    pub total: i64,
    /// Counts for levels 5, 4, 3, 2, 1.
    pub by_level: [i64; 5],
}

#[async_trait]
pub trait Tickets: Send + Sync {
    /// Create a ticket (and its `created` event) as `actor`.
    async fn create_ticket(&self, t: NewTicket, actor: &str) -> Result<Ticket, StoreError>;
    async fn ticket(&self, id: i64) -> Result<Option<Ticket>, StoreError>;
    /// The session's newest ticket that holds the conversation (pending or assigned handoff /
    /// follow-up), if any.
    async fn open_ticket(&self, session_id: &str) -> Result<Option<Ticket>, StoreError>;
    /// Tickets matching `f`, most urgent and oldest first.
    async fn tickets(&self, f: &TicketFilter) -> Result<Vec<Ticket>, StoreError>;
    /// pending → assigned to `user_id`; `Conflict` when it is not pending any more.
    async fn claim(&self, id: i64, user_id: i64, actor: &str) -> Result<Ticket, StoreError>;
    /// assigned → pending (back to the queue); only its assignee (or `force`) may.
    async fn release(&self, id: i64, user_id: i64, force: bool, actor: &str) -> Result<Ticket, StoreError>;
    /// assigned (or pending, for suggestions) → resolved with a note; only its assignee (or `force`).
    async fn resolve(&self, id: i64, user_id: i64, force: bool, note: &str, actor: &str) -> Result<Ticket, StoreError>;
    /// resolved → pending again.
    async fn reopen(&self, id: i64, note: &str, actor: &str) -> Result<Ticket, StoreError>;
    async fn ticket_events(&self, id: i64) -> Result<Vec<TicketEvent>, StoreError>;
    /// Seconds from creation to claim of the `n` most recently claimed tickets.
    async fn recent_waits(&self, n: u32) -> Result<Vec<f64>, StoreError>;
    /// Store a rating; `Conflict` when this session (or ticket) was rated already.
    async fn add_rating(&self, session_id: &str, ticket_id: Option<i64>, level: i64, comment: Option<&str>) -> Result<Rating, StoreError>;
    async fn ratings(&self, session_id: &str) -> Result<Vec<Rating>, StoreError>;
    async fn rating_stats(&self) -> Result<RatingStats, StoreError>;
    /// Record an agent's answer as a draft FAQ for the editors; returns its id.
    async fn add_knowledge_draft(
        &self,
        ticket_id: Option<i64>,
        item_code: Option<&str>,
        question: &str,
        answer: &str,
        author_id: i64,
    ) -> Result<i64, StoreError>;
    /// Drafts waiting for an editor, oldest first.
    async fn knowledge_drafts(&self) -> Result<Vec<KnowledgeDraft>, StoreError>;
    /// Mark a waiting draft `accepted` or `rejected`; `Conflict` when it was already decided.
    async fn decide_knowledge_draft(&self, id: i64, accepted: bool) -> Result<KnowledgeDraft, StoreError>;
}

/// An answer an agent sent to the editors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KnowledgeDraft {
    pub id: i64,
    pub ticket_id: Option<i64>,
    pub item_code: Option<String>,
    pub question: String,
    pub answer: String,
    pub author: String,
    pub status: String,
    pub created_at: String,
}
