//! Shared helpers for end-to-end tests: a real `banshi` process on a loopback port with its
//! own data dir, and an SSE client.
#![allow(dead_code)]

pub mod browser;
pub mod citizens;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_banshi");

/// The sample guides only (fast to index, and what the tests ask about).
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge/guides/sample")
}

/// Where the real models are, if `banshi models fetch` made them.
pub fn real_models() -> Option<PathBuf> {
    let dir = std::env::var_os("BANSHI_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/banshi/models"));
    use banshi_models::files::{EMBEDDER_FILE, GENERATOR_FILE, GENERATOR_TOKENIZER_FILE};
    let ok = [GENERATOR_FILE, GENERATOR_TOKENIZER_FILE, EMBEDDER_FILE].iter().all(|f| dir.join(f).exists());
    ok.then_some(dir)
}

/// Import the sample guides into `data` (sparse-only unless `models` is given).
pub fn ingest(data: &Path, models: Option<&Path>) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(data).arg("ingest").arg("--path").arg(sample_dir());
    match models {
        Some(m) => cmd.arg("--models-dir").arg(m),
        None => cmd.arg("--no-models"),
    };
    let out = cmd.env("BANSHI_LOG", "warn").output().expect("running banshi ingest");
    assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Import the sample guides and the 一件事 bundles built on them (sparse-only).
pub fn ingest_with_bundles(data: &Path) {
    let bundles = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge/guides/bundles");
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(["--no-models", "ingest", "--path"])
        .arg(sample_dir())
        .arg("--path")
        .arg(bundles)
        .env("BANSHI_LOG", "warn")
        .output()
        .expect("running banshi ingest");
    assert!(out.status.success(), "ingest failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Load the fictional sample citizens and e-licences, all with `password`.
pub fn load_sample_citizens(data: &Path, password: &str) {
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(["citizens", "samples"])
        .env("BANSHI_SAMPLE_PASSWORD", password)
        .output()
        .expect("running banshi citizens samples");
    assert!(out.status.success(), "citizens samples failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(password), "a chosen password is not echoed");
}

/// The URL a starting `banshi` process prints after `prefix` on standard output (piped),
/// within 180 s; `None` if it never does.
pub fn announced_url(child: &mut Child, prefix: &'static str) -> Option<String> {
    let stdout = child.stdout.take()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(prefix) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(180)).ok()
}

/// A running `banshi serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Server {
    /// Start on 127.0.0.1 with a free port; `models` = None runs without models.
    pub fn start(data: &Path, models: Option<&Path>, extra: &[&str]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(data);
        match models {
            Some(m) => cmd.arg("--models-dir").arg(m),
            None => cmd.arg("--no-models"),
        };
        cmd.args(["serve", "--addr", "127.0.0.1:0", "--shutdown-grace", "5"]).args(extra);
        // The log goes to `server.log` in the data dir (tests read it; a failing test prints it).
        let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join("server.log")).expect("server log file");
        let mut child =
            cmd.env("BANSHI_LOG", "warn,banshi_server=info").stdout(Stdio::piped()).stderr(log).spawn().expect("starting banshi serve");
        // Loading the real models takes a while; without them start-up is quick.
        let url = announced_url(&mut child, "banshi listening on ").unwrap_or_else(|| {
            let _ = child.kill();
            panic!("server did not report its address; its log:\n{}", std::fs::read_to_string(data.join("server.log")).unwrap_or_default())
        });
        Server { child, url, log: data.join("server.log") }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait for the process to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- last lines of {} ---", self.log.display());
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// A running `banshi serve-models`; killed when dropped.
pub struct ModelNode {
    pub child: Child,
    pub url: String,
}

impl ModelNode {
    pub fn start(models: &Path, addr: &str) -> ModelNode {
        let mut child = Command::new(BIN)
            .arg("--models-dir")
            .arg(models)
            .args(["serve-models", "--addr", addr])
            .env("BANSHI_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting banshi serve-models");
        let url = announced_url(&mut child, "banshi model node listening on ").expect("model node did not report its address");
        ModelNode { child, url }
    }
}

impl Drop for ModelNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(300)).build().unwrap()
}

