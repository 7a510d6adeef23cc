//! The knowledge crate's error type.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("not found: {0}")]
    NotFound(String),
    /// Someone saved `code` after the version the change was based on.
    #[error("{code} was changed by {by} (now v{latest}) after v{base}, the version this edit started from")]
    Conflict { code: String, base: u32, latest: u32, by: String },
    /// Work that builds on a version no longer on the live line: `root`, the published version
    /// the edit (or the draft `version`) started from, was rolled back or replaced by a later
    /// publish. Saving or publishing it would bring back what is no longer live. `publishing`
    /// tells a refused publish from a refused save.
    #[error("{code} v{version} builds on v{root}, which is no longer live (live: {live:?})")]
    Stale { code: String, version: u32, root: u32, live: Option<u32>, publishing: bool },
    /// The requested version cannot be made live (a draft that failed validation, unknown).
    #[error("{0}")]
    NotAllowed(String),
    /// A guide that fails validation; each entry names one problem.
    #[error("invalid guide {code}: {}", problems.join("; "))]
    Invalid { code: String, problems: Vec<String> },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("vector index: {0}")]
    Index(String),
    /// Another process has the embedded index open (its lock is held).
    #[error("the vector index in {} is open in another banshi process (a running `serve` or `ingest`): stop it first, or use another --data-dir", .0.display())]
    InUse(PathBuf),
    #[error(transparent)]
    Model(#[from] banshi_models::ModelError),
    /// A data file (e.g. a calibration) that does not parse.
    #[error("{}: {detail}", path.display())]
    BadFile { path: PathBuf, detail: String },
    #[error("stored guide {code} v{version} is not valid JSON: {detail}")]
    Corrupt { code: String, version: i64, detail: String },
}

impl KnowledgeError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        KnowledgeError::Io { path: path.to_path_buf(), source }
    }
}
