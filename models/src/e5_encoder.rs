//! Inference forward of the e5 (BERT, post-norm) encoder on plain f32 buffers.
//!
//! candle runs the encoder op by op: every op allocates its output, GELU's erf and softmax's exp
//! are scalar calls, and a batch is padded to its longest text. Here a batch's texts are packed
//! end to end with no padding; each linear layer is one `gemm` call whose output already holds
//! the bias (and the residual); attention runs per (text, head) in parallel; GELU and softmax use
//! branch-free polynomial erf/exp that the compiler vectorises (error under 1e-6, checked against
//! candle in the tests). Training (the query tower, the appeal classifier) stays on candle.
//!
//! Weights are dequantised to f32 at load (≈85 MB for e5-small) and read-only afterwards. Work
//! is split over the calling thread's rayon pool: the global one, which candle's own matmuls
//! use too, or a one-thread pool when the embedder runs batches side by side. Panics only on
//! internal shape bugs: every buffer length is derived from the config it was loaded with.

use rayon::prelude::*;

use crate::e5s1::{E5Config, E5s1};
use crate::ModelError;

/// Rows per parallel task in the elementwise passes (layer norm, GELU).
const ROWS_PER_TASK: usize = 16;

/// The embedding layer and encoder layers of one e5 model.
pub struct E5Encoder {
    config: E5Config,
    positions: Vec<f32>,
    token_type: Vec<f32>,
    embed_norm: Norm,
    layers: Vec<Layer>,
}

struct Layer {
    /// Query, key and value side by side (`Wᵀ` of `(hidden, 3·hidden)`), so one gemm projects all
    /// three.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    ffn_in: Linear,
    ffn_out: Linear,
    out_norm: Norm,
}

/// `y = x·Wᵀ + b`. `W` arrives `(out, in)` as PyTorch stores it and is kept transposed,
/// `(in, out)`: gemm then reads it with unit stride along the outputs and, for a few rows (a
/// query), uses it in place instead of repacking every weight matrix per call.
struct Linear {
    /// `Wᵀ`, `inputs × outputs`, row-major.
    wt: Vec<f32>,
    b: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

struct Norm {
    w: Vec<f32>,
    b: Vec<f32>,
    eps: f32,
}

impl E5Encoder {
    /// Dequantise the encoder's tensors out of `file`. Fails if a tensor is missing or has
    /// another size than the file's config says.
    pub fn from_e5s1(file: &E5s1) -> Result<Self, ModelError> {
        let c = file.config;
        let get = |name: &str, len: usize| -> Result<Vec<f32>, ModelError> {
            let v = file.values(name)?;
            if v.len() != len {
                return Err(file.bad(format!("tensor {name} has {} values, expected {len}", v.len())));
            }
            Ok(v)
        };
        let norm = |prefix: &str| -> Result<Norm, ModelError> {
            Ok(Norm { w: get(&format!("{prefix}.w"), c.hidden)?, b: get(&format!("{prefix}.b"), c.hidden)?, eps: c.layer_norm_eps })
        };
        let linear = |prefix: &str, outputs: usize, inputs: usize| -> Result<Linear, ModelError> {
            Ok(Linear::new(&get(&format!("{prefix}.w"), outputs * inputs)?, get(&format!("{prefix}.b"), outputs)?, inputs))
        };
        let mut layers = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let [q, k, v] = ["q", "k", "v"].map(|n| get(&format!("l{i}.{n}.w"), c.hidden * c.hidden));
            let [qb, kb, vb] = ["q", "k", "v"].map(|n| get(&format!("l{i}.{n}.b"), c.hidden));
            let qkv = Linear::new(&[q?, k?, v?].concat(), [qb?, kb?, vb?].concat(), c.hidden);
            layers.push(Layer {
                qkv,
                attn_out: linear(&format!("l{i}.ao"), c.hidden, c.hidden)?,
                attn_norm: norm(&format!("l{i}.aln"))?,
                ffn_in: linear(&format!("l{i}.fi"), c.ffn, c.hidden)?,
                ffn_out: linear(&format!("l{i}.fo"), c.hidden, c.ffn)?,
                out_norm: norm(&format!("l{i}.oln"))?,
            });
        }
        let token_type = get("emb.type", c.type_vocab * c.hidden)?[..c.hidden].to_vec();
        Ok(E5Encoder { config: c, positions: get("emb.pos", c.max_positions * c.hidden)?, token_type, embed_norm: norm("emb.ln")?, layers })
    }

