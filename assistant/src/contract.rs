//! The streaming contract: what a client shows is what was checked.
//!
//! A turn streams `Token`s as the model writes them, before anything is verified. Every streamed
//! token is therefore *provisional* until the turn settles it, in one of three ways:
//! - confirmed: `Citations` (the text stands as streamed), or the turn ends with exactly that
//!   text (templated replies: greetings, acknowledgements, form steps);
//! - replaced: `Settled` or `Replace` carry the text to show instead;
//! - withdrawn: `Withdraw` removes it (the turn then clarifies, declines or hands off).
//!
//! [`Contract`] sits between the engine and any client (SSE, the terminal): it passes events
//! through, injects a `Withdraw` whenever provisional text would otherwise stay on screen under
//! another outcome, and keeps the events the citizen saw (tokens collapsed, status lines dropped)
//! so the stored record, a replay and the history render exactly what the live stream showed.

use serde::Serialize;

use crate::engine::{AnswerEvent, Outcome};

/// Why streamed text is withdrawn when the engine did not say.
const WITHDRAWN: &str = "生成的内容未能在办事指南中核实，已撤回";

/// One turn's stream, checked against the contract. Not thread-safe; one per turn.
#[derive(Debug, Default)]
pub struct Contract {
    /// Text streamed since the last confirmation, replacement or withdrawal.
    provisional: String,
    /// The events the citizen saw, in order, for the stored record.
    shown: Vec<AnswerEvent>,
    /// Text that was streamed and then withdrawn, with the reason (kept for agents and audit).
    withdrawn: Vec<Withdrawn>,
}

/// Streamed text that the citizen saw briefly and that was taken back.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Withdrawn {
    pub text: String,
    pub reason: String,
}

impl Contract {
    pub fn new() -> Self {
        Self::default()
    }

    /// The events to send for one engine event: the event itself, preceded by a `Withdraw` when
    /// it ends the turn another way while unconfirmed text is on screen.
    pub fn pass(&mut self, ev: AnswerEvent) -> Vec<AnswerEvent> {
        let mut out = Vec::with_capacity(2);
        match &ev {
            AnswerEvent::Token { text } => self.provisional.push_str(text),
            AnswerEvent::Citations { .. } => self.confirm(),
            AnswerEvent::Settled { .. } | AnswerEvent::Replace { .. } => {
                // The streamed run is replaced: neither shown nor stored as shown.
                self.provisional.clear();
                self.drop_token_run();
            }
            AnswerEvent::Withdraw { reason } => self.take_back(reason.clone()),
            AnswerEvent::Clarify { .. }
            | AnswerEvent::Decline { .. }
            | AnswerEvent::Handoff { .. }
            | AnswerEvent::Bundle { .. }
            | AnswerEvent::Form { .. }
            | AnswerEvent::Curated { .. } => {
                if let Some(w) = self.withdraw_pending() {
                    out.push(w);
                }
            }
            AnswerEvent::Status { .. } | AnswerEvent::Sources { .. } | AnswerEvent::Actions { .. } => {}
        }
        self.record(&ev);
        out.push(ev);
        out
    }

    /// The events still owed when the turn ends with `outcome`: provisional text that is not
    /// exactly the outcome's text is withdrawn, and then the outcome's text is sent (it is
    /// what the record holds, so it must be what the page shows).
    pub fn finish(&mut self, outcome: &Outcome) -> Vec<AnswerEvent> {
        if self.provisional.is_empty() || self.provisional == outcome.text {
            self.provisional.clear();
            return Vec::new();
        }
        let mut out: Vec<AnswerEvent> = self.withdraw_pending().into_iter().collect();
        if !self.shows_outcome_text(outcome) {
            let t = AnswerEvent::Token { text: outcome.text.clone() };
            self.record(&t);
            out.push(t);
        }
        self.provisional.clear();
        out
    }

