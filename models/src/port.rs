//! Model ports: what the assistant and the knowledge base ask of a model, independent of where
//! it runs. The in-process [`ComputeHandle`](crate::ComputeHandle) implements them; a remote
//! client (an OpenAI-compatible server) can implement them too.
//!
//! A chat model takes chat messages and owns its prompt template: callers never write ChatML.
//! Errors say what a caller can do: [`ModelError::Busy`] (retry later),
//! [`ModelError::Unavailable`] (no model to ask), [`ModelError::Failed`] (this request broke).

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::compute::GenEvent;
use crate::embedder::TextKind;
use crate::generator::{chatml, GenParams};
use crate::ModelError;

pub use crate::generator::{Message, Role};

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: Role::System, content: content.into() }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Message { role: Role::User, content: content.into() }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: Role::Assistant, content: content.into() }
    }
}

/// The answer of a chat model as it is written: [`GenEvent::Text`] pieces, then one
/// [`GenEvent::Done`] or [`GenEvent::Error`]. Dropping the stream asks the model to stop.
pub struct TokenStream {
    rx: mpsc::Receiver<GenEvent>,
    /// Held for as long as the stream lives (an admission slot, say).
    _hold: Option<Box<dyn std::any::Any + Send + Sync>>,
}

impl TokenStream {
    /// A stream fed by whoever holds the sending side (a compute thread, a network task).
    pub fn new(rx: mpsc::Receiver<GenEvent>) -> Self {
        TokenStream { rx, _hold: None }
    }

    /// Keep `guard` until the stream is dropped.
    pub fn holding(mut self, guard: impl std::any::Any + Send + Sync) -> Self {
        self._hold = Some(Box::new(guard));
        self
    }

    /// The next event; `None` when the producer went away without `Done` or `Error` (the
    /// caller should treat that as [`ModelError::Unavailable`]).
    pub async fn next(&mut self) -> Option<GenEvent> {
        self.rx.recv().await
    }
}

/// Generates the assistant's answer to a conversation.
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Whether there is a model to ask (false: callers answer without one).
    fn available(&self) -> bool;

    /// Start answering `messages`. A final [`Role::Assistant`] message is the start of the
    /// answer, written for the model (e.g. `{` to force JSON): the model continues it and only
    /// the continuation streams back.
    ///
    /// Fails at once with [`ModelError::Busy`] when the model's queue is full and
    /// [`ModelError::Unavailable`] when there is no model; a generation that breaks later ends
    /// its stream with [`GenEvent::Error`].
    async fn chat(&self, messages: Vec<Message>, params: GenParams) -> Result<TokenStream, ModelError>;

    /// Prepare for prompts that start with `messages` (a fixed system prompt), so the first
    /// answer does not pay for them. Best effort and in the background: never fails, and does
    /// nothing where there is nothing to prepare.
    fn warm(&self, messages: &[Message]);

    /// Why the model is not being asked right now (a model server that keeps failing), for
    /// readiness reports; `None` when it is asked as usual.
    fn failing(&self) -> Option<String> {
        None
    }
}

/// Turns texts into vectors for retrieval.
#[async_trait]
pub trait Embed: Send + Sync {
    /// The vectors' length, or `None` when no embedder is loaded (callers then search by words).
    fn dim(&self) -> Option<usize>;

    /// One vector per text, in order; waits its turn (batch work such as indexing).
    /// Fails with [`ModelError::Unavailable`] without an embedder.
    async fn embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError>;

    /// As [`Embed::embed`], but fails at once with [`ModelError::Busy`] rather than wait behind
    /// other work (interactive callers, which have a fallback).
    async fn try_embed(&self, texts: Vec<String>, kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError>;
}

/// Qwen2's ChatML prompt for `messages`: `<|im_start|>role\n…<|im_end|>\n` per message, then the
/// assistant's opening; a final assistant message is left open for the model to continue.
pub fn chatml_prompt(messages: &[Message]) -> String {
    match messages.split_last() {
        Some((last, earlier)) if last.role == Role::Assistant => chatml(earlier) + &last.content,
        _ => chatml(messages),
    }
}

/// The ChatML of `messages` as complete turns, without the assistant's opening: the text every
/// [`chatml_prompt`] of a conversation starting with these messages begins with.
pub fn chatml_prefix(messages: &[Message]) -> String {
    let full = chatml(messages);
    full.strip_suffix("<|im_start|>assistant\n").unwrap_or(&full).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_renders_turns_and_an_open_answer() {
        let m = [Message::system("你是助手"), Message::user("你好")];
        assert_eq!(chatml_prompt(&m), "<|im_start|>system\n你是助手<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n");
        let forced = [Message::system("只输出JSON。"), Message::user("姓名？"), Message::assistant("{")];
        assert_eq!(
            chatml_prompt(&forced),
            "<|im_start|>system\n只输出JSON。<|im_end|>\n<|im_start|>user\n姓名？<|im_end|>\n<|im_start|>assistant\n{"
        );
        // An assistant turn before the last user turn is a closed turn, not a continuation.
        let history = [Message::user("问"), Message::assistant("答"), Message::user("再问")];
        assert!(chatml_prompt(&history).contains("<|im_start|>assistant\n答<|im_end|>\n<|im_start|>user\n再问"));
    }

    #[test]
    fn the_prefix_is_the_start_of_every_prompt_with_those_turns() {
        let system = [Message::system("规则")];
        let prefix = chatml_prefix(&system);
        assert_eq!(prefix, "<|im_start|>system\n规则<|im_end|>\n");
        assert!(chatml_prompt(&[Message::system("规则"), Message::user("问题")]).starts_with(&prefix));
    }
}
