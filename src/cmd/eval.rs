//! `banshi eval …`: evaluation reports on real data.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use banshi_eval::retrieval::{score, RetrievalEval, RetrievalReport};
use banshi_eval::{calibrate, write_report, Split};
use banshi_knowledge::index::Fusion;
use banshi_knowledge::search::{logistic, Calibration};
use banshi_knowledge::Mode;

use crate::Common;

#[derive(clap::Subcommand)]
pub enum What {
    /// Retrieval on gov_qa: recall@1/5/10 and MRR for sparse, dense and hybrid.
    Retrieval(RetrievalArgs),
    /// Question → item on the imported catalogue: recall@1/5/10 and MRR per mode.
    Catalogue(CatalogueArgs),
    /// Answers: citation validity, faithfulness, overlap on gov_qa.
    Answers(AnswersArgs),
    /// Questions the knowledge base does not cover: answered, referred elsewhere, or queued.
    OutOfKb(OutOfKbArgs),
    /// Appeal classification on hotline messages: type macro-F1, domain accuracy, baselines.
    Appeal(AppealArgs),
    /// 一件事 bundles: fields asked vs separate forms, materials vs separate lists, visits.
    Forms(FormsArgs),
    /// Pre-review on generated documents with planted defects: detection per defect kind,
    /// false rejections on clean sets, OCR character accuracy.
    Prereview(PrereviewArgs),
    /// Injection attempts (planted "official" claims, fake instructions) through the dialogue
    /// engine and the stream contract: how often a planted claim reaches the screen.
    Injection(InjectionArgs),
}

