//! Hybrid search: dense + sparse retrieval fused, results grouped per item, and a confidence.
//!
//! Fusion default: scores min-max normalised per retriever and mixed 0.7 dense / 0.3 sparse.
//! On the gov_qa dev split it beat Qdrant's single-query RRF at every k and weight tried and
//! DBSF (R@1 0.673 vs ≤ 0.660, MRR 0.766 vs ≤ 0.756; `banshi eval retrieval --tune`); RRF and
//! DBSF remain available as one fused Qdrant query.
//!
//! The confidence in [0, 1] estimates “the top item is the one the question is about”. It is a
//! logistic function of three features that are meaningful on any corpus: the best dense cosine
//! of the top item, the share of the query's words found in the top item's text (each word
//! weighed by its inverse document frequency, see [`crate::vocab`]), and the
//! fused-score margin between the first and second item. The coefficients were fitted by
//! `banshi eval retrieval --calibrate` on the gov_qa dev split, with questions the corpus does not
//! answer as negatives (never the test split).

use std::collections::HashMap;
use std::sync::Arc;

use banshi_models::{Embed, ModelError, TextKind};

use crate::index::{ChunkHit, Fusion, IndexQuery, VectorIndex};
use crate::names::NameIndex;
use crate::sparse::SparseEncoder;
use crate::vocab::Vocabulary;
use crate::KnowledgeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Hybrid,
    Dense,
    Sparse,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Hybrid => "hybrid",
            Mode::Dense => "dense",
            Mode::Sparse => "sparse",
        }
    }
}

/// Logistic coefficients: bias, cosine, coverage, margin. Deployment data, fitted by
/// `banshi eval retrieval --calibrate`; the bundled file is `knowledge/data/calibration.toml`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    /// Dense and sparse retrieval both ran.
    pub with_dense: [f32; 4],
    /// Sparse only: the cosine weight is unused.
    pub sparse_only: [f32; 4],
}

const BUNDLED_CALIBRATION: &str = include_str!("../data/calibration.toml");
const BUNDLED_TUNED_CALIBRATION: &str = include_str!("../data/calibration-tuned.toml");

impl Calibration {
    /// The coefficients shipped with the bundled catalogue and embedder.
    pub fn bundled() -> Self {
        toml::from_str(BUNDLED_CALIBRATION).expect("knowledge/data/calibration.toml is valid (checked by a unit test)")
    }

    /// The coefficients shipped for the bundled embedder with the bundled tuned query encoder
    /// (`--query-encoder tuned`).
    pub fn bundled_for_tuned_queries() -> Self {
        toml::from_str(BUNDLED_TUNED_CALIBRATION).expect("knowledge/data/calibration-tuned.toml is valid (checked by a unit test)")
    }

    /// Read a calibration file. Fails with [`KnowledgeError::Io`] when it cannot be read and
    /// [`KnowledgeError::BadFile`] when it is not a valid calibration.
    pub fn from_file(path: &std::path::Path) -> Result<Self, KnowledgeError> {
        let text = std::fs::read_to_string(path).map_err(|e| KnowledgeError::io(path, e))?;
        toml::from_str(&text)
            .map_err(|e| KnowledgeError::BadFile { path: path.to_path_buf(), detail: format!("not a calibration file: {e}") })
    }

    /// The file form, with a header saying how it was fitted.
    pub fn to_toml(&self, header: &str) -> String {
        let comment: String = header.lines().map(|l| format!("# {l}\n")).collect();
        format!("{comment}\n{}", toml::to_string(self).expect("two float arrays serialise"))
    }
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration::bundled()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SearchParams {
    pub mode: Mode,
    /// Items to return.
    pub items: usize,
    /// Chunks fetched before grouping.
    pub chunks: usize,
    /// Candidates per retriever before fusion.
    pub prefetch: usize,
    pub fusion: Fusion,
}

impl Default for SearchParams {
    fn default() -> Self {
        SearchParams { mode: Mode::Hybrid, items: 5, chunks: 40, prefetch: 60, fusion: Fusion::Linear { dense_weight: 0.7 } }
    }
}

/// One item with its best chunks, best first.
#[derive(Debug, Clone)]
pub struct ItemHit {
    pub code: String,
    pub name: String,
    pub score: f32,
    pub chunks: Vec<ChunkHit>,
}

/// Features behind the confidence, kept for evaluation and the gap dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Features {
    pub cosine: f32,
    pub coverage: f32,
    pub margin: f32,
}

