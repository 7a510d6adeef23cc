//! Tiny but complete model files for tests: the real formats, random weights, a handful of
//! pieces. Tests of model code (here and in other crates) write these instead of mocking.

use crate::e5s1::{DType, Q4_BLOCK_VALUES};
use crate::{ComputeHandle, Embedder, Models};

/// Quantise f32 values to Q4_0 the way GGML does (scale from the value of largest magnitude).
pub fn quantize_q4_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for block in values.chunks(Q4_BLOCK_VALUES) {
        let max = block.iter().copied().fold(0f32, |m, v| if v.abs() > m.abs() { v } else { m });
        let d = max / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        let q = |v: f32| ((v * id + 8.5) as i32).clamp(0, 15) as u8;
        for j in 0..16 {
            out.push(q(block[j]) | (q(block[j + 16]) << 4));
        }
    }
    out
}

/// Write a tiny but complete E5S1 image: the given pieces, a normalisation map, and random
/// weights for a BERT with the given sizes. Used by tokenizer and embedder tests.
pub fn tiny_file(pieces: &[(&str, f32)], norm: &[(char, &str)], hidden: usize, layers: usize, heads: usize, ffn: usize) -> Vec<u8> {
    let vocab_rows = pieces.len();
    let max_pos = 64;
    let mut b = Vec::new();
    b.extend_from_slice(b"E5S1");
    b.extend_from_slice(&1u32.to_le_bytes());
    for v in [hidden, layers, heads, ffn, vocab_rows, max_pos, 2] {
        b.extend_from_slice(&(v as i32).to_le_bytes());
    }
    b.extend_from_slice(&1e-12f32.to_le_bytes());
    b.extend_from_slice(&32i32.to_le_bytes());
    b.extend_from_slice(&(pieces.len() as i32).to_le_bytes());
    for id in [0i32, 2, 1, 3] {
        b.extend_from_slice(&id.to_le_bytes());
    }
    let blob: String = pieces.iter().map(|p| p.0).collect();
    b.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    let mut off = 0u32;
    b.extend_from_slice(&off.to_le_bytes());
    for p in pieces {
        off += p.0.len() as u32;
        b.extend_from_slice(&off.to_le_bytes());
    }
    for p in pieces {
        b.extend_from_slice(&p.1.to_le_bytes());
    }
    b.extend_from_slice(blob.as_bytes());
    let mut map = Vec::new();
    for (from, to) in norm {
        map.extend_from_slice(&(*from as u32).to_le_bytes());
        map.push(to.chars().count() as u8);
        for ch in to.chars() {
            map.extend_from_slice(&(ch as u32).to_le_bytes());
        }
    }
    b.extend_from_slice(&(norm.len() as i32).to_le_bytes());
    b.extend_from_slice(&(map.len() as u32).to_le_bytes());
    b.extend_from_slice(&map);

    let mut rng = 12345u64;
    let mut rand = move |n: usize, scale: f32| -> Vec<f32> {
        (0..n)
            .map(|_| {
                rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((rng >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect()
    };
    let (h, f) = (hidden, ffn);
    let mut tensors: Vec<(String, DType, Vec<f32>)> = vec![
        ("emb.word".into(), DType::Q4_0, rand(vocab_rows * h, 0.5)),
        ("emb.pos".into(), DType::F32, rand(max_pos * h, 0.1)),
        ("emb.type".into(), DType::F32, rand(2 * h, 0.1)),
        ("emb.ln.w".into(), DType::F32, vec![1.0; h]),
        ("emb.ln.b".into(), DType::F32, vec![0.0; h]),
    ];
    for i in 0..layers {
        for (n, size, dt) in [
            ("q.w", h * h, DType::Q4_0),
            ("q.b", h, DType::F32),
            ("k.w", h * h, DType::Q4_0),
            ("k.b", h, DType::F32),
            ("v.w", h * h, DType::Q4_0),
            ("v.b", h, DType::F32),
            ("ao.w", h * h, DType::Q4_0),
            ("ao.b", h, DType::F32),
            ("aln.w", h, DType::F32),
            ("aln.b", h, DType::F32),
            ("fi.w", f * h, DType::Q4_0),
            ("fi.b", f, DType::F32),
            ("fo.w", h * f, DType::Q4_0),
            ("fo.b", h, DType::F32),
            ("oln.w", h, DType::F32),
            ("oln.b", h, DType::F32),
        ] {
            let vals = if n.ends_with("ln.w") { vec![1.0; size] } else { rand(size, 0.2) };
            tensors.push((format!("l{i}.{n}"), dt, vals));
        }
    }
    b.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
    let encoded: Vec<(String, DType, usize, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, dt, v)| {
            let bytes = match dt {
                DType::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
                DType::Q4_0 => quantize_q4_0(&v),
            };
            (n, dt, v.len(), bytes)
        })
        .collect();
    let table_len: usize = encoded.iter().map(|(n, ..)| 2 + n.len() + 1 + 4 + 8 + 8).sum();
    let mut offset = b.len() + table_len;
    for (n, dt, count, bytes) in &encoded {
        b.extend_from_slice(&(n.len() as u16).to_le_bytes());
        b.extend_from_slice(n.as_bytes());
        b.push(if *dt == DType::F32 { 0 } else { 1 });
        b.extend_from_slice(&(*count as u32).to_le_bytes());
        b.extend_from_slice(&(offset as u64).to_le_bytes());
        b.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offset += bytes.len();
    }
    for (.., bytes) in encoded {
        b.extend_from_slice(&bytes);
    }
    b
}

pub fn tiny_pieces() -> Vec<(&'static str, f32)> {
    let mut p = vec![("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)];
    p.extend([
        ("▁", -2.0),
        ("▁身份证", -5.0),
        ("身份", -6.0),
        ("证", -4.0),
        ("身", -7.0),
        ("份", -7.0),
        ("▁办理", -5.0),
        ("办", -6.0),
        ("理", -6.0),
        ("▁query", -3.0),
        (":", -3.0),
        ("▁passage", -3.0),
        ("▁a", -4.0),
        ("b", -4.0),
        ("▁ab", -4.5),
        ("换", -6.0),
        ("<mask>", 0.0),
    ]);
    p
}

/// A compute thread with a tiny embedder (`dim`-sized vectors) built from [`tiny_file`].
pub fn tiny_compute(dim: usize) -> ComputeHandle {
    let file = crate::e5s1::E5s1::parse(tiny_file(&tiny_pieces(), &[], dim, 1, 2, dim * 2), "tiny").expect("tiny file parses");
    ComputeHandle::spawn(Models { embedder: Some(Embedder::from_e5s1(file).expect("tiny embedder loads")), ..Models::default() }, 16)
}

/// Vocabulary of the tiny chat model: `w0`…`w59`, then the ChatML specials.
pub const TINY_QWEN_WORDS: usize = 60;

/// A tiny Qwen2 GGUF image: 2 layers, hidden 64, 4 heads / 2 KV heads, random Q8_0 weights.
pub fn tiny_qwen2_gguf() -> Vec<u8> {
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    let (vocab, hidden, ffn, layers) = (TINY_QWEN_WORDS + 3, 64usize, 128usize, 2usize);
    let dev = Device::Cpu;
    let mut seed = 99u64;
    let mut rand = |rows: usize, cols: usize, scale: f32| -> Tensor {
        let v: Vec<f32> = (0..rows * cols)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect();
        Tensor::from_vec(v, (rows, cols), &dev).expect("shape")
    };
    let q8 = |t: Tensor| QTensor::quantize(&t, GgmlDType::Q8_0).expect("quantize");
    let f32t = |t: Tensor| QTensor::quantize(&t, GgmlDType::F32).expect("f32");
    let ones = |n: usize| Tensor::ones(n, candle_core::DType::F32, &dev).expect("ones");
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), q8(rand(vocab, hidden, 1.0))),
        ("output_norm.weight".into(), f32t(ones(hidden))),
        ("output.weight".into(), q8(rand(vocab, hidden, 0.5))),
    ];
    for i in 0..layers {
        let p = format!("blk.{i}");
        let bias = |n: usize, r: &mut dyn FnMut(usize, usize, f32) -> Tensor| f32t(r(1, n, 0.1).squeeze(0).expect("1d"));
        tensors.push((format!("{p}.attn_q.weight"), q8(rand(hidden, hidden, 0.3))));
        tensors.push((format!("{p}.attn_k.weight"), q8(rand(32, hidden, 0.3))));
        tensors.push((format!("{p}.attn_v.weight"), q8(rand(32, hidden, 0.3))));
        tensors.push((format!("{p}.attn_q.bias"), bias(hidden, &mut rand)));
        tensors.push((format!("{p}.attn_k.bias"), bias(32, &mut rand)));
        tensors.push((format!("{p}.attn_v.bias"), bias(32, &mut rand)));
        tensors.push((format!("{p}.attn_output.weight"), q8(rand(hidden, hidden, 0.3))));
        tensors.push((format!("{p}.ffn_gate.weight"), q8(rand(ffn, hidden, 0.3))));
        tensors.push((format!("{p}.ffn_up.weight"), q8(rand(ffn, hidden, 0.3))));
        tensors.push((format!("{p}.ffn_down.weight"), q8(rand(hidden, ffn, 0.3))));
        tensors.push((format!("{p}.attn_norm.weight"), f32t(ones(hidden))));
        tensors.push((format!("{p}.ffn_norm.weight"), f32t(ones(hidden))));
    }
    use gguf_file::Value;
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("qwen2".into())),
        ("qwen2.attention.head_count", Value::U32(4)),
        ("qwen2.attention.head_count_kv", Value::U32(2)),
        ("qwen2.embedding_length", Value::U32(hidden as u32)),
        ("qwen2.block_count", Value::U32(layers as u32)),
        ("qwen2.context_length", Value::U32(4096)),
        ("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("qwen2.rope.freq_base", Value::F32(10000.0)),
    ];
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md_refs, &t_refs).expect("gguf writes");
    out.into_inner()
}

