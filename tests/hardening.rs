//! End-to-end hardening on the real server (no models): security headers on every response;
//! every bad request (oversize body, bad path parameter, bad query, bad JSON, wrong content
//! type, unknown route, wrong method) answered with the documented JSON error in Chinese; a
//! wrong staff password told apart from a bad session token; `/metrics` refused without its
//! token and to other machines; the data dir, database and uploads owner-only (also when an
//! older version left them readable); citizen sign-ins that expire, and on the chat page (in
//! headless Chromium) a sign-in "在公共设备上" that keeps nothing in localStorage and ends with
//! the tab; personal data masked in the log.

#![cfg(unix)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use banshi_eval::corpus::text_pdf;
use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "Hardening-Test-9";

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

/// A message a person can read: Chinese, and none of the English that axum's rejections say.
fn assert_chinese(v: &Value) {
    let m = v["error"]["message"].as_str().unwrap_or_else(|| panic!("no error message in {v}"));
    assert!(m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "not Chinese: {m}");
    for english in ["Failed", "Invalid", "EOF", "Cannot", "expected", "length limit", "deserialize", "Method Not Allowed"] {
        assert!(!m.contains(english), "{english:?} in {m}");
    }
}

/// Status, headers and body (JSON, else Null) of a response.
async fn read(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    assert!(status < 400 || ct.starts_with("application/json"), "error {status} as {ct:?}: {text}");
    (status, headers, body)
}

fn assert_security_headers(what: &str, h: &reqwest::header::HeaderMap) {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("{what}: no {k} in {h:?}")).to_string();
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert!(get("content-security-policy").contains("frame-ancestors 'none'"), "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert!(get("permissions-policy").contains("camera=()"), "{what}");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
}

