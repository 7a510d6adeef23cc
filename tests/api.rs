//! End-to-end: the real `banshi serve` (no models: sparse retrieval, extractive answers) on a
//! loopback port, driven over HTTP with SSE parsing.

mod common;

use common::*;
use serde_json::Value;

fn setup() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let server = Server::start(dir.path(), None, &["--cors-origins", "https://mp.example.gov.cn"]);
    (dir, server)
}

#[tokio::test]
async fn a_conversation_streams_sources_tokens_citations_and_is_stored() {
    let (_dir, server) = setup();
    let url = &server.url;
    assert_eq!(client().get(format!("{url}/healthz")).send().await.unwrap().status(), 200);
    let ready: Value = client().get(format!("{url}/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["ready"], true, "{ready}");

    let s = create_session(url).await;
    let (status, events) = ask(url, &s, "换身份证要带什么材料？", None).await;
    assert_eq!(status, 200);
    let seq = names(&events);
    assert_eq!(seq.first(), Some(&"message"), "{seq:?}");
    let pos = |n: &str| seq.iter().position(|e| *e == n).unwrap_or_else(|| panic!("no {n} in {seq:?}"));
    assert!(pos("sources") < pos("token") && pos("token") < pos("citations") && pos("citations") < pos("done"), "{seq:?}");
    let card = &events[pos("sources")].data["card"];
    assert_eq!(card["code"], "SAMPLE-GA-001");
    assert!(card["materials"][0].as_str().unwrap().contains("原居民身份证"));
    let answer: String = events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap()).collect();
    assert!(answer.contains("原居民身份证"), "{answer}");
    let done = &events[pos("done")].data;
    assert_eq!(done["kind"], "extractive");

    // Follow-up resolves against the item under discussion.
    let (_, events) = ask(url, &s, "那要多久？", None).await;
    let answer: String = events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap()).collect();
    assert!(answer.contains("60日") || answer.contains("15个工作日"), "{answer}");

    let h = history(url, &s).await;
    assert_eq!(h.len(), 4);
    assert_eq!(h.iter().map(|m| m["role"].as_str().unwrap()).collect::<Vec<_>>(), ["user", "assistant", "user", "assistant"]);
    // The stored answer keeps the events shown (the card among them), as a replay sends them.
    let shown = h[1]["meta"]["shown"].as_array().unwrap();
    let card = shown.iter().find(|e| e["type"] == "sources").expect("the card is stored as shown");
    assert_eq!(card["card"]["code"], "SAMPLE-GA-001");
    assert_eq!(h[1]["reply_to"], h[0]["id"]);
    assert_eq!(h[1]["id"], done["message_id"]);

    let metrics = client().get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("banshi_answers_total{kind=\"extractive\"} 2"), "{metrics}");
    assert!(metrics.contains("route=\"/api/v1/sessions/{id}/messages\""), "{metrics}");
}

#[tokio::test]
async fn resending_with_the_same_client_id_replays_instead_of_duplicating() {
    let (_dir, server) = setup();
    let s = create_session(&server.url).await;
    let (_, first) = ask(&server.url, &s, "身份证换证收费吗？", Some("c-1")).await;
    let (_, again) = ask(&server.url, &s, "身份证换证收费吗？", Some("c-1")).await;
    assert_eq!(first[0].data["replayed"], false);
    assert_eq!(again[0].data["replayed"], true);
    let text =
        |ev: &[Sse]| ev.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap().to_string()).collect::<String>();
    assert_eq!(text(&first), text(&again));
    assert_eq!(history(&server.url, &s).await.len(), 2);
}

#[tokio::test]
async fn bad_requests_get_json_errors_with_the_right_status() {
    let (_dir, server) = setup();
    let url = &server.url;
    let s = create_session(url).await;
    let post = |body: String, token: &str| {
        client()
            .post(format!("{url}/api/v1/sessions/{}/messages", s.id))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |r: reqwest::Response, status: u16, code: &'static str| async move {
        assert_eq!(r.status().as_u16(), status);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    };
    check(post(r#"{"text":"你好"}"#.into(), "wrong-token").await.unwrap(), 401, "unauthorized").await;
    check(post(r#"{"text":"   "}"#.into(), &s.token).await.unwrap(), 422, "bad_request").await;
    check(post(r#"{"text": 5}"#.into(), &s.token).await.unwrap(), 422, "bad_request").await;
    check(post("not json".into(), &s.token).await.unwrap(), 422, "bad_request").await;
    let wrong_type = client()
        .post(format!("{url}/api/v1/sessions/{}/messages", s.id))
        .bearer_auth(&s.token)
        .header("content-type", "text/plain")
        .body(r#"{"text":"你好"}"#)
        .send()
        .await
        .unwrap();
    check(wrong_type, 415, "unsupported_media_type").await;
    let mut bad_utf8 = br#"{"text":""#.to_vec();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, 0xe4, 0xbd]);
    bad_utf8.extend_from_slice(br#""}"#);
    let r = client()
        .post(format!("{url}/api/v1/sessions/{}/messages", s.id))
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body(bad_utf8)
        .send()
        .await
        .unwrap();
    check(r, 422, "bad_request").await;
    let long = serde_json::json!({"text": "长".repeat(501)}).to_string();
    check(post(long, &s.token).await.unwrap(), 413, "too_large").await;
    let huge = serde_json::json!({"text": "x".repeat(20_000)}).to_string();
    assert_eq!(post(huge, &s.token).await.unwrap().status(), 413);
    let r = client().get(format!("{url}/api/v1/sessions/nope/messages")).bearer_auth(&s.token).send().await.unwrap();
    check(r, 401, "unauthorized").await;
    let r = client().get(format!("{url}/api/v1/items/NO-SUCH-ITEM")).send().await.unwrap();
    check(r, 404, "not_found").await;
    let r = client().get(format!("{url}/api/v1/sessions/{}/messages?limit=0", s.id)).bearer_auth(&s.token).send().await.unwrap();
    check(r, 422, "bad_request").await;
    // Nothing above was stored, and the server keeps serving.
    assert!(history(url, &s).await.is_empty());
    let (status, _) = ask(url, &s, "你好", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn openapi_document_matches_the_routes_and_cors_allows_configured_origins() {
    let (_dir, server) = setup();
    let url = &server.url;
    let doc: Value = client().get(format!("{url}/api/v1/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 8, "{paths:?}");
    for (path, item) in paths {
        let concrete = path.replace("{id}", "x").replace("{code}", "SAMPLE-GA-001");
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = client().request(m, format!("{url}{concrete}")).json(&serde_json::json!({})).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.text().await.unwrap();
            // Routed: anything but the router's own 404/405 (our handlers' errors carry a JSON body).
            assert!(status != 405 && (status != 404 || body.contains("\"error\"")), "{method} {path}: {status} {body}");
        }
    }
    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, format!("{url}/api/v1/sessions"))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let ok = preflight("https://mp.example.gov.cn").await.unwrap();
    assert_eq!(ok.headers().get("access-control-allow-origin").unwrap(), "https://mp.example.gov.cn");
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}
