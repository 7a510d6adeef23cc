//! `banshi`: the government-service assistant's one binary.
//!
//! Subcommands: `models` (fetch and check weights), `ingest` (import guides), `serve`, `serve-models`, `ask`, `search`,
//! `eval`, `bench`. Every flag can also be set through the environment variable shown in `--help`.

mod cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "banshi", version, about = "办事: grounded answers, forms, pre-review and human handoff for a city's government services")]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand shares.
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// Data directory: the SQLite database, the vector index and uploaded files live here.
    #[arg(long, env = "BANSHI_DATA", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// Models directory (filled by `banshi models fetch`); default ~/.cache/banshi/models.
    #[arg(long, env = "BANSHI_MODELS", global = true)]
    pub models_dir: Option<PathBuf>,
    /// How questions are embedded: `base` (multilingual-e5-small as published), `tuned` (the
    /// bundled query encoder, tuned on government Q&A; models/data/README.md says what it gains
    /// and costs), or a file written by `banshi train embedder`. Passages are embedded the same
    /// either way, so switching needs no re-indexing.
    #[arg(long, env = "BANSHI_QUERY_ENCODER", default_value = "base", global = true)]
    pub query_encoder: String,
    /// Run without any model even if the models are present (sparse retrieval, extractive answers).
    #[arg(long, env = "BANSHI_NO_MODELS", global = true)]
    pub no_models: bool,
    /// Log format on standard error: `text` or `json` (one JSON object per line).
    #[arg(long, env = "BANSHI_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    pub log_format: String,
    /// The deployment file: city name, hotline, and where questions no city department handles
    /// are referred (default: the bundled sample city, assistant/data/deployment.toml).
    #[arg(long, env = "BANSHI_DEPLOYMENT", global = true)]
    pub deployment: Option<PathBuf>,
    /// Retrieval confidence coefficients, as written by `banshi eval retrieval --calibrate
    /// --write-calibration PATH` (default: the bundled knowledge/data/calibration.toml, fitted
    /// for the bundled embedder, or calibration-tuned.toml with `--query-encoder tuned`).
    #[arg(long, env = "BANSHI_CALIBRATION", global = true)]
    pub calibration: Option<PathBuf>,
    /// Database: `postgres://user:password@host:port/db` for replicas sharing one PostgreSQL
    /// (sessions, tickets, guides, everything), or `sqlite://PATH`; default: the SQLite file
    /// `<data-dir>/banshi.db`.
    #[arg(long, env = "BANSHI_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Connections this process keeps to PostgreSQL at most.
    #[arg(long, env = "BANSHI_DATABASE_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    pub database_max_connections: u32,
    /// Qdrant server (its gRPC port, e.g. `http://10.0.0.7:6334`) holding the vector index,
    /// instead of the embedded shard in `<data-dir>/index`.
    #[arg(long, env = "BANSHI_QDRANT_URL", global = true)]
    pub qdrant_url: Option<String>,
    /// The collection on that server (created on first use).
    #[arg(long, env = "BANSHI_QDRANT_COLLECTION", default_value = banshi_knowledge::index::qdrant::DEFAULT_COLLECTION, global = true)]
    pub qdrant_collection: String,
    #[command(flatten)]
    pub remote: cmd::model_set::RemoteArgs,
}

impl Common {
    pub fn models_dir(&self) -> PathBuf {
        self.models_dir.clone().unwrap_or_else(banshi_models::default_models_dir)
    }

    /// The deployment file given, or the bundled one.
    pub fn deployment(&self) -> anyhow::Result<banshi_assistant::deployment::Deployment> {
        Ok(match &self.deployment {
            Some(path) => banshi_assistant::deployment::Deployment::from_file(path)?,
            None => banshi_assistant::deployment::Deployment::bundled(),
        })
    }

    /// The calibration file given, or the bundled one for the query encoder in use (a file of
    /// one's own is fitted for one's own encoder).
    pub fn calibration(&self) -> anyhow::Result<banshi_knowledge::search::Calibration> {
        use banshi_knowledge::search::Calibration;
        Ok(match (&self.calibration, self.query_encoder.as_str()) {
            (Some(path), _) => Calibration::from_file(path)?,
            (None, "tuned") => Calibration::bundled_for_tuned_queries(),
            (None, _) => Calibration::bundled(),
        })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Fetch, verify and inspect model weights.
    Models {
        #[command(subcommand)]
        action: cmd::models::Action,
    },
    /// Serve the HTTP API and the citizen chat page.
    Serve(Box<cmd::serve::ServeArgs>),
    /// Serve this machine's models on the OpenAI-compatible API, for web replicas on other
    /// machines (`banshi serve --llm-url … --embedder-url …`).
    ServeModels(cmd::model_node::ModelNodeArgs),
    /// Import item guides into the knowledge base and index them.
    Ingest(cmd::knowledge::IngestArgs),
    /// Ask the assistant (streams the answer; interactive conversation when no question is given).
    Ask(cmd::ask::AskArgs),
    /// Search the knowledge base (interactive when no query is given).
    Search(cmd::knowledge::SearchArgs),
    /// Evaluate on real data and write Markdown + JSON reports.
    Eval {
        #[command(subcommand)]
        what: cmd::eval::What,
    },
    /// Staff accounts for the agent and editor consoles.
    Users {
        #[command(subcommand)]
        action: cmd::users::Action,
    },
    /// Citizen accounts (sign-in on the chat page) and the fictional sample citizens.
    Citizens {
        #[command(subcommand)]
        action: cmd::citizens::Action,
    },
    /// Train the assistant's classifiers on your own labelled data.
    Train {
        #[command(subcommand)]
        what: cmd::train::What,
    },
    /// Measure speed: retrieval latency, ingest and embedding throughput.
    Bench {
        #[command(subcommand)]
        what: cmd::bench::What,
    },
}

/// Errors end the process with their chain of causes on one line and exit code 1 — what to
/// do about them, not a stack trace (RUST_BACKTRACE does not apply here).
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BANSHI_LOG")
        .unwrap_or_else(|_| "warn,qdrant_edge=error,banshi=info,banshi_server=info,tower_http=warn".into());
    // Every line passes through the one masking function (ID numbers, phones, names, personal
    // fields), so a call site that logs personal data by mistake is still covered.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(|| banshi_server::mask::MaskedWriter::new(std::io::stderr()));
    if cli.common.log_format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    match cli.command {
        Command::Models { action } => cmd::models::run(&cli.common, action).await,
        Command::Serve(args) => cmd::serve::run(&cli.common, *args).await,
        Command::ServeModels(args) => cmd::model_node::run(&cli.common, args).await,
        Command::Ingest(args) => cmd::knowledge::ingest(&cli.common, args).await,
        Command::Ask(args) => cmd::ask::run(&cli.common, args).await,
        Command::Search(args) => cmd::knowledge::search(&cli.common, args).await,
        Command::Eval { what } => cmd::eval::run(&cli.common, what).await,
        Command::Users { action } => cmd::users::run(&cli.common, action).await,
        Command::Citizens { action } => cmd::citizens::run(&cli.common, action).await,
        Command::Train { what } => cmd::train::run(&cli.common, what).await,
        Command::Bench { what } => cmd::bench::run(&cli.common, what).await,
    }
}
