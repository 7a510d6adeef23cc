//! Durability: SIGKILL the server mid-conversation, start it again on the same data dir, and
//! the history and the dialogue state (the item under discussion) are intact. SIGTERM stops it
//! cleanly.

mod common;

use common::*;

#[tokio::test]
async fn history_and_dialogue_state_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let mut server = Server::start(dir.path(), None, &[]);
    let s = create_session(&server.url).await;
    let (_, events) = ask(&server.url, &s, "身份证到期了怎么换？", Some("k-1")).await;
    assert!(names(&events).contains(&"done"));
    let before = history(&server.url, &s).await;
    assert_eq!(before.len(), 2);
    server.kill(); // SIGKILL: no chance to flush anything

    let server = Server::start(dir.path(), None, &[]);
    let after = history(&server.url, &s).await;
    assert_eq!(after, before, "history is intact after SIGKILL");
    // The conversation continues where it was: the follow-up knows the item.
    let (_, events) = ask(&server.url, &s, "在哪里办？", None).await;
    let card = events.iter().find(|e| e.event == "sources").expect("sources card");
    assert_eq!(card.data["card"]["code"], "SAMPLE-GA-001");
    // And a re-send of the first message after the crash is still recognised.
    let (_, replay) = ask(&server.url, &s, "身份证到期了怎么换？", Some("k-1")).await;
    assert_eq!(replay[0].data["replayed"], true);
    assert_eq!(history(&server.url, &s).await.len(), 4);
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let mut server = Server::start(dir.path(), None, &[]);
    let s = create_session(&server.url).await;
    ask(&server.url, &s, "你好", None).await;
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
}
