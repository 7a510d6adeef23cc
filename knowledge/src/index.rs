//! The vector index: dense e5 vectors and sparse jieba vectors of every chunk, in one
//! collection, behind the [`VectorIndex`] trait.
//!
//! [`EdgeIndex`] is the embedded default: one qdrant-edge shard in `<data>/index`. Writes go
//! through the shard's write-ahead log, so an acknowledged upsert survives a crash; the shard
//! is flushed on drop. The shard takes its own locks, and `EdgeIndex` is shared by `Arc`
//! across threads. A Qdrant server (qdrant-client) is the second implementation to come, with
//! the same collection schema: vectors `dense` (cosine) and `sparse` (IDF modifier), payload
//! `code`, `name`, `section`, `title`, `text`, `hash`, `dense`.

use std::collections::HashMap;
use std::path::Path;

use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::external::uuid::Uuid;
use qdrant_edge::{
    Condition, Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldCondition, Filter,
    Fusion as QFusion, Match, Modifier, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations,
    PointStruct, Prefetch, QueryEnum, QueryRequest, ScoredPoint, ScoringQuery, ScrollRequest, UpdateOperation, ValueVariants, Vector,
    VectorInternal, Vectors, WithPayloadInterface, WithVector,
};

use crate::chunk::Chunk;
use crate::section::Section;
use crate::sparse::SparseVec;
use crate::KnowledgeError;

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
/// Failure modes: I/O and corrupt shard files surface as [`KnowledgeError::Index`].
pub trait VectorIndex: Send + Sync {
    /// Insert or replace points (by chunk code + section).
    fn upsert(&self, points: Vec<IndexPoint>) -> Result<(), KnowledgeError>;
    /// Remove every chunk of a document.
    fn delete_doc(&self, code: &str) -> Result<(), KnowledgeError>;
    /// Per document: hash, whether dense vectors are present, chunk count.
    fn doc_states(&self) -> Result<HashMap<String, DocState>, KnowledgeError>;
    fn query(&self, q: &IndexQuery) -> Result<Vec<ChunkHit>, KnowledgeError>;
    /// The dense vectors stored for a document's chunks: section → (text, vector).
    fn dense_vectors(&self, code: &str) -> Result<HashMap<Section, (String, Vec<f32>)>, KnowledgeError>;
    fn len(&self) -> Result<usize, KnowledgeError>;
    fn is_empty(&self) -> Result<bool, KnowledgeError> {
        Ok(self.len()? == 0)
    }
}

/// An open that failed because another process holds the shard's write-ahead-log lock, said so
/// (the raw error is “Can't init WAL: Kind(WouldBlock)”); any other error as it is.
fn in_use_or(dir: &Path, e: impl std::fmt::Display) -> KnowledgeError {
    let raw = e.to_string();
    if raw.contains("WouldBlock") {
        return KnowledgeError::InUse(dir.to_path_buf());
    }
    KnowledgeError::Index(raw)
}

/// The embedded qdrant-edge shard. One process at a time: opening takes the shard's WAL lock
/// and fails with [`KnowledgeError::InUse`] while another process (a running `serve`, an
/// `ingest`) holds it.
pub struct EdgeIndex {
    shard: EdgeShard,
    dim: usize,
}

impl EdgeIndex {
    /// Open the shard at `dir`, creating it (dense size `dim`) if absent.
    pub fn open(dir: &Path, dim: usize) -> Result<Self, KnowledgeError> {
        let config = EdgeConfigBuilder::new()
            .vector(DENSE, EdgeVectorParamsBuilder::new(dim, Distance::Cosine).build())
            .sparse_vector(SPARSE, EdgeSparseVectorParamsBuilder::new().modifier(Modifier::Idf).build())
            .build();
        let fresh = !dir.join("edge_config.json").exists();
        std::fs::create_dir_all(dir).map_err(|e| KnowledgeError::io(dir, e))?;
        let shard = if fresh { EdgeShard::new(dir, config) } else { EdgeShard::load(dir, Some(config)) }.map_err(|e| in_use_or(dir, e))?;
        if fresh {
            shard
                .update(UpdateOperation::FieldIndexOperation(qdrant_edge::FieldIndexOperations::CreateIndex(qdrant_edge::CreateIndex {
                    field_name: "code".try_into().map_err(|_| KnowledgeError::Index("payload key".into()))?,
                    field_schema: Some(PayloadFieldSchema::FieldType(PayloadSchemaType::Keyword)),
                })))
                .map_err(index_err)?;
        }
        Ok(EdgeIndex { shard, dim })
    }

    fn code_filter(code: &str) -> Result<Filter, KnowledgeError> {
        Ok(Filter::new_must(Condition::Field(FieldCondition::new_match(
            "code".try_into().map_err(|_| KnowledgeError::Index("payload key".into()))?,
            Match::new_value(ValueVariants::String(code.to_string())),
        ))))
    }

