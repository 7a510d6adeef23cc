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
        #[arg(long, default_value_t = 200)]
        queries: usize,
        /// Number of guide chunks to embed for the throughput figure.
        #[arg(long, default_value_t = 256)]
        chunks: usize,
    },
}

/// Typical citizen questions, cycled through for latency.
const QUESTIONS: &[&str] = &[
    "身份证过期了怎么换", "办护照需要什么材料", "新生儿怎么上户口", "公积金租房提取要多久", "退休手续在哪里办",
    "开公司需要准备哪些材料", "二手房过户要交多少钱", "失业金怎么领", "居住证办理条件", "食品经营许可证多久能办好",
    "结婚登记需要带什么", "社保卡丢了怎么补办", "灵活就业怎么交社保", "高龄津贴每月多少", "个体户营业执照怎么办",
];

pub async fn run(common: &Common, what: What) -> anyhow::Result<()> {
    match what {
        What::Retrieval { queries, chunks } => retrieval(common, queries, chunks).await,
    }
}

async fn retrieval(common: &Common, queries: usize, chunks: usize) -> anyhow::Result<()> {
    let compute = super::start_compute(common, super::Need::Embedder)?;
    let kb = super::open_kb(common, Some(compute.clone())).await?;
    let guides = kb.store.all_live().await?;
    if guides.is_empty() {
        bail!("the knowledge base in {} is empty: run `banshi ingest` first", common.data_dir.display());
    }
    println!("corpus: {} guides, {} indexed chunks", guides.len(), kb.index.len()?);
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
