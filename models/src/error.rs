//! The models crate's error type.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A weight file is not what its format says (truncated, corrupt, wrong shapes).
    #[error("{file}: invalid model file: {detail}")]
    Format { file: String, detail: String },
    #[error("model file missing: {0} (run `banshi models fetch`)")]
    Missing(PathBuf),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The model's queue is full: nothing ran, and a retry in a few seconds will likely work
    /// (the server answers 429 with `Retry-After`).
    #[error("the model is busy: its queue is full")]
    Busy,
    /// The model cannot answer at all: its compute thread has stopped or it is not loaded
    /// (the server answers 503; retrying soon will not help).
    #[error("model unavailable: {0}")]
    Unavailable(String),
    /// A computation started and broke (a generation that failed mid-answer); the server
    /// answers 500.
    #[error("model computation failed: {0}")]
    Failed(String),
    /// Training was given data it cannot use (labels that do not fit, no rows).
    #[error("training: {0}")]
    Training(String),
    #[error("cancelled")]
    Cancelled,
}

impl ModelError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ModelError::Io { path: path.to_path_buf(), source }
    }
}
