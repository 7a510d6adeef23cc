//! Which models a command uses and where they run: in this process (the default), or on model
//! servers speaking the OpenAI-compatible API (`--llm-url`, `--embedder-url`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use banshi_models::remote::{RemoteChat, RemoteConfig, RemoteEmbed};
use banshi_models::{ChatModel, ComputeHandle, Embed};

use super::Need;

use crate::Common;

/// Model servers, shared by every subcommand that answers or embeds.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct RemoteArgs {
    /// Language model server (OpenAI-compatible `/v1/chat/completions`: `banshi serve-models`,
    /// llama.cpp's server, vLLM, TGI), e.g. `http://10.0.0.5:8081`. Unset: the local generator.
    #[arg(long, env = "BANSHI_LLM_URL", global = true)]
    pub llm_url: Option<String>,
    /// The `model` name sent to the language model server.
    #[arg(long, env = "BANSHI_LLM_MODEL", default_value = "qwen2.5-instruct", global = true)]
    pub llm_model: String,
    /// Embedding server (OpenAI-compatible `/v1/embeddings`) serving the same e5 model the
    /// index was built with. Unset: the local embedder.
    #[arg(long, env = "BANSHI_EMBEDDER_URL", global = true)]
    pub embedder_url: Option<String>,
    /// The `model` name sent to the embedding server.
    #[arg(long, env = "BANSHI_EMBEDDER_MODEL", default_value = "multilingual-e5-small", global = true)]
    pub embedder_model: String,
    /// Bearer token for the model servers.
    #[arg(long, env = "BANSHI_MODEL_API_KEY", hide_env_values = true, global = true)]
    pub model_api_key: Option<String>,
    /// Seconds to wait for an embedding, or for the first piece of an answer (prefill included).
    #[arg(long, env = "BANSHI_MODEL_TIMEOUT", default_value_t = 60, global = true)]
    pub model_timeout: u64,
    /// Seconds an answer may pause between pieces before it is cut off.
    #[arg(long, env = "BANSHI_MODEL_IDLE_TIMEOUT", default_value_t = 20, global = true)]
    pub model_idle_timeout: u64,
    /// Extra attempts for a model request that did not start (refused connection, 5xx).
    #[arg(long, env = "BANSHI_MODEL_RETRIES", default_value_t = 2, global = true)]
    pub model_retries: u32,
    /// Requests open to each model server at once; beyond it the model is "busy" (answers fall
    /// back to the guide's words).
    #[arg(long, env = "BANSHI_MODEL_MAX_IN_FLIGHT", default_value_t = 8, global = true)]
    pub model_max_in_flight: usize,
    /// Failures in a row after which a model server is not asked for the cool-down.
    #[arg(long, env = "BANSHI_MODEL_BREAKER_FAILURES", default_value_t = 3, global = true)]
    pub model_breaker_failures: u32,
    /// Seconds a failing model server is left alone before one request probes it.
    #[arg(long, env = "BANSHI_MODEL_BREAKER_COOLDOWN", default_value_t = 10, global = true)]
    pub model_breaker_cooldown: u64,
}

impl RemoteArgs {
    fn config(&self, url: &str, model: &str) -> RemoteConfig {
        let mut c = RemoteConfig::new(url, model);
        c.api_key = self.model_api_key.clone().filter(|k| !k.is_empty());
        c.request_timeout = Duration::from_secs(self.model_timeout.max(1));
        c.idle_timeout = Duration::from_secs(self.model_idle_timeout.max(1));
        c.retries = self.model_retries;
        c.max_in_flight = self.model_max_in_flight;
        c.breaker_failures = self.model_breaker_failures;
        c.breaker_cooldown = Duration::from_secs(self.model_breaker_cooldown);
        c
    }
}

/// The models of one command.
pub struct ModelSet {
    /// In-process models: OCR, the fine-tuned appeal classifier, and whatever is not served.
    pub compute: ComputeHandle,
    /// Who writes answers; `None` without a generator (answers are extractive).
    pub chat: Option<Arc<dyn ChatModel>>,
    /// Who embeds; `None` without an embedder (retrieval by words only).
    pub embed: Option<Arc<dyn Embed>>,
}

impl ModelSet {
    /// Whether answers can be generated and questions embedded.
    pub fn complete(&self) -> bool {
        self.chat.as_ref().is_some_and(|c| c.available()) && self.embed.as_ref().is_some_and(|e| e.dim().is_some())
    }
}

/// Start the local models `need` asks for, except those served elsewhere. An embedding server
/// that cannot be reached is an error naming it; a language model server is only asked when
/// answering (while it is down, answers are the guide's words).
pub async fn start(common: &Common, need: Need) -> anyhow::Result<ModelSet> {
    let remote = &common.remote;
    let local = super::Local { embedder: remote.embedder_url.is_none(), generator: remote.llm_url.is_none() };
    let compute = super::start_local(common, need, local, super::COMPUTE_QUEUE)?;
    let wants_generator = need == Need::EmbedderAndGenerator;
    let chat: Option<Arc<dyn ChatModel>> = match &remote.llm_url {
        Some(url) if wants_generator && !common.no_models => Some(Arc::new(RemoteChat::new(remote.config(url, &remote.llm_model))?)),
        _ if compute.has_generator() => Some(Arc::new(compute.clone())),
        _ => None,
    };
    let embed: Option<Arc<dyn Embed>> = match &remote.embedder_url {
        Some(url) if need != Need::Ocr && !common.no_models => {
            let e = RemoteEmbed::connect(remote.config(url, &remote.embedder_model))
                .await
                .with_context(|| format!("the embedding server (--embedder-url {url})"))?;
            if e.dim() != Some(banshi_knowledge::DENSE_DIM) {
                anyhow::bail!(
                    "the embedding server (--embedder-url {url}) makes {:?}-dim vectors; the index holds {}-dim e5-small vectors: serve the same model",
                    e.dim(),
                    banshi_knowledge::DENSE_DIM
                );
            }
            tracing::info!(url, dim = e.dim(), "embedding on a model server");
            Some(Arc::new(e))
        }
        _ if compute.embed_dim().is_some() => Some(Arc::new(compute.clone())),
        _ => None,
    };
    Ok(ModelSet { compute, chat, embed })
}