    /// A turn that failed or was cancelled: whatever was streamed unconfirmed is withdrawn.
    pub fn abort(&mut self, reason: &str) -> Option<AnswerEvent> {
        if self.provisional.is_empty() {
            return None;
        }
        let ev = AnswerEvent::Withdraw { reason: reason.to_string() };
        self.take_back(reason.to_string());
        Some(ev)
    }

    /// The events the citizen saw, tokens collapsed into one per run, status lines dropped.
    pub fn shown(&self) -> &[AnswerEvent] {
        &self.shown
    }

    /// Streamed text that was taken back during the turn.
    pub fn withdrawn(&self) -> &[Withdrawn] {
        &self.withdrawn
    }

    fn confirm(&mut self) {
        self.provisional.clear();
    }

    fn withdraw_pending(&mut self) -> Option<AnswerEvent> {
        if self.provisional.is_empty() {
            return None;
        }
        self.take_back(WITHDRAWN.to_string());
        let ev = AnswerEvent::Withdraw { reason: WITHDRAWN.to_string() };
        self.record(&ev);
        Some(ev)
    }

    fn take_back(&mut self, reason: String) {
        let text = std::mem::take(&mut self.provisional);
        if !text.is_empty() {
            self.withdrawn.push(Withdrawn { text, reason });
        }
        // The withdrawn tokens are not part of what the citizen is left with.
        self.drop_token_run();
    }

    fn drop_token_run(&mut self) {
        if matches!(self.shown.last(), Some(AnswerEvent::Token { .. })) {
            self.shown.pop();
        }
    }

    /// Whether the outcome's text is already on screen through a clarify / decline / handoff.
    fn shows_outcome_text(&self, outcome: &Outcome) -> bool {
        shown_text(&self.shown) == outcome.text
    }

    fn record(&mut self, ev: &AnswerEvent) {
        match ev {
            AnswerEvent::Status { .. } => {}
            AnswerEvent::Token { text } => match self.shown.last_mut() {
                Some(AnswerEvent::Token { text: run }) => run.push_str(text),
                _ => self.shown.push(ev.clone()),
            },
            _ => self.shown.push(ev.clone()),
        }
    }
}

