//! Retrieval evaluation on gov_qa (real Beijing government Q&A, 2,081 pairs).
//!
//! Every official answer is indexed as one passage; each question of the chosen split asks for
//! its own answer (or any passage with identical text). Reported per mode (sparse, dense,
//! hybrid): recall@1/5/10, MRR, p50/p95 query latency. The index lives under the work dir and
//! is reused, so a re-run embeds nothing. Tune on `dev`; report `test`.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use banshi_knowledge::chunk::Chunk;
use banshi_knowledge::index::{EdgeIndex, Fusion, QdrantIndex, VectorIndex};
use banshi_knowledge::indexer::Indexer;
use banshi_knowledge::search::{Calibration, Features, Mode, SearchParams, Searcher};
use banshi_knowledge::sparse::SparseEncoder;
use banshi_knowledge::vocab::Vocabulary;
use banshi_knowledge::DENSE_DIM;
use banshi_models::ComputeHandle;
use serde::{Deserialize, Serialize};

use crate::{percentile, read_jsonl, EvalError, Split};

#[derive(Debug, Clone, Deserialize)]
pub struct QaRow {
    pub id: u64,
    pub question: String,
    pub answer: String,
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: String,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr: f64,
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    pub dataset: String,
    pub split: String,
    pub passages: usize,
    pub questions: usize,
    pub passages_embedded_this_run: usize,
    pub embed_seconds: f64,
    pub passages_per_second: Option<f64>,
    pub fusion: String,
    /// How questions were embedded (`--query-encoder`).
    pub query_encoder: String,
    pub modes: Vec<ModeReport>,
    pub run_seconds: f64,
}

/// Per-question outcome, for tuning and calibration.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: u64,
    /// Passage codes retrieved, best first.
    pub retrieved: Vec<String>,
    /// 1-based rank of the first relevant passage, if in the top 10.
    pub rank: Option<usize>,
    pub features: Features,
}

pub struct RetrievalEval {
    pub rows: Vec<QaRow>,
    searcher: Searcher,
    /// Question embeddings by row id, filled by [`RetrievalEval::embed_questions`] for tuning.
    cached: std::collections::HashMap<u64, Vec<f32>>,
    pub embedded: usize,
    pub embed_seconds: f64,
}

/// A Qdrant server collection to evaluate on instead of the embedded shard.
#[derive(Debug, Clone)]
pub struct QdrantTarget {
    pub url: String,
    pub collection: String,
}

impl RetrievalEval {
    /// Load the dataset and make sure the index in `work_dir` holds every answer.
    pub async fn prepare(
        dataset: &Path,
        work_dir: &Path,
        compute: Option<ComputeHandle>,
        qdrant: Option<&QdrantTarget>,
    ) -> Result<Self, EvalError> {
        let rows: Vec<QaRow> = read_jsonl(dataset)?;
        if rows.is_empty() {
            return Err(EvalError::Dataset(format!("{}: no rows", dataset.display())));
        }
        std::fs::create_dir_all(work_dir).map_err(|e| EvalError::Io(work_dir.display().to_string(), e))?;
        let dir = work_dir.join("index");
        let index: Arc<dyn VectorIndex> = match qdrant {
            Some(q) => Arc::new(QdrantIndex::open(&q.url, &q.collection, DENSE_DIM).await?),
            None => Arc::new(EdgeIndex::open_async(&dir, DENSE_DIM).await?),
        };
        let sparse = Arc::new(SparseEncoder::new());
        let embedder = compute.map(|c| Arc::new(c) as Arc<dyn banshi_models::Embed>);
        let indexer = Indexer { index: index.clone(), sparse: sparse.clone(), embedder: embedder.clone() };
        let docs: Vec<(String, Vec<Chunk>)> = rows
            .iter()
            .map(|r| {
                let code = format!("Q{}", r.id);
                let chunk = Chunk {
                    code: code.clone(),
                    name: code.clone(),
                    section: banshi_knowledge::section::Section::Passage,
                    title: "答复".into(),
                    text: r.answer.clone(),
                };
                (code, vec![chunk])
            })
            .collect();
        let vocab = Arc::new(Vocabulary::default());
        for (code, chunks) in &docs {
            vocab.set(&sparse, code, chunks);
        }
        let started = Instant::now();
        let stats = indexer.sync(docs, true, &|done, total| crate::progress("indexing gov_qa answers", done, total)).await?;
        let embed_seconds = started.elapsed().as_secs_f64();
        let searcher = Searcher { index, sparse, names: Default::default(), vocab, embedder, calibration: Calibration::default() };
        Ok(RetrievalEval { rows, searcher, cached: Default::default(), embedded: stats.chunks_embedded, embed_seconds })
    }

    pub fn calibration(&self) -> Calibration {
        self.searcher.calibration
    }

    pub fn set_calibration(&mut self, c: Calibration) {
        self.searcher.calibration = c;
    }

    /// Questions of `split`, each with the set of passage codes that answer it.
    fn questions(&self, split: Split) -> Vec<(&QaRow, Vec<String>)> {
        let mut by_answer: std::collections::HashMap<&str, Vec<String>> = std::collections::HashMap::new();
        for r in &self.rows {
            by_answer.entry(r.answer.trim()).or_default().push(format!("Q{}", r.id));
        }
        self.rows.iter().filter(|r| split.contains(r.id)).map(|r| (r, by_answer[r.answer.trim()].clone())).collect()
    }

