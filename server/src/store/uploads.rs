//! Uploaded materials and pre-review reports. The file bytes are not in the database: they are
//! stored content-addressed in the data dir before the row is written, so a row never names a
//! file that is not there.

use async_trait::async_trait;
use banshi_assistant::prereview::recognize::MaterialKind;
use banshi_assistant::prereview::report::Recognised;
use banshi_assistant::prereview::{Document, FileKind, Report};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

/// What one session and the whole service may store: checked by the insert itself.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadQuota {
    /// Files per session.
    pub files: usize,
    /// Bytes per session, all files together (`None`: no quota).
    pub session_bytes: Option<u64>,
    /// Bytes everyone uploaded since `day_since` (`None`: no budget).
    pub day_bytes: Option<u64>,
    /// The start of the budget's day, as `created_at` is written (RFC 3339 UTC, milliseconds).
    pub day_since: String,
}

#[derive(Debug, Clone)]
pub struct NewUpload {
    pub session_id: String,
    pub sha256: String,
    pub file_name: String,
    pub kind: FileKind,
    pub size: usize,
    /// The material the citizen said it is.
    pub declared: Option<String>,
    pub document: Document,
    pub recognised: Recognised,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Upload {
    pub id: i64,
    pub session_id: String,
    pub sha256: String,
    pub file_name: String,
    pub kind: FileKind,
    pub size: i64,
    pub declared: Option<String>,
    #[schema(value_type = Object)]
    pub document: Document,
    #[schema(value_type = Object)]
    pub recognised: Recognised,
    pub created_at: String,
}

impl Upload {
    pub fn kind_zh(&self) -> &'static str {
        if self.recognised.kind == MaterialKind::Other {
            "未识别"
        } else {
            self.recognised.kind.zh()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoredReport {
    pub id: i64,
    pub session_id: String,
    pub target_code: String,
    #[schema(value_type = Object)]
    pub report: Report,
    pub created_at: String,
}

#[async_trait]
pub trait Uploads: Send + Sync {
    /// Store the upload's row if, with this file counted, the session's files and bytes and
    /// the service's bytes today stay within `quota`; `None` when they would not. The check and
    /// the insert are one statement (on PostgreSQL behind a table lock that only upload inserts
    /// take), so uploads racing each other on any replica cannot overshoot a quota together.
    async fn add_upload(&self, u: NewUpload, quota: &UploadQuota) -> Result<Option<Upload>, StoreError>;
    /// The session's uploads, oldest first.
    async fn uploads(&self, session_id: &str) -> Result<Vec<Upload>, StoreError>;
    /// How many files the session uploaded (without reading them).
    async fn count_uploads(&self, session_id: &str) -> Result<usize, StoreError>;
    /// Bytes the session uploaded, all files together (for the per-session quota).
    async fn upload_bytes(&self, session_id: &str) -> Result<u64, StoreError>;
    /// Bytes uploaded by everyone since `since` (RFC 3339 UTC with milliseconds, as `created_at`
    /// is written), for the daily budget.
    async fn upload_bytes_since(&self, since: &str) -> Result<u64, StoreError>;
    async fn add_report(&self, session_id: &str, target_code: &str, report: &Report) -> Result<StoredReport, StoreError>;
    /// Reports for the session and target, newest first.
    async fn reports(&self, session_id: &str, target_code: &str) -> Result<Vec<StoredReport>, StoreError>;
    /// Attach a report to a submitted application.
    async fn attach_report(&self, application_id: i64, report: &Report) -> Result<(), StoreError>;
}
