//! Who is asking: citizens hold one bearer token per session; staff (agents, editors, admins)
//! log in with a password and hold a console token for [`SESSION_HOURS`].
//!
//! Passwords are hashed with argon2id (PHC strings); tokens are random and stored only as
//! SHA-256, so a copy of the database reveals neither. A citizen's token presented to a console
//! endpoint is recognised and refused with 403 (not 401), so a mini-program bug is easy to see.
//! Repeated failed log-ins slow down that username from that address, with exponential backoff,
//! and a limit on failures per address stops one address from trying many accounts
//! ([`LoginGuard`]); nobody can lock someone else out.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::limits::{address_key, retry_secs, BoundedMap, Expires, LimitConfig, MemoryLimiter, Rate};
use crate::store::{StaffRole, User};
use crate::App;

/// How long a console log-in lasts.
pub const SESSION_HOURS: i64 = 12;

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
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing a password: {e}")))
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
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Err("密码须包含大写字母、小写字母、数字、符号中的至少三类".into());
    }
    Ok(())
}

/// Slows down password guessing without letting anyone lock someone else out.
///
/// Failures are counted per (username, client address): after `login_free_failures` the pair
/// must wait `login_backoff`, doubled with each further failure up to `login_backoff_max`; a pair
/// quiet for `login_backoff_max` starts afresh. Failures are also counted per address over all
/// usernames (`login_failures_per_address`), so one address cannot try many accounts. A username
/// locked from one address still logs in from another. Staff and citizens share the guard with
/// distinct keys (`citizen:` prefix). In memory and bounded ([`BoundedMap`], `max_keys` pairs and
/// addresses): a restart forgets, which is fine for slowing down guessing; with several replicas
/// each counts its own.
pub struct LoginGuard {
    pairs: BoundedMap<(String, String), Backoff>,
    addresses: MemoryLimiter,
    free_failures: u32,
    backoff: Duration,
    backoff_max: Duration,
    per_address: Rate,
}

struct Backoff {
    failures: u32,
    locked_until: Instant,
    last: Instant,
    forget_after: Duration,
}

impl Expires for Backoff {
    fn expires_at(&self) -> Instant {
        self.locked_until.max(self.last + self.forget_after)
    }
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(&LimitConfig::default())
    }
}

impl LoginGuard {
    pub fn new(c: &LimitConfig) -> Self {
        LoginGuard {
            pairs: BoundedMap::new(c.max_keys),
            addresses: MemoryLimiter::new(c.max_keys),
            free_failures: c.login_free_failures.max(1),
            backoff: c.login_backoff,
            backoff_max: c.login_backoff_max.max(c.login_backoff),
            per_address: c.login_failures_per_address,
        }
    }

    /// `Err(seconds)` while `username` may not be tried from `ip`: the pair is backing off, or
    /// the address has used up its failures.
    pub fn check(&self, username: &str, ip: IpAddr) -> Result<(), u64> {
        self.check_at(username, ip, Instant::now())
    }

    /// Count a failure; `Some(seconds)` when it starts a wait for the pair.
    pub fn failed(&self, username: &str, ip: IpAddr) -> Option<u64> {
        self.failed_at(username, ip, Instant::now())
    }

    /// The right password: the pair starts afresh (the address's failures stay counted).
    pub fn succeeded(&self, username: &str, ip: IpAddr) {
        let key = (username.to_string(), address_key(ip));
        self.pairs.with(Instant::now(), |m| m.remove(&key));
    }

    fn check_at(&self, username: &str, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let key = (username.to_string(), address_key(ip));
        let wait = self.pairs.with(now, |m| m.get(&key).filter(|b| b.locked_until > now).map(|b| b.locked_until - now));
        if let Some(wait) = wait {
            return Err(retry_secs(wait));
        }
        self.addresses.peek_at(&key.1, self.per_address, 1, now).map_err(retry_secs)
    }

    fn failed_at(&self, username: &str, ip: IpAddr, now: Instant) -> Option<u64> {
        let key = (username.to_string(), address_key(ip));
        // Over the address limit the next check refuses; the charge itself may fail then.
        let _ = self.addresses.charge_at(&key.1, self.per_address, 1, now);
        self.pairs.with(now, |m| {
            let fresh = Backoff { failures: 0, locked_until: now, last: now, forget_after: self.backoff_max };
            let b = m.entry(key).or_insert(fresh);
            if b.expires_at() <= now {
                b.failures = 0;
            }
            b.failures += 1;
            b.last = now;
            if b.failures < self.free_failures {
                return None;
            }
            let doublings = (b.failures - self.free_failures).min(20);
            let wait = self.backoff.saturating_mul(1 << doublings).min(self.backoff_max);
            b.locked_until = now + wait;
            Some(retry_secs(wait))
        })
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

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn repeated_failures_lock_the_username_from_that_address_only() {
        let g = LoginGuard::default();
        let (attacker, victim) = (ip("198.51.100.7"), ip("192.0.2.10"));
        for i in 0..5 {
            assert!(g.check("a", attacker).is_ok());
            assert_eq!(g.failed("a", attacker).is_some(), i == 4, "the fifth failure starts a wait");
        }
        assert_eq!(g.check("a", attacker).unwrap_err(), 30);
        assert!(g.check("a", victim).is_ok(), "the same username from another address is not locked");
        assert!(g.check("b", attacker).is_ok(), "other usernames are not locked by one");
        g.succeeded("a", victim);
        assert!(g.check("a", attacker).is_err(), "someone else's success does not unlock the attacker");
    }

    #[test]
    fn waits_double_up_to_the_maximum_and_are_forgotten() {
        let g = LoginGuard::default();
        let (a, t0) = (ip("198.51.100.7"), Instant::now());
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..10 {
            if let Some(w) = g.failed_at("u", a, now) {
                waits.push(w);
                assert_eq!(g.check_at("u", a, now), Err(w));
                now += Duration::from_secs(w);
                assert!(g.check_at("u", a, now).is_ok(), "the wait ends");
            }
        }
        assert_eq!(waits, [30, 60, 120, 240, 480, 900]);
        // Quiet for the longest wait: the count starts afresh.
        now += Duration::from_secs(900);
        assert_eq!(g.failed_at("u", a, now), None);
    }

    #[test]
    fn one_address_cannot_try_many_usernames() {
        let c = LimitConfig { login_failures_per_address: Rate::per(10, Duration::from_secs(900)), ..LimitConfig::default() };
        let g = LoginGuard::new(&c);
        let (a, t0) = (ip("198.51.100.7"), Instant::now());
        for i in 0..10 {
            assert!(g.check_at(&format!("user{i}"), a, t0).is_ok());
            g.failed_at(&format!("user{i}"), a, t0);
        }
        assert_eq!(g.check_at("anyone", a, t0), Err(90), "every username from that address waits");
        assert!(g.check_at("anyone", ip("192.0.2.10"), t0).is_ok(), "other addresses do not");
        assert!(g.check_at("anyone", a, t0 + Duration::from_secs(90)).is_ok(), "one more failure is allowed per interval");
        // IPv6 neighbours in one /64 are one address.
        for i in 0..10 {
            g.failed_at("v6", ip(&format!("2001:db8::{i}")), t0);
        }
        assert!(g.check_at("other", ip("2001:db8::ffff"), t0).is_err());
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
