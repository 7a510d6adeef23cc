//! `banshi train …`: train the classifiers the assistant uses on a hotline's own data.

use std::path::PathBuf;

use anyhow::bail;
use banshi_assistant::appeal::{AppealModel, Example, MODEL_FILE};
use banshi_eval::Split;

use crate::Common;

#[derive(clap::Subcommand)]
pub enum What {
    /// The appeal classifier (type, domain, anger) from labelled messages.
    Appeal(AppealArgs),
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
}

pub fn run(common: &Common, what: What) -> anyhow::Result<()> {
    match what {
        What::Appeal(args) => appeal(common, args),
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
    let out = match args.out {
        Some(p) => p,
        None => {
            std::fs::create_dir_all(&common.data_dir)?;
            common.data_dir.join(MODEL_FILE)
        }
    };
    model.save(&out)?;
    println!(
        "trained on {} in {:.1} s: {} domains ({}); written to {}",
        model.trained_on,
        started.elapsed().as_secs_f64(),
        model.domains().len(),
        model.domains().join("、"),
        out.display()
    );
    Ok(())
}
