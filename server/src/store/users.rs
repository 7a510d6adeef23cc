//! Staff accounts (agents, editors, admins) and their console log-ins.
//!
//! Passwords are stored only as argon2 PHC strings and tokens only as SHA-256 hashes; neither
//! type here serialises a secret.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 12345 agent: the queue and tickets.
    Agent,
    /// Knowledge editor: guides, bundles, curated answers.
    Editor,
    /// Everything, plus users and the audit log.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "agent" => Ok(Role::Agent),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::Corrupt(format!("unknown role {other:?}"))),
        }
    }
}

/// A staff member, as the API shows them (no password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub active: bool,
}

#[async_trait]
pub trait Users: Send + Sync {
    /// Add a user; `Conflict` when the username exists.
    async fn add_user(&self, username: &str, display_name: &str, role: Role, password_hash: &str) -> Result<User, StoreError>;
    /// The user and their password hash, for logging in.
    async fn user_credentials(&self, username: &str) -> Result<Option<(User, String)>, StoreError>;
    async fn users(&self) -> Result<Vec<User>, StoreError>;
    async fn create_staff_session(&self, token_hash: &str, user_id: i64, expires_at: &str) -> Result<(), StoreError>;
    /// The active user whose unexpired log-in has this token hash.
    async fn staff_session(&self, token_hash: &str) -> Result<Option<User>, StoreError>;
    async fn delete_staff_session(&self, token_hash: &str) -> Result<(), StoreError>;
}
