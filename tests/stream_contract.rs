//! The stream contract end to end: every streamed token is confirmed, replaced or withdrawn
//! before `done`; `done.text`, the stored answer, the history and a replay (same `client_id`)
//! all leave the citizen with the same text, for every kind of outcome.
//!
//! A real `banshi serve` runs with a tiny chat model the test writes (the real GGUF and
//! tokenizer formats, random weights) whose every word reads as the model declining: what it
//! streams is text that is then withdrawn or replaced, as a real model's can be. Retrieval is
//! sparse (no embedder).

mod common;

use std::path::Path;
use std::time::Duration;

use banshi_models::files::{GENERATOR_FILE, GENERATOR_TOKENIZER_FILE};
use common::browser::*;
use common::*;
use fantoccini::Locator;
use serde_json::Value;

/// What every word of the tiny model reads as (with its number after it): whatever the random
/// weights write is the model saying the sources do not answer.
const WORD: &str = "知识库中没有相关信息";

/// A models dir holding only the tiny chat model.
fn tiny_models(dir: &Path) {
    std::fs::write(dir.join(GENERATOR_FILE), banshi_models::testing::tiny_qwen2_gguf()).unwrap();
    banshi_models::testing::tiny_qwen_tokenizer_with(|i| format!("{WORD}{i}")).save(dir.join(GENERATOR_TOKENIZER_FILE), false).unwrap();
}

fn started(tag: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    tiny_models(&models);
    ingest(dir.path(), None);
    eprintln!("[{tag}] serving with the tiny chat model");
    let server = Server::start(dir.path(), Some(&models), &[]);
    (dir, server)
}

/// What a client that follows the contract is left with, written independently of the
/// server's own reducer. Panics if `done` arrives with unconfirmed text that is not the answer.
fn reduce(events: &[Sse]) -> (String, Value) {
    let mut blocks: Vec<String> = Vec::new();
    let mut provisional = String::new();
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    for e in events {
        let d = &e.data;
        match e.event.as_str() {
            "token" => provisional.push_str(&text(d, "text")),
            "citations" => blocks.push(std::mem::take(&mut provisional)),
            "settled" | "replace" => {
                provisional.clear();
                blocks.push(text(d, "text"));
            }
            "withdraw" => provisional.clear(),
            "clarify" => {
                let mut t = text(d, "question");
                for (i, o) in d["options"].as_array().unwrap().iter().enumerate() {
                    t.push_str(&format!("\n{}. {}", i + 1, o.as_str().unwrap()));
                }
                blocks.push(t);
            }
            "decline" | "handoff" => blocks.push(text(d, "message")),
            "done" => {
                let stored = text(d, "text");
                assert!(
                    provisional.is_empty() || provisional == stored,
                    "`done` left unconfirmed text on screen: {provisional:?} (answer {stored:?})"
                );
                blocks.push(std::mem::take(&mut provisional));
                blocks.retain(|b| !b.is_empty());
                return (blocks.join("\n"), d.clone());
            }
            _ => {}
        }
    }
    panic!("no done event in {events:?}");
}

/// Ask, then check stream, record, history and replay agree; returns the live events.
async fn check_turn(url: &str, s: &Session, question: &str, cid: &str) -> Vec<Sse> {
    let (status, live) = ask(url, s, question, Some(cid)).await;
    assert_eq!(status, 200, "{live:?}");
    let (shown, done) = reduce(&live);
    assert_eq!(shown, done["text"].as_str().unwrap(), "{question}: the stream leaves the stored text ({:?})", names(&live));
    let stored = history(url, s).await.into_iter().find(|m| m["id"] == done["message_id"]).expect("the answer is stored");
    assert_eq!(stored["text"].as_str().unwrap(), shown, "{question}: the record holds what was shown");
    assert!(stored["meta"]["shown"].is_array(), "the record keeps the shown events");

    let (_, again) = ask(url, s, question, Some(cid)).await;
    assert_eq!(again[0].data["replayed"], true, "{:?}", names(&again));
    let (replayed, _) = reduce(&again);
    assert_eq!(replayed, shown, "{question}: a replay shows the same");
    // Field for field: the replay sends the events the live stream left, with the same data
    // (the `done` too: same message id, kind and text).
    assert_eq!(visible(&again), visible(&live), "{question}: the replay has the live stream's events");
    live
}

