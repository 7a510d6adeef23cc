//! A web replica whose models are on a model node (`banshi serve --llm-url … --embedder-url …`
//! against `banshi serve-models`), both real processes on loopback ports.
//!
//! Without the real models only the dead-server case runs: answers fall back to the guide's
//! words at once and `/readyz` says why. With them, the replica (holding no weights) answers
//! through the node, keeps answering from the guides when the node is killed, and generates
//! again once the node is back on the same address.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn answer_of(events: &[Sse]) -> (String, Option<String>) {
    let kind = events.iter().find(|e| e.event == "done").and_then(|e| e.data["kind"].as_str().map(String::from)).unwrap_or_default();
    let replaced = events.iter().find(|e| e.event == "replace").and_then(|e| e.data["reason"].as_str().map(String::from));
    (kind, replaced)
}

async fn readiness(url: &str) -> Value {
    client().get(format!("{url}/readyz")).send().await.unwrap().json().await.unwrap()
}

const MODEL_FLAGS: [&str; 8] =
    ["--model-retries", "0", "--model-breaker-failures", "1", "--model-breaker-cooldown", "2", "--model-idle-timeout", "30"];

#[tokio::test]
async fn a_dead_model_server_leaves_the_guides_words_and_readyz_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let no_weights = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let llm = format!("http://{dead}");
    let mut extra = vec!["--llm-url", llm.as_str()];
    extra.extend(MODEL_FLAGS);
    let server = Server::start(dir.path(), Some(no_weights.path()), &extra);
    let s = create_session(&server.url).await;
    let (status, events) = ask(&server.url, &s, "换身份证要带什么材料？", None).await;
    assert_eq!(status, 200);
    let (kind, replaced) = answer_of(&events);
    assert_eq!(kind, "extractive", "{:?}", names(&events));
    assert_eq!(replaced.as_deref(), Some("语言模型暂不可用"), "the citizen is told why: {:?}", names(&events));
    let r = readiness(&server.url).await;
    assert_eq!(r["generator"], false, "{r}");
    assert!(r["warnings"][0].as_str().unwrap().contains(&llm), "readyz names the failing server: {r}");
}

#[tokio::test]
async fn a_replica_without_weights_answers_through_the_model_node_and_survives_its_loss() {
    let Some(models) = real_models() else {
        eprintln!(
            "SKIP a_replica_without_weights_answers_through_the_model_node_and_survives_its_loss: no models (run `banshi models fetch`)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let no_weights = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let mut node = ModelNode::start(&models, "127.0.0.1:0");
    let addr = node.url.trim_start_matches("http://").to_string();
    let mut extra = vec!["--llm-url", node.url.as_str(), "--embedder-url", node.url.as_str()];
    extra.extend(MODEL_FLAGS);
    let server = Server::start(dir.path(), Some(no_weights.path()), &extra);
    let url = server.url.clone();
    let r = readiness(&url).await;
    assert_eq!((r["ready"].as_bool(), r["models"].as_bool(), r["generator"].as_bool()), (Some(true), Some(true), Some(true)), "{r}");

    // Through the node: the model writes the answer (whatever the checks then make of it,
    // the model was reached).
    let s = create_session(&url).await;
    let (_, events) = ask(&url, &s, "换身份证要带什么材料？", None).await;
    let (kind, replaced) = answer_of(&events);
    let transport = ["语言模型暂不可用", "语言模型繁忙", "语言模型生成出错"];
    assert!(!transport.contains(&replaced.as_deref().unwrap_or("")), "the node answered: {kind} {replaced:?}");
    assert!(events.iter().any(|e| e.event == "status" && e.data["message"] == "正在生成回答…"), "{:?}", names(&events));

    // The node dies: the next answer is the guide's words, at once, and readyz says why.
    let _ = node.child.kill();
    let _ = node.child.wait();
    let (_, events) = ask(&url, &s, "办身份证要多少钱？", None).await;
    let (kind, replaced) = answer_of(&events);
    assert_eq!((kind.as_str(), replaced.as_deref()), ("extractive", Some("语言模型暂不可用")), "{:?}", names(&events));
    assert_eq!(readiness(&url).await["ready"], true, "a replica without its model node still answers");

    // Back on the same address: after the cool-down the model answers again, no restart.
    node = ModelNode::start(&models, &addr);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, events) = ask(&url, &s, "换身份证要多久？", None).await;
    let (_, replaced) = answer_of(&events);
    assert!(!transport.contains(&replaced.as_deref().unwrap_or("")), "the node is asked again: {replaced:?}");
    assert_eq!(readiness(&url).await["generator"], true);
    drop(node);
}