    /// Hidden states after the first `layers` layers, packed: the rows of text 0, then of text 1
    /// and so on, `hidden` values per token. `words` holds each token's word-embedding row in
    /// the same packed order; `lens[i]` is text i's token count (specials included), at most
    /// the model's position count.
    pub fn forward(&self, mut words: Vec<f32>, lens: &[usize], layers: usize) -> Vec<f32> {
        let h = self.config.hidden;
        let tokens: usize = lens.iter().sum();
        assert_eq!(words.len(), tokens * h, "word rows do not match the lengths");
        assert!(lens.iter().all(|&l| l <= self.config.max_positions), "a text is longer than the position table");
        let mut row = 0;
        for &len in lens {
            for p in 0..len {
                let x = &mut words[(row + p) * h..(row + p + 1) * h];
                for ((x, pos), ty) in x.iter_mut().zip(&self.positions[p * h..(p + 1) * h]).zip(&self.token_type) {
                    *x += pos + ty;
                }
            }
            row += len;
        }
        self.embed_norm.forward(&mut words);
        for layer in &self.layers[..layers.min(self.layers.len())] {
            words = layer.forward(words, lens, self.config.heads);
        }
        words
    }

    /// Mean of each text's rows of packed `hidden` (not normalised).
    pub fn mean_rows(&self, hidden: &[f32], lens: &[usize]) -> Vec<Vec<f32>> {
        let h = self.config.hidden;
        let mut start = 0;
        lens.iter()
            .map(|&len| {
                let mut mean = vec![0f32; h];
                for r in hidden[start * h..(start + len) * h].chunks_exact(h) {
                    mean.iter_mut().zip(r).for_each(|(m, v)| *m += v);
                }
                start += len;
                mean.iter_mut().for_each(|m| *m /= len.max(1) as f32);
                mean
            })
            .collect()
    }
}

impl Layer {
    fn forward(&self, x: Vec<f32>, lens: &[usize], heads: usize) -> Vec<f32> {
        let h = self.attn_out.outputs;
        let tokens = x.len() / h;
        let qkv = self.qkv.forward(&x, None);
        let context = attention(&qkv, lens, heads, h);
        let mut x = self.attn_out.forward(&context, Some(&x));
        self.attn_norm.forward(&mut x);
        let mut inner = self.ffn_in.forward(&x, None);
        inner.par_chunks_mut(ROWS_PER_TASK * self.ffn_in.outputs).for_each(|c| c.iter_mut().for_each(|v| *v = gelu(*v)));
        let mut out = self.ffn_out.forward(&inner, Some(&x));
        self.out_norm.forward(&mut out);
        debug_assert_eq!(out.len(), tokens * h);
        out
    }
}

impl Linear {
    /// From `w` stored `(b.len(), inputs)`.
    fn new(w: &[f32], b: Vec<f32>, inputs: usize) -> Self {
        let outputs = b.len();
        let mut wt = vec![0.0; w.len()];
        for (o, row) in w.chunks_exact(inputs).enumerate() {
            row.iter().enumerate().for_each(|(i, &v)| wt[i * outputs + o] = v);
        }
        Linear { wt, b, inputs, outputs }
    }

    /// `x·Wᵀ + b (+ residual)` for `x` of `rows × inputs`.
    fn forward(&self, x: &[f32], residual: Option<&[f32]>) -> Vec<f32> {
        let rows = x.len() / self.inputs;
        let mut y = match residual {
            Some(r) => {
                let mut y = r.to_vec();
                y.chunks_exact_mut(self.outputs).for_each(|row| row.iter_mut().zip(&self.b).for_each(|(v, b)| *v += b));
                y
            }
            None => {
                let mut y = Vec::with_capacity(rows * self.outputs);
                (0..rows).for_each(|_| y.extend_from_slice(&self.b));
                y
            }
        };
        let lhs = View { data: x, rows, cols: self.inputs, row_stride: self.inputs, col_stride: 1 };
        let rhs = View { data: &self.wt, rows: self.inputs, cols: self.outputs, row_stride: self.outputs, col_stride: 1 };
        matmul(&mut y, lhs, rhs, 1.0, true, threads());
        y
    }
}

