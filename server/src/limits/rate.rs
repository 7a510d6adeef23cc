//! "N per period" ([`Rate`], GCRA arithmetic) and where the limiter's state lives: the
//! [`RateLimiter`] seam and its in-process implementation [`MemoryLimiter`], over tables whose
//! memory is bounded ([`BoundedMap`]).

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::str::FromStr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// How often expired entries are swept from an in-memory table.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// "`count` per `period`", with bursts of up to `count`; a zero count is no limit.
///
/// Written `30/10m` (units `s`, `m`, `h`, `d`; a bare unit means one of it, `20/m`) or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    /// No limit.
    pub const OFF: Rate = Rate { count: 0, period: Duration::ZERO };

    pub const fn per(count: u32, period: Duration) -> Rate {
        Rate { count, period }
    }

    pub fn is_off(self) -> bool {
        self.count == 0 || self.period.is_zero()
    }

    /// One GCRA step at `now` for a key whose stored theoretical arrival time is `tat` (`None`:
    /// a new key). `Ok`: the TAT to store; `Err`: how long until `cost` more would pass (store
    /// nothing). Each unit of cost advances the TAT by `period / count`; a request passes while
    /// the TAT stays within `period` of now, which allows a burst of `count` from a fresh key.
    pub fn step(self, tat: Option<Instant>, now: Instant, cost: u32) -> Result<Instant, Duration> {
        if self.is_off() {
            return Ok(now);
        }
        let interval = self.period / self.count;
        let new = tat.map_or(now, |t| t.max(now)) + interval * cost.max(1);
        let ahead = new - now;
        if ahead > self.period {
            Err(ahead - self.period)
        } else {
            Ok(new)
        }
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") || s == "0" {
            return Ok(Rate::OFF);
        }
        let (n, p) = s.split_once('/').ok_or_else(|| format!("{s:?}: expected COUNT/PERIOD such as 30/10m, or off"))?;
        let count: u32 = n.trim().parse().map_err(|_| format!("{s:?}: {n:?} is not a count"))?;
        let period = parse_period(p.trim()).ok_or_else(|| format!("{s:?}: {p:?} is not a period such as 30s, 10m, 1h or 1d"))?;
        if count == 0 || period.is_zero() {
            return Err(format!("{s:?}: a limit needs a count and a period above zero (write `off` for none)"));
        }
        Ok(Rate { count, period })
    }
}

fn parse_period(p: &str) -> Option<Duration> {
    let unit = p.chars().last()?;
    let secs: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    let n = &p[..p.len() - 1];
    let n: u64 = if n.is_empty() { 1 } else { n.parse().ok()? };
    Some(Duration::from_secs(n.checked_mul(secs)?))
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return f.write_str("off");
        }
        let s = self.period.as_secs();
        let (n, unit) = match s {
            _ if s.is_multiple_of(86400) => (s / 86400, "d"),
            _ if s.is_multiple_of(3600) => (s / 3600, "h"),
            _ if s.is_multiple_of(60) => (s / 60, "m"),
            _ => (s, "s"),
        };
        write!(f, "{}/{n}{unit}", self.count)
    }
}

/// Whole seconds to wait, at least 1 (what `Retry-After` says).
pub fn retry_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// What an entry of a [`BoundedMap`] needs: when it stops carrying information.
pub trait Expires {
    fn expires_at(&self) -> Instant;
}

/// A mutex-guarded map with a hard bound on its size (see the module docs). Entries past their
/// [`Expires::expires_at`] are swept at most once per minute; when a change leaves more than
/// `cap` entries, expired ones go at once and, if that is not enough, the ones nearest to expiry
/// are forgotten until 90 % of `cap` remain (amortised: one sort per `cap / 10` insertions).
pub struct BoundedMap<K, V> {
    inner: Mutex<Table<K, V>>,
    cap: usize,
}

struct Table<K, V> {
    map: HashMap<K, V>,
    swept: Instant,
}

impl<K: Eq + Hash + Clone, V: Expires> BoundedMap<K, V> {
    pub fn new(cap: usize) -> Self {
        BoundedMap { inner: Mutex::new(Table { map: HashMap::new(), swept: Instant::now() }), cap: cap.max(1) }
    }

    /// Run `f` on the map at `now`, then keep the bound. `f` must not panic with the map half
    /// changed (a poisoned lock is taken over as it is).
    pub fn with<R>(&self, now: Instant, f: impl FnOnce(&mut HashMap<K, V>) -> R) -> R {
        let mut t = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if now.saturating_duration_since(t.swept) >= SWEEP_EVERY {
            t.map.retain(|_, v| v.expires_at() > now);
            t.swept = now;
        }
        let r = f(&mut t.map);
        if t.map.len() > self.cap {
            shrink(&mut t.map, now, self.cap);
        }
        r
    }

    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn shrink<K: Eq + Hash + Clone, V: Expires>(map: &mut HashMap<K, V>, now: Instant, cap: usize) {
    map.retain(|_, v| v.expires_at() > now);
    if map.len() <= cap {
        return;
    }
    let keep = cap - cap / 10;
    let mut by_expiry: Vec<(Instant, K)> = map.iter().map(|(k, v)| (v.expires_at(), k.clone())).collect();
    let drop = by_expiry.len() - keep;
    by_expiry.select_nth_unstable_by_key(drop - 1, |(e, _)| *e);
    for (_, k) in &by_expiry[..drop] {
        map.remove(k);
    }
}

/// The seam between the limits and where their state lives.
#[async_trait]
pub trait RateLimiter: Send + Sync {
    /// Charge `cost` against `key` under `rate` (never called with an off rate). `Err(wait)`
    /// when over the limit; nothing is charged then. An implementation that cannot reach its
    /// store should allow the request and log: limits protect capacity and must not turn a
    /// database hiccup into an outage of the citizen API.
    async fn charge(&self, key: &str, rate: Rate, cost: u32) -> Result<(), Duration>;
}

struct Tat(Instant);

impl Expires for Tat {
    fn expires_at(&self) -> Instant {
        self.0
    }
}

/// GCRA state in this process, at most `max_keys` keys.
pub struct MemoryLimiter {
    keys: BoundedMap<String, Tat>,
}

impl MemoryLimiter {
    pub fn new(max_keys: usize) -> Self {
        MemoryLimiter { keys: BoundedMap::new(max_keys) }
    }

    /// [`RateLimiter::charge`] at `now`.
    pub fn charge_at(&self, key: &str, rate: Rate, cost: u32, now: Instant) -> Result<(), Duration> {
        if rate.is_off() {
            return Ok(());
        }
        self.keys.with(now, |m| match m.get_mut(key) {
            Some(tat) => {
                tat.0 = rate.step(Some(tat.0), now, cost)?;
                Ok(())
            }
            None => {
                m.insert(key.to_string(), Tat(rate.step(None, now, cost)?));
                Ok(())
            }
        })
    }

    /// Whether `cost` more would pass at `now`, charging nothing.
    pub fn peek_at(&self, key: &str, rate: Rate, cost: u32, now: Instant) -> Result<(), Duration> {
        if rate.is_off() {
            return Ok(());
        }
        self.keys.with(now, |m| rate.step(m.get(key).map(|t| t.0), now, cost).map(|_| ()))
    }

    /// Keys held now (for tests and the bound).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[async_trait]
impl RateLimiter for MemoryLimiter {
    async fn charge(&self, key: &str, rate: Rate, cost: u32) -> Result<(), Duration> {
        self.charge_at(key, rate, cost, Instant::now())
    }
}
