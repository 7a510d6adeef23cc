//! The two vector-index engines side by side: the embedded qdrant-edge shard and a real Qdrant
//! server (started on loopback ports; skipped, saying so, when its binary was not built) hold
//! the same points and must answer every kind of query alike: dense, sparse, weighted RRF,
//! DBSF, linear fusion, per-document states, stored vectors, deletes.

use std::collections::BTreeMap;

use banshi_knowledge::chunk::Chunk;
use banshi_knowledge::index::{ChunkHit, EdgeIndex, Fusion, IndexPoint, IndexQuery, QdrantIndex, VectorIndex};
use banshi_knowledge::sparse::SparseVec;
use banshi_knowledge::testing::QdrantServer;

const DIM: usize = 8;

/// Twelve documents of two chunks each; vectors vary smoothly so rankings have no ties.
fn points() -> Vec<IndexPoint> {
    let mut out = Vec::new();
    for d in 0..12u32 {
        for (s, section) in ["overview", "materials"].into_iter().enumerate() {
            let seed = (d * 2 + s as u32) as f32;
            let dense: Vec<f32> = (0..DIM).map(|i| ((seed + 1.0) * (i as f32 + 0.5)).sin()).collect();
            let sparse = SparseVec {
                indices: vec![d % 5, 10 + (d + s as u32) % 7, 40],
                values: vec![1.0 + seed / 10.0, 0.5 + seed / 97.0, 0.2 + seed / 301.0],
            };
            let code = format!("D{d:02}");
            out.push(IndexPoint {
                chunk: Chunk {
                    code: code.clone(),
                    name: format!("事项{d}"),
                    section: section.parse().unwrap(),
                    title: section.into(),
                    text: format!("{code} {section}"),
                },
                doc_hash: format!("h{d}"),
                dense: (d != 11).then_some(dense),
                sparse,
            });
        }
    }
    out
}

/// Both engines return the same hits with the same scores and cosines (to 1e-4). Order is
/// compared through the scores: equal scores (which RRF makes often) may come either way.
fn assert_same(name: &str, a: &[ChunkHit], b: &[ChunkHit]) {
    let key = |h: &ChunkHit| format!("{}#{}", h.chunk.code, h.chunk.section);
    let by_key: std::collections::HashMap<String, &ChunkHit> = b.iter().map(|h| (key(h), h)).collect();
    assert_eq!(a.len(), b.len(), "{name}: hit count");
    for (i, x) in a.iter().enumerate() {
        let y = by_key.get(&key(x)).unwrap_or_else(|| panic!("{name}: {} missing from the server's hits", key(x)));
        assert!((x.score - y.score).abs() < 1e-4, "{name}: {} scores {} vs {}", key(x), x.score, y.score);
        assert!((x.score - b[i].score).abs() < 1e-4, "{name}: rank {i} scores {} vs {}", x.score, b[i].score);
        let (cx, cy) = (x.cosine.unwrap_or(9.0), y.cosine.unwrap_or(9.0));
        assert!((cx - cy).abs() < 1e-4, "{name}: {} cosine {:?} vs {:?}", key(x), x.cosine, y.cosine);
    }
}

fn queries() -> Vec<(&'static str, IndexQuery)> {
    let dense: Vec<f32> = (0..DIM).map(|i| (3.0 * (i as f32 + 0.5)).sin()).collect();
    let sparse = SparseVec { indices: vec![2, 13, 40], values: vec![1.0, 1.0, 0.3] };
    // Every point is a candidate (all share sparse index 40), so ties cannot cut differently.
    let q = |dense: Option<Vec<f32>>, sparse: Option<SparseVec>, fusion| IndexQuery { dense, sparse, limit: 30, prefetch: 30, fusion };
    let rrf = Fusion::Rrf { k: 60, dense_weight: 1.0, sparse_weight: 1.0 };
    vec![
        ("dense", q(Some(dense.clone()), None, rrf)),
        ("sparse", q(None, Some(sparse.clone()), rrf)),
        ("rrf", q(Some(dense.clone()), Some(sparse.clone()), rrf)),
        ("weighted rrf", q(Some(dense.clone()), Some(sparse.clone()), Fusion::Rrf { k: 5, dense_weight: 3.0, sparse_weight: 0.5 })),
        ("dbsf", q(Some(dense.clone()), Some(sparse.clone()), Fusion::Dbsf)),
        ("linear", q(Some(dense), Some(sparse), Fusion::Linear { dense_weight: 0.6 })),
    ]
}

#[tokio::test]
async fn a_qdrant_server_answers_as_the_embedded_shard_does() {
    let Some(server) = QdrantServer::start("a_qdrant_server_answers_as_the_embedded_shard_does") else { return };
    let dir = tempfile::tempdir().unwrap();
    let edge = EdgeIndex::open(dir.path(), DIM).unwrap();
    let remote = QdrantIndex::open(&server.grpc_url, "contract", DIM).await.unwrap();
    for index in [&edge as &dyn VectorIndex, &remote] {
        index.upsert(points()).await.unwrap();
    }
    assert_eq!(remote.len().await.unwrap(), 24);
    assert_eq!(edge.doc_states().await.unwrap(), remote.doc_states().await.unwrap());
    assert!(!remote.doc_states().await.unwrap()["D11"].dense, "a document without vectors says so");

    for (name, q) in queries() {
        let (a, b) = (edge.query(&q).await.unwrap(), remote.query(&q).await.unwrap());
        assert!(a.len() >= 20, "{name}: {} hits", a.len());
        assert_same(name, &a, &b);
    }

    let vectors = |m: std::collections::HashMap<_, (String, Vec<f32>)>| {
        m.into_iter()
            .map(|(k, (t, v))| (format!("{k}"), (t, v.iter().map(|x| (x * 1e4).round() as i64).collect::<Vec<_>>())))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(vectors(edge.dense_vectors("D03").await.unwrap()), vectors(remote.dense_vectors("D03").await.unwrap()));

    for index in [&edge as &dyn VectorIndex, &remote] {
        index.delete_doc("D03").await.unwrap();
        // A re-index that drops a section keeps the others.
        index.retain_sections("D04", &["overview".parse().unwrap()]).await.unwrap();
    }
    assert_eq!(remote.len().await.unwrap(), 21);
    assert_eq!(edge.doc_states().await.unwrap(), remote.doc_states().await.unwrap());
    assert_eq!(remote.doc_states().await.unwrap()["D04"].chunks, 1);
    assert!(!remote.doc_states().await.unwrap().contains_key("D03"));

    // Reopening finds the collection; one made for another size is refused, naming the server.
    assert!(QdrantIndex::open(&server.grpc_url, "contract", DIM).await.is_ok());
    let err = QdrantIndex::open(&server.grpc_url, "contract", DIM * 2).await.err().unwrap();
    assert!(err.to_string().contains(&server.grpc_url) && err.to_string().contains("dim"), "{err}");
}

#[tokio::test]
async fn an_unreachable_server_is_named() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let err = QdrantIndex::open(&url, "x", DIM).await.err().expect("nothing listens there");
    assert!(err.to_string().contains(&url), "{err}");
}
