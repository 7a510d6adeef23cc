//! banshi's knowledge base: item guides (办事指南), their store, and hybrid retrieval.
//!
//! - [`guide`], [`form`], [`bundle`]: the schema (items, forms, 一件事 bundles); [`import`]: the
//!   project's JSON format and the Guangdong catalogue; [`store`]: versions in SQLite or PostgreSQL ([`db`]).
//! - [`chunk`]: guides → sections; [`sparse`]: jieba vectors; [`index`]: the embedded
//!   qdrant-edge shard or a Qdrant server behind [`index::VectorIndex`]; [`indexer`]: incremental sync; [`search`]: fusion,
//!   grouping per item, confidence.
//! - [`private`]: owner-only files and directories for the data dir (personal data).
//!
//! [`KnowledgeBase`] ties them together for one data dir.

pub mod bundle;
pub mod chunk;
pub mod curated;
pub mod db;
pub mod eligibility;
mod error;
pub mod form;
pub mod guide;
pub mod import;
pub mod index;
pub mod indexer;
pub mod names;
pub mod private;
pub mod search;
pub mod section;
pub mod segment;
pub mod sparse;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod vocab;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use banshi_models::Embed;

pub use bundle::Bundle;
pub use error::KnowledgeError;
pub use guide::Guide;
pub use search::{Mode, SearchParams, SearchResult};

use crate::eligibility::Eligibility;
use crate::index::{EdgeIndex, VectorIndex};
use crate::indexer::{Indexer, SyncStats};
use crate::names::NameIndex;
use crate::search::{Calibration, Searcher};
use crate::sparse::SparseEncoder;
use crate::store::{BundleStore, GuideStore, Saved};
use crate::vocab::Vocabulary;

/// Dense vector size of multilingual-e5-small; the index is created with it.
pub const DENSE_DIM: usize = 384;

/// The sample knowledge base shipped in the repo (`knowledge/guides`): where this crate was
/// built, or else `knowledge/guides` under the working directory (a binary built in another
/// checkout that shares the target dir).
pub fn bundled_guides_dir() -> PathBuf {
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("guides");
    let here = Path::new("knowledge").join("guides");
    if !built.is_dir() && here.is_dir() {
        return here;
    }
    built
}

/// Counts from an import.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportStats {
    pub new_versions: usize,
    pub unchanged: usize,
    pub index: SyncStats,
}

/// Counts from a bundle import.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BundleImport {
    pub new_versions: usize,
    pub unchanged: usize,
    /// Bundles refused, with every reason (an item that is not a live guide …).
    pub rejected: Vec<(String, Vec<String>)>,
    pub index: SyncStats,
}

/// A live document of the knowledge base: an item guide or a 一件事 bundle.
#[derive(Debug, Clone)]
pub enum Document {
    Guide(Box<Guide>),
    Bundle(Box<Bundle>),
}

impl Document {
    pub fn code(&self) -> &str {
        match self {
            Document::Guide(g) => &g.code,
            Document::Bundle(b) => &b.code,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Document::Guide(g) => &g.name,
            Document::Bundle(b) => &b.name,
        }
    }

    /// The department that handles it (a bundle's lead department).
    pub fn department(&self) -> &str {
        match self {
            Document::Guide(g) => &g.department,
            Document::Bundle(b) => &b.department,
        }
    }
}

/// Every live guide and bundle as (code, chunks), each named in `names` on the way.
async fn live_docs(
    store: &GuideStore,
    bundles: &BundleStore,
    names: &NameIndex,
) -> Result<Vec<(String, Vec<chunk::Chunk>)>, KnowledgeError> {
    let guides = store.all_live().await?;
    let mut docs = Vec::new();
    for g in &guides {
        names.set(g);
        docs.push((g.code.clone(), chunk::chunk_guide(g)));
    }
    for b in bundles.all_live().await? {
        names.set_names(&b.code, &b.name, &b.aliases);
        docs.push((b.code.clone(), chunk::chunk_bundle(&b, &guides)));
    }
    Ok(docs)
}

/// A live guide's or bundle's eligibility rule (免申即享), with its document as JSON, which the
/// rule's citations point into.
#[derive(Debug, Clone)]
pub struct Rule {
    pub code: String,
    pub name: String,
    /// A 一件事 bundle (applied for as one), not a single item.
    pub bundle: bool,
    /// The live version the rule is part of.
    pub version: u32,
    pub eligibility: Eligibility,
    pub doc: serde_json::Value,
}

