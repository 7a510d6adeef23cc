//! End-to-end: the knowledge editors' versions on the real server (no models). An editor changes
//! a guide's fee and promised time limit as a draft, previews it, publishes it, and a citizen's
//! next answer carries the new values; a second editor saving on a stale version gets a 409; a
//! rollback brings the old values back. History and diffs are readable; every change is in the
//! append-only audit log; citizens and agents cannot reach editor endpoints, nor editors the log.

mod common;

use common::*;
use serde_json::{json, Value};

const CODE: &str = "SAMPLE-GA-001";
const PW: &str = "Editor-Pass-2026";

async fn answer(url: &str, q: &str) -> String {
    let s = create_session(url).await;
    let (_, events) = ask(url, &s, q, None).await;
    events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test]
async fn editors_publish_and_roll_back_and_everything_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "wang", "editor", PW);
    add_user(dir.path(), "li", "editor", PW);
    add_user(dir.path(), "zhang", "agent", PW);
    add_user(dir.path(), "root", "admin", PW);
    let server = Server::start(dir.path(), None, &[]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let (wang, li) = (login(url, "wang", PW).await, login(url, "li", PW).await);

    let before = answer(url, "换身份证要交多少钱").await;
    assert!(before.contains("20元"), "{before}");

    let (status, g) = get(&format!("{api}/editor/guides/{CODE}"), &wang).await;
    assert_eq!(status, 200, "{g}");
    let base = g["latest_version"].as_u64().unwrap();
    let mut guide = g["latest"].clone();
    guide["fees"][0]["amount_yuan"] = json!(30.0);
    guide["promised_time_limit"]["days"] = json!(7);

    // Preview before saving: the answers already use the draft.
    let (status, p) = post(&format!("{api}/editor/preview"), &wang, json!({"guide": guide})).await;
    assert_eq!(status, 200, "{p}");
    assert!(p["answers"].as_array().unwrap().iter().any(|a| a["answer"].as_str().unwrap().contains("30")), "{p}");

    let (status, d) = post(&format!("{api}/editor/guides/{CODE}/drafts"), &wang, json!({"base_version": base, "guide": guide})).await;
    assert_eq!(status, 201, "{d}");
    let draft = d["version"].as_u64().unwrap();
    // Li edited the same version meanwhile: a conflict, not a silent overwrite.
    let (status, c) = post(&format!("{api}/editor/guides/{CODE}/drafts"), &li, json!({"base_version": base, "guide": g["latest"]})).await;
    assert_eq!((status, c["error"]["code"].as_str()), (409, Some("conflict")), "{c}");
    // Invalid guides are refused with the reason.
    let mut broken = guide.clone();
    broken["name"] = json!("");
    let (status, e) = post(&format!("{api}/editor/guides/{CODE}/drafts"), &wang, json!({"base_version": draft, "guide": broken})).await;
    assert_eq!(status, 422, "{e}");
    assert!(answer(url, "换身份证要交多少钱").await.contains("20元"), "a draft is not live");

    let (status, _) = post(&format!("{api}/editor/guides/{CODE}/publish"), &wang, json!({"version": draft})).await;
    assert_eq!(status, 200);
    let after = answer(url, "换身份证要交多少钱").await;
    assert!(after.contains("30元"), "published at once: {after}");
    let time = answer(url, "换身份证多久能拿到").await;
    assert!(time.contains("7个工作日"), "{time}");

    let (_, diff) = get(&format!("{api}/editor/guides/{CODE}/diff?from={base}&to={draft}"), &wang).await;
    let changed: Vec<String> =
        diff.as_array().unwrap().iter().filter(|l| l["op"] == "+").map(|l| l["text"].as_str().unwrap().to_string()).collect();
    assert!(changed.iter().any(|l| l.contains("30")) && changed.iter().any(|l| l.contains("\"days\": 7")), "{changed:?}");

    let (status, _) = post(&format!("{api}/editor/guides/{CODE}/rollback"), &wang, json!({"version": base})).await;
    assert_eq!(status, 200);
    assert!(answer(url, "换身份证要交多少钱").await.contains("20元"), "rolled back");
    let (_, versions) = get(&format!("{api}/editor/guides/{CODE}/versions"), &wang).await;
    let live: Vec<u64> =
        versions.as_array().unwrap().iter().filter(|v| v["live"] == true).map(|v| v["version"].as_u64().unwrap()).collect();
    assert_eq!(live, [base]);

    // Authorisation: editors only; the audit log for admins only.
    let citizen = create_session(url).await;
    let agent = login(url, "zhang", PW).await;
    for (token, want) in [("", 401), (citizen.token.as_str(), 403), (agent.as_str(), 403)] {
        let (status, _) = get(&format!("{api}/editor/guides"), token).await;
        assert_eq!(status, want, "token {token:?}");
        let (status, _) = post(&format!("{api}/editor/guides/{CODE}/publish"), token, json!({"version": base})).await;
        assert_eq!(status, want);
    }
    let (status, _) = get(&format!("{api}/admin/audit"), &wang).await;
    assert_eq!(status, 403);
    let root = login(url, "root", PW).await;
    let (status, log) = get(&format!("{api}/admin/audit?entity=guide&entity_id={CODE}"), &root).await;
    assert_eq!(status, 200);
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["guide.rollback", "guide.publish", "guide.draft"], "newest first, refused changes not logged");
    let publish = &log[1];
    assert_eq!(publish["actor"], "user:wang");
    assert_eq!(
        (publish["before"]["fees"][0]["amount_yuan"].as_f64(), publish["after"]["fees"][0]["amount_yuan"].as_f64()),
        (Some(20.0), Some(30.0))
    );
    let (_, users) = get(&format!("{api}/admin/audit?entity=user"), &root).await;
    assert_eq!(users.as_array().unwrap().len(), 4, "every user added is logged");
}

