//! `banshi train embedder`: tune the embedder's query side on question → answer pairs (gov_qa's
//! format), against the untuned passage vectors of the eval index (built once, then reused).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use banshi_eval::retrieval::RetrievalEval;
use banshi_eval::Split;
use banshi_knowledge::section::Section;
use banshi_models::files::EMBEDDER_FILE;
use banshi_models::query_tower::{Pairs, QueryTower, TowerConfig, TowerProgress};
use banshi_models::Embedder;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Common;

#[derive(clap::Args)]
pub struct EmbedderArgs {
    /// JSON lines `{id, question, answer}` (gov_qa's format): each question is trained to find
    /// its answer among the answers of the rows trained on.
    #[arg(long, env = "BANSHI_TRAIN_DATASET")]
    dataset: PathBuf,
    /// Hold out the dev rows whose id ends in 1 (about a tenth: the eval's `holdout` split, on
    /// which fusion and calibration for the tuned encoder are then fitted) and report recall@1
    /// and MRR on them after each epoch. Without it every dev row trains.
    #[arg(long, env = "BANSHI_TRAIN_HOLDOUT")]
    holdout: bool,
    /// Top encoder layers tuned (each adds ≈ 3.5 MB to the file).
    #[arg(long, env = "BANSHI_TRAIN_LAYERS", default_value_t = 2)]
    layers: usize,
    /// Passes over the training questions.
    #[arg(long, env = "BANSHI_TRAIN_EPOCHS", default_value_t = TowerConfig::default().epochs)]
    epochs: usize,
    /// Peak learning rate.
    #[arg(long, env = "BANSHI_TRAIN_LR", default_value_t = TowerConfig::default().learning_rate)]
    learning_rate: f64,
    /// Softmax temperature over cosine similarities.
    #[arg(long, env = "BANSHI_TRAIN_TEMPERATURE", default_value_t = TowerConfig::default().temperature)]
    temperature: f64,
    /// Questions per optimiser step.
    #[arg(long, env = "BANSHI_TRAIN_BATCH", default_value_t = TowerConfig::default().batch_size)]
    batch_size: usize,
    /// Where to write the tuned query encoder (default DATA_DIR/e5-query-tower.safetensors; use
    /// it with `--query-encoder PATH`).
    #[arg(long, env = "BANSHI_QUERY_TOWER_OUT")]
    out: Option<PathBuf>,
}

/// Content tokens per question read in training and use (gov_qa's longest is ≈ 400).
const MAX_TOKENS: usize = 256;

pub async fn run(common: &Common, args: EmbedderArgs) -> anyhow::Result<()> {
    if !args.dataset.is_file() {
        bail!("dataset {} does not exist", args.dataset.display());
    }
    let model = common.models_dir().join(EMBEDDER_FILE);
    if !model.exists() {
        bail!("no embedder at {} (run `banshi models fetch`)", model.display());
    }
    let started = Instant::now();
    // The untuned embedder embeds the passages; the eval index keeps them for later runs.
    let compute = banshi_models::ComputeHandle::spawn(
        banshi_models::Models { embedder: Some(Embedder::from_file(&model)?), ..Default::default() },
        super::COMPUTE_QUEUE,
    );
    let eval = RetrievalEval::prepare(&args.dataset, &common.data_dir.join("eval/gov_qa"), Some(compute), None).await?;
    let rows: Vec<_> = eval.rows.iter().filter(|r| Split::Dev.contains(r.id)).cloned().collect();
    let mut passages = Vec::with_capacity(rows.len());
    for r in &rows {
        let mut v = eval.searcher().index.dense_vectors(&format!("Q{}", r.id)).await?;
        let (_, vector) = v.remove(&Section::Passage).with_context(|| format!("row {} has no vector in the eval index", r.id))?;
        passages.push(vector);
    }
    drop(eval);
    let held_out = |id: u64| args.holdout && Split::Holdout.contains(id);
    let pairs = |keep: &dyn Fn(u64) -> bool| {
        let mut p = Pairs { questions: Vec::new(), positives: Vec::new() };
        for r in rows.iter().filter(|r| keep(r.id)) {
            p.questions.push(r.question.as_str());
            p.positives.push(rows.iter().enumerate().filter(|(_, o)| o.answer.trim() == r.answer.trim()).map(|(i, _)| i).collect());
        }
        p
    };
    let train = pairs(&|id| !held_out(id));
    let validation = args.holdout.then(|| pairs(&|id| held_out(id)));
    let cfg = TowerConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        temperature: args.temperature,
        ..TowerConfig::default()
    };
    let name = args.dataset.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let trained_on = format!(
        "{name}: {} dev questions against {} dev answers{}; {} layers, {} epochs, lr {}, τ {}, batch {}",
        train.questions.len(),
        passages.len(),
        if args.holdout { " (ids ending in 1 held out)" } else { "" },
        args.layers,
        cfg.epochs,
        cfg.learning_rate,
        cfg.temperature,
        cfg.batch_size
    );
    let embedder = tokio::task::spawn_blocking(move || Embedder::from_file(&model)).await??;
    let mut tower = QueryTower::from_embedder(&embedder, args.layers, MAX_TOKENS)?;
    let bar = bar();
    let mut loss = 0f32;
    tower.train(&embedder, &train, &passages, validation.as_ref(), &cfg, &mut |p| match p {
        TowerProgress::Reading { done, total } => {
            bar.set_message("reading questions");
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        TowerProgress::Step { epoch, step, steps, loss: l } => {
            bar.set_length(steps as u64);
            loss = if step == 1 { l } else { 0.9 * loss + 0.1 * l };
            bar.set_message(format!("epoch {}/{}, loss {loss:.3}", epoch + 1, cfg.epochs));
            bar.set_position(step as u64);
        }
        TowerProgress::Validated { epoch, recall_at_1, mrr } => {
            // Printed (not through the bar, which hides itself when output is not a terminal).
            bar.suspend(|| println!("epoch {epoch}: held-out dev R@1 {recall_at_1:.3}, MRR {mrr:.3}"));
        }
    })?;
    bar.finish_and_clear();
    tower.set_trained_on(trained_on);
    let out = args.out.unwrap_or_else(|| common.data_dir.join("e5-query-tower.safetensors"));
    std::fs::create_dir_all(out.parent().unwrap_or(std::path::Path::new(".")))?;
    tower.save(&out)?;
    println!("trained on {} in {:.0} s; written to {}", tower.spec().trained_on, started.elapsed().as_secs_f64(), out.display());
    Ok(())
}

fn bar() -> ProgressBar {
    let bar = ProgressBar::new(1);
    bar.set_style(
        ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} ({elapsed}, {eta} left)")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar
}
