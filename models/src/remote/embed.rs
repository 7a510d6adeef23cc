//! [`RemoteEmbed`]: an [`Embed`] on a server's `/v1/embeddings`.
//!
//! Texts are sent with their e5 prefix (`query: `/`passage: `) already in place, as e5 servers
//! expect (banshi's node embeds them as given), in batches of [`BATCH`]. Vectors are
//! L2-normalised here, whether or not the server did: the index compares by dot product.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Semaphore;

use super::{send, Breaker, RemoteConfig};
use crate::embedder::TextKind;
use crate::openai::{EmbeddingInput, EmbeddingRequest, EmbeddingResponse};
use crate::port::Embed;
use crate::ModelError;

/// Texts per request: small enough for any server's batch limit.
pub const BATCH: usize = 32;

/// An embedder served elsewhere. Cloning shares the pool, limit and breaker.
#[derive(Clone)]
pub struct RemoteEmbed {
    cfg: Arc<RemoteConfig>,
    http: reqwest::Client,
    slots: Arc<Semaphore>,
    breaker: Arc<Breaker>,
    dim: Arc<AtomicUsize>,
}

impl RemoteEmbed {
    /// Connect to the server and learn its vectors' length by embedding one short query.
    ///
    /// Fails with [`ModelError::Unavailable`] naming the URL when the server cannot be reached
    /// (after the configured retries), so a misconfigured replica stops at start: the vector
    /// index cannot be opened without knowing the length.
    pub async fn connect(cfg: RemoteConfig) -> Result<Self, ModelError> {
        let e = RemoteEmbed {
            http: cfg.client()?,
            slots: Arc::new(Semaphore::new(cfg.max_in_flight.max(1))),
            breaker: Arc::new(Breaker::new(cfg.breaker_failures, cfg.breaker_cooldown)),
            cfg: Arc::new(cfg),
            dim: Arc::new(AtomicUsize::new(0)),
        };
        let probe = e.request(&["query: 办事".to_string()]).await?;
        e.dim.store(probe[0].len(), Ordering::Relaxed);
        Ok(e)
    }

    pub fn url(&self) -> &str {
        &self.cfg.url
    }

    /// One request for `texts` (at most [`BATCH`]); vectors in input order, normalised.
    async fn request(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let url = self.cfg.endpoint("embeddings");
        let body = EmbeddingRequest {
            model: self.cfg.model.clone(),
            input: EmbeddingInput::Many(texts.to_vec()),
            encoding_format: Some("float".into()),
        };
        let resp = send(&self.cfg, &self.breaker, || self.http.post(&url).timeout(self.cfg.request_timeout).json(&body)).await?;
        let parsed: EmbeddingResponse = resp.json().await.map_err(|e| self.broken(format!("unreadable embeddings: {e}")))?;
        let mut data = parsed.data;
        data.sort_by_key(|d| d.index);
        if data.len() != texts.len() || data.iter().enumerate().any(|(i, d)| d.index != i) {
            return Err(self.broken(format!("{} vectors for {} texts", data.len(), texts.len())));
        }
        let want = self.dim.load(Ordering::Relaxed);
        if data.iter().any(|d| d.embedding.is_empty() || (want != 0 && d.embedding.len() != want)) {
            return Err(self.broken(format!("vectors of the wrong length (expected {want})")));
        }
        self.breaker.success();
        Ok(data.into_iter().map(|d| normalised(d.embedding)).collect())
    }

    fn broken(&self, why: String) -> ModelError {
        self.breaker.failure();
        ModelError::Failed(format!("model server {}: {why}", self.cfg.url))
    }

    async fn embed_all(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        let texts: Vec<String> = texts.into_iter().map(|t| format!("{}{t}", kind.prefix())).collect();
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            out.extend(self.request(batch).await?);
        }
        Ok(out)
    }
}

#[async_trait]
impl Embed for RemoteEmbed {
    fn dim(&self) -> Option<usize> {
        Some(self.dim.load(Ordering::Relaxed)).filter(|d| *d > 0)
    }

    /// Waits for a free slot, and retries while the server is saturated (429) for as long as
    /// a request may take: indexing should finish, not fail, on a busy node.
    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        let _slot = self.slots.acquire().await.map_err(|_| ModelError::Unavailable("embedder client closed".into()))?;
        let deadline = tokio::time::Instant::now() + self.cfg.request_timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.embed_all(texts.clone(), kind).await {
                Err(ModelError::Busy) if tokio::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    async fn try_embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        let _slot = self.slots.clone().try_acquire_owned().map_err(|_| ModelError::Busy)?;
        self.embed_all(texts, kind).await
    }
}

fn normalised(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}
