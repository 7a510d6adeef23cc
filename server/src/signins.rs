//! Citizen sign-ins that expire: a sign-in ends after `idle` without use or `max_age` after it
//! began, whichever comes first (a shared device does not stay signed in).
//!
//! When the sign-in began is kept in the session's dialogue state
//! (`DialogueState::citizen_signed_in_at`, RFC 3339), so the absolute limit survives restarts;
//! when it was last used is kept in memory (a write per request would race with the answers
//! that save the state), so after a restart the idle time counts from the sign-in itself.
//! The check runs wherever a session is authorised ([`crate::routes`]' `authorize`), so the
//! profile, forms, applications and the assistant all see an expired sign-in as none.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::store::Session;
use crate::App;

/// Sessions whose last use is remembered before old entries are swept.
const SWEEP_AT: usize = 10_000;

/// Sign-in lifetimes and the last use of each signed-in session.
pub struct SignIns {
    idle: Duration,
    max_age: Duration,
    seen: Mutex<HashMap<String, Instant>>,
}

impl SignIns {
    pub fn new(idle: Duration, max_age: Duration) -> Self {
        SignIns { idle, max_age, seen: Mutex::new(HashMap::new()) }
    }

    /// The sign-in time to store for a sign-in now; remembers the session as just used.
    pub fn began(&self, session_id: &str) -> String {
        self.touch(session_id, Instant::now());
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// Forget the session (signed out).
    pub fn ended(&self, session_id: &str) {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).remove(session_id);
    }

    fn touch(&self, session_id: &str, now: Instant) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= SWEEP_AT {
            let idle = self.idle;
            seen.retain(|_, t| now.duration_since(*t) < idle);
        }
        seen.insert(session_id.to_string(), now);
    }

    /// Whether a sign-in that began at `began` (RFC 3339; `None` or unreadable: a sign-in from
    /// before sign-ins expired, treated as expired) is still valid at `now` / `wall`; a valid
    /// one is marked as used.
    fn alive(&self, session_id: &str, began: Option<&str>, now: Instant, wall: DateTime<Utc>) -> bool {
        let Some(began) = began.and_then(|b| DateTime::parse_from_rfc3339(b).ok()) else { return false };
        let age = (wall - began.with_timezone(&Utc)).to_std().unwrap_or_default();
        let last = self.seen.lock().unwrap_or_else(|p| p.into_inner()).get(session_id).copied();
        let idle = last.map_or(age, |t| now.duration_since(t));
        if age >= self.max_age || idle >= self.idle {
            self.ended(session_id);
            return false;
        }
        self.touch(session_id, now);
        true
    }
}

/// End the citizen's sign-in in `session` if it has expired (saving the state); returns whether
/// it did. Sessions nobody is signed in to pass unchanged. Fails only when saving fails.
pub async fn expire(app: &App, session: &mut Session) -> Result<bool, ApiError> {
    if session.state.citizen_id.is_none() {
        return Ok(false);
    }
    if app.signins.alive(&session.id, session.state.citizen_signed_in_at.as_deref(), Instant::now(), Utc::now()) {
        return Ok(false);
    }
    session.state.citizen_id = None;
    session.state.citizen_signed_in_at = None;
    session.version = app.store.save_state(&session.id, &session.state, session.version).await?;
    tracing::info!(session = %session.id, "citizen sign-in expired");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(wall: DateTime<Utc>) -> String {
        wall.to_rfc3339()
    }

    #[test]
    fn a_sign_in_ends_when_idle_or_too_old() {
        let s = SignIns::new(Duration::from_secs(60), Duration::from_secs(600));
        let (t0, w0) = (Instant::now(), Utc::now());
        let began = at(w0);
        s.touch("a", t0);
        assert!(s.alive("a", Some(&began), t0 + Duration::from_secs(59), w0 + chrono::Duration::seconds(59)));
        // Used at 59 s: alive until 119 s.
        assert!(s.alive("a", Some(&began), t0 + Duration::from_secs(118), w0 + chrono::Duration::seconds(118)));
        assert!(!s.alive("a", Some(&began), t0 + Duration::from_secs(179), w0 + chrono::Duration::seconds(179)), "idle for 61 s");
        // Used every 50 s, it still ends after 600 s.
        s.touch("b", t0);
        let mut last_alive = 0;
        for k in 1..20 {
            if s.alive("b", Some(&began), t0 + Duration::from_secs(50 * k), w0 + chrono::Duration::seconds(50 * k as i64)) {
                last_alive = 50 * k;
            } else {
                break;
            }
        }
        assert_eq!(last_alive, 550);
    }

    #[test]
    fn unknown_start_or_no_memory_of_use() {
        let s = SignIns::new(Duration::from_secs(60), Duration::from_secs(600));
        let (t0, w0) = (Instant::now(), Utc::now());
        assert!(!s.alive("x", None, t0, w0), "no sign-in time: expired");
        assert!(!s.alive("x", Some("yesterday"), t0, w0));
        // After a restart (nothing in memory) idle counts from the sign-in.
        assert!(s.alive("y", Some(&at(w0 - chrono::Duration::seconds(30))), t0, w0));
        assert!(!s.alive("z", Some(&at(w0 - chrono::Duration::seconds(90))), t0, w0));
    }
}
