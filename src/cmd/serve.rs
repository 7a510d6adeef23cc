//! `banshi serve`: the HTTP service on the embedded default (SQLite + qdrant-edge + local models),
//! or with its models on model servers (`--llm-url`, `--embedder-url`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use banshi_assistant::appeal::AppealModel;
use banshi_assistant::Assistant;
use banshi_models::{ChatModel, GatedChat};
use banshi_server::limits::{Cidr, LimitConfig, Rate};
use banshi_server::records::StoreRecords;
use banshi_server::store::{SqlStore, Store};
use banshi_server::{AppState, Config};

use crate::Common;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is printed).
    #[arg(long, env = "BANSHI_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// Answers the language model writes at once (the model is shared: more than 1 only
    /// interleaves). Turns that need no generation do not count.
    #[arg(long, env = "BANSHI_MAX_IN_FLIGHT", default_value_t = 1)]
    max_in_flight: usize,
    /// Answers that may wait for the model; beyond this an answer is given from the guide's
    /// own words at once, saying the model is busy.
    #[arg(long, env = "BANSHI_MAX_WAITING", default_value_t = 8)]
    max_waiting: usize,
    /// Turns handled at once (retrieval, extractive answers, handoffs; a turn that generates
    /// also holds one of these while it waits for and uses the model).
    #[arg(long, env = "BANSHI_MAX_TURNS", default_value_t = 16)]
    max_turns: usize,
    /// Turns that may wait for a turn slot, each told its queue position; beyond this, 429.
    #[arg(long, env = "BANSHI_MAX_TURNS_WAITING", default_value_t = 64)]
    max_turns_waiting: usize,
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
    /// Reverse proxies whose `X-Forwarded-For` names the client, comma-separated addresses or
    /// blocks (`127.0.0.1,10.0.0.0/8`). Without it the header is ignored and every limit counts
    /// the TCP peer: behind a proxy that is not listed, all citizens share the proxy's limits.
    #[arg(long, env = "BANSHI_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<Cidr>,
    // Rates are COUNT/PERIOD (periods s, m, h, d: `30/10m`) with bursts of up to COUNT, or
    // `off`. Over a rate: 429 `rate_limited` with Retry-After, nothing stored. Counts are kept in
    // memory and start afresh on restart.
    /// New sessions per client address (a device keeps its session; a script creating many is stopped).
    #[arg(long, env = "BANSHI_LIMIT_SESSIONS", default_value = "30/10m")]
    limit_sessions: Rate,
    /// Messages per session.
    #[arg(long, env = "BANSHI_LIMIT_MESSAGES", default_value = "20/1m")]
    limit_messages: Rate,
    /// Messages per client address, over all its sessions.
    #[arg(long, env = "BANSHI_LIMIT_MESSAGES_PER_ADDRESS", default_value = "60/1m")]
    limit_messages_per_address: Rate,
    /// Ratings (好差评) per client address.
    #[arg(long, env = "BANSHI_LIMIT_RATINGS", default_value = "10/10m")]
    limit_ratings: Rate,
    /// Tickets for the agent queue (handoffs, follow-ups of bad ratings) per session; over it
    /// no ticket is opened.
    #[arg(long, env = "BANSHI_LIMIT_HANDOFFS", default_value = "4/1h")]
    limit_handoffs: Rate,
    /// Tickets for the agent queue per client address (the address a session was last used
    /// from, remembered for an hour).
    #[arg(long, env = "BANSHI_LIMIT_HANDOFFS_PER_ADDRESS", default_value = "10/1h")]
    limit_handoffs_per_address: Rate,
    /// Uploads per session (besides --max-uploads in all).
    #[arg(long, env = "BANSHI_LIMIT_UPLOADS", default_value = "20/10m")]
    limit_uploads: Rate,
    /// Uploads per client address.
    #[arg(long, env = "BANSHI_LIMIT_UPLOADS_PER_ADDRESS", default_value = "60/1h")]
    limit_uploads_per_address: Rate,
    /// Progress look-ups by tracking number (`GET /api/v1/applications/{no}`) per client address.
    #[arg(long, env = "BANSHI_LIMIT_LOOKUPS", default_value = "20/10m")]
    limit_lookups: Rate,
    /// Bytes one session may upload in all, summed from the database (survives restarts); 0: no quota. Over it: 409.
    #[arg(long, env = "BANSHI_MAX_UPLOAD_BYTES_PER_SESSION", default_value_t = 50 * 1024 * 1024)]
    max_upload_bytes_per_session: u64,
    /// Bytes the whole service accepts per calendar day (local time), summed from the database
    /// (survives restarts); 0: no budget. Over it: 429 with Retry-After until midnight.
    #[arg(long, env = "BANSHI_UPLOAD_BUDGET_PER_DAY", default_value_t = 10 * 1024 * 1024 * 1024)]
    upload_budget_per_day: u64,
    /// Failed log-ins (staff and citizens) per username and client address before they must wait.
    #[arg(long, env = "BANSHI_LOGIN_FREE_FAILURES", default_value_t = 5)]
    login_free_failures: u32,
    /// Seconds of the first wait after those failures; each further failure doubles it.
    #[arg(long, env = "BANSHI_LOGIN_BACKOFF", default_value_t = 30)]
    login_backoff: u64,
    /// Longest wait, in seconds; a username and address quiet this long start afresh.
    #[arg(long, env = "BANSHI_LOGIN_BACKOFF_MAX", default_value_t = 900)]
    login_backoff_max: u64,
    /// Failed log-ins per client address over all usernames (one address trying many accounts).
    #[arg(long, env = "BANSHI_LIMIT_LOGIN_FAILURES", default_value = "30/15m")]
    limit_login_failures: Rate,
    /// Keys each in-memory limit table holds at most; beyond it the entries nearest to expiry are forgotten.
    #[arg(long, env = "BANSHI_LIMIT_MAX_KEYS", default_value_t = 100_000)]
    limit_max_keys: usize,
    /// Bearer token `/metrics` requires (`Authorization: Bearer …`; 401 without it). Unset:
    /// `/metrics` answers only requests from this machine (a loopback peer with no
    /// `X-Forwarded-For` / `Forwarded` / `X-Real-IP`), 403 for anyone else.
    #[arg(long, env = "BANSHI_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Seconds without use after which a citizen's sign-in in a chat session ends.
    #[arg(long, env = "BANSHI_CITIZEN_IDLE_TIMEOUT", default_value_t = 30 * 60)]
    citizen_idle_timeout: u64,
    /// Seconds after signing in at which a citizen's sign-in ends, however much it is used.
    #[arg(long, env = "BANSHI_CITIZEN_MAX_AGE", default_value_t = 8 * 3600)]
    citizen_max_age: u64,
}