/// The live rules, read once and kept until any live document changes ([`KnowledgeBase::sync`]).
#[derive(Default)]
struct RuleCache {
    rules: std::sync::Mutex<Option<Arc<Vec<Rule>>>>,
    /// Bumped on every change, so a read that raced a change is not kept.
    generation: std::sync::atomic::AtomicU64,
}

impl RuleCache {
    fn clear(&self) {
        self.generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *self.rules.lock().expect("rule cache") = None;
    }
}

/// The PostgreSQL advisory lock replicas take while writing the index.
const REINDEX_LOCK: &str = "banshi.reindex";

/// Guides, bundles, their index and search, over one data dir (`banshi.db` + `index/`).
pub struct KnowledgeBase {
    pub store: GuideStore,
    pub bundles: BundleStore,
    /// Editor-approved answers, given before retrieval.
    pub curated: curated::CuratedStore,
    pub index: Arc<dyn VectorIndex>,
    indexer: Indexer,
    searcher: Searcher,
    rules: RuleCache,
}

impl KnowledgeBase {
    /// Open the knowledge base in `data_dir` on an existing pool. `embedder` supplies dense
    /// embeddings; without it (or without a loaded model behind it) retrieval is sparse-only.
    pub async fn open(data_dir: &Path, pool: sqlx::AnyPool, embedder: Option<Arc<dyn Embed>>) -> Result<Self, KnowledgeError> {
        let index = EdgeIndex::open_async(&data_dir.join("index"), DENSE_DIM).await?;
        Self::open_with_index(pool, embedder, Arc::new(index)).await
    }

    /// As [`KnowledgeBase::open`], with the chunks in `index` (a Qdrant server, say).
    pub async fn open_with_index(
        pool: sqlx::AnyPool,
        embedder: Option<Arc<dyn Embed>>,
        index: Arc<dyn VectorIndex>,
    ) -> Result<Self, KnowledgeError> {
        let store = GuideStore::new(pool.clone()).await?;
        let bundles = BundleStore::new(pool.clone()).await?;
        let curated = curated::CuratedStore::new(pool).await?;
        let sparse = Arc::new(tokio::task::spawn_blocking(SparseEncoder::new).await.expect("jieba task"));
        let indexer = Indexer { index: index.clone(), sparse: sparse.clone(), embedder: embedder.clone() };
        let names = Arc::new(NameIndex::default());
        let vocab_docs = live_docs(&store, &bundles, &names).await?;
        let vocab = Arc::new(Vocabulary::default());
        let (v, s) = (vocab.clone(), sparse.clone());
        tokio::task::spawn_blocking(move || vocab_docs.iter().for_each(|(code, chunks)| v.set(&s, code, chunks)))
            .await
            .expect("vocabulary task");
        let searcher = Searcher { index: index.clone(), sparse, names, vocab, embedder, calibration: Calibration::default() };
        Ok(KnowledgeBase { store, bundles, curated, index, indexer, searcher, rules: RuleCache::default() })
    }

    /// Use `calibration` for search confidence instead of the bundled coefficients.
    pub fn with_calibration(mut self, calibration: Calibration) -> Self {
        self.searcher.calibration = calibration;
        self
    }