/// Issue 24: after a rollback the console reloaded the rolled-back version and 发布 put it back
/// live. Now an edit starts from the version rolled back to, and publishing a rolled-back
/// version — or a draft built on one — is a 409 that changes nothing.
#[tokio::test]
async fn a_rollback_is_never_undone_by_publishing_what_was_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "wang", "editor", PW);
    add_user(dir.path(), "li", "editor", PW);
    add_user(dir.path(), "root", "admin", PW);
    let server = Server::start(dir.path(), None, &[]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let (wang, li) = (login(url, "wang", PW).await, login(url, "li", PW).await);
    let fee = |g: &Value| g["fees"][0]["amount_yuan"].as_f64();

    let (_, g) = get(&format!("{api}/editor/guides/{CODE}"), &wang).await;
    assert_eq!(
        (g["editing_version"].as_u64(), g["latest_version"].as_u64(), g["live_version"].as_u64()),
        (Some(1), Some(1), Some(1)),
        "{g}"
    );
    let mut raised = g["editing"].clone();
    raised["fees"][0]["amount_yuan"] = json!(30.0);
    let (status, d) = post(&format!("{api}/editor/guides/{CODE}/drafts"), &wang, json!({"base_version": 1, "guide": raised})).await;
    assert_eq!((status, d["version"].as_u64()), (201, Some(2)), "{d}");
    let (status, _) = post(&format!("{api}/editor/guides/{CODE}/publish"), &wang, json!({"version": 2})).await;
    assert_eq!(status, 200);
    // Li starts a draft on version 2 before it is rolled back.
    let (_, g2) = get(&format!("{api}/editor/guides/{CODE}"), &li).await;
    assert_eq!(g2["editing_version"], 2);
    let mut higher = g2["editing"].clone();
    higher["fees"][0]["amount_yuan"] = json!(35.0);
    let (status, d3) = post(&format!("{api}/editor/guides/{CODE}/drafts"), &li, json!({"base_version": 2, "guide": higher})).await;
    assert_eq!((status, d3["version"].as_u64()), (201, Some(3)), "{d3}");

    let (status, _) = post(&format!("{api}/editor/guides/{CODE}/rollback"), &wang, json!({"version": 1})).await;
    assert_eq!(status, 200);
    assert!(answer(url, "换身份证要交多少钱").await.contains("20元"));

    // What the console loads now: the live version 1 to edit, not the rolled-back 2 or the draft 3 built on it.
    let (_, g) = get(&format!("{api}/editor/guides/{CODE}"), &wang).await;
    assert_eq!(
        (g["editing_version"].as_u64(), g["live_version"].as_u64(), g["latest_version"].as_u64()),
        (Some(1), Some(1), Some(3)),
        "{g}"
    );
    assert_eq!(fee(&g["editing"]), Some(20.0));

    // Publishing the rolled-back version, or the draft built on it, is refused with the reason.
    let (status, e) = post(&format!("{api}/editor/guides/{CODE}/publish"), &wang, json!({"version": 2})).await;
    assert_eq!((status, e["error"]["code"].as_str()), (409, Some("conflict")), "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("第 2 版已被撤下") && m.contains("线上现为第 1 版") && m.contains("回滚到此版"), "{m}");
    let (status, e) = post(&format!("{api}/editor/guides/{CODE}/publish"), &li, json!({"version": 3})).await;
    assert_eq!(status, 409, "{e}");
    let m = e["error"]["message"].as_str().unwrap();
    assert!(m.contains("第 3 版草稿是在第 2 版上修改的") && m.contains("重新载入"), "{m}");
    // A stale form (still on version 2) cannot save over the rollback either.
    let (status, e) = post(&format!("{api}/editor/guides/{CODE}/drafts"), &wang, json!({"base_version": 2, "guide": raised})).await;
    assert_eq!(status, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("已被回滚"), "{e}");
    assert!(answer(url, "换身份证要交多少钱").await.contains("20元"), "nothing refused went live");

    // Editing the version rolled back to works as ever.
    let mut lower = g["editing"].clone();
    lower["fees"][0]["amount_yuan"] = json!(25.0);
    let (status, d4) = post(&format!("{api}/editor/guides/{CODE}/drafts"), &wang, json!({"base_version": 1, "guide": lower})).await;
    assert_eq!((status, d4["version"].as_u64()), (201, Some(4)), "{d4}");
    let (status, _) = post(&format!("{api}/editor/guides/{CODE}/publish"), &wang, json!({"version": 4})).await;
    assert_eq!(status, 200);
    assert!(answer(url, "换身份证要交多少钱").await.contains("25元"));

    let root = login(url, "root", PW).await;
    let (_, log) = get(&format!("{api}/admin/audit?entity=guide&entity_id={CODE}"), &root).await;
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["guide.publish", "guide.draft", "guide.rollback", "guide.draft", "guide.publish", "guide.draft"],
        "refusals are not logged"
    );
}

