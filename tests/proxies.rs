//! End-to-end: 亲友代办 on the real server (no models). A mother authorises her son for one item;
//! he acts for her in his own chat, the form is pre-filled from her records, the application is
//! hers, marked “代办：son 为 mother” in its history and the audit log, and she sees it. Every
//! abuse is refused with its reason: a wrong name or account, oneself, out of scope (in the
//! chat and at submission), a proxy authorising someone else, a grant used by someone it was
//! not given to, revoked, and expired.

mod common;

use banshi_server::store::Applications;
use chrono::NaiveDate;
use common::citizens;
use common::*;
use serde_json::{json, Value};

const PW: &str = citizens::CITIZEN_PW;
const YOUDAI: &str = "SAMPLE-MZ-005";

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

async fn signed_in(url: &str, username: &str) -> Session {
    let s = create_session(url).await;
    let (status, me) =
        post(&format!("{url}/api/v1/sessions/{}/sign-in", s.id), &s.token, json!({"username": username, "password": PW})).await;
    assert_eq!(status, 200, "{me}");
    s
}

fn reason(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_string()
}

fn field<'a>(form: &'a Value, key: &str) -> &'a Value {
    form["fields"].as_array().unwrap().iter().find(|f| f["key"] == key).unwrap_or_else(|| panic!("no field {key} in {form}"))
}

