//! With the real model: while one answer is being generated and the wait queue is full, the
//! next message gets 429 + Retry-After; a client that disconnects mid-answer cancels the
//! generation and its partial answer is stored as interrupted. Skips (and says so) without
//! the models.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;

#[tokio::test]
async fn full_queue_answers_429_and_disconnect_cancels_generation() {
    let Some(models) = real_models() else {
        eprintln!("SKIP full_queue_answers_429_and_disconnect_cancels_generation: no models (run `banshi models fetch`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Sparse-only index: embedding the corpus is not what this test is about, and costs minutes.
    ingest(dir.path(), None);
    let server = Server::start(
        dir.path(),
        Some(&models),
        &["--max-turns", "1", "--max-turns-waiting", "0", "--max-in-flight", "1", "--max-waiting", "0", "--retry-after", "7"],
    );
    let url = &server.url;
    let a = create_session(url).await;
    let b = create_session(url).await;

    let res = client()
        .post(format!("{url}/api/v1/sessions/{}/messages", a.id))
        .bearer_auth(&a.token)
        .json(&serde_json::json!({"text": "换身份证需要带哪些材料？"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    while !seen.contains("event: token") {
        assert!(Instant::now() < deadline, "no token in time: {seen}");
        let chunk = tokio::time::timeout(Duration::from_secs(240), stream.next()).await.unwrap().unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: sources"), "the card comes before the model's text: {seen}");

    // A is generating and nobody may wait: B is refused, nothing of B's is stored.
    let (status, ev) = ask(url, &b, "护照怎么办？", None).await;
    assert_eq!(status, 429, "{ev:?}");
    assert_eq!(ev[0].data["error"]["code"], "busy");
    assert!(history(url, &b).await.is_empty());
    let r = client()
        .post(format!("{url}/api/v1/sessions/{}/messages", b.id))
        .bearer_auth(&b.token)
        .json(&serde_json::json!({"text": "护照"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "7");

    // A hangs up mid-answer: generation stops and the partial answer is kept as interrupted.
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = history(url, &a).await;
        if let Some(m) = h.iter().find(|m| m["role"] == "assistant") {
            assert_eq!(m["status"], "interrupted", "{m}");
            break;
        }
        assert!(Instant::now() < deadline, "the cancelled answer was not stored");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The slot is free again.
    let (status, _) = ask(url, &b, "你好", None).await;
    assert_eq!(status, 200);
    let metrics = client().get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("banshi_rejected_busy_total 2"), "{metrics}");
    assert!(metrics.contains("banshi_time_to_first_token_seconds_count"), "{metrics}");
}
