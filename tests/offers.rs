//! End-to-end: 免申即享 / 主动服务 on the real server (no models). Citizens are made by the test
//! with dates relative to today, so the boundaries hold on any day: one turns 80 today and is
//! granted 高龄津贴 without applying (once, however often the chat opens); one turns 80
//! tomorrow and is not; a parent of a ten-day-old child is offered the newborn bundle, and a
//! yes/no answer settles 生育津贴. One-tap confirmation opens the form when the records leave a
//! field empty; declined offers stay declined; offers can be turned off; an editor changes a
//! rule like any guide element (refused when it cites nothing, live on publish, gone on
//! rollback) and reads each rule's reach.

mod common;

use banshi_server::store::Applications;
use chrono::{Days, Months, NaiveDate};
use common::citizens::{self, licence};
use common::*;
use serde_json::{json, Value};

const PW: &str = citizens::CITIZEN_PW;

async fn setup() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    ingest_with_bundles(dir.path());
    add_user(dir.path(), "wang", "editor", PW);
    let today = chrono::Local::now().date_naive();
    let store = citizens::store(dir.path()).await;
    let eighty = today.checked_sub_months(Months::new(80 * 12)).unwrap();
    let elder = citizens::add(&store, "elder", "高寿", eighty, "女", 24).await;
    let card = [("银行账号", "6217000000001234".to_string()), ("开户银行", "示例银行鼓楼支行".to_string())];
    store.put_licence(&licence("社会保障卡", &elder, "示例市人力资源和社会保障局", &card), &[]).await.unwrap();
    citizens::add(&store, "almost", "将满", eighty + Days::new(1), "男", 13).await;
    let parent = citizens::add(&store, "parent", "新妈妈", NaiveDate::from_ymd_opt(1994, 5, 6).unwrap(), "女", 42).await;
    let born = (today - Days::new(10)).format("%Y-%m-%d 08:30").to_string();
    store
        .put_licence(&licence("出生医学证明", &parent, "示例市妇幼保健院", &[("出生时间", born), ("新生儿姓名", "小宝".into())]), &[])
        .await
        .unwrap();
    let server = Server::start(dir.path(), None, &[]);
    (dir, server)
}

/// A session with `username` signed in.
async fn signed_in(url: &str, username: &str) -> Session {
    let s = create_session(url).await;
    let (status, me) =
        post(&format!("{url}/api/v1/sessions/{}/sign-in", s.id), &s.token, json!({"username": username, "password": PW})).await;
    assert_eq!(status, 200, "{me}");
    s
}

async fn offers(url: &str, s: &Session) -> Value {
    let (status, list) = get(&format!("{url}/api/v1/sessions/{}/offers", s.id), &s.token).await;
    assert_eq!(status, 200, "{list}");
    list
}

fn offer<'a>(list: &'a Value, code: &str) -> Option<&'a Value> {
    list["offers"].as_array().unwrap().iter().find(|o| o["code"] == code)
}

const GAOLING: &str = "SAMPLE-MZ-004";
const YOUDAI: &str = "SAMPLE-MZ-005";

