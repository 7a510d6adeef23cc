//! Rate limits and quotas by client address and by session: how often one address or one
//! conversation may start sessions, send messages (model time), rate and hand off (agents'
//! time), upload (disk and OCR) and look up tracking numbers (guessing). Over a limit the answer
//! is 429 `rate_limited` with `Retry-After` and a Chinese message, before the handler runs, so
//! nothing is stored.
//!
//! Files: `rate.rs` ([`Rate`], [`RateLimiter`], [`MemoryLimiter`], [`BoundedMap`]), `client.rs`
//! ([`ClientIp`], [`Cidr`]); this file the limits themselves and the middleware.
//!
//! - [`Rate`] is "N per period" with bursts of up to N, enforced by GCRA (the generic cell rate
//!   algorithm): one timestamp per key, no timers, and the exact wait for `Retry-After`.
//! - [`RateLimiter`] is the seam: [`MemoryLimiter`] keeps the keys in this process, which is
//!   right for one replica. With several replicas a store-backed limiter (PostgreSQL: one row per
//!   key, `INSERT … ON CONFLICT DO UPDATE SET tat = …` with the same arithmetic as
//!   [`Rate::step`]) goes behind the same trait and nothing else changes.
//! - [`guard`] is the middleware that charges the limited routes. [`ClientIp`] says who asks: the
//!   TCP peer, or the client named in `X-Forwarded-For` when the peer is one of
//!   `--trusted-proxies` (without that flag the header is ignored, so it cannot be forged). IPv6
//!   clients are counted per /64, the block one subscriber usually gets.
//! - Handoffs (tickets that wait for an agent) are charged per session and per the address the
//!   session was last used from ([`Limits::handoff`]).
//! - [`UploadRoom`]: upload bytes per session and per day for the whole service, summed from the
//!   store, so they survive restarts.
//!
//! Memory is bounded: every in-memory table ([`BoundedMap`]) drops entries once they carry no
//! information (a key whose GCRA time has passed is the same as a new key), sweeps at most once a
//! minute, and when it still holds more than `--limit-max-keys` forgets the entries nearest to
//! expiry. An attacker rotating keys can make the service forget some limits early; it cannot
//! grow memory without bound. In-memory counts are lost on restart (limits start fresh).
//!
//! Why not the `governor` crate: its keyed limiter has no bound on keys (pruning is a call its
//! owner must schedule, with no cap in between) and it would add a dependency tree for the few
//! lines of arithmetic in [`Rate::step`]; the one-timestamp GCRA state here is also exactly what
//! a store-backed implementation needs to keep per key.

mod client;
mod rate;

pub use client::{address_key, canonical, client_ip, Cidr, ClientIp};
pub use rate::{retry_secs, BoundedMap, Expires, MemoryLimiter, Rate, RateLimiter};

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::store::UploadQuota;
use crate::App;

/// How long a session is remembered with the address it was last used from.
const SEEN_FOR: Duration = Duration::from_secs(3600);

