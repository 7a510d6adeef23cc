//! Question → item retrieval on the imported catalogue (`eval/data/catalogue_questions.jsonl`,
//! written for this project: everyday phrasings of what the sample guides cover that avoid their
//! names and aliases). Each question asks for one item code; reported per mode: recall@1/5/10,
//! MRR and query latency, with the questions whose item is not first. Tune on `dev`, report
//! `test` once.

use std::time::Instant;

use banshi_knowledge::index::Fusion;
use banshi_knowledge::{KnowledgeBase, Mode, SearchParams};
use serde::{Deserialize, Serialize};

use crate::retrieval::{score, ModeReport, Outcome};
use crate::{EvalError, Split};

#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub id: u64,
    pub split: String,
    /// The item that answers it.
    pub code: String,
    pub question: String,
}

/// The rows of `split` (by their `split` field).
pub fn of_split(rows: Vec<Question>, split: Split) -> Vec<Question> {
    rows.into_iter().filter(|q| q.split == split.as_str()).collect()
}

/// A question whose item was not first: what came first instead.
#[derive(Debug, Clone, Serialize)]
pub struct Miss {
    pub mode: String,
    pub id: u64,
    pub want: String,
    pub got: Option<String>,
    pub rank: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CatalogueReport {
    pub split: String,
    pub questions: usize,
    pub indexed_chunks: usize,
    pub modes: Vec<ModeReport>,
    pub misses: Vec<Miss>,
}

/// Search `questions` (of `split`) in each of `modes` over `kb`. Fails when a question's item is
/// not a live guide of the knowledge base (the set and the catalogue disagree), when a question
/// names its item (the name index would find it, not retrieval), or when a search fails.
pub async fn run(
    kb: &KnowledgeBase,
    split: Split,
    questions: &[Question],
    modes: &[Mode],
    fusion: Fusion,
) -> Result<CatalogueReport, EvalError> {
    for q in questions {
        if kb.guide(&q.code).await?.is_none() {
            return Err(EvalError::Dataset(format!("question {}: item {} is not in the knowledge base", q.id, q.code)));
        }
        if kb.named_in(&q.question).contains(&q.code) {
            return Err(EvalError::Dataset(format!(
                "question {} names its item: the name index finds it, retrieval is not measured",
                q.id
            )));
        }
    }
    let mut report = CatalogueReport {
        split: split.as_str().into(),
        questions: questions.len(),
        indexed_chunks: kb.index.len().await?,
        modes: Vec::new(),
        misses: Vec::new(),
    };
    for &mode in modes {
        let params = SearchParams { mode, items: 10, fusion, ..SearchParams::default() };
        let (mut outcomes, mut latencies) = (Vec::new(), Vec::new());
        for q in questions {
            let t = Instant::now();
            let r = kb.search(&q.question, params).await?;
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            let retrieved: Vec<String> = r.items.iter().map(|i| i.code.clone()).collect();
            let rank = retrieved.iter().position(|c| *c == q.code).map(|p| p + 1);
            if rank != Some(1) {
                let got = retrieved.first().cloned();
                report.misses.push(Miss { mode: mode.as_str().into(), id: q.id, want: q.code.clone(), got, rank });
            }
            outcomes.push(Outcome { id: q.id, retrieved, rank, features: r.features });
        }
        report.modes.push(score(mode, &outcomes, &latencies));
    }
    Ok(report)
}

impl CatalogueReport {
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# Catalogue question → item\n\nSplit **{}**: {} questions over {} indexed chunks.\n\n\
             | mode | R@1 | R@5 | R@10 | MRR | p50 ms | p95 ms |\n|---|---|---|---|---|---|---|\n",
            self.split, self.questions, self.indexed_chunks
        );
        for m in &self.modes {
            s.push_str(&format!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} |\n",
                m.mode, m.recall_at_1, m.recall_at_5, m.recall_at_10, m.mrr, m.latency_p50_ms, m.latency_p95_ms
            ));
        }
        s.push_str("\nNot first:\n\n");
        for m in &self.misses {
            let rank = m.rank.map_or("not in the top 10".to_string(), |r| format!("rank {r}"));
            s.push_str(&format!("- {} #{}: want {}, got {} ({rank})\n", m.mode, m.id, m.want, m.got.as_deref().unwrap_or("nothing")));
        }
        s
    }
}