/// The events a client is left with, with their data: token runs collapsed into one token
/// (their text joined), a run that a withdraw, settled or replace took back dropped, progress
/// lines (status, message ids, queue state) left out.
fn visible(events: &[Sse]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    for e in events.iter().filter(|e| !matches!(e.event.as_str(), "status" | "message" | "ticket")) {
        let n = e.event.clone();
        let last_is_token = out.last().is_some_and(|(l, _)| l == "token");
        if matches!(n.as_str(), "withdraw" | "settled" | "replace") && last_is_token {
            out.pop();
        }
        if n == "token" && last_is_token {
            let run = &mut out.last_mut().unwrap().1;
            run["text"] = Value::String(format!("{}{}", run["text"].as_str().unwrap(), e.data["text"].as_str().unwrap()));
            continue;
        }
        out.push((n, e.data.clone()));
    }
    out
}

/// Text the tiny model wrote (its words carry their number).
fn gibberish(s: &str) -> bool {
    s.match_indices(WORD).any(|(at, _)| s[at + WORD.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[tokio::test]
async fn every_outcome_leaves_the_record_on_screen() {
    let (_dir, server) = started("every_outcome_leaves_the_record_on_screen");
    let url = &server.url;

    // A question retrieval answers: the model streams that the sections do not answer, so the
    // text is withdrawn before the clarifying question.
    let s = create_session(url).await;
    let live = check_turn(url, &s, "身份证过期了换证要交多少钱", "a1").await;
    let n = names(&live);
    let tokens: String = live.iter().filter(|e| e.event == "token").map(|e| e.data["text"].as_str().unwrap()).collect();
    assert!(gibberish(&tokens), "the tiny model streamed first: {n:?}");
    let w = n.iter().position(|e| *e == "withdraw").unwrap_or_else(|| panic!("a withdraw: {n:?}"));
    let c = n.iter().position(|e| *e == "clarify").unwrap_or_else(|| panic!("then a clarification: {n:?}"));
    assert!(w < c, "{n:?}");
    let stored = history(url, &s).await.into_iter().last().unwrap();
    assert!(!gibberish(stored["text"].as_str().unwrap()), "{stored}");
    assert!(gibberish(stored["meta"]["withdrawn"][0]["text"].as_str().unwrap()), "agents can see what was taken back: {stored}");

    // Picking an option answers the item; the model again finds no answer and the guide's own
    // words replace its text.
    let live = check_turn(url, &s, "1", "a2").await;
    assert!(names(&live).contains(&"replace"), "{:?}", names(&live));
    assert!(!gibberish(&reduce(&live).0));

    // Templated replies are confirmed by the turn ending with them; hand-offs and declines
    // carry their own text.
    for (q, kind) in [("你好", "small_talk"), ("我要转人工客服", "handoff")] {
        let s = create_session(url).await;
        let live = check_turn(url, &s, q, &format!("k-{kind}")).await;
        assert_eq!(reduce(&live).1["kind"], kind, "{q}: {:?}", names(&live));
    }
    let s = create_session(url).await;
    for (i, q) in ["火星移民签证的配额怎么抽签", "就是火星移民的那个抽签"].iter().enumerate() {
        let live = check_turn(url, &s, q, &format!("m{i}")).await;
        assert!(!gibberish(&reduce(&live).0), "{q}: {:?}", names(&live));
    }
}

/// The page follows the same contract: after a withdrawal nothing the model streamed is left,
/// the notice says why, and a reload shows the same conversation.
#[tokio::test]
async fn the_page_removes_withdrawn_text() {
    let Some(mut driver) = Driver::start("the_page_removes_withdrawn_text") else { return };
    let (_dir, server) = started("the_page_removes_withdrawn_text");
    let c = driver.browser("420,900").await;
    c.goto(&server.url).await.unwrap();
    let input = c.wait().for_element(Locator::Css("#input")).await.unwrap();
    input.send_keys("身份证过期了换证要交多少钱").await.unwrap();
    c.find(Locator::Css("#send")).await.unwrap().click().await.unwrap();
    wait_text(&c, ".msg.assistant .notice.withdrawn", "撤回", Duration::from_secs(60)).await;
    c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(".msg.assistant .options button")).await.unwrap();
    let bubble = c.find(Locator::Css(".msg.assistant .bubble")).await.unwrap().text().await.unwrap();
    assert!(!gibberish(&bubble), "no streamed text is left on the page: {bubble}");
    shot(&c, "contract-1-withdrawn.png").await;

    c.refresh().await.unwrap();
    c.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css(".msg.assistant .options button")).await.unwrap();
    let after = c.find(Locator::Css(".msg.assistant .bubble")).await.unwrap().text().await.unwrap();
    assert_eq!(after, bubble, "the history shows what the live stream left");
    c.close().await.unwrap();
}