/// The answer text a client following the contract is left with after `events`: confirmed or
/// replacing text, clarifying questions with their numbered options, declines and handoff
/// messages, one block per line. Status lines, cards and buttons are not text.
pub fn shown_text(events: &[AnswerEvent]) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut provisional = String::new();
    for ev in events {
        match ev {
            AnswerEvent::Token { text } => provisional.push_str(text),
            AnswerEvent::Citations { .. } => blocks.push(std::mem::take(&mut provisional)),
            AnswerEvent::Settled { text, .. } | AnswerEvent::Replace { text, .. } => {
                provisional.clear();
                blocks.push(text.clone());
            }
            AnswerEvent::Withdraw { .. } => provisional.clear(),
            AnswerEvent::Clarify { question, options } => {
                let mut t = question.clone();
                for (i, o) in options.iter().enumerate() {
                    t.push_str(&format!("\n{}. {o}", i + 1));
                }
                blocks.push(t);
            }
            AnswerEvent::Decline { message, .. } | AnswerEvent::Handoff { message, .. } => blocks.push(message.clone()),
            _ => {}
        }
    }
    // Text still unconfirmed at the end is confirmed by the turn ending with it.
    if !provisional.is_empty() {
        blocks.push(provisional);
    }
    blocks.retain(|b| !b.is_empty());
    blocks.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::OutcomeKind;

    fn token(t: &str) -> AnswerEvent {
        AnswerEvent::Token { text: t.into() }
    }

    fn run(events: Vec<AnswerEvent>, outcome: &Outcome) -> (Vec<AnswerEvent>, Contract) {
        let mut c = Contract::new();
        let mut sent: Vec<AnswerEvent> = events.into_iter().flat_map(|e| c.pass(e)).collect();
        sent.extend(c.finish(outcome));
        (sent, c)
    }

    fn clarify() -> AnswerEvent {
        AnswerEvent::Clarify { question: "请问是哪一项？".into(), options: vec!["甲".into(), "乙".into()] }
    }

    #[test]
    fn streamed_text_under_a_clarification_is_withdrawn_first() {
        let o = Outcome::plain(OutcomeKind::Clarified, "请问是哪一项？\n1. 甲\n2. 乙".into());
        let (sent, c) = run(vec![token("是的，"), token("官方说可以。"), clarify()], &o);
        let at = sent.iter().position(|e| matches!(e, AnswerEvent::Withdraw { .. })).expect("a withdraw");
        assert!(at < sent.iter().position(|e| matches!(e, AnswerEvent::Clarify { .. })).unwrap());
        assert_eq!(shown_text(&sent), o.text, "the page is left with the record's text");
        assert_eq!(shown_text(c.shown()), o.text, "the stored events show the same");
        assert_eq!(c.withdrawn()[0].text, "是的，官方说可以。");
        assert!(!c.shown().iter().any(|e| matches!(e, AnswerEvent::Token { .. })));
    }

    #[test]
    fn confirmed_replaced_and_templated_text_stays() {
        let cit = AnswerEvent::Citations { sources: vec![], verification: crate::citations::verify("", &[]) };
        let o = Outcome::plain(OutcomeKind::Generated, "工本费20元[1]".into());
        let (sent, c) = run(vec![token("工本费"), token("20元[1]"), cit], &o);
        assert!(!sent.iter().any(|e| matches!(e, AnswerEvent::Withdraw { .. })));
        assert_eq!(shown_text(&sent), o.text);
        assert!(c.withdrawn().is_empty());

        let o = Outcome::plain(OutcomeKind::Extractive, "原文".into());
        let rep = AnswerEvent::Replace { text: "原文".into(), reason: "未通过核验".into(), sources: vec![] };
        let (sent, _) = run(vec![token("瞎编的"), rep], &o);
        assert_eq!(shown_text(&sent), "原文");

        let o = Outcome::plain(OutcomeKind::SmallTalk, "您好！".into());
        let (sent, c) = run(vec![token("您好！")], &o);
        assert_eq!(sent.len(), 1, "a templated reply is confirmed by the turn ending with it");
        assert_eq!(shown_text(c.shown()), "您好！");
    }

    #[test]
    fn text_that_is_not_the_outcome_is_withdrawn_at_the_end_and_the_outcome_sent() {
        let o = Outcome::plain(OutcomeKind::Declined, "知识库中没有相关信息".into());
        let (sent, c) = run(vec![token("大概是")], &o);
        assert!(matches!(sent[1], AnswerEvent::Withdraw { .. }));
        assert_eq!(shown_text(&sent), o.text);
        assert_eq!(shown_text(c.shown()), o.text);
    }

    #[test]
    fn an_explicit_withdraw_is_passed_once_and_a_handoff_after_it_needs_none() {
        let o = Outcome::plain(OutcomeKind::Handoff, "已转人工".into());
        let h = AnswerEvent::Handoff { reason: crate::handoff::HandoffReason::LowConfidence, message: "已转人工".into() };
        let (sent, c) = run(vec![token("x"), AnswerEvent::Withdraw { reason: "模型未找到答案".into() }, h], &o);
        assert_eq!(sent.iter().filter(|e| matches!(e, AnswerEvent::Withdraw { .. })).count(), 1);
        assert_eq!(c.withdrawn()[0].reason, "模型未找到答案");
        assert_eq!(shown_text(&sent), "已转人工");
    }

    #[test]
    fn an_aborted_turn_withdraws_its_unconfirmed_text() {
        let mut c = Contract::new();
        c.pass(token("半句"));
        assert!(matches!(c.abort("回答中断"), Some(AnswerEvent::Withdraw { .. })));
        assert!(c.abort("again").is_none());
    }
}
