//! The departments' side of 边聊边办 in headless Chromium: two citizens' applications (submitted
//! over the API) appear in the agent console's 申请 tab; the agent opens one and sees its values
//! with their labels and sources, and only the steps the state machine allows (受理 → 转入审核 →
//! 办结, or 退回). A step someone else took first is refused with the server's message and the
//! page shows the new state; the other application is returned with a reason picked from the
//! common ones. Screenshots in the test's output dir.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

const CITIZEN_PW: &str = "Sample-Pass-2026";
const AGENT_PW: &str = "Agent-Pass-2026";
const WAIT: Duration = Duration::from_secs(30);

/// A signed-in sample citizen fills the 新生儿出生一件事 form in the chat and submits it; the
/// tracking number.
async fn submit_newborn(url: &str) -> String {
    let api = format!("{url}/api/v1");
    let s = create_session(url).await;
    let (status, me) =
        post(&format!("{api}/sessions/{}/sign-in", s.id), &s.token, json!({"username": "linxiaomei", "password": CITIZEN_PW})).await;
    assert_eq!(status, 200, "{me}");
    for text in ["孩子刚出生，要办哪些手续？", "开始办理", "随母，新生儿", "工商银行，邮寄", "首次办理"] {
        let (status, _) = ask(url, &s, text, None).await;
        assert_eq!(status, 200, "{text}");
    }
    let (_, form) = get(&format!("{api}/sessions/{}/form", s.id), &s.token).await;
    assert_eq!(form["complete"], true, "{form}");
    let values: serde_json::Map<String, Value> = form["fields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| !f["value"].is_null())
        .map(|f| (f["key"].as_str().unwrap().to_string(), f["value"].clone()))
        .collect();
    let (status, app) =
        post(&format!("{api}/sessions/{}/applications", s.id), &s.token, json!({"target": "BUNDLE-XSECS", "values": values})).await;
    assert_eq!(status, 201, "{app}");
    app["tracking_no"].as_str().unwrap().to_string()
}

/// The labels of the step buttons the detail offers, once it shows `status`.
async fn steps_at(c: &Client, status: &str) -> Vec<String> {
    wait_text(c, ".detail-head h2 .tag", status, WAIT).await;
    let mut out = Vec::new();
    for b in c.find_all(Locator::Css(".detail-head .actions button[data-step]")).await.unwrap() {
        out.push(b.text().await.unwrap());
    }
    out
}

#[tokio::test]
async fn agent_moves_applications_only_by_the_allowed_steps() {
    let Some(mut driver) = Driver::start("agent_moves_applications_only_by_the_allowed_steps") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest_with_bundles(dir.path());
    load_sample_citizens(dir.path(), CITIZEN_PW);
    add_user(dir.path(), "zhou", "agent", AGENT_PW);
    let server = Server::start(dir.path(), None, &[]);
    let first = submit_newborn(&server.url).await;
    let second = submit_newborn(&server.url).await;

    let c = driver.browser("1280,900").await;
    c.goto(&format!("{}/agent", server.url)).await.unwrap();
    c.wait().at_most(WAIT).for_element(Locator::Css("#login-form")).await.unwrap();
    c.find(Locator::Css("#username")).await.unwrap().send_keys("zhou").await.unwrap();
    c.find(Locator::Css("#password")).await.unwrap().send_keys(AGENT_PW).await.unwrap();
    c.find(Locator::Css("#login-form button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#n-applications", "2", WAIT).await;

    // The 申请 tab lists both, waiting for 受理; the filter narrows by status.
    c.find(Locator::Css(".tabs button[data-view=applications]")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#list .item.app", &second, WAIT).await;
    c.find(Locator::Css("#app-filter button[data-status=done]")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#list .none", "暂无已办结的申请", WAIT).await;
    c.find(Locator::Css("#app-filter button[data-status=submitted]")).await.unwrap().click().await.unwrap();
    assert_eq!(count(&c, "#list .item.app").await, 2);
    let row = wait_text(&c, "#list .item.app", &first, WAIT).await;
    assert!(row.text().await.unwrap().contains("待受理"));

    // The detail: values under their labels with their sources, and only 受理 or 退回.
    click_text(&c, "#list .item.app", &first, WAIT).await;
    assert_eq!(steps_at(&c, "待受理").await, ["受理", "退回"]);
    let values = wait_text(&c, ".values", "新生儿姓名", WAIT).await.text().await.unwrap();
    assert!(values.contains("陈思语") && values.contains("电子证照·出生医学证明") && values.contains("个人档案"), "{values}");
    wait_text(&c, ".history-list", "提交申请", WAIT).await;
    shot(&c, "applications-1-submitted.png").await;

    // Another member of staff accepts it first: the page's 受理 is refused with the server's
    // message, and the page then shows what is allowed now.
    let other = login(&server.url, "zhou", AGENT_PW).await;
    let (status, body) =
        post(&format!("{}/api/v1/agent/applications/{first}/status", server.url), &other, json!({"status": "accepted"})).await;
    assert_eq!(status, 200, "{body}");
    click_text(&c, ".detail-head .actions button", "受理", WAIT).await;
    wait_text(&c, ".toast.bad", "已是“已受理”状态", WAIT).await;
    let steps = steps_at(&c, "已受理").await;
    assert_eq!(steps, ["转入审核", "退回"], "办结 is not offered before the review");

    // 转入审核, then 办结; nothing follows.
    click_text(&c, ".detail-head .actions button", "转入审核", WAIT).await;
    assert_eq!(steps_at(&c, "审核中").await, ["办结", "退回"]);
    click_text(&c, ".detail-head .actions button", "办结", WAIT).await;
    assert!(steps_at(&c, "已办结").await.is_empty());
    wait_text(&c, ".detail-head .actions", "已办结，无后续步骤", WAIT).await;
    let history = wait_text(&c, ".history-list", "办结", WAIT).await.text().await.unwrap();
    for step in ["提交申请", "受理", "转入审核", "办结"] {
        assert!(history.contains(step), "{step} in {history}");
    }
    shot(&c, "applications-2-done.png").await;

    // The second is returned with a reason from the common ones; the citizen's status says why.
    click_text(&c, "#list .item.app", &second, WAIT).await;
    assert_eq!(steps_at(&c, "待受理").await, ["受理", "退回"]);
    click_text(&c, ".detail-head .actions button", "退回", WAIT).await;
    c.wait().at_most(WAIT).for_element(Locator::Css("#return-form:not([hidden])")).await.unwrap();
    click_text(&c, "#return-form .chip", "材料不全", WAIT).await;
    shot(&c, "applications-3-return-form.png").await;
    click_text(&c, "#return-form button[type=submit]", "确认退回", WAIT).await;
    assert!(steps_at(&c, "已退回").await.is_empty());
    wait_text(&c, ".detail-head .error", "退回原因：材料不全，请补充", WAIT).await;
    shot(&c, "applications-4-returned.png").await;
    let (_, progress) = get(&format!("{}/api/v1/agent/applications/{second}", server.url), &other).await;
    assert_eq!((progress["status"].as_str(), progress["returned_reason"].as_str()), (Some("returned"), Some("材料不全，请补充")));

    // The list follows: nothing waits any more.
    c.find(Locator::Css("#app-filter button[data-status=\"\"]")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#n-applications", "0", WAIT).await;
    c.close().await.unwrap();
}
