//! banshi's dialogue engine.
//!
//! - [`engine`]: one citizen turn; [`outcome`]: its streamed events and its result — follow-up or retrieval, then a grounded answer, a
//!   clarifying question or a decline; events stream as they happen.
//! - [`prompt`]: the cached system prompt and the context budget; [`citations`]: parsing and
//!   verifying `[n]`; [`extractive`]: answers in the guide's own words; [`card`]: the sources
//!   card; [`intent`]: aspects and follow-ups; [`contract`]: every streamed token is confirmed,
//!   replaced or withdrawn before the turn ends; [`stored`]: the turn as stored and replayed.
//! - [`deployment`]: the city's facts (name, hotline, departments, referrals) as data; `scope`:
//!   whether an unanswered question is a city matter at all, and the replies to those that are not.

mod answer;
pub mod appeal;
pub mod apply;
pub mod card;
pub mod citations;
mod claims;
pub mod contract;
pub mod deployment;
pub mod eligibility;
pub mod engine;
pub mod extractive;
pub mod forms;
pub mod handoff;
pub mod intent;
pub mod outcome;
pub mod prereview;
pub mod prompt;
pub mod records;
mod relevance;
mod scope;
pub mod stored;
pub mod turn;

pub use engine::{
    ActingFor, AnswerEvent, Assistant, DialogueState, ItemRef, Outcome, OutcomeKind, Policy, ANSWER_THRESHOLD, MODEL_DECLINE,
};

#[derive(Debug, thiserror::Error)]
pub enum AssistantError {
    #[error("the message is empty")]
    EmptyMessage,
    #[error("item {0} is not in the knowledge base")]
    NotFound(String),
    /// The receiver of the event stream went away (the client disconnected).
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Knowledge(#[from] banshi_knowledge::KnowledgeError),
    #[error(transparent)]
    Model(#[from] banshi_models::ModelError),
    /// Training or loading a classifier failed (bad dataset, unreadable model file).
    #[error("{0}")]
    Train(String),
}
