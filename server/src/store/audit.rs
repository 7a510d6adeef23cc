//! The append-only audit log (全程留痕). The database refuses updates and deletes of its rows
//! (triggers), so not even a bug in this service can rewrite history.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

/// One change to record.
#[derive(Debug, Clone, Default)]
pub struct NewAudit {
    /// `user:<name>`, `system`, `cli:<name>` …
    pub actor: String,
    /// `guide.draft`, `guide.publish`, `guide.rollback`, `ticket.claim`, `user.add` …
    pub action: String,
    /// `guide`, `bundle`, `curated_answer`, `user`, `ticket`, `application`.
    pub entity: String,
    pub entity_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    pub entity: String,
    pub entity_id: String,
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub at: String,
}

#[async_trait]
pub trait Audit: Send + Sync {
    async fn record(&self, e: NewAudit) -> Result<AuditEntry, StoreError>;
    /// Entries, newest first, optionally for one entity kind (and id).
    async fn audit_entries(&self, entity: Option<&str>, entity_id: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}