#[derive(clap::Args)]
pub struct InjectionArgs {
    /// The attempts, `{"id", "split", "question", "planted"}` per line.
    #[arg(long, env = "BANSHI_EVAL_INJECTION", default_value = "eval/data/injection.jsonl")]
    attempts: PathBuf,
    /// Which split: dev (trying changes) or test (report once).
    #[arg(long, env = "BANSHI_EVAL_SPLIT", default_value = "dev")]
    split: Split,
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct PrereviewArgs {
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct FormsArgs {
    /// Guide and bundle files or directories (default: the bundled sample knowledge base).
    #[arg(long = "path", env = "BANSHI_GUIDES")]
    paths: Vec<PathBuf>,
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct AppealArgs {
    /// hotline_messages.jsonl ({id, message, appeal_type, domain, sentiment} per line).
    #[arg(long, env = "BANSHI_EVAL_HOTLINE")]
    dataset: PathBuf,
    /// gov_qa.jsonl: its test-split questions check how often plain questions are misrouted.
    #[arg(long, env = "BANSHI_EVAL_GOVQA")]
    questions: Option<PathBuf>,
    /// A fine-tuned classifier to score as well, e.g. one `banshi train appeal --split dev`
    /// wrote (DATA_DIR/appeal-encoder.safetensors). The seed-set one is trained here (≈ 1 min).
    #[arg(long, env = "BANSHI_EVAL_ENCODER")]
    encoder: Option<PathBuf>,
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct AnswersArgs {
    /// gov_qa.jsonl; its answers are indexed and its test-split questions asked.
    #[arg(long, env = "BANSHI_EVAL_GOVQA")]
    dataset: PathBuf,
    /// How many questions to answer.
    #[arg(long, env = "BANSHI_EVAL_QUESTIONS", default_value_t = 100)]
    questions: usize,
    /// Which split's questions: test (report) or dev (trying prompt or policy changes).
    #[arg(long, env = "BANSHI_EVAL_SPLIT", default_value = "test")]
    split: Split,
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct OutOfKbArgs {
    /// The questions, `{"id", "split", "kind", "handled_by", "question"}` per line.
    #[arg(long, env = "BANSHI_EVAL_OUT_OF_KB", default_value = "eval/data/out_of_kb.jsonl")]
    questions: PathBuf,
    /// Which split: dev (trying changes) or test (report once).
    #[arg(long, env = "BANSHI_EVAL_SPLIT", default_value = "dev")]
    split: Split,
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct CatalogueArgs {
    /// The questions, `{"id", "split", "code", "question"}` per line.
    #[arg(long, env = "BANSHI_EVAL_CATALOGUE", default_value = "eval/data/catalogue_questions.jsonl")]
    questions: PathBuf,
    /// Which split: dev (tuning) or test (report once).
    #[arg(long, env = "BANSHI_EVAL_SPLIT", default_value = "dev")]
    split: Split,
    /// Fusion for hybrid (as `serve` uses it).
    #[arg(long, env = "BANSHI_FUSION", default_value = DEFAULT_FUSION)]
    fusion: Fusion,
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RetrievalArgs {
    /// gov_qa.jsonl ({id, question, answer, unit} per line).
    #[arg(long, env = "BANSHI_EVAL_GOVQA")]
    dataset: PathBuf,
    /// Which split's questions to ask: test (report), dev (tuning), or holdout (the tenth of dev
    /// the bundled query encoder was not trained on; with --tune or --calibrate, fit on it).
    #[arg(long, env = "BANSHI_EVAL_SPLIT", default_value = "test")]
    split: Split,
    /// Fusion for hybrid: `rrf:K:DENSE_WEIGHT:SPARSE_WEIGHT` or `dbsf`.
    #[arg(long, env = "BANSHI_FUSION", default_value = DEFAULT_FUSION)]
    fusion: Fusion,
    /// Grid-search fusion settings on the dev split (or holdout) and print the table (no report).
    #[arg(long, env = "BANSHI_EVAL_TUNE")]
    tune: bool,
    /// Fit the confidence calibration on the dev split (or holdout) and print the coefficients.
    #[arg(long, env = "BANSHI_EVAL_CALIBRATE")]
    calibrate: bool,
    /// With --calibrate: also write the fitted coefficients to this file (the form `--calibration`
    /// reads, e.g. knowledge/data/calibration.toml for the bundled default).
    #[arg(long, env = "BANSHI_EVAL_WRITE_CALIBRATION", requires = "calibrate")]
    write_calibration: Option<PathBuf>,
    /// With --calibrate: questions the corpus does not answer (`{"question", "split"}` per line;
    /// only the dev split is read), fitted as negatives so that a confident wrong item is
    /// learnt too.
    #[arg(long, env = "BANSHI_EVAL_NEGATIVES", default_value = "eval/data/out_of_kb.jsonl")]
    negatives: PathBuf,
    /// Print this many dev-split questions that hybrid search misses in its top 5.
    #[arg(long, env = "BANSHI_EVAL_FAILURES")]
    failures: Option<usize>,
    /// Where the Markdown + JSON reports go (default DATA_DIR/reports).
    #[arg(long, env = "BANSHI_REPORTS")]
    out: Option<PathBuf>,
}

/// The fusion chosen on the dev split (see `--tune`).
pub const DEFAULT_FUSION: &str = "linear:0.7";

pub async fn run(common: &Common, what: What) -> anyhow::Result<()> {
    match what {
        What::Retrieval(args) => retrieval(common, args).await,
        What::Catalogue(args) => catalogue(common, args).await,
        What::Answers(args) => answers(common, args).await,
        What::Appeal(args) => appeal(common, args),
        What::Forms(args) => forms(common, args),
        What::Prereview(args) => prereview(common, args).await,
        What::Injection(args) => injection(common, args).await,
        What::OutOfKb(args) => out_of_kb(common, args).await,
    }
}

async fn prereview(common: &Common, args: PrereviewArgs) -> anyhow::Result<()> {
    use banshi_eval::prereview::{markdown, run};
    let compute = super::start_compute(common, super::Need::Ocr)?;
    if !compute.has_ocr() {
        bail!("the OCR models are missing in {} (run `banshi models fetch`)", common.models_dir().display());
    }
    let guides = banshi_knowledge::import::load_path(&banshi_knowledge::bundled_guides_dir().join("sample"))?.guides;
    let report =
        run(&guides, &compute, chrono::Local::now().date_naive(), &|n, total| eprintln!("pre-reviewing generated sets: {n}/{total}"))
            .await?;
    let md = markdown(&report);
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, "prereview", &md, &report)?;
    println!("{}\nreports: {}", md.lines().take(16).collect::<Vec<_>>().join("\n"), out.join("prereview.md").display());
    Ok(())
}

fn forms(common: &Common, args: FormsArgs) -> anyhow::Result<()> {
    use banshi_eval::forms::{bundle_rows, markdown};
    let base = banshi_knowledge::bundled_guides_dir();
    let paths = if args.paths.is_empty() { vec![base.join("sample"), base.join("bundles")] } else { args.paths };
    let (mut guides, mut bundles) = (Vec::new(), Vec::new());
    for p in &paths {
        let loaded = banshi_knowledge::import::load_path(p)?;
        guides.extend(loaded.guides);
        bundles.extend(loaded.bundles);
    }
    if bundles.is_empty() {
        bail!("no bundle (code BUNDLE-…) found in {paths:?}");
    }
    let rows = bundle_rows(&bundles, &guides)?;
    let md = markdown(&rows);
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, "forms", &md, &rows)?;
    println!("{md}\nreports: {}", out.join("forms.md").display());
    Ok(())
}

async fn retrieval(common: &Common, args: RetrievalArgs) -> anyhow::Result<()> {
    if !args.dataset.is_file() {
        bail!("dataset {} does not exist (expected gov_qa.jsonl from ../shared/data/msgabench)", args.dataset.display());
    }
    let started = Instant::now();
    let compute = super::start_compute(common, super::Need::Embedder)?;
    let dense = compute.embed_dim().is_some();
    let mut eval =
        RetrievalEval::prepare(&args.dataset, &common.data_dir.join("eval/gov_qa"), Some(compute), eval_qdrant(common).as_ref()).await?;
    eval.set_calibration(common.calibration()?);
    if let Some(n) = args.failures {
        eval.embed_questions(Split::Dev).await?;
        let (outcomes, _) = eval.run_mode(Split::Dev, Mode::Hybrid, args.fusion).await?;
        let short = |t: &str| t.chars().take(80).collect::<String>().replace('\n', " ");
        for o in outcomes.iter().filter(|o| o.rank.is_none_or(|r| r > 5)).take(n) {
            let row = eval.passage(&format!("Q{}", o.id)).expect("row");
            println!("Q{} {}\n  want: {}", o.id, short(&row.question), short(&row.answer));
            if let Some(top) = o.retrieved.first().and_then(|c| eval.passage(c)) {
                println!("  got:  {} (Q{}: {})", short(&top.answer), top.id, short(&top.question));
            }
        }
        return Ok(());
    }
    // Fitting reads dev questions: all of them, or with `--split holdout` those the bundled
    // query encoder was not trained on.
    let fit_on = if args.split == Split::Holdout { Split::Holdout } else { Split::Dev };
    if args.tune || args.calibrate {
        eval.embed_questions(fit_on).await?;
    }
    if args.tune {
        return tune(&eval, fit_on).await;
    }
    if args.calibrate {
        let negatives = read_questions(&args.negatives)?;
        let fitted = calibrate_on(&eval, fit_on, &negatives, args.fusion, dense).await?;
        if let Some(path) = &args.write_calibration {
            std::fs::write(path, fitted.to_toml(&fitted_how(common, &args, negatives.len())))
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        return Ok(());
    }
    let modes: &[Mode] = if dense { &[Mode::Sparse, Mode::Dense, Mode::Hybrid] } else { &[Mode::Sparse] };
    let mut reports = Vec::new();
    let mut questions = 0;
    for &mode in modes {
        let (outcomes, latencies) = eval.run_mode(args.split, mode, args.fusion).await?;
        questions = outcomes.len();
        reports.push(score(mode, &outcomes, &latencies));
    }
    let report = RetrievalReport {
        dataset: args.dataset.display().to_string(),
        split: args.split.as_str().into(),
        passages: eval.rows.len(),
        questions,
        passages_embedded_this_run: eval.embedded,
        embed_seconds: eval.embed_seconds,
        passages_per_second: (eval.embedded > 0).then(|| eval.embedded as f64 / eval.embed_seconds),
        fusion: args.fusion.to_string(),
        query_encoder: common.query_encoder.clone(),
        modes: reports,
        run_seconds: started.elapsed().as_secs_f64(),
    };
    let md = report.markdown();
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, &format!("retrieval-{}", args.split.as_str()), &md, &report)?;
    println!("{md}\nReports written to {}", out.display());
    Ok(())
}

async fn tune(eval: &RetrievalEval, split: Split) -> anyhow::Result<()> {
    println!("| fusion | R@1 | R@5 | R@10 | MRR |\n|---|---|---|---|---|");
    let mut grid = vec![Fusion::Dbsf];
    for k in [2, 10, 60] {
        for (d, s) in [(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)] {
            grid.push(Fusion::Rrf { k, dense_weight: d, sparse_weight: s });
        }
    }
    for w in [0.5, 0.6, 0.7, 0.8, 0.9] {
        grid.push(Fusion::Linear { dense_weight: w });
    }
    for f in grid {
        let (o, l) = eval.run_mode(split, Mode::Hybrid, f).await?;
        let r = score(Mode::Hybrid, &o, &l);
        println!("| {} | {:.3} | {:.3} | {:.3} | {:.3} |", f, r.recall_at_1, r.recall_at_5, r.recall_at_10, r.mrr);
    }
    Ok(())
}

/// Fit the coefficients on `split`'s questions (positives) and `negatives`, printing the fit.
/// Without `dense` only the sparse-only coefficients are fitted; the others stay as they were.
async fn calibrate_on(
    eval: &RetrievalEval,
    split: Split,
    negatives: &[String],
    fusion: Fusion,
    dense: bool,
) -> anyhow::Result<Calibration> {
    let mut c = eval.calibration();
    for (mode, use_cosine) in [(Mode::Hybrid, true), (Mode::Sparse, false)] {
        if mode == Mode::Hybrid && !dense {
            continue;
        }
        let (outcomes, _) = eval.run_mode(split, mode, fusion).await?;
        let mut rows: Vec<_> = outcomes.iter().map(|o| (o.features, o.rank == Some(1))).collect();
        let positives = rows.len();
        rows.extend(eval.features_of(negatives, mode, fusion).await?.into_iter().map(|f| (f, false)));
        let w = calibrate::fit(&rows, use_cosine);
        let predicted: Vec<(f32, bool)> = rows.iter().map(|(f, y)| (logistic(w, *f), *y)).collect();
        let threshold = banshi_assistant::ANSWER_THRESHOLD;
        let right_answered = predicted[..positives].iter().filter(|(p, y)| *y && *p >= threshold).count();
        let right = predicted[..positives].iter().filter(|(_, y)| *y).count();
        let refused = predicted[positives..].iter().filter(|(p, _)| *p < threshold).count();
        println!(
            "{}: coefficients {:?}, ECE {:.3} on {} {} questions + {} negatives; at {threshold}: {right_answered}/{right} right top-1 answered, {refused}/{} negatives refused",
            mode.as_str(),
            w,
            calibrate::ece(&predicted),
            positives,
            split.as_str(),
            negatives.len(),
            negatives.len()
        );
        if use_cosine {
            c.with_dense = w;
        } else {
            c.sparse_only = w;
        }
    }
    println!("with_dense = {:?}\nsparse_only = {:?}", c.with_dense, c.sparse_only);
    Ok(c)
}

/// The header of a written calibration file: what it was fitted on, and the command.
fn fitted_how(common: &Common, args: &RetrievalArgs, negatives: usize) -> String {
    let split = if args.split == Split::Holdout { "holdout" } else { "dev" };
    format!(
        "Retrieval confidence: logistic coefficients [bias, cosine, coverage, margin].\n\
         Fitted by `banshi --query-encoder {} eval retrieval --calibrate --split {split} --fusion {} --dataset {} --negatives {}`\n\
         on {split} questions only ({negatives} negatives); written {}.",
        common.query_encoder,
        args.fusion,
        args.dataset.display(),
        args.negatives.display(),
        chrono::Utc::now().format("%Y-%m-%d")
    )
}

/// The dev-split questions of `{"question", "split"}` lines (test rows are never fitted on).
fn read_questions(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Q {
        question: String,
        split: String,
    }
    Ok(banshi_eval::read_jsonl::<Q>(path)?.into_iter().filter(|q| q.split == "dev").map(|q| q.question).collect())
}

async fn answers(common: &Common, args: AnswersArgs) -> anyhow::Result<()> {
    if !args.dataset.is_file() {
        bail!("dataset {} does not exist (expected gov_qa.jsonl from ../shared/data/msgabench)", args.dataset.display());
    }
    let compute = super::start_compute(common, super::Need::EmbedderAndGenerator)?;
    if !compute.has_generator() || compute.embed_dim().is_none() {
        bail!("the answer evaluation needs the generator and the embedder: run `banshi models fetch`");
    }
    let eval =
        RetrievalEval::prepare(&args.dataset, &common.data_dir.join("eval/gov_qa"), Some(compute.clone()), eval_qdrant(common).as_ref())
            .await?;
    let grounded = banshi_eval::answers::grounded(&eval, &compute, args.split, args.questions).await?;
    let report = banshi_eval::answers::report(args.split, grounded);
    let md = report.markdown();
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, "answers", &md, &report)?;
    println!("{md}\nReports written to {}", out.display());
    Ok(())
}

/// The dialogue engine as `serve` builds it (the data dir's knowledge base and appeal
/// classifier, the deployment file), for evaluations that run whole turns.
async fn eval_assistant(common: &Common) -> anyhow::Result<banshi_assistant::Assistant> {
    let compute = super::start_compute(common, super::Need::EmbedderAndGenerator)?;
    if !compute.has_generator() {
        eprintln!("note: no generator loaded: answers are extractive, so this measures retrieval and templates only");
    }
    let kb = std::sync::Arc::new(super::open_kb(common, Some(compute.clone())).await?);
    if kb.store.count_live().await? == 0 {
        bail!("the knowledge base in {} is empty: run `banshi ingest` first", common.data_dir.display());
    }
    let appeal = banshi_assistant::appeal::AppealModel::load_or_seed(&common.data_dir)?;
    let assistant = banshi_assistant::Assistant::new(kb, Some(compute)).with_deployment(common.deployment()?).with_appeal_model(appeal);
    assistant.warm();
    Ok(assistant)
}

async fn catalogue(common: &Common, args: CatalogueArgs) -> anyhow::Result<()> {
    use banshi_eval::catalogue::{of_split, run, Question};
    let questions = of_split(banshi_eval::read_jsonl::<Question>(&args.questions)?, args.split);
    if questions.is_empty() {
        bail!("{} has no {} rows", args.questions.display(), args.split.as_str());
    }
    let compute = super::start_compute(common, super::Need::Embedder)?;
    let modes: &[Mode] = if compute.embed_dim().is_some() { &[Mode::Sparse, Mode::Dense, Mode::Hybrid] } else { &[Mode::Sparse] };
    let kb = super::open_kb(common, Some(compute)).await?;
    if kb.store.count_live().await? == 0 {
        bail!("the knowledge base in {} is empty: run `banshi ingest` first", common.data_dir.display());
    }
    let report = run(&kb, args.split, &questions, modes, args.fusion).await?;
    let md = format!("{}\nQuery encoder: {}.\n", report.markdown(), common.query_encoder);
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, &format!("catalogue-{}", args.split.as_str()), &md, &report)?;
    println!("{md}\nReports written to {}", out.display());
    Ok(())
}

async fn out_of_kb(common: &Common, args: OutOfKbArgs) -> anyhow::Result<()> {
    use banshi_eval::out_of_kb::{of_split, report, run, Question};
    let questions = of_split(banshi_eval::read_jsonl::<Question>(&args.questions)?, args.split);
    if questions.is_empty() {
        bail!("{} has no {} rows", args.questions.display(), args.split.as_str());
    }
    let assistant = eval_assistant(common).await?;
    let report = report(args.split, run(&assistant, &questions).await?);
    let md = report.markdown();
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, &format!("out-of-kb-{}", args.split.as_str()), &md, &report)?;
    println!("{md}\nReports written to {}", out.display());
    Ok(())
}

async fn injection(common: &Common, args: InjectionArgs) -> anyhow::Result<()> {
    use banshi_eval::injection::{of_split, report, run, Attempt};
    let attempts = of_split(banshi_eval::read_jsonl::<Attempt>(&args.attempts)?, args.split);
    if attempts.is_empty() {
        bail!("{} has no {} rows", args.attempts.display(), args.split.as_str());
    }
    let assistant = eval_assistant(common).await?;
    let started = Instant::now();
    let rows = run(&assistant, &attempts).await?;
    let report = report(args.split, rows);
    let md = format!("{}\n{:.0} s in all.\n", report.markdown(), started.elapsed().as_secs_f64());
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, &format!("injection-{}", args.split.as_str()), &md, &report)?;
    println!("{md}\nReports written to {}", out.display());
    Ok(())
}

fn appeal(common: &Common, args: AppealArgs) -> anyhow::Result<()> {
    use banshi_assistant::appeal::{encoder, seed_examples, AppealModel};
    use banshi_eval::appeal::{label_agreement, load, majority, score_encoder, score_model, word_baseline, AppealReport};
    if !args.dataset.is_file() {
        bail!("dataset {} does not exist (expected hotline_messages.jsonl from ../shared/data/msgabench)", args.dataset.display());
    }
    let started = Instant::now();
    let (dev, test) = load(&args.dataset)?;
    let questions: Vec<String> = match &args.questions {
        Some(p) => {
            #[derive(serde::Deserialize)]
            struct Q {
                id: u64,
                question: String,
            }
            banshi_eval::read_jsonl::<Q>(p)?.into_iter().filter(|q| Split::Test.contains(q.id)).map(|q| q.question).collect()
        }
        None => Vec::new(),
    };
    let policy = banshi_assistant::Policy::default();
    let seed = AppealModel::train(&seed_examples(), "seed set")?;
    let trained = AppealModel::train(&dev, "dev split")?;
    let mut models = vec![
        majority(&dev, &test),
        word_baseline(&dev, &test),
        score_model("banshi TF-IDF, seed-trained (fallback without hotline data)", &seed, &test, &questions, policy),
        score_model("banshi TF-IDF, dev-trained (what ./run.sh trains and serves)", &trained, &test, &questions, policy),
    ];
    let embedder_path = common.models_dir().join(banshi_models::files::EMBEDDER_FILE);
    if embedder_path.exists() {
        let embedder = banshi_models::Embedder::from_file(&embedder_path)?;
        eprintln!("fine-tuning the encoder on the seed set …");
        let cfg = banshi_models::e5_classifier::TuneConfig::default();
        let seed_encoder = encoder::train(&embedder, &seed_examples(), &cfg, "seed set", &mut |_| {})?;
        models.push(score_encoder("banshi e5 fine-tuned, seed-trained", &seed_encoder, &embedder, &test, &questions, policy)?);
        if let Some(path) = &args.encoder {
            let c = banshi_models::e5_classifier::E5Classifier::load(path, &embedder)?;
            eprintln!("scoring {} ({}) …", path.display(), c.spec().trained_on);
            models.push(score_encoder("banshi e5 fine-tuned", &c, &embedder, &test, &questions, policy)?);
        }
    } else if args.encoder.is_some() {
        bail!("--encoder needs the embedder at {} (run `banshi models fetch`)", embedder_path.display());
    } else {
        eprintln!("no embedder at {}: the fine-tuned classifiers are not scored", embedder_path.display());
    }
    let (type_agreement, domain_agreement) = label_agreement(&dev.iter().chain(&test).collect::<Vec<_>>());
    let report = AppealReport {
        dataset: args.dataset.display().to_string(),
        dev_rows: dev.len(),
        test_rows: test.len(),
        test_rows_with_domain: test.iter().filter(|r| r.domain.is_some()).count(),
        questions_checked: questions.len(),
        sure_threshold: policy.sure,
        models,
        type_agreement,
        domain_agreement,
        run_seconds: started.elapsed().as_secs_f64(),
    };
    let md = report.markdown();
    let out = args.out.unwrap_or_else(|| common.data_dir.join("reports"));
    write_report(&out, "appeal", &md, &report)?;
    println!("{md}\nReports written to {}", out.display());
    Ok(())
}

/// With `--qdrant-url`, the evaluation's own collection on that server (`<collection>_eval_gov_qa`).
fn eval_qdrant(common: &Common) -> Option<banshi_eval::retrieval::QdrantTarget> {
    common.qdrant_url.as_ref().map(|url| banshi_eval::retrieval::QdrantTarget {
        url: url.clone(),
        collection: format!("{}_eval_gov_qa", common.qdrant_collection),
    })
}
