//! Questions the knowledge base does not cover (`eval/data/out_of_kb.jsonl`, written for this
//! project), through the full dialogue engine: does the citizen get an answer the guides do not
//! back, and where do refused questions go?
//!
//! Each row says how near it is to the domain (`near`: another country's or city's rules,
//! national exams, companies' services, courts, city matters with no guide; `far`: weather,
//! recipes, jokes) and who handles it (`city` when a city department does, so a person on the
//! hotline is the right place; anything else — `foreign`, `other_region`, `national`,
//! `company`, `court`, `none` — when no city department can, so a place in the agent queue is
//! wasted and the citizen should be told where to go instead). When the engine asks back, the
//! citizen repeats the question (they have nothing more specific to say). Tune on `dev`, report
//! `test` once.

use banshi_assistant::{Assistant, DialogueState, Outcome, OutcomeKind};
use serde::{Deserialize, Serialize};

use crate::{EvalError, Split};

#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub id: u64,
    pub split: String,
    /// `near` or `far`.
    pub kind: String,
    /// `city` or where else the matter is handled.
    pub handled_by: String,
    pub question: String,
}

impl Question {
    /// A city department handles the matter: a handoff to the hotline is the right end.
    pub fn city_handles(&self) -> bool {
        self.handled_by == "city"
    }
}

/// How a question ended, within two turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// An answer (generated, extractive, curated) or a form started: the KB was made to answer.
    Answered,
    /// Still asking back after two turns.
    AskedBack,
    /// Told the question is outside the service (with where to go, when the deployment knows)
    /// or that the guides do not cover it.
    OutOfScope,
    /// A ticket in the agent queue.
    Queue,
    /// Anything else (small talk, a suggestion recorded, a progress reply).
    Other,
}

impl End {
    fn of(o: &Outcome) -> Self {
        match o.kind {
            OutcomeKind::Generated | OutcomeKind::Extractive | OutcomeKind::Curated | OutcomeKind::Bundle | OutcomeKind::FormStep => {
                End::Answered
            }
            OutcomeKind::Clarified => End::AskedBack,
            OutcomeKind::OutOfScope | OutcomeKind::Declined => End::OutOfScope,
            OutcomeKind::Handoff => End::Queue,
            _ => End::Other,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub id: u64,
    pub kind: String,
    pub handled_by: String,
    pub question: String,
    pub outcome: String,
    pub end: End,
    pub reply: String,
    /// An answer that states a number (a fee, a time limit) the KB has no item for.
    pub states_a_number: bool,
}

/// Shares of one group of rows.
#[derive(Debug, Clone, Serialize)]
pub struct Shares {
    pub group: String,
    pub questions: usize,
    pub answered: f64,
    pub asked_back: f64,
    pub out_of_scope: f64,
    pub queue: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub split: String,
    pub groups: Vec<Shares>,
    /// Of all rows: the answer was refused (out of scope) or handed off, not answered.
    pub refused_or_handed_off: f64,
    /// Of the rows no city department handles: the share that took a place in the queue.
    pub elsewhere_to_queue: f64,
    pub rows: Vec<Row>,
}

/// The questions of `split`.
pub fn of_split(all: Vec<Question>, split: Split) -> Vec<Question> {
    all.into_iter().filter(|q| q.split == split.as_str()).collect()
}

/// Every question in a fresh conversation.
pub async fn run(assistant: &Assistant, questions: &[Question]) -> Result<Vec<Row>, EvalError> {
    let mut rows = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        crate::progress("out-of-KB questions", i, questions.len());
        let mut state = DialogueState::default();
        let mut outcome = turn(assistant, &mut state, &q.question).await?;
        if outcome.kind == OutcomeKind::Clarified {
            outcome = turn(assistant, &mut state, &q.question).await?;
        }
        let end = End::of(&outcome);
        rows.push(Row {
            id: q.id,
            kind: q.kind.clone(),
            handled_by: q.handled_by.clone(),
            question: q.question.clone(),
            outcome: format!("{:?}", outcome.kind),
            end,
            states_a_number: end == End::Answered && outcome.text.chars().any(|c| c.is_ascii_digit()),
            reply: outcome.text,
        });
    }
    crate::progress("out-of-KB questions", questions.len(), questions.len());
    Ok(rows)
}

async fn turn(a: &Assistant, state: &mut DialogueState, q: &str) -> Result<Outcome, EvalError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let out = a.respond(state, q, &tx).await.map_err(|e| EvalError::Dataset(e.to_string()));
    drop(tx);
    let _ = drain.await;
    out
}

