//! End-to-end: human handoff on the real server (no models). A complaint goes to the agent
//! queue with its queue position; the agent claims, replies and resolves while the citizen's
//! live channel shows each step; a 不满意 rating opens a follow-up ticket. Also: suggestions,
//! requests for a person, claim conflicts, and authorisation on every console endpoint.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const AGENT_PW: &str = "Agent-Pass-2026";
const EDITOR_PW: &str = "Editor-Pass-2026";
const WAIT: Duration = Duration::from_secs(20);

fn setup() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "zhang", "agent", AGENT_PW);
    add_user(dir.path(), "li", "agent", AGENT_PW);
    add_user(dir.path(), "wang", "editor", EDITOR_PW);
    let server = Server::start(dir.path(), None, &[]);
    (dir, server)
}

#[tokio::test]
async fn complaint_goes_to_an_agent_who_replies_live_and_a_bad_rating_opens_a_follow_up() {
    let (_dir, server) = setup();
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let agent = login(url, "zhang", AGENT_PW).await;
    let mut console = SseReader::open(&format!("{api}/agent/events"), &agent).await;

    let s = create_session(url).await;
    let (status, events) = ask(url, &s, "我们小区楼下饭店油烟太大，天天熏得没法开窗，投诉了也没人管！", None).await;
    assert_eq!(status, 200);
    let seq = names(&events);
    assert!(seq.contains(&"handoff") && seq.contains(&"ticket"), "{seq:?}");
    let ticket = events.iter().find(|e| e.event == "ticket").unwrap().data.clone();
    assert_eq!((ticket["status"].as_str(), ticket["position"].as_i64()), (Some("pending"), Some(1)), "{ticket}");
    assert!(ticket["eta_minutes"].as_i64().unwrap() >= 1);
    let id = ticket["ticket_id"].as_i64().unwrap();

    // The console hears of the new ticket, with its summary and routing.
    let ev = console.until(WAIT, "the new ticket", |e| e.event == "ticket" && e.data["ticket"]["id"] == id).await;
    let t = &ev.data["ticket"];
    assert_eq!(
        (t["reason"].as_str(), t["priority"].as_i64(), t["appeal_type"].as_str()),
        (Some("complaint"), Some(1), Some("投诉/求助")),
        "{t}"
    );
    assert!(t["department"].as_str().unwrap().starts_with("示例市"), "{t}");
    assert!(t["summary"]["wants"][0].as_str().unwrap().contains("油烟"), "{t}");

    // While the ticket is open, the citizen's messages go to the agent, not the assistant.
    let mut citizen = SseReader::open(&format!("{api}/sessions/{}/events", s.id), &s.token).await;
    citizen.until(WAIT, "the queue state on connect", |e| e.event == "ticket" && e.data["position"] == 1).await;
    let (_, events) = ask(url, &s, "请尽快处理，谢谢", None).await;
    assert_eq!(events.iter().find(|e| e.event == "done").unwrap().data["kind"], "forwarded");
    console.until(WAIT, "the forwarded message", |e| e.event == "message" && e.data["message"]["text"] == "请尽快处理，谢谢").await;

    // Claim: the citizen sees the agent join, live.
    let (status, claimed) = post(&format!("{api}/agent/tickets/{id}/claim"), &agent, json!({})).await;
    assert_eq!((status, claimed["status"].as_str()), (200, Some("assigned")));
    let li = login(url, "li", AGENT_PW).await;
    let (status, err) = post(&format!("{api}/agent/tickets/{id}/claim"), &li, json!({})).await;
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("conflict")), "a claimed ticket cannot be claimed twice");
    citizen
        .until(WAIT, "the join notice", |e| e.event == "message" && e.data["message"]["text"].as_str().unwrap_or("").contains("已接入"))
        .await;
    let (status, _) = post(&format!("{api}/agent/tickets/{id}/messages"), &li, json!({"text": "不是我的单"})).await;
    assert_eq!(status, 409, "only the assignee replies");

    let (status, _) =
        post(&format!("{api}/agent/tickets/{id}/messages"), &agent, json!({"text": "您好，已转城管部门核查油烟问题。"})).await;
    assert_eq!(status, 201);
    let reply = citizen.until(WAIT, "the agent's reply", |e| e.event == "message" && e.data["message"]["role"] == "agent").await;
    assert_eq!(reply.data["message"]["text"], "您好，已转城管部门核查油烟问题。");
    assert_eq!(reply.data["message"]["meta"]["agent"], "zhang客服");

    let (status, detail) = get(&format!("{api}/agent/tickets/{id}"), &agent).await;
    assert_eq!(status, 200);
    let roles: Vec<&str> = detail["transcript"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "user", "system", "agent"], "{detail}");

    // Resolve: the citizen is asked to rate; 不满意 opens an urgent follow-up ticket.
    let (status, resolved) = post(&format!("{api}/agent/tickets/{id}/resolve"), &agent, json!({"note": "已转城管，次日回复"})).await;
    assert_eq!((status, resolved["status"].as_str()), (200, Some("resolved")));
    citizen.until(WAIT, "the rating request", |e| e.event == "rating_request" && e.data["ticket_id"] == id).await;
    let (status, rated) =
        post(&format!("{api}/sessions/{}/ratings", s.id), &s.token, json!({"level": 2, "comment": "油烟还在", "ticket_id": id})).await;
    assert_eq!(status, 201, "{rated}");
    let follow = rated["follow_up_ticket"].as_i64().expect("a follow-up ticket");
    let ev = console.until(WAIT, "the follow-up ticket", |e| e.event == "ticket" && e.data["ticket"]["id"] == follow).await;
    assert_eq!((ev.data["ticket"]["kind"].as_str(), ev.data["ticket"]["parent_id"].as_i64()), (Some("follow_up"), Some(id)));
    assert_eq!(ev.data["ticket"]["priority"], 1);
    let (status, _) = post(&format!("{api}/sessions/{}/ratings", s.id), &s.token, json!({"level": 5, "ticket_id": id})).await;
    assert_eq!(status, 409, "one rating per ticket");

    let (_, stats) = get(&format!("{api}/agent/stats"), &agent).await;
    assert_eq!(stats["ratings"]["by_level"], json!([0, 0, 0, 1, 0]), "{stats}");
    let (_, queue) = get(&format!("{api}/agent/tickets?view=queue"), &agent).await;
    assert_eq!(queue.as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect::<Vec<_>>(), [follow]);
    let (status, draft) = post(
        &format!("{api}/agent/tickets/{id}/knowledge"),
        &agent,
        json!({"question": "饭店油烟扰民找谁？", "answer": "可拨打12345反映，由城管部门核查处理。"}),
    )
    .await;
    assert_eq!(status, 201, "{draft}");

    let metrics = client().get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("banshi_handoffs_total{reason=\"complaint\"} 1"), "{metrics}");
    assert!(metrics.contains("banshi_handoffs_total{reason=\"bad_rating\"} 1"), "{metrics}");
}