/// A word-level tokenizer for the tiny model: whitespace-separated `wN` words plus the ChatML
/// special tokens `<|im_start|>` (60), `<|im_end|>` (61), `<|endoftext|>` (62).
pub fn tiny_qwen_tokenizer() -> tokenizers::Tokenizer {
    tiny_qwen_tokenizer_with(|i| format!("w{i}"))
}

/// The tiny model's tokenizer with word `i` spelled `word(i)` (distinct for distinct `i`): a
/// test can choose what the random model's output reads as (e.g. a phrase every word contains).
pub fn tiny_qwen_tokenizer_with(word: impl Fn(usize) -> String) -> tokenizers::Tokenizer {
    let mut vocab = serde_json::Map::new();
    for i in 0..TINY_QWEN_WORDS {
        vocab.insert(word(i), (i as u64).into());
    }
    let specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"];
    for (i, s) in specials.iter().enumerate() {
        vocab.insert(s.to_string(), ((TINY_QWEN_WORDS + i) as u64).into());
    }
    let added: Vec<serde_json::Value> = specials
        .iter()
        .enumerate()
        .map(|(i, s)| serde_json::json!({"id": TINY_QWEN_WORDS + i, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": false},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": word(0)}
    });
    json.to_string().parse().expect("tiny tokenizer parses")
}

