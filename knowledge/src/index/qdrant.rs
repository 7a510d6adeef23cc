//! [`QdrantIndex`]: the vector index on a Qdrant server or cluster, over gRPC (qdrant-client).
//!
//! The collection has the embedded shard's layout (see [`super`]); it is created on first
//! open, and an existing one whose dense size differs is refused. Writes wait for the server
//! to apply them (`wait = true`), so a write the caller saw succeed is searchable. Several
//! replicas may share the collection and read it while one re-indexes: a document's new
//! chunks replace the old ones by point id, then its leftover sections are deleted, so readers
//! never see it missing. Errors (server down, refused request) are
//! [`KnowledgeError::Index`] naming the URL; the client is not retried here.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use qdrant_client::qdrant::vector_output::Vector as VectorOut;
use qdrant_client::qdrant::vectors_output::VectorsOptions;
use qdrant_client::qdrant::{
    query, Condition, CountPointsBuilder, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance,
    FieldType, Filter, Modifier, NamedVectors, PointStruct, PrefetchQueryBuilder, Query, QueryPointsBuilder, Rrf, ScoredPoint,
    ScrollPointsBuilder, SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector, VectorInput,
    VectorParamsBuilder, VectorsConfigBuilder, VectorsOutput, VectorsSelector,
};
use qdrant_client::{Payload, Qdrant};

use super::{chunk_of, cosine, dense_of_point, payload_of, point_id, tally, ChunkHit, DocState, Fusion, IndexPoint, IndexQuery, Retriever};
use super::{VectorIndex, DENSE, SPARSE};
use crate::section::Section;
use crate::KnowledgeError;

/// The collection a Qdrant server holds banshi's chunks in, unless told otherwise.
pub const DEFAULT_COLLECTION: &str = "banshi_chunks";

pub struct QdrantIndex {
    client: Qdrant,
    collection: String,
    url: String,
    dim: usize,
}