#[tokio::test]
async fn suggestions_are_recorded_and_a_request_for_a_person_is_a_handoff() {
    let (_dir, server) = setup();
    let url = &server.url;
    let agent = login(url, "zhang", AGENT_PW).await;

    let s = create_session(url).await;
    let (_, events) = ask(url, &s, "建议在地铁站出口增设共享单车停放点，方便换乘。", None).await;
    let done = events.iter().find(|e| e.event == "done").unwrap();
    assert_eq!(done.data["kind"], "suggestion", "{events:?}");
    let text: String = events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap()).collect();
    assert!(text.contains("感谢您的建议"), "{text}");
    let (_, list) = get(&format!("{url}/api/v1/agent/tickets?view=suggestions"), &agent).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["kind"], "suggestion");
    let (_, queue) = get(&format!("{url}/api/v1/agent/tickets?view=queue"), &agent).await;
    assert!(queue.as_array().unwrap().is_empty(), "suggestions do not wait in the queue");
    // The conversation goes on with the assistant.
    let (_, events) = ask(url, &s, "换身份证要带什么材料？", None).await;
    assert!(names(&events).contains(&"sources"), "{events:?}");

    let (_, events) = ask(url, &s, "转人工", None).await;
    let h = events.iter().find(|e| e.event == "handoff").expect("handoff");
    assert_eq!(h.data["reason"], "asked_human");
    let (_, queue) = get(&format!("{url}/api/v1/agent/tickets?view=queue"), &agent).await;
    let t = &queue[0];
    assert_eq!((t["reason"].as_str(), t["priority"].as_i64()), (Some("asked_human"), Some(2)));
    assert_eq!(t["department"], "示例市公安局", "the item under discussion decides the department: {t}");
    assert!(t["summary"]["answered"][0].as_str().unwrap().contains("居民身份证换领"), "{t}");
}

