//! What the service failed at, read back from real traffic for the gap dashboard: questions
//! answered with low confidence, clarified, declined or handed off, and conversations rated
//! 不满意 / 非常不满意; and the record of gaps closed.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

/// One failure: the citizen's question and how the service answered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Failure {
    pub session_id: String,
    pub question: String,
    /// `clarified`, `declined`, `handoff`, `out_of_scope`, `low_confidence` or `bad_rating`.
    pub kind: String,
    /// The handoff reason or the rating comment, when there is one.
    pub detail: Option<String>,
    pub item_code: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GapClosure {
    pub id: i64,
    pub gap_key: String,
    pub note: String,
    pub actor: String,
    pub closed_at: String,
}

#[async_trait]
pub trait Gaps: Send + Sync {
    /// Failures since `since` (RFC 3339), oldest first. `low_confidence` below `threshold`.
    async fn failures(&self, since: &str, threshold: f64) -> Result<Vec<Failure>, StoreError>;
    async fn close_gap(&self, key: &str, note: &str, actor: &str) -> Result<GapClosure, StoreError>;
    async fn gap_closures(&self) -> Result<Vec<GapClosure>, StoreError>;
}
