//! End-to-end: 边聊边办 on the real server (no models). A signed-in citizen asks about a newborn,
//! is offered the 新生儿出生一件事 bundle, and fills its merged form in the chat: values come
//! pre-filled from the profile and e-licences with their sources, materials held as e-licences
//! are 免提交, the assistant asks for two fields at a time. Edits and submissions are validated by
//! the national rules (bad values → 422 naming each field, nothing stored); the tracking number
//! answers progress queries as a department moves the application on.

mod common;

use common::*;
use serde_json::{json, Value};

const CITIZEN_PW: &str = "Sample-Pass-2026";
const AGENT_PW: &str = "Agent-Pass-2026";

fn setup() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    ingest_with_bundles(dir.path());
    load_sample_citizens(dir.path(), CITIZEN_PW);
    add_user(dir.path(), "zhou", "agent", AGENT_PW);
    let server = Server::start(dir.path(), None, &[]);
    (dir, server)
}

fn event<'a>(events: &'a [Sse], name: &str) -> &'a Value {
    &events.iter().find(|e| e.event == name).unwrap_or_else(|| panic!("no {name} event in {:?}", names(events))).data
}

fn field<'a>(form: &'a Value, key: &str) -> &'a Value {
    form["fields"].as_array().unwrap().iter().find(|f| f["key"] == key).unwrap_or_else(|| panic!("no field {key}"))
}

fn text(events: &[Sse]) -> String {
    events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap_or_default()).collect()
}

