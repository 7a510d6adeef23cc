//! banshi's HTTP service: the citizen API under `/api/v1` (sessions, messages answered over
//! Server-Sent Events, history, quick actions, item guides), the chat page at `/`, and
//! operations (`/healthz`, `/readyz`, `/metrics`, `/api/v1/openapi.json`).
//!
//! The agent console (`/agent`, API under `/api/v1/agent`) works the human queue.
//!
//! - [`store`]: sessions, messages, tickets, ratings, staff, citizens, e-licences and
//!   applications behind the `Store` trait (SQLite by default, PostgreSQL for replicas).
//! - [`live`]: live events to citizens' pages and agents' consoles, across replicas over
//!   PostgreSQL `LISTEN/NOTIFY`; [`dialogue_state`]: saving a session's state when other
//!   requests save it too.
//! - [`model_node`]: the local models on the OpenAI-compatible API (`banshi serve-models`).
//! - [`routes`]: handlers; [`error`]: the one error → status mapping; [`admission`]: bounded
//!   answers in flight; [`limits`]: rate limits and quotas by address and session; [`auth`]:
//!   tokens, passwords, roles, log-in backoff; [`handoff`]: tickets and the queue;
//!   [`live`]: events to open pages; [`records`]: profiles, e-licences and progress for the
//!   assistant; [`metrics`]; [`mask`]: personal data out of logs; [`signins`]: citizen
//!   sign-ins that expire; [`web`]: the pages.

pub mod admission;
pub mod auth;
pub mod dialogue_state;
pub mod error;
pub mod gaps;
pub mod handoff;
pub mod limits;
pub mod live;
pub mod mask;
pub mod metrics;
pub mod model_node;
pub mod offers;
pub mod openapi;
pub mod records;
pub mod routes;
pub mod signins;
pub mod store;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use banshi_assistant::Assistant;
use banshi_knowledge::KnowledgeBase;

use crate::admission::Admission;
use crate::auth::LoginGuard;
use crate::live::Live;
use crate::metrics::Metrics;
use crate::store::Store;

/// Limits and knobs; the binary fills these from flags / environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Longest citizen message, in characters.
    pub max_message_chars: usize,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Turns handled at once (the model has its own admission: [`banshi_models::GatedChat`]).
    pub max_in_flight: usize,
    /// Turns allowed to wait for a slot; beyond this, 429.
    pub max_waiting: usize,
    /// `Retry-After` seconds sent with 429.
    pub retry_after_secs: u64,
    /// Origins allowed by CORS (mini-program / H5 origins); empty = same origin only; `*` = any.
    pub cors_origins: Vec<String>,
    /// After a shutdown signal, how long in-flight answers may take to finish.
    pub shutdown_grace: Duration,
    /// Where uploaded files are stored (content-addressed).
    pub uploads_dir: std::path::PathBuf,
    /// Largest upload, in bytes.
    pub max_upload_bytes: usize,
    /// Uploads one session may make.
    pub max_uploads_per_session: usize,
    /// Rate limits and quotas by client address and session, log-in backoff, trusted proxies
    /// (see [`limits::LimitConfig`]).
    pub limits: limits::LimitConfig,
    /// Bearer token `/metrics` requires; `None`: `/metrics` answers only requests from this
    /// machine (loopback peer, no forwarding headers).
    pub metrics_token: Option<String>,
    /// A citizen's sign-in ends after this long without use ([`signins`]).
    pub citizen_idle: Duration,
    /// A citizen's sign-in ends this long after it began, used or not.
    pub citizen_max_age: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_chars: 500,
            max_body_bytes: 16 * 1024,
            max_in_flight: 1,
            max_waiting: 8,
            retry_after_secs: 10,
            cors_origins: Vec::new(),
            shutdown_grace: Duration::from_secs(30),
            uploads_dir: std::path::PathBuf::from("data/uploads"),
            max_upload_bytes: 10 * 1024 * 1024,
            max_uploads_per_session: 30,
            limits: limits::LimitConfig::default(),
            metrics_token: None,
            citizen_idle: Duration::from_secs(30 * 60),
            citizen_max_age: Duration::from_secs(8 * 3600),
        }
    }
}

/// Everything handlers share.
pub struct AppState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub kb: Arc<KnowledgeBase>,
    pub assistant: Arc<Assistant>,
    pub admission: Admission,
    pub metrics: Metrics,
    pub live: Live,
    pub logins: LoginGuard,
    /// Rate limits by address and session (in memory; see [`limits`]).
    pub limits: limits::Limits,
    /// Citizen sign-ins' lifetimes and last use ([`signins`]).
    pub signins: signins::SignIns,
    /// Whether the models the service was started with loaded (false = degraded but working).
    pub models_ready: bool,
}

pub type App = Arc<AppState>;

impl AppState {
    /// `live` is [`Live::default`] for one process, [`Live::over_postgres`] for replicas.
    pub fn new(config: Config, store: Arc<dyn Store>, assistant: Arc<Assistant>, models_ready: bool, live: Live) -> App {
        let admission = Admission::new(config.max_in_flight, config.max_waiting);
        let logins = LoginGuard::new(&config.limits);
        let limits = limits::Limits::new(config.limits.clone());
        let signins = signins::SignIns::new(config.citizen_idle, config.citizen_max_age);
        Arc::new(AppState {
            kb: assistant.kb.clone(),
            config,
            store,
            assistant,
            admission,
            metrics: Metrics::default(),
            live,
            logins,
            limits,
            signins,
            models_ready,
        })
    }
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting and give in-flight
/// answers `config.shutdown_grace` to finish before returning.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = app.config.shutdown_grace;
    let router = routes::router(app);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let signalled = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing answers in flight");
        let _ = stop_tx.send(true);
    };
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).with_graceful_shutdown(signalled);
    let deadline = async move {
        let _ = stop_rx.wait_for(|s| *s).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => r,
        _ = deadline => {
            tracing::warn!("shutdown grace of {grace:?} elapsed: ending remaining streams");
            Ok(())
        }
    }
}
