//! The chat page in headless Chromium (Debian `chromium` + `chromium-driver`): a full chat —
//! quick actions, a question, the streamed answer with its sources card, a citation opening its
//! section, large-font mode, and the history restored after a reload. Screenshots are saved in
//! the test's output dir. Skips (and says so) when chromedriver is not installed.

mod common;

use std::time::Duration;

use common::browser::*;
use common::*;
use fantoccini::Locator;

#[tokio::test]
async fn citizen_chats_in_the_browser() {
    let Some(mut driver) = Driver::start("citizen_chats_in_the_browser") else { return };
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let server = Server::start(dir.path(), None, &[]);
    let c = driver.browser("420,900").await;

    c.goto(&server.url).await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    let title = c.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert!(title.contains("政务服务"), "{title}");

    let input = c.find(Locator::Css("#input")).await.unwrap();
    input.send_keys("换身份证要带什么材料？").await.unwrap();
    c.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    c.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css(".msg.assistant .card")).await.unwrap();
    c.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css(".msg.assistant .sources")).await.unwrap();
    let card = c.find(Locator::Css(".msg.assistant .card h3")).await.unwrap().text().await.unwrap();
    assert!(card.contains("居民身份证换领"), "{card}");
    let answer = c.find(Locator::Css(".msg.assistant .answer")).await.unwrap().text().await.unwrap();
    assert!(answer.contains("原居民身份证"), "{answer}");
    shot(&c, "chat-1-answer.png").await;

    // A citation opens the cited section.
    c.find(Locator::Css(".msg.assistant .cite")).await.unwrap().click().await.unwrap();
    let drawer = c.wait().for_element(Locator::Css("#drawer:not([hidden]) .quote")).await.unwrap();
    assert!(!drawer.text().await.unwrap().is_empty());
    shot(&c, "chat-2-citation.png").await;
    c.find(Locator::Css("#drawer-close")).await.unwrap().click().await.unwrap();

    // Large-font mode for older users, remembered across reloads.
    c.find(Locator::Css("#bigfont")).await.unwrap().click().await.unwrap();
    assert_eq!(c.find(Locator::Css("#bigfont")).await.unwrap().attr("aria-pressed").await.unwrap().as_deref(), Some("true"));

    // Reload: the conversation comes back from the server.
    let before = count(&c, ".msg:not(.welcome)").await;
    c.refresh().await.unwrap();
    c.wait().for_element(Locator::Css(".msg.assistant .card")).await.unwrap();
    assert_eq!(count(&c, ".msg:not(.welcome)").await, before);
    assert!(c.find(Locator::Css("html.big")).await.is_ok(), "large font persisted");
    shot(&c, "chat-3-reloaded-large-font.png").await;
    c.close().await.unwrap();
}