    /// Publish `guides` (each only if changed) and bring the index up to date for them.
    pub async fn import(
        &self,
        guides: &[Guide],
        author: &str,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<ImportStats, KnowledgeError> {
        let mut stats = ImportStats::default();
        for g in guides {
            match self.store.publish(g, author).await? {
                Saved::Unchanged => stats.unchanged += 1,
                Saved::Version(_) => stats.new_versions += 1,
            }
        }
        let mut docs = Vec::with_capacity(guides.len());
        for g in guides {
            let live = self.store.live(&g.code).await?.ok_or_else(|| KnowledgeError::NotFound(g.code.clone()))?;
            self.searcher.names.set(&live);
            docs.push((live.code.clone(), chunk::chunk_guide(&live)));
        }
        stats.index = self.sync(docs, false, progress).await?;
        Ok(stats)
    }

    /// Publish `bundles` whose items are live guides (each only if changed) and index them;
    /// a bundle that disagrees with its items is refused with the reasons.
    pub async fn import_bundles(
        &self,
        bundles: &[Bundle],
        author: &str,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<BundleImport, KnowledgeError> {
        let guides = self.store.all_live().await?;
        let mut stats = BundleImport::default();
        let mut docs = Vec::new();
        for b in bundles {
            let problems = b.check(&guides);
            if !problems.is_empty() {
                stats.rejected.push((b.code.clone(), problems));
                continue;
            }
            match self.bundles.publish(b, author).await? {
                Saved::Unchanged => stats.unchanged += 1,
                Saved::Version(_) => stats.new_versions += 1,
            }
            let live = self.bundles.live(&b.code).await?.ok_or_else(|| KnowledgeError::NotFound(b.code.clone()))?;
            self.searcher.names.set_names(&live.code, &live.name, &live.aliases);
            docs.push((live.code.clone(), chunk::chunk_bundle(&live, &guides)));
        }
        stats.index = self.sync(docs, false, progress).await?;
        Ok(stats)
    }

    /// Re-index every live guide and bundle, removing indexed documents that are no longer live.
    pub async fn reindex_all(&self, progress: &(dyn Fn(usize, usize) + Sync)) -> Result<SyncStats, KnowledgeError> {
        let docs = live_docs(&self.store, &self.bundles, &self.searcher.names).await?;
        self.sync(docs, true, progress).await
    }

    /// Make `version` of guide `code` live (publish a draft or roll back, checked as
    /// [`store::DocStore::make_live`] says) and re-index only that guide, so answers use it at
    /// once. Returns the version live before.
    pub async fn make_live(&self, code: &str, version: u32, how: store::GoLive) -> Result<Option<u32>, KnowledgeError> {
        let before = self.store.make_live(code, version, how).await?;
        let live = self.store.live(code).await?.ok_or_else(|| KnowledgeError::NotFound(code.to_string()))?;
        self.searcher.names.set(&live);
        self.sync(vec![(live.code.clone(), chunk::chunk_guide(&live))], false, &|_, _| {}).await?;
        Ok(before)
    }

    /// Make `version` of bundle `code` live (after checking it against the live guides: every
    /// item live, field maps and covers pointing at real fields and materials) and re-index it.
    pub async fn make_live_bundle(&self, code: &str, version: u32, how: store::GoLive) -> Result<Option<u32>, KnowledgeError> {
        let b = self.bundles.version(code, version).await?.ok_or_else(|| KnowledgeError::NotFound(format!("{code} v{version}")))?;
        let guides = self.store.all_live().await?;
        let problems = b.check(&guides);
        if !problems.is_empty() {
            return Err(KnowledgeError::Invalid { code: code.to_string(), problems });
        }
        let before = self.bundles.make_live(code, version, how).await?;
        let live = self.bundles.live(code).await?.ok_or_else(|| KnowledgeError::NotFound(code.to_string()))?;
        self.searcher.names.set_names(&live.code, &live.name, &live.aliases);
        self.sync(vec![(live.code.clone(), chunk::chunk_bundle(&live, &guides))], false, &|_, _| {}).await?;
        Ok(before)
    }

    /// Re-read live document `code` after another replica published or rolled it back: its
    /// names, word statistics and index entries. In an index the replicas share, the replica
    /// that published has written the entries already, so this finds them current and writes
    /// nothing; a replica with its own embedded index re-indexes the document there.
    pub async fn refresh(&self, code: &str) -> Result<(), KnowledgeError> {
        let docs = match self.document(code).await? {
            Some(Document::Guide(g)) => {
                self.searcher.names.set(&g);
                vec![(g.code.clone(), chunk::chunk_guide(&g))]
            }
            Some(Document::Bundle(b)) => {
                self.searcher.names.set_names(&b.code, &b.name, &b.aliases);
                let guides = self.store.all_live().await?;
                vec![(b.code.clone(), chunk::chunk_bundle(&b, &guides))]
            }
            None => return Ok(()),
        };
        self.sync(docs, false, &|_, _| {}).await.map(drop)
    }

    /// [`KnowledgeBase::refresh`] for every live guide and bundle.
    pub async fn refresh_all(&self) -> Result<(), KnowledgeError> {
        let docs = live_docs(&self.store, &self.bundles, &self.searcher.names).await?;
        self.sync(docs, false, &|_, _| {}).await.map(drop)
    }

    /// Bring the index and the word statistics up to date for `docs`. Replicas writing one
    /// shared index (a Qdrant server) on PostgreSQL take turns (an advisory lock held for the
    /// sync), so of several syncing the same documents one writes and the others find them
    /// current. Each waiter holds a pooled connection while it waits: publishes are rare.
    async fn sync(
        &self,
        docs: Vec<(String, Vec<chunk::Chunk>)>,
        prune: bool,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<SyncStats, KnowledgeError> {
        // Every caller has just changed what is live (or re-reads it after another replica did).
        self.rules.clear();
        // Tokenising every chunk is CPU work: off the async workers.
        let (vocab, sparse) = (self.searcher.vocab.clone(), self.searcher.sparse.clone());
        let docs = tokio::task::spawn_blocking(move || {
            docs.iter().for_each(|(code, chunks)| vocab.set(&sparse, code, chunks));
            docs
        })
        .await
        .expect("vocabulary task");
        if db::Backend::of(self.store.pool()) == db::Backend::Sqlite || !self.index.shared() {
            return self.indexer.sync(docs, prune, progress).await;
        }
        // A transaction-level lock: released at commit, and also when this future is dropped
        // midway (the transaction rolls back), so a cancelled publish never leaves it held.
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("SELECT 1 FROM (SELECT pg_advisory_xact_lock(hashtext($1))) AS l").bind(REINDEX_LOCK).execute(&mut *tx).await?;
        let synced = self.indexer.sync(docs, prune, progress).await;
        tx.commit().await?;
        synced
    }

    /// The words of `text` as retrieval sees them (jieba, stop words removed), for grouping.
    pub fn words(&self, text: &str) -> Vec<String> {
        self.searcher.sparse.tokens(text)
    }

    /// The live guide or bundle `code`.
    pub async fn document(&self, code: &str) -> Result<Option<Document>, KnowledgeError> {
        if let Some(g) = self.store.live(code).await? {
            return Ok(Some(Document::Guide(Box::new(g))));
        }
        Ok(self.bundles.live(code).await?.map(|b| Document::Bundle(Box::new(b))))
    }

    /// The live bundle `code`.
    pub async fn bundle(&self, code: &str) -> Result<Option<Bundle>, KnowledgeError> {
        self.bundles.live(code).await
    }

    pub async fn search(&self, query: &str, params: SearchParams) -> Result<SearchResult, KnowledgeError> {
        self.searcher.search(query, params).await
    }

    /// Codes of the items `text` names (by name or alias); empty when it names none.
    pub fn named_in(&self, text: &str) -> Vec<String> {
        self.searcher.names.named_in(text)
    }

    pub async fn guide(&self, code: &str) -> Result<Option<Guide>, KnowledgeError> {
        self.store.live(code).await
    }

    /// Every live eligibility rule (免申即享), guides first, each by code.
    pub async fn rules(&self) -> Result<Arc<Vec<Rule>>, KnowledgeError> {
        use std::sync::atomic::Ordering;
        if let Some(r) = self.rules.rules.lock().expect("rule cache").clone() {
            return Ok(r);
        }
        let generation = self.rules.generation.load(Ordering::SeqCst);
        let mut out = Vec::new();
        for g in self.store.live_mentioning("\"eligibility\"").await? {
            if let Some(e) = g.eligibility.clone() {
                let doc = serde_json::to_value(&g).expect("guides serialise");
                out.push(Rule { code: g.code, name: g.name, bundle: false, version: g.version, eligibility: e, doc });
            }
        }
        for b in self.bundles.live_mentioning("\"eligibility\"").await? {
            if let Some(e) = b.eligibility.clone() {
                let doc = serde_json::to_value(&b).expect("bundles serialise");
                out.push(Rule { code: b.code, name: b.name, bundle: true, version: b.version, eligibility: e, doc });
            }
        }
        let rules = Arc::new(out);
        let mut cached = self.rules.rules.lock().expect("rule cache");
        if self.rules.generation.load(Ordering::SeqCst) == generation {
            *cached = Some(rules.clone());
        }
        Ok(rules)
    }
}
