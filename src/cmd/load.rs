//! `banshi bench load`: a bounded load test against running servers on loopback — N
//! concurrent sessions × M messages, each answer read to its `done` event — then a check that
//! every accepted message and its answer are in the database (through the history API). With
//! several `--url`s (replicas sharing one database) sessions are spread over them in turn, and
//! each session's history is read back from the next replica, not the one it talked to.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use banshi_eval::percentile;
use serde_json::{json, Value};
use tokio::sync::Mutex;

#[derive(clap::Args, Debug)]
pub struct LoadArgs {
    /// Base URL of a running `banshi serve` (loopback only); repeat it, or separate with
    /// commas, for replicas.
    #[arg(long, env = "BANSHI_LOAD_URL", default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    pub url: Vec<String>,
    /// Concurrent sessions.
    #[arg(long, env = "BANSHI_LOAD_SESSIONS", default_value_t = 200)]
    pub sessions: usize,
    /// Messages per session, sent one after another.
    #[arg(long, env = "BANSHI_LOAD_MESSAGES", default_value_t = 3)]
    pub messages: usize,
    /// Give up on the whole run after this many seconds.
    #[arg(long, env = "BANSHI_LOAD_TIMEOUT", default_value_t = 600)]
    pub timeout: u64,
}

const QUESTIONS: &[&str] =
    &["换身份证要带什么材料？", "那要多久？", "在哪里办？", "收费吗？", "结婚登记需要什么材料？", "办护照要多少钱？"];

#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    first_event: Vec<f64>,
    errors: Vec<String>,
    refused: usize,
    /// (session number, session id, token, accepted user message ids)
    accepted: Vec<(usize, String, String, Vec<i64>)>,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    loopback_only(&args.url)?;
    let urls = &args.url;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(args.timeout)).pool_max_idle_per_host(args.sessions).build()?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..args.sessions {
        let (client, tally, url, m) = (client.clone(), tally.clone(), urls[n % urls.len()].clone(), args.messages);
        tasks.push(tokio::spawn(async move { session(&client, &url, n, m, &tally).await }));
    }
    let all = futures::future::join_all(tasks);
    tokio::time::timeout(Duration::from_secs(args.timeout), all).await.context("load run timed out")?;
    let wall = started.elapsed().as_secs_f64();

    // Every accepted message, and its answer, must be stored.
    let t = tally.lock().await;
    let (mut stored, mut missing) = (0usize, Vec::new());
    for (n, id, token, ids) in &t.accepted {
        stored += check_stored(&client, &urls[(n + 1) % urls.len()], id, token, ids, &mut missing).await?;
    }
    let accepted: usize = t.accepted.iter().map(|(_, _, _, ids)| ids.len()).sum();
    println!("load: {} sessions × {} messages against {} in {wall:.1} s", args.sessions, args.messages, urls.join(", "));
    println!("  answers: {} ok, {} refused (429), {} errors", t.latencies.len(), t.refused, t.errors.len());
    println!(
        "  full answer latency: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; first event p50 {:.0} ms, p95 {:.0} ms",
        percentile(&t.latencies, 50.0),
        percentile(&t.latencies, 95.0),
        percentile(&t.latencies, 100.0),
        percentile(&t.first_event, 50.0),
        percentile(&t.first_event, 95.0)
    );
    println!("  throughput: {:.1} answers/s", t.latencies.len() as f64 / wall);
    println!("  stored: {stored} of {accepted} accepted messages are in the database with their answers");
    verdict(&t.errors, &missing)
}

/// Print the first errors and missing messages; fail when there are any.
pub(super) fn verdict(errors: &[String], missing: &[String]) -> anyhow::Result<()> {
    for e in errors.iter().take(5) {
        println!("  error: {e}");
    }
    for m in missing.iter().take(5) {
        println!("  missing: {m}");
    }
    if !missing.is_empty() || !errors.is_empty() {
        bail!("{} errors, {} accepted messages not stored", errors.len(), missing.len());
    }
    Ok(())
}

/// Load tests target this machine only.
pub(super) fn loopback_only(urls: &[String]) -> anyhow::Result<()> {
    for url in urls {
        let host = url.trim_start_matches("http://").split(['/', ':']).next().unwrap_or("");
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            bail!("load tests only target loopback, not {url}");
        }
    }
    Ok(())
}

/// Open a session on `url`: its id and token.
pub(super) async fn create_session(client: &reqwest::Client, url: &str, channel: &str) -> anyhow::Result<(String, String)> {
    let v: Value =
        client.post(format!("{url}/api/v1/sessions")).json(&json!({"channel": channel})).send().await?.error_for_status()?.json().await?;
    Ok((v["session_id"].as_str().unwrap_or_default().to_string(), v["token"].as_str().unwrap_or_default().to_string()))
}