/// Every limit and quota; the binary fills these from `--limit-*` flags (see `banshi serve
/// --help`). Rates of `off` are not enforced; byte quotas of 0 are unlimited.
#[derive(Debug, Clone)]
pub struct LimitConfig {
    /// Reverse proxies whose `X-Forwarded-For` is believed; empty: the header is ignored.
    pub trusted_proxies: Vec<Cidr>,
    /// New sessions per client address.
    pub sessions_per_address: Rate,
    /// Messages per session (answered or forwarded to an agent).
    pub messages_per_session: Rate,
    /// Messages per client address, over all its sessions.
    pub messages_per_address: Rate,
    /// Ratings per client address (each session rates once, and once per ticket).
    pub ratings_per_address: Rate,
    /// Tickets for the agent queue (handoffs and follow-ups) per session.
    pub handoffs_per_session: Rate,
    /// Tickets for the agent queue per the address a session was last used from.
    pub handoffs_per_address: Rate,
    /// Uploads per session (besides the total count, `Config::max_uploads_per_session`).
    pub uploads_per_session: Rate,
    /// Uploads per client address.
    pub uploads_per_address: Rate,
    /// Progress look-ups by tracking number per client address.
    pub lookups_per_address: Rate,
    /// Bytes one session may upload in all (counted from the store); 0: no quota.
    pub upload_bytes_per_session: u64,
    /// Bytes the whole service accepts per calendar day (server local time, counted from the
    /// store); 0: no budget.
    pub upload_bytes_per_day: u64,
    /// Failed log-ins per (username, address) before the pair must wait.
    pub login_free_failures: u32,
    /// The first wait; each further failure doubles it.
    pub login_backoff: Duration,
    /// The longest wait; a pair quiet for this long starts counting afresh.
    pub login_backoff_max: Duration,
    /// Failed log-ins per client address over all usernames.
    pub login_failures_per_address: Rate,
    /// Keys each in-memory table may hold (see the module docs).
    pub max_keys: usize,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            trusted_proxies: Vec::new(),
            sessions_per_address: Rate::per(30, 10 * MINUTE),
            messages_per_session: Rate::per(20, MINUTE),
            messages_per_address: Rate::per(60, MINUTE),
            ratings_per_address: Rate::per(10, 10 * MINUTE),
            handoffs_per_session: Rate::per(4, HOUR),
            handoffs_per_address: Rate::per(10, HOUR),
            uploads_per_session: Rate::per(20, 10 * MINUTE),
            uploads_per_address: Rate::per(60, HOUR),
            lookups_per_address: Rate::per(20, 10 * MINUTE),
            upload_bytes_per_session: 50 * 1024 * 1024,
            upload_bytes_per_day: 10 * 1024 * 1024 * 1024,
            login_free_failures: 5,
            login_backoff: Duration::from_secs(30),
            login_backoff_max: 15 * MINUTE,
            login_failures_per_address: Rate::per(30, 15 * MINUTE),
            max_keys: 100_000,
        }
    }
}

/// What a limit counts and whose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    SessionsPerAddress,
    MessagesPerSession,
    MessagesPerAddress,
    RatingsPerAddress,
    HandoffsPerSession,
    HandoffsPerAddress,
    UploadsPerSession,
    UploadsPerAddress,
    LookupsPerAddress,
}

impl Bucket {
    /// Stable name, for keys and logs.
    pub fn name(self) -> &'static str {
        match self {
            Bucket::SessionsPerAddress => "sessions_per_address",
            Bucket::MessagesPerSession => "messages_per_session",
            Bucket::MessagesPerAddress => "messages_per_address",
            Bucket::RatingsPerAddress => "ratings_per_address",
            Bucket::HandoffsPerSession => "handoffs_per_session",
            Bucket::HandoffsPerAddress => "handoffs_per_address",
            Bucket::UploadsPerSession => "uploads_per_session",
            Bucket::UploadsPerAddress => "uploads_per_address",
            Bucket::LookupsPerAddress => "lookups_per_address",
        }
    }

    fn per_session(self) -> bool {
        matches!(self, Bucket::MessagesPerSession | Bucket::HandoffsPerSession | Bucket::UploadsPerSession)
    }

    pub fn rate(self, c: &LimitConfig) -> Rate {
        match self {
            Bucket::SessionsPerAddress => c.sessions_per_address,
            Bucket::MessagesPerSession => c.messages_per_session,
            Bucket::MessagesPerAddress => c.messages_per_address,
            Bucket::RatingsPerAddress => c.ratings_per_address,
            Bucket::HandoffsPerSession => c.handoffs_per_session,
            Bucket::HandoffsPerAddress => c.handoffs_per_address,
            Bucket::UploadsPerSession => c.uploads_per_session,
            Bucket::UploadsPerAddress => c.uploads_per_address,
            Bucket::LookupsPerAddress => c.lookups_per_address,
        }
    }

    /// The 429 a citizen sees, in Chinese.
    pub fn refusal(self, secs: u64) -> ApiError {
        let what = match self {
            Bucket::SessionsPerAddress => "新建会话",
            Bucket::MessagesPerSession | Bucket::MessagesPerAddress => "发送消息",
            Bucket::RatingsPerAddress => "提交评价",
            Bucket::HandoffsPerSession | Bucket::HandoffsPerAddress => "转人工请求",
            Bucket::UploadsPerSession | Bucket::UploadsPerAddress => "上传材料",
            Bucket::LookupsPerAddress => "查询办理进度",
        };
        let extra = if matches!(self, Bucket::HandoffsPerSession | Bucket::HandoffsPerAddress) {
            "；如有急事请拨打12345热线"
        } else {
            ""
        };
        ApiError::RateLimited(format!("{what}过于频繁，请 {secs} 秒后再试{extra}"), secs)
    }
}