#[tokio::test]
async fn every_console_endpoint_checks_who_is_asking() {
    let (dir, server) = setup();
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let citizen = create_session(url).await;
    let agent = login(url, "zhang", AGENT_PW).await;
    let editor = login(url, "wang", EDITOR_PW).await;
    let endpoints: &[(&str, &str)] = &[
        ("GET", "/agent/tickets"),
        ("GET", "/agent/tickets/1"),
        ("POST", "/agent/tickets/1/claim"),
        ("POST", "/agent/tickets/1/release"),
        ("POST", "/agent/tickets/1/messages"),
        ("POST", "/agent/tickets/1/resolve"),
        ("POST", "/agent/tickets/1/reopen"),
        ("POST", "/agent/tickets/1/knowledge"),
        ("GET", "/agent/canned-replies"),
        ("GET", "/agent/stats"),
        ("GET", "/agent/events"),
    ];
    for (method, path) in endpoints {
        let call = |token: Option<String>| {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut r = client().request(m, format!("{api}{path}")).timeout(Duration::from_secs(5));
            if *method == "POST" {
                r = r.json(&json!({"text": "x", "note": "x", "question": "x", "answer": "x"}));
            }
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            async move { r.send().await.unwrap().status().as_u16() }
        };
        assert_eq!(call(None).await, 401, "{method} {path} without a token");
        assert_eq!(call(Some("forged".into())).await, 401, "{method} {path} with a forged token");
        assert_eq!(call(Some(citizen.token.clone())).await, 403, "{method} {path} with a citizen's token");
        assert_eq!(call(Some(editor.clone())).await, 403, "{method} {path} with an editor's token");
        let as_agent = call(Some(agent.clone())).await;
        assert!(![401, 403, 405].contains(&as_agent), "{method} {path} as an agent: {as_agent}");
    }
    // Log-in: wrong password is 401, the password is never in a response or a log line.
    let r = client().post(format!("{api}/auth/login")).json(&json!({"username": "zhang", "password": "wrong"})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = client().post(format!("{api}/auth/login")).json(&json!({"username": "zhang", "password": AGENT_PW})).send().await.unwrap();
    let body = r.text().await.unwrap();
    assert!(!body.contains(AGENT_PW) && !body.contains("argon2"), "{body}");
    let (status, me) = get(&format!("{api}/auth/me"), &agent).await;
    assert_eq!((status, me["username"].as_str(), me["role"].as_str()), (200, Some("zhang"), Some("agent")));
    assert!(me.get("password_hash").is_none());
    let r = client().post(format!("{api}/auth/logout")).bearer_auth(&agent).send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(get(&format!("{api}/agent/tickets"), &agent).await.0, 401, "a logged-out token is dead");
    // Five wrong passwords lock the username (429 + Retry-After), the right one included.
    for _ in 0..5 {
        client().post(format!("{api}/auth/login")).json(&json!({"username": "li", "password": "nope"})).send().await.unwrap();
    }
    let r = client().post(format!("{api}/auth/login")).json(&json!({"username": "li", "password": AGENT_PW})).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    drop(server);
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert!(!log.is_empty(), "the server's log was captured");
    assert!(!log.contains(AGENT_PW) && !log.contains(EDITOR_PW), "passwords never reach the log");
}
