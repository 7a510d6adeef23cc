//! The vector index: dense e5 vectors and sparse jieba vectors of every chunk, in one
//! collection, behind the async [`VectorIndex`] trait, with two implementations of the same
//! collection layout (vectors `dense`, cosine, and `sparse` with the IDF modifier; payload
//! `code`, `name`, `section`, `title`, `text`, `hash`, `dense`; a keyword index on `code`):
//!
//! - [`EdgeIndex`] ([`edge`]): the embedded default, one qdrant-edge shard in `<data>/index`;
//! - [`QdrantIndex`] ([`qdrant`]): a Qdrant server or cluster (`--qdrant-url`).
//!
//! Reciprocal-rank and distribution-based fusion are done by the engine's Query API (prefetch +
//! fusion, every parameter set explicitly); the normalised linear fusion is done here, once, on
//! two single-retriever queries ([`fuse_linear`]), whichever engine answered them.

use std::collections::HashMap;

use async_trait::async_trait;
use qdrant_edge::external::uuid::Uuid;

use crate::chunk::Chunk;
use crate::section::Section;
use crate::sparse::SparseVec;
use crate::KnowledgeError;

pub mod edge;
pub mod qdrant;

pub use edge::EdgeIndex;
pub use qdrant::QdrantIndex;

pub const DENSE: &str = "dense";
pub const SPARSE: &str = "sparse";

/// A chunk with its vectors, ready to store.
#[derive(Debug, Clone)]
pub struct IndexPoint {
    pub chunk: Chunk,
    /// Content hash of the whole document the chunk belongs to (for incremental re-indexing).
    pub doc_hash: String,
    pub dense: Option<Vec<f32>>,
    pub sparse: SparseVec,
}

/// What the index holds for one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocState {
    pub hash: String,
    /// Whether its chunks carry dense vectors.
    pub dense: bool,
    pub chunks: usize,
}

/// How to rank when both a dense and a sparse query are given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fusion {
    /// Qdrant's weighted reciprocal rank fusion in one query.
    Rrf { k: usize, dense_weight: f32, sparse_weight: f32 },
    /// Qdrant's distribution-based score fusion in one query.
    Dbsf,
    /// Scores min-max normalised per retriever over the candidates, then
    /// `dense_weight·dense + (1 − dense_weight)·sparse`. Candidates found only by the sparse
    /// side get their exact cosine; those found only by the dense side count 0 on the sparse
    /// side (they fell below its candidate cut-off).
    Linear { dense_weight: f32 },
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fusion::Rrf { k, dense_weight, sparse_weight } => write!(f, "rrf:{k}:{dense_weight}:{sparse_weight}"),
            Fusion::Dbsf => write!(f, "dbsf"),
            Fusion::Linear { dense_weight } => write!(f, "linear:{dense_weight}"),
        }
    }
}

impl std::str::FromStr for Fusion {
    type Err = String;

