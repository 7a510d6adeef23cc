//! Who is asking: citizens hold one bearer token per session; staff (agents, editors, admins)
//! log in with a password and hold a console token for [`SESSION_HOURS`].
//!
//! Passwords are hashed with argon2id (PHC strings); tokens are random and stored only as
//! SHA-256, so a copy of the database reveals neither. A citizen's token presented to a console
//! endpoint is recognised and refused with 403 (not 401), so a mini-program bug is easy to see.
//! Repeated failed log-ins lock the username for a while ([`LoginGuard`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::{StaffRole, User};
use crate::App;

/// How long a console log-in lasts.
pub const SESSION_HOURS: i64 = 12;
/// Failed log-ins before a username is locked.
const MAX_FAILURES: u32 = 5;
/// How long the lock lasts.
const LOCKOUT: Duration = Duration::from_secs(300);

/// SHA-256 of a token, hex: what the store keeps.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new random bearer token (256 bits from two v4 UUIDs' random bits).
pub fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// The bearer token of a request, if any.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim).filter(|t| !t.is_empty())
}

/// argon2id PHC string of `password`. Fails only if the OS has no randomness.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
}

/// A real argon2 hash of a random password: verified against when a username is unknown, so
/// the time a failed log-in takes does not tell whether the user exists.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| hash_password(&new_token()).unwrap_or_default());
    &DUMMY
}

/// Whether `password` matches the PHC string `hash` (a malformed hash never matches).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// Rules for new passwords, in Chinese for the admin.
pub fn check_password_strength(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < 10 {
        return Err(format!("密码至少 10 个字符（当前 {n} 个）"));
    }
    let classes = [password.chars().any(|c| c.is_ascii_lowercase()), password.chars().any(|c| c.is_ascii_uppercase()), password.chars().any(|c| c.is_ascii_digit()), password.chars().any(|c| !c.is_ascii_alphanumeric())];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Err("密码须包含大写字母、小写字母、数字、符号中的至少三类".into());
    }
    Ok(())
}

/// Locks a username after repeated failures. In memory: a restart forgets, which is fine for
/// slowing down guessing.
#[derive(Default)]
pub struct LoginGuard {
    failures: Mutex<HashMap<String, (u32, Option<Instant>)>>,
}

impl LoginGuard {
    /// `Err(seconds)` while `username` is locked.
    pub fn check(&self, username: &str) -> Result<(), u64> {
        let map = self.failures.lock().expect("login guard lock");
        match map.get(username) {
            Some((_, Some(until))) if *until > Instant::now() => Err((*until - Instant::now()).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    pub fn failed(&self, username: &str) {
        let mut map = self.failures.lock().expect("login guard lock");
        let e = map.entry(username.to_string()).or_insert((0, None));
        e.0 += 1;
        if e.0 >= MAX_FAILURES {
            *e = (0, Some(Instant::now() + LOCKOUT));
        }
    }

    pub fn succeeded(&self, username: &str) {
        self.failures.lock().expect("login guard lock").remove(username);
    }
}

/// A logged-in staff member (extractor). No token or an unknown one: 401; a citizen's token: 403.
pub struct Staff(pub User);

impl Staff {
    /// Refuse with 403 unless the user has one of `roles` (admins always pass).
    pub fn require(&self, roles: &[StaffRole]) -> Result<&User, ApiError> {
        if self.0.role == StaffRole::Admin || roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden(format!("当前账号（{}）无权访问此功能", role_zh(self.0.role))))
        }
    }

    /// `user:<username>`, as ticket events and the audit log record the actor.
    pub fn actor(&self) -> String {
        format!("user:{}", self.0.username)
    }
}

pub fn role_zh(r: StaffRole) -> &'static str {
    match r {
        StaffRole::Agent => "坐席",
        StaffRole::Editor => "知识编辑",
        StaffRole::Admin => "管理员",
    }
}

impl FromRequestParts<App> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or(ApiError::Unauthorized)?;
        let hash = hash_token(token);
        if let Some(user) = app.store.staff_session(&hash).await? {
            return Ok(Staff(user));
        }
        if app.store.is_citizen_token(&hash).await? {
            return Err(ApiError::Forbidden("市民会话令牌不能访问工作人员后台".into()));
        }
        Err(ApiError::Unauthorized)
    }
}

/// A staff member's agent-side endpoints: agents and admins.
pub struct Agent(pub Staff);

impl FromRequestParts<App> for Agent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let staff = Staff::from_request_parts(parts, app).await?;
        staff.require(&[StaffRole::Agent])?;
        Ok(Agent(staff))
    }
}

/// A staff member's editor-side endpoints: editors and admins.
pub struct Editor(pub Staff);

impl FromRequestParts<App> for Editor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let staff = Staff::from_request_parts(parts, app).await?;
        staff.require(&[StaffRole::Editor])?;
        Ok(Editor(staff))
    }
}

/// Admin-only endpoints (the audit log).
pub struct Admin(pub Staff);

impl FromRequestParts<App> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, ApiError> {
        let staff = Staff::from_request_parts(parts, app).await?;
        staff.require(&[])?;
        Ok(Admin(staff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("Correct-Horse-9").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("Correct-Horse-9", &h));
        assert!(!verify_password("correct-horse-9", &h));
        assert!(!verify_password("x", "not a hash"));
        assert_ne!(h, hash_password("Correct-Horse-9").unwrap(), "salted");
    }

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert!(check_password_strength("short1A!").unwrap_err().contains("10"));
        assert!(check_password_strength("alllowercaseletters").is_err());
        assert!(check_password_strength("Banshi-2026-ok").is_ok());
    }

    #[test]
    fn repeated_failures_lock_the_username() {
        let g = LoginGuard::default();
        for _ in 0..MAX_FAILURES {
            assert!(g.check("a").is_ok());
            g.failed("a");
        }
        assert!(g.check("a").unwrap_err() > 0);
        assert!(g.check("b").is_ok(), "other users are not affected");
    }

    #[test]
    fn bearer_tokens_are_read_from_the_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(axum::http::header::AUTHORIZATION, "Bearer abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(axum::http::header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
