//! End-to-end: the service under abuse, on the real server (no models) with small limits passed
//! as flags. Floods of sessions and messages get 429 `rate_limited` with `Retry-After` and the
//! JSON error body; bad ratings from fresh anonymous sessions open no tickets and handoffs are
//! limited per address; tracking numbers need a second factor; uploads are bounded per session
//! and per day, counted from the store across a restart; a username locked from one address
//! still logs in from another; `X-Forwarded-For` is believed only from a trusted proxy.
//!
//! Several client addresses come from binding the client to other loopback addresses
//! (127.0.0.2, 127.0.0.3 …): all traffic stays on this machine.

mod common;

use std::net::IpAddr;

use banshi_eval::corpus::text_pdf;
use common::*;
use serde_json::{json, Value};

const AGENT_PW: &str = "Agent-Pass-2026";
const CITIZEN_PW: &str = "Sample-Pass-2026";

fn start(extra: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "li", "agent", AGENT_PW);
    let server = Server::start(dir.path(), None, extra);
    (dir, server)
}

/// A client whose connections come from `source` (a loopback address).
fn client_from(source: &str) -> reqwest::Client {
    let ip: IpAddr = source.parse().unwrap();
    reqwest::Client::builder().local_address(ip).timeout(std::time::Duration::from_secs(120)).build().unwrap()
}

/// The status, `Retry-After` and JSON body of a response.
async fn read(r: reqwest::Response) -> (u16, Option<u64>, Value) {
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
    (status, retry, r.json().await.unwrap_or(Value::Null))
}

async fn new_session(c: &reqwest::Client, url: &str) -> (u16, Option<u64>, Value) {
    read(c.post(format!("{url}/api/v1/sessions")).json(&json!({"channel": "web"})).send().await.unwrap()).await
}

fn session_of(v: &Value) -> Session {
    Session { id: v["session_id"].as_str().unwrap().into(), token: v["token"].as_str().unwrap().into() }
}

/// The log without terminal colour codes.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