    /// `rrf:K:DENSE_WEIGHT:SPARSE_WEIGHT`, `dbsf` or `linear:DENSE_WEIGHT`.
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |v: &str| v.parse::<f32>().map_err(|_| format!("bad number {v:?} in {s:?}"));
        match parts.as_slice() {
            ["dbsf"] => Ok(Fusion::Dbsf),
            ["linear", w] => Ok(Fusion::Linear { dense_weight: num(w)? }),
            ["rrf", k, d, sp] => {
                Ok(Fusion::Rrf { k: k.parse().map_err(|_| format!("bad k in {s:?}"))?, dense_weight: num(d)?, sparse_weight: num(sp)? })
            }
            _ => Err(format!("fusion must be rrf:K:DENSE_WEIGHT:SPARSE_WEIGHT, dbsf or linear:DENSE_WEIGHT, not {s:?}")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct IndexQuery {
    pub dense: Option<Vec<f32>>,
    pub sparse: Option<SparseVec>,
    /// Results wanted.
    pub limit: usize,
    /// Candidates taken from each of dense and sparse before fusion.
    pub prefetch: usize,
    pub fusion: Fusion,
}

/// One retrieved chunk.
#[derive(Debug, Clone)]
pub struct ChunkHit {
    pub chunk: Chunk,
    /// The ranking score (fused, cosine or sparse dot product, depending on the query).
    pub score: f32,
    /// Cosine of the dense query and the chunk, when both have dense vectors.
    pub cosine: Option<f32>,
}

/// A store of chunk vectors that answers dense, sparse and fused queries.
///
/// Failure modes: the engine's errors (I/O, a corrupt shard, a server that is down or refuses
/// the request) surface as [`KnowledgeError::Index`]; nothing is retried here.
#[async_trait]
pub trait VectorIndex: Send + Sync {
    /// Whether other processes write this index too (a server), so writers must take turns.
    fn shared(&self) -> bool {
        false
    }
    /// Insert or replace points (by chunk code + section); acknowledged writes are durable.
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<(), KnowledgeError>;
    /// Remove every chunk of a document.
    async fn delete_doc(&self, code: &str) -> Result<(), KnowledgeError>;
    /// Remove a document's chunks whose section is not in `keep` (after upserting its new
    /// chunks: readers never see the document missing while it is re-indexed).
    async fn retain_sections(&self, code: &str, keep: &[Section]) -> Result<(), KnowledgeError>;
    /// Per document: hash, whether dense vectors are present, chunk count.
    async fn doc_states(&self) -> Result<HashMap<String, DocState>, KnowledgeError>;
    /// Rank chunks for `q`: by one retriever, or both fused as `q.fusion` says; linear fusion
    /// is done here from two single-retriever rankings.
    async fn query(&self, q: &IndexQuery) -> Result<Vec<ChunkHit>, KnowledgeError> {
        match q.linear_weight() {
            Some(w) => fuse_linear(self, q, w).await,
            None => self.ranked(q, None).await,
        }
    }
    /// The engine's ranking: by `only` that retriever when given (hits still carry their
    /// cosine with `q.dense`), else as `q` says, fused by the engine (RRF or DBSF).
    async fn ranked(&self, q: &IndexQuery, only: Option<Retriever>) -> Result<Vec<ChunkHit>, KnowledgeError>;
    /// The dense vectors stored for a document's chunks: section → (text, vector).
    async fn dense_vectors(&self, code: &str) -> Result<HashMap<Section, (String, Vec<f32>)>, KnowledgeError>;
    async fn len(&self) -> Result<usize, KnowledgeError>;
    async fn is_empty(&self) -> Result<bool, KnowledgeError> {
        Ok(self.len().await? == 0)
    }
}

impl IndexQuery {
    /// The dense weight when this query is a linear fusion of both retrievers.
    pub fn linear_weight(&self) -> Option<f32> {
        match self.fusion {
            Fusion::Linear { dense_weight } if self.dense.is_some() && self.sparse.as_ref().is_some_and(|s| !s.is_empty()) => {
                Some(dense_weight)
            }
            _ => None,
        }
    }
}

/// One side of a hybrid query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retriever {
    Dense,
    Sparse,
}

/// Normalised linear fusion (see [`Fusion::Linear`]) of a dense-only and a sparse-only ranking
/// of `q` on `index`.
async fn fuse_linear<I: VectorIndex + ?Sized>(index: &I, q: &IndexQuery, w: f32) -> Result<Vec<ChunkHit>, KnowledgeError> {
    let n = q.prefetch.max(q.limit);
    let wide = IndexQuery { limit: n, prefetch: n, ..q.clone() };
    let dense_hits = index.ranked(&wide, Some(Retriever::Dense)).await?;
    let sparse_hits = index.ranked(&wide, Some(Retriever::Sparse)).await?;
    let range = |hits: &[ChunkHit], f: &dyn Fn(&ChunkHit) -> f32| {
        let lo = hits.iter().map(f).fold(f32::INFINITY, f32::min);
        let hi = hits.iter().map(f).fold(f32::NEG_INFINITY, f32::max);
        (lo, (hi - lo).max(1e-6))
    };
    let (dlo, dspan) = range(&dense_hits, &|h| h.cosine.unwrap_or(h.score));
    let (slo, sspan) = range(&sparse_hits, &|h| h.score);
    let key = |h: &ChunkHit| (h.chunk.code.clone(), h.chunk.section);
    let mut fused: HashMap<(String, Section), (ChunkHit, f32)> = HashMap::new();
    for h in dense_hits {
        let d = ((h.cosine.unwrap_or(h.score) - dlo) / dspan).max(0.0);
        fused.insert(key(&h), (h, w * d));
    }
    for h in sparse_hits {
        let s = (h.score - slo) / sspan;
        match fused.get_mut(&key(&h)) {
            Some(entry) => entry.1 += (1.0 - w) * s,
            None => {
                let d = h.cosine.map_or(0.0, |c| ((c - dlo) / dspan).max(0.0));
                fused.insert(key(&h), (h, w * d + (1.0 - w) * s));
            }
        }
    }
    let mut out: Vec<ChunkHit> = fused
        .into_values()
        .map(|(mut h, score)| {
            h.score = score;
            h
        })
        .collect();
    // Equal scores in a stable order, so the cut at `limit` does not depend on hashing.
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| (&a.chunk.code, a.chunk.section).cmp(&(&b.chunk.code, b.chunk.section))));
    out.truncate(q.limit);
    Ok(out)
}

/// A point's payload: the chunk, its document's hash, and whether it has a dense vector.
fn payload_of(p: &IndexPoint) -> Result<serde_json::Value, KnowledgeError> {
    let mut payload = serde_json::to_value(&p.chunk).map_err(|e| KnowledgeError::Index(e.to_string()))?;
    payload["hash"] = p.doc_hash.clone().into();
    payload["dense"] = p.dense.is_some().into();
    Ok(payload)
}

/// A point's dense vector, refused when its length is not the index's.
fn dense_of_point(p: &IndexPoint, dim: usize) -> Result<Option<&Vec<f32>>, KnowledgeError> {
    match &p.dense {
        Some(d) if d.len() != dim => Err(KnowledgeError::Index(format!("dense vector has {} dims, the index {dim}", d.len()))),
        other => Ok(other.as_ref()),
    }
}

fn chunk_of(payload: serde_json::Value) -> Result<Chunk, KnowledgeError> {
    serde_json::from_value(payload).map_err(|e| KnowledgeError::Index(format!("bad payload: {e}")))
}

/// Add one point's payload to per-document states. A document indexed half with and half
/// without vectors, or with mixed hashes, is stale (empty hash).
fn tally(states: &mut HashMap<String, DocState>, payload: &serde_json::Value) {
    let code = payload["code"].as_str().unwrap_or_default().to_string();
    let hash = payload["hash"].as_str().unwrap_or_default().to_string();
    let dense = payload["dense"].as_bool().unwrap_or(false);
    let s = states.entry(code).or_insert(DocState { hash: hash.clone(), dense, chunks: 0 });
    s.chunks += 1;
    if s.hash != hash {
        s.hash = String::new();
    }
    s.dense &= dense;
}

fn index_err(e: impl std::fmt::Display) -> KnowledgeError {
    KnowledgeError::Index(e.to_string())
}

/// Point id: stable per (code, section), so a re-index replaces rather than duplicates.
pub fn point_id(code: &str, section: Section) -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("banshi:{code}#{section}").as_bytes())
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}
