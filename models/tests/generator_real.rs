//! The real Qwen2.5-Coder-1.5B-Instruct: a grounded answer stops at `<|im_end|>`, drafting from
//! the prompt gives the same greedy text, and tok/s is printed. Skips, saying so, when the
//! models dir has no generator (run `banshi models fetch`).

use std::ops::ControlFlow;
use std::time::Instant;

use banshi_models::files::{GENERATOR_FILE, GENERATOR_TOKENIZER_FILE};
use banshi_models::generator::{chatml, Message, Role};
use banshi_models::{default_models_dir, GenParams, Generator};

fn generator() -> Option<Generator> {
    let dir = default_models_dir();
    let (gguf, tok) = (dir.join(GENERATOR_FILE), dir.join(GENERATOR_TOKENIZER_FILE));
    if !gguf.exists() || !tok.exists() {
        eprintln!("SKIPPED: {} not found (run `banshi models fetch`)", gguf.display());
        return None;
    }
    Some(Generator::from_files(&gguf, &tok).expect("the real generator loads"))
}

#[test]
fn answers_from_the_context_stops_and_drafting_is_exact() {
    let Some(mut g) = generator() else { return };
    let prompt = chatml(&[
        Message { role: Role::System, content: "你是政务服务助手，只根据资料回答，回答简短。".into() },
        Message {
            role: Role::User,
            content: "资料：[1] 居民身份证换领的收费标准：居民身份证工本费20元。\n问题：换身份证要交多少钱？".into(),
        },
    ]);
    let tokens = g.encode(&prompt).unwrap();
    let mut run = |draft: usize| {
        let mut text = String::new();
        let started = Instant::now();
        let stats = g
            .generate(&tokens, &GenParams { max_tokens: 48, draft, ..GenParams::default() }, |p| {
                text.push_str(p);
                ControlFlow::Continue(())
            })
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "draft {draft}: {:?} — {} tokens, prefill {:.2} s, decode {:.1} tok/s ({} steps, {} drafted accepted), total {secs:.1} s",
            text,
            stats.generated_tokens,
            stats.prefill_seconds,
            stats.generated_tokens as f64 / stats.decode_seconds.max(1e-9),
            stats.decode_steps,
            stats.drafted_accepted
        );
        (text, stats)
    };
    let (plain, s1) = run(0);
    assert!(plain.contains("20"), "the answer states the fee from the context: {plain:?}");
    assert!(s1.stopped_by_eos, "a short answer ends with <|im_end|>");
    let (drafted, s2) = run(8);
    assert_eq!(plain, drafted, "prompt-lookup drafting must not change greedy output");
    assert!(s2.cached_tokens >= tokens.len() - 1, "the second run reuses the whole prompt");
}