/// A byte-level BPE tokenizer like Qwen's, without merges: token `i` is the byte `bytes[i]`, so
/// a Chinese character is three tokens; the ChatML specials follow (`bytes.len()`…`+2`). With 60
/// bytes it fits [`tiny_generator_with`].
pub fn tiny_byte_tokenizer(bytes: &[u8]) -> tokenizers::Tokenizer {
    // GPT-2's byte-to-character map: printable Latin-1 bytes stand for themselves, the others
    // for the characters from U+0100 on, in byte order.
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    let mut shifted = 0u32;
    let mut char_of = [' '; 256];
    for b in 0..=255u8 {
        char_of[b as usize] = if printable(b) {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).expect("valid char")
        };
    }
    let mut vocab = serde_json::Map::new();
    for (i, b) in bytes.iter().enumerate() {
        vocab.insert(char_of[*b as usize].to_string(), (i as u64).into());
    }
    let specials = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"];
    let added: Vec<serde_json::Value> = specials
        .iter()
        .enumerate()
        .map(|(i, s)| serde_json::json!({"id": bytes.len() + i, "content": s, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}))
        .collect();
    for (i, s) in specials.iter().enumerate() {
        vocab.insert(s.to_string(), ((bytes.len() + i) as u64).into());
    }
    let byte_level = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true});
    let json = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": byte_level, "post_processor": null, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": vocab, "merges": []}
    });
    json.to_string().parse().expect("tiny byte tokenizer parses")
}

/// A generator over [`tiny_qwen2_gguf`] and [`tiny_qwen_tokenizer`].
pub fn tiny_generator() -> crate::Generator {
    tiny_generator_with(tiny_qwen_tokenizer())
}

/// A generator over [`tiny_qwen2_gguf`] and `tokenizer` (see [`tiny_qwen_tokenizer_with`]).
pub fn tiny_generator_with(tokenizer: tokenizers::Tokenizer) -> crate::Generator {
    let bytes = tiny_qwen2_gguf();
    let mut cursor = std::io::Cursor::new(bytes);
    let content = candle_core::quantized::gguf_file::Content::read(&mut cursor).expect("tiny gguf reads");
    let model = crate::qwen2::Qwen2::from_gguf(content, &mut cursor, &candle_core::Device::Cpu).expect("tiny qwen2 loads");
    crate::Generator::new(model, tokenizer)
}
