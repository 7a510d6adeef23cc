//! `banshi serve-models`: this machine's models on the OpenAI-compatible API.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use banshi_models::{ChatModel, Embed};
use banshi_server::model_node::{router, ModelNode};

use crate::Common;

#[derive(clap::Args, Debug)]
pub struct ModelNodeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is printed).
    /// The API has no authentication of its own: bind it to a private network.
    #[arg(long, env = "BANSHI_MODEL_NODE_ADDR", default_value = "127.0.0.1:8081")]
    addr: SocketAddr,
    /// Jobs that may wait for the compute thread; beyond it requests get 429 at once.
    #[arg(long, env = "BANSHI_MODEL_NODE_QUEUE", default_value_t = 64)]
    queue: usize,
    /// `Retry-After` seconds sent with 429.
    #[arg(long, env = "BANSHI_MODEL_NODE_RETRY_AFTER", default_value_t = 2)]
    retry_after: u64,
}

pub async fn run(common: &Common, args: ModelNodeArgs) -> anyhow::Result<()> {
    let compute = super::start_compute_queued(common, super::Need::EmbedderAndGenerator, args.queue)?;
    if !compute.has_generator() && compute.embed_dim().is_none() {
        anyhow::bail!("no models in {} to serve (run `banshi models fetch`)", common.models_dir().display());
    }
    let node = ModelNode {
        chat: compute.has_generator().then(|| Arc::new(compute.clone()) as Arc<dyn ChatModel>),
        embed: compute.embed_dim().map(|_| Arc::new(compute.clone()) as Arc<dyn Embed>),
        chat_name: common.remote.llm_model.clone(),
        embed_name: common.remote.embedder_model.clone(),
        retry_after_secs: args.retry_after,
    };
    if let Some(chat) = &node.chat {
        chat.warm(&banshi_assistant::prompt::system_turn());
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
    let bound = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("banshi model node listening on http://{bound} (generator: {}, embedder: {})", node.chat.is_some(), node.embed.is_some());
    axum::serve(listener, router(node)).with_graceful_shutdown(super::serve::shutdown_signal()).await?;
    Ok(())
}
