//! The trainable top of multilingual-e5-small: copies of the [`Embedder`]'s top `tuned` encoder
//! layers as candle [`Var`]s, run over the frozen bottom layers' output and mean-pooled. Both
//! fine-tuned models build on it: the text classifier ([`crate::e5_classifier`]) and the
//! domain-tuned query encoder ([`crate::query_tower`]).
//!
//! The layers are written here with differentiable ops: candle-transformers' BERT uses fused
//! layer-norm kernels that have no gradient, so nothing below them would learn. Training runs
//! the frozen layers once per text and keeps their output in memory as f32 (≈ 150 KB per
//! 100-token text).

use std::collections::{BTreeMap, HashMap};

use candle_core::{DType, Device, Tensor, Var, D};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::e5s1::E5Config;
use crate::embedder::{additive_mask, masked_mean, Embedder, TextKind};
use crate::ModelError;

/// Tensors by name: the variables themselves while training, detached copies otherwise.
pub(crate) type Weights = HashMap<String, Tensor>;

/// Upper bound on padded tokens in one batch through the frozen layers (bounds memory).
const BATCH_TOKENS: usize = 4096;

/// Top `tuned` layers of an encoder of `layers` layers, hidden size `hidden`.
pub(crate) struct TunedTop {
    pub layers: usize,
    pub hidden: usize,
    pub tuned: usize,
    /// Content tokens read per text; longer texts are cut.
    pub max_tokens: usize,
    n_heads: usize,
    eps: f64,
    /// `l{i}.{short}` → variable, for layers `layers - tuned .. layers`.
    pub vars: BTreeMap<String, Var>,
}

impl TunedTop {
    /// The embedder's own top layers, ready to train. The caller has checked the counts.
    pub fn from_embedder(e: &Embedder, tuned: usize, max_tokens: usize) -> Result<Self, ModelError> {
        let c = e.config();
        let mut vars = BTreeMap::new();
        for i in c.layers - tuned..c.layers {
            for (short, t) in e.layer_tensors(i)? {
                vars.insert(format!("l{i}.{short}"), Var::from_tensor(&t)?);
            }
        }
        Ok(TunedTop { layers: c.layers, hidden: c.hidden, tuned, max_tokens, n_heads: c.heads, eps: c.layer_norm_eps as f64, vars })
    }

    /// The top layers from saved `tensors` (any float type, converted to f32). Fails, naming
    /// the tensor, when one is missing or shaped unlike the embedder's.
    pub fn from_tensors(e: &Embedder, tuned: usize, max_tokens: usize, tensors: &HashMap<String, Tensor>) -> Result<Self, String> {
        let mut top = TunedTop::from_embedder(e, tuned, max_tokens).map_err(|e| e.to_string())?;
        for (name, var) in top.vars.iter_mut() {
            let t = tensors.get(name).ok_or_else(|| format!("tensor {name} missing"))?;
            if t.dims() != var.dims() {
                return Err(format!("tensor {name} is {:?}, not {:?}", t.dims(), var.dims()));
            }
            *var = Var::from_tensor(&t.to_dtype(DType::F32).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        }
        Ok(top)
    }

    pub fn frozen_layers(&self) -> usize {
        self.layers - self.tuned
    }

    /// Every variable, for an optimiser.
    pub fn all_vars(&self) -> Vec<Var> {
        self.vars.values().cloned().collect()
    }

    pub fn weights(&self, train: bool) -> Weights {
        self.vars.iter().map(|(n, v)| (n.clone(), if train { v.as_tensor().clone() } else { v.as_detached_tensor() })).collect()
    }

    /// Content token ids of `text`, cut at `max_tokens`.
    pub fn ids(&self, e: &Embedder, text: &str, kind: TextKind) -> Vec<u32> {
        let mut ids = e.ids(text, kind);
        ids.truncate(self.max_tokens);
        ids
    }

    /// The frozen layers' output for every text, once: `[text] → (len × hidden)`, reported
    /// to `progress(done, total)` batch by batch.
    pub fn read_frozen(
        &self,
        e: &Embedder,
        texts: &[&str],
        kind: TextKind,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut cache = vec![Vec::new(); texts.len()];
        let mut done = 0;
        self.each_frozen_batch(e, texts, kind, |batch, hidden, _, ids| {
            for (j, &i) in batch.iter().enumerate() {
                cache[i] = hidden.get(j)?.narrow(0, 0, ids[i].len() + 2)?.flatten_all()?.to_vec1::<f32>()?;
            }
            done += batch.len();
            progress(done, texts.len());
            Ok(())
        })?;
        Ok(cache)
    }

    /// Run the frozen layers over `texts` in batches of similar length, handing `f` each batch's
    /// text indices, hidden states `(b, len, hidden)`, mask, and every text's token ids.
    pub fn each_frozen_batch(
        &self,
        e: &Embedder,
        texts: &[&str],
        kind: TextKind,
        mut f: impl FnMut(&[usize], Tensor, Tensor, &[Vec<u32>]) -> Result<(), ModelError>,
    ) -> Result<(), ModelError> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.ids(e, t, kind)).collect();
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        for batch in length_batches(&order, &ids) {
            let rows: Vec<&[u32]> = batch.iter().map(|&i| ids[i].as_slice()).collect();
            let (hidden, mask) = e.hidden_states(&rows, self.frozen_layers())?;
            f(&batch, hidden, mask, &ids)?;
        }
        Ok(())
    }

    /// Cached rows of `batch`, zero-padded to the longest: `(b, len, hidden)` and the mask.
    pub fn padded(&self, cache: &[Vec<f32>], batch: &[usize]) -> Result<(Tensor, Tensor), ModelError> {
        let h = self.hidden;
        let len = batch.iter().map(|&i| cache[i].len() / h).max().unwrap_or(1);
        let mut data = Vec::with_capacity(batch.len() * len * h);
        let mut mask = Vec::with_capacity(batch.len() * len);
        for &i in batch {
            let real = cache[i].len() / h;
            data.extend_from_slice(&cache[i]);
            data.extend(std::iter::repeat_n(0f32, (len - real) * h));
            mask.extend((0..len).map(|p| if p < real { 1f32 } else { 0.0 }));
        }
        let device = Device::Cpu;
        Ok((Tensor::from_vec(data, (batch.len(), len, h), &device)?, Tensor::from_vec(mask, (batch.len(), len), &device)?))
    }

    /// The tuned layers over `bottom`, mean-pooled: `(b, hidden)`.
    pub fn pooled(&self, w: &Weights, bottom: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let additive = additive_mask(mask)?;
        let mut x = bottom.clone();
        for i in self.frozen_layers()..self.layers {
            x = self.layer(w, i, &x, &additive)?;
        }
        masked_mean(&x, mask)
    }

    /// One BERT layer (post-norm) from differentiable ops.
    fn layer(&self, w: &Weights, i: usize, x: &Tensor, additive_mask: &Tensor) -> candle_core::Result<Tensor> {
        let p = |s: &str| &w[&format!("l{i}.{s}")];
        let dense = |x: &Tensor, name: &str| linear(x, p(&format!("{name}.w")), p(&format!("{name}.b")));
        let (b, len, h) = x.dims3()?;
        let head_dim = h / self.n_heads;
        let split = |t: Tensor| t.reshape((b, len, self.n_heads, head_dim))?.transpose(1, 2)?.contiguous();
        let (q, k, v) = (split(dense(x, "q")?)?, split(dense(x, "k")?)?, split(dense(x, "v")?)?);
        let scores = (q.matmul(&k.t()?)? / (head_dim as f64).sqrt())?.broadcast_add(additive_mask)?;
        let context = candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?.transpose(1, 2)?.reshape((b, len, h))?;
        let attended = layer_norm(&(dense(&context, "ao")? + x)?, p("aln.w"), p("aln.b"), self.eps)?;
        let ffn = dense(&dense(&attended, "fi")?.gelu_erf()?, "fo")?;
        layer_norm(&(ffn + attended)?, p("oln.w"), p("oln.b"), self.eps)
    }
}

