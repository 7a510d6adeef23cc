//! [`EdgeIndex`]: the embedded default, one qdrant-edge shard in `<data>/index`.
//!
//! Writes go through the shard's write-ahead log, so an acknowledged upsert survives a crash;
//! the shard is flushed on drop. The shard takes its own locks; its calls block, so each runs
//! on tokio's blocking pool.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use qdrant_edge::external::ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldCondition, Filter,
    Fusion as QFusion, Match, Modifier, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations,
    PointStruct, Prefetch, QueryEnum, QueryRequest, ScoredPoint, ScoringQuery, ScrollRequest, UpdateOperation, ValueVariants, Vector,
    VectorInternal, Vectors, WithPayloadInterface, WithVector,
};

use super::{
    chunk_of, cosine, dense_of_point, index_err, payload_of, point_id, tally, ChunkHit, DocState, Fusion, IndexPoint, IndexQuery, Retriever,
};
use super::{VectorIndex, DENSE, SPARSE};
use crate::section::Section;
use crate::sparse::SparseVec;
use crate::KnowledgeError;

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
#[derive(Clone)]
pub struct EdgeIndex {
    shard: Arc<EdgeShard>,
    dim: usize,
}

impl EdgeIndex {
    /// Open the shard at `dir`, creating it (dense size `dim`) if absent. Blocks.
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
        Ok(EdgeIndex { shard: Arc::new(shard), dim })
    }

    /// [`EdgeIndex::open`] on the blocking pool.
    pub async fn open_async(dir: &Path, dim: usize) -> Result<Self, KnowledgeError> {
        let dir = dir.to_path_buf();
        tokio::task::spawn_blocking(move || EdgeIndex::open(&dir, dim)).await.map_err(index_err)?
    }

    /// Run `f` on the shard on the blocking pool.
    async fn with_shard<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EdgeShard) -> Result<T, KnowledgeError> + Send + 'static,
    ) -> Result<T, KnowledgeError> {
        let shard = self.shard.clone();
        tokio::task::spawn_blocking(move || f(&shard)).await.map_err(index_err)?
    }
}

fn code_filter(code: &str) -> Result<Filter, KnowledgeError> {
    Ok(Filter::new_must(Condition::Field(FieldCondition::new_match(
        "code".try_into().map_err(|_| KnowledgeError::Index("payload key".into()))?,
        Match::new_value(ValueVariants::String(code.to_string())),
    ))))
}

/// The points of `code` whose section is none of `keep`.
fn stale_filter(code: &str, keep: &[Section]) -> Result<Filter, KnowledgeError> {
    let key = |k: &str| k.try_into().map_err(|_| KnowledgeError::Index("payload key".into()));
    let section = |s: &Section| -> Result<Condition, KnowledgeError> {
        Ok(Condition::Field(FieldCondition::new_match(key("section")?, Match::new_value(ValueVariants::String(s.key())))))
    };
    let mut filter = code_filter(code)?;
    filter.must_not = Some(keep.iter().map(section).collect::<Result<_, _>>()?);
    Ok(filter)
}

fn hit(p: ScoredPoint, dense_query: Option<&[f32]>) -> Result<ChunkHit, KnowledgeError> {
    let payload = p.payload.ok_or_else(|| KnowledgeError::Index("point without payload".into()))?;
    let chunk = chunk_of(serde_json::Value::Object(payload.0.into_iter().collect()))?;
    let cosine = match (dense_query, p.vector) {
        (Some(q), Some(qdrant_edge::VectorStructInternal::Named(mut named))) => match named.remove(DENSE) {
            Some(VectorInternal::Dense(v)) => Some(cosine(q, &v)),
            _ => None,
        },
        _ => None,
    };
    Ok(ChunkHit { chunk, score: p.score, cosine })
}

fn nearest(using: &str, v: VectorInternal) -> QueryEnum {
    QueryEnum::Nearest(NamedQuery { query: v, using: Some(using.to_string()) })
}

fn sparse_internal(s: &SparseVec) -> Result<VectorInternal, KnowledgeError> {
    Ok(Vector::new_sparse(s.indices.clone(), s.values.clone()).map_err(index_err)?.0)
}

