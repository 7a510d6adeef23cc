//! `banshi ingest` and `banshi search`.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{bail, Context};
use banshi_knowledge::import::{gd, load_path};
use banshi_knowledge::{Mode, SearchParams};

use crate::Common;

#[derive(clap::Args)]
pub struct IngestArgs {
    /// Guide files or directories in the project's JSON format (default: the bundled sample
    /// knowledge base, `knowledge/guides`).
    #[arg(long = "path", env = "BANSHI_GUIDES")]
    paths: Vec<PathBuf>,
    /// Import a raw Guangdong catalogue (`policy.jsonl`) instead, cleaning it on the way.
    #[arg(long, env = "BANSHI_GD_CATALOGUE")]
    gd: Option<PathBuf>,
    /// With --gd: only write the converted guides to this JSON-lines file, import nothing.
    #[arg(long, env = "BANSHI_GD_CONVERT_TO", requires = "gd")]
    convert_to: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The question; without it, read questions from standard input, one per line.
    query: Option<String>,
    /// Items to show.
    #[arg(long, env = "BANSHI_SEARCH_ITEMS", default_value_t = 5)]
    items: usize,
    /// Retrieval mode.
    #[arg(long, env = "BANSHI_SEARCH_MODE", value_parser = parse_mode, default_value = "hybrid")]
    mode: Mode,
}

pub fn parse_mode(s: &str) -> Result<Mode, String> {
    match s {
        "hybrid" => Ok(Mode::Hybrid),
        "dense" => Ok(Mode::Dense),
        "sparse" => Ok(Mode::Sparse),
        _ => Err(format!("mode must be hybrid, dense or sparse, not {s:?}")),
    }
}

pub async fn ingest(common: &Common, args: IngestArgs) -> anyhow::Result<()> {
    let mut bundles = Vec::new();
    let guides = if let Some(src) = &args.gd {
        let text = std::fs::read_to_string(src).with_context(|| format!("reading {}", src.display()))?;
        let (guides, report) = gd::convert(&text);
        eprint!("Guangdong catalogue: {}", report.summary());
        if let Some(out) = &args.convert_to {
            let mut lines = String::new();
            for g in &guides {
                lines.push_str(&serde_json::to_string(g)?);
                lines.push('\n');
            }
            std::fs::write(out, lines).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} guides to {}", guides.len(), out.display());
            return Ok(());
        }
        guides
    } else {
        let paths = if args.paths.is_empty() { vec![banshi_knowledge::bundled_guides_dir()] } else { args.paths.clone() };
        let mut guides = Vec::new();
        let mut failed = 0;
        for p in &paths {
            let loaded = load_path(p)?;
            for problem in &loaded.problems {
                eprintln!("skipped: {problem}");
            }
            failed += loaded.problems.len();
            guides.extend(loaded.guides);
            bundles.extend(loaded.bundles);
        }
        if guides.is_empty() {
            bail!("no valid guide found in {paths:?} ({failed} problems)");
        }
        guides
    };
    let models = super::model_set::start(common, super::Need::Embedder).await?;
    let kb = super::open_kb_with(common, models.embed).await?;
    let started = std::time::Instant::now();
    let stats = kb.import(&guides, "import", &|done, total| banshi_eval::progress("indexing guides", done, total)).await?;
    println!(
        "{} guides: {} new versions, {} unchanged; index: {} items re-indexed ({} chunks embedded), {} unchanged; {:.1} s",
        guides.len(),
        stats.new_versions,
        stats.unchanged,
        stats.index.indexed,
        stats.index.chunks_embedded,
        stats.index.unchanged,
        started.elapsed().as_secs_f64()
    );
    if !bundles.is_empty() {
        let b = kb.import_bundles(&bundles, "import", &|done, total| banshi_eval::progress("indexing bundles", done, total)).await?;
        for (code, problems) in &b.rejected {
            eprintln!("skipped bundle {code}: {}", problems.join("; "));
        }
        println!("{} bundles: {} new versions, {} unchanged, {} refused", bundles.len(), b.new_versions, b.unchanged, b.rejected.len());
    }
    // Replicas running on the same PostgreSQL re-read what was imported.
    if banshi_knowledge::db::Backend::of(kb.store.pool()) == banshi_knowledge::db::Backend::Postgres {
        use banshi_server::live::{bus, Knowledge, Wire};
        bus::announce(kb.store.pool(), &Wire::Knowledge { origin: 0, change: Knowledge::All })
            .await
            .context("telling the running replicas")?;
    }
    Ok(())
}

pub async fn search(common: &Common, args: SearchArgs) -> anyhow::Result<()> {
    let models = super::model_set::start(common, super::Need::Embedder).await?;
    let kb = super::open_kb_with(common, models.embed).await?;
    if kb.store.count_live().await? == 0 {
        bail!("the knowledge base in {} is empty: run `banshi ingest` first", common.data_dir.display());
    }
    let params = SearchParams { items: args.items, mode: args.mode, ..SearchParams::default() };
    if let Some(q) = args.query {
        return show(&kb, &q, params).await;
    }
    let stdin = std::io::stdin();
    print!("问题> ");
    std::io::stdout().flush()?;
    for line in stdin.lock().lines() {
        let q = line?;
        if !q.trim().is_empty() {
            show(&kb, q.trim(), params).await?;
        }
        print!("问题> ");
        std::io::stdout().flush()?;
    }
    println!();
    Ok(())
}

async fn show(kb: &banshi_knowledge::KnowledgeBase, q: &str, params: SearchParams) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let r = kb.search(q, params).await?;
    println!(
        "{} results, confidence {:.2} ({} search, {:.0} ms)",
        r.items.len(),
        r.confidence,
        r.mode.as_str(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    for (i, item) in r.items.iter().enumerate() {
        println!("{}. {} [{}] score {:.4}", i + 1, item.name, item.code, item.score);
        if let Some(best) = item.chunks.first() {
            let text: String = best.chunk.text.chars().take(120).collect();
            println!("   {}: {text}", best.chunk.title);
        }
    }
    Ok(())
}
