//! Qwen2 decoder over GGUF quantized weights (Qwen2.5-Coder-1.5B-Instruct Q4_K_M).
//!
//! Adapted from `candle_transformers::models::quantized_qwen2` (MIT/Apache-2.0) for two things
//! that model cannot do: keep a KV cache that can be truncated back to a prefix (the cached
//! system prompt is reused by every request instead of being prefilled again), and return the
//! logits of every position of a chunk (to verify several drafted tokens in one pass). The KV
//! cache is preallocated per layer and written in place, so decoding does not copy the whole
//! cache on every token. Public surface: [`Qwen2::from_gguf`], [`Qwen2::forward`],
//! [`Qwen2::truncate`], [`Qwen2::clear_kv_cache`], [`Qwen2::len`].

use std::io::{Read, Seek};

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, IndexOp, Module, Result, Storage, Tensor, D};
use candle_nn::Embedding;
use candle_transformers::quantized_nn::RmsNorm;

use crate::attention;
use crate::qlinear::QLinear;

/// Longest context the preallocated cache holds (prompt + answer).
pub const MAX_CONTEXT: usize = 4096;

struct Mlp {
    gate: QLinear,
    up: QLinear,
    down: QLinear,
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let [gate, up] = QLinear::forward_shared([&self.gate, &self.up], xs)?;
        self.down.forward(&(candle_nn::ops::silu(&gate)? * up)?)
    }
}

/// K and V of one layer, `(1, kv_heads, MAX_CONTEXT, head_dim)`, filled up to `len`.
struct KvCache {
    k: Tensor,
    v: Tensor,
    len: usize,
}

impl KvCache {
    fn new(kv_heads: usize, head_dim: usize, device: &Device) -> Result<Self> {
        let k = Tensor::zeros((1, kv_heads, MAX_CONTEXT, head_dim), DType::F32, device)?;
        Ok(KvCache { v: k.zeros_like()?, k, len: 0 })
    }

    /// Write `k`, `v` (`(1, kv_heads, n, head_dim)`) at `len`.
    fn append(&mut self, k: &Tensor, v: &Tensor) -> Result<()> {
        let n = k.dim(2)?;
        if self.len + n > MAX_CONTEXT {
            candle_core::bail!("context of {} tokens exceeds the {MAX_CONTEXT}-token cache", self.len + n);
        }
        self.k.slice_set(k, 2, self.len)?;
        self.v.slice_set(v, 2, self.len)?;
        self.len += n;
        Ok(())
    }

    /// The filled part of K and V, as views.
    fn filled(&self) -> Result<(Tensor, Tensor)> {
        Ok((self.k.narrow(2, 0, self.len)?, self.v.narrow(2, 0, self.len)?))
    }

    /// Attention of `q` (`(1, heads, rows, head_dim)`, the last `rows` cached positions) over
    /// the cache, walking the buffers in place; see [`attention`]. `(1, rows, heads · head_dim)`.
    fn attend(&self, q: &Tensor) -> Result<Tensor> {
        let (_, heads, rows, head_dim) = q.dims4()?;
        let (k, _) = self.k.storage_and_layout();
        let (v, _) = self.v.storage_and_layout();
        let (Storage::Cpu(k), Storage::Cpu(v)) = (&*k, &*v) else {
            candle_core::bail!("the in-place attention runs on the CPU only");
        };
        let dims = attention::Dims { heads, kv_heads: self.k.dim(1)?, rows, head_dim, len: self.len, capacity: MAX_CONTEXT };
        let out = attention::attend(&q.flatten_all()?.to_vec1()?, k.as_slice()?, v.as_slice()?, dims);
        Tensor::from_vec(out, (1, rows, heads * head_dim), q.device())
    }
}

struct Layer {
    wq: QLinear,
    wk: QLinear,
    wv: QLinear,
    bq: Tensor,
    bk: Tensor,
    bv: Tensor,
    wo: QLinear,
    attn_norm: RmsNorm,
    mlp: Mlp,
    ffn_norm: RmsNorm,
    n_head: usize,
    n_kv_head: usize,
    head_dim: usize,
    cache: KvCache,
}