impl Norm {
    /// Layer norm of every row of `x`, in place.
    fn forward(&self, x: &mut [f32]) {
        let h = self.w.len();
        x.par_chunks_mut(ROWS_PER_TASK * h).for_each(|rows| {
            for r in rows.chunks_exact_mut(h) {
                let mean = sum(r) / h as f32;
                let var = lanes(r, 0.0, |v| (v - mean) * (v - mean), |a, b| a + b) / h as f32;
                let inv = 1.0 / (var + self.eps).sqrt();
                for ((v, w), b) in r.iter_mut().zip(&self.w).zip(&self.b) {
                    *v = (*v - mean) * inv * w + b;
                }
            }
        });
    }
}

/// Self-attention of each packed text over itself: `qkv` rows hold query, key, value (each
/// `h` wide, heads side by side); returns the `(tokens, h)` context rows.
fn attention(qkv: &[f32], lens: &[usize], heads: usize, h: usize) -> Vec<f32> {
    let d = h / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let starts: Vec<usize> = lens.iter().scan(0, |s, &l| Some(std::mem::replace(s, *s + l))).collect();
    let tasks: Vec<(usize, usize)> = (0..lens.len()).flat_map(|t| (0..heads).map(move |j| (t, j))).collect();
    let blocks: Vec<Vec<f32>> = tasks
        .par_iter()
        .map(|&(t, j)| {
            let (len, at) = (lens[t], starts[t] * 3 * h);
            let q = View { data: &qkv[at + j * d..], rows: len, cols: d, row_stride: 3 * h, col_stride: 1 };
            let kt = View { data: &qkv[at + h + j * d..], rows: d, cols: len, row_stride: 1, col_stride: 3 * h };
            let v = View { data: &qkv[at + 2 * h + j * d..], rows: len, cols: d, row_stride: 3 * h, col_stride: 1 };
            let mut scores = vec![0f32; len * len];
            matmul(&mut scores, q, kt, scale, false, gemm::Parallelism::None);
            scores.chunks_exact_mut(len).for_each(softmax);
            let mut out = vec![0f32; len * d];
            let p = View { data: &scores, rows: len, cols: len, row_stride: len, col_stride: 1 };
            matmul(&mut out, p, v, 1.0, false, gemm::Parallelism::None);
            out
        })
        .collect();
    let tokens: usize = lens.iter().sum();
    let mut context = vec![0f32; tokens * h];
    for (&(t, j), block) in tasks.iter().zip(&blocks) {
        for (i, row) in block.chunks_exact(d).enumerate() {
            let at = (starts[t] + i) * h + j * d;
            context[at..at + d].copy_from_slice(row);
        }
    }
    context
}

/// A strided read-only matrix inside a slice.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl View<'_> {
    /// Whether every element the view names lies inside its slice.
    fn in_bounds(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride < self.data.len()
    }
}

/// `dst = scale·lhs·rhs`, or `dst += scale·lhs·rhs` when `accumulate`; `dst` is row-major.
fn matmul(dst: &mut [f32], lhs: View, rhs: View, scale: f32, accumulate: bool, parallelism: gemm::Parallelism) {
    assert!(lhs.in_bounds() && rhs.in_bounds() && lhs.cols == rhs.rows && dst.len() == lhs.rows * rhs.cols);
    if dst.is_empty() {
        return;
    }
    // SAFETY: the asserts above keep every index gemm reads inside `lhs.data`/`rhs.data` and
    // every index it writes inside `dst`, which is borrowed mutably for the call.
    unsafe {
        gemm::gemm(
            lhs.rows,
            rhs.cols,
            lhs.cols,
            dst.as_mut_ptr(),
            1,
            rhs.cols as isize,
            accumulate,
            lhs.data.as_ptr(),
            lhs.col_stride as isize,
            lhs.row_stride as isize,
            rhs.data.as_ptr(),
            rhs.col_stride as isize,
            rhs.row_stride as isize,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        )
    }
}

fn threads() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// Softmax of one row of scores, in place.
fn softmax(row: &mut [f32]) {
    let max = lanes(row, f32::NEG_INFINITY, |v| v, f32::max);
    row.iter_mut().for_each(|v| *v = exp(*v - max));
    let inv = 1.0 / sum(row);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Reduce `map` of each of `xs` with `op` over 8 independent lanes, so the loop vectorises (a
/// plain fold is one serial chain: strict float semantics forbid reordering it).
#[inline(always)]
fn lanes(xs: &[f32], init: f32, map: impl Fn(f32) -> f32, op: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [init; 8];
    let chunks = xs.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a = op(*a, map(*v));
        }
    }
    tail.iter().map(|&v| map(v)).chain(acc[1..].iter().copied()).fold(acc[0], op)
}

