//! A circuit breaker for one model server: closed (requests go through) until `threshold`
//! failures in a row, then open for `cooldown` (requests fail at once), then half-open: one
//! request probes the server, and its outcome closes or re-opens the circuit.
//!
//! State is in memory, per process: each replica judges the server for itself.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ModelError;

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    /// While open, the end of the cool-down. A probe moves it one cool-down on, so others wait
    /// for its outcome, and a probe that never reports back (its caller went away) only costs
    /// one more cool-down.
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Breaker { threshold: threshold.max(1), cooldown, state: Mutex::new(State::default()) }
    }

    /// Whether a request may go to the server now; `Unavailable` naming `url` while open.
    pub fn admit(&self, url: &str) -> Result<(), ModelError> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let Some(until) = s.open_until else { return Ok(()) };
        let now = Instant::now();
        if now < until {
            let wait = until.saturating_duration_since(now).as_secs().max(1);
            return Err(ModelError::Unavailable(format!("model server {url} is failing; next try in {wait} s")));
        }
        s.open_until = Some(now + self.cooldown);
        Ok(())
    }

    pub fn success(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *s = State::default();
    }

    pub fn failure(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.failures += 1;
        if s.failures >= self.threshold {
            s.open_until = Some(Instant::now() + self.cooldown);
        }
    }

    /// Whether the server failed `threshold` times in a row and has not answered since (the
    /// circuit is open or half-open): what readiness reports.
    pub fn is_open(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.open_until.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_one_probe_closes_it() {
        let b = Breaker::new(2, Duration::from_millis(300));
        b.failure();
        b.success();
        b.failure();
        assert!(b.admit("u").is_ok(), "failures must be in a row");
        b.failure();
        assert!(b.is_open());
        let err = b.admit("http://m").unwrap_err();
        assert!(matches!(&err, ModelError::Unavailable(m) if m.contains("http://m")), "{err}");
        std::thread::sleep(Duration::from_millis(400));
        assert!(b.is_open(), "still failing until a request succeeds");
        assert!(b.admit("u").is_ok(), "after the cool-down one probe goes through");
        assert!(b.admit("u").is_err(), "only one probe at a time");
        b.success();
        assert!(!b.is_open());
        assert!(b.admit("u").is_ok() && b.admit("u").is_ok());
    }

    #[test]
    fn a_failed_probe_opens_it_again() {
        let b = Breaker::new(1, Duration::from_millis(200));
        b.failure();
        std::thread::sleep(Duration::from_millis(250));
        assert!(b.admit("u").is_ok());
        b.failure();
        assert!(b.is_open() && b.admit("u").is_err());
    }
}