#[tokio::test]
async fn a_relative_applies_within_the_grant_and_every_abuse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    ingest_with_bundles(dir.path());
    add_user(dir.path(), "root", "admin", PW);
    let store = citizens::store(dir.path()).await;
    citizens::add(&store, "mother", "王秀英", day(1950, 3, 2), "女", 28).await;
    citizens::add(&store, "son", "李明", day(1978, 6, 9), "男", 17).await;
    citizens::add(&store, "stranger", "赵强", day(1985, 1, 20), "男", 35).await;
    let server = Server::start(dir.path(), None, &[]);
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let (mother, son, stranger) = (signed_in(url, "mother").await, signed_in(url, "son").await, signed_in(url, "stranger").await);
    let grants = format!("{api}/sessions/{}/proxies", mother.id);
    let grant = |body: Value| post(&grants, &mother.token, body);

    // Authorising: each mistake is named; then one item for 30 days.
    for (body, why) in [
        (json!({"proxy_username": "son", "proxy_name": "李亮", "scope": [YOUDAI], "days": 30}), "姓名与账号不符"),
        (json!({"proxy_username": "nobody", "proxy_name": "李明", "scope": [YOUDAI], "days": 30}), "没有找到账号"),
        (json!({"proxy_username": "mother", "proxy_name": "王秀英", "scope": [YOUDAI], "days": 30}), "自己"),
        (json!({"proxy_username": "son", "proxy_name": "李明", "scope": ["NO-SUCH"], "days": 30}), "NO-SUCH"),
        (json!({"proxy_username": "son", "proxy_name": "李明", "scope": [YOUDAI], "days": 0}), "1–365"),
    ] {
        let (status, e) = grant(body).await;
        assert_eq!(status, 422, "{e}");
        assert!(reason(&e).contains(why), "{why}: {e}");
    }
    let (status, g) = grant(json!({"proxy_username": "son", "proxy_name": "李明", "scope": [YOUDAI], "days": 30})).await;
    assert_eq!((status, g["status"].as_str(), g["scope_names"][0].as_str()), (201, Some("active"), Some("老年人优待证办理")), "{g}");
    let grant_id = g["id"].as_i64().unwrap();

    // Only the son can act on it.
    let (status, e) = post(&format!("{api}/sessions/{}/acting-for", stranger.id), &stranger.token, json!({"grant_id": grant_id})).await;
    assert_eq!(status, 403);
    assert!(reason(&e).contains("不是给您的"), "{e}");
    let (status, a) = post(&format!("{api}/sessions/{}/acting-for", son.id), &son.token, json!({"grant_id": grant_id})).await;
    assert_eq!((status, a["principal_name"].as_str()), (200, Some("王秀英")), "{a}");

    // Acting, he cannot pass the authority on.
    let (status, e) = post(
        &format!("{api}/sessions/{}/proxies", son.id),
        &son.token,
        json!({"proxy_username": "stranger", "proxy_name": "赵强", "scope": [YOUDAI], "days": 5}),
    )
    .await;
    assert_eq!(status, 403);
    assert!(reason(&e).contains("代办人不能再委托他人"), "{e}");

    // In the chat: her records fill the form; an item outside the grant is refused.
    ask(url, &son, "老年人优待证怎么办理", None).await;
    ask(url, &son, "开始办理", None).await;
    let (status, form) = get(&format!("{api}/sessions/{}/form", son.id), &son.token).await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(
        (field(&form, "name")["value"].as_str(), field(&form, "name")["source"].as_str()),
        (Some("王秀英"), Some("个人档案")),
        "{form}"
    );
    let mut values = serde_json::Map::new();
    for f in form["fields"].as_array().unwrap() {
        if let Some(v) = f["value"].as_str() {
            values.insert(f["key"].as_str().unwrap().into(), json!(v));
        }
    }
    values.insert("delivery".into(), json!("社区代领"));
    let (status, app) =
        post(&format!("{api}/sessions/{}/applications", son.id), &son.token, json!({"target": YOUDAI, "values": values})).await;
    assert_eq!(status, 201, "{app}");
    let tracking = app["tracking_no"].as_str().unwrap().to_string();
    let mother_id = store.citizen_credentials("mother").await.unwrap().unwrap().0.id;
    assert_eq!((app["citizen_id"].as_i64(), app["proxy_id"].is_i64()), (Some(mother_id), true), "the application is hers: {app}");

    let (_, events) = ask(url, &son, "高龄津贴申领要什么材料", None).await;
    let card = events.iter().find(|e| e.event == "sources").map(|e| e.data["card"]["code"].clone());
    assert_eq!(card, Some(json!("SAMPLE-MZ-004")), "{:?}", events.iter().map(|e| &e.event).collect::<Vec<_>>());
    let (_, events) = ask(url, &son, "开始办理", None).await;
    let said: String = events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap_or_default()).collect();
    assert!(said.contains("授权范围不包括"), "{said}");
    let (status, e) =
        post(&format!("{api}/sessions/{}/applications", son.id), &son.token, json!({"target": "SAMPLE-MZ-004", "values": values})).await;
    assert_eq!(status, 403, "{e}");
    assert!(reason(&e).contains("不包括“高龄津贴申领”"), "{e}");

    // She sees what was done for her; the record and the audit log name both.
    let (_, mine) = get(&format!("{api}/sessions/{}/proxies", mother.id), &mother.token).await;
    assert_eq!(
        (mine["actions"][0]["tracking_no"].as_str(), mine["actions"][0]["proxy_name"].as_str()),
        (Some(tracking.as_str()), Some("李明")),
        "{mine}"
    );
    let root = login(url, "root", PW).await;
    let (_, detail) = get(&format!("{api}/agent/applications/{tracking}"), &root).await;
    assert_eq!(detail["history"][0]["actor"], "代办：李明 为 王秀英", "{detail}");
    let (_, log) = get(&format!("{api}/admin/audit?entity=application&entity_id={tracking}"), &root).await;
    assert!(log.to_string().contains("application.proxy_submit"), "{log}");

    // Revoked: refused at once, with the reason.
    let (status, _) = post(&format!("{api}/sessions/{}/proxies/{grant_id}/revoke", mother.id), &mother.token, json!({})).await;
    assert_eq!(status, 200);
    let (status, e) =
        post(&format!("{api}/sessions/{}/applications", son.id), &son.token, json!({"target": YOUDAI, "values": values})).await;
    assert_eq!(status, 403);
    assert!(reason(&e).contains("撤销"), "{e}");

    // Expired: refused when he starts acting on it.
    let (_, g2) = grant(json!({"proxy_username": "son", "proxy_name": "李明", "scope": [YOUDAI], "days": 1})).await;
    sqlx::query("UPDATE proxy_grants SET expires_at = '2020-01-01T00:00:00.000Z' WHERE id = $1")
        .bind(g2["id"].as_i64().unwrap())
        .execute(&banshi_knowledge::db::open_sqlite(&dir.path().join("banshi.db")).await.unwrap())
        .await
        .unwrap();
    let (status, e) = post(&format!("{api}/sessions/{}/acting-for", son.id), &son.token, json!({"grant_id": g2["id"]})).await;
    assert_eq!(status, 403);
    assert!(reason(&e).contains("到期"), "{e}");
}
