//! The service on a Qdrant server instead of the embedded index (`--qdrant-url`), both real
//! processes on loopback ports: ingest and answers go through it; when it goes down while
//! serving, `/readyz` says so and answers fail with `unavailable` (503-class), not a hang or a
//! crash; when it comes back, the service recovers without a restart. Skips, saying so, when
//! the Qdrant server binary was not built.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use banshi_knowledge::testing::QdrantServer;
use common::*;
use serde_json::Value;

async fn readiness(url: &str) -> (u16, Value) {
    let r = client().get(format!("{url}/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn answers_from_a_qdrant_server_and_recovers_when_it_returns() {
    let Some(mut qdrant) = QdrantServer::start("answers_from_a_qdrant_server_and_recovers_when_it_returns") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--no-models", "--qdrant-url", &qdrant.grpc_url, "ingest", "--path"])
        .arg(sample_dir())
        .env("BANSHI_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "ingest into Qdrant: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!dir.path().join("index").exists(), "nothing was written to the embedded index");

    let server = Server::start(dir.path(), None, &["--qdrant-url", &qdrant.grpc_url]);
    let url = &server.url;
    let (status, r) = readiness(url).await;
    assert_eq!(status, 200, "{r}");
    assert!(r["index_chunks"].as_u64().unwrap() > 50, "{r}");
    let s = create_session(url).await;
    let (_, events) = ask(url, &s, "换身份证要带什么材料？", None).await;
    let card = &events.iter().find(|e| e.event == "sources").expect("a sources card").data["card"];
    assert_eq!(card["code"], "SAMPLE-GA-001");

    // Qdrant dies: readiness names the index, an answer fails as unavailable.
    qdrant.kill();
    let (status, r) = readiness(url).await;
    assert_eq!(status, 503, "{r}");
    assert!(r["problems"].to_string().contains("index"), "{r}");
    let fresh = create_session(url).await;
    let (_, events) = ask(url, &fresh, "护照怎么办？", None).await;
    let error = events.iter().find(|e| e.event == "error").unwrap_or_else(|| panic!("an error event: {:?}", names(&events)));
    assert_eq!(error.data["code"], "unavailable", "{}", error.data);

    // Back on the same address: ready again and answering, without a restart.
    qdrant.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    while readiness(url).await.0 != 200 {
        assert!(Instant::now() < deadline, "not ready again after Qdrant came back: {}", readiness(url).await.1);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, events) = ask(url, &fresh, "护照怎么办？", None).await;
    let card = &events.iter().find(|e| e.event == "sources").expect("a sources card").data["card"];
    assert!(card["name"].as_str().unwrap().contains("护照"), "{card}");
}

#[test]
fn a_qdrant_server_that_is_down_at_start_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let qdrant = format!("http://127.0.0.1:{port}");
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--no-models", "--qdrant-url", &qdrant, "serve", "--addr", "127.0.0.1:0"])
        .env("BANSHI_LOG", "warn")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--qdrant-url") && err.contains(&qdrant), "the error names the flag and the server: {err}");
}
