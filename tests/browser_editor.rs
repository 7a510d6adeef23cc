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

#[tokio::test]
async fn an_editor_publishes_and_rolls_back_a_guide() {
    let Some(mut driver) = Driver::start("an_editor_publishes_and_rolls_back_a_guide") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    add_user(dir.path(), "wang", "editor", PW);
    let server = Server::start(dir.path(), None, &[]);
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
        ask_citizen(&citizen, &server.url, "宠物医保怎么办理").await;
    }
    click_text(&editor, "[data-tab]", "服务缺口", WAIT).await;
    wait_text(&editor, ".gap", "宠物医保怎么办理", WAIT).await;
    shot(&editor, "editor-5-gaps.png").await;
    editor.close().await.unwrap();
    citizen.close().await.unwrap();
}
