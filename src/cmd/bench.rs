//! `banshi bench …`: speed measurements on this machine.

use std::time::Instant;

use anyhow::bail;
use banshi_eval::percentile;
use banshi_knowledge::chunk::chunk_guide;
use banshi_knowledge::SearchParams;
use banshi_models::TextKind;

use crate::Common;

#[derive(clap::Subcommand)]
pub enum What {
    /// Query latency (p50/p95, query embedding included) over the imported corpus, and
    /// embedding throughput of guide chunks.
    Retrieval {
        /// Number of queries to time.
        #[arg(long, env = "BANSHI_BENCH_QUERIES", default_value_t = 200)]
        queries: usize,
        /// Number of guide chunks to embed for the throughput figure.
        #[arg(long, env = "BANSHI_BENCH_CHUNKS", default_value_t = 256)]
        chunks: usize,
    },
    /// Generator speed: load, prefill, decode, time to first token (cold and with the cached
    /// system prompt), prompt-lookup drafting, and the memory-bandwidth ceiling.
    Generate {
        /// Where the Markdown + JSON report goes (default DATA_DIR/reports).
        #[arg(long, env = "BANSHI_REPORTS")]
        out: Option<std::path::PathBuf>,
    },
    /// Detokenisation cost per token of a long answer through the real tokenizer: re-decoding
    /// the whole answer at each token (the old way) against the generator's incremental stream.
    Detok {
        /// Answer length in tokens.
        #[arg(long, default_value_t = 600)]
        tokens: usize,
    },
    /// Load test a running server on loopback: concurrent sessions, latencies, and a check that
    /// every accepted message is stored.
    Load(super::load::LoadArgs),
    /// Replay real citizen messages (hotline_messages.jsonl, dev rows) at a fixed arrival rate
    /// against running replicas on loopback: latencies, handoffs, and nothing lost.
    Replay(super::replay::ReplayArgs),
}

/// Typical citizen questions, cycled through for latency.
const QUESTIONS: &[&str] = &[
    "身份证过期了怎么换",
    "办护照需要什么材料",
    "新生儿怎么上户口",
    "公积金租房提取要多久",
    "退休手续在哪里办",
    "开公司需要准备哪些材料",
    "二手房过户要交多少钱",
    "失业金怎么领",
    "居住证办理条件",
    "食品经营许可证多久能办好",
    "结婚登记需要带什么",
    "社保卡丢了怎么补办",
    "灵活就业怎么交社保",
    "高龄津贴每月多少",
    "个体户营业执照怎么办",
];

pub async fn run(common: &Common, what: What) -> anyhow::Result<()> {
    match what {
        What::Retrieval { queries, chunks } => retrieval(common, queries, chunks).await,
        What::Generate { out } => generate(common, out).await,
        What::Detok { tokens } => detok(common, tokens),
        What::Load(args) => super::load::run(args).await,
        What::Replay(args) => super::replay::run(args).await,
    }
}

async fn retrieval(common: &Common, queries: usize, chunks: usize) -> anyhow::Result<()> {
    let compute = super::start_compute(common, super::Need::Embedder)?;
    let kb = super::open_kb(common, Some(compute.clone())).await?;
    let guides = kb.store.all_live().await?;
    if guides.is_empty() {
        bail!("the knowledge base in {} is empty: run `banshi ingest` first", common.data_dir.display());
    }
    println!("corpus: {} guides, {} indexed chunks", guides.len(), kb.index.len().await?);
    // Warm up (first jieba and index touches).
    kb.search(QUESTIONS[0], SearchParams::default()).await?;
    let mut ms = Vec::with_capacity(queries);
    let mut mode = "";
    for i in 0..queries {
        let t = Instant::now();
        let r = kb.search(QUESTIONS[i % QUESTIONS.len()], SearchParams::default()).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        mode = r.mode.as_str();
    }
    println!("query latency ({mode}, {queries} queries): p50 {:.1} ms, p95 {:.1} ms", percentile(&ms, 50.0), percentile(&ms, 95.0));
    if compute.embed_dim().is_none() {
        println!("no embedder: embedding throughput not measured");
        return Ok(());
    }
    let texts: Vec<String> = guides.iter().flat_map(chunk_guide).map(|c| c.text).take(chunks).collect();
    let t = Instant::now();
    compute.embed(texts.clone(), TextKind::Passage).await?;
    let secs = t.elapsed().as_secs_f64();
    println!("ingest embedding: {} chunks in {secs:.1} s = {:.1} chunks/s", texts.len(), texts.len() as f64 / secs);
    Ok(())
}