impl Layer {
    fn attention(&mut self, x: &Tensor, mask: Option<&Tensor>, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
        let (b, n, hidden) = x.dims3()?;
        let heads = |t: Tensor, count: usize| t.reshape((b, n, count, self.head_dim))?.transpose(1, 2)?.contiguous();
        let [q, k, v] = QLinear::forward_shared([&self.wq, &self.wk, &self.wv], x)?;
        let q = heads(q.broadcast_add(&self.bq)?, self.n_head)?;
        let k = heads(k.broadcast_add(&self.bk)?, self.n_kv_head)?;
        let v = heads(v.broadcast_add(&self.bv)?, self.n_kv_head)?;
        let q = candle_nn::rotary_emb::rope(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope(&k, cos, sin)?;
        self.cache.append(&k, &v)?;
        let y = if attention::in_place(n, x.device()) {
            self.cache.attend(&q)?
        } else {
            self.gemm_attention(&q, mask)?.reshape((b, n, hidden))?
        };
        self.wo.forward(&y)
    }

    /// Attention through candle's matmul, for long chunks (prefill). `(1, n, heads, head_dim)`.
    fn gemm_attention(&self, q: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, _, n, _) = q.dims4()?;
        let (k, v) = self.cache.filled()?;
        // The query heads sharing one K/V head are adjacent: fold them into rows so each group
        // attends to the cache in place, instead of copying the whole cache per group.
        let groups = self.n_head / self.n_kv_head;
        let q = q.reshape((b, self.n_kv_head, groups * n, self.head_dim))?;
        let att = (q.matmul(&k.t()?)? / (self.head_dim as f64).sqrt())?;
        let att = match mask {
            Some(m) => {
                let total = att.dim(3)?;
                att.reshape((b, self.n_kv_head, groups, n, total))?.broadcast_add(m)?.reshape((b, self.n_kv_head, groups * n, total))?
            }
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att.matmul(&v)?.reshape((b, self.n_head, n, self.head_dim))?;
        y.transpose(1, 2)
    }
}

pub struct Qwen2 {
    embeddings: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: QLinear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
    pub vocab: usize,
}

impl Qwen2 {
    /// Load from a GGUF file's content (arch `qwen2`).
    pub fn from_gguf<R: Seek + Read>(ct: gguf_file::Content, reader: &mut R, device: &Device) -> Result<Self> {
        let md = |key: &str| ct.metadata.get(key).ok_or_else(|| candle_core::Error::Msg(format!("GGUF metadata {key} missing")));
        let n_head = md("qwen2.attention.head_count")?.to_u32()? as usize;
        let n_kv_head = md("qwen2.attention.head_count_kv")?.to_u32()? as usize;
        let hidden = md("qwen2.embedding_length")?.to_u32()? as usize;
        let blocks = md("qwen2.block_count")?.to_u32()? as usize;
        let eps = md("qwen2.attention.layer_norm_rms_epsilon")?.to_f32()? as f64;
        let rope_base = md("qwen2.rope.freq_base").and_then(|m| m.to_f32()).unwrap_or(10_000.0);
        let head_dim = hidden / n_head;

        let mut tensor = |name: &str| ct.tensor(reader, name, device);
        let embed = tensor("token_embd.weight")?;
        let vocab = embed.shape().dims()[0];
        let embeddings = Embedding::new(embed.dequantize(device)?, hidden);
        let norm = RmsNorm::from_qtensor(tensor("output_norm.weight")?, eps)?;
        let output = match tensor("output.weight") {
            Ok(w) => QLinear::from_qtensor(w)?,
            Err(_) => QLinear::from_qtensor(tensor("token_embd.weight")?)?,
        };
        let mut layers = Vec::with_capacity(blocks);
        for i in 0..blocks {
            let p = format!("blk.{i}");
            let mut q = |s: &str| tensor(&format!("{p}.{s}"));
            layers.push(Layer {
                wq: QLinear::from_qtensor(q("attn_q.weight")?)?,
                wk: QLinear::from_qtensor(q("attn_k.weight")?)?,
                wv: QLinear::from_qtensor(q("attn_v.weight")?)?,
                bq: q("attn_q.bias")?.dequantize(device)?,
                bk: q("attn_k.bias")?.dequantize(device)?,
                bv: q("attn_v.bias")?.dequantize(device)?,
                wo: QLinear::from_qtensor(q("attn_output.weight")?)?,
                attn_norm: RmsNorm::from_qtensor(q("attn_norm.weight")?, eps)?,
                mlp: Mlp {
                    gate: QLinear::from_qtensor(q("ffn_gate.weight")?)?,
                    up: QLinear::from_qtensor(q("ffn_up.weight")?)?,
                    down: QLinear::from_qtensor(q("ffn_down.weight")?)?,
                },
                ffn_norm: RmsNorm::from_qtensor(q("ffn_norm.weight")?, eps)?,
                n_head,
                n_kv_head,
                head_dim,
                cache: KvCache::new(n_kv_head, head_dim, device)?,
            });
        }
        let (cos, sin) = rope_tables(head_dim, rope_base, MAX_CONTEXT, device)?;
        Ok(Qwen2 { embeddings, layers, norm, output, cos, sin, device: device.clone(), vocab })
    }

