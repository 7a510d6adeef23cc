//! Answer evaluation.
//!
//! 1. Grounded answers on gov_qa: the official answers are indexed as passages (the retrieval
//!    eval's index, reused); for N test-split questions the top passages are put in the
//!    production prompt, the model answers, and the answer is verified like in production.
//!    Reported: citation validity, faithfulness, character-level F1 and ROUGE-L against the
//!    official answer, extractive-fallback rate, and the same overlap for the extractive
//!    baseline (the top passage quoted).
//! 2. Out-of-knowledge-base questions (`eval/data/out_of_kb.jsonl`, written for this project)
//!    through the full dialogue engine over the sample knowledge base: the share that ends in a
//!    refusal or a handoff within two turns, and the share whose reply states no number.

use std::time::Instant;

use banshi_assistant::citations::{verify, Source};
use banshi_assistant::prompt::{answer_prompt, fit_budget, CONTEXT_BUDGET_CHARS};
use banshi_assistant::{Assistant, DialogueState, OutcomeKind};
use banshi_knowledge::search::SearchParams;
use banshi_models::{ComputeHandle, GenEvent, GenParams};
use serde::Serialize;

use crate::retrieval::RetrievalEval;
use crate::{EvalError, Split};

#[derive(Debug, Clone, Serialize)]
pub struct GroundedRow {
    pub id: u64,
    pub question: String,
    pub answer: String,
    pub passed: bool,
    /// The model said the sources do not answer (the dialogue then asks back).
    pub declined: bool,
    pub citation_validity: Option<f32>,
    pub faithfulness: f32,
    pub f1: f64,
    pub rouge_l: f64,
    pub baseline_f1: f64,
    pub baseline_rouge_l: f64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutOfKbRow {
    pub question: String,
    pub outcome: String,
    pub reply: String,
    pub refused_or_handed_off: bool,
    pub states_a_number: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswersReport {
    /// gov_qa split the grounded questions come from.
    pub split: String,
    pub questions: usize,
    pub citation_validity: f64,
    pub faithfulness: f64,
    pub fallback_rate: f64,
    pub declined_rate: f64,
    pub f1: f64,
    pub rouge_l: f64,
    pub baseline_f1: f64,
    pub baseline_rouge_l: f64,
    pub seconds_per_answer: f64,
    pub out_of_kb: usize,
    pub refusal_or_handoff_rate: f64,
    pub no_number_rate: f64,
    pub grounded: Vec<GroundedRow>,
    pub out_of_kb_rows: Vec<OutOfKbRow>,
}

/// Character-level F1 over content characters (bag of characters).
pub fn char_f1(pred: &str, gold: &str) -> f64 {
    let p = chars(pred);
    let g = chars(gold);
    if p.is_empty() || g.is_empty() {
        return 0.0;
    }
    let mut counts = std::collections::HashMap::new();
    for c in &g {
        *counts.entry(*c).or_insert(0i64) += 1;
    }
    let mut overlap = 0;
    for c in &p {
        if let Some(n) = counts.get_mut(c) {
            if *n > 0 {
                *n -= 1;
                overlap += 1;
            }
        }
    }
    if overlap == 0 {
        return 0.0;
    }
    let precision = overlap as f64 / p.len() as f64;
    let recall = overlap as f64 / g.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// ROUGE-L F-measure over characters (longest common subsequence).
pub fn rouge_l(pred: &str, gold: &str) -> f64 {
    let p = chars(pred);
    let g = chars(gold);
    if p.is_empty() || g.is_empty() {
        return 0.0;
    }
    let mut prev = vec![0usize; g.len() + 1];
    for a in &p {
        let mut cur = vec![0usize; g.len() + 1];
        for (j, b) in g.iter().enumerate() {
            cur[j + 1] = if a == b { prev[j] + 1 } else { cur[j].max(prev[j + 1]) };
        }
        prev = cur;
    }
    let lcs = prev[g.len()] as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let (precision, recall) = (lcs / p.len() as f64, lcs / g.len() as f64);
    2.0 * precision * recall / (precision + recall)
}

fn chars(s: &str) -> Vec<char> {
    banshi_assistant::citations::strip_citations(s).chars().filter(|c| c.is_alphanumeric()).collect()
}

/// Grounded answers for the first `n` questions of `split` (in id order).
pub async fn grounded(eval: &RetrievalEval, compute: &ComputeHandle, split: Split, n: usize) -> Result<Vec<GroundedRow>, EvalError> {
    let questions: Vec<_> = eval.rows.iter().filter(|r| split.contains(r.id)).take(n).cloned().collect();
    let mut rows = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        crate::progress("answering gov_qa questions", i, questions.len());
        let started = Instant::now();
        let found = eval.searcher().search(&q.question, SearchParams { items: 3, chunks: 3, ..SearchParams::default() }).await?;
        let sources: Vec<Source> = found
            .items
            .iter()
            .filter_map(|it| it.chunks.first())
            .enumerate()
            .map(|(i, h)| Source { n: i + 1, code: h.chunk.code.clone(), item: h.chunk.name.clone(), section: h.chunk.section.clone(), title: h.chunk.title.clone(), text: h.chunk.text.clone() })
            .collect();
        let sources = fit_budget(sources, CONTEXT_BUDGET_CHARS);
        let mut rx = compute.generate(answer_prompt(&q.question, &sources), GenParams { max_tokens: 200, ..GenParams::default() })?;
        let mut text = String::new();
        while let Some(ev) = rx.recv().await {
            match ev {
                GenEvent::Text(t) => text.push_str(&t),
                GenEvent::Done(_) => break,
                GenEvent::Error(e) => return Err(EvalError::Dataset(format!("generation failed: {e}"))),
            }
        }
        let v = verify(&text, &sources);
        let baseline = sources.first().map(|s| s.text.clone()).unwrap_or_default();
        // What the citizen would see: the verified answer, else the extractive fallback.
        let shown = if v.passed { text.clone() } else { baseline.clone() };
        let declined = text.contains(banshi_assistant::MODEL_DECLINE);
        rows.push(GroundedRow {
            id: q.id,
            question: q.question.clone(),
            answer: text,
            passed: v.passed,
            declined,
            citation_validity: v.citation_validity(),
            faithfulness: v.faithfulness(),
            f1: char_f1(&shown, &q.answer),
            rouge_l: rouge_l(&shown, &q.answer),
            baseline_f1: char_f1(&baseline, &q.answer),
            baseline_rouge_l: rouge_l(&baseline, &q.answer),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    crate::progress("answering gov_qa questions", questions.len(), questions.len());
    Ok(rows)
}

/// Each out-of-KB question through the dialogue engine; when it asks back, the citizen repeats
/// the question (they have nothing more specific to say).
pub async fn out_of_kb(assistant: &Assistant, questions: &[String]) -> Result<Vec<OutOfKbRow>, EvalError> {
    let mut rows = Vec::new();
    for q in questions {
        let mut state = DialogueState::default();
        let mut outcome = turn(assistant, &mut state, q).await?;
        if outcome.kind == OutcomeKind::Clarified {
            outcome = turn(assistant, &mut state, q).await?;
        }
        let refused = matches!(outcome.kind, OutcomeKind::Declined | OutcomeKind::Handoff | OutcomeKind::OutOfScope);
        rows.push(OutOfKbRow {
            question: q.clone(),
            outcome: format!("{:?}", outcome.kind),
            states_a_number: outcome.text.chars().any(|c| c.is_ascii_digit()) && !refused,
            reply: outcome.text,
            refused_or_handed_off: refused,
        });
    }
    Ok(rows)
}

async fn turn(a: &Assistant, state: &mut DialogueState, q: &str) -> Result<banshi_assistant::Outcome, EvalError> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(256);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let out = a.respond(state, q, &tx).await.map_err(|e| EvalError::Dataset(e.to_string()));
    drop(tx);
    let _ = drain.await;
    out
}

pub fn report(split: Split, grounded: Vec<GroundedRow>, ookb: Vec<OutOfKbRow>) -> AnswersReport {
    let n = grounded.len().max(1) as f64;
    let mean = |f: &dyn Fn(&GroundedRow) -> f64| grounded.iter().map(f).sum::<f64>() / n;
    let validities: Vec<f64> = grounded.iter().filter_map(|r| r.citation_validity.map(f64::from)).collect();
    let m = ookb.len().max(1) as f64;
    AnswersReport {
        split: split.as_str().into(),
        questions: grounded.len(),
        citation_validity: if validities.is_empty() { 0.0 } else { validities.iter().sum::<f64>() / validities.len() as f64 },
        faithfulness: mean(&|r| r.faithfulness as f64),
        fallback_rate: grounded.iter().filter(|r| !r.passed).count() as f64 / n,
        declined_rate: grounded.iter().filter(|r| r.declined).count() as f64 / n,
        f1: mean(&|r| r.f1),
        rouge_l: mean(&|r| r.rouge_l),
        baseline_f1: mean(&|r| r.baseline_f1),
        baseline_rouge_l: mean(&|r| r.baseline_rouge_l),
        seconds_per_answer: mean(&|r| r.seconds),
        out_of_kb: ookb.len(),
        refusal_or_handoff_rate: ookb.iter().filter(|r| r.refused_or_handed_off).count() as f64 / m,
        no_number_rate: ookb.iter().filter(|r| !r.states_a_number).count() as f64 / m,
        grounded,
        out_of_kb_rows: ookb,
    }
}

impl AnswersReport {
    pub fn markdown(&self) -> String {
        format!(
            "# Answer evaluation\n\n\
             ## Grounded answers (gov_qa {} split, {} questions)\n\n\
             | metric | value |\n|---|---|\n\
             | citation validity (written citations that exist and support their sentence) | {:.3} |\n\
             | faithfulness (answer sentences supported by a source) | {:.3} |\n\
             | extractive-fallback rate (answer failed verification) | {:.3} |\n\
             | model said the sources do not answer (in-KB questions) | {:.3} |\n\
             | character F1 vs official answer (shown answer) | {:.3} |\n\
             | ROUGE-L vs official answer (shown answer) | {:.3} |\n\
             | baseline: top passage quoted — character F1 | {:.3} |\n\
             | baseline: top passage quoted — ROUGE-L | {:.3} |\n\
             | seconds per answer | {:.1} |\n\n\
             ## Out-of-knowledge-base questions ({})\n\n\
             | metric | value |\n|---|---|\n\
             | refusal-or-handoff rate (within two turns) | {:.3} |\n\
             | replies stating no number | {:.3} |\n",
            self.split,
            self.questions,
            self.citation_validity,
            self.faithfulness,
            self.fallback_rate,
            self.declined_rate,
            self.f1,
            self.rouge_l,
            self.baseline_f1,
            self.baseline_rouge_l,
            self.seconds_per_answer,
            self.out_of_kb,
            self.refusal_or_handoff_rate,
            self.no_number_rate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_metrics() {
        assert!((char_f1("工本费20元", "工本费20元") - 1.0).abs() < 1e-9);
        assert_eq!(char_f1("", "x"), 0.0);
        assert!((rouge_l("abcd", "abcd") - 1.0).abs() < 1e-9);
        let r = rouge_l("工本费二十元", "工本费20元");
        assert!(r > 0.5 && r < 1.0, "{r}");
        assert!(rouge_l("甲乙丙", "丙乙甲") < char_f1("甲乙丙", "丙乙甲"), "order matters for ROUGE-L only");
    }
}