/// Generation speed: load time, prefill and decode tok/s, time to first token with and without
/// the cached system prompt, and decode speed against this machine's memory-bandwidth ceiling.
pub async fn generate(common: &Common, out: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let dir = common.models_dir();
    let gguf = dir.join(banshi_models::files::GENERATOR_FILE);
    let tok = dir.join(banshi_models::files::GENERATOR_TOKENIZER_FILE);
    let guides = banshi_knowledge::import::load_path(&banshi_knowledge::bundled_guides_dir().join("sample"))?.guides;
    let report = tokio::task::spawn_blocking(move || generate_blocking(&gguf, &tok, &guides)).await??;
    let md = report.markdown();
    println!("{md}");
    let out = out.unwrap_or_else(|| common.data_dir.join("reports"));
    banshi_eval::write_report(&out, "bench-generate", &md, &report)?;
    println!("Reports written to {}", out.display());
    Ok(())
}

#[derive(serde::Serialize)]
struct GenCase {
    name: String,
    prompt_tokens: usize,
    cached_tokens: usize,
    ttft_ms: f64,
    prefill_tok_per_s: f64,
    generated_tokens: usize,
    decode_tok_per_s: f64,
    drafted_accepted: usize,
}

#[derive(serde::Serialize)]
struct GenReport {
    load_seconds: f64,
    bytes_per_token: u64,
    memory_bandwidth_gb_s: f64,
    ceiling_tok_per_s: f64,
    cases: Vec<GenCase>,
}

impl GenReport {
    fn markdown(&self) -> String {
        let mut s = format!(
            "# Generation benchmark\n\nLoad {:.1} s. Memory bandwidth {:.1} GB/s measured; {:.2} GB read per token → ceiling {:.1} tok/s.\n\n",
            self.load_seconds,
            self.memory_bandwidth_gb_s,
            self.bytes_per_token as f64 / 1e9,
            self.ceiling_tok_per_s
        );
        s.push_str("| case | prompt tok | cached | TTFT ms | prefill tok/s | generated | decode tok/s | of ceiling | drafted |\n|---|---|---|---|---|---|---|---|---|\n");
        for c in &self.cases {
            s.push_str(&format!(
                "| {} | {} | {} | {:.0} | {:.1} | {} | {:.1} | {:.0}% | {} |\n",
                c.name,
                c.prompt_tokens,
                c.cached_tokens,
                c.ttft_ms,
                c.prefill_tok_per_s,
                c.generated_tokens,
                c.decode_tok_per_s,
                100.0 * c.decode_tok_per_s / self.ceiling_tok_per_s,
                c.drafted_accepted
            ));
        }
        s
    }
}