fn assert_limited(got: &(u16, Option<u64>, Value), what: &str) {
    let (status, retry, body) = got;
    assert_eq!(*status, 429, "{body}");
    assert!(retry.is_some_and(|s| s >= 1), "Retry-After: {retry:?}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(what), "{body}");
}

#[tokio::test]
async fn floods_of_sessions_and_messages_are_refused_with_429_and_retry_after() {
    let (_dir, server) = start(&["--limit-sessions", "5/1h", "--limit-messages", "3/1h"]);
    let url = &server.url;
    let c = client();
    let mut first = None;
    for i in 0..5 {
        let (status, _, body) = new_session(&c, url).await;
        assert_eq!(status, 201, "session {i}: {body}");
        first.get_or_insert(session_of(&body));
    }
    let refused = new_session(&c, url).await;
    assert_limited(&refused, "新建会话过于频繁");
    assert!(refused.1.unwrap() > 60, "the next session is one interval (12 minutes) away: {:?}", refused.1);
    // The limit is per address: another client is not affected.
    let (status, _, _) = new_session(&client_from("127.0.0.2"), url).await;
    assert_eq!(status, 201);

    // Messages per session: three answered, the fourth refused before anything is stored.
    let s = first.unwrap();
    for q in ["换身份证要带什么材料？", "收费吗", "多久能办好"] {
        let (status, events) = ask(url, &s, q, None).await;
        assert_eq!(status, 200, "{events:?}");
    }
    let r = c
        .post(format!("{url}/api/v1/sessions/{}/messages", s.id))
        .bearer_auth(&s.token)
        .json(&json!({"text": "第四个问题"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("content-type").unwrap(), "application/json");
    assert_limited(&read(r).await, "发送消息过于频繁");
    let stored = history(url, &s).await;
    assert!(stored.iter().all(|m| m["text"] != "第四个问题"), "the refused message is not stored");
}

#[tokio::test]
async fn bad_ratings_from_fresh_sessions_open_no_tickets_and_handoffs_are_limited_per_address() {
    let (_dir, server) = start(&["--limit-ratings", "6/1h", "--limit-handoffs-per-address", "2/1h"]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let agent = login(url, "li", AGENT_PW).await;
    let queue = || async { get(&format!("{api}/agent/tickets?view=queue"), &agent).await.1.as_array().unwrap().clone() };

    // A script: new session, 非常不满意, repeat. Ratings are kept, but nothing waits for an agent.
    for _ in 0..5 {
        let s = create_session(url).await;
        let (status, rated) = post(&format!("{api}/sessions/{}/ratings", s.id), &s.token, json!({"level": 1, "comment": "差"})).await;
        assert_eq!(status, 201, "{rated}");
        assert!(rated["follow_up_ticket"].is_null(), "{rated}");
    }
    assert!(queue().await.is_empty(), "no follow-up tickets from sessions that never got an answer");

    // A citizen who got an answer and is unhappy still gets the priority follow-up.
    let s = create_session(url).await;
    let (status, _) = ask(url, &s, "换身份证要带什么材料？", None).await;
    assert_eq!(status, 200);
    let (status, rated) = post(&format!("{api}/sessions/{}/ratings", s.id), &s.token, json!({"level": 1})).await;
    assert_eq!(status, 201, "{rated}");
    let follow_up = rated["follow_up_ticket"].as_i64().expect("a follow-up ticket");
    let q = queue().await;
    assert_eq!((q.len(), q[0]["id"].as_i64(), q[0]["priority"].as_i64()), (1, Some(follow_up), Some(1)), "{q:?}");

    // The seventh rating from this address is refused, and not stored.
    let s7 = create_session(url).await;
    let r =
        client().post(format!("{api}/sessions/{}/ratings", s7.id)).bearer_auth(&s7.token).json(&json!({"level": 1})).send().await.unwrap();
    assert_limited(&read(r).await, "提交评价过于频繁");
    let (_, ratings) = get(&format!("{api}/agent/stats"), &agent).await;
    assert_eq!(ratings["ratings"]["total"], 6, "{ratings}");

    // Handoffs: the follow-up used one of this address's two; one more 转人工 opens a ticket,
    // the next does not. Another address still can.
    let (_, events) = ask(url, &create_session(url).await, "转人工", None).await;
    assert!(events.iter().any(|e| e.event == "ticket"), "{:?}", names(&events));
    let refused = create_session(url).await;
    let (_, events) = ask(url, &refused, "转人工", None).await;
    assert!(!events.iter().any(|e| e.event == "ticket"), "over the limit no ticket is opened: {:?}", names(&events));
    assert_eq!(queue().await.len(), 2);
    // The citizen is told at once that no one will answer here, and where to call instead;
    // the stored answer (and so the history) says the same as the stream's `done`.
    let decline =
        events.iter().find(|e| e.event == "decline").unwrap_or_else(|| panic!("a decline after the refused handoff: {:?}", names(&events)));
    assert!(decline.data["message"].as_str().unwrap().contains("暂时无法为您转接"), "{:?}", decline.data);
    assert_eq!(decline.data["offer_human"], true);
    let done = &events.iter().find(|e| e.event == "done").expect("done").data;
    let stored = history(url, &refused).await;
    let last = stored.last().unwrap();
    assert_eq!(last["text"], done["text"], "{last}");
    assert!(last["text"].as_str().unwrap().ends_with(decline.data["message"].as_str().unwrap()), "{last}");
    assert_eq!(last["meta"]["handoff_failed"], "rate_limited", "{last}");
    assert!(last["meta"]["ticket_id"].is_null(), "{last}");
    let other = client_from("127.0.0.2");
    let (_, _, body) = new_session(&other, url).await;
    let s = session_of(&body);
    let r = other
        .post(format!("{api}/sessions/{}/messages", s.id))
        .bearer_auth(&s.token)
        .json(&json!({"text": "转人工"}))
        .send()
        .await
        .unwrap();
    let events = parse_sse(&r.text().await.unwrap());
    assert!(events.iter().any(|e| e.event == "ticket"), "{:?}", names(&events));
    assert_eq!(queue().await.len(), 3);
}

#[tokio::test]
async fn tracking_numbers_answer_only_with_a_second_factor() {
    let (_dir, server) = start(&["--limit-lookups", "8/1h"]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let s = create_session(url).await;
    let values =
        json!({"name": "林晓梅", "id_number": "35010219930412124X", "phone": "13905910412", "property_address": "示例市鼓楼区五四路100号"});
    let (status, app) =
        post(&format!("{api}/sessions/{}/applications", s.id), &s.token, json!({"target": "SAMPLE-SZ-001", "values": values})).await;
    assert_eq!(status, 201, "{app}");
    let no = app["tracking_no"].as_str().unwrap().to_string();
    let lookup = |query: &str, token: Option<&str>| {
        let mut r = client().get(format!("{api}/applications/{no}{query}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { read(r.send().await.unwrap()).await }
    };

    // 1. No second factor: refused before anything is looked up.
    let (status, _, body) = lookup("", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("bad_request")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("后 4 位"), "{body}");
    // 2–3. A wrong factor looks exactly like an unknown number.
    let (status, _, wrong) = lookup("?phone_last4=0000", None).await;
    assert_eq!((status, wrong["error"]["code"].as_str()), (404, Some("not_found")), "{wrong}");
    let r = client().get(format!("{api}/applications/BS20200101000001?phone_last4=0412")).send().await.unwrap();
    let (status, _, unknown) = read(r).await;
    assert_eq!(status, 404);
    assert_eq!(
        wrong["error"]["message"].as_str().unwrap().replace(&no, "N"),
        unknown["error"]["message"].as_str().unwrap().replace("BS20200101000001", "N")
    );
    // 4. The phone's last four digits.
    let (status, _, progress) = lookup("?phone_last4=0412", None).await;
    assert_eq!((status, progress["application"]["status"].as_str()), (200, Some("submitted")), "{progress}");
    assert!(
        !progress.to_string().contains("35010219930412124X") && !progress.to_string().contains("13905910412"),
        "no personal data: {progress}"
    );
    // 5. The submitting session's token.
    let (status, _, _) = lookup("", Some(&s.token)).await;
    assert_eq!(status, 200);
    // 6. Another session's token is no factor.
    let other = create_session(url).await;
    assert_eq!(lookup("", Some(&other.token)).await.0, 404);
    // 7. A malformed factor.
    assert_eq!(lookup("?phone_last4=12a4", None).await.0, 422);
    // 8 look-ups per hour from one address: the eighth answers, the ninth is refused.
    assert_eq!(lookup("?phone_last4=0412", None).await.0, 200);
    assert_limited(&lookup("?phone_last4=0412", None).await, "查询办理进度过于频繁");
}

#[tokio::test]
async fn a_username_locked_from_one_address_still_logs_in_from_another() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "zhou", "agent", AGENT_PW);
    load_sample_citizens(dir.path(), CITIZEN_PW);
    let server = Server::start(dir.path(), None, &["--limit-login-failures", "8/1h"]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let log_in = |c: reqwest::Client, user: &str, pw: &str| {
        let r = c.post(format!("{api}/auth/login")).json(&json!({"username": user, "password": pw}));
        async move { read(r.send().await.unwrap()).await }
    };

    // Staff: five wrong passwords from the attacker's address lock "zhou" there, the right one included …
    let attacker = client_from("127.0.0.2");
    for _ in 0..5 {
        assert_eq!(log_in(attacker.clone(), "zhou", "guess").await.0, 401);
    }
    let (status, retry, body) = log_in(attacker.clone(), "zhou", AGENT_PW).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("locked")), "{body}");
    assert!(retry.is_some_and(|s| (1..=30).contains(&s)), "{retry:?}");
    // … but not from the agent's own address.
    let (status, _, body) = log_in(client(), "zhou", AGENT_PW).await;
    assert_eq!(status, 200, "{body}");

    // One address trying many usernames: after 8 failures every username waits there.
    let sprayer = client_from("127.0.0.3");
    for i in 0..8 {
        assert_eq!(log_in(sprayer.clone(), &format!("user{i}"), "guess").await.0, 401);
    }
    assert_eq!(log_in(sprayer.clone(), "zhou", AGENT_PW).await.0, 429);
    assert_eq!(log_in(client(), "zhou", AGENT_PW).await.0, 200);

    // Citizens: the same for sign-in inside a chat session (from a fourth address: the first
    // has used most of its failures).
    let attacker = client_from("127.0.0.4");
    let (_, _, body) = new_session(&attacker, url).await;
    let a = session_of(&body);
    let sign_in = |c: reqwest::Client, s: &Session, pw: &str| {
        let r = c
            .post(format!("{api}/sessions/{}/sign-in", s.id))
            .bearer_auth(&s.token)
            .json(&json!({"username": "linxiaomei", "password": pw}));
        async move { read(r.send().await.unwrap()).await }
    };
    for _ in 0..5 {
        assert_eq!(sign_in(attacker.clone(), &a, "guess").await.0, 422);
    }
    let (status, _, body) = sign_in(attacker.clone(), &a, CITIZEN_PW).await;
    assert_eq!((status, body["error"]["code"].as_str()), (429, Some("locked")), "{body}");
    let v = create_session(url).await;
    let (status, _, me) = sign_in(client(), &v, CITIZEN_PW).await;
    assert_eq!((status, me["display_name"].as_str()), (200, Some("林晓梅")), "{me}");

    // Failed log-ins are logged with the client address; staff by username, citizens by account
    // id and a pseudonym (a citizen's username is personal data); never the password.
    drop(server);
    let log = strip_ansi(&std::fs::read_to_string(dir.path().join("server.log")).unwrap());
    let logged = |what: &str, fields: &str| log.lines().any(|l| l.contains(what) && l.contains(fields));
    assert!(logged("failed log-in", "username=zhou client=127.0.0.2"), "{log}");
    assert!(logged("failed citizen sign-in", "client=127.0.0.4") && logged("failed citizen sign-in", "citizen=1"), "{log}");
    assert!(!log.contains("linxiaomei"), "no citizen username in the log");
    assert!(!log.contains(AGENT_PW) && !log.contains(CITIZEN_PW) && !log.contains("guess"), "no passwords in the log");
}

#[tokio::test]
async fn uploads_are_bounded_per_session_and_per_day_across_a_restart() {
    let pdf = text_pdf(&["居民户口簿".to_string(), "户主姓名 陈志强".to_string(), "户别 家庭户".to_string()]);
    let n = pdf.len();
    let (per_session, per_day) = ((n + n / 2).to_string(), (2 * n + n / 2).to_string());
    let flags = ["--max-upload-bytes-per-session", per_session.as_str(), "--upload-budget-per-day", per_day.as_str()];
    let (dir, mut server) = start(&flags);
    let api = format!("{}/api/v1", server.url);
    let upload = |api: String, s: Session, bytes: Vec<u8>| async move {
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name("户口簿.pdf"));
        read(client().post(format!("{api}/sessions/{}/uploads", s.id)).bearer_auth(&s.token).multipart(form).send().await.unwrap()).await
    };
    let a = create_session(&server.url).await;
    let (status, _, body) = upload(api.clone(), Session { id: a.id.clone(), token: a.token.clone() }, pdf.clone()).await;
    assert_eq!(status, 201, "{body}");
    // A second file would pass the session's quota: refused for good (409), not "later".
    let (status, _, body) = upload(api.clone(), a, pdf.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("上传的文件总量已达上限"), "{body}");
    let b = create_session(&server.url).await;
    assert_eq!(upload(api.clone(), b, pdf.clone()).await.0, 201);
    // Two files today: a third from anyone would pass the day's budget.
    let c = create_session(&server.url).await;
    let (c_id, c_token) = (c.id.clone(), c.token.clone());
    let refused = upload(api.clone(), c, pdf.clone()).await;
    assert_limited(&refused, "今日材料上传总量已达服务上限");

    // The budget is read from the store: a restart does not reset it.
    server.kill();
    let server = Server::start(dir.path(), None, &flags);
    let api = format!("{}/api/v1", server.url);
    let refused = upload(api.clone(), Session { id: c_id, token: c_token }, pdf.clone()).await;
    assert_limited(&refused, "今日材料上传总量已达服务上限");
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let (_dir, server) = start(&["--trusted-proxies", "127.0.0.1", "--limit-sessions", "2/1h"]);
    let url = &server.url;
    let via = |c: reqwest::Client, forwarded: &'static str| {
        let r = c.post(format!("{url}/api/v1/sessions")).header("x-forwarded-for", forwarded).json(&json!({}));
        async move { r.send().await.unwrap().status().as_u16() }
    };
    // Through the trusted proxy (127.0.0.1) each forwarded client has its own limit.
    assert_eq!(
        (via(client(), "203.0.113.5").await, via(client(), "203.0.113.5").await, via(client(), "203.0.113.5").await),
        (201, 201, 429)
    );
    assert_eq!(via(client(), "198.51.100.1, 203.0.113.6").await, 201, "the rightmost hop before the proxy counts");
    // From an untrusted peer the header is ignored: rotating it does not escape the limit.
    let direct = client_from("127.0.0.2");
    assert_eq!(
        (via(direct.clone(), "203.0.113.7").await, via(direct.clone(), "203.0.113.8").await, via(direct.clone(), "203.0.113.9").await),
        (201, 201, 429)
    );
}
