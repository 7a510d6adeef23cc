//! Answer evaluation.
//!
//! 1. Grounded answers on gov_qa: the official answers are indexed as passages (the retrieval
//!    eval's index, reused); for N test-split questions the top passages are put in the
//!    production prompt, the model answers, and the answer is verified and settled like in
//!    production (unbacked claims removed, else the top passage quoted). Reported for the
//!    model's own text and for the shown answer: citation validity and faithfulness; for the
//!    shown answer also the removal and extractive-fallback rates and character-level F1 and
//!    ROUGE-L against the official answer, beside the extractive baseline (top passage quoted).
//!
//! Questions the knowledge base does not cover are [`crate::out_of_kb`].

use std::time::Instant;

use banshi_assistant::citations::{complete_sentences, settle, verify, Source};
use banshi_assistant::prompt::{answer_messages, fit_budget, CONTEXT_BUDGET_CHARS};
use banshi_knowledge::search::SearchParams;
use banshi_models::{ChatModel, ComputeHandle, GenEvent, GenParams};
use serde::Serialize;

use crate::retrieval::RetrievalEval;
use crate::{EvalError, Split};

#[derive(Debug, Clone, Serialize)]
pub struct GroundedRow {
    pub id: u64,
    pub question: String,
    /// The model's text.
    pub answer: String,
    /// What the citizen would see: `answer` settled, or the top passage quoted.
    pub shown: String,
    /// The model's text passed verification as written.
    pub passed: bool,
    /// Too little of it was backed: the top passage is shown instead.
    pub fallback: bool,
    /// Claims removed from the model's text for lack of support.
    pub removed: usize,
    /// The model said the sources do not answer (the dialogue then asks back).
    pub declined: bool,
    pub citation_validity: Option<f32>,
    pub faithfulness: f32,
    /// Of the shown answer (`None` when it cites nothing, like a quoted passage).
    pub shown_citation_validity: Option<f32>,
    /// Of the shown answer; a quoted passage is its own source.
    pub shown_faithfulness: f32,
    pub f1: f64,
    pub rouge_l: f64,
    pub baseline_f1: f64,
    pub baseline_rouge_l: f64,
    pub seconds: f64,
    /// The model hit the token budget.
    pub cut_by_budget: bool,
    /// The shown (generated) answer ends without an end mark: cut mid-sentence.
    pub ends_mid_sentence: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswersReport {
    /// gov_qa split the grounded questions come from.
    pub split: String,
    pub questions: usize,
    /// Of the model's own text.
    pub citation_validity: f64,
    pub faithfulness: f64,
    pub passed_rate: f64,
    /// Of the shown answer.
    pub shown_citation_validity: f64,
    pub shown_faithfulness: f64,
    /// Shown answers with claims removed.
    pub removal_rate: f64,
    /// Answers the token budget cut (their unfinished last sentence is dropped).
    pub cut_by_budget: usize,
    /// Shown generated answers that end mid-sentence (should be 0).
    pub ends_mid_sentence: usize,
    pub fallback_rate: f64,
    pub declined_rate: f64,
    pub f1: f64,
    pub rouge_l: f64,
    pub baseline_f1: f64,
    pub baseline_rouge_l: f64,
    pub seconds_per_answer: f64,
    pub grounded: Vec<GroundedRow>,
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
            .map(|(i, h)| Source {
                n: i + 1,
                code: h.chunk.code.clone(),
                item: h.chunk.name.clone(),
                section: h.chunk.section,
                title: h.chunk.title.clone(),
                text: h.chunk.text.clone(),
            })
            .collect();
        let sources = fit_budget(sources, CONTEXT_BUDGET_CHARS);
        let mut stream =
            compute.chat(answer_messages(&q.question, &sources), GenParams { max_tokens: 200, ..GenParams::default() }).await?;
        let mut text = String::new();
        let mut cut = false;
        while let Some(ev) = stream.next().await {
            match ev {
                GenEvent::Text(t) => text.push_str(&t),
                GenEvent::Done(stats) => {
                    cut = !stats.stopped_by_eos;
                    break;
                }
                GenEvent::Error(e) => return Err(EvalError::Dataset(format!("generation failed: {e}"))),
            }
        }
        // As in production: a sentence the token budget cut off is not shown.
        if cut {
            text = complete_sentences(&text).to_string();
        }
        let v = verify(&text, &sources);
        let baseline = sources.first().map(|s| s.text.clone()).unwrap_or_default();
        let declined = text.contains(banshi_assistant::MODEL_DECLINE);
        // What the citizen would see: the settled answer, else the extractive fallback.
        let settled = if declined { None } else { settle(&text, &sources) };
        let shown = settled.as_ref().map_or_else(|| baseline.clone(), |s| s.text.clone());
        rows.push(GroundedRow {
            id: q.id,
            question: q.question.clone(),
            answer: text,
            passed: v.passed,
            fallback: settled.is_none(),
            removed: settled.as_ref().map_or(0, |s| s.removed.len()),
            declined,
            citation_validity: v.citation_validity(),
            faithfulness: v.faithfulness(),
            shown_citation_validity: settled.as_ref().and_then(|s| s.verification.citation_validity()),
            shown_faithfulness: settled.as_ref().map_or(1.0, |s| s.verification.faithfulness()),
            f1: char_f1(&shown, &q.answer),
            rouge_l: rouge_l(&shown, &q.answer),
            baseline_f1: char_f1(&baseline, &q.answer),
            baseline_rouge_l: rouge_l(&baseline, &q.answer),
            seconds: started.elapsed().as_secs_f64(),
            cut_by_budget: cut,
            ends_mid_sentence: settled.as_ref().is_some_and(|s| complete_sentences(&s.text) != s.text),
            shown,
        });
    }
    crate::progress("answering gov_qa questions", questions.len(), questions.len());
    Ok(rows)
}

