//! `banshi train …`: train the classifiers the assistant uses on a hotline's own data, and the
//! embedder's query side on question → answer pairs.

use std::path::{Path, PathBuf};

use anyhow::bail;
use banshi_assistant::appeal::{encoder, AppealModel, Example, MODEL_FILE};
use banshi_eval::Split;
use banshi_models::e5_classifier::{TuneConfig, TuneProgress};
use banshi_models::files::EMBEDDER_FILE;
use banshi_models::Embedder;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Common;

#[derive(clap::Subcommand)]
pub enum What {
    /// The appeal classifier (type, domain, anger) from labelled messages: the TF-IDF model, and
    /// the fine-tuned e5 encoder unless `--encoder-epochs 0`.
    Appeal(AppealArgs),
    /// The embedder's query side, on question → answer pairs (gov_qa's format): writes the
    /// tuned top layers that `--query-encoder` loads.
    Embedder(super::train_embedder::EmbedderArgs),
}

#[derive(clap::Args)]
pub struct AppealArgs {
    /// JSON lines `{id, message, appeal_type, domain, sentiment}` (the hotline data's format).
    #[arg(long, env = "BANSHI_TRAIN_DATASET")]
    dataset: PathBuf,
    /// Rows to train on: `dev` (id % 5 != 0, leaving the test split out) or `all`.
    #[arg(long, env = "BANSHI_TRAIN_SPLIT", default_value = "dev", value_parser = ["dev", "all"])]
    split: String,
    /// Where to write the model (default DATA_DIR/appeal-model.json, which `serve` then uses).
    #[arg(long, env = "BANSHI_APPEAL_MODEL")]
    out: Option<PathBuf>,
    /// Epochs of fine-tuning the e5 encoder as well (0: the TF-IDF model only). Needs the
    /// embedder (`banshi models fetch`); on 2 cores, 9,000 messages take ≈ 7 min to read and
    /// ≈ 17 min per epoch.
    #[arg(long, env = "BANSHI_ENCODER_EPOCHS", default_value_t = 3)]
    encoder_epochs: usize,
    /// Where to write the fine-tuned classifier (default DATA_DIR/appeal-encoder.safetensors,
    /// which `serve` then prefers to the TF-IDF model).
    #[arg(long, env = "BANSHI_APPEAL_ENCODER")]
    encoder_out: Option<PathBuf>,
}

pub async fn run(common: &Common, what: What) -> anyhow::Result<()> {
    match what {
        What::Appeal(args) => appeal(common, args),
        What::Embedder(args) => super::train_embedder::run(common, args).await,
    }
}

fn appeal(common: &Common, args: AppealArgs) -> anyhow::Result<()> {
    if !args.dataset.is_file() {
        bail!("dataset {} does not exist", args.dataset.display());
    }
    let rows: Vec<Example> = banshi_eval::read_jsonl(&args.dataset)?;
    let rows: Vec<Example> = if args.split == "dev" {
        if rows.iter().any(|r| r.id.is_none()) {
            bail!("--split dev needs an `id` on every row; use --split all to train on every row");
        }
        rows.into_iter().filter(|r| Split::Dev.contains(r.id.unwrap_or(0))).collect()
    } else {
        rows
    };
    let started = std::time::Instant::now();
    let name = args.dataset.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let model = AppealModel::train(&rows, &format!("{name}, {} split", args.split))?;
    std::fs::create_dir_all(&common.data_dir)?;
    let out = args.out.unwrap_or_else(|| common.data_dir.join(MODEL_FILE));
    model.save(&out)?;
    println!(
        "trained on {} in {:.1} s: {} domains ({}); written to {}",
        model.trained_on,
        started.elapsed().as_secs_f64(),
        model.domains().len(),
        model.domains().join("、"),
        out.display()
    );
    let encoder_out = args.encoder_out.unwrap_or_else(|| common.data_dir.join(encoder::ENCODER_FILE));
    let embedder = common.models_dir().join(EMBEDDER_FILE);
    if args.encoder_epochs > 0 && embedder.exists() {
        let cfg = TuneConfig { epochs: args.encoder_epochs, ..TuneConfig::default() };
        tune_encoder(&embedder, &rows, &cfg, &format!("{name}, {} split", args.split), &encoder_out)?;
    } else {
        if args.encoder_epochs > 0 {
            eprintln!("warning: no embedder at {} (run `banshi models fetch`): the encoder was not fine-tuned", embedder.display());
        }
        if encoder_out.exists() {
            eprintln!(
                "warning: {} is from an earlier training and `serve` prefers it; delete it to use the model just trained",
                encoder_out.display()
            );
        }
    }
    Ok(())
}

/// Fine-tune the e5 classifier on `rows` and save it to `out`, with a progress bar.
fn tune_encoder(embedder: &Path, rows: &[Example], cfg: &TuneConfig, trained_on: &str, out: &Path) -> anyhow::Result<()> {
    let embedder = Embedder::from_file(embedder)?;
    let started = std::time::Instant::now();
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg:32} [{bar:30}] {pos}/{len} ({elapsed}, {eta} left)")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_message("encoder: reading messages");
    let mut loss = 0f32;
    let clf = encoder::train(&embedder, rows, cfg, trained_on, &mut |p| match p {
        TuneProgress::Reading { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        TuneProgress::Step { epoch, step, steps, loss: l } => {
            if step == 1 {
                bar.set_length(steps as u64);
            }
            loss = if step == 1 { l } else { 0.95 * loss + 0.05 * l };
            bar.set_message(format!("encoder: epoch {}/{}, loss {loss:.3}", epoch + 1, cfg.epochs));
            bar.set_position(step as u64);
        }
    })?;
    bar.finish_and_clear();
    clf.save(out)?;
    println!(
        "fine-tuned the encoder on {} in {:.0} s ({} epochs, loss {loss:.3}); written to {}",
        clf.spec().trained_on,
        started.elapsed().as_secs_f64(),
        cfg.epochs,
        out.display()
    );
    Ok(())
}
