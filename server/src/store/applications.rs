//! Citizens who sign in (their profiles), issued e-licences, and submitted applications.
//!
//! An application and its first status event are written in one transaction; status changes
//! likewise. A tracking number is `BS` + the date + six random digits, retried on the rare
//! collision, so it is unique and says nothing about volumes.

use async_trait::async_trait;
use banshi_assistant::forms::prefill::{ELicence, Profile};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

/// A signed-in citizen, as the API shows them (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Citizen {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    #[schema(value_type = Object)]
    pub profile: Profile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppStatus {
    /// 已提交
    Submitted,
    /// 已受理 (the promised limit starts)
    Accepted,
    /// 审核中
    InReview,
    /// 已办结
    Done,
    /// 已退回 (with reasons)
    Returned,
}

impl AppStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AppStatus::Submitted => "submitted",
            AppStatus::Accepted => "accepted",
            AppStatus::InReview => "in_review",
            AppStatus::Done => "done",
            AppStatus::Returned => "returned",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "submitted" => AppStatus::Submitted,
            "accepted" => AppStatus::Accepted,
            "in_review" => AppStatus::InReview,
            "done" => AppStatus::Done,
            "returned" => AppStatus::Returned,
            other => return Err(StoreError::Corrupt(format!("unknown application status {other:?}"))),
        })
    }

    /// Whether a department may move an application from `self` to `to`.
    pub fn can_become(self, to: AppStatus) -> bool {
        use AppStatus::*;
        matches!((self, to), (Submitted, Accepted | Returned) | (Accepted, InReview | Done | Returned) | (InReview, Done | Returned))
    }
}

/// An application to store.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub session_id: String,
    pub citizen_id: Option<i64>,
    /// `item` or `bundle`.
    pub target_kind: String,
    pub target_code: String,
    pub target_name: String,
    pub values: serde_json::Value,
    pub value_sources: serde_json::Value,
    pub materials: serde_json::Value,
    pub promised_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Application {
    pub id: i64,
    pub tracking_no: String,
    pub session_id: String,
    pub citizen_id: Option<i64>,
    pub target_kind: String,
    pub target_code: String,
    pub target_name: String,
    #[schema(value_type = Object)]
    pub values: serde_json::Value,
    #[schema(value_type = Object)]
    pub value_sources: serde_json::Value,
    #[schema(value_type = Object)]
    pub materials: serde_json::Value,
    pub promised_days: Option<u32>,
    pub status: AppStatus,
    pub returned_reason: Option<String>,
    pub submitted_at: String,
    pub accepted_at: Option<String>,
    pub updated_at: String,
    /// The pre-review report submitted with it, if the citizen ran one.
    #[schema(value_type = Option<Object>)]
    pub prereview: Option<serde_json::Value>,
}

#[async_trait]
pub trait Applications: Send + Sync {
    /// Add a citizen account; `Conflict` when the username exists.
    async fn add_citizen(&self, username: &str, display_name: &str, password_hash: &str, profile: &Profile) -> Result<Citizen, StoreError>;
    /// The citizen and their password hash, for signing in.
    async fn citizen_credentials(&self, username: &str) -> Result<Option<(Citizen, String)>, StoreError>;
    async fn citizen(&self, id: i64) -> Result<Option<Citizen>, StoreError>;
    async fn update_profile(&self, id: i64, profile: &Profile) -> Result<Citizen, StoreError>;
    /// Replace a citizen's password hash; `NotFound` when the username is unknown.
    async fn set_citizen_password(&self, username: &str, password_hash: &str) -> Result<(), StoreError>;
    /// Store an issued e-licence (replacing one of the same type and number).
    async fn put_licence(&self, l: &ELicence, related: &[String]) -> Result<(), StoreError>;
    /// Licences held by `holder_id` or naming them.
    async fn licences(&self, holder_id: &str) -> Result<Vec<ELicence>, StoreError>;
    /// Store a submitted application (status `submitted`) under a new tracking number.
    async fn submit(&self, a: NewApplication) -> Result<Application, StoreError>;
    async fn application(&self, tracking_no: &str) -> Result<Option<Application>, StoreError>;
    async fn session_applications(&self, session_id: &str) -> Result<Vec<Application>, StoreError>;
    async fn applications(&self, status: Option<AppStatus>, limit: u32) -> Result<Vec<Application>, StoreError>;
    /// Move an application on; `Conflict` when the step is not allowed from its status.
    async fn set_status(&self, tracking_no: &str, to: AppStatus, note: Option<&str>, actor: &str) -> Result<Application, StoreError>;
}
