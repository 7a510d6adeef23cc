//! The model node and its clients against each other over real HTTP on loopback, with tiny
//! models the tests build: what a web replica gets from `RemoteChat`/`RemoteEmbed` is what the
//! node's in-process models produce; a full node queue is `Busy`; a dead or refusing server is
//! `Unavailable` at once once the circuit is open.

use std::sync::Arc;
use std::time::Duration;

use banshi_models::remote::{RemoteChat, RemoteConfig, RemoteEmbed};
use banshi_models::{ChatModel, ComputeHandle, Embed, GenEvent, GenParams, Message, ModelError, Models, TextKind, TokenStream};
use banshi_server::model_node::{router, ModelNode};

/// Serve `chat`/`embed` on a free loopback port; the base URL.
async fn node(chat: Option<ComputeHandle>, embed: Option<ComputeHandle>) -> String {
    let node = ModelNode {
        chat: chat.map(|c| Arc::new(c) as Arc<dyn ChatModel>),
        embed: embed.map(|c| Arc::new(c) as Arc<dyn Embed>),
        chat_name: "tiny-chat".into(),
        embed_name: "tiny-e5".into(),
        retry_after_secs: 3,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router(node)).await.unwrap() });
    url
}

fn tiny_chat(queue: usize) -> ComputeHandle {
    ComputeHandle::spawn(Models { generator: Some(banshi_models::testing::tiny_generator()), ..Models::default() }, queue)
}

fn config(url: &str) -> RemoteConfig {
    let mut c = RemoteConfig::new(url, "m");
    c.request_timeout = Duration::from_secs(20);
    c.retries = 0;
    c.breaker_failures = 2;
    c.breaker_cooldown = Duration::from_secs(60);
    c
}

/// The text of a stream and how it ended.
async fn drain(mut s: TokenStream) -> (String, Option<GenEvent>) {
    let mut text = String::new();
    while let Some(ev) = s.next().await {
        match ev {
            GenEvent::Text(t) => text.push_str(&t),
            end => return (text, Some(end)),
        }
    }
    (text, None)
}

#[tokio::test]
async fn a_remote_answer_is_the_nodes_local_answer() {
    let local = tiny_chat(4);
    let url = node(Some(local.clone()), None).await;
    let remote = RemoteChat::new(config(&url)).unwrap();
    let params = GenParams { max_tokens: 12, ..GenParams::default() };
    let messages = vec![Message::system("办事"), Message::user("身份证")];
    let (want, end) = drain(local.chat(messages.clone(), params).await.unwrap()).await;
    assert!(matches!(end, Some(GenEvent::Done(_))));
    let (got, end) = drain(remote.chat(messages, params).await.unwrap()).await;
    assert_eq!(got, want, "greedy decoding over the wire gives the same text");
    match end {
        Some(GenEvent::Done(stats)) => assert!(stats.prompt_tokens > 0 && stats.generated_tokens > 0, "{stats:?}"),
        other => panic!("expected Done, got {other:?}"),
    }
    // A forced opening is continued, not repeated.
    let forced = vec![Message::user("身份证"), Message::assistant("w1")];
    let (want, _) = drain(local.chat(forced.clone(), params).await.unwrap()).await;
    let (got, _) = drain(remote.chat(forced, params).await.unwrap()).await;
    assert_eq!(got, want);
}

#[tokio::test]
async fn remote_vectors_are_the_nodes_vectors_with_the_e5_prefix() {
    let local = banshi_models::testing::tiny_compute(32);
    let url = node(None, Some(local.clone())).await;
    let remote = RemoteEmbed::connect(config(&url)).await.unwrap();
    assert_eq!(remote.dim(), Some(32));
    let texts: Vec<String> = (0..40).map(|i| format!("换身份证{i}")).collect(); // more than one batch
    let want = local.embed(texts.clone(), TextKind::Query).await.unwrap();
    let got = remote.embed(texts, TextKind::Query).await.unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let dot: f32 = g.iter().zip(w).map(|(a, b)| a * b).sum();
        assert!(dot > 0.999, "same vector over the wire: cosine {dot}");
    }
}

