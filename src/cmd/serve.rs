//! `banshi serve`: the HTTP service on the embedded default (SQLite + qdrant-edge + local models).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use banshi_assistant::appeal::AppealModel;
use banshi_assistant::Assistant;
use banshi_server::store::{SqliteStore, Store};
use banshi_server::records::StoreRecords;
use banshi_server::{AppState, Config};

use crate::Common;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is printed).
    #[arg(long, env = "BANSHI_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Database URL; default: `sqlite://<data-dir>/banshi.db`.
    #[arg(long, env = "BANSHI_DATABASE_URL")]
    database_url: Option<String>,
    /// Answers produced at once (the model is shared: more than 1 only interleaves).
    #[arg(long, env = "BANSHI_MAX_IN_FLIGHT", default_value_t = 1)]
    max_in_flight: usize,
    /// Answers that may wait for a slot, each told its queue position; beyond this, 429.
    #[arg(long, env = "BANSHI_MAX_WAITING", default_value_t = 8)]
    max_waiting: usize,
    /// `Retry-After` seconds sent with 429.
    #[arg(long, env = "BANSHI_RETRY_AFTER", default_value_t = 10)]
    retry_after: u64,
    /// Longest citizen message, in characters.
    #[arg(long, env = "BANSHI_MAX_MESSAGE_CHARS", default_value_t = 500)]
    max_message_chars: usize,
    /// Largest request body, in bytes.
    #[arg(long, env = "BANSHI_MAX_BODY_BYTES", default_value_t = 16 * 1024)]
    max_body_bytes: usize,
    /// Origins allowed by CORS, comma-separated (mini-program / H5 origins; `*` for any).
    #[arg(long, env = "BANSHI_CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    /// Largest uploaded file (pre-review), in bytes.
    #[arg(long, env = "BANSHI_MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024)]
    max_upload_bytes: usize,
    /// Files one conversation may upload.
    #[arg(long, env = "BANSHI_MAX_UPLOADS", default_value_t = 30)]
    max_uploads: usize,
    /// Seconds in-flight answers get to finish after SIGTERM / Ctrl-C.
    #[arg(long, env = "BANSHI_SHUTDOWN_GRACE", default_value_t = 30)]
    shutdown_grace: u64,
}

pub async fn run(common: &Common, args: ServeArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.database_url {
        let expected = format!("sqlite://{}", common.data_dir.join("banshi.db").display());
        if url != &expected {
            bail!("database URL {url}: this build stores in the data dir's SQLite file ({expected}); other databases plug in behind the server's Store trait");
        }
    }
    let compute = super::start_compute(common, super::Need::EmbedderAndGenerator)?;
    let models_ready = common.no_models || (compute.embed_dim().is_some() && compute.has_generator());
    let kb = Arc::new(super::open_kb(common, Some(compute.clone())).await?);
    let live = kb.store.count_live().await?;
    if live == 0 {
        tracing::warn!("the knowledge base in {} is empty: run `banshi ingest` (readyz reports not ready)", common.data_dir.display());
    }
    let store: Arc<dyn Store> = Arc::new(SqliteStore::new(kb.store.pool().clone()).await?);
    let appeal = AppealModel::load_or_seed(&common.data_dir)?;
    tracing::info!(trained_on = %appeal.trained_on, "appeal classifier loaded");
    let records = Arc::new(StoreRecords(store.clone()));
    let assistant = Arc::new(Assistant::new(kb, Some(compute)).with_appeal_model(appeal).with_records(records.clone(), records));
    assistant.warm();
    let config = Config {
        max_message_chars: args.max_message_chars,
        max_body_bytes: args.max_body_bytes,
        max_in_flight: args.max_in_flight,
        max_waiting: args.max_waiting,
        retry_after_secs: args.retry_after,
        cors_origins: args.cors_origins,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        uploads_dir: common.data_dir.join("uploads"),
        max_upload_bytes: args.max_upload_bytes,
        max_uploads_per_session: args.max_uploads,
    };
    let app = AppState::new(config, store, assistant, models_ready);
    let listener = tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
    let bound = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("banshi listening on http://{bound} ({live} guides)");
    tracing::info!(%bound, live, "serving");
    banshi_server::serve(app, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
}
