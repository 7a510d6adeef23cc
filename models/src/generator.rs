//! Text generation with Qwen2.5-Instruct: ChatML prompts, sampling, stop tokens, a reused KV
//! prefix, prompt-lookup drafting, and an incremental text stream.
//!
//! Prefix reuse: the cache remembers which tokens it holds; a new prompt keeps the longest
//! common prefix (the fixed system prompt, and in a conversation the earlier turns) and only
//! the rest is prefilled. Prompt lookup: when the last generated tokens also occur in the
//! prompt, the tokens that followed them there are proposed as a draft and verified in one
//! forward pass; under greedy decoding the output is exactly what token-by-token decoding would
//! give, only faster when the answer copies the retrieved text.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use candle_transformers::generation::{LogitsProcessor, Sampling};
use tokenizers::Tokenizer;

use crate::qwen2::{argmax, Qwen2, MAX_CONTEXT};
use crate::ModelError;

/// Tokens that end an answer: `<|im_end|>` and `<|endoftext|>` (151645, 151643 in Qwen2.5).
pub const STOP_STRINGS: [&str; 2] = ["<|im_end|>", "<|endoftext|>"];

/// Sampling and length settings for one generation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenParams {
    pub max_tokens: usize,
    /// 0 = greedy (deterministic; enables prompt-lookup drafting).
    pub temperature: f64,
    pub top_p: f64,
    /// Applied to tokens generated so far (not the prompt, so copying sources is not punished).
    pub repeat_penalty: f32,
    pub seed: u64,
    /// Draft length for prompt lookup; 0 disables it.
    pub draft: usize,
}

impl Default for GenParams {
    fn default() -> Self {
        GenParams { max_tokens: 256, temperature: 0.0, top_p: 0.9, repeat_penalty: 1.05, seed: 42, draft: 8 }
    }
}

/// Timings and counts of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct GenStats {
    pub prompt_tokens: usize,
    /// Prompt tokens served from the cache (not prefilled).
    pub cached_tokens: usize,
    pub generated_tokens: usize,
    pub prefill_seconds: f64,
    pub decode_seconds: f64,
    /// Draft tokens accepted by verification.
    pub drafted_accepted: usize,
    /// Forward passes during decoding.
    pub decode_steps: usize,
    pub stopped_by_eos: bool,
}

