//! One assistant turn as stored: built once when the turn ends ([`StoredAnswer::of`],
//! [`StoredAnswer::interrupted`]) and read back by everything that shows it — the stream's
//! `done`, a replay for a re-sent `client_id`, the history, the agent console — and described
//! by the API schema. It is the stored message's `meta`; the message's text is the outcome's
//! text, which is what [`StoredAnswer::shown`] leaves on screen
//! ([`crate::contract::shown_text`]).
//!
//! A replay sends `shown` as the same events the live stream sent (same names, same fields), so
//! the page renders a replayed or reloaded turn with the same code as a live one.

use serde::{Deserialize, Serialize};

use crate::appeal::Appeal;
use crate::citations::{CheckedSentence, Source, Verification};
use crate::contract::{Contract, Withdrawn};
use crate::handoff::HandoffReason;
use crate::outcome::{AnswerEvent, Outcome};
use crate::ItemRef;

/// A stored answer's `meta`. Fields other than `shown` and `withdrawn` are for agents, gap
/// reports and evaluation; a client renders `shown`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredAnswer {
    /// The events the citizen was left with, in order: token runs collapsed, withdrawn or
    /// replaced runs dropped, status lines left out.
    #[serde(default)]
    pub shown: Vec<AnswerEvent>,
    /// Text that streamed and was taken back, with why (shown folded to agents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn: Vec<Withdrawn>,
    #[serde(default)]
    pub sources: Vec<Source>,
    /// Retrieval confidence of the item answered (gap reports look for low ones).
    #[serde(default)]
    pub confidence: Option<f32>,
    /// The item the turn was about.
    #[serde(default)]
    pub item: Option<ItemRef>,
    /// How the message was classified.
    #[serde(default)]
    pub appeal: Option<Appeal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Claims verification removed from a generated answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<CheckedSentence>,
    /// Why a generated answer was replaced by the guide's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_because: Option<String>,
    /// Set when the turn handed the conversation to a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_reason: Option<HandoffReason>,
    /// The ticket the turn opened: a handoff, or a recorded suggestion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// Why a handoff's ticket could not be opened (the error code); the citizen was told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff_failed: Option<String>,
}

impl StoredAnswer {
    /// The record of a finished turn: what `contract` let through, and what `outcome` knew.
    pub fn of(outcome: &Outcome, contract: &Contract) -> Self {
        StoredAnswer {
            sources: outcome.sources.clone(),
            confidence: outcome.confidence,
            item: outcome.item.clone(),
            appeal: outcome.appeal.clone(),
            verification: outcome.verification.clone(),
            removed: outcome.removed.clone(),
            replaced_because: outcome.replaced_because.clone(),
            handoff_reason: outcome.handoff.as_ref().map(|h| h.reason),
            ..Self::interrupted(contract)
        }
    }

    /// The record of a turn that failed or was cancelled: only what stayed on screen.
    pub fn interrupted(contract: &Contract) -> Self {
        StoredAnswer { shown: contract.shown().to_vec(), withdrawn: contract.withdrawn().to_vec(), ..Self::default() }
    }

    /// Whether the turn offered the citizen a person (a decline with the hotline).
    pub fn offered_human(&self) -> bool {
        self.shown.iter().any(|e| matches!(e, AnswerEvent::Decline { offer_human: true, .. }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::shown_text;
    use crate::outcome::OutcomeKind;

    #[test]
    fn a_record_round_trips_and_keeps_what_was_shown() {
        let mut c = Contract::new();
        for ev in [
            AnswerEvent::Token { text: "未经核实的".into() },
            AnswerEvent::Token { text: "内容".into() },
            AnswerEvent::Decline { message: "抱歉，办事指南中没有找到。".into(), offer_human: true },
        ] {
            c.pass(ev);
        }
        let outcome =
            Outcome { confidence: Some(0.3), ..Outcome::plain(OutcomeKind::Declined, "抱歉，办事指南中没有找到。".into()) };
        let record = StoredAnswer::of(&outcome, &c);
        assert_eq!(shown_text(&record.shown), outcome.text);
        assert_eq!(record.withdrawn.len(), 1, "{record:?}");
        assert!(record.offered_human());
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!(serde_json::from_value::<StoredAnswer>(json.clone()).unwrap(), record);
        assert_eq!(json["confidence"], serde_json::json!(0.3f32), "gap reports read meta.confidence");
    }

    #[test]
    fn an_older_record_without_shown_events_still_reads() {
        let old = serde_json::json!({"card": {"code": "X"}, "sources": [], "confidence": 0.9, "item": null, "appeal": null});
        let r: StoredAnswer = serde_json::from_value(old).unwrap();
        assert!(r.shown.is_empty());
    }
}