pub async fn run(common: &Common, args: ServeArgs) -> anyhow::Result<()> {
    let models = super::model_set::start(common, super::Need::EmbedderAndGenerator).await?;
    let models_ready = common.no_models || models.complete();
    let kb = Arc::new(super::open_kb_with(common, models.embed.clone()).await?);
    let live = kb.store.count_live().await?;
    if live == 0 {
        tracing::warn!("the knowledge base in {} is empty: run `banshi ingest` (readyz reports not ready)", common.data_dir.display());
    }
    // The data dir holds personal data (database, uploads): owner-only, also what older
    // versions created with looser modes.
    let tightened = banshi_knowledge::private::restrict_tree(&common.data_dir)
        .with_context(|| format!("restricting {} to its owner", common.data_dir.display()))?;
    if tightened > 0 {
        tracing::warn!(tightened, "files and directories in {} were readable by others: now owner-only", common.data_dir.display());
    }
    let store: Arc<dyn Store> = Arc::new(SqlStore::new(kb.store.pool().clone()).await?);
    let events = match banshi_knowledge::db::Backend::of(kb.store.pool()) {
        banshi_knowledge::db::Backend::Postgres => {
            let url = kb.store.pool().connect_options().database_url.to_string();
            banshi_server::live::Live::over_postgres(&url).await.context("live events over PostgreSQL (LISTEN/NOTIFY)")?
        }
        banshi_knowledge::db::Backend::Sqlite => banshi_server::live::Live::default(),
    };
    let appeal = AppealModel::load_or_seed(&common.data_dir)?;
    tracing::info!(trained_on = %appeal.trained_on, "appeal classifier loaded");
    let records = Arc::new(StoreRecords(store.clone()));
    let assistant = Arc::new(
        Assistant::new(kb, Some(models.compute))
            .with_chat(models.chat.map(|c| Arc::new(GatedChat::new(c, args.max_in_flight, args.max_waiting)) as Arc<dyn ChatModel>))
            .with_deployment(common.deployment()?)
            .with_appeal_model(appeal)
            .with_records(records.clone(), records),
    );
    assistant.warm();
    let config = Config {
        max_message_chars: args.max_message_chars,
        max_body_bytes: args.max_body_bytes,
        max_in_flight: args.max_turns,
        max_waiting: args.max_turns_waiting,
        retry_after_secs: args.retry_after,
        cors_origins: args.cors_origins,
        shutdown_grace: Duration::from_secs(args.shutdown_grace),
        uploads_dir: common.data_dir.join("uploads"),
        max_upload_bytes: args.max_upload_bytes,
        max_uploads_per_session: args.max_uploads,
        limits: LimitConfig {
            trusted_proxies: args.trusted_proxies,
            sessions_per_address: args.limit_sessions,
            messages_per_session: args.limit_messages,
            messages_per_address: args.limit_messages_per_address,
            ratings_per_address: args.limit_ratings,
            handoffs_per_session: args.limit_handoffs,
            handoffs_per_address: args.limit_handoffs_per_address,
            uploads_per_session: args.limit_uploads,
            uploads_per_address: args.limit_uploads_per_address,
            lookups_per_address: args.limit_lookups,
            upload_bytes_per_session: args.max_upload_bytes_per_session,
            upload_bytes_per_day: args.upload_budget_per_day,
            login_free_failures: args.login_free_failures,
            login_backoff: Duration::from_secs(args.login_backoff),
            login_backoff_max: Duration::from_secs(args.login_backoff_max),
            login_failures_per_address: args.limit_login_failures,
            max_keys: args.limit_max_keys,
        },
        metrics_token: args.metrics_token.filter(|t| !t.is_empty()),
        citizen_idle: Duration::from_secs(args.citizen_idle_timeout),
        citizen_max_age: Duration::from_secs(args.citizen_max_age),
    };
    banshi_server::live::follow_knowledge(&events, assistant.kb.clone());
    let app = AppState::new(config, store, assistant, models_ready, events);
    let listener = tokio::net::TcpListener::bind(args.addr).await.with_context(|| format!("binding {}", args.addr))?;
    let bound = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("banshi listening on http://{bound} ({live} guides)");
    tracing::info!(%bound, live, "serving");
    banshi_server::serve(app, listener, shutdown_signal()).await?;
    Ok(())
}

/// SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
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