pub fn report(split: Split, grounded: Vec<GroundedRow>) -> AnswersReport {
    let n = grounded.len().max(1) as f64;
    let mean = |f: &dyn Fn(&GroundedRow) -> f64| grounded.iter().map(f).sum::<f64>() / n;
    let mean_some = |f: &dyn Fn(&GroundedRow) -> Option<f32>| {
        let v: Vec<f64> = grounded.iter().filter_map(|r| f(r).map(f64::from)).collect();
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let share = |f: &dyn Fn(&GroundedRow) -> bool| grounded.iter().filter(|r| f(r)).count() as f64 / n;
    AnswersReport {
        split: split.as_str().into(),
        questions: grounded.len(),
        citation_validity: mean_some(&|r| r.citation_validity),
        faithfulness: mean(&|r| r.faithfulness as f64),
        passed_rate: share(&|r| r.passed),
        shown_citation_validity: mean_some(&|r| r.shown_citation_validity),
        shown_faithfulness: mean(&|r| r.shown_faithfulness as f64),
        removal_rate: share(&|r| r.removed > 0),
        cut_by_budget: grounded.iter().filter(|r| r.cut_by_budget).count(),
        ends_mid_sentence: grounded.iter().filter(|r| r.ends_mid_sentence).count(),
        fallback_rate: share(&|r| r.fallback),
        declined_rate: share(&|r| r.declined),
        f1: mean(&|r| r.f1),
        rouge_l: mean(&|r| r.rouge_l),
        baseline_f1: mean(&|r| r.baseline_f1),
        baseline_rouge_l: mean(&|r| r.baseline_rouge_l),
        seconds_per_answer: mean(&|r| r.seconds),
        grounded,
    }
}

impl AnswersReport {
    pub fn markdown(&self) -> String {
        format!(
            "# Answer evaluation\n\n\
             ## Grounded answers (gov_qa {} split, {} questions)\n\n\
             | metric | model's text | shown answer |\n|---|---|---|\n\
             | citation validity (written citations that exist and support their sentence) | {:.3} | {:.3} |\n\
             | faithfulness (answer sentences supported by a source) | {:.3} | {:.3} |\n\n\
             | metric | value |\n|---|---|\n\
             | model's text passed verification as written | {:.3} |\n\
             | shown with unbacked claims removed | {:.3} |\n\
             | extractive fallback (more than a third of the claims unbacked) | {:.3} |\n\
             | model said the sources do not answer (in-KB questions) | {:.3} |\n\
             | character F1 vs official answer (shown answer) | {:.3} |\n\
             | ROUGE-L vs official answer (shown answer) | {:.3} |\n\
             | baseline: top passage quoted — character F1 | {:.3} |\n\
             | baseline: top passage quoted — ROUGE-L | {:.3} |\n\
             | seconds per answer | {:.1} |\n\
             | answers cut by the token budget (last sentence dropped) | {} |\n\
             | shown answers ending mid-sentence | {} |\n",
            self.split,
            self.questions,
            self.citation_validity,
            self.shown_citation_validity,
            self.faithfulness,
            self.shown_faithfulness,
            self.passed_rate,
            self.removal_rate,
            self.fallback_rate,
            self.declined_rate,
            self.f1,
            self.rouge_l,
            self.baseline_f1,
            self.baseline_rouge_l,
            self.seconds_per_answer,
            self.cut_by_budget,
            self.ends_mid_sentence
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