/// A real Guangdong catalogue row whose legal limit is “60(自然日)” and promised limit
/// “15(工作日)” (建设项目环境影响报告书审批), as shipped in knowledge/guides/gd.
fn catalogue_guide(code: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge/guides/gd/gd-catalogue.jsonl");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).find(|g| g["code"] == code).unwrap()
}

const EIA: &str = "11440000006940060Q2440113106001";

/// Issue 24: the legal limit “60日” of a catalogue item was labelled 工作日, and the preview of
/// “多久能办好” quoted 基本信息. Imported from the real catalogue file, a 日 limit stays 日 and a
/// 工作日 limit stays 工作日 in the editor's guide, the preview card and answers, and the
/// citizen's card and answer.
#[tokio::test]
async fn time_limits_keep_their_units_from_the_catalogue_to_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let rows = dir.path().join("gd-rows.jsonl");
    std::fs::write(&rows, format!("{}\n", catalogue_guide(EIA))).unwrap();
    let out = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--no-models", "ingest", "--path"])
        .arg(sample_dir())
        .arg("--path")
        .arg(&rows)
        .env("BANSHI_LOG", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    add_user(dir.path(), "wang", "editor", PW);
    let server = Server::start(dir.path(), None, &[]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let wang = login(url, "wang", PW).await;

    let (status, g) = get(&format!("{api}/editor/guides/{EIA}"), &wang).await;
    assert_eq!(status, 200, "{g}");
    let guide = &g["editing"];
    assert_eq!(
        (guide["legal_time_limit"]["days"].as_u64(), guide["legal_time_limit"]["unit"].as_str()),
        (Some(60), Some("calendar_days")),
        "{guide}"
    );
    assert_eq!(guide["promised_time_limit"]["unit"], "working_days");

    // The editor's preview, with its default questions (“…多久能办好？” among them).
    let (status, p) = post(&format!("{api}/editor/preview"), &wang, json!({"guide": guide})).await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        (p["card"]["legal_time_limit"].as_str(), p["card"]["promised_time_limit"].as_str()),
        (Some("60日"), Some("15个工作日")),
        "{p}"
    );
    let how_long =
        p["answers"].as_array().unwrap().iter().find(|a| a["question"].as_str().unwrap().contains("多久能办好")).expect("a time question");
    let text = how_long["answer"].as_str().unwrap();
    assert!(text.contains("法定办结时限为60日") && text.contains("承诺办结时限为15个工作日"), "{how_long}");
    assert!(!text.contains("60个工作日") && !text.contains("基本信息"), "{text}");
    assert!(how_long["sources"].as_array().unwrap().iter().all(|s| s["section"] == "time_limit"), "{how_long}");

    // The same for a sample item whose name ends in 换领 (the preview quoted 基本信息 for it).
    let (_, sample) = get(&format!("{api}/editor/guides/{CODE}"), &wang).await;
    let (_, p) = post(&format!("{api}/editor/preview"), &wang, json!({"guide": sample["editing"]})).await;
    let how_long = p["answers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["question"] == "居民身份证换领多久能办好？")
        .expect("the preview's time question");
    assert!(how_long["answer"].as_str().unwrap().contains("法定办结时限为60日"), "{how_long}");
    assert!(how_long["sources"].as_array().unwrap().iter().all(|s| s["section"] == "time_limit"), "{how_long}");

    // A citizen asking gets the same units, card and answer.
    let s = create_session(url).await;
    let (_, events) = ask(url, &s, "建设项目环境影响报告书审批要多久？", None).await;
    let card = &events.iter().find(|e| e.event == "sources").expect("a sources card").data["card"];
    assert_eq!((card["legal_time_limit"].as_str(), card["promised_time_limit"].as_str()), (Some("60日"), Some("15个工作日")), "{card}");
    let text: String =
        events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap_or_default().to_string()).collect();
    assert!(text.contains("60日") && !text.contains("60个工作日"), "{text}");
}