/// A chat message for the ChatML template (and, as JSON, for the OpenAI-compatible API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// ChatML: `<|im_start|>role\n…<|im_end|>\n` per message, then the assistant's opening.
pub fn chatml(messages: &[Message]) -> String {
    let mut s = String::new();
    for m in messages {
        let role = match m.role {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        s.push_str(&format!("<|im_start|>{role}\n{}<|im_end|>\n", m.content));
    }
    s.push_str("<|im_start|>assistant\n");
    s
}

pub struct Generator {
    model: Qwen2,
    tokenizer: Tokenizer,
    /// Tokens whose keys and values are in the model's cache, in order.
    cached: Vec<u32>,
    stop: Vec<u32>,
}

impl Generator {
    /// Load the GGUF weights and the `tokenizer.json`.
    pub fn from_files(gguf: &Path, tokenizer: &Path) -> Result<Self, ModelError> {
        for p in [gguf, tokenizer] {
            if !p.exists() {
                return Err(ModelError::Missing(p.to_path_buf()));
            }
        }
        let mut file = std::fs::File::open(gguf).map_err(|e| ModelError::io(gguf, e))?;
        let content = gguf_file::Content::read(&mut file)
            .map_err(|e| ModelError::Format { file: gguf.display().to_string(), detail: e.to_string() })?;
        let model = Qwen2::from_gguf(content, &mut file, &Device::Cpu)?;
        let tokenizer = Tokenizer::from_file(tokenizer).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Self::new(model, tokenizer))
    }

    pub fn new(model: Qwen2, tokenizer: Tokenizer) -> Self {
        let stop = STOP_STRINGS.iter().filter_map(|s| tokenizer.token_to_id(s)).collect();
        Generator { model, tokenizer, cached: Vec::new(), stop }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Token ids of `text`; ChatML markers become their special tokens.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        Ok(self.tokenizer.encode(text, false).map_err(|e| ModelError::Tokenizer(e.to_string()))?.get_ids().to_vec())
    }

    /// Forget every cached token.
    pub fn clear_cache(&mut self) {
        self.model.clear_kv_cache();
        self.cached.clear();
    }

    /// Prefill `tokens` into the cache now (e.g. the system prompt at start-up) so later
    /// prompts that begin with them skip that work.
    pub fn warm_prefix(&mut self, tokens: &[u32]) -> Result<(), ModelError> {
        self.prefill(tokens)?;
        Ok(())
    }

    /// Make the cache hold exactly `prompt` minus its last token; return how many were reused.
    fn prefill(&mut self, prompt: &[u32]) -> Result<usize, ModelError> {
        let keep = self.cached.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        // Keep at least one prompt token to run, so there are logits to sample from.
        let keep = keep.min(prompt.len().saturating_sub(1));
        self.model.truncate(keep);
        self.cached.truncate(keep);
        let rest = &prompt[keep..prompt.len().saturating_sub(1)];
        // Chunks bound the attention matrix of a long prompt.
        for chunk in rest.chunks(256) {
            self.model.forward(chunk, false)?;
            self.cached.extend_from_slice(chunk);
        }
        Ok(keep)
    }

    /// Generate after `prompt`, calling `on_text` with each new piece of text; returning
    /// `ControlFlow::Break` from it stops generation (a closed stream, a cancelled request).
    pub fn generate(
        &mut self,
        prompt: &[u32],
        params: &GenParams,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<GenStats, ModelError> {
        if prompt.is_empty() {
            return Err(ModelError::Tokenizer("empty prompt".into()));
        }
        if prompt.len().saturating_add(params.max_tokens) > MAX_CONTEXT {
            return Err(ModelError::Tokenizer(format!(
                "prompt of {} tokens plus {} to generate exceeds the {MAX_CONTEXT}-token context",
                prompt.len(),
                params.max_tokens
            )));
        }
        let mut stats = GenStats { prompt_tokens: prompt.len(), ..GenStats::default() };
        let started = Instant::now();
        stats.cached_tokens = self.prefill(prompt)?;
        let mut sampler = if params.temperature <= 0.0 {
            None
        } else {
            Some(LogitsProcessor::from_sampling(params.seed, Sampling::TopP { p: params.top_p, temperature: params.temperature }))
        };
        let mut logits = self.step(&[prompt[prompt.len() - 1]])?;
        stats.prefill_seconds = started.elapsed().as_secs_f64();
        let decode_started = Instant::now();
        let mut generated: Vec<u32> = Vec::new();
        let mut text = TextStream::default();
        'outer: while generated.len() < params.max_tokens {
            let next = self.pick(&logits, &generated, params, sampler.as_mut())?;
            if self.stop.contains(&next) {
                stats.stopped_by_eos = true;
                break;
            }
            generated.push(next);
            if let Some(piece) = text.push(&self.tokenizer, &generated)? {
                if on_text(&piece).is_break() {
                    break;
                }
            }
            if generated.len() >= params.max_tokens {
                break;
            }
            let draft = if sampler.is_none() && params.draft > 0 {
                lookup_draft(prompt, &generated, params.draft.min(params.max_tokens - generated.len()))
            } else {
                Vec::new()
            };
            stats.decode_steps += 1;
            if draft.is_empty() {
                logits = self.step(&[next])?;
                continue;
            }
            // Verify [next, draft...] in one pass: row i predicts the token after position i.
            let mut input = vec![next];
            input.extend(&draft);
            let rows = self.step_all(&input)?;
            let mut accepted = 0;
            for (i, d) in draft.iter().enumerate() {
                let row = rows.get(i)?;
                let predicted = self.pick(&row, &generated, params, None)?;
                if predicted != *d || self.stop.contains(d) {
                    break;
                }
                accepted += 1;
                generated.push(*d);
                if let Some(piece) = text.push(&self.tokenizer, &generated)? {
                    if on_text(&piece).is_break() {
                        self.rollback(draft.len() - 1 - i);
                        break 'outer;
                    }
                }
                if generated.len() >= params.max_tokens {
                    self.rollback(draft.len() - 1 - i);
                    break 'outer;
                }
            }
            stats.drafted_accepted += accepted;
            // Drop the cache entries of rejected draft tokens; the row after the last accepted
            // token holds the next logits.
            self.rollback(draft.len() - accepted);
            logits = rows.get(accepted)?;
        }
        if let Some(rest) = text.flush(&self.tokenizer, &generated)? {
            let _ = on_text(&rest);
        }
        stats.generated_tokens = generated.len();
        stats.decode_seconds = decode_started.elapsed().as_secs_f64();
        Ok(stats)
    }

    fn step(&mut self, tokens: &[u32]) -> Result<Tensor, ModelError> {
        let logits = self.model.forward(tokens, false)?.squeeze(0)?;
        self.cached.extend_from_slice(tokens);
        Ok(logits)
    }

    fn step_all(&mut self, tokens: &[u32]) -> Result<Tensor, ModelError> {
        let logits = self.model.forward(tokens, true)?;
        self.cached.extend_from_slice(tokens);
        Ok(logits)
    }

    fn rollback(&mut self, n: usize) {
        let len = self.cached.len() - n;
        self.cached.truncate(len);
        self.model.truncate(len);
    }

    fn pick(
        &self,
        logits: &Tensor,
        generated: &[u32],
        params: &GenParams,
        sampler: Option<&mut LogitsProcessor>,
    ) -> Result<u32, ModelError> {
        let recent = &generated[generated.len().saturating_sub(64)..];
        let logits = if params.repeat_penalty != 1.0 && !recent.is_empty() {
            candle_transformers::utils::apply_repeat_penalty(logits, params.repeat_penalty, recent)?
        } else {
            logits.clone()
        };
        Ok(match sampler {
            Some(s) => s.sample(&logits)?,
            None => argmax(&logits)?,
        })
    }
}

