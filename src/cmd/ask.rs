//! `banshi ask`: the assistant in the terminal, streaming (interactive when no question given).

use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::bail;
use banshi_assistant::contract::Contract;
use banshi_assistant::{AnswerEvent, Assistant, DialogueState};
use tokio::sync::mpsc;

use crate::Common;

#[derive(clap::Args)]
pub struct AskArgs {
    /// The question; without it, a conversation on standard input (follow-ups work).
    question: Option<String>,
}

pub async fn run(common: &Common, args: AskArgs) -> anyhow::Result<()> {
    let models = super::model_set::start(common, super::Need::EmbedderAndGenerator).await?;
    let kb = Arc::new(super::open_kb_with(common, models.embed.clone()).await?);
    if kb.store.count_live().await? == 0 {
        bail!("the knowledge base in {} is empty: run `banshi ingest` first", common.data_dir.display());
    }
    let assistant = Assistant::new(kb, Some(models.compute)).with_chat(models.chat).with_deployment(common.deployment()?);
    let mut state = DialogueState::default();
    if let Some(q) = args.question {
        // One question: its search goes first (the sources card in well under a second), its
        // generation prefills the system prompt as it would have been warmed.
        return turn(&assistant, &mut state, &q).await;
    }
    // While the citizen types, the system prompt is prefilled once for every turn.
    assistant.warm();
    print!("您> ");
    std::io::stdout().flush()?;
    for line in std::io::stdin().lock().lines() {
        let q = line?;
        if !q.trim().is_empty() {
            turn(&assistant, &mut state, q.trim()).await?;
        }
        print!("您> ");
        std::io::stdout().flush()?;
    }
    println!();
    Ok(())
}

async fn turn(assistant: &Assistant, state: &mut DialogueState, q: &str) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::channel(64);
    let started = std::time::Instant::now();
    // The terminal follows the same stream contract as the web page: text the turn does not
    // stand behind is marked as withdrawn (a terminal cannot erase what it printed).
    let printer = tokio::spawn(async move {
        let mut first_token = None;
        let mut contract = Contract::new();
        while let Some(ev) = rx.recv().await {
            for ev in contract.pass(ev) {
                print_event(&ev, started, &mut first_token);
            }
        }
        contract
    });
    let outcome = assistant.respond(state, q, &tx).await;
    drop(tx);
    let mut contract = printer.await?;
    let outcome = outcome?;
    let mut first_token = None;
    for ev in contract.finish(&outcome) {
        print_event(&ev, started, &mut first_token);
    }
    let gen = outcome
        .generation
        .map(|g| {
            format!(
                ", {} tokens, prefill {:.2} s ({} cached), decode {:.1} tok/s",
                g.generated_tokens,
                g.prefill_seconds,
                g.cached_tokens,
                g.generated_tokens as f64 / g.decode_seconds.max(1e-9)
            )
        })
        .unwrap_or_default();
    eprintln!("\n[{:?}, {:.1} s{gen}]", outcome.kind, started.elapsed().as_secs_f64());
    Ok(())
}

fn print_event(ev: &AnswerEvent, started: std::time::Instant, first_token: &mut Option<f64>) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    match ev {
        AnswerEvent::Status { message } => eprintln!("[{message}]"),
        AnswerEvent::Sources { card } => {
            println!("── {}（{}）{} [{ms:.0} ms]", card.name, card.department, if card.sample { " · 示例数据" } else { "" });
            if !card.materials.is_empty() {
                println!("   材料：{}", card.materials.join("；"));
            }
            let limits: Vec<String> =
                [card.legal_time_limit.as_ref().map(|t| format!("法定{t}")), card.promised_time_limit.as_ref().map(|t| format!("承诺{t}"))]
                    .into_iter()
                    .flatten()
                    .collect();
            println!("   时限：{}", if limits.is_empty() { "未载明".into() } else { limits.join("，") });
            println!("   收费：{}", card.fees.as_deref().unwrap_or("未载明"));
            if !card.places.is_empty() {
                println!("   地点：{}", card.places.join("；"));
            }
            if let Some(p) = &card.consult_phone {
                println!("   电话：{p}");
            }
            println!("──");
        }
        AnswerEvent::Token { text } => {
            if first_token.is_none() {
                *first_token = Some(ms);
                eprint!("[first token {ms:.0} ms] ");
            }
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
        AnswerEvent::Citations { sources, verification } => {
            println!();
            for s in sources {
                println!("  [{}] {} · {}", s.n, s.item, s.title);
            }
            if !verification.passed {
                println!("  (未通过核验)");
            }
        }
        AnswerEvent::Settled { text, removed, sources, .. } => {
            println!();
            for r in removed {
                println!("  [已删去：{}（{}）]", r.text, r.reason.as_deref().unwrap_or("无资料支持"));
            }
            println!("[核验后的回答]\n{text}");
            for s in sources {
                println!("  [{}] {} · {}", s.n, s.item, s.title);
            }
        }
        AnswerEvent::Replace { text, reason, sources } => {
            println!("\n[{reason}，已改为办事指南原文摘录]\n{text}");
            for s in sources {
                println!("  [{}] {} · {}", s.n, s.item, s.title);
            }
        }
        AnswerEvent::Clarify { question, options } => {
            println!("{question}");
            for (i, o) in options.iter().enumerate() {
                println!("  {}. {o}", i + 1);
            }
        }
        AnswerEvent::Withdraw { reason } => println!("\n[以上生成内容已撤回：{reason}]"),
        AnswerEvent::Decline { message, .. } => println!("{message}"),
        // The terminal has no agent queue: say where people are.
        AnswerEvent::Handoff { message, .. } => {
            println!("{message}\n（命令行模式没有人工坐席：请使用网页客服，或拨打12345政务服务便民热线。）")
        }
        AnswerEvent::Bundle { card } => {
            let items: Vec<&str> = card.items.iter().map(|i| i.0.as_str()).collect();
            println!("── {}（{}）[{ms:.0} ms]\n   事项：{}", card.name, card.department, items.join("、"));
            for m in &card.materials {
                println!("   材料：{}（{}）", m.name, m.needed_by.join("、"));
            }
            println!("──");
        }
        AnswerEvent::Form { form } => {
            println!("── 表单：{}", form.title);
            for f in form.fields.iter().filter(|f| f.produced_by.is_none()) {
                let v = f.value.as_deref().unwrap_or("（待填）");
                println!(
                    "   {}{}：{v}{}",
                    f.label,
                    if f.required { "*" } else { "" },
                    f.source.as_deref().map(|s| format!(" ［{s}］")).unwrap_or_default()
                );
            }
            println!("──");
        }
        AnswerEvent::Curated { source, .. } => println!("[经审核的标准答复 · {source}]"),
        AnswerEvent::Actions { actions } => {
            let labels: Vec<&str> = actions.iter().map(|a| a.text.as_str()).collect();
            println!("\n（可回复：{}）", labels.join(" / "));
        }
    }
}
