//! [`RemoteChat`]: a [`ChatModel`] on a server's streamed `/v1/chat/completions`.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::{send, Breaker, RemoteConfig};
use crate::compute::GenEvent;
use crate::openai::{ChatChunk, ChatRequest};
use crate::port::{ChatModel, Message, Role, TokenStream};
use crate::{GenParams, GenStats, ModelError};

/// Response header by which a server (banshi's node) says it continued a final assistant
/// message, so the answer needs no check for a repeated opening.
pub const CONTINUED_HEADER: &str = "x-continued-final-message";

/// Pieces buffered between the network task and a slow reader.
const STREAM_BUFFER: usize = 64;

/// A chat model served elsewhere. Cloning shares the connection pool, the in-flight limit and
/// the circuit breaker.
#[derive(Clone)]
pub struct RemoteChat {
    cfg: Arc<RemoteConfig>,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
    breaker: Arc<Breaker>,
}

impl RemoteChat {
    /// A client for `cfg`; nothing is sent until the first answer (a server that is down at
    /// start only makes answers extractive until it is up).
    pub fn new(cfg: RemoteConfig) -> Result<Self, ModelError> {
        Ok(RemoteChat {
            http: cfg.client()?,
            slots: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            breaker: Arc::new(Breaker::new(cfg.breaker_failures, cfg.breaker_cooldown)),
            cfg: Arc::new(cfg),
        })
    }

    pub fn url(&self) -> &str {
        &self.cfg.url
    }
}

#[async_trait]
impl ChatModel for RemoteChat {
    fn available(&self) -> bool {
        true
    }

    async fn chat(&self, messages: Vec<Message>, params: GenParams) -> Result<TokenStream, ModelError> {
        let permit = self.slots.clone().try_acquire_owned().map_err(|_| ModelError::Busy)?;
        let opening = match messages.last() {
            Some(m) if m.role == Role::Assistant => m.content.clone(),
            _ => String::new(),
        };
        let body = ChatRequest::streamed(&self.cfg.model, messages, &params);
        let url = self.cfg.endpoint("chat/completions");
        let asked = Instant::now();
        let resp = send(&self.cfg, &self.breaker, || self.http.post(&url).json(&body)).await?;
        // A server that says it continued the opening is taken at its word.
        let opening = if resp.headers().contains_key(CONTINUED_HEADER) { String::new() } else { opening };
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let reader = Reader { cfg: self.cfg.clone(), breaker: self.breaker.clone(), opening, asked, _permit: permit };
        tokio::spawn(reader.run(resp, tx));
        Ok(TokenStream::new(rx))
    }

    /// A remote server keeps its own prompt cache: nothing to prepare from here.
    fn warm(&self, _messages: &[Message]) {}

    fn failing(&self) -> Option<String> {
        self.breaker.is_open().then(|| format!("model server {} is failing: answers are the guides' words until it recovers", self.cfg.url))
    }
}

/// Reads one streamed answer into [`GenEvent`]s.
struct Reader {
    cfg: Arc<RemoteConfig>,
    breaker: Arc<Breaker>,
    /// The answer's forced opening. A server that does not continue a final assistant message
    /// starts a new answer, which then repeats it: [`Opening`] drops the repeat. (Against such
    /// a server an answer that truly continues with the opening's own text loses it; servers
    /// that continue, and say so with [`CONTINUED_HEADER`], are not checked.)
    opening: String,
    /// When the answer was asked for: the first piece's deadline counts from here.
    asked: Instant,
    /// Held until the answer ends: the in-flight limit counts open streams.
    _permit: OwnedSemaphorePermit,
}