pub struct Session {
    pub id: String,
    pub token: String,
}

pub async fn create_session(url: &str) -> Session {
    let r = client().post(format!("{url}/api/v1/sessions")).json(&serde_json::json!({"channel": "web"})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.unwrap();
    Session { id: v["session_id"].as_str().unwrap().into(), token: v["token"].as_str().unwrap().into() }
}

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub event: String,
    pub data: Value,
}

/// Parse a complete `text/event-stream` body.
pub fn parse_sse(body: &str) -> Vec<Sse> {
    let mut out = Vec::new();
    for block in body.split("\n\n") {
        let (mut event, mut data) = ("message".to_string(), String::new());
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        if !data.is_empty() {
            out.push(Sse { event, data: serde_json::from_str(&data).unwrap_or(Value::String(data)) });
        }
    }
    out
}

/// Send a message and read the whole SSE answer.
pub async fn ask(url: &str, s: &Session, text: &str, client_id: Option<&str>) -> (u16, Vec<Sse>) {
    let mut body = serde_json::json!({"text": text});
    if let Some(c) = client_id {
        body["client_id"] = c.into();
    }
    let r = client().post(format!("{url}/api/v1/sessions/{}/messages", s.id)).bearer_auth(&s.token).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    if status != 200 {
        return (status, vec![Sse { event: "http_error".into(), data: serde_json::from_str(&text).unwrap_or(Value::Null) }]);
    }
    (status, parse_sse(&text))
}

pub async fn history(url: &str, s: &Session) -> Vec<Value> {
    let r = client().get(format!("{url}/api/v1/sessions/{}/messages", s.id)).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["messages"].as_array().unwrap().clone()
}

pub fn names(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// POST `body` as JSON with a bearer token; the status and the JSON answer (Null if none).
pub async fn post(url: &str, token: &str, body: Value) -> (u16, Value) {
    let r = client().post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// GET with a bearer token; the status and the JSON answer (Null if none).
pub async fn get(url: &str, token: &str) -> (u16, Value) {
    let r = client().get(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Add a staff user to `data` through `banshi users add` (password on standard input).
pub fn add_user(data: &Path, username: &str, role: &str, password: &str) {
    add_user_with(data, &[], username, role, password)
}

/// As [`add_user`], with global flags (`--database-url …`) before the subcommand.
pub fn add_user_with(data: &Path, global: &[String], username: &str, role: &str, password: &str) {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(global)
        .args(["users", "add", "--username", username, "--display-name", &format!("{username}客服"), "--role", role, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running banshi users add");
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "users add failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(password), "the password is never echoed");
}

/// Log in; returns the console token.
pub async fn login(url: &str, username: &str, password: &str) -> String {
    let r = client()
        .post(format!("{url}/api/v1/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "log-in of {username}");
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// Reads Server-Sent Events from a long-lived response, one at a time.
pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

impl SseReader {
    /// GET `url` with the bearer `token` and start reading its event stream.
    pub async fn open(url: &str, token: &str) -> SseReader {
        let r = client().get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        SseReader::of(r)
    }

    /// Read the events of a response already received.
    pub fn of(r: reqwest::Response) -> SseReader {
        SseReader { stream: Box::pin(r.bytes_stream()), buf: String::new() }
    }

    /// The next event, or None when the stream ends or `wait` passes.
    pub async fn next(&mut self, wait: Duration) -> Option<Sse> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(i) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..i + 2).collect();
                if let Some(e) = parse_sse(&block).pop() {
                    return Some(e);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Skip events until one matches; panics after `wait` with what was seen.
    pub async fn until(&mut self, wait: Duration, what: &str, pred: impl Fn(&Sse) -> bool) -> Sse {
        let deadline = tokio::time::Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(e) if pred(&e) => return e,
                Some(e) => seen.push(format!("{} {}", e.event, e.data)),
                None => panic!("no {what} within {wait:?}; saw: {seen:#?}"),
            }
        }
    }
}
