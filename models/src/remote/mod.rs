//! Model servers: [`RemoteChat`] and [`RemoteEmbed`] implement the model ports over the
//! OpenAI-compatible API ([`crate::openai`]), so web replicas hold no weights and model nodes
//! (banshi's own `serve-models`, llama.cpp's server, vLLM, TGI) can be added behind them.
//!
//! Failure handling, the same for both:
//! - **Timeouts**: connecting, the whole of an embedding request, the first piece of an answer
//!   (prefill included) and each later piece, separately.
//! - **Retries**: a request that did not start (connection refused, 5xx) is retried with
//!   exponential backoff; a timed-out one is not (the caller already waited); a started answer
//!   is never re-sent (its text has reached the citizen), it ends with
//!   [`GenEvent::Error`](crate::GenEvent::Error).
//! - **Backpressure**: at most `max_in_flight` requests are open to the server; beyond that,
//!   and when the server itself answers 429, callers get [`ModelError::Busy`] at once (the
//!   assistant then answers from the guide's words, the HTTP API with 429).
//! - **Circuit breaker** ([`Breaker`]): after `breaker_failures` failures in a row the server
//!   is not asked for `breaker_cooldown`; then one request probes it, and success (for an
//!   answer, its first piece) closes the circuit. Wrong URLs and keys (401/403/404) count as
//!   failures too, so readiness shows them. While open, calls fail at once with [`ModelError::Unavailable`], so a dead model
//!   node costs citizens nothing but the model's part of the answer.

mod breaker;
mod chat;
mod embed;

use std::time::Duration;

pub use breaker::Breaker;
pub use chat::{RemoteChat, CONTINUED_HEADER};
pub use embed::RemoteEmbed;

use crate::openai::ErrorBody;
use crate::ModelError;

/// Where a model server is and how patiently to talk to it.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// Base URL (`http://10.0.0.5:8081`); `/v1/…` is appended.
    pub url: String,
    /// The `model` field of requests (servers that host one model ignore it).
    pub model: String,
    /// Sent as `Authorization: Bearer …` when set.
    pub api_key: Option<String>,
    pub connect_timeout: Duration,
    /// Whole embedding request; the first piece of a chat answer.
    pub request_timeout: Duration,
    /// Longest pause between two pieces of a chat answer.
    pub idle_timeout: Duration,
    /// Extra attempts for a request that did not start.
    pub retries: u32,
    /// Requests open to the server at once; beyond it, `Busy`.
    pub max_in_flight: usize,
    pub breaker_failures: u32,
    pub breaker_cooldown: Duration,
}

impl RemoteConfig {
    /// Defaults for a server at `url` serving `model`.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        RemoteConfig {
            // `/v1/…` is appended: a base URL given with it would ask `/v1/v1/…`.
            url: url.into().trim_end_matches('/').trim_end_matches("/v1").to_string(),
            model: model.into(),
            api_key: None,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(20),
            retries: 2,
            max_in_flight: 8,
            breaker_failures: 3,
            breaker_cooldown: Duration::from_secs(10),
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/v1/{path}", self.url)
    }

    /// An HTTP client; fails when the URL is not an http(s) URL.
    fn client(&self) -> Result<reqwest::Client, ModelError> {
        match reqwest::Url::parse(&self.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(ModelError::Unavailable(format!("{:?} is not a model server URL (http://host:port)", self.url))),
        }
        reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ModelError::Unavailable(format!("HTTP client: {e}")))
    }

    fn authorize(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }
}

/// What went wrong with one attempt, and whether another attempt may help.
#[derive(Debug)]
enum Attempt {
    /// The server could not be reached or broke (refused connection, 5xx): retry, and count it
    /// against the circuit.
    Down(String),
    /// No answer in time: count it, but do not retry (the caller already waited long).
    TimedOut(String),
    /// The server is saturated (429): not a failure of the server.
    Busy,
    /// The URL or credentials are wrong (401, 403, 404): every request will fail alike, so
    /// count it against the circuit (readiness shows it) without retrying.
    Misconfigured(String),
    /// This request was refused (other 4xx): retrying cannot help, the server is fine.
    Refused(String),
}

impl Attempt {
    fn into_error(self, url: &str) -> ModelError {
        match self {
            Attempt::Down(why) | Attempt::TimedOut(why) => ModelError::Unavailable(format!("model server {url}: {why}")),
            Attempt::Misconfigured(why) => {
                ModelError::Unavailable(format!("model server {url}: {why} (check the URL, model name and API key)"))
            }
            Attempt::Busy => ModelError::Busy,
            Attempt::Refused(why) => ModelError::Failed(format!("model server {url} refused the request: {why}")),
        }
    }
}

/// Send one request and classify a failed answer.
async fn attempt(req: reqwest::RequestBuilder) -> Result<reqwest::Response, Attempt> {
    let resp = req.send().await.map_err(|e| if e.is_timeout() { Attempt::TimedOut(describe(&e)) } else { Attempt::Down(describe(&e)) })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(resp);
    }
    let body = resp.text().await.unwrap_or_default();
    let why = serde_json::from_str::<ErrorBody>(&body).map(|b| b.error.message).unwrap_or(body);
    let why = format!("HTTP {status}: {}", why.chars().take(200).collect::<String>());
    Err(match status.as_u16() {
        429 => Attempt::Busy,
        401 | 403 | 404 => Attempt::Misconfigured(why),
        500..=599 => Attempt::Down(why),
        _ => Attempt::Refused(why),
    })
}

/// Send `make()` until the server answers, at most `retries + 1` times, counting failures
/// against `breaker`. The whole call waits at most `request_timeout` per attempt for the
/// response head; a timed-out attempt is not retried. A success is not recorded here: the
/// caller records it once the body proves the server works (a stream's first piece).
async fn send(cfg: &RemoteConfig, breaker: &Breaker, make: impl Fn() -> reqwest::RequestBuilder) -> Result<reqwest::Response, ModelError> {
    let mut last = Attempt::Down("not tried".into());
    for n in 0..=cfg.retries {
        breaker.admit(&cfg.url)?;
        if n > 0 {
            tokio::time::sleep(Duration::from_millis(200 << (n - 1).min(5))).await;
        }
        let answered = tokio::time::timeout(cfg.request_timeout, attempt(cfg.authorize(make())));
        let outcome = answered.await.unwrap_or_else(|_| Err(Attempt::TimedOut(format!("no answer within {:?}", cfg.request_timeout))));
        match outcome {
            Ok(resp) => return Ok(resp),
            Err(Attempt::Down(why)) => {
                tracing::warn!(url = %cfg.url, attempt = n + 1, "model server: {why}");
                breaker.failure();
                last = Attempt::Down(why);
            }
            Err(a @ (Attempt::TimedOut(_) | Attempt::Misconfigured(_))) => {
                tracing::warn!(url = %cfg.url, "model server: {a:?}");
                breaker.failure();
                return Err(a.into_error(&cfg.url));
            }
            Err(other) => {
                // The server answered: it is up.
                breaker.success();
                return Err(other.into_error(&cfg.url));
            }
        }
    }
    Err(last.into_error(&cfg.url))
}

/// A reqwest error in a few words (its `Display` hides whether it timed out or was refused).
fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_decode() || e.is_body() {
        "broken response"
    } else {
        "request failed"
    };
    let mut cause = String::new();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        cause = s.to_string();
        src = s.source();
    }
    if cause.is_empty() {
        what.to_string()
    } else {
        format!("{what} ({cause})")
    }
}