#[tokio::test]
async fn a_node_without_room_says_busy_and_bad_requests_are_named() {
    // Queue of one: the first answer runs, the second waits, the third is refused.
    let chat = tiny_chat(1);
    let url = node(Some(chat), None).await;
    let remote = RemoteChat::new(config(&url)).unwrap();
    let long = GenParams { max_tokens: 400, ..GenParams::default() };
    let mut outcomes = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..4 {
        match remote.chat(vec![Message::user("身份证")], long).await {
            Ok(s) => streams.push(s),
            Err(e) => outcomes.push(e),
        }
    }
    assert!(outcomes.iter().any(|e| matches!(e, ModelError::Busy)), "{outcomes:?}");
    assert!(remote.failing().is_none(), "a busy node is not a failing one");
    drop(streams);

    let http = reqwest::Client::new();
    let r = http.post(format!("{url}/v1/chat/completions")).json(&serde_json::json!({"messages": []})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("messages"), "{body}");
    let r = http.post(format!("{url}/v1/chat/completions")).body("{").header("content-type", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = http.post(format!("{url}/v1/embeddings")).json(&serde_json::json!({"input": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 503, "no embedder on this node");
    let too_long = serde_json::json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1_000_000});
    let r = http.post(format!("{url}/v1/chat/completions")).json(&too_long).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn an_error_mid_stream_reaches_the_caller_with_its_reason() {
    // The whole context asked for an answer: the prompt no longer fits, which the model
    // finds only once the stream has started.
    let url = node(Some(tiny_chat(2)), None).await;
    let remote = RemoteChat::new(config(&url)).unwrap();
    let params = GenParams { max_tokens: banshi_models::qwen2::MAX_CONTEXT, ..GenParams::default() };
    let (text, end) = drain(remote.chat(vec![Message::user("身份证")], params).await.unwrap()).await;
    assert_eq!(text, "");
    assert!(matches!(&end, Some(GenEvent::Error(ModelError::Failed(m))) if m.contains("context")), "{end:?}");
}

#[tokio::test]
async fn a_dead_server_opens_the_circuit() {
    // A port nobody listens on: the connection is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let remote = RemoteChat::new(config(&format!("http://127.0.0.1:{port}"))).unwrap();
    for _ in 0..2 {
        let e = remote.chat(vec![Message::user("x")], GenParams::default()).await.err().unwrap();
        assert!(matches!(&e, ModelError::Unavailable(m) if m.contains("cannot connect")), "{e}");
    }
    assert!(remote.failing().is_some());
    let e = remote.chat(vec![Message::user("x")], GenParams::default()).await.err().unwrap();
    assert!(matches!(&e, ModelError::Unavailable(m) if m.contains("next try")), "{e}");
    let embed = RemoteEmbed::connect(config(&format!("http://127.0.0.1:{port}"))).await.err().unwrap();
    assert!(embed.to_string().contains(&format!("127.0.0.1:{port}")), "the error names the server: {embed}");
}

#[tokio::test]
async fn a_server_that_stops_mid_answer_ends_the_stream_with_an_error() {
    // A server that sends headers and one piece, then nothing: the idle timeout ends it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = sock.read(&mut buf).await;
        let piece = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"办\"}}]}\n\n";
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let _ = sock.write_all(format!("{head}{:x}\r\n{piece}\r\n", piece.len()).as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let mut cfg = config(&url);
    cfg.idle_timeout = Duration::from_millis(300);
    let remote = RemoteChat::new(cfg).unwrap();
    let (text, end) = drain(remote.chat(vec![Message::user("x")], GenParams::default()).await.unwrap()).await;
    assert_eq!(text, "办", "the text before the stall stands");
    assert!(matches!(end, Some(GenEvent::Error(ModelError::Failed(ref m))) if m.contains("no text")), "{end:?}");
}