fn generate_blocking(gguf: &std::path::Path, tok: &std::path::Path, guides: &[banshi_knowledge::Guide]) -> anyhow::Result<GenReport> {
    use banshi_assistant::extractive::{section_chunk, source};
    use banshi_assistant::prompt::{answer_messages, system_turn};
    use banshi_knowledge::section::Section;
    use banshi_models::port::{chatml_prefix, chatml_prompt};
    // The bench drives the generator directly, so it applies the template itself.
    let answer_prompt = |q: &str, s: &[banshi_assistant::citations::Source]| chatml_prompt(&answer_messages(q, s));
    use banshi_models::GenParams;
    use std::ops::ControlFlow;

    let bytes_per_token = weight_bytes_per_token(gguf)?;
    let bandwidth = memory_bandwidth_gb_s();
    let started = Instant::now();
    let mut g = banshi_models::Generator::from_files(gguf, tok)?;
    let load_seconds = started.elapsed().as_secs_f64();

    let guide = guides.iter().find(|g| g.code == "SAMPLE-GA-001").or(guides.first()).ok_or_else(|| anyhow::anyhow!("no sample guide"))?;
    let pick = |sections: &[Section]| -> Vec<banshi_assistant::citations::Source> {
        sections.iter().filter_map(|s| section_chunk(guide, *s)).enumerate().map(|(i, c)| source(i + 1, &c)).collect()
    };
    let typical = answer_prompt("身份证过期了换证要多少钱？", &pick(&[Section::Fees, Section::Overview]));
    // A ~600-token RAG prompt (system prompt included): the guide's sections in this order, as
    // many as fit.
    let question = "换身份证需要带什么材料，要多久，在哪里办？";
    use Section::*;
    let order = [Materials, TimeLimit, Place, Conditions, Process, Faq(1), Faq(2), Faq(3), Fees, Overview];
    let mut long = answer_prompt(question, &pick(&order[..1]));
    for n in 2..=order.len() {
        let candidate = answer_prompt(question, &pick(&order[..n]));
        if g.encode(&candidate)?.len() > 650 {
            break;
        }
        long = candidate;
    }
    let system = g.encode(&chatml_prefix(&system_turn()))?;
    let mut cases = Vec::new();
    for (name, prompt, warm, draft) in [
        ("typical question, cold", &typical, false, 0),
        ("typical question, cached system prompt", &typical, true, 0),
        ("RAG prompt (~600 tokens), cold", &long, false, 0),
        ("RAG prompt (~600 tokens), cached system prompt", &long, true, 0),
        ("RAG prompt (~600 tokens), cached + prompt lookup", &long, true, 8),
    ] {
        let tokens = g.encode(prompt)?;
        g.clear_cache();
        if warm {
            g.warm_prefix(&system)?;
        }
        let t = Instant::now();
        let mut first = None;
        let stats = g.generate(&tokens, &GenParams { max_tokens: 96, draft, ..GenParams::default() }, |_| {
            first.get_or_insert_with(|| t.elapsed().as_secs_f64() * 1000.0);
            ControlFlow::Continue(())
        })?;
        let prefilled = stats.prompt_tokens - stats.cached_tokens;
        cases.push(GenCase {
            name: name.into(),
            prompt_tokens: stats.prompt_tokens,
            cached_tokens: stats.cached_tokens,
            ttft_ms: first.unwrap_or(f64::NAN),
            prefill_tok_per_s: prefilled as f64 / stats.prefill_seconds,
            generated_tokens: stats.generated_tokens,
            decode_tok_per_s: stats.generated_tokens.saturating_sub(1) as f64 / stats.decode_seconds.max(1e-9),
            drafted_accepted: stats.drafted_accepted,
        });
    }
    Ok(GenReport {
        load_seconds,
        bytes_per_token,
        memory_bandwidth_gb_s: bandwidth,
        ceiling_tok_per_s: bandwidth * 1e9 / bytes_per_token as f64,
        cases,
    })
}

/// Bytes of weights read to produce one token: every tensor except the embedding table, of
/// which one row is read.
fn weight_bytes_per_token(gguf: &std::path::Path) -> anyhow::Result<u64> {
    let mut f = std::fs::File::open(gguf)?;
    let content = candle_core::quantized::gguf_file::Content::read(&mut f)?;
    let mut total = 0u64;
    for (name, info) in &content.tensor_infos {
        let elems = info.shape.elem_count() as u64;
        let dtype = info.ggml_dtype;
        let bytes = elems / dtype.block_size() as u64 * dtype.type_size() as u64;
        if name == "token_embd.weight" {
            total += bytes / info.shape.dims()[0] as u64;
        } else {
            total += bytes;
        }
    }
    Ok(total)
}

