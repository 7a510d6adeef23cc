//! Subcommand implementations: argument parsing lives here, the work in the library crates.

pub mod ask;
pub mod bench;
pub mod citizens;
pub mod eval;
pub mod knowledge;
pub mod load;
pub mod model_node;
pub mod model_set;
pub mod models;
pub mod replay;
pub mod serve;
pub mod train;
pub mod train_embedder;
pub mod users;

use std::path::Path;

use anyhow::Context;
use banshi_models::e5_classifier::E5Classifier;
use banshi_models::files::{EMBEDDER_FILE, GENERATOR_FILE, GENERATOR_TOKENIZER_FILE};
use banshi_models::query_tower::QueryTower;
use banshi_models::{ComputeHandle, Embedder, Generator, Models};

use crate::Common;

/// Which models a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Embedder,
    EmbedderAndGenerator,
    /// OCR only (pre-review evaluation).
    Ocr,
}

/// Load what models exist and start the compute thread. Missing models are not an error: the
/// service degrades (sparse retrieval, extractive answers) and says so.
pub fn start_compute(common: &Common, need: Need) -> anyhow::Result<ComputeHandle> {
    start_local(common, need, Local::ALL, COMPUTE_QUEUE)
}

/// Jobs that may wait for the compute thread.
pub const COMPUTE_QUEUE: usize = 64;

/// As [`start_compute`], with `queue` jobs waiting at most.
pub fn start_compute_queued(common: &Common, need: Need, queue: usize) -> anyhow::Result<ComputeHandle> {
    start_local(common, need, Local::ALL, queue)
}

/// Which of the models a command needs are loaded here (the others are served elsewhere).
#[derive(Debug, Clone, Copy)]
pub struct Local {
    pub embedder: bool,
    pub generator: bool,
}

impl Local {
    pub const ALL: Local = Local { embedder: true, generator: true };
}

/// As [`start_compute`], loading only the models `local` keeps in this process.
pub fn start_local(common: &Common, need: Need, local: Local, queue: usize) -> anyhow::Result<ComputeHandle> {
    let dir = common.models_dir();
    let embedder = |dir: &Path| if local.embedder { load_embedder(dir, &common.query_encoder) } else { Ok(None) };
    let (embedder, generator, ocr) = if common.no_models {
        (None, None, None)
    } else {
        match need {
            Need::EmbedderAndGenerator => {
                let generator = if local.generator { load_generator(&dir)? } else { None };
                (embedder(&dir)?, generator, load_ocr(&dir))
            }
            Need::Embedder => (embedder(&dir)?, None, None),
            Need::Ocr => (None, None, load_ocr(&dir)),
        }
    };
    let classifier = match (&embedder, need) {
        (Some(e), Need::EmbedderAndGenerator) => load_appeal_encoder(&common.data_dir, e)?,
        _ => None,
    };
    Ok(ComputeHandle::spawn(Models { embedder, generator, ocr, classifier }, queue.max(1)))
}

