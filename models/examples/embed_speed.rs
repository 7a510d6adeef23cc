//! Passage embedding throughput on gov_qa answers: `cargo run --release -p banshi-models
//! --example embed_speed -- MODELS_DIR/e5-small-q4.bin ../shared/data/msgabench/gov_qa.jsonl [N]`.
//! Prints passages/s and tokens/s over the first N answers (default 200), then the latency of
//! embedding each of the first N questions alone, as a search does (p50/p95).

use std::io::BufRead;
use std::time::Instant;

use banshi_models::{Embedder, TextKind};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(model), Some(data)) = (args.get(1), args.get(2)) else {
        return Err("usage: embed_speed E5S1_FILE GOV_QA_JSONL [N]".into());
    };
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(200);
    banshi_models::compute::keep_model_buffers();
    let e = Embedder::from_file(std::path::Path::new(model))?;
    let (mut questions, mut answers) = (Vec::new(), Vec::new());
    for line in std::io::BufReader::new(std::fs::File::open(data)?).lines().take(n) {
        let row: serde_json::Value = serde_json::from_str(&line?)?;
        questions.push(row["question"].as_str().unwrap_or_default().to_string());
        answers.push(row["answer"].as_str().unwrap_or_default().to_string());
    }
    let refs: Vec<&str> = answers.iter().map(String::as_str).collect();
    let tokens: usize = refs.iter().map(|t| e.token_count(t, TextKind::Passage)).sum();
    let t = Instant::now();
    let v = e.embed(&refs, TextKind::Passage)?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} passages, {tokens} tokens in {secs:.1} s: {:.1} passages/s, {:.0} tokens/s",
        v.len(),
        v.len() as f64 / secs,
        tokens as f64 / secs
    );
    let mut ms = Vec::with_capacity(questions.len());
    for q in &questions {
        let t = Instant::now();
        e.embed(&[q.as_str()], TextKind::Query)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() as f64 * p) as usize).min(ms.len() - 1)];
    println!("{} questions one at a time: p50 {:.1} ms, p95 {:.1} ms", ms.len(), at(0.5), at(0.95));
    Ok(())
}
