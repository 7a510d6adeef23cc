//! What a turn produces: the events streamed to the client as they happen ([`AnswerEvent`]) and
//! the result kept for storage and evaluation ([`Outcome`], [`OutcomeKind`]).

use banshi_models::GenStats;
use serde::{Deserialize, Serialize};

use crate::appeal::Appeal;
use crate::apply::{BundleCard, FormView, QuickReply};
use crate::card::SourcesCard;
use crate::citations::{CheckedSentence, Source, Verification};
use crate::handoff::{Handoff, HandoffReason};
use crate::ItemRef;

/// Streamed to the client as it happens (and stored as shown, see [`crate::stored`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnswerEvent {
    Status {
        message: String,
    },
    Sources {
        card: SourcesCard,
    },
    Token {
        text: String,
    },
    /// The answer's sources and how each sentence is backed.
    Citations {
        sources: Vec<Source>,
        verification: Verification,
    },
    /// The streamed text is replaced by the answer as verified: claims no source backs are
    /// `removed`, every claim left cites the source that backs it (sent instead of `Citations`
    /// when that changes the text).
    Settled {
        text: String,
        removed: Vec<CheckedSentence>,
        sources: Vec<Source>,
        verification: Verification,
    },
    /// The streamed text is replaced by this extractive answer, for `reason`.
    Replace {
        text: String,
        reason: String,
        sources: Vec<Source>,
    },
    /// The streamed text is taken back unshown, for `reason` (the turn then clarifies, declines
    /// or hands off). See [`crate::contract`].
    Withdraw {
        reason: String,
    },
    Clarify {
        question: String,
        options: Vec<String>,
    },
    Decline {
        message: String,
        offer_human: bool,
    },
    /// The conversation goes to a person, for `reason`.
    Handoff {
        reason: HandoffReason,
        message: String,
    },
    /// A 一件事 bundle's card (items, merged materials, savings).
    Bundle {
        card: BundleCard,
    },
    /// The form being filled, as the page shows it.
    Form {
        form: Box<FormView>,
    },
    /// Buttons that send a reply.
    Actions {
        actions: Vec<QuickReply>,
    },
    /// The answer that follows is an editor-approved curated answer.
    Curated {
        id: i64,
        question: String,
        source: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// The model's answer, verified.
    Generated,
    /// Built from the guide's own words (no model, or the model's answer failed verification).
    Extractive,
    Clarified,
    Declined,
    SmallTalk,
    /// Handed to a person (see `Outcome::handoff`).
    Handoff,
    /// A suggestion (建言), acknowledged and recorded.
    Suggestion,
    /// Not about public services.
    OutOfScope,
    /// A 一件事 bundle offered.
    Bundle,
    /// A step of filling a form.
    FormStep,
    /// A progress query answered.
    Progress,
    /// An editor-approved curated answer.
    Curated,
}

impl OutcomeKind {
    /// The serde name (`generated`, `handoff` …), as stored with the answer.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Generated => "generated",
            OutcomeKind::Extractive => "extractive",
            OutcomeKind::Clarified => "clarified",
            OutcomeKind::Declined => "declined",
            OutcomeKind::SmallTalk => "small_talk",
            OutcomeKind::Handoff => "handoff",
            OutcomeKind::Suggestion => "suggestion",
            OutcomeKind::OutOfScope => "out_of_scope",
            OutcomeKind::Bundle => "bundle",
            OutcomeKind::FormStep => "form_step",
            OutcomeKind::Progress => "progress",
            OutcomeKind::Curated => "curated",
        }
    }
}

/// The result of a turn, for storage and evaluation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub kind: OutcomeKind,
    /// The final text shown to the citizen.
    pub text: String,
    pub sources: Vec<Source>,
    pub confidence: Option<f32>,
    pub item: Option<ItemRef>,
    /// Why a generated answer was replaced, when it was.
    pub replaced_because: Option<String>,
    /// Claims of the generated answer removed because no source backs them.
    pub removed: Vec<CheckedSentence>,
    #[schema(value_type = Option<Object>)]
    pub generation: Option<GenStats>,
    pub verification: Option<Verification>,
    /// How the message was classified.
    pub appeal: Option<Appeal>,
    /// Set when the conversation goes to a person.
    pub handoff: Option<Handoff>,
}

impl Outcome {
    pub(crate) fn plain(kind: OutcomeKind, text: String) -> Self {
        Outcome {
            kind,
            text,
            sources: Vec::new(),
            confidence: None,
            item: None,
            replaced_because: None,
            removed: Vec::new(),
            generation: None,
            verification: None,
            appeal: None,
            handoff: None,
        }
    }
}