    /// Tokens in the KV cache.
    pub fn len(&self) -> usize {
        self.layers.first().map_or(0, |l| l.cache.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget everything after the first `len` cached tokens (e.g. back to the cached prefix).
    pub fn truncate(&mut self, len: usize) {
        for l in &mut self.layers {
            l.cache.len = l.cache.len.min(len);
        }
    }

    pub fn clear_kv_cache(&mut self) {
        self.truncate(0);
    }

    /// Run `tokens` after the cached ones. Returns logits `(n, vocab)` for every position when
    /// `all_logits`, else `(1, vocab)` for the last one (the output layer is 17% of the weights:
    /// computing it only where needed matters).
    pub fn forward(&mut self, tokens: &[u32], all_logits: bool) -> Result<Tensor> {
        let n = tokens.len();
        let pos = self.len();
        if n == 0 {
            candle_core::bail!("forward needs at least one token");
        }
        if pos + n > MAX_CONTEXT {
            candle_core::bail!("context of {} tokens exceeds {MAX_CONTEXT}", pos + n);
        }
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        // Only candle's GEMM path reads a mask; in place, the causal limit is in the loop.
        let mask = if attention::in_place(n, &self.device) { None } else { Some(causal_mask(n, pos, &self.device)?) };
        let cos = self.cos.narrow(0, pos, n)?;
        let sin = self.sin.narrow(0, pos, n)?;
        let mut x = self.embeddings.forward(&input)?;
        for layer in &mut self.layers {
            let h = layer.attention(&layer.attn_norm.forward(&x)?, mask.as_ref(), &cos, &sin)?;
            let x1 = (h + &x)?;
            let h = layer.mlp.forward(&layer.ffn_norm.forward(&x1)?)?;
            x = (h + x1)?;
        }
        let x = self.norm.forward(&x)?;
        let x = if all_logits { x.i(0)? } else { x.i((0, n - 1..n))? };
        self.output.forward(&x)?.to_dtype(DType::F32)
    }
}

/// Additive causal mask `(n, pos + n)`: 0 where visible, −∞ for later positions.
fn causal_mask(n: usize, pos: usize, device: &Device) -> Result<Tensor> {
    let total = pos + n;
    let mask: Vec<f32> = (0..n).flat_map(|i| (0..total).map(move |j| if j > pos + i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(mask, (n, total), device)
}

fn rope_tables(head_dim: usize, base: f32, len: usize, device: &Device) -> Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim).step_by(2).map(|i| 1.0 / base.powf(i as f32 / head_dim as f32)).collect();
    let inv = Tensor::new(inv.as_slice(), device)?;
    let t = Tensor::arange(0u32, len as u32, device)?.to_dtype(DType::F32)?.reshape((len, 1))?;
    let freqs = t.matmul(&inv.reshape((1, ()))?)?;
    Ok((freqs.cos()?, freqs.sin()?))
}

/// Index of the largest logit.
pub fn argmax(logits: &Tensor) -> Result<u32> {
    logits.argmax(D::Minus1)?.to_scalar::<u32>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tiny_qwen2_gguf;

    fn tiny() -> Qwen2 {
        let mut c = std::io::Cursor::new(tiny_qwen2_gguf());
        let content = gguf_file::Content::read(&mut c).unwrap();
        Qwen2::from_gguf(content, &mut c, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    }

    /// A chunk longer than the in-place attention takes (GEMM path) against single steps (in
    /// place), and a short chunk of drafted tokens against the same steps.
    #[test]
    fn one_pass_equals_token_by_token() {
        let tokens: Vec<u32> = (0..attention::MAX_ROWS as u32 + 4).map(|i| (i * 7 + 3) % 50).collect();
        let mut m = tiny();
        let all = m.forward(&tokens, true).unwrap();
        assert_eq!(all.dims(), &[tokens.len(), m.vocab]);
        assert_eq!(m.len(), tokens.len());
        m.truncate(tokens.len() - 5);
        let drafted = m.forward(&tokens[tokens.len() - 5..], true).unwrap();
        assert!(max_diff(&drafted, &all.narrow(0, tokens.len() - 5, 5).unwrap()) < 1e-3);
        m.clear_kv_cache();
        for (i, t) in tokens.iter().enumerate() {
            let step = m.forward(&[*t], false).unwrap();
            assert!(max_diff(&step.squeeze(0).unwrap(), &all.get(i).unwrap()) < 1e-3, "position {i}");
        }
    }

    /// The reference is candle-transformers' own quantized Qwen2 on the same weights: prefill in
    /// one chunk (causal mask, grouped heads), then single-token steps at growing positions.
    #[test]
    fn logits_match_candle_transformers_quantized_qwen2() {
        use candle_transformers::models::quantized_qwen2::ModelWeights;
        let mut c = std::io::Cursor::new(tiny_qwen2_gguf());
        let content = gguf_file::Content::read(&mut c).unwrap();
        let mut reference = ModelWeights::from_gguf(content, &mut c, &Device::Cpu).unwrap();
        let mut m = tiny();
        let prompt = [3u32, 17, 42, 5, 9];
        let input = Tensor::new(&prompt[..], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let expected = reference.forward(&input, 0).unwrap().squeeze(0).unwrap();
        let ours = m.forward(&prompt, false).unwrap().squeeze(0).unwrap();
        assert!(max_diff(&ours, &expected) < 1e-3, "prefill");
        for (i, t) in [11u32, 2, 30].iter().enumerate() {
            let input = Tensor::new(&[*t], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let expected = reference.forward(&input, prompt.len() + i).unwrap().squeeze(0).unwrap();
            let ours = m.forward(&[*t], false).unwrap().squeeze(0).unwrap();
            assert!(max_diff(&ours, &expected) < 1e-3, "step {i}");
        }
    }

    #[test]
    fn truncating_the_cache_rewinds_exactly() {
        let mut m = tiny();
        m.forward(&[1, 2, 3], false).unwrap();
        let expected = m.forward(&[4], false).unwrap();
        m.forward(&[7, 8], false).unwrap();
        m.truncate(3);
        assert_eq!(m.len(), 3);
        assert!(max_diff(&m.forward(&[4], false).unwrap(), &expected) < 1e-5);
        assert!(m.forward(&[], false).is_err());
    }
}