fn sum(xs: &[f32]) -> f32 {
    lanes(xs, 0.0, |v| v, |a, b| a + b)
}

/// `e^x` by range reduction to `x = n·ln2 + r`, |r| ≤ ln2/2, and a degree-7 polynomial in r;
/// relative error about 1e-7. Inputs below -87 give ~1e-38 rather than 0.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0 / 5040.0;
    let p = p * r + 1.0 / 720.0;
    let p = p * r + 1.0 / 120.0;
    let p = p * r + 1.0 / 24.0;
    let p = p * r + 1.0 / 6.0;
    let p = p * r + 0.5;
    let p = p * r + 1.0;
    let p = p * r + 1.0;
    // 2^n without a float→int cast (Rust's saturating `as` does not vectorise): adding
    // 1.5·2^23 puts n + 127 in the low mantissa bits, which the shift moves into the exponent.
    p * f32::from_bits((n + (127.0 + 12_582_912.0)).to_bits() << 23)
}

/// Exact (erf) GELU, as BERT uses: `x/2 · (1 + erf(x/√2))`.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf as a rational function of odd/even polynomials on [-4, 4] (Eigen's `generic_fast_erf`
/// coefficients); outside that range erf is ±1 in f32.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    /// candle's BertEncoder over the same tiny weights, padded: the reference this forward must
    /// agree with.
    fn candle_reference(file: &E5s1, words: &[f32], lens: &[usize]) -> Vec<f32> {
        use candle_nn::{LayerNorm, Module, VarBuilder};
        use candle_transformers::models::bert::{BertEncoder, Config, HiddenAct, PositionEmbeddingType};
        let c = file.config;
        let names = [
            ("q", "attention.self.query"),
            ("k", "attention.self.key"),
            ("v", "attention.self.value"),
            ("ao", "attention.output.dense"),
            ("aln", "attention.output.LayerNorm"),
            ("fi", "intermediate.dense"),
            ("fo", "output.dense"),
            ("oln", "output.LayerNorm"),
        ];
        let mut tensors = std::collections::HashMap::new();
        for i in 0..c.layers {
            for (short, long) in names {
                for (s, l) in [("w", "weight"), ("b", "bias")] {
                    let v = file.values(&format!("l{i}.{short}.{s}")).unwrap();
                    let inputs = if short == "fo" { c.ffn } else { c.hidden };
                    let matrix = s == "w" && !short.ends_with("ln");
                    let shape = if matrix { vec![v.len() / inputs, inputs] } else { vec![v.len()] };
                    tensors.insert(format!("encoder.layer.{i}.{long}.{l}"), Tensor::from_vec(v, shape, &Device::Cpu).unwrap());
                }
            }
        }
        let config = Config {
            vocab_size: c.vocab_rows,
            hidden_size: c.hidden,
            num_hidden_layers: c.layers,
            num_attention_heads: c.heads,
            intermediate_size: c.ffn,
            hidden_act: HiddenAct::Gelu,
            hidden_dropout_prob: 0.0,
            max_position_embeddings: c.max_positions,
            type_vocab_size: c.type_vocab,
            initializer_range: 0.02,
            layer_norm_eps: c.layer_norm_eps as f64,
            pad_token_id: 1,
            position_embedding_type: PositionEmbeddingType::Absolute,
            use_cache: false,
            classifier_dropout: None,
            model_type: Some("bert".into()),
        };
        let vb = VarBuilder::from_tensors(tensors, candle_core::DType::F32, &Device::Cpu);
        let encoder = BertEncoder::load(vb.pp("encoder"), &config).unwrap();
        let h = c.hidden;
        let len = *lens.iter().max().unwrap();
        let (mut padded, mut mask, mut start) = (Vec::new(), Vec::new(), 0);
        for &l in lens {
            padded.extend_from_slice(&words[start * h..(start + l) * h]);
            padded.extend(std::iter::repeat_n(0f32, (len - l) * h));
            mask.extend((0..len).map(|p| if p < l { 0f32 } else { f32::MIN }));
            start += l;
        }
        let x = Tensor::from_vec(padded, (lens.len(), len, h), &Device::Cpu).unwrap();
        let pos = Tensor::from_vec(file.values("emb.pos").unwrap(), (c.max_positions, h), &Device::Cpu).unwrap().narrow(0, 0, len).unwrap();
        let ty = Tensor::from_vec(file.values("emb.type").unwrap()[..h].to_vec(), h, &Device::Cpu).unwrap();
        let norm = |n: &str| Tensor::from_vec(file.values(n).unwrap(), h, &Device::Cpu).unwrap();
        let ln = LayerNorm::new(norm("emb.ln.w"), norm("emb.ln.b"), c.layer_norm_eps as f64);
        let x = ln.forward(&x.broadcast_add(&pos).unwrap().broadcast_add(&ty).unwrap()).unwrap();
        let mask = Tensor::from_vec(mask, (lens.len(), 1, 1, len), &Device::Cpu).unwrap();
        let out = encoder.forward(&x, &mask).unwrap().to_vec3::<f32>().unwrap();
        lens.iter().zip(out).flat_map(|(&l, rows)| rows.into_iter().take(l).flatten()).collect()
    }

    #[test]
    fn packed_forward_matches_candles_padded_bert() {
        let file = E5s1::parse(crate::testing::tiny_file(&crate::testing::tiny_pieces(), &[], 64, 2, 4, 128), "tiny").unwrap();
        let encoder = E5Encoder::from_e5s1(&file).unwrap();
        let lens = [5, 17, 2, 64];
        let ids: Vec<u32> = (0..lens.iter().sum::<usize>()).map(|i| (i * 7 % file.config.vocab_rows) as u32).collect();
        let words = file.q4_rows("emb.word", 64, &ids).unwrap();
        let ours = encoder.forward(words.clone(), &lens, 2);
        let reference = candle_reference(&file, &words, &lens);
        assert_eq!(ours.len(), reference.len());
        let worst = ours.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-4, "largest difference {worst}");
        // Fewer layers is a prefix of the stack, not the same output.
        let one = encoder.forward(words, &lens, 1);
        assert!(one.iter().zip(&ours).any(|(a, b)| (a - b).abs() > 1e-3));
    }

    #[test]
    fn erf_gelu_and_exp_match_candle_and_std() {
        let xs: Vec<f32> = (-1200..=1200).map(|i| i as f32 / 100.0).collect();
        let reference = Tensor::new(xs.as_slice(), &Device::Cpu).unwrap().gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        for (x, r) in xs.iter().zip(reference) {
            assert!((gelu(*x) - r).abs() <= 1e-5 * (1.0 + r.abs()), "gelu({x}) = {} vs {r}", gelu(*x));
        }
        for x in (-870..=880).map(|i| i as f32 / 10.0) {
            let (a, b) = (exp(x), x.exp());
            assert!((a - b).abs() <= 1e-6 * b, "exp({x}) = {a} vs {b}");
        }
        let mut row = vec![1.0, 2.0, f32::NEG_INFINITY, 3.0];
        softmax(&mut row);
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6 && row[2] < 1e-30 && row[3] > row[1]);
    }

    #[test]
    fn matmul_reads_strided_views_and_accumulates() {
        // lhs 2×3, rhs given as its 2×3 transpose (col_stride 3).
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let w = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let lhs = View { data: &a, rows: 2, cols: 3, row_stride: 3, col_stride: 1 };
        let rhs = View { data: &w, rows: 3, cols: 2, row_stride: 1, col_stride: 3 };
        let mut y = vec![10.0, 20.0, 30.0, 40.0];
        matmul(&mut y, lhs, rhs, 1.0, true, gemm::Parallelism::None);
        assert_eq!(y, vec![14.0, 22.0, 40.0, 45.0]);
        matmul(&mut y, lhs, rhs, 0.5, false, gemm::Parallelism::None);
        assert_eq!(y, vec![2.0, 1.0, 5.0, 2.5]);
    }

    #[test]
    #[should_panic]
    fn matmul_refuses_a_view_past_its_slice() {
        let a = [1.0; 5];
        let lhs = View { data: &a, rows: 2, cols: 3, row_stride: 3, col_stride: 1 };
        matmul(
            &mut [0.0; 2],
            lhs,
            View { data: &[1.0; 3], rows: 3, cols: 1, row_stride: 1, col_stride: 1 },
            1.0,
            false,
            gemm::Parallelism::None,
        );
    }
}
