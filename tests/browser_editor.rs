//! The editor console in headless Chromium beside a citizen's chat: the editor changes 居民身份证
//! 换领's fee and promised time limit, previews, publishes; the citizen asking right after gets
//! the new values; the editor rolls back and the old values return. Screenshots of each step.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::{Client, Locator};

const WAIT: Duration = Duration::from_secs(30);
const PW: &str = "Editor-Pass-2026";

async fn ask_citizen(c: &Client, url: &str, q: &str) -> String {
    // A new conversation each time, so the answer is not a follow-up.
    c.goto(url).await.unwrap();
    c.execute("localStorage.clear();", vec![]).await.unwrap();
    c.refresh().await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    c.find(Locator::Css("#input")).await.unwrap().send_keys(q).await.unwrap();
    c.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while count(c, ".msg.assistant:not(.welcome)").await == 0 || count(c, ".msg.user.pending").await > 0 {
        assert!(std::time::Instant::now() < deadline, "no answer");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    c.find(Locator::Css(".msg.assistant:last-child .bubble")).await.unwrap().text().await.unwrap()
}

async fn set(c: &Client, css: &str, value: &str) {
    let input = c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while !input.is_displayed().await.unwrap_or(false) {
        assert!(std::time::Instant::now() < deadline, "{css} never shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    input.clear().await.unwrap();
    input.send_keys(value).await.unwrap();
}

/// The sample guides served on loopback with the given editors; `None` when chromedriver is
/// missing. The driver and the data dir are returned so they live as long as the test.
fn editor_console(test: &str, editors: &[&str]) -> Option<(Driver, tempfile::TempDir, Server)> {
    let driver = Driver::start(test)?;
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    for e in editors {
        add_user(dir.path(), e, "editor", PW);
    }
    let server = Server::start(dir.path(), None, &[]);
    Some((driver, dir, server))
}

#[tokio::test]
async fn an_editor_publishes_and_rolls_back_a_guide() {
    let Some((mut driver, _dir, server)) = editor_console("an_editor_publishes_and_rolls_back_a_guide", &["wang"]) else { return };
    let editor = driver.browser("1280,900").await;
    let citizen = driver.browser("420,900").await;

    let before = ask_citizen(&citizen, &server.url, "换身份证要交多少钱").await;
    assert!(before.contains("20元"), "{before}");

    editor.goto(&format!("{}/editor", server.url)).await.unwrap();
    set(&editor, "#username", "wang").await;
    set(&editor, "#password", PW).await;
    editor.find(Locator::Css("#login-form button")).await.unwrap().click().await.unwrap();
    set(&editor, "#q", "居民身份证换领").await;
    click_text(&editor, ".item", "居民身份证换领", WAIT).await;
    set(&editor, "#fee-amount-0", "30").await;
    set(&editor, "#f-promised_time_limit", "7").await;
    click_text(&editor, ".actions button", "预览回答", WAIT).await;
    wait_text(&editor, ".preview", "30", WAIT).await;
    shot(&editor, "editor-1-preview.png").await;
    click_text(&editor, ".actions button", "发布", WAIT).await;
    wait_text(&editor, ".versions", "线上", WAIT).await;
    wait_text(&editor, ".detail-head", "线上第 2 版", WAIT).await;
    shot(&editor, "editor-2-published.png").await;

    let after = ask_citizen(&citizen, &server.url, "换身份证要交多少钱").await;
    assert!(after.contains("30元"), "{after}");
    let days = ask_citizen(&citizen, &server.url, "换身份证多久能拿到").await;
    assert!(days.contains("7个工作日"), "{days}");
    shot(&citizen, "editor-3-citizen-sees-new-fee.png").await;

    // The diff of the new version, then roll back to version 1.
    click_text(&editor, ".versions button", "对比上一版", WAIT).await;
    wait_text(&editor, ".diff .add", "30", WAIT).await;
    click_text(&editor, ".versions button", "回滚到此版", WAIT).await;
    editor.accept_alert().await.unwrap();
    wait_text(&editor, ".detail-head", "线上第 1 版", WAIT).await;
    shot(&editor, "editor-4-rolled-back.png").await;
    let back = ask_citizen(&citizen, &server.url, "换身份证要交多少钱").await;
    assert!(back.contains("20元"), "{back}");

    // The gap dashboard shows what citizens asked that no guide answers.
    for _ in 0..3 {
        let a = ask_citizen(&citizen, &server.url, "宠物医保怎么办理").await;
        eprintln!("gap question answered: {a}");
    }
    click_text(&editor, "[data-tab]", "服务缺口", WAIT).await;
    wait_text(&editor, ".gap", "宠物医保怎么办理", WAIT).await;
    shot(&editor, "editor-5-gaps.png").await;
    editor.close().await.unwrap();
    citizen.close().await.unwrap();
}

async fn input_value(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css)).await.unwrap().prop("value").await.unwrap().unwrap_or_default()
}

/// Issue 24: after a rollback the form still showed the rolled-back value ("编辑基于第 2 版 · 线上第
/// 1 版") and 发布 put it back live. Now: the form shows the time limits with the guide's own
/// units (60日, 15个工作日); a form left open while someone else rolls back cannot save or
/// publish over the rollback (the reason is shown); after a rollback in the console the form
/// reloads the live version, and 发布 on it changes nothing.
#[tokio::test]
async fn a_rollback_reloads_the_form_and_publish_never_brings_back_what_was_rolled_back() {
    let test = "a_rollback_reloads_the_form_and_publish_never_brings_back_what_was_rolled_back";
    let Some((mut driver, _dir, server)) = editor_console(test, &["wang", "li"]) else { return };
    let api = format!("{}/api/v1", server.url);
    let editor = driver.browser("1280,1000").await;
    let fee_now = || async {
        let s = create_session(&server.url).await;
        let (_, events) = ask(&server.url, &s, "换身份证要交多少钱", None).await;
        events.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap_or_default().to_string()).collect::<String>()
    };

    editor.goto(&format!("{}/editor", server.url)).await.unwrap();
    set(&editor, "#username", "wang").await;
    set(&editor, "#password", PW).await;
    editor.find(Locator::Css("#login-form button")).await.unwrap().click().await.unwrap();
    set(&editor, "#q", "居民身份证换领").await;
    click_text(&editor, ".item", "居民身份证换领", WAIT).await;
    wait_text(&editor, ".detail-head", "编辑基于第 1 版 · 线上第 1 版", WAIT).await;
    // The units as the guide states them: 60日 (calendar days) and 15个工作日.
    assert_eq!(input_value(&editor, "#f-legal_time_limit").await, "60");
    assert_eq!(input_value(&editor, "#f-legal_time_limit-unit").await, "calendar_days");
    assert_eq!(input_value(&editor, "#f-promised_time_limit-unit").await, "working_days");
    click_text(&editor, ".actions button", "预览回答", WAIT).await;
    wait_text(&editor, ".preview", "法定办结时限为60日", WAIT).await;
    shot(&editor, "editor-rollback-1-units-and-preview.png").await;

    set(&editor, "#fee-amount-0", "30").await;
    click_text(&editor, ".actions button", "发布", WAIT).await;
    wait_text(&editor, ".detail-head", "线上第 2 版", WAIT).await;
    assert!(fee_now().await.contains("30元"));

    // Li rolls back while Wang's form still shows version 2: Wang's edit is refused, not saved over it.
    let li = login(&server.url, "li", PW).await;
    let (status, _) = post(&format!("{api}/editor/guides/SAMPLE-GA-001/rollback"), &li, serde_json::json!({"version": 1})).await;
    assert_eq!(status, 200);
    set(&editor, "#f-promised_time_limit", "7").await;
    click_text(&editor, ".actions button", "发布", WAIT).await;
    wait_text(&editor, ".error", "已被回滚", WAIT).await;
    shot(&editor, "editor-rollback-2-stale-form-refused.png").await;
    assert!(fee_now().await.contains("20元"), "the refused edit changed nothing");

    // Reopened, the form edits the live version 1; publish a new version 3, then roll back to 1 in the console.
    click_text(&editor, ".item", "居民身份证换领", WAIT).await;
    wait_text(&editor, ".detail-head", "编辑基于第 1 版 · 线上第 1 版", WAIT).await;
    assert_eq!(input_value(&editor, "#fee-amount-0").await, "20");
    set(&editor, "#fee-amount-0", "25").await;
    click_text(&editor, ".actions button", "发布", WAIT).await;
    wait_text(&editor, ".detail-head", "线上第 3 版", WAIT).await;
    assert!(fee_now().await.contains("25元"));
    wait_text(&editor, ".versions tr:last-child", "第 1 版", WAIT).await;
    editor.find(Locator::Css(".versions tr:last-child button")).await.unwrap().click().await.unwrap();
    editor.accept_alert().await.unwrap();
    let head = wait_text(&editor, ".detail-head", "编辑基于第 1 版 · 线上第 1 版", WAIT).await;
    assert!(head.text().await.unwrap().contains("第 3 版已撤下"), "{}", head.text().await.unwrap());
    assert_eq!(input_value(&editor, "#fee-amount-0").await, "20", "the form shows the live version, not the rolled-back one");
    // 发布 on the reloaded form republishes nothing.
    click_text(&editor, ".actions button", "发布", WAIT).await;
    wait_text(&editor, ".toast", "无需发布", WAIT).await;
    wait_text(&editor, ".versions tr.live", "第 1 版", WAIT).await;
    shot(&editor, "editor-rollback-3-reloaded-after-rollback.png").await;
    assert!(fee_now().await.contains("20元"), "still rolled back");
    let (_, g) = get(&format!("{api}/editor/guides/SAMPLE-GA-001"), &li).await;
    assert_eq!((g["live_version"].as_u64(), g["latest_version"].as_u64()), (Some(1), Some(3)), "no new version: {g}");
    editor.close().await.unwrap();
}