    fn hit(&self, p: ScoredPoint, dense_query: Option<&[f32]>) -> Result<ChunkHit, KnowledgeError> {
        let payload = p.payload.ok_or_else(|| KnowledgeError::Index("point without payload".into()))?;
        let chunk: Chunk = serde_json::from_value(serde_json::Value::Object(payload.0.into_iter().collect()))
            .map_err(|e| KnowledgeError::Index(format!("bad payload: {e}")))?;
        let cosine = match (dense_query, p.vector) {
            (Some(q), Some(qdrant_edge::VectorStructInternal::Named(mut named))) => match named.remove(DENSE) {
                Some(VectorInternal::Dense(v)) => Some(cosine(q, &v)),
                _ => None,
            },
            _ => None,
        };
        Ok(ChunkHit { chunk, score: p.score, cosine })
    }
}

impl EdgeIndex {
    fn run(&self, q: &IndexQuery, prefetches: Vec<Prefetch>, query: ScoringQuery, limit: usize) -> Result<Vec<ChunkHit>, KnowledgeError> {
        let points = self
            .shard
            .query(QueryRequest {
                prefetches,
                query: Some(query),
                filter: None,
                score_threshold: None,
                limit,
                offset: 0,
                params: None,
                with_vector: if q.dense.is_some() { WithVector::Selector(vec![DENSE.into()]) } else { WithVector::Bool(false) },
                with_payload: WithPayloadInterface::Bool(true),
            })
            .map_err(index_err)?;
        points.into_iter().map(|p| self.hit(p, q.dense.as_deref())).collect()
    }