#[tokio::test]
async fn curated_answers_come_first_marked_with_their_source() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "wang", "editor", PW);
    add_user(dir.path(), "zhang", "agent", PW);
    add_user(dir.path(), "root", "admin", PW);
    let server = Server::start(dir.path(), None, &[]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let (wang, zhang) = (login(url, "wang", PW).await, login(url, "zhang", PW).await);

    // An agent sends an answer to knowledge from a ticket; the editor accepts it.
    let s = create_session(url).await;
    let (_, events) = ask(url, &s, "转人工", None).await;
    let ticket = events.iter().find(|e| e.event == "ticket").unwrap().data["ticket_id"].as_i64().unwrap();
    let (status, _) = post(&format!("{api}/agent/tickets/{ticket}/claim"), &zhang, json!({})).await;
    assert_eq!(status, 200);
    let q = "社保卡丢了在哪里挂失补办";
    let a = "社会保障卡遗失后，可拨打12333或到任一合作银行网点先行挂失，再携带居民身份证到社保卡服务网点补办。";
    let (status, d) = post(&format!("{api}/agent/tickets/{ticket}/knowledge"), &zhang, json!({"question": q, "answer": a})).await;
    assert_eq!(status, 201, "{d}");
    let (_, drafts) = get(&format!("{api}/editor/knowledge-drafts"), &wang).await;
    let draft = drafts[0]["id"].as_i64().unwrap();
    let (status, c) = post(&format!("{api}/editor/curated"), &wang, json!({"question": q, "answer": a, "draft_id": draft})).await;
    assert_eq!(status, 201, "{c}");
    assert!(c["source"].as_str().unwrap().contains("坐席转知识"), "{c}");
    let (status, _) = post(&format!("{api}/editor/curated"), &wang, json!({"question": "x", "answer": "y", "draft_id": draft})).await;
    assert_eq!(status, 409, "a draft is accepted once");

    let s2 = create_session(url).await;
    let (_, events) = ask(url, &s2, "社保卡丢了在哪里挂失补办？", None).await;
    let curated = events.iter().find(|e| e.event == "curated").expect("marked as curated");
    assert!(curated.data["source"].as_str().unwrap().contains("坐席转知识"));
    let text: String = events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(text, a);
    assert_eq!(events.iter().find(|e| e.event == "done").unwrap().data["kind"], "curated");

    // Retired: the pipeline answers again.
    let (status, _) = post(&format!("{api}/editor/curated/{}/retire", c["id"]), &wang, json!({})).await;
    assert_eq!(status, 200);
    let (_, events) = ask(url, &s2, "社保卡丢了在哪里挂失补办？", None).await;
    assert!(!events.iter().any(|e| e.event == "curated"));
    let root = login(url, "root", PW).await;
    let (_, log) = get(&format!("{api}/admin/audit?entity=curated_answer"), &root).await;
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["curated.retire", "curated.add"]);
    let (_, tickets) = get(&format!("{api}/admin/audit?entity=ticket"), &root).await;
    assert_eq!(
        tickets.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect::<Vec<_>>(),
        ["ticket.claim", "ticket.create"]
    );
    let claim = &tickets[0];
    assert_eq!((claim["action"].as_str(), claim["actor"].as_str()), (Some("ticket.claim"), Some("user:zhang")), "{tickets}");
    assert_eq!((claim["before"]["status"].as_str(), claim["after"]["status"].as_str()), (Some("pending"), Some("assigned")));
    let (status, _) = get(&format!("{api}/editor/curated"), &zhang).await;
    assert_eq!(status, 403, "agents cannot reach editor endpoints");
}