struct Seen {
    ip: IpAddr,
    at: Instant,
}

impl Expires for Seen {
    fn expires_at(&self) -> Instant {
        self.at + SEEN_FOR
    }
}

/// The service's limits: the configuration, the limiter behind [`RateLimiter`], and which
/// address each recent session was used from (for handoffs, which happen inside a turn).
pub struct Limits {
    config: LimitConfig,
    limiter: Arc<dyn RateLimiter>,
    seen: BoundedMap<String, Seen>,
}

impl Limits {
    /// In-memory limits (one replica).
    pub fn new(config: LimitConfig) -> Limits {
        let limiter = Arc::new(MemoryLimiter::new(config.max_keys));
        Limits::with_limiter(config, limiter)
    }

    /// Limits over another limiter (a store-backed one for several replicas).
    pub fn with_limiter(config: LimitConfig, limiter: Arc<dyn RateLimiter>) -> Limits {
        let seen = BoundedMap::new(config.max_keys);
        Limits { config, limiter, seen }
    }

    pub fn config(&self) -> &LimitConfig {
        &self.config
    }

    /// Charge one request to `bucket` for `subject` (an [`address_key`] or a session id);
    /// [`ApiError::RateLimited`] when over.
    pub async fn charge(&self, bucket: Bucket, subject: &str) -> Result<(), ApiError> {
        let rate = bucket.rate(&self.config);
        if rate.is_off() {
            return Ok(());
        }
        let key = format!("{}:{subject}", bucket.name());
        self.limiter.charge(&key, rate, 1).await.map_err(|wait| bucket.refusal(retry_secs(wait)))
    }

    /// Remember that `session_id` was just used from `ip`.
    pub fn seen(&self, session_id: &str, ip: IpAddr) {
        let now = Instant::now();
        self.seen.with(now, |m| match m.get_mut(session_id) {
            Some(s) => *s = Seen { ip, at: now },
            None => {
                m.insert(session_id.to_string(), Seen { ip, at: now });
            }
        });
    }

    /// The address `session_id` was last used from, within the last hour.
    pub fn last_address(&self, session_id: &str) -> Option<IpAddr> {
        let now = Instant::now();
        self.seen.with(now, |m| m.get(session_id).filter(|s| s.expires_at() > now).map(|s| s.ip))
    }

    /// Charge a new ticket for the agent queue: to the session's last address (when known) and
    /// to the session. Call before anything is stored.
    pub async fn handoff(&self, session_id: &str) -> Result<(), ApiError> {
        if let Some(ip) = self.last_address(session_id) {
            let r = self.charge(Bucket::HandoffsPerAddress, &address_key(ip)).await;
            if r.is_err() {
                tracing::warn!(session = %session_id, client = %ip, "handoff refused: too many from this address");
            }
            r?;
        }
        self.charge(Bucket::HandoffsPerSession, session_id).await
    }
}

/// The session id in `/api/v1/sessions/{id}/…`.
fn session_in_path(path: &str) -> Option<&str> {
    path.strip_prefix("/api/v1/sessions/")?.split('/').next().filter(|s| !s.is_empty() && s.len() <= 64)
}

/// Which buckets a route is charged to, address buckets first.
fn buckets(method: &Method, route: &str) -> &'static [Bucket] {
    use Bucket::*;
    match (method.as_str(), route) {
        ("POST", "/api/v1/sessions") => &[SessionsPerAddress],
        ("POST", "/api/v1/sessions/{id}/messages") => &[MessagesPerAddress, MessagesPerSession],
        ("POST", "/api/v1/sessions/{id}/ratings") => &[RatingsPerAddress],
        ("POST", "/api/v1/sessions/{id}/uploads") => &[UploadsPerAddress, UploadsPerSession],
        ("GET", "/api/v1/applications/{tracking_no}") => &[LookupsPerAddress],
        _ => &[],
    }
}

