//! `banshi bench replay`: real citizen messages (MSGABench `hotline_messages.jsonl`, dev
//! rows only) arriving at a fixed rate, each as a new conversation, spread over the replicas
//! on loopback. Reports latency percentiles, the turns' kinds (handoffs created), refusals,
//! and checks that every accepted message and its answer are stored, reading each back from
//! another replica than the one that answered.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use banshi_eval::percentile;
use serde_json::Value;
use tokio::sync::Mutex;

use super::load::{ask, check_stored, create_session, loopback_only, verdict};

#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// The messages: JSON lines with `id` and `message` (rows whose id is divisible by 5 are
    /// the test split and are skipped).
    #[arg(long, env = "BANSHI_REPLAY_FILE")]
    pub file: PathBuf,
    /// Base URLs of the replicas (loopback only), repeated or comma-separated.
    #[arg(long, env = "BANSHI_REPLAY_URL", default_value = "http://127.0.0.1:8080", value_delimiter = ',')]
    pub url: Vec<String>,
    /// Arrivals per second.
    #[arg(long, env = "BANSHI_REPLAY_RATE", default_value_t = 5.0)]
    pub rate: f64,
    /// How many messages to replay (from the start of the file's dev rows).
    #[arg(long, env = "BANSHI_REPLAY_LIMIT", default_value_t = 500)]
    pub limit: usize,
    /// Give up on the whole run after this many seconds.
    #[arg(long, env = "BANSHI_REPLAY_TIMEOUT", default_value_t = 900)]
    pub timeout: u64,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<f64>,
    first_event: Vec<f64>,
    kinds: BTreeMap<String, usize>,
    refused: usize,
    errors: Vec<String>,
    /// (replica index, session id, token, question id)
    accepted: Vec<(usize, String, String, i64)>,
}

fn dev_messages(args: &ReplayArgs) -> anyhow::Result<Vec<String>> {
    let f = std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).lines() {
        let v: Value = serde_json::from_str(&line?).context("a line that is not JSON")?;
        let id = v["id"].as_i64().context("a row without id")?;
        let text = v["message"].as_str().unwrap_or_default().trim();
        if id % 5 != 0 && !text.is_empty() {
            // Over-long messages are cut to what the chat accepts.
            out.push(text.chars().take(500).collect());
        }
        if out.len() == args.limit {
            break;
        }
    }
    Ok(out)
}

pub async fn run(args: ReplayArgs) -> anyhow::Result<()> {
    loopback_only(&args.url)?;
    if !args.rate.is_finite() || args.rate <= 0.0 {
        bail!("--rate must be above 0");
    }
    let texts = dev_messages(&args)?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(args.timeout)).build()?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / args.rate);
    let mut tasks = Vec::new();
    for (n, text) in texts.into_iter().enumerate() {
        tokio::time::sleep_until((started + gap * n as u32).into()).await;
        let (client, tally, replica) = (client.clone(), tally.clone(), n % args.url.len());
        let url = args.url[replica].clone();
        tasks.push(tokio::spawn(async move { conversation(&client, &url, replica, n, &text, &tally).await }));
    }
    let all = futures::future::join_all(tasks);
    tokio::time::timeout(Duration::from_secs(args.timeout), all).await.context("replay timed out")?;
    let wall = started.elapsed().as_secs_f64();
    let t = tally.lock().await;
    let (mut stored, mut missing) = (0usize, Vec::new());
    for (replica, id, token, q) in &t.accepted {
        stored += check_stored(&client, &args.url[(replica + 1) % args.url.len()], id, token, &[*q], &mut missing).await?;
    }
    let sent = t.latencies.len();
    println!("replay: {sent} messages at {:.1}/s over {} in {wall:.1} s", args.rate, args.url.join(", "));
    println!("  answers: {sent} ok, {} refused (429, retried), {} errors", t.refused, t.errors.len());
    println!(
        "  full answer latency: p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms; first event p50 {:.0} ms, p95 {:.0} ms",
        percentile(&t.latencies, 50.0),
        percentile(&t.latencies, 95.0),
        percentile(&t.latencies, 99.0),
        percentile(&t.latencies, 100.0),
        percentile(&t.first_event, 50.0),
        percentile(&t.first_event, 95.0)
    );
    let kinds: Vec<String> = t.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    println!("  turns by kind: {}", kinds.join(", "));
    println!("  stored: {stored} of {} accepted messages are in the database with their answers", t.accepted.len());
    verdict(&t.errors, &missing)
}

async fn conversation(client: &reqwest::Client, url: &str, replica: usize, n: usize, text: &str, tally: &Mutex<Tally>) {
    let (id, token) = match create_session(client, url, "hotline").await {
        Ok(s) => s,
        Err(e) => return tally.lock().await.errors.push(format!("create session: {e}")),
    };
    let (answer, refused) = ask(client, url, &id, &token, text, &format!("replay-{n}"), 30).await;
    let mut t = tally.lock().await;
    t.refused += refused;
    match answer {
        Ok(Some(a)) => {
            t.latencies.push(a.latency);
            t.first_event.push(a.first);
            *t.kinds.entry(a.kind).or_default() += 1;
            t.accepted.push((replica, id, token, a.question));
        }
        Ok(None) => t.errors.push(format!("session {id}: refused {refused} times")),
        Err(e) => t.errors.push(format!("session {id}: {e}")),
    }
}
