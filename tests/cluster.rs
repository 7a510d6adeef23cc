//! The cluster: PostgreSQL, a Qdrant server, a model node (when the real models are present)
//! and two banshi replicas, all real processes on loopback ports, each replica with its own
//! data dir. A citizen chats on replica A while the agents' consoles are on replica B: the
//! handoff, the claim race, the agent's live reply and the rating all cross replicas; an
//! editor publishes on B and A answers from the new version; a citizen reconnecting to B with
//! `Last-Event-ID` gets exactly what they missed; A is SIGKILLed mid-answer and the citizen
//! carries on at B without losing a message. Then the engines fail: PostgreSQL and Qdrant go
//! down while serving (`/readyz` says which, requests get 503, both recover without a
//! restart) and are missing at start (a clear error naming which).
//!
//! Skips, saying so, when PostgreSQL or the Qdrant binary is missing; without the real models
//! the replicas run extractive and the kill happens between answers instead of mid-answer.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use banshi_knowledge::testing::{Postgres, QdrantServer};
use common::*;
use serde_json::{json, Value};

const PW: &str = "Cluster-Pass-2026";
const WAIT: Duration = Duration::from_secs(30);
const CODE: &str = "SAMPLE-GA-001";

/// `banshi` with the cluster's global flags and its own data dir.
fn banshi(data: &Path, global: &[String]) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir").arg(data).args(global).env("BANSHI_LOG", "warn");
    c
}