/// Read bandwidth with two threads over a 512 MiB buffer, best of five passes.
fn memory_bandwidth_gb_s() -> f64 {
    let words = 64 << 20; // 512 MiB of u64
    let buf: Vec<u64> = (0..words as u64).collect();
    let mut best = 0f64;
    for _ in 0..5 {
        let t = Instant::now();
        let sums: u64 = std::thread::scope(|s| {
            let halves: Vec<_> = buf.chunks(words / 2).map(|h| s.spawn(move || h.iter().fold(0u64, |a, &b| a.wrapping_add(b)))).collect();
            halves.into_iter().map(|h| h.join().expect("bandwidth thread")).fold(0u64, u64::wrapping_add)
        });
        std::hint::black_box(sums);
        best = best.max((words * 8) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// Time detokenising a `tokens`-token answer (sample guide text) token by token, both ways;
/// prints microseconds per token early and late in the answer. Fails without the tokenizer
/// file, or when the stream's text differs from the full decode.
fn detok(common: &Common, tokens: usize) -> anyhow::Result<()> {
    use banshi_models::generator::TextStream;
    let path = common.models_dir().join(banshi_models::files::GENERATOR_TOKENIZER_FILE);
    if !path.exists() {
        bail!("no tokenizer at {} (run `banshi models fetch`)", path.display());
    }
    let tok = tokenizers::Tokenizer::from_file(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let guides = banshi_knowledge::import::load_path(&banshi_knowledge::bundled_guides_dir().join("sample"))?.guides;
    let text: String = guides.iter().flat_map(chunk_guide).map(|c| c.text).take(200).collect();
    let all = tok.encode(text.as_str(), false).map_err(|e| anyhow::anyhow!("encoding: {e}"))?;
    let ids = all.get_ids();
    if ids.len() < tokens || tokens < 200 {
        bail!("--tokens must be between 200 and {}", ids.len());
    }
    let ids = &ids[..tokens];
    let full = tok.decode(ids, true).map_err(|e| anyhow::anyhow!("decoding: {e}"))?;
    // Per-token seconds, the best of several runs (least disturbed by the rest of the machine).
    let runs = 5;
    let mut old = vec![f64::MAX; tokens];
    let mut new = vec![f64::MAX; tokens];
    for _ in 0..runs {
        for n in 1..=tokens {
            let t = Instant::now();
            std::hint::black_box(tok.decode(&ids[..n], true).map_err(|e| anyhow::anyhow!("decoding: {e}"))?);
            old[n - 1] = old[n - 1].min(t.elapsed().as_secs_f64());
        }
        let mut stream = TextStream::default();
        let mut streamed = String::new();
        for n in 1..=tokens {
            let t = Instant::now();
            let piece = stream.push(&tok, &ids[..n])?;
            new[n - 1] = new[n - 1].min(t.elapsed().as_secs_f64());
            streamed.push_str(piece.as_deref().unwrap_or(""));
        }
        streamed.push_str(stream.flush(&tok, ids)?.as_deref().unwrap_or(""));
        if streamed != full {
            bail!("the streamed text differs from the full decode");
        }
    }
    let us = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64 * 1e6;
    let last = tokens - 100;
    println!("detokenising a {tokens}-token answer ({} characters), µs per token, best of {runs} runs:", full.chars().count());
    println!("{:<24} {:>14} {:>16} {:>14}", "", "tokens 1-100", format!("tokens {}-{tokens}", last + 1), "whole answer");
    for (name, v) in [("re-decode everything", &old), ("incremental stream", &new)] {
        println!("{name:<24} {:>14.1} {:>16.1} {:>11.1} ms", us(&v[..100]), us(&v[last..]), v.iter().sum::<f64>() * 1e3);
    }
    Ok(())
}
