//! Headless Chromium through Debian's chromedriver, for the browser tests: one driver process,
//! any number of browser sessions (a citizen and an agent side by side), screenshots in the
//! test's output dir.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A running chromedriver; killed when dropped.
pub struct Driver {
    child: Child,
    port: u16,
    profiles: Vec<tempfile::TempDir>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Start chromedriver, or say why the test skips and return None.
    pub fn start(test: &str) -> Option<Driver> {
        if !std::path::Path::new(CHROMEDRIVER).exists() {
            eprintln!("SKIP {test}: {CHROMEDRIVER} missing (apt-get install chromium chromium-driver; .ci/run does)");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER).arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        Some(Driver { child, port, profiles: Vec::new() })
    }

    /// A new headless browser session with its own profile; `size` is "WIDTH,HEIGHT". Headless
    /// Chromium never makes a window narrower than 500 px, so a smaller width is silently 500:
    /// use [`Driver::phone`] for a real phone viewport.
    pub async fn browser(&mut self, size: &str) -> Client {
        self.session(size, None).await
    }

    /// A session emulating a phone (chromedriver mobileEmulation: mobile viewport, touch, pixel
    /// ratio 1): `innerWidth` is exactly `width`, which a plain window cannot give below 500 px.
    pub async fn phone(&mut self, width: u32, height: u32) -> Client {
        let metrics =
            serde_json::json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0, "mobile": true, "touch": true}});
        self.session(&format!("{width},{height}"), Some(metrics)).await
    }

    async fn session(&mut self, size: &str, mobile: Option<serde_json::Value>) -> Client {
        let profile = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--lang=zh-CN",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(format!("--window-size={size}"));
        args.push(format!("--user-data-dir={}", profile.path().display()));
        // The profile dir must outlive the session; it goes with the driver.
        self.profiles.push(profile);
        let mut caps = serde_json::Map::new();
        let mut chrome = serde_json::json!({"binary": "/usr/bin/chromium", "args": args});
        if let Some(m) = mobile {
            chrome["mobileEmulation"] = m;
        }
        caps.insert("goog:chromeOptions".into(), chrome);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        for _ in 0..50 {
            if let Ok(c) =
                ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&format!("http://127.0.0.1:{}", self.port)).await
            {
                return c;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("could not start a chromium session through chromedriver");
    }
}

/// Save a screenshot as `<target tmp>/browser/<name>`.
pub async fn shot(c: &Client, name: &str) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
    eprintln!("screenshot: {}", dir.join(name).display());
}

pub async fn count(c: &Client, css: &str) -> usize {
    c.find_all(Locator::Css(css)).await.unwrap().len()
}

/// Wait until an element matching `css` contains `text`; panics after `wait` naming both.
pub async fn wait_text(c: &Client, css: &str, text: &str, wait: Duration) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + wait;
    loop {
        for e in c.find_all(Locator::Css(css)).await.unwrap() {
            if e.text().await.unwrap_or_default().contains(text) {
                return e;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no {css:?} containing {text:?} within {wait:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Click the element matching `css` that contains `text`, retrying while the page re-renders
/// (live updates replace elements under the cursor).
pub async fn click_text(c: &Client, css: &str, text: &str, wait: Duration) {
    let deadline = std::time::Instant::now() + wait;
    loop {
        let e = wait_text(c, css, text, deadline.saturating_duration_since(std::time::Instant::now())).await;
        match e.click().await {
            Ok(_) => return,
            Err(err) => assert!(std::time::Instant::now() < deadline, "clicking {css:?} {text:?}: {err}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