#[tokio::test]
async fn the_gap_dashboard_groups_real_failures_and_a_curated_answer_closes_one() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "wang", "editor", PW);
    // Replays 200+ conversations from one address: the per-address limits are off here (tests/abuse.rs tests them).
    let server = Server::start(
        dir.path(),
        None,
        &[
            "--max-turns-waiting",
            "64",
            "--limit-sessions",
            "off",
            "--limit-messages-per-address",
            "off",
            "--limit-ratings",
            "off",
            "--limit-handoffs-per-address",
            "off",
        ],
    );
    let url = &server.url;
    let api = format!("{url}/api/v1");

    // Replay a traffic log through the real pipeline: item questions, questions no guide
    // covers, and unhappy ratings.
    let names: Vec<String> = std::fs::read_dir(sample_dir())
        .unwrap()
        .filter_map(|e| serde_json::from_str::<Value>(&std::fs::read_to_string(e.unwrap().path()).ok()?).ok())
        .filter_map(|g| g["name"].as_str().map(str::to_string))
        .collect();
    let mut log: Vec<String> =
        names.iter().flat_map(|n| [format!("{n}需要什么材料"), format!("{n}多久能办好"), format!("{n}收费吗")]).collect();
    let pets = ["宠物医保怎么办理", "宠物医保在哪里报销", "给宠物买医保需要什么", "宠物医保一年多少钱", "宠物看病能用医保吗"];
    for i in 0..60 {
        log.push(pets[i % pets.len()].to_string());
    }
    let mut replayed = 0;
    for q in &log {
        let s = create_session(url).await;
        let (status, _) = ask(url, &s, q, None).await;
        assert_eq!(status, 200, "{q}");
        replayed += 1;
    }
    for _ in 0..10 {
        let s = create_session(url).await;
        ask(url, &s, "换身份证要交多少钱", None).await;
        let (status, _) = post(&format!("{api}/sessions/{}/ratings", s.id), &s.token, json!({"level": 1, "comment": "说得不清楚"})).await;
        assert_eq!(status, 201);
        replayed += 1;
    }
    assert!(replayed >= 200, "{replayed} conversations");

    let wang = login(url, "wang", PW).await;
    let (status, groups) = get(&format!("{api}/editor/gaps"), &wang).await;
    assert_eq!(status, 200, "{groups}");
    let groups = groups.as_array().unwrap();
    let pet =
        groups.iter().find(|g| g["samples"].as_array().unwrap().iter().any(|q| q.as_str().unwrap().contains("宠物"))).expect("a pet group");
    assert!(pet["count"].as_u64().unwrap() >= 30, "{pet}");
    assert!(pet["samples"].as_array().unwrap().iter().all(|q| q.as_str().unwrap().contains("宠物")), "one topic per group: {pet}");
    assert_eq!(pet["last_7_days"], pet["count"]);
    let id_card = groups.iter().find(|g| g["key"] == "item:SAMPLE-GA-001").expect("the badly rated item");
    assert_eq!(id_card["by_kind"]["bad_rating"], 10, "{id_card}");

    // A curated answer for the group's top question changes the next answer; the gap is closed.
    let top = pet["top_question"].as_str().unwrap().to_string();
    let answer = "目前本市基本医疗保险不覆盖宠物诊疗费用，宠物医疗可了解商业保险产品。";
    let (status, _) =
        post(&format!("{api}/editor/curated"), &wang, json!({"question": top, "answer": answer, "from_gap": pet["title"]})).await;
    assert_eq!(status, 201);
    let s = create_session(url).await;
    let (_, events) = ask(url, &s, &top, None).await;
    assert!(events.iter().any(|e| e.event == "curated"), "{:?}", names_of(&events));
    let (status, _) = post(&format!("{api}/editor/gaps/close"), &wang, json!({"key": pet["key"], "note": "已发布标准答复"})).await;
    assert_eq!(status, 201);
    let (_, after) = get(&format!("{api}/editor/gaps"), &wang).await;
    let closed = after.as_array().unwrap().iter().find(|g| g["key"] == pet["key"]).unwrap();
    assert_eq!(closed["closed"]["note"], "已发布标准答复");
}