/// Confidence when the question names exactly one item verbatim (its name or an alias) and that
/// item was retrieved: the citizen said which item they mean.
pub const NAMED_CONFIDENCE: f32 = 0.9;

#[derive(Debug, Clone)]
pub struct SearchResult {
    pub items: Vec<ItemHit>,
    pub confidence: f32,
    pub features: Features,
    /// The top item is named in the question (see [`crate::names`]).
    pub named: bool,
    /// What actually ran (hybrid degrades to sparse without an embedder or when it is busy).
    pub mode: Mode,
}

pub struct Searcher {
    pub index: Arc<dyn VectorIndex>,
    pub sparse: Arc<SparseEncoder>,
    pub names: Arc<NameIndex>,
    /// Document frequencies, to weigh the query's words in the coverage feature.
    pub vocab: Arc<Vocabulary>,
    /// Dense query vectors; without it (or without a loaded embedder) search is by words.
    pub embedder: Option<Arc<dyn Embed>>,
    pub calibration: Calibration,
}

impl Searcher {
    /// Search; `query` must be non-empty.
    pub async fn search(&self, query: &str, params: SearchParams) -> Result<SearchResult, KnowledgeError> {
        let dense = match (&self.embedder, params.mode) {
            (_, Mode::Sparse) => None,
            (Some(e), _) if e.dim().is_some() => match e.try_embed(vec![query.to_string()], TextKind::Query).await {
                Ok(mut v) => v.pop(),
                // Busy embedder: answer from words alone rather than wait or fail.
                Err(ModelError::Busy) => None,
                // A failing embedder (a model server that is down) costs the dense side only.
                Err(e) => {
                    tracing::warn!("searching by words only, the embedder failed: {e}");
                    None
                }
            },
            _ => None,
        };
        self.search_embedded(query, dense, params).await
    }

    /// Search with the query's dense vector already computed (`None`: sparse only).
    pub async fn search_embedded(
        &self,
        query: &str,
        dense: Option<Vec<f32>>,
        params: SearchParams,
    ) -> Result<SearchResult, KnowledgeError> {
        let dense = if params.mode == Mode::Sparse { None } else { dense };
        let mode = match (params.mode, dense.is_some()) {
            (Mode::Sparse, _) | (_, false) => Mode::Sparse,
            (Mode::Dense, true) => Mode::Dense,
            (Mode::Hybrid, true) => Mode::Hybrid,
        };
        let q = IndexQuery {
            dense: dense.clone(),
            sparse: (mode != Mode::Dense).then(|| self.sparse.query(query)),
            limit: params.chunks,
            prefetch: params.prefetch,
            fusion: params.fusion,
        };
        let hits = self.index.query(&q).await?;
        let mut items = group(hits, usize::MAX);
        let named = promote_named(&mut items, &self.names.named_in(query));
        items.truncate(params.items);
        let features = self.features(query, &items);
        let coef = if dense.is_some() { self.calibration.with_dense } else { self.calibration.sparse_only };
        let mut confidence = if items.is_empty() { 0.0 } else { logistic(coef, features) };
        if named == 1 {
            confidence = confidence.max(NAMED_CONFIDENCE);
        }
        Ok(SearchResult { items, confidence, features, named: named > 0, mode })
    }

    fn features(&self, query: &str, items: &[ItemHit]) -> Features {
        let Some(top) = items.first() else { return Features::default() };
        let cosine = top.chunks.iter().filter_map(|c| c.cosine).fold(0f32, f32::max);
        let tokens = self.sparse.tokens(query);
        let text: String = top.chunks.iter().map(|c| c.chunk.text.as_str()).collect();
        let weights: Vec<(f32, bool)> = tokens.iter().map(|t| (self.vocab.idf(t), text.contains(t.as_str()))).collect();
        let total: f32 = weights.iter().map(|w| w.0).sum();
        let coverage = if total > 0.0 { weights.iter().filter(|w| w.1).map(|w| w.0).sum::<f32>() / total } else { 0.0 };
        let margin = match items.get(1) {
            Some(second) if top.score > 0.0 => ((top.score - second.score) / top.score).clamp(0.0, 1.0),
            _ => 1.0,
        };
        Features { cosine, coverage, margin }
    }
}

