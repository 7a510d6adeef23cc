//! Citizens who sign in (their profiles), issued e-licences, and submitted applications.
//!
//! An application and its first status event are written in one transaction; status changes
//! likewise. A tracking number is `BS` + the date + six random digits, retried on the rare
//! collision, so it is unique and says nothing about volumes.
//!
//! The status follows one path, enforced by the store ([`AppStatus::next`]):
//!
//! ```text
//! submitted ─受理→ accepted ─转入审核→ in_review ─办结→ done
//!     └──────────┴───────────────┴──退回（写明原因）→ returned
//! ```
//!
//! `done` and `returned` are final: a returned application is corrected and submitted again as a
//! new application, under a new tracking number (the progress answer tells the citizen so).

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

    pub const ALL: [AppStatus; 5] = [AppStatus::Submitted, AppStatus::Accepted, AppStatus::InReview, AppStatus::Done, AppStatus::Returned];

    /// The statuses a department may move an application to from `self`, in the order the
    /// console offers them; empty for the final `done` and `returned`.
    pub fn next(self) -> &'static [AppStatus] {
        use AppStatus::*;
        match self {
            Submitted => &[Accepted, Returned],
            Accepted => &[InReview, Returned],
            InReview => &[Done, Returned],
            Done | Returned => &[],
        }
    }

    /// Whether a department may move an application from `self` to `to`.
    pub fn can_become(self, to: AppStatus) -> bool {
        self.next().contains(&to)
    }

    /// The statuses `self` may be reached from (empty for `submitted`: only submitting makes it).
    pub fn predecessors(self) -> Vec<AppStatus> {
        AppStatus::ALL.into_iter().filter(|s| s.can_become(self)).collect()
    }

    /// The status as the citizen and the console read it.
    pub fn label_zh(self) -> &'static str {
        match self {
            AppStatus::Submitted => "已提交",
            AppStatus::Accepted => "已受理",
            AppStatus::InReview => "审核中",
            AppStatus::Done => "已办结",
            AppStatus::Returned => "已退回",
        }
    }

    /// The step that leads to the status (the console's button).
    pub fn step_zh(self) -> &'static str {
        match self {
            AppStatus::Submitted => "提交",
            AppStatus::Accepted => "受理",
            AppStatus::InReview => "转入审核",
            AppStatus::Done => "办结",
            AppStatus::Returned => "退回",
        }
    }

    /// Why an application in status `self` cannot move to `to`, naming the current status and
    /// the steps that are allowed from it (the 409 message).
    pub fn refusal(self, to: AppStatus) -> String {
        let now = if self == to {
            format!("申请已是“{}”状态（可能已由其他工作人员处理）", self.label_zh())
        } else {
            format!("申请当前为“{}”，不能{}（改为“{}”）", self.label_zh(), to.step_zh(), to.label_zh())
        };
        let next = self.next();
        if next.is_empty() {
            let why = if self == AppStatus::Returned {
                "退回后由市民补正并重新提交（新的受理编号）"
            } else {
                "已是最终状态"
            };
            return format!("{now}。{why}，不能再变更。");
        }
        let steps: Vec<String> = next.iter().map(|s| format!("{}（{}）", s.step_zh(), s.as_str())).collect();
        format!("{now}。当前可以：{}。", steps.join("、"))
    }
}

/// One recorded status change of an application, oldest first in [`Applications::application_history`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AppEvent {
    pub status: AppStatus,
    /// Who: `citizen`, `免申即享`, `代办：X 为 Y` (submitted) or `user:<name>` (the member of staff).
    pub actor: String,
    /// The reasons given when returning, or a note with the step.
    pub note: Option<String>,
    pub created_at: String,
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
    /// The relative who applied on the citizen's behalf (亲友代办), when one did.
    pub proxy_id: Option<i64>,
    /// Who submitted, as the first status event records it: `citizen`, `免申即享`,
    /// `代办：刘建国 为 王桂芳` ….
    pub actor: String,
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
    /// The statuses a department may move it to now ([`AppStatus::next`]); empty once final.
    #[serde(default)]
    pub next: Vec<AppStatus>,
    /// The relative who applied on the citizen's behalf (亲友代办).
    #[serde(default)]
    pub proxy_id: Option<i64>,
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
    /// Applications a citizen submitted while signed in, newest first (at most 50).
    async fn citizen_applications(&self, citizen_id: i64) -> Result<Vec<Application>, StoreError>;
    async fn applications(&self, status: Option<AppStatus>, limit: u32) -> Result<Vec<Application>, StoreError>;
    /// Move an application to `to` and record the step (its event and an audit entry) in the
    /// same transaction. One conditional update decides, so of two staff racing on one
    /// application exactly one step succeeds. `note` is stored as the returned reason when `to`
    /// is `returned` (the caller requires one). `NotFound` for an unknown tracking number;
    /// `Conflict` with [`AppStatus::refusal`] when `to` may not follow its current status.
    async fn set_status(&self, tracking_no: &str, to: AppStatus, note: Option<&str>, actor: &str) -> Result<Application, StoreError>;
    /// The recorded status changes of an application, oldest first; `NotFound` for an unknown
    /// tracking number.
    async fn application_history(&self, tracking_no: &str) -> Result<Vec<AppEvent>, StoreError>;
}
