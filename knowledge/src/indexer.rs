//! Keeping the index in step with the documents: only what changed is re-embedded.
//!
//! A document's chunks carry the hash of its chunk texts. On sync, a document whose hash (and
//! dense-vector presence) matches the index is left alone; a changed one has its old chunks
//! deleted and its new chunks embedded and upserted; a document that is gone is deleted.
//! Reopening a data dir therefore re-embeds nothing, and an embedder that appears later fills
//! in dense vectors for documents indexed sparse-only.

use std::collections::HashMap;
use std::sync::Arc;

use banshi_models::{Embed, TextKind};
use sha2::{Digest, Sha256};

use crate::chunk::Chunk;
use crate::index::{IndexPoint, VectorIndex};
use crate::section::Section;
use crate::sparse::SparseEncoder;
use crate::KnowledgeError;

/// Chunks embedded per compute job: large enough to batch well, small enough to interleave
/// with interactive queries.
const EMBED_BATCH: usize = 32;

/// Counts from one sync.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncStats {
    pub unchanged: usize,
    pub indexed: usize,
    pub deleted: usize,
    pub chunks_embedded: usize,
}

pub struct Indexer {
    pub index: Arc<dyn VectorIndex>,
    pub sparse: Arc<SparseEncoder>,
    /// Dense passage vectors; without it (or without a loaded embedder) only words are indexed.
    pub embedder: Option<Arc<dyn Embed>>,
}

/// Hash of a document's chunk texts, in order, and of the sparse encoder's version (a new
/// tokenisation must re-index; unchanged texts keep their dense vectors).
pub fn doc_hash(chunks: &[Chunk]) -> String {
    let mut h = Sha256::new();
    h.update(crate::sparse::SPARSE_VERSION.to_le_bytes());
    for c in chunks {
        h.update(c.section.key().as_bytes());
        h.update([0]);
        h.update(c.text.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..16])
}

impl Indexer {
    fn dense_available(&self) -> bool {
        self.embedder.as_ref().is_some_and(|e| e.dim().is_some())
    }

    /// Make the index hold exactly `docs` (code → chunks). With `prune`, documents in the index
    /// but not in `docs` are deleted; without it, only the given documents are touched.
    pub async fn sync(
        &self,
        docs: Vec<(String, Vec<Chunk>)>,
        prune: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<SyncStats, KnowledgeError> {
        let states = self.index.doc_states().await?;
        let dense = self.dense_available();
        let mut stats = SyncStats::default();
        let wanted: HashMap<&str, ()> = docs.iter().map(|(c, _)| (c.as_str(), ())).collect();
        if prune {
            for code in states.keys().filter(|c| !wanted.contains_key(c.as_str())) {
                self.index.delete_doc(code).await?;
                stats.deleted += 1;
            }
        }
        let mut pending: Vec<(String, Vec<Chunk>, String)> = Vec::new();
        for (code, chunks) in docs {
            let hash = doc_hash(&chunks);
            match states.get(&code) {
                Some(s) if s.hash == hash && s.dense == dense && s.chunks == chunks.len() => stats.unchanged += 1,
                _ => pending.push((code, chunks, hash)),
            }
        }
        let total = pending.len();
        progress(0, total);
        // Embed across documents in batches; write each document once all its chunks are done.
        let mut batch: Vec<(String, Vec<Chunk>, String)> = Vec::new();
        let mut batch_chunks = 0;
        for doc in pending {
            batch_chunks += doc.1.len();
            batch.push(doc);
            if batch_chunks >= EMBED_BATCH {
                stats.indexed += batch.len();
                stats.chunks_embedded += self.write(std::mem::take(&mut batch), dense).await?;
                batch_chunks = 0;
                progress(stats.indexed, total);
            }
        }
        if !batch.is_empty() {
            stats.indexed += batch.len();
            stats.chunks_embedded += self.write(batch, dense).await?;
        }
        progress(stats.indexed, total);
        Ok(stats)
    }

    /// Replace the given documents' chunks; returns the number of chunks embedded. A chunk
    /// whose text is unchanged keeps its stored dense vector.
    async fn write(&self, docs: Vec<(String, Vec<Chunk>, String)>, dense: bool) -> Result<usize, KnowledgeError> {
        let mut known: Vec<Option<Vec<f32>>> = Vec::new();
        if dense {
            let mut stored = Vec::with_capacity(docs.len());
            for (code, _, _) in &docs {
                stored.push(self.index.dense_vectors(code).await?);
            }
            for ((_, chunks, _), stored) in docs.iter().zip(stored) {
                for c in chunks {
                    known.push(stored.get(&c.section).filter(|(text, _)| *text == c.text).map(|(_, v)| v.clone()));
                }
            }
        }
        let missing: Vec<String> = docs
            .iter()
            .flat_map(|(_, chunks, _)| chunks.iter())
            .zip(known.iter().map(Some).chain(std::iter::repeat(None)))
            .filter(|(_, k)| dense && !matches!(k, Some(Some(_))))
            .map(|(c, _)| c.text.clone())
            .collect();
        let embedded = missing.len();
        let mut fresh = match (&self.embedder, dense && !missing.is_empty()) {
            (Some(embedder), true) => embedder.embed(missing, TextKind::Passage).await?.into_iter(),
            _ => Vec::new().into_iter(),
        };
        let total: usize = docs.iter().map(|d| d.1.len()).sum();
        let mut vectors = (0..total)
            .map(|i| if !dense { None } else { known.get(i).cloned().flatten().or_else(|| fresh.next()) })
            .collect::<Vec<_>>()
            .into_iter();
        let sparse = self.sparse.clone();
        let mut points_by_doc = Vec::with_capacity(docs.len());
        for (code, chunks, hash) in docs {
            let points: Vec<IndexPoint> = chunks
                .into_iter()
                .map(|chunk| {
                    let sparse = sparse.document(&chunk.text);
                    IndexPoint { chunk, doc_hash: hash.clone(), dense: vectors.next().flatten(), sparse }
                })
                .collect();
            points_by_doc.push((code, points));
        }
        // New chunks first (same ids replace), then the sections that are gone: a search on
        // another replica during the re-index still finds the document.
        for (code, points) in points_by_doc {
            let sections: Vec<Section> = points.iter().map(|p| p.chunk.section).collect();
            self.index.upsert(points).await?;
            self.index.retain_sections(&code, &sections).await?;
        }
        Ok(embedded)
    }
}
