//! The chat page in headless Chromium (Debian `chromium` + `chromium-driver`): a full chat —
//! quick actions, a question, the streamed answer with its sources card, a citation opening its
//! section, large-font mode, and the history restored after a reload. Screenshots are saved in
//! the test's output dir. Skips (and says so) when chromedriver is not installed.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn browser(port: u16, profile: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    let args = [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage", "--window-size=420,900", "--lang=zh-CN",
    ];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    caps.insert("goog:chromeOptions".into(), serde_json::json!({"binary": "/usr/bin/chromium", "args": args}));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    for _ in 0..50 {
        if let Ok(c) = ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&format!("http://127.0.0.1:{port}")).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("could not start a chromium session through chromedriver");
}

async fn shot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
    eprintln!("screenshot: {}", dir.join(name).display());
}

async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.unwrap().len()
}

#[tokio::test]
async fn citizen_chats_in_the_browser() {
    if !std::path::Path::new("/usr/bin/chromedriver").exists() {
        eprintln!("SKIP citizen_chats_in_the_browser: /usr/bin/chromedriver missing (apt-get install chromium chromium-driver)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    let server = Server::start(dir.path(), None, &[]);
    let port = free_port();
    let _driver = Driver(Command::new("/usr/bin/chromedriver").arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let profile = tempfile::tempdir().unwrap();
    let c = browser(port, profile.path()).await;

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
    shot(&c, "1-answer.png").await;

    // A citation opens the cited section.
    c.find(Locator::Css(".msg.assistant .cite")).await.unwrap().click().await.unwrap();
    let drawer = c.wait().for_element(Locator::Css("#drawer:not([hidden]) .quote")).await.unwrap();
    assert!(!drawer.text().await.unwrap().is_empty());
    shot(&c, "2-citation.png").await;
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
    shot(&c, "3-reloaded-large-font.png").await;
    c.close().await.unwrap();
}