#[tokio::test]
async fn headers_and_json_errors_on_every_bad_request() {
    let dir = tempfile::tempdir().unwrap();
    add_user(dir.path(), "agent1", "agent", PASSWORD);
    let server = Server::start(dir.path(), None, &["--max-upload-bytes", "100000"]);
    let (url, api) = (server.url.clone(), format!("{}/api/v1", server.url));
    let c = client();

    // Pages keep a CSP that lets their own scripts and styles run, and may not be framed.
    for page in ["/", "/agent", "/editor"] {
        let r = c.get(format!("{url}{page}")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_security_headers(page, r.headers());
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("style-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    }
    let r = c.get(format!("{api}/quick-actions")).send().await.unwrap();
    assert_security_headers("api", r.headers());
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));

    let s = create_session(&url).await;
    let agent = login(&url, "agent1", PASSWORD).await;

    // A NUL character in a JSON string (no stored text needs one; PostgreSQL cannot hold it):
    // 422 naming it, nothing stored.
    let r =
        c.post(format!("{api}/sessions/{}/messages", s.id)).bearer_auth(&s.token).json(&json!({"text": "办\u{0}事"})).send().await.unwrap();
    let (status, _, v) = read(r).await;
    assert_eq!(status, 422, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("空字符"), "{v}");
    assert!(history(&url, &s).await.is_empty());

    // Oversize body (Content-Length over the limit): 413 from the body limit, as JSON.
    let big = json!({ "channel": "x".repeat(20 * 1024) });
    // The server answers before reading an oversize body and then closes the connection: the
    // client must not reuse it (`connection: close`), or the next request can meet a closed socket.
    let (status, h, v) = read(c.post(format!("{api}/sessions")).header("connection", "close").json(&big).send().await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (413, Some("too_large")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("请求体过大"), "{v}");
    assert_chinese(&v);
    assert_security_headers("413", &h);
    // Oversize upload: the file limit, in MB.
    let part = reqwest::multipart::Part::bytes(vec![b'%'; 200_000]).file_name("a.pdf");
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = c
        .post(format!("{api}/sessions/{}/uploads", s.id))
        .header("connection", "close")
        .bearer_auth(&s.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (status, _, v) = read(r).await;
    assert_eq!((status, v["error"]["code"].as_str()), (413, Some("too_large")), "{v}");
    assert_chinese(&v);

    // A path parameter that is not a number: names the parameter and what it should be.
    let (status, _, v) = read(c.get(format!("{api}/agent/tickets/abc")).bearer_auth(&agent).send().await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("bad_request")), "{v}");
    assert_eq!(v["error"]["message"], "路径参数 id：应为整数，收到“abc”");

    // A bad query parameter.
    let (status, _, v) =
        read(c.get(format!("{api}/sessions/{}/messages?limit=abc", s.id)).bearer_auth(&s.token).send().await.unwrap()).await;
    assert_eq!(status, 422, "{v}");
    assert_eq!(v["error"]["message"], "查询参数 limit：应为整数");

    // Bad JSON: cut short, wrong type, unknown field, wrong content type.
    let login_url = format!("{api}/auth/login");
    let raw = |body: &'static str, ct: &'static str| c.post(&login_url).header("content-type", ct).body(body).send();
    let (status, _, v) = read(raw(r#"{"username": "a", "#, "application/json").await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (422, Some("bad_request")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().starts_with("请求体不是有效的 JSON：内容不完整"), "{v}");
    assert_chinese(&v);
    let (status, _, v) = read(raw(r#"{"username": 1, "password": "x"}"#, "application/json").await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(v["error"]["message"].as_str().unwrap().starts_with("请求体中的字段 username：类型不对，应为字符串，收到整数 1"), "{v}");
    let (_, _, v) = read(raw(r#"{"username": "a", "password": "x", "admin": true}"#, "application/json").await.unwrap()).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("有不认识的字段 admin（可用的字段：username、password）"), "{v}");
    let (status, _, v) = read(raw(r#"{"username": "a"}"#, "text/plain").await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (415, Some("unsupported_media_type")), "{v}");
    assert_chinese(&v);

    // Unknown route and wrong method.
    let (status, h, v) = read(c.get(format!("{api}/no-such-thing")).send().await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (404, Some("not_found")), "{v}");
    assert_eq!(v["error"]["message"], "接口不存在：GET /api/v1/no-such-thing");
    assert_security_headers("404", &h);
    let (status, h, v) = read(c.delete(format!("{api}/sessions")).send().await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (405, Some("method_not_allowed")), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().starts_with("/api/v1/sessions 不支持 DELETE 请求"), "{v}");
    assert_eq!(h.get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
    let (status, _, v) = read(c.get(format!("{url}/no-page")).send().await.unwrap()).await;
    assert_eq!(status, 404);
    assert_chinese(&v);

    // A wrong staff password says so, with its own code; a bad token is still `unauthorized`.
    for (user, pw) in [("agent1", "wrong-password"), ("nobody", PASSWORD)] {
        let (status, _, v) = read(c.post(&login_url).json(&json!({"username": user, "password": pw})).send().await.unwrap()).await;
        assert_eq!(
            (status, v["error"]["code"].as_str(), v["error"]["message"].as_str()),
            (401, Some("invalid_credentials"), Some("用户名或密码不正确")),
            "{v}"
        );
    }
    let (status, _, v) = read(c.get(format!("{api}/auth/me")).bearer_auth("not-a-token").send().await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (401, Some("unauthorized")), "{v}");
}

#[tokio::test]
async fn metrics_need_a_token_or_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &[]);
    let c = client();
    let metrics = format!("{}/metrics", server.url);
    // Default: this machine only (the other end-to-end tests read it this way)…
    let r = c.get(&metrics).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("banshi_"));
    // …not the public relayed by a reverse proxy on this machine.
    let (status, _, v) = read(c.get(&metrics).header("x-forwarded-for", "203.0.113.9").send().await.unwrap()).await;
    assert_eq!((status, v["error"]["code"].as_str()), (403, Some("forbidden")), "{v}");
    assert_chinese(&v);
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), None, &["--metrics-token", "metrics-s3cret"]);
    let metrics = format!("{}/metrics", server.url);
    for token in [None, Some("wrong"), Some("Metrics-s3cret")] {
        let mut req = c.get(&metrics);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let (status, h, v) = read(req.send().await.unwrap()).await;
        assert_eq!((status, v["error"]["code"].as_str()), (401, Some("unauthorized")), "{token:?}: {v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("监控令牌"), "{v}");
        assert_security_headers("metrics 401", &h);
    }
    let r = c.get(&metrics).bearer_auth("metrics-s3cret").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("banshi_"));
}

#[tokio::test]
async fn the_data_dir_database_and_uploads_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ingest(&data, None);
    // What an older version left behind: readable by everyone.
    let old = data.join("uploads/ab");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::write(old.join("ab12"), b"an old upload").unwrap();
    let loose = [
        (data.clone(), 0o755),
        (data.join("uploads"), 0o755),
        (old.clone(), 0o755),
        (old.join("ab12"), 0o644),
        (data.join("banshi.db"), 0o644),
    ];
    for (p, m) in loose {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).unwrap();
    }
    let server = Server::start(&data, None, &[]);
    let s = create_session(&server.url).await;
    let pdf = text_pdf(&["居民身份证".to_string(), "姓名 林晓梅".to_string(), "公民身份号码 35010219930412124X".to_string()]);
    let part = reqwest::multipart::Part::bytes(pdf.clone()).file_name("id.pdf");
    let form = reqwest::multipart::Form::new().part("file", part);
    let r = client()
        .post(format!("{}/api/v1/sessions/{}/uploads", server.url, s.id))
        .bearer_auth(&s.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    assert_eq!(mode(&data), 0o700, "data dir");
    for f in ["banshi.db", "banshi.db-wal", "banshi.db-shm"] {
        assert_eq!(mode(&data.join(f)), 0o600, "{f}");
    }
    let stored = find_file(&data.join("uploads"), &pdf).expect("the upload is stored");
    assert_eq!(mode(&stored), 0o600, "the new upload");
    assert_eq!((mode(&data.join("uploads")), mode(stored.parent().unwrap())), (0o700, 0o700), "upload directories");
    assert_eq!((mode(&old), mode(&old.join("ab12"))), (0o700, 0o600), "an older upload, tightened on start");
    // Nothing anywhere in the data dir is left readable by others.
    let mut stack = vec![data.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            assert_eq!(mode(&p) & 0o077, 0, "{} is {:o}", p.display(), mode(&p));
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

/// The file under `dir` whose content is `bytes`.
fn find_file(dir: &Path, bytes: &[u8]) -> Option<std::path::PathBuf> {
    for e in std::fs::read_dir(dir).ok()? {
        let p = e.ok()?.path();
        let found = if p.is_dir() { find_file(&p, bytes) } else { (std::fs::read(&p).ok()? == bytes).then(|| p.clone()) };
        if found.is_some() {
            return found;
        }
    }
    None
}

async fn profile(url: &str, s: &Session) -> (u16, Value) {
    get(&format!("{url}/api/v1/sessions/{}/profile", s.id), &s.token).await
}

async fn sign_in(url: &str, s: &Session, user: &str, password: &str) -> (u16, Value) {
    post(&format!("{url}/api/v1/sessions/{}/sign-in", s.id), &s.token, json!({"username": user, "password": password})).await
}

#[tokio::test]
async fn citizen_sign_ins_expire_when_idle_or_too_old() {
    let dir = tempfile::tempdir().unwrap();
    load_sample_citizens(dir.path(), PASSWORD);
    let server = Server::start(dir.path(), None, &["--citizen-idle-timeout", "3", "--citizen-max-age", "7"]);
    let url = server.url.clone();

    // Idle: signed in, then not used for longer than the idle timeout.
    let idle = create_session(&url).await;
    assert_eq!(sign_in(&url, &idle, "linxiaomei", PASSWORD).await.0, 200);
    assert_eq!(profile(&url, &idle).await.0, 200);
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let (status, v) = profile(&url, &idle).await;
    assert_eq!((status, v["error"]["code"].as_str()), (403, Some("sign_in_expired")), "{v}");
    assert_eq!(v["error"]["message"], "登录已超时，请重新登录");
    let (status, v) = profile(&url, &idle).await;
    assert_eq!((status, v["error"]["code"].as_str()), (403, Some("forbidden")), "ended for good: {v}");

    // Too old: used every 1.5 s (never idle for 3 s), it still ends 7 s after signing in.
    let busy = create_session(&url).await;
    assert_eq!(sign_in(&url, &busy, "chenzhiqiang", PASSWORD).await.0, 200);
    let started = std::time::Instant::now();
    let mut alive_for = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(12) {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (status, v) = profile(&url, &busy).await;
        if status == 200 {
            alive_for = started.elapsed();
            continue;
        }
        assert_eq!((status, v["error"]["code"].as_str()), (403, Some("sign_in_expired")), "{v}");
        break;
    }
    assert!(alive_for > Duration::from_millis(4400), "used, it outlives the idle timeout: {alive_for:?}");
    assert!(alive_for < Duration::from_secs(7), "but not the maximum age: {alive_for:?}");
    // Signing in again works.
    assert_eq!(sign_in(&url, &busy, "chenzhiqiang", PASSWORD).await.0, 200);
    assert_eq!(profile(&url, &busy).await.0, 200);
}

/// Each run of digits (ASCII or full-width) and check characters in `line`, with spaces,
/// dashes and other separators between them dropped.
fn digit_runs(line: &str) -> Vec<String> {
    let mut runs = vec![String::new()];
    for c in line.chars() {
        if let Some(d) = c.to_digit(10).or_else(|| ('０'..='９').contains(&c).then(|| c as u32 - '０' as u32)) {
            runs.last_mut().unwrap().push(char::from_digit(d, 10).unwrap());
        } else if matches!(c, 'X' | 'x') {
            runs.last_mut().unwrap().push('X');
        } else if !(c.is_whitespace() || "-－+＋()（）\u{200b}".contains(c)) {
            runs.push(String::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

#[tokio::test]
async fn personal_data_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    load_sample_citizens(dir.path(), PASSWORD);
    let server = Server::start(dir.path(), None, &[]);
    let url = server.url.clone();
    let messages = [
        "我叫林晓梅，身份证 3501 0219 9304 1212 4X",
        "身份证350102-19930412-124x，请帮我查",
        "电话+8613905910412",
        "手机 139-0591-0412 谢谢",
        "号码是＋８６　１３９－０５９１－０４１２",
        "联系人：陈志强，电话 (+86) 139 0591 0412",
    ];
    for m in messages {
        let s = create_session(&url).await;
        let (status, _) = ask(&url, &s, m, None).await;
        assert_eq!(status, 200, "{m}");
    }
    // A failed sign-in logs a pseudonym, not the username (a pinyin name).
    let s = create_session(&url).await;
    assert_ne!(sign_in(&url, &s, "linxiaomei", "wrong").await.0, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("message accepted"), "the messages are logged (masked): {log}");
    assert!(log.contains("failed citizen sign-in") && log.contains("u:"), "{log}");
    for secret in ["林晓梅", "陈志强", "linxiaomei"] {
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    for line in log.lines() {
        for run in digit_runs(line) {
            for number in ["35010219930412124X", "13905910412", "19930412", "0591041"] {
                assert!(!run.contains(number), "{number} survives in {line:?}");
            }
        }
    }
}

/// The page's storage, as `{"local": {key: value}, "session": {key: value}}` (banshi keys only).
async fn storage(c: &fantoccini::Client) -> Value {
    let js = "const dump = (s) => Object.fromEntries(Object.keys(s).filter((k) => k.startsWith('banshi.')).map((k) => [k, s.getItem(k)]));
              return { local: dump(localStorage), session: dump(sessionStorage) };";
    c.execute(js, vec![]).await.unwrap()
}

#[tokio::test]
async fn a_public_device_sign_in_ends_with_the_tab_and_stored_tokens_expire() {
    use common::browser::*;
    use fantoccini::Locator;
    const WAIT: Duration = Duration::from_secs(30);
    let Some(mut driver) = Driver::start("a_public_device_sign_in_ends_with_the_tab_and_stored_tokens_expire") else { return };
    let dir = tempfile::tempdir().unwrap();
    load_sample_citizens(dir.path(), PASSWORD);
    let server = Server::start(dir.path(), None, &["--citizen-idle-timeout", "6"]);
    let c = driver.browser("430,900").await;
    c.goto(&server.url).await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();

    // Sign in on a public device.
    c.find(Locator::Css("#signin")).await.unwrap().click().await.unwrap();
    c.wait().for_element(Locator::Css("#si-user")).await.unwrap().send_keys("linxiaomei").await.unwrap();
    c.find(Locator::Css("#si-pass")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    let public = c.find(Locator::Css("#si-public")).await.unwrap();
    assert!(wait_text(&c, ".signin .check", "在公共设备上", WAIT).await.is_displayed().await.unwrap());
    public.click().await.unwrap();
    shot(&c, "hardening-public-sign-in.png").await;
    c.find(Locator::Css(".signin .primary")).await.unwrap().click().await.unwrap();
    wait_text(&c, "#signin", "林晓梅", WAIT).await;
    let st = storage(&c).await;
    assert_eq!(st["local"], json!({}), "nothing of the conversation in localStorage: {st}");
    assert!(st["session"]["banshi.session"].is_string() && st["session"]["banshi.citizen"].is_string(), "{st}");
    assert_eq!(st["session"]["banshi.public"], "1");

    // A reload keeps it (same tab)…
    c.refresh().await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    wait_text(&c, "#signin", "林晓梅", WAIT).await;
    // …a new tab (what is left after closing this one) knows nothing of it.
    let first = c.window().await.unwrap();
    let tab = c.new_window(true).await.unwrap();
    c.switch_to_window(tab.handle).await.unwrap();
    c.goto(&server.url).await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    assert_eq!(c.find(Locator::Css("#signin")).await.unwrap().text().await.unwrap(), "登录");
    assert_eq!(storage(&c).await["session"], json!({}));

    // Back in the first tab: unused for longer than the idle timeout, the sign-in has ended on
    // the server, and the page says so after a reload.
    c.switch_to_window(first).await.unwrap();
    tokio::time::sleep(Duration::from_secs(7)).await;
    c.refresh().await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    wait_text(&c, "#signin", "登录", WAIT).await;
    assert!(!c.find(Locator::Css("#signin")).await.unwrap().text().await.unwrap().contains("林晓梅"));

    // A token in localStorage that is too old is forgotten on load.
    let tab = c.new_window(true).await.unwrap();
    c.switch_to_window(tab.handle).await.unwrap();
    c.goto(&server.url).await.unwrap();
    let old = json!({"id": "0123", "token": "old", "created": 0, "used": 0}).to_string();
    let js = "localStorage.setItem('banshi.session', arguments[0]); localStorage.setItem('banshi.citizen', arguments[1]);";
    c.execute(js, vec![json!(old), json!(r#"{"display_name":"林晓梅"}"#)]).await.unwrap();
    c.refresh().await.unwrap();
    c.wait().for_element(Locator::Css("#quick button")).await.unwrap();
    let st = storage(&c).await;
    assert!(st["local"].get("banshi.session").is_none(), "{st}");
    assert!(st["local"].get("banshi.citizen").is_none_or(|c| c == "null"), "{st}");
    assert_eq!(c.find(Locator::Css("#signin")).await.unwrap().text().await.unwrap(), "登录");
    shot(&c, "hardening-public-device.png").await;
}