fn run_ok(mut c: Command, what: &str) {
    let out = c.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A replica that must refuse to start: its exit status and standard error.
fn refused_start(data: &Path, global: &[String]) -> String {
    let out = banshi(data, global)
        .args(["--no-models", "serve", "--addr", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success(), "a replica without its engines must not start");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn readyz(url: &str) -> (u16, Value) {
    let r = client().get(format!("{url}/readyz")).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Poll `/readyz` until its status is `want`; panics with the last answer after `wait`.
async fn until_ready(url: &str, want: u16, wait: Duration) -> Value {
    let deadline = Instant::now() + wait;
    loop {
        let (status, body) = readyz(url).await;
        if status == want {
            return body;
        }
        assert!(Instant::now() < deadline, "readyz of {url} stayed {status}, wanted {want}: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The sources card of the answer to `q` in a new session (read, then the stream is dropped:
/// the citizen leaves before any generation, so the model node is not kept busy).
async fn sources_card(url: &str, q: &str) -> String {
    let s = create_session(url).await;
    let r = client().post(format!("{url}/api/v1/sessions/{}/messages", s.id)).bearer_auth(&s.token).json(&json!({"text": q})).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), 200);
    SseReader::of(r).until(WAIT, "the sources card", |e| e.event == "sources").await.data.to_string()
}

#[tokio::test]
async fn two_replicas_on_postgres_qdrant_and_a_model_node() {
    let test = "two_replicas_on_postgres_qdrant_and_a_model_node";
    let t0 = Instant::now();
    let stage = |what: &str| eprintln!("{test}: {what} at {:.1} s", t0.elapsed().as_secs_f64());
    let Some(pg) = Postgres::start(test) else { return };
    let Some(mut qdrant) = QdrantServer::start(test) else { return };
    let models = real_models();
    if models.is_none() {
        eprintln!("{test}: no real models: replicas answer extractively and the kill is not mid-answer");
    }
    let node = models.as_deref().map(|m| ModelNode::start(m, "127.0.0.1:0"));
    let db_url = pg.fresh_database().await;
    let global: Vec<String> =
        ["--database-url", &db_url, "--qdrant-url", &qdrant.grpc_url, "--qdrant-collection", "cluster"].map(String::from).to_vec();
    let (dir_a, dir_b, no_weights) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // Set-up once, from any box: guides into PostgreSQL + Qdrant, staff into PostgreSQL.
    let mut ingest = banshi(dir_a.path(), &global);
    ingest.arg("--no-models").arg("ingest").arg("--path").arg(sample_dir());
    run_ok(ingest, "ingest");
    for (name, role) in [("zhang", "agent"), ("li", "agent"), ("wang", "editor")] {
        add_user_with(dir_b.path(), &global, name, role, PW);
    }
    let mut samples = banshi(dir_a.path(), &global);
    samples.args(["citizens", "samples"]).env("BANSHI_SAMPLE_PASSWORD", PW);
    run_ok(samples, "citizens samples");
    let mut extra: Vec<String> = global.clone();
    // Short, so the sign-in check below is quick: a sign-in idle for 4 s ends.
    extra.extend(["--citizen-idle-timeout", "4"].map(String::from));
    if let Some(n) = &node {
        extra.extend(["--llm-url", &n.url, "--embedder-url", &n.url].map(String::from));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let weights = node.as_ref().map(|_| no_weights.path());
    let mut a = Server::start(dir_a.path(), weights, &extra);
    let b = Server::start(dir_b.path(), weights, &extra);
    let (api_a, api_b) = (format!("{}/api/v1", a.url), format!("{}/api/v1", b.url));
    for url in [&a.url, &b.url] {
        let r = until_ready(url, 200, WAIT).await;
        assert_eq!(r["database"], true, "{r}");
    }

    stage("replicas ready");
    // A citizen on A; the agents' console on B.
    let s = create_session(&a.url).await;
    let zhang = login(&b.url, "zhang", PW).await;
    let li = login(&a.url, "li", PW).await;
    let mut console = SseReader::open(&format!("{api_b}/agent/events"), &zhang).await;

    // The handoff made on A reaches B's console.
    let (status, events) = ask(&a.url, &s, "我们小区楼下饭店油烟太大，天天熏得没法开窗，投诉了也没人管！", None).await;
    assert_eq!(status, 200);
    let ticket = events.iter().find(|e| e.event == "ticket").expect("a handoff ticket").data.clone();
    let id = ticket["ticket_id"].as_i64().unwrap();
    console.until(WAIT, "the ticket made on A", |e| e.event == "ticket" && e.data["ticket"]["id"] == id).await;
    let mut citizen = SseReader::open(&format!("{api_a}/sessions/{}/events", s.id), &s.token).await;
    citizen.until(WAIT, "the queue state", |e| e.event == "ticket" && e.data["ticket_id"] == id).await;

    stage("handoff crossed");
    // The claim race: zhang on B and li on A at once, exactly one wins.
    let (claim_b, claim_a) = (format!("{api_b}/agent/tickets/{id}/claim"), format!("{api_a}/agent/tickets/{id}/claim"));
    let (ra, rb) = tokio::join!(post(&claim_b, &zhang, json!({})), post(&claim_a, &li, json!({})));
    let mut statuses = [ra.0, rb.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "one winner: {ra:?} {rb:?}");
    let winner = if ra.0 == 200 { &zhang } else { &li };

    // The winner replies on B; the citizen's stream on A hears it. The citizen's next message,
    // sent to A, reaches B's console.
    let reply = "您好，已转城管部门核查油烟问题。";
    let (status, _) = post(&format!("{api_b}/agent/tickets/{id}/messages"), winner, json!({"text": reply})).await;
    assert_eq!(status, 201);
    let heard = citizen.until(WAIT, "the reply sent on B", |e| e.event == "message" && e.data["message"]["role"] == "agent").await;
    assert_eq!(heard.data["message"]["text"], reply);
    let (_, events) = ask(&a.url, &s, "请尽快处理，谢谢", None).await;
    assert_eq!(events.iter().find(|e| e.event == "done").unwrap().data["kind"], "forwarded");
    console
        .until(WAIT, "the citizen's message sent on A", |e| e.event == "message" && e.data["message"]["text"] == "请尽快处理，谢谢")
        .await;

    // Resolved on B, rated on A, counted on B.
    let (status, _) = post(&format!("{api_b}/agent/tickets/{id}/resolve"), winner, json!({"note": "已转城管"})).await;
    assert_eq!(status, 200);
    citizen.until(WAIT, "the rating request", |e| e.event == "rating_request" && e.data["ticket_id"] == id).await;
    let (status, rated) = post(&format!("{api_a}/sessions/{}/ratings", s.id), &s.token, json!({"level": 4, "ticket_id": id})).await;
    assert_eq!(status, 201, "{rated}");
    let (_, stats) = get(&format!("{api_b}/agent/stats"), &zhang).await;
    assert_eq!(stats["ratings"]["by_level"], json!([0, 1, 0, 0, 0]), "{stats}");

    // Reconnecting to B with Last-Event-ID gets exactly the messages after it.
    let before_crash = history(&a.url, &s).await;
    let ids: Vec<i64> = before_crash.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    let cut = ids[ids.len() / 2];
    let r = client()
        .get(format!("{api_b}/sessions/{}/events", s.id))
        .bearer_auth(&s.token)
        .header("Last-Event-ID", cut.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut resumed = SseReader::of(r);
    let mut got = Vec::new();
    while let Some(e) = resumed.next(Duration::from_secs(2)).await {
        if e.event == "message" {
            got.push(e.data["message"]["id"].as_i64().unwrap());
        }
    }
    assert_eq!(got, ids.iter().copied().filter(|i| *i > cut).collect::<Vec<_>>(), "exactly what followed {cut}");

    // A citizen signed in on A and using it there is still signed in when the next request
    // reaches B, after longer than the idle limit since signing in.
    let citizen = create_session(&a.url).await;
    let (status, _) =
        post(&format!("{api_a}/sessions/{}/sign-in", citizen.id), &citizen.token, json!({"username": "linxiaomei", "password": PW})).await;
    assert_eq!(status, 200);
    for step in 0..4 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let api = if step < 3 { &api_a } else { &api_b };
        let (status, v) = get(&format!("{api}/sessions/{}/profile", citizen.id), &citizen.token).await;
        assert_eq!(status, 200, "step {step}: {v}");
    }
    stage("reconnect checked");
    // An editor publishes on B; A answers from the new version.
    let card = sources_card(&a.url, "换身份证要交多少钱").await;
    assert!(card.contains("工本费20元"), "before: {card}");
    let wang = login(&b.url, "wang", PW).await;
    let (status, g) = get(&format!("{api_b}/editor/guides/{CODE}"), &wang).await;
    assert_eq!(status, 200, "{g}");
    let mut guide = g["latest"].clone();
    guide["fees"][0]["amount_yuan"] = json!(30.0);
    let body = json!({"base_version": g["latest_version"], "guide": guide});
    let (status, d) = post(&format!("{api_b}/editor/guides/{CODE}/drafts"), &wang, body).await;
    assert_eq!(status, 201, "{d}");
    let (status, _) = post(&format!("{api_b}/editor/guides/{CODE}/publish"), &wang, json!({"version": d["version"]})).await;
    assert_eq!(status, 200);
    let card = sources_card(&a.url, "换身份证要交多少钱").await;
    assert!(card.contains("工本费30元"), "A's sources card shows the fee published on B: {card}");

    stage("publish crossed");
    // SIGKILL A (mid-answer when a model writes it); the citizen carries on at B.
    let q = "身份证丢了在外地能补办吗？";
    let r = client()
        .post(format!("{api_a}/sessions/{}/messages", s.id))
        .bearer_auth(&s.token)
        .json(&json!({"text": q, "client_id": "crash-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut answering = SseReader::of(r);
    // The question is committed before the stream starts; with a model, wait for it to write.
    let first = if node.is_some() { "token" } else { "done" };
    answering.until(Duration::from_secs(120), "the answer under way", |e| e.event == first).await;
    a.kill();
    drop(answering);
    let on_b = Session { id: s.id.clone(), token: s.token.clone() };
    let (status, events) = ask(&b.url, &on_b, q, Some("crash-1")).await;
    assert_eq!(status, 200, "B answers the re-sent question: {:?}", names(&events));
    let after = history(&b.url, &on_b).await;
    let asked = after.iter().filter(|m| m["client_id"] == "crash-1").count();
    assert_eq!(asked, 1, "the acknowledged question is there once");
    assert!(after.len() > before_crash.len(), "nothing acknowledged was lost");

    stage("crash survived");
    // PostgreSQL down while serving: readyz says so, requests get 503; back without a restart.
    pg.kill();
    let r = until_ready(&b.url, 503, WAIT).await;
    assert_eq!(r["database"], false, "{r}");
    let r = client().post(format!("{api_b}/sessions")).json(&json!({"channel": "web"})).send().await.unwrap();
    assert_eq!(r.status(), 503, "a new session cannot be stored");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    pg.restart();
    until_ready(&b.url, 200, Duration::from_secs(60)).await;
    let card = sources_card(&b.url, "换身份证要交多少钱").await;
    assert!(card.contains("工本费30元"), "serving again after PostgreSQL came back: {card}");

    stage("PostgreSQL recovered");
    // Qdrant down while serving: the same.
    qdrant.kill();
    let r = until_ready(&b.url, 503, WAIT).await;
    assert!(r["problems"].to_string().contains("index"), "readyz names the index: {r}");
    qdrant.restart();
    until_ready(&b.url, 200, Duration::from_secs(60)).await;

    stage("Qdrant recovered");
    // Engines missing at start: a clear error naming which.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let dead_pg: Vec<String> = ["--database-url", &format!("postgres://banshi@{dead}/x")].map(String::from).to_vec();
    let err = refused_start(dir_a.path(), &dead_pg);
    assert!(err.contains("PostgreSQL") && err.contains(&dead.to_string()), "{err}");
    let dead_q: Vec<String> =
        ["--database-url", &db_url, "--qdrant-url", &format!("http://{dead}"), "--qdrant-collection", "cluster"].map(String::from).to_vec();
    let err = refused_start(dir_a.path(), &dead_q);
    assert!(err.contains("qdrant") || err.contains("Qdrant"), "{err}");
    drop(node);
}