impl QdrantIndex {
    /// Connect to the server at `url` (its gRPC port, e.g. `http://10.0.0.7:6334`) and open
    /// `collection`, creating it for `dim`-sized dense vectors if absent.
    ///
    /// Fails with [`KnowledgeError::Index`] naming the URL when the server cannot be reached,
    /// and when an existing collection was made for another dense size.
    pub async fn open(url: &str, collection: &str, dim: usize) -> Result<Self, KnowledgeError> {
        let client = Qdrant::from_url(url)
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(3))
            .skip_compatibility_check()
            .build()
            .map_err(|e| KnowledgeError::Index(format!("Qdrant at {url}: {e}")))?;
        let index = QdrantIndex { client, collection: collection.to_string(), url: url.to_string(), dim };
        let exists = index.client.collection_exists(collection).await.map_err(|e| index.err(e))?;
        if exists {
            index.check_dim().await?;
        } else {
            index.create().await?;
        }
        Ok(index)
    }

    fn err(&self, e: impl std::fmt::Display) -> KnowledgeError {
        KnowledgeError::Index(format!("Qdrant at {} ({}): {e}", self.url, self.collection))
    }

    async fn create(&self) -> Result<(), KnowledgeError> {
        let mut dense = VectorsConfigBuilder::default();
        dense.add_named_vector_params(DENSE, VectorParamsBuilder::new(self.dim as u64, Distance::Cosine));
        let mut sparse = SparseVectorsConfigBuilder::default();
        sparse.add_named_vector_params(SPARSE, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
        let create = CreateCollectionBuilder::new(&self.collection).vectors_config(dense).sparse_vectors_config(sparse);
        match self.client.create_collection(create).await {
            Ok(_) => {}
            // Another replica created it first.
            Err(e) if e.to_string().contains("already exists") => return self.check_dim().await,
            Err(e) => return Err(self.err(e)),
        }
        let field = CreateFieldIndexCollectionBuilder::new(&self.collection, "code", FieldType::Keyword).wait(true);
        self.client.create_field_index(field).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn check_dim(&self) -> Result<(), KnowledgeError> {
        let info = self.client.collection_info(&self.collection).await.map_err(|e| self.err(e))?;
        let size =
            info.result.and_then(|r| r.config).and_then(|c| c.params).and_then(|p| p.vectors_config).and_then(|v| v.config).and_then(|c| {
                match c {
                    qdrant_client::qdrant::vectors_config::Config::ParamsMap(m) => m.map.get(DENSE).map(|p| p.size as usize),
                    qdrant_client::qdrant::vectors_config::Config::Params(_) => None,
                }
            });
        match size {
            Some(s) if s == self.dim => Ok(()),
            Some(s) => Err(self.err(format!("the collection holds {s}-dim dense vectors, the embedder makes {}", self.dim))),
            None => Err(self.err(format!("the collection has no {DENSE:?} vector: not made by banshi"))),
        }
    }

    fn code_filter(code: &str) -> Filter {
        Filter::must([Condition::matches("code", code.to_string())])
    }

    fn hit(&self, p: ScoredPoint, dense_query: Option<&[f32]>) -> Result<ChunkHit, KnowledgeError> {
        let payload: serde_json::Value = Payload::from(p.payload).into();
        let cosine = match (dense_query, p.vectors.and_then(dense_of)) {
            (Some(q), Some(v)) => Some(cosine(q, &v)),
            _ => None,
        };
        Ok(ChunkHit { chunk: chunk_of(payload)?, score: p.score, cosine })
    }

    /// The query for `q` (see [`VectorIndex::ranked`]); `None` when there is nothing to ask.
    fn request(&self, q: &IndexQuery, only: Option<Retriever>) -> Result<Option<QueryPointsBuilder>, KnowledgeError> {
        let dense = q.dense.clone().filter(|_| only != Some(Retriever::Sparse));
        let sparse = q.sparse.clone().filter(|s| !s.is_empty() && only != Some(Retriever::Dense));
        let candidates = q.prefetch.max(q.limit) as u64;
        let base = QueryPointsBuilder::new(&self.collection).limit(q.limit as u64).with_payload(true);
        let base = if q.dense.is_some() { base.with_vectors(dense_only()) } else { base.with_vectors(false) };
        let dense_query = |d: Vec<f32>| Query::new_nearest(VectorInput::new_dense(d));
        let sparse_query = |s: crate::sparse::SparseVec| Query::new_nearest(VectorInput::new_sparse(s.indices, s.values));
        Ok(Some(match (dense, sparse) {
            (Some(d), Some(s)) => {
                let fusion = match q.fusion {
                    Fusion::Rrf { k, dense_weight, sparse_weight } => {
                        Query { variant: Some(query::Variant::Rrf(Rrf { k: Some(k as u32), weights: vec![dense_weight, sparse_weight] })) }
                    }
                    Fusion::Dbsf => Query::new_fusion(qdrant_client::qdrant::Fusion::Dbsf),
                    Fusion::Linear { .. } => return Err(self.err("linear fusion is done by VectorIndex::query")),
                };
                base.add_prefetch(PrefetchQueryBuilder::default().query(dense_query(d)).using(DENSE).limit(candidates))
                    .add_prefetch(PrefetchQueryBuilder::default().query(sparse_query(s)).using(SPARSE).limit(candidates))
                    .query(fusion)
            }
            (Some(d), None) => base.query(dense_query(d)).using(DENSE),
            (None, Some(s)) => base.query(sparse_query(s)).using(SPARSE),
            (None, None) => return Ok(None),
        }))
    }
}

/// Return only the dense vector of each point.
fn dense_only() -> VectorsSelector {
    VectorsSelector { names: vec![DENSE.to_string()] }
}

/// The dense vector among a point's returned vectors.
fn dense_of(v: VectorsOutput) -> Option<Vec<f32>> {
    match v.vectors_options? {
        VectorsOptions::Vectors(mut named) => match named.vectors.remove(DENSE)?.into_vector() {
            VectorOut::Dense(d) => Some(d.data),
            _ => None,
        },
        VectorsOptions::Vector(_) => None,
    }
}

#[async_trait]
impl VectorIndex for QdrantIndex {
    fn shared(&self) -> bool {
        true
    }

    async fn upsert(&self, points: Vec<IndexPoint>) -> Result<(), KnowledgeError> {
        if points.is_empty() {
            return Ok(());
        }
        let mut structs = Vec::with_capacity(points.len());
        for p in points {
            let mut vectors = NamedVectors::default();
            if let Some(d) = dense_of_point(&p, self.dim)? {
                vectors = vectors.add_vector(DENSE, Vector::new_dense(d.clone()));
            }
            if !p.sparse.is_empty() {
                vectors = vectors.add_vector(SPARSE, Vector::new_sparse(p.sparse.indices.clone(), p.sparse.values.clone()));
            }
            let payload = Payload::try_from(payload_of(&p)?).map_err(|e| self.err(e))?;
            let id = point_id(&p.chunk.code, p.chunk.section).to_string();
            structs.push(PointStruct::new(id, vectors, payload));
        }
        self.client.upsert_points(UpsertPointsBuilder::new(&self.collection, structs).wait(true)).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn delete_doc(&self, code: &str) -> Result<(), KnowledgeError> {
        let delete = DeletePointsBuilder::new(&self.collection).points(Self::code_filter(code)).wait(true);
        self.client.delete_points(delete).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn retain_sections(&self, code: &str, keep: &[Section]) -> Result<(), KnowledgeError> {
        let stale = Filter {
            must: vec![Condition::matches("code", code.to_string())],
            must_not: keep.iter().map(|s| Condition::matches("section", s.key())).collect(),
            ..Filter::default()
        };
        self.client.delete_points(DeletePointsBuilder::new(&self.collection).points(stale).wait(true)).await.map_err(|e| self.err(e))?;
        Ok(())
    }

    async fn doc_states(&self) -> Result<HashMap<String, DocState>, KnowledgeError> {
        let mut states = HashMap::new();
        let mut offset = None;
        loop {
            let mut scroll = ScrollPointsBuilder::new(&self.collection).limit(1000).with_payload(true).with_vectors(false);
            if let Some(o) = offset.take() {
                scroll = scroll.offset(o);
            }
            let page = self.client.scroll(scroll).await.map_err(|e| self.err(e))?;
            for p in page.result {
                tally(&mut states, &Payload::from(p.payload).into());
            }
            match page.next_page_offset {
                Some(next) => offset = Some(next),
                None => return Ok(states),
            }
        }
    }

    async fn ranked(&self, q: &IndexQuery, only: Option<Retriever>) -> Result<Vec<ChunkHit>, KnowledgeError> {
        let Some(request) = self.request(q, only)? else { return Ok(Vec::new()) };
        let points = self.client.query(request).await.map_err(|e| self.err(e))?.result;
        points.into_iter().map(|p| self.hit(p, q.dense.as_deref())).collect()
    }

    async fn dense_vectors(&self, code: &str) -> Result<HashMap<Section, (String, Vec<f32>)>, KnowledgeError> {
        let scroll = ScrollPointsBuilder::new(&self.collection)
            .filter(Self::code_filter(code))
            .limit(10_000)
            .with_payload(true)
            .with_vectors(dense_only());
        let page = self.client.scroll(scroll).await.map_err(|e| self.err(e))?;
        let mut out = HashMap::new();
        for p in page.result {
            let Some(v) = p.vectors.and_then(dense_of) else { continue };
            let payload: serde_json::Value = Payload::from(p.payload).into();
            let get = |k: &str| payload[k].as_str().unwrap_or_default().to_string();
            if let Ok(section) = get("section").parse::<Section>() {
                out.insert(section, (get("text"), v));
            }
        }
        Ok(out)
    }

    async fn len(&self) -> Result<usize, KnowledgeError> {
        let count = self.client.count(CountPointsBuilder::new(&self.collection).exact(true)).await.map_err(|e| self.err(e))?;
        Ok(count.result.map_or(0, |r| r.count as usize))
    }
}