/// Middleware: find the client address (handlers read it with [`ClientIp`]), remember which
/// address a session is used from, and charge the limited routes before their handler runs.
pub async fn guard(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip = client_ip(peer, req.headers(), &app.config.limits.trusted_proxies);
    req.extensions_mut().insert(ClientIp(ip));
    let session = session_in_path(req.uri().path()).map(str::to_string);
    if let Some(id) = &session {
        app.limits.seen(id, ip);
    }
    let charged = match req.extensions().get::<MatchedPath>() {
        Some(route) => buckets(req.method(), route.as_str()),
        None => &[],
    };
    let addr = address_key(ip);
    for &b in charged {
        let subject = if b.per_session() { session.as_deref().unwrap_or_default() } else { addr.as_str() };
        if let Err(e) = app.limits.charge(b, subject).await {
            // Per refusal at debug only: a flood must not become a log flood (`/metrics` counts 429s by route).
            tracing::debug!(client = %ip, limit = b.name(), "rate limited");
            return e.into_response();
        }
    }
    next.run(req).await
}

/// Room left for uploads: what the session and the service may still take today, summed from
/// the store's upload rows. It refuses a file early, while the body streams in; the store's
/// insert checks the same quotas again in one statement ([`UploadRoom::quota`]), so uploads
/// racing through this early check cannot overshoot together. Files stored once by content but
/// uploaded twice count twice.
#[derive(Debug, Clone)]
pub struct UploadRoom {
    session_left: Option<u64>,
    day_left: Option<u64>,
    per_session: u64,
    per_day: u64,
    /// The start of today, as `created_at` is written.
    since: String,
    /// Seconds to the next local midnight, when the daily budget starts afresh.
    until_tomorrow: u64,
}

impl UploadRoom {
    /// The room for `session_id` now; an error when there is none at all (before reading the body).
    pub async fn of(app: &App, session_id: &str) -> Result<UploadRoom, ApiError> {
        let c = &app.config.limits;
        let session_left = match c.upload_bytes_per_session {
            0 => None,
            q => Some(q.saturating_sub(app.store.upload_bytes(session_id).await?)),
        };
        let (since, until_tomorrow) = local_day();
        let day_left = match c.upload_bytes_per_day {
            0 => None,
            q => Some(q.saturating_sub(app.store.upload_bytes_since(&since).await?)),
        };
        let room = UploadRoom {
            session_left,
            day_left,
            per_session: c.upload_bytes_per_session,
            per_day: c.upload_bytes_per_day,
            since,
            until_tomorrow,
        };
        room.check(1)?;
        Ok(room)
    }

    /// The quotas for the store's insert, with at most `files` files per session.
    pub fn quota(&self, files: usize) -> UploadQuota {
        let on = |q: u64| (q > 0).then_some(q);
        UploadQuota { files, session_bytes: on(self.per_session), day_bytes: on(self.per_day), day_since: self.since.clone() }
    }

    /// Whether a file of `len` bytes fits: 409 over the session's quota (waiting does not help),
    /// 429 with `Retry-After` until midnight over the service's daily budget.
    pub fn check(&self, len: u64) -> Result<(), ApiError> {
        if self.session_left.is_some_and(|left| len > left) {
            return Err(ApiError::Conflict(format!(
                "本次咨询上传的文件总量已达上限（{} MB），无法继续上传",
                self.per_session.div_ceil(1024 * 1024)
            )));
        }
        if self.day_left.is_some_and(|left| len > left) {
            tracing::warn!("the daily upload budget is used up: uploads refused until midnight");
            return Err(ApiError::RateLimited(
                "今日材料上传总量已达服务上限，请明天再试，或到办事窗口提交纸质材料".into(),
                self.until_tomorrow,
            ));
        }
        Ok(())
    }
}