pub fn logistic(c: [f32; 4], f: Features) -> f32 {
    let z = c[0] + c[1] * f.cosine + c[2] * f.coverage + c[3] * f.margin;
    1.0 / (1.0 + (-z).exp())
}

/// Move the retrieved items among `codes` to the front, keeping their relative order; returns
/// how many were moved.
fn promote_named(items: &mut Vec<ItemHit>, codes: &[String]) -> usize {
    if codes.is_empty() {
        return 0;
    }
    let (mut named, rest): (Vec<ItemHit>, Vec<ItemHit>) = items.drain(..).partition(|i| codes.contains(&i.code));
    let n = named.len();
    named.extend(rest);
    *items = named;
    n
}

/// Group chunk hits by item, keeping rank order: an item ranks by its best chunk.
pub fn group(hits: Vec<ChunkHit>, items: usize) -> Vec<ItemHit> {
    let mut order: Vec<ItemHit> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for h in hits {
        match at.get(&h.chunk.code) {
            Some(&i) => order[i].chunks.push(h),
            None => {
                at.insert(h.chunk.code.clone(), order.len());
                order.push(ItemHit { code: h.chunk.code.clone(), name: h.chunk.name.clone(), score: h.score, chunks: vec![h] });
            }
        }
    }
    order.truncate(items);
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunk;

    fn hit(code: &str, section: &str, score: f32) -> ChunkHit {
        ChunkHit {
            chunk: Chunk {
                code: code.into(),
                name: code.into(),
                section: section.parse().unwrap(),
                title: String::new(),
                text: String::new(),
            },
            score,
            cosine: None,
        }
    }

    #[test]
    fn grouping_keeps_rank_order_by_best_chunk() {
        let items = group(vec![hit("B", "fees", 0.9), hit("A", "overview", 0.8), hit("B", "faq-1", 0.7), hit("C", "process", 0.1)], 2);
        assert_eq!(items.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(), ["B", "A"]);
        assert_eq!(items[0].chunks.len(), 2);
        assert_eq!(items[0].score, 0.9);
    }

    #[test]
    fn named_items_move_to_the_front_in_rank_order() {
        let mut items = group(vec![hit("A", "faq-1", 0.9), hit("B", "overview", 0.8), hit("C", "fees", 0.7)], 9);
        assert_eq!(promote_named(&mut items, &["C".into(), "B".into()]), 2);
        assert_eq!(items.iter().map(|i| i.code.as_str()).collect::<Vec<_>>(), ["B", "C", "A"]);
        assert_eq!(promote_named(&mut items, &["Z".into()]), 0, "a named item that was not retrieved moves nothing");
    }

    #[test]
    fn calibration_file_round_trips() {
        let c = Calibration::bundled();
        assert!(c.with_dense[2] > 0.0 && c.sparse_only[1] == 0.0);
        let tuned = Calibration::bundled_for_tuned_queries();
        assert_eq!(tuned.sparse_only, c.sparse_only, "sparse search does not depend on the query encoder");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calibration.toml");
        std::fs::write(&path, c.to_toml("fitted in a test\nsecond line")).unwrap();
        assert_eq!(Calibration::from_file(&path).unwrap(), c);
        std::fs::write(&path, "with_dense = [1.0, 2.0]\n").unwrap();
        let e = Calibration::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("calibration.toml") && e.contains("not a calibration file"), "{e}");
    }

    #[test]
    fn confidence_grows_with_each_feature() {
        let c = Calibration::default().with_dense;
        let base = Features { cosine: 0.85, coverage: 0.5, margin: 0.2 };
        let p = logistic(c, base);
        assert!(p > 0.0 && p < 1.0);
        assert!(logistic(c, Features { cosine: 0.9, ..base }) > p);
        assert!(logistic(c, Features { coverage: 0.9, ..base }) > p);
        assert!(logistic(c, Features { margin: 0.6, ..base }) > p);
    }
}
