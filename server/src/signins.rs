//! Citizen sign-ins that expire: a sign-in ends after `idle` without use or `max_age` after it
//! began, whichever comes first (a shared device does not stay signed in).
//!
//! Both times are in the database, so every replica judges a sign-in alike: when it began in
//! the session's dialogue state (`DialogueState::citizen_signed_in_at`, RFC 3339) and when it
//! was last used in the session row (`seen_at`, written by [`Sessions::touch_session`] at most
//! every [`TOUCH_EVERY`], without touching the state's version). The check runs wherever a
//! session is authorised ([`crate::routes`]' `authorize`), so the profile, forms, applications
//! and the assistant all see an expired sign-in as none.
//!
//! [`Sessions::touch_session`]: crate::store::Sessions::touch_session

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::store::Session;
use crate::App;

/// Last use is recorded at most this often, or every quarter of the idle limit when that is
/// shorter: an idle time is measured at worst that much early.
pub const TOUCH_EVERY: Duration = Duration::from_secs(30);

/// Sign-in lifetimes.
pub struct SignIns {
    idle: Duration,
    max_age: Duration,
}

/// What a sign-in is at a given moment.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Valid; `touch`: record this use.
    Alive {
        touch: bool,
    },
    Expired,
}

fn parse(t: Option<&str>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

impl SignIns {
    pub fn new(idle: Duration, max_age: Duration) -> Self {
        SignIns { idle, max_age }
    }

    /// The sign-in time to store for a sign-in now.
    pub fn began(&self) -> String {
        Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }

    /// A sign-in that began at `began` (`None` or unreadable: from before sign-ins expired,
    /// treated as expired) and was last used at `seen`, judged at `now`.
    fn verdict(&self, began: Option<&str>, seen: Option<&str>, now: DateTime<Utc>) -> Verdict {
        let Some(began) = parse(began) else { return Verdict::Expired };
        let last = parse(seen).filter(|s| *s > began).unwrap_or(began);
        let since = |t: DateTime<Utc>| (now - t).to_std().unwrap_or_default();
        if since(began) >= self.max_age || since(last) >= self.idle {
            return Verdict::Expired;
        }
        // A use recorded before this sign-in began (an earlier sign-in's) is as good as none.
        let recorded = parse(seen).filter(|s| *s > began);
        let every = TOUCH_EVERY.min(self.idle / 4);
        Verdict::Alive { touch: recorded.is_none_or(|s| since(s) >= every) }
    }
}

/// End the citizen's sign-in in `session` if it has expired (saving the state), else record
/// its use; returns whether it ended. Sessions nobody is signed in to pass unchanged. Fails
/// only when saving fails.
pub async fn expire(app: &App, session: &mut Session) -> Result<bool, ApiError> {
    if session.state.citizen_id.is_none() {
        return Ok(false);
    }
    let now = Utc::now();
    match app.signins.verdict(session.state.citizen_signed_in_at.as_deref(), session.seen_at.as_deref(), now) {
        Verdict::Alive { touch: false } => return Ok(false),
        Verdict::Alive { touch: true } => {
            let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            app.store.touch_session(&session.id, &at).await?;
            session.seen_at = Some(at);
            return Ok(false);
        }
        Verdict::Expired => {}
    }
    crate::dialogue_state::update(app, session, |s| {
        s.citizen_id = None;
        s.citizen_signed_in_at = None;
    })
    .await?;
    tracing::info!(session = %session.id, "citizen sign-in expired");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t: DateTime<Utc>) -> String {
        t.to_rfc3339()
    }

    #[test]
    fn a_sign_in_ends_when_idle_or_too_old() {
        let s = SignIns::new(Duration::from_secs(60), Duration::from_secs(600));
        let t0 = Utc::now();
        let secs = |n: i64| t0 + chrono::Duration::seconds(n);
        let began = at(t0);
        assert_eq!(s.verdict(Some(&began), None, secs(59)), Verdict::Alive { touch: true });
        // Used at 59 s: alive until 119 s, on any replica (the use is in the session row).
        assert_eq!(s.verdict(Some(&began), Some(&at(secs(59))), secs(70)), Verdict::Alive { touch: false }, "touched recently");
        assert_eq!(s.verdict(Some(&began), Some(&at(secs(59))), secs(118)), Verdict::Alive { touch: true });
        assert_eq!(s.verdict(Some(&began), Some(&at(secs(59))), secs(120)), Verdict::Expired, "idle for 61 s");
        // Used every 50 s, it still ends after 600 s.
        let mut last_alive = 0;
        for k in 1..20 {
            if s.verdict(Some(&began), Some(&at(secs(50 * (k - 1)))), secs(50 * k)) == Verdict::Expired {
                break;
            }
            last_alive = 50 * k;
        }
        assert_eq!(last_alive, 550);
    }

    #[test]
    fn an_unknown_start_is_expired_and_a_use_before_the_sign_in_does_not_count() {
        let s = SignIns::new(Duration::from_secs(60), Duration::from_secs(600));
        let t0 = Utc::now();
        assert_eq!(s.verdict(None, None, t0), Verdict::Expired, "no sign-in time");
        assert_eq!(s.verdict(Some("yesterday"), None, t0), Verdict::Expired);
        assert_eq!(s.verdict(Some(&at(t0 - chrono::Duration::seconds(30))), None, t0), Verdict::Alive { touch: true });
        assert_eq!(s.verdict(Some(&at(t0 - chrono::Duration::seconds(90))), None, t0), Verdict::Expired, "idle since the sign-in");
        // A use from an earlier sign-in of the same session does not extend this one.
        let old_use = at(t0 - chrono::Duration::seconds(10));
        assert_eq!(s.verdict(Some(&at(t0 - chrono::Duration::seconds(70))), Some(&old_use), t0), Verdict::Alive { touch: false });
        let earlier = at(t0 - chrono::Duration::seconds(20));
        assert_eq!(s.verdict(Some(&at(t0 - chrono::Duration::seconds(5))), Some(&earlier), t0), Verdict::Alive { touch: true });
    }
}
