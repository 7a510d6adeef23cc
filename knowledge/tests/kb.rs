//! The knowledge base on real SQLite and a real qdrant-edge shard, with a tiny embedder the
//! test writes itself: incremental re-indexing, persistence across reopen, sparse-only
//! operation, and fusion ordering.

use std::sync::Arc;

use banshi_knowledge::chunk::Chunk;
use banshi_knowledge::db::open_sqlite;
use banshi_knowledge::import::load_path;
use banshi_knowledge::index::{EdgeIndex, Fusion, IndexPoint, IndexQuery, VectorIndex};
use banshi_knowledge::indexer::Indexer;
use banshi_knowledge::sparse::{SparseEncoder, SparseVec};
use banshi_knowledge::{Guide, KnowledgeBase, Mode, SearchParams, DENSE_DIM};
use banshi_models::testing::tiny_compute;

fn sample_guides() -> Vec<Guide> {
    let loaded = load_path(&banshi_knowledge::bundled_guides_dir().join("sample")).unwrap();
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    loaded.guides.into_iter().take(4).collect()
}

async fn open(dir: &std::path::Path, dense: bool) -> KnowledgeBase {
    let pool = open_sqlite(&dir.join("banshi.db")).await.unwrap();
    let embedder = dense.then(|| Arc::new(tiny_compute(DENSE_DIM)) as Arc<dyn banshi_models::Embed>);
    KnowledgeBase::open(dir, pool, embedder).await.unwrap()
}

fn no_progress(_: usize, _: usize) {}

#[tokio::test]
async fn only_changed_guides_are_reindexed_and_reopen_embeds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut guides = sample_guides();
    let n = guides.len();
    let first = {
        let kb = open(dir.path(), true).await;
        let s = kb.import(&guides, "test", &no_progress).await.unwrap();
        assert_eq!((s.new_versions, s.index.indexed, s.index.unchanged), (n, n, 0));
        assert!(s.index.chunks_embedded >= n * 5, "{s:?}");
        let again = kb.import(&guides, "test", &no_progress).await.unwrap();
        assert_eq!((again.unchanged, again.index.unchanged, again.index.chunks_embedded), (n, n, 0), "{again:?}");
        kb.search("身份证", SearchParams::default()).await.unwrap().items[0].code.clone()
    };
    // Reopen the same data dir: the index persisted, nothing is embedded again.
    let kb = open(dir.path(), true).await;
    let before = kb.index.len().await.unwrap();
    let again = kb.reindex_all(&no_progress).await.unwrap();
    assert_eq!((again.indexed, again.chunks_embedded, again.unchanged), (0, 0, n), "{again:?}");
    assert_eq!(kb.search("身份证", SearchParams::default()).await.unwrap().items[0].code, first);

    // Change one guide: only its chunks are replaced.
    let old_chunks = banshi_knowledge::chunk::chunk_guide(&guides[1]).len();
    let fees = guides[1].fees.get_or_insert_with(Vec::new);
    fees.push(banshi_knowledge::guide::Fee { name: "测试费".into(), amount_yuan: Some(7.0), note: None, basis: None });
    let changed = kb.import(&guides, "test", &no_progress).await.unwrap();
    assert_eq!((changed.new_versions, changed.index.indexed, changed.index.unchanged), (1, 1, n - 1), "{changed:?}");
    let chunks = banshi_knowledge::chunk::chunk_guide(&guides[1]).len();
    assert_eq!(changed.index.chunks_embedded, 1, "only the changed fees section is embedded again");
    assert_eq!(kb.index.len().await.unwrap(), before - old_chunks + chunks);
    let hit = kb.search("测试费 7元", SearchParams { mode: Mode::Sparse, ..SearchParams::default() }).await.unwrap();
    assert_eq!(hit.items[0].code, guides[1].code);
}

#[tokio::test]
async fn works_sparse_only_and_fills_dense_vectors_when_an_embedder_appears() {
    let dir = tempfile::tempdir().unwrap();
    let guides = sample_guides();
    {
        let kb = open(dir.path(), false).await;
        let s = kb.import(&guides, "test", &no_progress).await.unwrap();
        assert_eq!(s.index.chunks_embedded, 0);
        let r = kb.search("换身份证要带什么材料", SearchParams::default()).await.unwrap();
        assert_eq!(r.mode, Mode::Sparse, "hybrid degrades to sparse without an embedder");
        assert!(!r.items.is_empty());
        assert!((0.0..=1.0).contains(&r.confidence));
    }
    let kb = open(dir.path(), true).await;
    let s = kb.reindex_all(&no_progress).await.unwrap();
    assert_eq!(s.indexed, guides.len(), "every item gains dense vectors");
    assert!(s.chunks_embedded > 0);
    assert_eq!(kb.search("身份证", SearchParams::default()).await.unwrap().mode, Mode::Hybrid);
}