#[tokio::test]
async fn offers_are_granted_confirmed_asked_declined_and_turned_off() {
    let (_dir, server) = setup().await;
    let url = &server.url;
    let api = format!("{url}/api/v1");

    // Turning 80 today: 高龄津贴 granted from the records, with the band and the reasons.
    let s = signed_in(url, "elder").await;
    let list = offers(url, &s).await;
    let g = offer(&list, GAOLING).unwrap_or_else(|| panic!("no 高龄津贴 offer: {list}"));
    assert_eq!(g["state"], "granted", "{g}");
    assert_eq!(g["band"], "80至89周岁：每人每月100元");
    let checks = g["checks"].as_array().unwrap();
    assert!(checks[0]["evidence"].as_str().unwrap().contains("现年 80 周岁"), "{g}");
    assert_eq!((checks[0]["source"].as_str(), checks[1]["state"].as_str()), (Some("受理条件第 1 条"), Some("held")));
    let tracking = g["tracking_no"].as_str().unwrap().to_string();
    // Opening the chat again grants nothing twice.
    let again = offers(url, &s).await;
    assert_eq!(offer(&again, GAOLING).unwrap()["tracking_no"], tracking.as_str());
    let (_, apps) = get(&format!("{api}/sessions/{}/applications", s.id), &s.token).await;
    assert_eq!(apps.as_array().unwrap().len(), 1, "{apps}");
    assert_eq!(apps[0]["values"]["bank_account"], "6217000000001234", "paid to the social security card the city knows");
    let said: Vec<String> = history(url, &s).await.iter().filter_map(|m| m["text"].as_str().map(String::from)).collect();
    assert!(said.iter().any(|t| t.contains("已为您办理") && t.contains(&tracking)), "{said:?}");

    // 一键确认 with a field only the citizen can fill: the form opens, and submitting it takes the offer up.
    assert_eq!(offer(&list, YOUDAI).unwrap()["state"], "confirm");
    let (status, r) = post(&format!("{api}/sessions/{}/offers/{YOUDAI}/accept", s.id), &s.token, json!({})).await;
    assert_eq!(status, 200, "{r}");
    assert!(r["message"].as_str().unwrap().contains("领取方式"), "{r}");
    let mut values = serde_json::Map::new();
    for f in r["form"]["fields"].as_array().unwrap() {
        if let Some(v) = f["value"].as_str() {
            values.insert(f["key"].as_str().unwrap().into(), json!(v));
        }
    }
    values.insert("delivery".into(), json!("电子证"));
    let (status, a) = post(&format!("{api}/sessions/{}/applications", s.id), &s.token, json!({"target": YOUDAI, "values": values})).await;
    assert_eq!(status, 201, "{a}");
    let list = offers(url, &s).await;
    assert_eq!(
        (offer(&list, YOUDAI).unwrap()["state"].as_str(), offer(&list, YOUDAI).unwrap()["tracking_no"].clone()),
        (Some("accepted"), a["tracking_no"].clone())
    );
    let (status, e) = post(&format!("{api}/sessions/{}/offers/{YOUDAI}/accept", s.id), &s.token, json!({})).await;
    assert_eq!(status, 409, "accepted once: {e}");

    // Turning 80 tomorrow: no 高龄津贴; declining an offer is final.
    let s2 = signed_in(url, "almost").await;
    let list = offers(url, &s2).await;
    assert!(offer(&list, GAOLING).is_none(), "79 is not 80: {list}");
    let (status, e) = post(&format!("{api}/sessions/{}/offers/{GAOLING}/accept", s2.id), &s2.token, json!({})).await;
    assert_eq!(status, 409, "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("年满80周岁"), "names the unmet condition: {e}");
    let (status, _) = post(&format!("{api}/sessions/{}/offers/{YOUDAI}/decline", s2.id), &s2.token, json!({})).await;
    assert_eq!(status, 204);
    assert!(offer(&offers(url, &s2).await, YOUDAI).is_none());
    let (status, _) = post(&format!("{api}/sessions/{}/offers/{YOUDAI}/decline", s2.id), &s2.token, json!({})).await;
    assert_eq!(status, 409);

    // A ten-day-old child: the newborn bundle; 生育津贴 waits for one answer.
    let s3 = signed_in(url, "parent").await;
    let list = offers(url, &s3).await;
    assert_eq!(offer(&list, "BUNDLE-XSECS").unwrap_or_else(|| panic!("{list}"))["state"], "confirm");
    let sy = offer(&list, "SAMPLE-YB-003").unwrap();
    assert_eq!(sy["state"], "answer", "{sy}");
    let key = sy["questions"][0]["key"].as_str().unwrap().to_string();
    let answer = |a: &'static str| json!({"key": key.clone(), "answer": a});
    let (status, _) = post(&format!("{api}/sessions/{}/offers/answers", s3.id), &s3.token, json!({"key": key, "answer": "也许"})).await;
    assert_eq!(status, 422);
    let (status, _) = post(&format!("{api}/sessions/{}/offers/answers", s3.id), &s3.token, json!({"key": "salary", "answer": "是"})).await;
    assert_eq!(status, 422, "only questions a rule asks are kept");
    let (status, list) = post(&format!("{api}/sessions/{}/offers/answers", s3.id), &s3.token, answer("是")).await;
    assert_eq!(status, 200, "{list}");
    let sy = offer(&list, "SAMPLE-YB-003").unwrap();
    assert_eq!(sy["state"], "confirm", "{sy}");
    assert!(sy["checks"].as_array().unwrap().iter().any(|c| c["stated"] == true), "marked as the citizen's own word");
    let (_, list) = post(&format!("{api}/sessions/{}/offers/answers", s3.id), &s3.token, answer("否")).await;
    assert!(offer(&list, "SAMPLE-YB-003").is_none(), "{list}");

    // Offers off: none made; on again: back.
    let (_, list) = post(&format!("{api}/sessions/{}/offers/settings", s3.id), &s3.token, json!({"enabled": false})).await;
    assert_eq!((list["enabled"].as_bool(), list["offers"].as_array().unwrap().len()), (Some(false), 0));
    let (_, list) = post(&format!("{api}/sessions/{}/offers/settings", s3.id), &s3.token, json!({"enabled": true})).await;
    assert!(offer(&list, "BUNDLE-XSECS").is_some());

    // Nobody signed in: no offers.
    let anon = create_session(url).await;
    let (status, _) = get(&format!("{api}/sessions/{}/offers", anon.id), &anon.token).await;
    assert_eq!(status, 403);

    // The operator's report: reach and outcomes per rule.
    let editor = login(url, "wang", PW).await;
    let (status, rep) = get(&format!("{api}/editor/offers/report"), &editor).await;
    assert_eq!(status, 200, "{rep}");
    let rule = |code: &str| rep["rules"].as_array().unwrap().iter().find(|r| r["code"] == code).cloned().unwrap();
    assert!(rep["rules"].as_array().unwrap().len() >= 12, "{rep}");
    assert_eq!((rule(GAOLING)["eligible"].as_u64(), rule(GAOLING)["granted"].as_u64()), (Some(1), Some(1)), "{rep}");
    assert_eq!((rule(YOUDAI)["accepted"].as_u64(), rule(YOUDAI)["declined"].as_u64()), (Some(1), Some(1)), "{rep}");
    let (status, _) = get(&format!("{api}/editor/offers/report"), &s.token).await;
    assert!(status == 401 || status == 403, "a citizen's session token is not staff: {status}");
}

#[tokio::test]
async fn rules_are_edited_published_and_rolled_back_like_guides() {
    let (_dir, server) = setup().await;
    let url = &server.url;
    let api = format!("{url}/api/v1");
    let editor = login(url, "wang", PW).await;
    let s = signed_in(url, "almost").await;
    assert!(offer(&offers(url, &s).await, GAOLING).is_none());

    let (_, g) = get(&format!("{api}/editor/guides/{GAOLING}"), &editor).await;
    let base = g["latest_version"].as_u64().unwrap();
    let mut guide = g["latest"].clone();
    // A rule citing a section that does not exist is refused, naming it.
    guide["eligibility"]["conditions"][0]["cites"] = json!("/conditions/9");
    let (status, e) = post(&format!("{api}/editor/guides/{GAOLING}/drafts"), &editor, json!({"base_version": base, "guide": guide})).await;
    assert_eq!(status, 422, "{e}");
    assert!(e.to_string().contains("/conditions/9"), "{e}");
    // From 79: the 79-year-old is offered it once published, and not after the rollback.
    guide["eligibility"]["conditions"][0]["cites"] = json!("/conditions/0");
    guide["eligibility"]["conditions"][0]["value"] = json!(79);
    let (status, d) = post(&format!("{api}/editor/guides/{GAOLING}/drafts"), &editor, json!({"base_version": base, "guide": guide})).await;
    assert_eq!(status, 201, "{d}");
    assert!(offer(&offers(url, &s).await, GAOLING).is_none(), "a draft is not live");
    let (status, _) = post(&format!("{api}/editor/guides/{GAOLING}/publish"), &editor, json!({"version": d["version"]})).await;
    assert_eq!(status, 200);
    let now = offers(url, &s).await;
    // Granted by the city, but the records hold no account to pay into: it waits for one tap.
    assert_eq!(offer(&now, GAOLING).unwrap_or_else(|| panic!("{now}"))["state"], "confirm");
    let (status, _) = post(&format!("{api}/editor/guides/{GAOLING}/rollback"), &editor, json!({"version": base})).await;
    assert_eq!(status, 200);
    let list = offers(url, &s).await;
    assert!(offer(&list, GAOLING).is_none(), "{list}");
}