/// How many of `questions` are stored with a complete answer, read back from `url`; the
/// others are added to `missing`.
pub(super) async fn check_stored(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    token: &str,
    questions: &[i64],
    missing: &mut Vec<String>,
) -> anyhow::Result<usize> {
    let h: Value = client.get(format!("{url}/api/v1/sessions/{id}/messages?limit=200")).bearer_auth(token).send().await?.json().await?;
    let msgs = h["messages"].as_array().cloned().unwrap_or_default();
    let mut stored = 0;
    for q in questions {
        let asked = msgs.iter().any(|m| m["id"] == *q);
        let answered = msgs.iter().any(|m| m["reply_to"] == *q && m["status"] == "complete");
        if asked && answered {
            stored += 1;
        } else {
            missing.push(format!("session {id} message {q}: asked {asked}, answered {answered}"));
        }
    }
    Ok(stored)
}

async fn session(client: &reqwest::Client, url: &str, n: usize, messages: usize, tally: &Mutex<Tally>) {
    let (id, token) = match create_session(client, url, "load").await {
        Ok(s) => s,
        Err(e) => return tally.lock().await.errors.push(format!("create session: {e}")),
    };
    let mut ids = Vec::new();
    for i in 0..messages {
        let text = QUESTIONS[(n + i) % QUESTIONS.len()];
        let (answer, refused) = ask(client, url, &id, &token, text, &format!("load-{n}-{i}"), 20).await;
        let mut t = tally.lock().await;
        t.refused += refused;
        match answer {
            Ok(Some(a)) => {
                ids.push(a.question);
                t.latencies.push(a.latency);
                t.first_event.push(a.first);
            }
            Ok(None) => {}
            Err(e) => t.errors.push(format!("session {id} message {i}: {e}")),
        }
    }
    tally.lock().await.accepted.push((n, id, token, ids));
}

/// An answer read to its end.
pub(super) struct Answered {
    /// Full latency and first byte, in ms.
    pub latency: f64,
    pub first: f64,
    /// The stored question's id.
    pub question: i64,
    /// The turn's kind (`done.kind`).
    pub kind: String,
}

/// Send a message, retrying after `Retry-After` while it is refused, at most `attempts` times:
/// the answer (`None` when every attempt was refused) and how many refusals there were.
pub(super) async fn ask(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    token: &str,
    text: &str,
    client_id: &str,
    attempts: usize,
) -> (anyhow::Result<Option<Answered>>, usize) {
    let mut refused = 0;
    for _ in 0..attempts {
        match message(client, url, id, token, text, client_id).await {
            Ok(Sent::Answered(a)) => return (Ok(Some(a)), refused),
            Ok(Sent::Refused(wait)) => {
                refused += 1;
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            Err(e) => return (Err(e), refused),
        }
    }
    (Ok(None), refused)
}

enum Sent {
    Answered(Answered),
    /// Refused with 429: retry after this many seconds.
    Refused(u64),
}

/// Post one message and read its answer to the end.
async fn message(client: &reqwest::Client, url: &str, id: &str, token: &str, text: &str, client_id: &str) -> anyhow::Result<Sent> {
    let started = Instant::now();
    let res = client
        .post(format!("{url}/api/v1/sessions/{id}/messages"))
        .bearer_auth(token)
        .json(&json!({"text": text, "client_id": client_id}))
        .send()
        .await?;
    if res.status() == 429 {
        let wait = res.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(1);
        return Ok(Sent::Refused(wait));
    }
    let res = res.error_for_status()?;
    let first = started.elapsed().as_secs_f64() * 1000.0;
    let body = res.text().await?;
    let latency = started.elapsed().as_secs_f64() * 1000.0;
    let event = |name: &str| -> Option<Value> {
        body.split("\n\n").find(|b| b.lines().any(|l| l.trim() == format!("event: {name}"))).and_then(|b| {
            let data = b.lines().find_map(|l| l.strip_prefix("data: "))?;
            serde_json::from_str(data).ok()
        })
    };
    if let Some(e) = event("error") {
        bail!("error event: {e}");
    }
    let question = event("message").and_then(|m| m["message_id"].as_i64()).context("no message event")?;
    let done = event("done").context("stream ended without done")?;
    let kind = done["kind"].as_str().unwrap_or_default().to_string();
    Ok(Sent::Answered(Answered { latency, first, question, kind }))
}