#[tokio::test]
async fn pruning_removes_documents_that_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let index: Arc<dyn VectorIndex> = Arc::new(EdgeIndex::open(dir.path(), 8).unwrap());
    let indexer = Indexer { index: index.clone(), sparse: Arc::new(SparseEncoder::new()), embedder: None };
    let doc = |code: &str| (code.to_string(), vec![chunk(code, "overview", "示例文本")]);
    indexer.sync(vec![doc("A"), doc("B")], true, &no_progress).await.unwrap();
    assert_eq!(index.len().await.unwrap(), 2);
    let s = indexer.sync(vec![doc("A")], true, &no_progress).await.unwrap();
    assert_eq!((s.deleted, s.unchanged), (1, 1));
    assert_eq!(index.doc_states().await.unwrap().keys().collect::<Vec<_>>(), ["A"]);
}

fn chunk(code: &str, section: &str, text: &str) -> Chunk {
    Chunk { code: code.into(), name: code.into(), section: section.parse().unwrap(), title: section.into(), text: text.into() }
}

/// Dense ranks A > B > C, sparse ranks C > B > A: the weights decide who wins.
#[tokio::test]
async fn weighted_fusion_orders_by_the_heavier_retriever() {
    let dir = tempfile::tempdir().unwrap();
    let index = EdgeIndex::open(dir.path(), 4).unwrap();
    let query_dense = vec![1.0, 0.0, 0.0, 0.0];
    let points = [("A", [1.0, 0.1, 0.0, 0.0], 1.0), ("B", [0.7, 0.7, 0.0, 0.0], 2.0), ("C", [0.1, 1.0, 0.0, 0.0], 3.0)]
        .into_iter()
        .map(|(code, d, w)| IndexPoint {
            chunk: chunk(code, "overview", code),
            doc_hash: "h".into(),
            dense: Some(d.to_vec()),
            sparse: SparseVec { indices: vec![42], values: vec![w] },
        })
        .collect();
    index.upsert(points).await.unwrap();
    let order = async |fusion| -> Vec<String> {
        let q = IndexQuery {
            dense: Some(query_dense.clone()),
            sparse: Some(SparseVec { indices: vec![42], values: vec![1.0] }),
            limit: 3,
            prefetch: 3,
            fusion,
        };
        index.query(&q).await.unwrap().into_iter().map(|h| h.chunk.code).collect()
    };
    assert_eq!(order(Fusion::Rrf { k: 1, dense_weight: 10.0, sparse_weight: 1.0 }).await, ["A", "B", "C"]);
    assert_eq!(order(Fusion::Rrf { k: 1, dense_weight: 1.0, sparse_weight: 10.0 }).await, ["C", "B", "A"]);
    let hits = index
        .query(&IndexQuery { dense: Some(query_dense.clone()), sparse: None, limit: 3, prefetch: 3, fusion: Fusion::Dbsf })
        .await
        .unwrap();
    assert_eq!(hits[0].chunk.code, "A");
    assert!((hits[0].cosine.unwrap() - 0.995).abs() < 0.01, "cosine is reported: {:?}", hits[0].cosine);
}

/// The coverage feature weighs a question's words by how rare they are in the knowledge base:
/// a word no guide has (宠物狗) pulls it down more than a common one, the statistics are rebuilt
/// when the knowledge base reopens, and a new guide version that has the word raises it.
#[tokio::test]
async fn words_no_guide_has_lower_coverage_and_statistics_follow_the_guides() {
    let dir = tempfile::tempdir().unwrap();
    let mut guides = load_path(&banshi_knowledge::bundled_guides_dir().join("sample")).unwrap().guides;
    let sparse = SearchParams { mode: Mode::Sparse, ..SearchParams::default() };
    let covered = "居民身份证换领需要哪些材料";
    let unknown = "居民身份证换领能带宠物狗吗";
    let (c1, u1) = {
        let kb = open(dir.path(), false).await;
        kb.import(&guides, "test", &no_progress).await.unwrap();
        let c = kb.search(covered, sparse).await.unwrap();
        let u = kb.search(unknown, sparse).await.unwrap();
        assert_eq!(c.items[0].code, u.items[0].code, "both find the same item");
        assert!(u.features.coverage < c.features.coverage - 0.2, "{:?} vs {:?}", u.features, c.features);
        (c.features.coverage, u.features.coverage)
    };
    let kb = open(dir.path(), false).await;
    assert_eq!(kb.search(covered, sparse).await.unwrap().features.coverage, c1, "rebuilt on reopen");
    let u = kb.search(unknown, sparse).await.unwrap();
    assert_eq!(u.features.coverage, u1);
    let top = u.items[0].code.clone();
    let g = guides.iter_mut().find(|g| g.code == top).unwrap();
    g.faq.push(banshi_knowledge::guide::Faq { q: "能带宠物狗吗？".into(), a: "大厅内不能带宠物狗。".into() });
    kb.import(&guides, "test", &no_progress).await.unwrap();
    let after = kb.search(unknown, sparse).await.unwrap();
    assert!(after.features.coverage > u1 + 0.2, "{:?} after the guide gained the word", after.features);
}