/// Whether a model trained on an encoder shaped `encoder` (layers, hidden), tuning its top
/// `tuned` layers and reading `max_tokens` per text, fits the encoder `c`; the reason if not.
pub(crate) fn check_shape(encoder: (usize, usize), tuned: usize, max_tokens: usize, c: &E5Config) -> Result<(), String> {
    if encoder != (c.layers, c.hidden) {
        return Err(format!("trained on an encoder of {encoder:?} (layers, hidden); this one is ({}, {})", c.layers, c.hidden));
    }
    if tuned == 0 || tuned > c.layers {
        return Err(format!("cannot tune {tuned} of {} layers", c.layers));
    }
    if max_tokens == 0 || max_tokens + 2 > c.max_positions {
        return Err(format!("{max_tokens} tokens per text; the encoder reads 1 to {}", c.max_positions - 2));
    }
    Ok(())
}

/// `x` `(…, in)` times `w` `(out, in)` transposed, plus `b`.
pub(crate) fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims().to_vec();
    let (rows, inner) = (dims[..dims.len() - 1].iter().product::<usize>(), dims[dims.len() - 1]);
    let y = x.reshape((rows, inner))?.matmul(&w.t()?)?.broadcast_add(b)?;
    let mut out = dims;
    *out.last_mut().expect("at least one dim") = w.dim(0)?;
    y.reshape(out)
}

/// Layer normalisation over the last dimension from plain ops (these have gradients).
fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(w)?.broadcast_add(b)
}

/// Learning-rate factor at `step` of `steps`: linear warm-up over `warmup` of them, then linear decay.
pub(crate) fn schedule(step: usize, steps: usize, warmup: f64) -> f64 {
    let warm = ((steps as f64 * warmup).ceil() as usize).max(1);
    if step < warm {
        (step + 1) as f64 / warm as f64
    } else {
        (steps - step) as f64 / (steps - warm).max(1) as f64
    }
}

/// Consecutive runs of the length-sorted `order` holding at most `BATCH_TOKENS` padded tokens.
fn length_batches(order: &[usize], ids: &[Vec<u32>]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    for &i in order {
        // Sorted ascending: the newest row is the longest.
        if !current.is_empty() && (current.len() + 1) * (ids[i].len() + 2) > BATCH_TOKENS {
            out.push(std::mem::take(&mut current));
        }
        current.push(i);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// One epoch's batches: shuffled, then grouped so that a batch holds texts of similar length
/// (less padding), then the batches shuffled.
pub(crate) fn shuffled_batches(cache: &[Vec<f32>], batch_size: usize, rng: &mut impl Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..cache.len()).collect();
    order.shuffle(rng);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for group in order.chunks(batch_size * 32) {
        let mut group = group.to_vec();
        group.sort_by_key(|&i| cache[i].len());
        batches.extend(group.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}