impl Reader {
    async fn run(self, resp: reqwest::Response, tx: mpsc::Sender<GenEvent>) {
        let mut events = resp.bytes_stream().eventsource();
        let mut opening = Opening::new(&self.opening);
        let mut stats = GenStats::default();
        let mut first: Option<Instant> = None;
        let mut finish = None;
        loop {
            // The first piece may take the prefill, counted from the request; later ones may
            // each pause at most the idle timeout.
            let deadline = match first {
                Some(_) => tokio::time::Instant::now() + self.cfg.idle_timeout,
                None => tokio::time::Instant::from_std(self.asked + self.cfg.request_timeout),
            };
            let next = tokio::select! {
                // The reader went away: returning drops the response, which closes the
                // connection and stops the server's generation.
                _ = tx.closed() => return,
                r = tokio::time::timeout_at(deadline, events.next()) => r,
            };
            let data = match next {
                Err(_) => return self.fail(&tx, "no text in time".to_string()).await,
                // A server that ends the stream after its finish reason without `[DONE]`
                // still finished the answer.
                Ok(None) if finish.is_some() => break,
                Ok(None) => return self.fail(&tx, "the stream ended without [DONE]".to_string()).await,
                Ok(Some(Err(e))) => return self.fail(&tx, format!("broken stream: {e}")).await,
                Ok(Some(Ok(ev))) if ev.event == "error" => return self.fail(&tx, format!("error in the stream: {}", ev.data)).await,
                Ok(Some(Ok(ev))) => ev.data,
            };
            if data.trim() == "[DONE]" {
                break;
            }
            let chunk: ChatChunk = match serde_json::from_str(&data) {
                Ok(ChatChunk { error: Some(e), .. }) => return self.fail(&tx, format!("error in the stream: {}", e.message)).await,
                Ok(c) => c,
                Err(_) => return self.fail(&tx, format!("unreadable piece: {}", data.chars().take(200).collect::<String>())).await,
            };
            if let Some(u) = chunk.usage {
                stats.prompt_tokens = u.prompt_tokens;
                stats.generated_tokens = u.completion_tokens;
            }
            for choice in chunk.choices {
                finish = choice.finish_reason.or(finish);
                let Some(text) = choice.delta.content.map(|t| opening.strip(t)).filter(|t| !t.is_empty()) else { continue };
                if first.is_none() {
                    // The server works: close the circuit on an answer, not on its headers.
                    self.breaker.success();
                    first = Some(Instant::now());
                }
                stats.decode_steps += 1;
                if tx.send(GenEvent::Text(text)).await.is_err() {
                    return;
                }
            }
        }
        self.breaker.success();
        let held = opening.finish();
        if !held.is_empty() && tx.send(GenEvent::Text(held)).await.is_err() {
            return;
        }
        let first = first.unwrap_or_else(Instant::now);
        stats.prefill_seconds = (first - self.asked).as_secs_f64();
        stats.decode_seconds = first.elapsed().as_secs_f64();
        if stats.generated_tokens == 0 {
            stats.generated_tokens = stats.decode_steps;
        }
        stats.stopped_by_eos = finish.as_deref() == Some("stop");
        let _ = tx.send(GenEvent::Done(stats)).await;
    }

    async fn fail(&self, tx: &mpsc::Sender<GenEvent>, why: String) {
        tracing::warn!(url = %self.cfg.url, "model server answer broke off: {why}");
        self.breaker.failure();
        let _ = tx.send(GenEvent::Error(ModelError::Failed(format!("model server {}: {why}", self.cfg.url)))).await;
    }
}

/// Drops a repeat of the forced opening at the start of the answer.
struct Opening {
    /// The opening still to be recognised; empty once decided.
    expected: String,
    held: String,
}

impl Opening {
    fn new(opening: &str) -> Self {
        Opening { expected: opening.trim().to_string(), held: String::new() }
    }

    /// `piece` as it should reach the caller: text that may still be the repeat is held back
    /// until it is known either way.
    fn strip(&mut self, piece: String) -> String {
        if self.expected.is_empty() {
            return std::mem::take(&mut self.held) + &piece;
        }
        self.held.push_str(&piece);
        let start = self.held.trim_start();
        if let Some(after) = start.strip_prefix(self.expected.as_str()) {
            let after = after.to_string();
            self.expected.clear();
            self.held.clear();
            return after;
        }
        if self.expected.starts_with(start) {
            return String::new();
        }
        self.expected.clear();
        std::mem::take(&mut self.held)
    }

    /// Text still held when the answer ends (a prefix of the opening, not a repeat).
    fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(opening: &str, pieces: &[&str]) -> String {
        let mut o = Opening::new(opening);
        let mut out: String = pieces.iter().map(|p| o.strip(p.to_string())).collect();
        out.push_str(&o.finish());
        out
    }

    #[test]
    fn a_repeated_opening_is_dropped_and_a_continuation_kept() {
        assert_eq!(run("{", &["{\"姓名\"", ": 1}"]), "\"姓名\": 1}");
        assert_eq!(run("{", &["\n", " {", "\"a\":1}"]), "\"a\":1}");
        assert_eq!(run("{", &["\"a\"", ":1}"]), "\"a\":1}");
        assert_eq!(run("答：", &["答", "：好"]), "好");
        assert_eq!(run("答：", &["答", "复"]), "答复");
        assert_eq!(run("", &["你好"]), "你好");
    }
}