/// The shard query for `q` (see [`VectorIndex::ranked`]); `None` when there is nothing to ask.
fn request(q: &IndexQuery, only: Option<Retriever>) -> Result<Option<QueryRequest>, KnowledgeError> {
    let dense = q.dense.as_ref().filter(|_| only != Some(Retriever::Sparse)).map(|d| nearest(DENSE, VectorInternal::Dense(d.clone())));
    let sparse = match &q.sparse {
        Some(s) if !s.is_empty() && only != Some(Retriever::Dense) => Some(nearest(SPARSE, sparse_internal(s)?)),
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
            Fusion::Rrf { k, dense_weight, sparse_weight } => (
                vec![prefetch(d), prefetch(s)],
                ScoringQuery::Fusion(QFusion::Rrf { k, weights: Some(vec![OrderedFloat(dense_weight), OrderedFloat(sparse_weight)]) }),
            ),
            Fusion::Dbsf => (vec![prefetch(d), prefetch(s)], ScoringQuery::Fusion(QFusion::Dbsf)),
            Fusion::Linear { .. } => return Err(KnowledgeError::Index("linear fusion is done by VectorIndex::query".into())),
        },
        (Some(one), None) | (None, Some(one)) => (vec![], ScoringQuery::Vector(one)),
        (None, None) => return Ok(None),
    };
    Ok(Some(QueryRequest {
        prefetches,
        query: Some(query),
        filter: None,
        score_threshold: None,
        limit: q.limit,
        offset: 0,
        params: None,
        with_vector: if q.dense.is_some() { WithVector::Selector(vec![DENSE.into()]) } else { WithVector::Bool(false) },
        with_payload: WithPayloadInterface::Bool(true),
    }))
}

#[async_trait]
impl VectorIndex for EdgeIndex {
    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<(), KnowledgeError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let mut vectors: Vec<(&str, Vector)> = Vec::new();
            if let Some(d) = dense_of_point(&p, self.dim)? {
                vectors.push((DENSE, Vector::new_dense(d.clone())));
            }
            if !p.sparse.is_empty() {
                vectors.push((SPARSE, Vector(sparse_internal(&p.sparse)?)));
            }
            let id = PointId::Uuid(point_id(&p.chunk.code, p.chunk.section));
            structs.push(PointStruct::new(id, Vectors::new_named(vectors), payload_of(&p)?).into());
        }
        let op = UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(structs)));
        self.with_shard(move |s| s.update(op).map_err(index_err)).await
    }

    async fn delete_doc(&self, code: &str) -> Result<(), KnowledgeError> {
        let op = UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(code_filter(code)?));
        self.with_shard(move |s| s.update(op).map_err(index_err)).await
    }

    async fn retain_sections(&self, code: &str, keep: &[Section]) -> Result<(), KnowledgeError> {
        let op = UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(stale_filter(code, keep)?));
        self.with_shard(move |s| s.update(op).map_err(index_err)).await
    }

    async fn doc_states(&self) -> Result<HashMap<String, DocState>, KnowledgeError> {
        self.with_shard(|shard| {
            let mut states = HashMap::new();
            let mut offset = None;
            loop {
                let (records, next) = shard
                    .scroll(ScrollRequest {
                        offset,
                        limit: Some(1000),
                        filter: None,
                        with_payload: Some(WithPayloadInterface::Bool(true)),
                        with_vector: WithVector::Bool(false),
                        order_by: None,
                    })
                    .map_err(index_err)?;
                for payload in records.into_iter().filter_map(|r| r.payload) {
                    tally(&mut states, &serde_json::Value::Object(payload.0.into_iter().collect()));
                }
                match next {
                    Some(n) => offset = Some(n),
                    None => return Ok(states),
                }
            }
        })
        .await
    }

    async fn ranked(&self, q: &IndexQuery, only: Option<Retriever>) -> Result<Vec<ChunkHit>, KnowledgeError> {
        let Some(request) = request(q, only)? else { return Ok(Vec::new()) };
        let dense = q.dense.clone();
        self.with_shard(move |shard| {
            let points = shard.query(request).map_err(index_err)?;
            points.into_iter().map(|p| hit(p, dense.as_deref())).collect()
        })
        .await
    }

    async fn dense_vectors(&self, code: &str) -> Result<HashMap<Section, (String, Vec<f32>)>, KnowledgeError> {
        let filter = code_filter(code)?;
        self.with_shard(move |shard| {
            let (records, _) = shard
                .scroll(ScrollRequest {
                    offset: None,
                    limit: Some(10_000),
                    filter: Some(filter),
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
        })
        .await
    }

    async fn len(&self) -> Result<usize, KnowledgeError> {
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