/// Draft from the prompt: find the latest place where the last generated tokens (3, else 2)
/// occur in the prompt and propose what followed them there.
pub fn lookup_draft(prompt: &[u32], generated: &[u32], max: usize) -> Vec<u32> {
    for n in [3usize, 2] {
        if generated.len() < n || prompt.len() <= n {
            continue;
        }
        let tail = &generated[generated.len() - n..];
        if let Some(start) = (0..=prompt.len() - n).rev().find(|&i| &prompt[i..i + n] == tail) {
            let from = start + n;
            let end = (from + max).min(prompt.len());
            if from < end {
                return prompt[from..end].to_vec();
            }
        }
    }
    Vec::new()
}

/// Turns a growing token list into text pieces at a cost per token independent of the answer's
/// length (as text-generation-inference does): only the tokens since the last piece are decoded,
/// together with the tokens of the piece before (`prefix..read`) so that a decoder which treats
/// a sequence's first token specially (a leading space) still sees context. A piece is emitted
/// once its decode no longer ends in U+FFFD, so a character spread over several byte-level
/// tokens comes out whole; the pieces concatenate to the decode of the whole list.
#[derive(Debug, Default, Clone)]
pub struct TextStream {
    /// Start of the window decoded for context only.
    prefix: usize,
    /// End of the text already emitted; tokens from here on are new.
    read: usize,
}

impl TextStream {
    /// The new text once `ids` (the whole list so far, extending the previous call's) ends in a
    /// complete character; `None` while it does not, or when the new tokens decode to nothing.
    ///
    /// Fails only when the tokenizer cannot decode an id (not in its vocabulary).
    pub fn push(&mut self, tok: &Tokenizer, ids: &[u32]) -> Result<Option<String>, ModelError> {
        let (before, text) = self.window(tok, ids)?;
        if text.len() <= before.len() || text.ends_with('\u{fffd}') || !text.is_char_boundary(before.len()) {
            return Ok(None);
        }
        self.prefix = self.read;
        self.read = ids.len();
        Ok(Some(text[before.len()..].to_string()))
    }

    /// What is left at the end of generation, even an incomplete character (as U+FFFD).
    pub fn flush(&mut self, tok: &Tokenizer, ids: &[u32]) -> Result<Option<String>, ModelError> {
        let (before, text) = self.window(tok, ids)?;
        if text.len() <= before.len() || !text.is_char_boundary(before.len()) {
            return Ok(None);
        }
        self.prefix = ids.len();
        self.read = ids.len();
        Ok(Some(text[before.len()..].to_string()))
    }