/// The fine-tuned appeal classifier `banshi train appeal` wrote to the data dir, if any.
fn load_appeal_encoder(data_dir: &Path, embedder: &Embedder) -> anyhow::Result<Option<E5Classifier>> {
    let path = data_dir.join(banshi_assistant::appeal::encoder::ENCODER_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let c = E5Classifier::load(&path, embedder)
        .with_context(|| format!("loading the appeal classifier {} (delete it to use the TF-IDF model)", path.display()))?;
    tracing::info!(trained_on = %c.spec().trained_on, "fine-tuned appeal classifier loaded");
    Ok(Some(c))
}

/// The OCR models, when present; without them uploaded images are stored but not read.
fn load_ocr(dir: &Path) -> Option<banshi_models::Ocr> {
    let (det, rec) = (dir.join(banshi_models::files::OCR_DET_FILE), dir.join(banshi_models::files::OCR_REC_FILE));
    if !det.exists() || !rec.exists() {
        tracing::warn!("no OCR models in {} (run `banshi models fetch`): images are not read", dir.display());
        return None;
    }
    let t = std::time::Instant::now();
    match banshi_models::Ocr::from_files(&det, &rec) {
        Ok(o) => {
            tracing::info!("OCR loaded in {:.1} s", t.elapsed().as_secs_f64());
            Some(o)
        }
        Err(e) => {
            tracing::error!("OCR models failed to load: {e}");
            None
        }
    }
}

fn load_generator(dir: &Path) -> anyhow::Result<Option<Generator>> {
    let (gguf, tok) = (dir.join(GENERATOR_FILE), dir.join(GENERATOR_TOKENIZER_FILE));
    if !gguf.exists() || !tok.exists() {
        tracing::warn!("no generator at {} (run `banshi models fetch`): answers are extractive", gguf.display());
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let g = Generator::from_files(&gguf, &tok).with_context(|| format!("loading {}", gguf.display()))?;
    tracing::info!("generator loaded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Some(g))
}

fn load_embedder(dir: &Path, query_encoder: &str) -> anyhow::Result<Option<Embedder>> {
    let path = dir.join(EMBEDDER_FILE);
    if !path.exists() {
        tracing::warn!("no embedder at {} (run `banshi models fetch`): retrieval is sparse-only", path.display());
        return Ok(None);
    }
    let started = std::time::Instant::now();
    let mut e = Embedder::from_file(&path).with_context(|| format!("loading {}", path.display()))?;
    e.set_query_tower(query_tower(&e, query_encoder)?);
    tracing::info!("embedder loaded in {:.1} s (query encoder: {query_encoder})", started.elapsed().as_secs_f64());
    Ok(Some(e))
}

/// The query encoder `--query-encoder` names for `e`: the bundled tower for `tuned`, none for
/// `base`, else the file.
fn query_tower(e: &Embedder, which: &str) -> anyhow::Result<Option<QueryTower>> {
    match which {
        "tuned" => Ok(Some(QueryTower::bundled(e).context("the bundled query encoder (--query-encoder base runs without it)")?)),
        "base" => Ok(None),
        path => Ok(Some(QueryTower::load(Path::new(path), e).with_context(|| format!("--query-encoder {path}"))?)),
    }
}

/// Open the database `--database-url` names (PostgreSQL or a SQLite file), else the data dir's
/// SQLite file. Fails, naming the database, when it cannot be reached.
pub async fn open_database(common: &Common) -> anyhow::Result<sqlx::AnyPool> {
    use banshi_knowledge::db;
    let default = common.data_dir.join("banshi.db");
    let Some(url) = common.database_url.as_deref().filter(|u| !u.is_empty()) else {
        // Creates the data dir (owner-only) if needed.
        return Ok(db::open_sqlite(&default).await?);
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        // How long a request waits for a connection: short, so a database that went down
        // answers 503 (and /readyz says so) quickly rather than hanging requests.
        let timeout = std::time::Duration::from_secs(3);
        return db::open_postgres(url, common.database_max_connections, timeout).await.map_err(|e| anyhow::anyhow!("--database-url: {e}"));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        return db::open_sqlite(std::path::Path::new(path)).await.with_context(|| format!("--database-url {url}"));
    }
    anyhow::bail!("--database-url {}: use postgres://… or sqlite://PATH", db::redact(url))
}

/// Open the knowledge base in the data dir.
pub async fn open_kb(common: &Common, compute: Option<ComputeHandle>) -> anyhow::Result<banshi_knowledge::KnowledgeBase> {
    open_kb_with(common, compute.map(|c| std::sync::Arc::new(c) as std::sync::Arc<dyn banshi_models::Embed>)).await
}

/// Open the knowledge base in the data dir, embedding with `embedder` (local or a server).
pub async fn open_kb_with(
    common: &Common,
    embedder: Option<std::sync::Arc<dyn banshi_models::Embed>>,
) -> anyhow::Result<banshi_knowledge::KnowledgeBase> {
    std::fs::create_dir_all(&common.data_dir).with_context(|| format!("creating {}", common.data_dir.display()))?;
    let pool = open_database(common).await?;
    let calibration = common.calibration()?;
    let kb = match &common.qdrant_url {
        Some(url) => {
            let index = banshi_knowledge::index::QdrantIndex::open(url, &common.qdrant_collection, banshi_knowledge::DENSE_DIM)
                .await
                .with_context(|| format!("the vector index (--qdrant-url {url})"))?;
            banshi_knowledge::KnowledgeBase::open_with_index(pool, embedder, std::sync::Arc::new(index)).await?
        }
        None => banshi_knowledge::KnowledgeBase::open(&common.data_dir, pool, embedder).await?,
    };
    Ok(kb.with_calibration(calibration))
}

/// A sign-in name: 2–32 letters, digits, `.`, `_` or `-`.
pub fn check_username(name: &str) -> anyhow::Result<()> {
    let valid = (2..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !valid {
        anyhow::bail!("username {name:?}: use 2–32 letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

/// A new password: the first line of standard input when `from_stdin` (or stdin is not a
/// terminal), else asked twice on the terminal; never from a flag (flags end up in shell history).
pub fn read_new_password(from_stdin: bool) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let p = rpassword::prompt_password("password: ")?;
    if rpassword::prompt_password("again: ")? != p {
        anyhow::bail!("the two passwords differ");
    }
    Ok(p)
}