    /// Embed every question of `split` once, so repeated runs (tuning, calibration) reuse them.
    pub async fn embed_questions(&mut self, split: Split) -> Result<(), EvalError> {
        let Some(embedder) = self.searcher.embedder.clone() else { return Ok(()) };
        let rows: Vec<(u64, String)> = self.rows.iter().filter(|r| split.contains(r.id)).map(|r| (r.id, r.question.clone())).collect();
        for batch in rows.chunks(64) {
            let vectors = embedder.embed(batch.iter().map(|r| r.1.clone()).collect(), banshi_models::TextKind::Query).await?;
            for ((id, _), v) in batch.iter().zip(vectors) {
                self.cached.insert(*id, v);
            }
        }
        Ok(())
    }

    /// Run every question of `split` in `mode`; returns outcomes and latencies (ms, query
    /// embedding included unless the questions were embedded beforehand).
    pub async fn run_mode(&self, split: Split, mode: Mode, fusion: Fusion) -> Result<(Vec<Outcome>, Vec<f64>), EvalError> {
        let params = SearchParams { mode, items: 10, chunks: 10, prefetch: 60, fusion };
        let mut outcomes = Vec::new();
        let mut latencies = Vec::new();
        for (row, relevant) in self.questions(split) {
            let t = Instant::now();
            let result = match self.cached.get(&row.id) {
                Some(v) => self.searcher.search_embedded(&row.question, Some(v.clone()), params).await?,
                None => self.searcher.search(&row.question, params).await?,
            };
            latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            if mode != Mode::Sparse && result.mode != mode {
                return Err(EvalError::Dataset(format!(
                    "{} search ran as {} (is the embedder loaded?)",
                    mode.as_str(),
                    result.mode.as_str()
                )));
            }
            let rank = result.items.iter().position(|i| relevant.contains(&i.code)).map(|p| p + 1);
            outcomes.push(Outcome {
                id: row.id,
                retrieved: result.items.iter().map(|i| i.code.clone()).collect(),
                rank,
                features: result.features,
            });
        }
        Ok((outcomes, latencies))
    }
}

impl RetrievalEval {
    /// Search features of `questions` (questions the corpus does not answer, as negatives for
    /// calibration).
    pub async fn features_of(&self, questions: &[String], mode: Mode, fusion: Fusion) -> Result<Vec<Features>, EvalError> {
        let params = SearchParams { mode, items: 10, chunks: 10, prefetch: 60, fusion };
        let mut out = Vec::with_capacity(questions.len());
        for q in questions {
            out.push(self.searcher.search(q, params).await?.features);
        }
        Ok(out)
    }

    /// The searcher over the gov_qa index.
    pub fn searcher(&self) -> &Searcher {
        &self.searcher
    }

    /// Text of a passage by its code (`Q<id>`).
    pub fn passage(&self, code: &str) -> Option<&QaRow> {
        let id: u64 = code.strip_prefix('Q')?.parse().ok()?;
        self.rows.iter().find(|r| r.id == id)
    }
}

/// Recall@k and MRR (over the top 10) of outcomes.
pub fn score(mode: Mode, outcomes: &[Outcome], latencies: &[f64]) -> ModeReport {
    let n = outcomes.len().max(1) as f64;
    let recall = |k: usize| outcomes.iter().filter(|o| o.rank.is_some_and(|r| r <= k)).count() as f64 / n;
    let mrr = outcomes.iter().map(|o| o.rank.map_or(0.0, |r| 1.0 / r as f64)).sum::<f64>() / n;
    ModeReport {
        mode: mode.as_str().into(),
        recall_at_1: recall(1),
        recall_at_5: recall(5),
        recall_at_10: recall(10),
        mrr,
        latency_p50_ms: percentile(latencies, 50.0),
        latency_p95_ms: percentile(latencies, 95.0),
    }
}

impl RetrievalReport {
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# Retrieval evaluation\n\nDataset `{}`, split **{}**: {} questions over {} passages. Fusion: {}. Query encoder: {}.\n\n",
            self.dataset, self.split, self.questions, self.passages, self.fusion, self.query_encoder
        );
        s.push_str("| mode | R@1 | R@5 | R@10 | MRR | p50 ms | p95 ms |\n|---|---|---|---|---|---|---|\n");
        for m in &self.modes {
            s.push_str(&format!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} | {:.1} |\n",
                m.mode, m.recall_at_1, m.recall_at_5, m.recall_at_10, m.mrr, m.latency_p50_ms, m.latency_p95_ms
            ));
        }
        match self.passages_per_second {
            Some(pps) => s.push_str(&format!(
                "\nEmbedded {} passages this run in {:.1} s ({pps:.1} passages/s).",
                self.passages_embedded_this_run, self.embed_seconds
            )),
            None => s.push_str("\nNo passage embedded this run (index reused)."),
        }
        s.push_str(&format!(" Whole run {:.1} s.\n", self.run_seconds));
        s
    }
}
