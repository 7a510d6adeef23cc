//! Durability: SIGKILL the server mid-conversation, start it again on the same data dir, and
//! the history and the dialogue state (the item under discussion) are intact. SIGTERM stops it
//! cleanly. A second process on the same data dir is refused with what to do.

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

/// A second process on a data dir the server holds is told what to do, in one line, without a
/// stack trace even when RUST_BACKTRACE asks for one.
#[tokio::test]
async fn a_second_process_on_a_served_data_dir_is_told_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let _server = Server::start(dir.path(), None, &[]);
    let out = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--no-models", "search", "身份证"])
        .env("RUST_BACKTRACE", "1")
        .env("BANSHI_LOG", "error")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is open in another banshi process") && stderr.contains("stop it first"), "{stderr}");
    assert!(!stderr.contains("backtrace") && stderr.lines().count() == 1, "{stderr}");
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

#[tokio::test]
async fn pending_and_assigned_tickets_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "zhang", "agent", "Agent-Pass-2026");
    let mut server = Server::start(dir.path(), None, &[]);
    let api = format!("{}/api/v1", server.url);
    let (a, b) = (create_session(&server.url).await, create_session(&server.url).await);
    ask(&server.url, &a, "转人工", None).await;
    ask(&server.url, &b, "小区电梯坏了一个月物业不修，请帮忙！", None).await;
    let agent = login(&server.url, "zhang", "Agent-Pass-2026").await;
    let open = |url: String, token: String| async move {
        client()
            .get(format!("{url}/api/v1/agent/tickets?view=open"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    };
    let before = open(server.url.clone(), agent.clone()).await;
    assert_eq!(before.as_array().unwrap().len(), 2);
    let claimed = before.as_array().unwrap().iter().find(|t| t["session_id"] == a.id.as_str()).unwrap()["id"].as_i64().unwrap();
    let r = client().post(format!("{api}/agent/tickets/{claimed}/claim")).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!("{api}/agent/tickets/{claimed}/messages"))
        .bearer_auth(&agent)
        .json(&serde_json::json!({"text": "您好，请讲"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let before = open(server.url.clone(), agent.clone()).await;
    let transcript_a = history(&server.url, &a).await;
    server.kill(); // SIGKILL

    let server = Server::start(dir.path(), None, &[]);
    // The console log-in, the queue, the assignment and the transcripts are all still there.
    let after = open(server.url.clone(), agent.clone()).await;
    assert_eq!(after, before, "tickets are intact after SIGKILL");
    let assigned = after.as_array().unwrap().iter().find(|t| t["id"] == claimed).unwrap();
    assert_eq!((assigned["status"].as_str(), assigned["assignee_name"].as_str()), (Some("assigned"), Some("zhang客服")));
    assert_eq!(history(&server.url, &a).await, transcript_a);
    assert_eq!(history(&server.url, &a).await.last().unwrap()["text"], "您好，请讲");
    // The citizen still talks to the agent, and sees the waiting ticket's position again.
    let (_, events) = ask(&server.url, &b, "还要等多久？", None).await;
    let t = events.iter().find(|e| e.event == "ticket").unwrap();
    assert_eq!((t.data["status"].as_str(), t.data["position"].as_i64()), (Some("pending"), Some(1)));
}