    /// Decodes of `prefix..read` (already emitted) and `prefix..` (with the new tokens).
    fn window(&self, tok: &Tokenizer, ids: &[u32]) -> Result<(String, String), ModelError> {
        let decode = |ids: &[u32]| tok.decode(ids, true).map_err(|e| ModelError::Tokenizer(e.to_string()));
        Ok((decode(&ids[self.prefix..self.read])?, decode(&ids[self.prefix..])?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chatml_template() {
        let p = chatml(&[Message { role: Role::System, content: "你是助手".into() }, Message { role: Role::User, content: "你好".into() }]);
        assert_eq!(p, "<|im_start|>system\n你是助手<|im_end|>\n<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n");
    }

    use crate::testing::tiny_generator;

    fn words(g: &Generator, text: &str) -> Vec<u32> {
        g.encode(text).unwrap()
    }

    fn run(g: &mut Generator, prompt: &[u32], params: GenParams) -> (String, GenStats) {
        let mut out = String::new();
        let stats = g
            .generate(prompt, &params, |p| {
                out.push_str(p);
                ControlFlow::Continue(())
            })
            .unwrap();
        (out, stats)
    }

    #[test]
    fn stop_tokens_come_from_the_tokenizer() {
        let g = tiny_generator();
        assert_eq!(g.stop, vec![61, 62]);
        assert_eq!(words(&g, "<|im_start|>w1 w2<|im_end|>"), vec![60, 1, 2, 61]);
    }

    #[test]
    fn drafting_never_changes_greedy_output() {
        let mut g = tiny_generator();
        // A prompt with repeats, so the lookup finds matches to draft from.
        let prompt = words(&g, &"w1 w2 w3 w4 w5 w6 w7 w8 ".repeat(6));
        let plain = run(&mut g, &prompt, GenParams { max_tokens: 40, draft: 0, repeat_penalty: 1.0, ..GenParams::default() });
        let drafted = run(&mut g, &prompt, GenParams { max_tokens: 40, draft: 6, repeat_penalty: 1.0, ..GenParams::default() });
        assert_eq!(plain.0, drafted.0);
        assert_eq!(plain.1.generated_tokens, drafted.1.generated_tokens);
        assert!(drafted.1.decode_steps <= plain.1.decode_steps);
    }

    #[test]
    fn the_prompt_prefix_is_reused_not_prefilled_again() {
        let mut g = tiny_generator();
        let system = words(&g, "<|im_start|>w1 w2 w3 w4 w5 w6<|im_end|>");
        g.warm_prefix(&system).unwrap();
        let mut prompt = system.clone();
        prompt.extend(words(&g, "<|im_start|>w9 w10<|im_end|>"));
        let (first, s1) = run(&mut g, &prompt, GenParams { max_tokens: 8, ..GenParams::default() });
        assert_eq!(s1.cached_tokens, system.len() - 1);
        // Same prompt again: everything but the last token comes from the cache, same answer.
        let (second, s2) = run(&mut g, &prompt, GenParams { max_tokens: 8, ..GenParams::default() });
        assert_eq!(s2.cached_tokens, prompt.len() - 1);
        assert_eq!(first, second);
        // A cold generator gives the same answer: reuse does not change results.
        let mut cold = tiny_generator();
        assert_eq!(run(&mut cold, &prompt, GenParams { max_tokens: 8, ..GenParams::default() }).0, first);
    }

    #[test]
    fn length_limit_and_cancellation() {
        let mut g = tiny_generator();
        let prompt = words(&g, "w3 w4 w5");
        let (_, s) = run(&mut g, &prompt, GenParams { max_tokens: 5, draft: 0, ..GenParams::default() });
        assert_eq!(s.generated_tokens, 5);
        let mut pieces = 0;
        let s = g
            .generate(&prompt, &GenParams { max_tokens: 50, ..GenParams::default() }, |_| {
                pieces += 1;
                ControlFlow::Break(())
            })
            .unwrap();
        assert_eq!(pieces, 1, "a closed stream stops generation at once");
        assert_eq!(s.generated_tokens, 1);
        let err = g.generate(&[], &GenParams::default(), |_| ControlFlow::Continue(())).unwrap_err();
        assert!(err.to_string().contains("empty prompt"));
    }

    #[test]
    fn sampling_is_reproducible_by_seed() {
        let mut g = tiny_generator();
        let prompt = words(&g, "w3 w4 w5");
        let p = GenParams { max_tokens: 12, temperature: 1.0, top_p: 0.95, seed: 7, ..GenParams::default() };
        assert_eq!(run(&mut g, &prompt, p).0, run(&mut g, &prompt, p).0);
    }

    /// Push `ids` one at a time; the pieces, each with the window size after it.
    fn stream(tok: &Tokenizer, ids: &[u32]) -> (Vec<Option<String>>, usize) {
        let mut s = TextStream::default();
        let mut pieces = Vec::new();
        let mut widest = 0;
        for n in 1..=ids.len() {
            pieces.push(s.push(tok, &ids[..n]).unwrap());
            widest = widest.max(n - s.prefix);
        }
        pieces.push(s.flush(tok, ids).unwrap());
        (pieces, widest)
    }

    fn joined(pieces: &[Option<String>]) -> String {
        pieces.iter().flatten().map(String::as_str).collect()
    }

    /// Pseudo-random ids below `n` (a fixed LCG: the test is reproducible).
    fn random_ids(n: u32, len: usize, mut seed: u64) -> Vec<u32> {
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 33) % u64::from(n)) as u32
            })
            .collect()
    }

    #[test]
    fn byte_level_pieces_are_whole_characters_and_join_to_the_full_decode() {
        let all: Vec<u8> = (0..=255).collect();
        let tok = crate::testing::tiny_byte_tokenizer(&all);
        let text = "办理身份证换领：请携带户口簿, ok 🙂 到窗口。".repeat(20);
        let ids = tok.encode(text.as_str(), false).unwrap().get_ids().to_vec();
        assert_eq!(ids.len(), text.len(), "one token per byte");
        let (pieces, widest) = stream(&tok, &ids);
        assert_eq!(joined(&pieces), text);
        assert!(pieces.iter().flatten().all(|p| !p.contains('\u{fffd}')), "no piece splits a character");
        assert!(pieces.iter().filter(|p| p.is_none()).count() > 100, "the first bytes of a character wait");
        // The decoded window never grows with the answer: a 4-byte emoji after a 1-byte token.
        assert!(widest <= 5, "window of {widest} tokens");
        // Random bytes (invalid UTF-8 included) still join to exactly the full decode.
        for seed in 0..5 {
            let ids = random_ids(256, 400, seed);
            assert_eq!(joined(&stream(&tok, &ids).0), tok.decode(&ids, true).unwrap(), "seed {seed}");
        }
    }

    #[test]
    fn word_level_pieces_join_to_the_full_decode() {
        // Multi-character words, `##` continuations (joined without a space) and special tokens.
        let tok = crate::testing::tiny_qwen_tokenizer_with(|i| if i % 3 == 0 { format!("##续{i}") } else { format!("办事{i}") });
        for seed in 0..5 {
            let ids = random_ids(63, 300, seed);
            let (pieces, widest) = stream(&tok, &ids);
            assert_eq!(joined(&pieces), tok.decode(&ids, true).unwrap(), "seed {seed}");
            assert!(widest <= 40, "a run of special tokens only widens the window: {widest}");
        }
    }

    #[test]
    fn the_generator_streams_whole_characters() {
        // Lead bytes of 3-byte characters, continuation bytes and ASCII: the random model's
        // output is full of multi-token characters (and of invalid sequences).
        let mut bytes: Vec<u8> = vec![0xE4, 0xE5, 0xE6];
        bytes.extend(0x80..=0x9F);
        bytes.extend(b"abcdefghijklmnopqrstuvwxy");
        assert_eq!(bytes.len(), crate::testing::TINY_QWEN_WORDS);
        let mut g = crate::testing::tiny_generator_with(crate::testing::tiny_byte_tokenizer(&bytes));
        let prompt = g.encode("<|im_start|>abc办<|im_end|>").unwrap();
        let mut total = 0;
        for seed in 0..10 {
            let mut pieces = Vec::new();
            let params = GenParams { max_tokens: 100, temperature: 1.0, seed, ..GenParams::default() };
            let stats = g
                .generate(&prompt, &params, |p| {
                    pieces.push(p.to_string());
                    ControlFlow::Continue(())
                })
                .unwrap();
            total += stats.generated_tokens;
            assert!(pieces.iter().all(|p| !p.is_empty()));
            let last = pieces.len().saturating_sub(1);
            assert!(pieces[..last].iter().all(|p| !p.ends_with('\u{fffd}')), "only the final flush may end mid-character");
        }
        assert!(total > 200, "the model stopped early every time: {total} tokens");
    }

    #[test]
    fn lookup_drafts_what_followed_in_the_prompt() {
        let prompt = [1, 2, 3, 4, 5, 6, 7, 2, 3, 9];
        // The latest occurrence of [2, 3] is followed by 9.
        assert_eq!(lookup_draft(&prompt, &[8, 2, 3], 4), vec![9]);
        assert_eq!(lookup_draft(&prompt, &[3, 4, 5], 2), vec![6, 7]);
        assert!(lookup_draft(&prompt, &[42, 43], 4).is_empty());
        assert!(lookup_draft(&prompt, &[9], 4).is_empty(), "a single token is too weak a match");
    }
}