fn names_of(events: &[Sse]) -> Vec<String> {
    events.iter().map(|e| e.event.clone()).collect()
}

#[tokio::test]
async fn bundles_have_the_same_life_cycle_and_are_checked_against_the_guides() {
    let dir = tempfile::tempdir().unwrap();
    ingest_with_bundles(dir.path());
    add_user(dir.path(), "wang", "editor", PW);
    add_user(dir.path(), "root", "admin", PW);
    let server = Server::start(dir.path(), None, &[]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let wang = login(url, "wang", PW).await;
    let code = "BUNDLE-XSECS";

    let (_, list) = get(&format!("{api}/editor/bundles"), &wang).await;
    assert_eq!(list.as_array().unwrap().len(), 5);
    let (_, b) = get(&format!("{api}/editor/bundles/{code}"), &wang).await;
    let base = b["latest_version"].as_u64().unwrap();
    let mut bundle = b["latest"].clone();
    bundle["summary"] = json!("孩子出生后五件事一次申请、一表填报（已更新）");
    let (status, d) = post(&format!("{api}/editor/bundles/{code}/drafts"), &wang, json!({"base_version": base, "bundle": bundle})).await;
    assert_eq!(status, 201, "{d}");
    let (status, _) = post(&format!("{api}/editor/bundles/{code}/publish"), &wang, json!({"version": d["version"]})).await;
    assert_eq!(status, 200);
    let s = create_session(url).await;
    let (_, events) = ask(url, &s, "新生儿出生一件事", None).await;
    let card = &events.iter().find(|e| e.event == "bundle").unwrap().data["card"];
    assert!(card["summary"].as_str().unwrap().contains("已更新"), "{card}");

    // A bundle naming an item that does not exist is saved as a draft but cannot go live.
    let mut broken = bundle.clone();
    broken["items"].as_array_mut().unwrap().push(json!({"code": "SAMPLE-NOPE-999", "optional": true}));
    let (status, d2) =
        post(&format!("{api}/editor/bundles/{code}/drafts"), &wang, json!({"base_version": d["version"], "bundle": broken})).await;
    assert_eq!(status, 201, "{d2}");
    let (status, e) = post(&format!("{api}/editor/bundles/{code}/publish"), &wang, json!({"version": d2["version"]})).await;
    assert_eq!(status, 422, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("SAMPLE-NOPE-999"), "{e}");

    let (status, _) = post(&format!("{api}/editor/bundles/{code}/rollback"), &wang, json!({"version": base})).await;
    assert_eq!(status, 200);
    let root = login(url, "root", PW).await;
    let (_, log) = get(&format!("{api}/admin/audit?entity=bundle"), &root).await;
    let actions: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["bundle.rollback", "bundle.draft", "bundle.publish", "bundle.draft"]);
}
