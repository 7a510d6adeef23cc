//! 边聊边办 in headless Chromium: a citizen signs in, asks “孩子刚出生要办什么”, is offered the
//! 新生儿出生一件事 bundle, starts it, sees the merged form pre-filled from the profile and the
//! e-licences (with source tags and 免提交 materials), answers the missing fields in the chat,
//! corrects a field inline (a wrong phone shows its error next to the field), submits, and gets
//! a tracking number whose progress the chat answers. Screenshots in the test's output dir.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::Locator;

const WAIT: Duration = Duration::from_secs(30);

async fn say(c: &fantoccini::Client, text: &str) {
    let before = count(c, ".msg.assistant").await;
    let input = c.find(Locator::Css("#input")).await.unwrap();
    input.send_keys(text).await.unwrap();
    c.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while count(c, ".msg.assistant").await <= before || count(c, ".msg.user.pending").await > 0 {
        assert!(std::time::Instant::now() < deadline, "no answer to {text:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test]
async fn newborn_bundle_is_filled_in_the_chat_and_submitted() {
    let Some(mut driver) = Driver::start("newborn_bundle_is_filled_in_the_chat_and_submitted") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest_with_bundles(dir.path());
    load_sample_citizens(dir.path(), "Sample-Pass-2026");
    let server = Server::start(dir.path(), None, &[]);
    let c = driver.browser("430,1400").await;
    c.goto(&server.url).await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();

    // Sign in (统一身份认证): a wrong password is explained, the right one shows the name.
    c.find(Locator::Css("#signin")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#si-user")).await.unwrap().send_keys("linxiaomei").await.unwrap();
    c.find(Locator::Css("#si-pass")).await.unwrap().send_keys("nope-nope-nope").await.unwrap();
    c.find(Locator::Css(".signin .primary")).await.unwrap().click().await.unwrap();
    wait_text(&c, ".signin .ferror", "账号或密码不正确", WAIT).await;
    let pass = c.find(Locator::Css("#si-pass")).await.unwrap();
    pass.clear().await.unwrap();
    pass.send_keys("Sample-Pass-2026").await.unwrap();
    c.find(Locator::Css(".signin .primary")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#signin", "林晓梅", WAIT).await;

    say(&c, "孩子刚出生要办什么").await;
    let card = wait_text(&c, ".card.bundle h3", "新生儿出生一件事", WAIT).await;
    assert!(card.text().await.unwrap().contains("一件事"));
    shot(&c, "apply-1-bundle.png").await;

    click_text(&c, ".options.actions button", "开始办理", WAIT).await;
    let form = wait_text(&c, ".formcard", "新生儿姓名", WAIT).await;
    let text = form.text().await.unwrap();
    assert!(text.contains("电子证照·出生医学证明") && text.contains("个人档案"), "sources shown: {text}");
    assert!(text.contains("免提交"), "{text}");
    let child = c.find(Locator::Css(".formcard [data-key=child_name] input")).await.unwrap();
    assert_eq!(child.prop("value").await.unwrap().as_deref(), Some("陈思语"));
    shot(&c, "apply-2-prefilled.png").await;

    for answer in ["随母，新生儿", "工商银行，邮寄", "首次办理"] {
        say(&c, answer).await;
    }
    wait_text(&c, ".msg.assistant .answer", "信息已填写完整", WAIT).await;
    wait_text(&c, ".formcard:not(.stale) [data-key=delivery] .source", "对话中提到", WAIT).await;

    // An inline correction: a wrong phone is refused next to the field, a right one is kept.
    let phone = c.find(Locator::Css(".formcard:not(.stale) [data-key=phone] input")).await.unwrap();
    phone.clear().await.unwrap();
    phone.send_keys("1390591\t").await.unwrap();
    wait_text(&c, ".formcard:not(.stale) [data-key=phone] .ferror", "11 位", WAIT).await;
    shot(&c, "apply-3-field-error.png").await;
    let phone = c.find(Locator::Css(".formcard:not(.stale) [data-key=phone] input")).await.unwrap();
    phone.clear().await.unwrap();
    phone.send_keys("13905910000\t").await.unwrap();
    wait_text(&c, ".formcard:not(.stale) [data-key=phone] .source", "本人填写", WAIT).await;

    click_text(&c, ".formcard:not(.stale) .primary", "提交申请", WAIT).await;
    let done = wait_text(&c, ".card.done", "受理编号", WAIT).await;
    let no = done.find(Locator::Css(".tracking b")).await.unwrap().text().await.unwrap();
    assert!(no.starts_with("BS") && no.len() == 16, "{no}");
    shot(&c, "apply-4-submitted.png").await;

    click_text(&c, ".card.done button", "查询办理进度", WAIT).await;
    wait_text(&c, ".msg.assistant .answer", "已提交，等待受理", WAIT).await;
    shot(&c, "apply-5-progress.png").await;
    c.close().await.unwrap();
}