#[tokio::test]
async fn newborn_bundle_from_question_to_tracking_number() {
    let (_dir, server) = setup();
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let s = create_session(url).await;
    let sid = &s.id;

    let (status, body) =
        post(&format!("{api}/sessions/{sid}/sign-in"), &s.token, json!({"username": "linxiaomei", "password": "wrong-password"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, me) =
        post(&format!("{api}/sessions/{sid}/sign-in"), &s.token, json!({"username": "linxiaomei", "password": CITIZEN_PW})).await;
    assert_eq!((status, me["display_name"].as_str()), (200, Some("林晓梅")), "{me}");

    // The need is recognised as a bundle; the card shows what merging saves.
    let (_, events) = ask(url, &s, "孩子刚出生，要办哪些手续？", None).await;
    let card = &event(&events, "bundle")["card"];
    assert_eq!(card["code"], "BUNDLE-XSECS", "{card}");
    assert!(card["asked_fields"].as_u64().unwrap() < card["separate_fields"].as_u64().unwrap());
    assert!(card["materials"].as_array().unwrap().len() < card["separate_materials"].as_u64().unwrap() as usize);
    assert_eq!(event(&events, "actions")["actions"][0]["text"], "开始办理");

    // Pre-filled from the e-licence store and the profile, each value with its source.
    let (_, events) = ask(url, &s, "开始办理", None).await;
    let form = &event(&events, "form")["form"];
    assert_eq!(
        (field(form, "child_name")["value"].as_str(), field(form, "child_name")["source"].as_str()),
        (Some("陈思语"), Some("电子证照·出生医学证明")),
        "{form}"
    );
    assert_eq!(field(form, "phone")["source"], "个人档案");
    assert_eq!(field(form, "child_id_number")["produced_by"], "出生登记（新生儿落户）", "produced inside the bundle, not asked");
    let mats = form["materials"].as_array().unwrap();
    let exempt = |name: &str| mats.iter().find(|m| m["name"] == name).unwrap()["exempt"].clone();
    assert_eq!(exempt("父母双方居民身份证"), "已有居民身份证电子证照");
    assert!(exempt("出生医学证明").as_str().unwrap().contains("出生医学证明首次签发"), "names the producing item");
    assert_eq!(form["asking"].as_array().unwrap().len(), 2, "two fields at a time");
    assert!(text(&events).contains("已为您预填"));

    // Answers fill the asked fields until the form is complete.
    let mut complete = false;
    for answer in ["随母，新生儿", "工商银行，邮寄", "首次办理"] {
        let (_, events) = ask(url, &s, answer, None).await;
        let form = &event(&events, "form")["form"];
        complete = form["complete"].as_bool().unwrap();
    }
    assert!(complete, "three answers fill the five missing fields");
    let (_, form) = get(&format!("{api}/sessions/{sid}/form"), &s.token).await;
    assert_eq!(
        (field(&form, "delivery")["value"].as_str(), field(&form, "delivery")["source"].as_str()),
        (Some("邮寄送达"), Some("对话中提到"))
    );

    // Editing a field: a bad phone is refused next to the field; a good one is kept as typed.
    let (status, body) = post(&format!("{api}/sessions/{sid}/form"), &s.token, json!({"key": "phone", "value": "1390591"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("invalid_fields")), "{body}");
    assert!(body["error"]["fields"]["phone"].as_str().unwrap().contains("11 位"));
    let (status, form) = post(&format!("{api}/sessions/{sid}/form"), &s.token, json!({"key": "phone", "value": "139 0591 0000"})).await;
    assert_eq!(
        (status, field(&form, "phone")["value"].as_str(), field(&form, "phone")["source"].as_str()),
        (200, Some("13905910000"), Some("本人填写"))
    );

    // A tampered submission: every problem named, nothing stored.
    let mut values: serde_json::Map<String, Value> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["value"].is_null())
        .map(|f| (f["key"].as_str().unwrap().to_string(), f["value"].clone()))
        .collect();
    let mut bad = values.clone();
    bad.insert("mother_id_number".into(), json!("350102199304121241"));
    bad.insert("salary".into(), json!("1"));
    bad.insert("child_id_number".into(), json!("350102202611180011"));
    bad.remove("follow_parent");
    let (status, body) =
        post(&format!("{api}/sessions/{sid}/applications"), &s.token, json!({"target": "BUNDLE-XSECS", "values": bad})).await;
    assert_eq!(status, 422, "{body}");
    let fields = &body["error"]["fields"];
    assert!(fields["mother_id_number"].as_str().unwrap().contains("应为 X"), "{fields}");
    for k in ["salary", "child_id_number", "follow_parent"] {
        assert!(fields[k].is_string(), "{k} named: {fields}");
    }
    let (status, body) =
        post(&format!("{api}/sessions/{sid}/applications"), &s.token, json!({"target": "BUNDLE-XSECS", "values": 3})).await;
    assert_eq!(status, 422, "{body}");
    let (_, apps) = get(&format!("{api}/sessions/{sid}/applications"), &s.token).await;
    assert_eq!(apps.as_array().unwrap().len(), 0, "nothing stored from refused submissions");

    // The real submission.
    values.insert("mother_id_number".into(), json!("35010219930412124x"));
    let (status, app) =
        post(&format!("{api}/sessions/{sid}/applications"), &s.token, json!({"target": "BUNDLE-XSECS", "values": values})).await;
    assert_eq!(status, 201, "{app}");
    let no = app["tracking_no"].as_str().unwrap().to_string();
    assert!(no.starts_with("BS") && no.len() == 16, "{no}");
    assert_eq!(app["values"]["mother_id_number"], "35010219930412124X", "normalised");
    assert_eq!(app["value_sources"]["child_name"], "电子证照·出生医学证明");
    assert_eq!(app["status"], "submitted");
    let (status, _) = get(&format!("{api}/sessions/{sid}/form"), &s.token).await;
    assert_eq!(status, 404, "the submitted form is closed");

    // A department moves it on; the citizen's progress query follows.
    let agent = login(url, "zhou", AGENT_PW).await;
    let (status, body) = post(&format!("{api}/agent/applications/{no}/status"), &agent, json!({"status": "done"})).await;
    assert_eq!(status, 409, "not done before accepted: {body}");
    let (status, body) = post(&format!("{api}/agent/applications/{no}/status"), &agent, json!({"status": "returned"})).await;
    assert_eq!(status, 422, "returning needs a reason: {body}");
    let (status, body) = post(&format!("{api}/agent/applications/{no}/status"), &agent, json!({"status": "accepted"})).await;
    assert_eq!((status, &body["next"]), (200, &json!(["in_review", "returned"])), "{body}");
    // Skipping the review is refused, naming the current status and the steps allowed from it.
    let (status, body) = post(&format!("{api}/agent/applications/{no}/status"), &agent, json!({"status": "done"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("conflict")), "accepted → done skips the review: {body}");
    let refusal = body["error"]["message"].as_str().unwrap();
    assert!(refusal.contains("“已受理”") && refusal.contains("转入审核（in_review）") && refusal.contains("退回（returned）"), "{refusal}");
    let (status, body) = post(&format!("{api}/agent/applications/{no}/status"), &agent, json!({"status": "in_review"})).await;
    assert_eq!(status, 200, "{body}");
    // The console's detail: the values with their sources, the steps allowed now, who did what.
    let (status, detail) = get(&format!("{api}/agent/applications/{no}"), &agent).await;
    assert_eq!((status, detail["status"].as_str(), &detail["next"]), (200, Some("in_review"), &json!(["done", "returned"])), "{detail}");
    assert_eq!(detail["value_sources"]["child_name"], "电子证照·出生医学证明");
    assert!(
        detail["fields"].as_array().unwrap().iter().any(|f| f["key"] == "child_name" && f["label"] == "新生儿姓名"),
        "the form's labels: {detail}"
    );
    let history: Vec<(&str, &str)> =
        detail["history"].as_array().unwrap().iter().map(|e| (e["status"].as_str().unwrap(), e["actor"].as_str().unwrap())).collect();
    assert_eq!(history, [("submitted", "citizen"), ("accepted", "user:zhou"), ("in_review", "user:zhou")]);
    let (_, events) = ask(url, &s, &format!("进度查询 {}", no.to_lowercase()), None).await;
    let answer = text(&events);
    assert!(answer.contains("审核中") && answer.contains("个工作日"), "{answer}");
    // By number with a second factor: the submitting session's token (tests/abuse.rs: the phone's last 4).
    let (status, progress) = get(&format!("{api}/applications/{no}"), &s.token).await;
    assert_eq!((status, progress["application"]["status"].as_str()), (200, Some("in_review")));
    assert!(progress.to_string().find("35010219930412124X").is_none(), "progress by number shows no personal data");

    // Citizens cannot reach the departments' endpoints.
    let (status, _) = get(&format!("{api}/agent/applications"), &s.token).await;
    assert_eq!(status, 403);
    let (status, list) = get(&format!("{api}/agent/applications?status=in_review"), &agent).await;
    assert_eq!((status, list.as_array().unwrap().len()), (200, 1));

    // 办结 is final: nothing follows it.
    let (status, body) = post(&format!("{api}/agent/applications/{no}/status"), &agent, json!({"status": "done"})).await;
    assert_eq!((status, &body["next"]), (200, &json!([])), "{body}");
    let (status, body) =
        post(&format!("{api}/agent/applications/{no}/status"), &agent, json!({"status": "returned", "note": "补充材料"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("已是最终状态"), "{body}");
    let (_, progress) = get(&format!("{api}/applications/{no}"), &s.token).await;
    assert_eq!(progress["application"]["status"], "done");
}

/// 转人工 after the assistant answered: the agent's ticket summary names what was answered,
/// whatever kind of answer it was (the field trial's ticket after a 一件事 card said “已答复 无”).
#[tokio::test]
async fn the_ticket_summary_names_what_the_assistant_answered_before_the_handoff() {
    let (_dir, server) = setup();
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let s = create_session(url).await;
    let (_, events) = ask(url, &s, "孩子刚出生，要办哪些手续？", None).await;
    assert_eq!(event(&events, "bundle")["card"]["code"], "BUNDLE-XSECS");
    let (_, events) = ask(url, &s, "转人工", None).await;
    assert_eq!(event(&events, "handoff")["reason"], "asked_human");
    let id = event(&events, "ticket")["ticket_id"].as_i64().unwrap();

    let agent = login(url, "zhou", AGENT_PW).await;
    let (status, detail) = get(&format!("{api}/agent/tickets/{id}"), &agent).await;
    assert_eq!(status, 200, "{detail}");
    let answered: Vec<&str> = detail["ticket"]["summary"]["answered"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(answered, ["已介绍“新生儿出生一件事”：孩子刚出生，要办哪些手续？"], "{detail}");
}

#[tokio::test]
async fn anonymous_citizen_is_prefilled_from_what_they_said_and_a_failing_form_goes_to_a_person() {
    let (_dir, server) = setup();
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let s = create_session(url).await;

    let (_, events) = ask(url, &s, "我家孩子叫王小明，11月18日出生的男孩，想办新生儿出生一件事", None).await;
    assert_eq!(event(&events, "bundle")["card"]["code"], "BUNDLE-XSECS");
    let (_, events) = ask(url, &s, "开始办理", None).await;
    let form = &event(&events, "form")["form"];
    assert_eq!(
        (field(form, "child_name")["value"].as_str(), field(form, "child_name")["source"].as_str()),
        (Some("王小明"), Some("对话中提到")),
        "{form}"
    );
    assert_eq!(field(form, "child_gender")["value"], "男");
    assert!(field(form, "phone")["value"].is_null(), "not signed in: no profile");
    // 免提交 without signing in: only what the bundle issues itself, and the online form filled here.
    let exempt_ok = |e: &str| e.contains("办结后共享") || e.starts_with("在线填写");
    assert!(
        form["materials"].as_array().unwrap().iter().all(|m| m["exempt"].is_null() || exempt_ok(m["exempt"].as_str().unwrap())),
        "no e-licences without signing in"
    );

    // Profiles are validated like forms; without signing in there is none to change.
    let (status, _) = post(&format!("{api}/sessions/{}/profile", s.id), &s.token, json!({"phone": "13800000000"})).await;
    assert_eq!(status, 403);

    // Two answers that fill nothing: a person takes over, with the reason recorded.
    let (_, events) = ask(url, &s, "不清楚", None).await;
    assert!(names(&events).contains(&"form"), "{:?}", names(&events));
    let (_, events) = ask(url, &s, "随便吧", None).await;
    assert_eq!(event(&events, "handoff")["reason"], "form_failed", "{:?}", names(&events));
    // The agent sees the ticket with the conversation that led to it.
    let agent = login(url, "zhou", AGENT_PW).await;
    let id = event(&events, "ticket")["ticket_id"].as_i64().unwrap();
    let (status, detail) = get(&format!("{api}/agent/tickets/{id}"), &agent).await;
    assert_eq!((status, detail["ticket"]["reason"].as_str()), (200, Some("form_failed")), "{detail}");
    assert!(detail["applications"].as_array().unwrap().is_empty(), "nothing was submitted");
}
