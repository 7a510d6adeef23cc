//! 亲友代办 authorisations: a citizen (the principal) lets a relative (the proxy) apply on their
//! behalf for listed items or bundles until a time; the principal can revoke it. A grant is
//! never changed otherwise, so every application a proxy made can be traced to the grant that
//! allowed it.

use async_trait::async_trait;
use serde::Serialize;
use utoipa::ToSchema;

use super::StoreError;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProxyGrant {
    pub id: i64,
    pub principal_id: i64,
    pub principal_name: String,
    pub proxy_id: i64,
    pub proxy_name: String,
    /// Item and bundle codes the proxy may apply for.
    pub scope: Vec<String>,
    /// RFC 3339 UTC.
    pub expires_at: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

impl ProxyGrant {
    /// Why `proxy_id` may not act on this grant for `code` at `now` (RFC 3339), or `None`.
    /// `code` `None` checks the grant alone (starting to act).
    pub fn refusal(&self, proxy_id: i64, code: Option<(&str, &str)>, now: &str) -> Option<String> {
        if self.proxy_id != proxy_id {
            return Some("这项授权不是给您的，不能据此代办".into());
        }
        if let Some(at) = &self.revoked_at {
            return Some(format!("{}已于 {} 撤销对您的代办授权", self.principal_name, local(at)));
        }
        if self.expires_at.as_str() <= now {
            return Some(format!("{}对您的代办授权已于 {} 到期，请其重新授权", self.principal_name, local(&self.expires_at)));
        }
        match code {
            Some((code, name)) if !self.scope.iter().any(|c| c == code) => {
                Some(format!("{}对您的代办授权不包括“{name}”，请其本人办理或补充授权", self.principal_name))
            }
            _ => None,
        }
    }
}

/// `2026-12-06T08:00:00.000Z` as the local date and minute.
fn local(at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| at.to_string())
}

#[async_trait]
pub trait Proxies: Send + Sync {
    /// Store a new grant; `NotFound` when either citizen does not exist.
    async fn create_grant(&self, principal_id: i64, proxy_id: i64, scope: &[String], expires_at: &str) -> Result<ProxyGrant, StoreError>;
    async fn grant(&self, id: i64) -> Result<Option<ProxyGrant>, StoreError>;
    /// Grants a citizen gave (as principal) or received (as proxy), newest first.
    async fn grants_of(&self, citizen_id: i64) -> Result<Vec<ProxyGrant>, StoreError>;
    /// Revoke a grant of `principal_id`'s now; `NotFound` when they have no such grant,
    /// `Conflict` when it was revoked already.
    async fn revoke_grant(&self, id: i64, principal_id: i64) -> Result<ProxyGrant, StoreError>;
}