    /// Normalised linear fusion of two separate queries.
    fn linear(&self, q: &IndexQuery, dense: QueryEnum, sparse: QueryEnum, w: f32) -> Result<Vec<ChunkHit>, KnowledgeError> {
        let n = q.prefetch.max(q.limit);
        let dense_hits = self.run(q, vec![], ScoringQuery::Vector(dense), n)?;
        let sparse_hits = self.run(q, vec![], ScoringQuery::Vector(sparse), n)?;
        let range = |hits: &[ChunkHit], f: &dyn Fn(&ChunkHit) -> f32| {
            let lo = hits.iter().map(f).fold(f32::INFINITY, f32::min);
            let hi = hits.iter().map(f).fold(f32::NEG_INFINITY, f32::max);
            (lo, (hi - lo).max(1e-6))
        };
        let (dlo, dspan) = range(&dense_hits, &|h| h.cosine.unwrap_or(h.score));
        let (slo, sspan) = range(&sparse_hits, &|h| h.score);
        let mut fused: HashMap<uuid_key::Key, (ChunkHit, f32)> = HashMap::new();
        for h in dense_hits {
            let d = ((h.cosine.unwrap_or(h.score) - dlo) / dspan).max(0.0);
            fused.insert(uuid_key::of(&h), (h, w * d));
        }
        for h in sparse_hits {
            let s = (h.score - slo) / sspan;
            let key = uuid_key::of(&h);
            match fused.get_mut(&key) {
                Some(entry) => entry.1 += (1.0 - w) * s,
                None => {
                    let d = h.cosine.map_or(0.0, |c| ((c - dlo) / dspan).max(0.0));
                    fused.insert(key, (h, w * d + (1.0 - w) * s));
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
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        out.truncate(q.limit);
        Ok(out)
    }
}

mod uuid_key {
    pub type Key = (String, crate::section::Section);
    pub fn of(h: &super::ChunkHit) -> Key {
        (h.chunk.code.clone(), h.chunk.section)
    }
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

fn nearest(using: &str, v: VectorInternal) -> QueryEnum {
    QueryEnum::Nearest(NamedQuery { query: v, using: Some(using.to_string()) })
}

fn sparse_internal(s: &SparseVec) -> Result<VectorInternal, KnowledgeError> {
    Ok(Vector::new_sparse(s.indices.clone(), s.values.clone()).map_err(index_err)?.0)
}

impl VectorIndex for EdgeIndex {
    fn upsert(&self, points: Vec<IndexPoint>) -> Result<(), KnowledgeError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let mut vectors: Vec<(&str, Vector)> = Vec::new();
            if let Some(d) = &p.dense {
                if d.len() != self.dim {
                    return Err(KnowledgeError::Index(format!("dense vector has {} dims, the index {}", d.len(), self.dim)));
                }
                vectors.push((DENSE, Vector::new_dense(d.clone())));
            }
            if !p.sparse.is_empty() {
                vectors.push((SPARSE, Vector(sparse_internal(&p.sparse)?)));
            }
            let mut payload = serde_json::to_value(&p.chunk).map_err(|e| KnowledgeError::Index(e.to_string()))?;
            payload["hash"] = p.doc_hash.clone().into();
            payload["dense"] = p.dense.is_some().into();
            let id = PointId::Uuid(point_id(&p.chunk.code, p.chunk.section));
            structs.push(PointStruct::new(id, Vectors::new_named(vectors), payload).into());
        }
        self.shard
            .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(structs))))
            .map_err(index_err)
    }

    fn delete_doc(&self, code: &str) -> Result<(), KnowledgeError> {
        self.shard
            .update(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(Self::code_filter(code)?)))
            .map_err(index_err)
    }

    fn doc_states(&self) -> Result<HashMap<String, DocState>, KnowledgeError> {
        let mut states: HashMap<String, DocState> = HashMap::new();
        let mut offset = None;
        loop {
            let (records, next) = self
                .shard
                .scroll(ScrollRequest {
                    offset,
                    limit: Some(1000),
                    filter: None,
                    with_payload: Some(WithPayloadInterface::Bool(true)),
                    with_vector: WithVector::Bool(false),
                    order_by: None,
                })
                .map_err(index_err)?;
            for r in records {
                let Some(payload) = r.payload else { continue };
                let get = |k: &str| payload.0.get(k).cloned().unwrap_or_default();
                let code = get("code").as_str().unwrap_or_default().to_string();
                let hash = get("hash").as_str().unwrap_or_default().to_string();
                let dense = get("dense").as_bool().unwrap_or(false);
                let s = states.entry(code).or_insert(DocState { hash: hash.clone(), dense, chunks: 0 });
                s.chunks += 1;
                // A document indexed half with and half without vectors, or with mixed hashes, is stale.
                if s.hash != hash {
                    s.hash = String::new();
                }
                s.dense &= dense;
            }
            match next {
                Some(n) => offset = Some(n),
                None => break,
            }
        }
        Ok(states)
    }

    fn query(&self, q: &IndexQuery) -> Result<Vec<ChunkHit>, KnowledgeError> {
        let dense = q.dense.as_ref().map(|d| nearest(DENSE, VectorInternal::Dense(d.clone())));
        let sparse = match &q.sparse {
            Some(s) if !s.is_empty() => Some(nearest(SPARSE, sparse_internal(s)?)),
            _ => None,
        };
        let candidates = q.prefetch.max(q.limit);
        let prefetch = |query: QueryEnum| Prefetch {
            prefetches: vec![],
            query: Some(ScoringQuery::Vector(query)),
            limit: candidates,
            params: None,
            filter: None,
            score_threshold: None,
        };
        let (prefetches, query) = match (dense, sparse) {
            (Some(d), Some(s)) => match q.fusion {
                Fusion::Linear { dense_weight } => return self.linear(q, d, s, dense_weight),
                Fusion::Rrf { k, dense_weight, sparse_weight } => (
                    vec![prefetch(d), prefetch(s)],
                    ScoringQuery::Fusion(QFusion::Rrf { k, weights: Some(vec![OrderedFloat(dense_weight), OrderedFloat(sparse_weight)]) }),
                ),
                Fusion::Dbsf => (vec![prefetch(d), prefetch(s)], ScoringQuery::Fusion(QFusion::Dbsf)),
            },
            (Some(one), None) | (None, Some(one)) => (vec![], ScoringQuery::Vector(one)),
            (None, None) => return Ok(Vec::new()),
        };
        self.run(q, prefetches, query, q.limit)
    }

    fn dense_vectors(&self, code: &str) -> Result<HashMap<Section, (String, Vec<f32>)>, KnowledgeError> {
        let (records, _) = self
            .shard
            .scroll(ScrollRequest {
                offset: None,
                limit: Some(10_000),
                filter: Some(Self::code_filter(code)?),
                with_payload: Some(WithPayloadInterface::Bool(true)),
                with_vector: WithVector::Selector(vec![DENSE.into()]),
                order_by: None,
            })
            .map_err(index_err)?;
        let mut out = HashMap::new();
        for r in records {
            let (Some(payload), Some(qdrant_edge::VectorStructInternal::Named(mut named))) = (r.payload, r.vector) else { continue };
            let Some(VectorInternal::Dense(v)) = named.remove(DENSE) else { continue };
            let get = |k: &str| payload.0.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            // A point whose section key this build does not know is re-embedded, not reused.
            if let Ok(section) = get("section").parse::<Section>() {
                out.insert(section, (get("text"), v));
            }
        }
        Ok(out)
    }

    fn len(&self) -> Result<usize, KnowledgeError> {
        Ok(self.shard.info().points_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_opener_is_told_the_index_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let first = EdgeIndex::open(dir.path(), 4).unwrap();
        let err = EdgeIndex::open(dir.path(), 4).err().expect("the lock is held");
        assert!(matches!(err, KnowledgeError::InUse(_)), "{err}");
        assert!(err.to_string().contains("another banshi process"), "{err}");
        drop(first);
        assert!(EdgeIndex::open(dir.path(), 4).is_ok(), "free again once the first is closed");
    }
}