fn shares(group: &str, rows: &[&Row]) -> Shares {
    let n = rows.len().max(1) as f64;
    let share = |e: End| rows.iter().filter(|r| r.end == e).count() as f64 / n;
    Shares {
        group: group.into(),
        questions: rows.len(),
        answered: share(End::Answered),
        asked_back: share(End::AskedBack),
        out_of_scope: share(End::OutOfScope),
        queue: share(End::Queue),
    }
}

pub fn report(split: Split, rows: Vec<Row>) -> Report {
    let all: Vec<&Row> = rows.iter().collect();
    let by = |f: &dyn Fn(&Row) -> bool| all.iter().copied().filter(|r| f(r)).collect::<Vec<_>>();
    let elsewhere = by(&|r| r.handled_by != "city");
    let mut groups = vec![shares("all", &all), shares("near", &by(&|r| r.kind == "near")), shares("far", &by(&|r| r.kind == "far"))];
    groups.push(shares("city handles it", &by(&|r| r.handled_by == "city")));
    groups.push(shares("no city department handles it", &elsewhere));
    let mut handlers: Vec<&str> = rows.iter().map(|r| r.handled_by.as_str()).filter(|h| *h != "city").collect();
    handlers.sort();
    handlers.dedup();
    for h in handlers {
        groups.push(shares(&format!("  handled by: {h}"), &by(&|r| r.handled_by == h)));
    }
    let n = rows.len().max(1) as f64;
    Report {
        split: split.as_str().into(),
        refused_or_handed_off: rows.iter().filter(|r| matches!(r.end, End::OutOfScope | End::Queue)).count() as f64 / n,
        elsewhere_to_queue: shares("", &elsewhere).queue,
        groups,
        rows,
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Out-of-KB questions ({} split, {} questions)\n\n\
             Refused or handed off within two turns: {:.3}. Of the questions no city department \
             handles, taken into the agent queue: {:.3}.\n\n\
             | group | questions | answered | still asking back | out of scope (referred) | agent queue |\n|---|---|---|---|---|---|\n",
            self.split,
            self.rows.len(),
            self.refused_or_handed_off,
            self.elsewhere_to_queue
        );
        for g in &self.groups {
            md.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                g.group, g.questions, g.answered, g.asked_back, g.out_of_scope, g.queue
            ));
        }
        let answered: Vec<&Row> = self.rows.iter().filter(|r| r.end == End::Answered).collect();
        md.push_str(&format!(
            "\nAnswered although the KB has no item ({}), {} stating a number.\n",
            answered.len(),
            answered.iter().filter(|r| r.states_a_number).count()
        ));
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, handled_by: &str, end: End) -> Row {
        Row {
            id: 1,
            kind: kind.into(),
            handled_by: handled_by.into(),
            question: String::new(),
            outcome: String::new(),
            end,
            reply: String::new(),
            states_a_number: false,
        }
    }

    #[test]
    fn shares_by_who_handles_it() {
        let rows = vec![
            row("near", "city", End::Queue),
            row("near", "company", End::Queue),
            row("near", "company", End::OutOfScope),
            row("far", "none", End::Answered),
        ];
        let r = report(Split::Dev, rows);
        assert!((r.elsewhere_to_queue - 1.0 / 3.0).abs() < 1e-9, "the city's own matter is not counted");
        assert!((r.refused_or_handed_off - 0.75).abs() < 1e-9);
        let company = r.groups.iter().find(|g| g.group.ends_with("company")).unwrap();
        assert_eq!((company.questions, company.queue, company.out_of_scope), (2, 0.5, 0.5));
        assert!(r.markdown().contains("| far | 1 | 1.000 |"));
    }
}