/// The start of today in server local time as the store writes `created_at` (RFC 3339 UTC,
/// milliseconds), and the seconds until tomorrow starts.
fn local_day() -> (String, u64) {
    use chrono::{Local, TimeZone};
    let now = Local::now();
    let start_of = |d: chrono::NaiveDate| Local.from_local_datetime(&d.and_time(chrono::NaiveTime::MIN)).earliest();
    let today = start_of(now.date_naive()).unwrap_or(now);
    let tomorrow = now.date_naive().succ_opt().and_then(start_of).unwrap_or(now + chrono::Duration::days(1));
    let since = today.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    (since, (tomorrow - now).num_seconds().max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn rates_parse_and_print() {
        assert_eq!("30/10m".parse::<Rate>().unwrap(), Rate::per(30, 600 * SEC));
        assert_eq!("20/m".parse::<Rate>().unwrap(), Rate::per(20, 60 * SEC));
        assert_eq!(" 5/1d ".parse::<Rate>().unwrap(), Rate::per(5, 86400 * SEC));
        assert!("off".parse::<Rate>().unwrap().is_off());
        for bad in ["30", "x/1m", "30/10", "30/10w", "0/1m", "3/0s", "-1/1m"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
        for s in ["30/10m", "20/1m", "4/1h", "5/1d", "7/90s", "off"] {
            assert_eq!(s.parse::<Rate>().unwrap().to_string(), s);
        }
    }

    #[test]
    fn gcra_allows_a_burst_then_one_per_interval_with_the_exact_wait() {
        let rate = Rate::per(3, 60 * SEC);
        let l = MemoryLimiter::new(100);
        let t0 = Instant::now();
        for _ in 0..3 {
            l.charge_at("k", rate, 1, t0).unwrap();
        }
        assert_eq!(l.charge_at("k", rate, 1, t0), Err(20 * SEC), "a fourth waits one interval");
        assert_eq!(l.charge_at("k", rate, 1, t0 + 5 * SEC), Err(15 * SEC), "refusals charge nothing");
        l.charge_at("k", rate, 1, t0 + 20 * SEC).unwrap();
        assert!(l.charge_at("k", rate, 1, t0 + 20 * SEC).is_err());
        assert!(l.charge_at("other", rate, 1, t0).is_ok(), "keys are independent");
        assert_eq!(l.peek_at("k", rate, 1, t0 + 39 * SEC), Err(SEC));
        assert_eq!(l.peek_at("k", rate, 1, t0 + 40 * SEC), Ok(()));
        assert_eq!(l.peek_at("k", rate, 1, t0 + 40 * SEC), Ok(()), "peeking charges nothing");
        // After a quiet period the full burst is back.
        for _ in 0..3 {
            l.charge_at("k", rate, 1, t0 + 200 * SEC).unwrap();
        }
        assert!(l.charge_at("k", Rate::OFF, 1, t0).is_ok(), "off is never limited");
        assert_eq!(retry_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_secs(Duration::ZERO), 1);
    }

    #[test]
    fn memory_is_bounded_when_keys_rotate() {
        let l = MemoryLimiter::new(1000);
        let rate = Rate::per(5, 3600 * SEC);
        let t0 = Instant::now();
        for i in 0..50_000 {
            l.charge_at(&format!("k{i}"), rate, 1, t0 + Duration::from_millis(i)).unwrap();
            assert!(l.len() <= 1000);
        }
        // The newest keys are remembered: they are the furthest from expiry.
        let late = t0 + Duration::from_millis(50_000);
        for _ in 0..4 {
            l.charge_at("k49999", rate, 1, late).unwrap();
        }
        assert!(l.charge_at("k49999", rate, 1, late).is_err());
        // Expired keys are swept (at most once a minute) even without pressure.
        let l = MemoryLimiter::new(1000);
        for i in 0..100 {
            l.charge_at(&format!("k{i}"), Rate::per(10, SEC), 1, t0).unwrap();
        }
        assert_eq!(l.len(), 100);
        l.charge_at("late", Rate::per(10, SEC), 1, t0 + 120 * SEC).unwrap();
        assert_eq!(l.len(), 1);
    }

    #[test]
    fn proxies_are_believed_only_when_trusted() {
        let trusted: Vec<Cidr> = vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "198.51.100.7, 203.0.113.9, 10.1.2.3".parse().unwrap());
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_ip(Some(ip("192.0.2.1")), &h, &trusted), ip("192.0.2.1"), "an untrusted peer's header is ignored");
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &h, &trusted),
            ip("203.0.113.9"),
            "the rightmost untrusted hop, not the forgeable leftmost"
        );
        assert_eq!(client_ip(Some(ip("::1")), &HeaderMap::new(), &trusted), ip("::1"), "no header: the proxy itself");
        h.insert("x-forwarded-for", "garbage, 10.9.9.9".parse().unwrap());
        assert_eq!(client_ip(Some(ip("10.0.0.1")), &h, &trusted), ip("10.9.9.9"), "an unreadable hop stops the walk");
        h.insert("x-forwarded-for", "[2001:db8::5]:443".parse().unwrap());
        assert_eq!(client_ip(Some(ip("::ffff:10.0.0.1")), &h, &trusted), ip("2001:db8::5"), "mapped peers and hops with ports");
        assert_eq!(client_ip(None, &h, &trusted), ip("0.0.0.0"));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err() && "proxy".parse::<Cidr>().is_err());
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!(!"0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("2001:db8::1")));
        assert!("2001:db8::/32".parse::<Cidr>().unwrap().contains(ip("2001:db8:ffff::1")));
    }

    #[test]
    fn ipv6_clients_are_counted_per_64() {
        assert_eq!(address_key("2001:db8:1:2:aaaa::1".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9".parse().unwrap()), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:192.0.2.4".parse().unwrap()), "192.0.2.4");
    }

    #[tokio::test]
    async fn limits_refuse_with_a_chinese_429_and_handoffs_follow_the_address() {
        let config = LimitConfig {
            sessions_per_address: Rate::per(2, 60 * SEC),
            handoffs_per_address: Rate::per(1, 3600 * SEC),
            ..LimitConfig::default()
        };
        let limits = Limits::new(config);
        limits.charge(Bucket::SessionsPerAddress, "192.0.2.1").await.unwrap();
        limits.charge(Bucket::SessionsPerAddress, "192.0.2.1").await.unwrap();
        let e = limits.charge(Bucket::SessionsPerAddress, "192.0.2.1").await.unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("rate_limited", 429));
        assert!(e.to_string().contains("新建会话过于频繁") && e.to_string().contains("30 秒"), "{e}");
        limits.charge(Bucket::SessionsPerAddress, "192.0.2.2").await.unwrap();
        // Two sessions used from one address share its handoff budget; an unseen one does not.
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        limits.seen("a", ip);
        limits.seen("b", ip);
        limits.handoff("a").await.unwrap();
        assert_eq!(limits.handoff("b").await.unwrap_err().code(), "rate_limited");
        limits.handoff("c").await.unwrap();
        assert_eq!(limits.last_address("a"), Some(ip));
    }

    #[test]
    fn refusals_are_429_with_retry_after() {
        let res = Bucket::LookupsPerAddress.refusal(42).into_response();
        assert_eq!(res.status().as_u16(), 429);
        assert_eq!(res.headers()[axum::http::header::RETRY_AFTER], "42");
    }

    #[test]
    fn upload_room_refuses_over_the_session_quota_for_good_and_over_the_day_until_midnight() {
        let room = UploadRoom {
            session_left: Some(100),
            day_left: Some(50),
            per_session: 3 * 1024 * 1024,
            per_day: 1024,
            since: String::new(),
            until_tomorrow: 3600,
        };
        assert!(room.check(50).is_ok());
        let day = room.check(51).unwrap_err();
        assert_eq!((day.code(), day.status().as_u16()), ("rate_limited", 429));
        assert!(matches!(day, ApiError::RateLimited(_, 3600)));
        let session = room.check(101).unwrap_err();
        assert_eq!(session.code(), "conflict");
        assert!(session.to_string().contains("3 MB"), "{session}");
        let unlimited =
            UploadRoom { session_left: None, day_left: None, per_session: 0, per_day: 0, since: String::new(), until_tomorrow: 1 };
        assert!(unlimited.check(u64::MAX).is_ok());
        let (since, secs) = local_day();
        assert!(since.ends_with('Z') && since.len() == 24 && (1..=86400 + 3600).contains(&secs), "{since} {secs}");
    }

    #[test]
    fn session_ids_are_read_from_the_path() {
        assert_eq!(session_in_path("/api/v1/sessions/abc/messages"), Some("abc"));
        assert_eq!(session_in_path("/api/v1/sessions"), None);
        assert_eq!(session_in_path("/api/v1/sessions//x"), None);
        assert_eq!(buckets(&Method::POST, "/api/v1/sessions/{id}/messages"), &[Bucket::MessagesPerAddress, Bucket::MessagesPerSession]);
        assert!(buckets(&Method::GET, "/api/v1/sessions/{id}/messages").is_empty());
    }
}
