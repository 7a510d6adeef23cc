//! multilingual-e5-small's query side tuned to government-service questions: the top
//! `tuned_layers` encoder layers ([`TunedTop`]) trained so that a citizen's question lands next to
//! the passage that answers it. Passages keep the untuned model's vectors, so an index built with
//! the plain embedder serves both query encoders and switching between them re-embeds nothing.
//!
//! Training is contrastive over fixed passage vectors: every question is scored against every
//! training passage (the full softmax, temperature `τ`), so each passage that BM25 or the dense
//! top-k would offer as a hard negative is a negative; all passages with the answer's text are
//! positives. The frozen bottom layers run once per question.
//!
//! Saved as safetensors with f16 layers (≈ 3.5 MB per layer) and the spec in the metadata; valid
//! only with the embedder it was trained on (the shape is checked at load). Saving writes a
//! temporary file and renames it. Not thread-safe by design: the compute thread owns it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::e5_classifier::save_safetensors;
use crate::embedder::{Embedder, TextKind};
use crate::tuned_top::{check_shape, schedule, shuffled_batches, TunedTop};
use crate::ModelError;

/// The tower shipped with banshi (see `models/data/README.md` for what it is tuned on and the
/// command that makes it).
const BUNDLED: &[u8] = include_bytes!("../data/e5-query-gov.safetensors");

/// What a query tower is and what it learnt from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TowerSpec {
    /// Top encoder layers tuned (the rest are the embedder's).
    pub tuned_layers: usize,
    /// Content tokens read per question; longer questions are cut.
    pub max_tokens: usize,
    /// Encoder shape it was trained on: layers, hidden size.
    pub encoder: (usize, usize),
    /// What it was trained on and how, for reports.
    #[serde(default)]
    pub trained_on: String,
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TowerConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (linear warm-up, then linear decay to 0).
    pub learning_rate: f64,
    /// Softmax temperature over cosine similarities.
    pub temperature: f64,
    pub warmup: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for TowerConfig {
    fn default() -> Self {
        TowerConfig { epochs: 4, batch_size: 32, learning_rate: 2e-4, temperature: 0.02, warmup: 0.1, weight_decay: 0.01, seed: 20261206 }
    }
}

/// Where training is, for a progress bar and a validation curve.
#[derive(Debug, Clone, Copy)]
pub enum TowerProgress {
    /// Running the frozen layers once over every question.
    Reading {
        done: usize,
        total: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        loss: f32,
    },
    /// Before training (epoch 0) and after each epoch, on the validation questions (dense
    /// ranking over the passages): recall@1 and MRR.
    Validated {
        epoch: usize,
        recall_at_1: f64,
        mrr: f64,
    },
}

/// Questions and, for each, the indices of the passages that answer it.
pub struct Pairs<'a> {
    pub questions: Vec<&'a str>,
    pub positives: Vec<Vec<usize>>,
}

/// The tuned query encoder (see the module header).
pub struct QueryTower {
    spec: TowerSpec,
    top: TunedTop,
}

impl QueryTower {
    /// An untrained tower: the embedder's own top layers (embeds exactly as the embedder does,
    /// up to the cut at `max_tokens`). Fails with [`ModelError::Training`] on a layer count the
    /// encoder does not have or a cut outside its window.
    pub fn from_embedder(e: &Embedder, tuned_layers: usize, max_tokens: usize) -> Result<Self, ModelError> {
        let c = e.config();
        let spec = TowerSpec { tuned_layers, max_tokens, encoder: (c.layers, c.hidden), trained_on: String::new() };
        check(&spec, e).map_err(ModelError::Training)?;
        Ok(QueryTower { top: TunedTop::from_embedder(e, tuned_layers, max_tokens)?, spec })
    }

    /// Load a tower saved by [`QueryTower::save`] from its bytes (`name` is for errors).
    ///
    /// Fails with [`ModelError::Format`] when the bytes are not a tower, or one trained on an
    /// encoder of another shape.
    pub fn from_bytes(bytes: &[u8], name: &str, e: &Embedder) -> Result<Self, ModelError> {
        let bad = |detail: String| ModelError::Format { file: name.to_string(), detail };
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let spec =
            meta.metadata().as_ref().and_then(|m| m.get("tower")).ok_or_else(|| bad("no query-tower spec in its metadata".into()))?;
        let spec: TowerSpec = serde_json::from_str(spec).map_err(|e| bad(format!("spec: {e}")))?;
        check(&spec, e).map_err(bad)?;
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
        let top = TunedTop::from_tensors(e, spec.tuned_layers, spec.max_tokens, &tensors).map_err(bad)?;
        Ok(QueryTower { spec, top })
    }

    /// The bundled tower, for the bundled embedder (fails as [`QueryTower::from_bytes`] does
    /// when `e` is another model).
    pub fn bundled(e: &Embedder) -> Result<Self, ModelError> {
        Self::from_bytes(BUNDLED, "the bundled e5-query-gov.safetensors", e)
    }

    /// Load a tower file (see [`QueryTower::from_bytes`]).
    pub fn load(path: &Path, e: &Embedder) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|err| ModelError::io(path, err))?;
        Self::from_bytes(&bytes, &path.display().to_string(), e)
    }

    /// Write the tuned layers as f16 (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let meta = HashMap::from([("tower".to_string(), serde_json::to_string(&self.spec).expect("specs serialise"))]);
        let tensors =
            self.top.vars.iter().map(|(n, v)| Ok((n.clone(), v.as_tensor().to_dtype(DType::F16)?))).collect::<Result<_, ModelError>>()?;
        save_safetensors(path, tensors, meta)
    }

    pub fn spec(&self) -> &TowerSpec {
        &self.spec
    }

    /// Record what the tower was trained on (saved with it).
    pub fn set_trained_on(&mut self, what: String) {
        self.spec.trained_on = what;
    }

    /// L2-normalised query embeddings, one per text, in input order (`query: ` is prefixed here).
    pub fn embed(&self, e: &Embedder, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let weights = self.top.weights(false);
        let mut out = vec![Vec::new(); texts.len()];
        self.top.each_frozen_batch(e, texts, TextKind::Query, |batch, bottom, mask, _| {
            let v = normalise(&self.top.pooled(&weights, &bottom, &mask)?)?.to_vec2::<f32>()?;
            for (&i, v) in batch.iter().zip(v) {
                out[i] = v;
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Train on `train` against `passages` (unit vectors from the untuned embedder; the
    /// positives index into them), checking `validation` after every epoch when given.
    ///
    /// Deterministic for the same data, config and thread count. Fails with
    /// [`ModelError::Training`] on no questions, a question without a positive, or a positive
    /// outside `passages`.
    pub fn train(
        &mut self,
        e: &Embedder,
        train: &Pairs,
        passages: &[Vec<f32>],
        validation: Option<&Pairs>,
        cfg: &TowerConfig,
        progress: &mut dyn FnMut(TowerProgress),
    ) -> Result<(), ModelError> {
        check_pairs(train, passages.len())?;
        if let Some(v) = validation {
            check_pairs(v, passages.len())?;
        }
        let h = self.spec.encoder.1;
        if passages.iter().any(|p| p.len() != h) {
            return Err(ModelError::Training(format!("passage vectors must have {h} values")));
        }
        let matrix = Tensor::from_vec(passages.concat(), (passages.len(), h), &Device::Cpu)?;
        let cache = self
            .top
            .read_frozen(e, &train.questions, TextKind::Query, &mut |done, total| progress(TowerProgress::Reading { done, total }))?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
        let params = ParamsAdamW { lr: cfg.learning_rate, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() };
        let mut opt = AdamW::new(self.top.all_vars(), params)?;
        let steps = train.questions.len().div_ceil(cfg.batch_size.max(1)) * cfg.epochs;
        self.validate(e, validation, &matrix, 0, progress)?;
        let mut step = 0;
        for epoch in 0..cfg.epochs {
            for batch in shuffled_batches(&cache, cfg.batch_size.max(1), &mut rng) {
                opt.set_learning_rate(cfg.learning_rate * schedule(step, steps, cfg.warmup));
                let (bottom, mask) = self.top.padded(&cache, &batch)?;
                let q = normalise(&self.top.pooled(&self.top.weights(true), &bottom, &mask)?)?;
                let loss = contrastive_loss(&q, &matrix, &batch_positives(&batch, train, passages.len())?, cfg.temperature)?;
                opt.step(&loss.backward()?)?;
                step += 1;
                progress(TowerProgress::Step { epoch, step, steps, loss: loss.to_scalar::<f32>()? });
            }
            self.validate(e, validation, &matrix, epoch + 1, progress)?;
        }
        Ok(())
    }

    /// Report [`QueryTower::rank_quality`] on `validation`, if given, as of `epoch`.
    fn validate(
        &self,
        e: &Embedder,
        validation: Option<&Pairs>,
        matrix: &Tensor,
        epoch: usize,
        progress: &mut dyn FnMut(TowerProgress),
    ) -> Result<(), ModelError> {
        if let Some(v) = validation {
            let (recall_at_1, mrr) = self.rank_quality(e, v, matrix)?;
            progress(TowerProgress::Validated { epoch, recall_at_1, mrr });
        }
        Ok(())
    }

    /// Recall@1 and MRR of `pairs` ranked densely over `matrix`'s rows.
    fn rank_quality(&self, e: &Embedder, pairs: &Pairs, matrix: &Tensor) -> Result<(f64, f64), ModelError> {
        let q = self.embed(e, &pairs.questions)?;
        let n = q.len();
        let scores = Tensor::from_vec(q.concat(), (n, self.spec.encoder.1), &Device::Cpu)?.matmul(&matrix.t()?)?.to_vec2::<f32>()?;
        let (mut hits, mut rr) = (0.0, 0.0);
        for (row, positives) in scores.iter().zip(&pairs.positives) {
            let best = positives.iter().map(|&p| row[p]).fold(f32::MIN, f32::max);
            let rank = 1 + row.iter().enumerate().filter(|(i, &s)| s > best && !positives.contains(i)).count();
            hits += f64::from(u8::from(rank == 1));
            rr += 1.0 / rank as f64;
        }
        Ok((hits / n.max(1) as f64, rr / n.max(1) as f64))
    }
}

fn check(spec: &TowerSpec, e: &Embedder) -> Result<(), String> {
    check_shape(spec.encoder, spec.tuned_layers, spec.max_tokens, &e.config())
}

fn check_pairs(p: &Pairs, passages: usize) -> Result<(), ModelError> {
    if p.questions.is_empty() || p.questions.len() != p.positives.len() {
        return Err(ModelError::Training(format!("{} questions and {} positive lists", p.questions.len(), p.positives.len())));
    }
    if let Some(i) = p.positives.iter().position(|ps| ps.is_empty() || ps.iter().any(|&x| x >= passages)) {
        return Err(ModelError::Training(format!("question {i} has no positive among the {passages} passages")));
    }
    Ok(())
}

/// `(b, n)` mask: 1 where passage j answers the batch's question i.
fn batch_positives(batch: &[usize], pairs: &Pairs, n: usize) -> Result<Tensor, ModelError> {
    let mut mask = vec![0f32; batch.len() * n];
    for (row, &i) in batch.iter().enumerate() {
        for &p in &pairs.positives[i] {
            mask[row * n + p] = 1.0;
        }
    }
    Ok(Tensor::from_vec(mask, (batch.len(), n), &Device::Cpu)?)
}

/// Mean over the batch of −log(softmax mass on the positives), over cosines `q · pᵀ / τ`.
fn contrastive_loss(q: &Tensor, passages: &Tensor, positives: &Tensor, temperature: f64) -> candle_core::Result<Tensor> {
    let logits = (q.matmul(&passages.t()?)? / temperature)?;
    // Shifted by each row's maximum (a constant for the gradient) so that exp cannot overflow.
    let shifted = logits.broadcast_sub(&logits.max_keepdim(D::Minus1)?.detach())?.exp()?;
    let all = shifted.sum_keepdim(D::Minus1)?.log()?;
    let pos = (shifted * positives)?.sum_keepdim(D::Minus1)?.log()?;
    (all - pos)?.mean_all()
}

/// Rows scaled to unit length.
fn normalise(x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-12, f64::MAX)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e5s1::E5s1;
    use crate::testing::{tiny_file, tiny_pieces};

    fn tiny() -> Embedder {
        Embedder::from_e5s1(E5s1::parse(tiny_file(&tiny_pieces(), &[], 32, 3, 2, 64), "tiny").unwrap()).unwrap()
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn an_untrained_tower_embeds_as_the_embedder() {
        let e = tiny();
        let t = QueryTower::from_embedder(&e, 2, 60).unwrap();
        let texts = ["身份证", "办理身份证换证", ""];
        for (a, b) in t.embed(&e, &texts).unwrap().iter().zip(e.embed(&texts, TextKind::Query).unwrap()) {
            assert!(dot(a, &b) > 0.9999, "cos {}", dot(a, &b));
        }
    }

    #[test]
    fn training_pulls_questions_to_their_passages_and_survives_saving() {
        let e = tiny();
        let passages = e.embed(&["身份证", "办理", "ab"], TextKind::Passage).unwrap();
        // Questions whose untuned nearest passage is often the wrong one.
        let questions = vec!["办理ab", "身份证办理", "ab身份证", "办理身份证ab", "ab办理", "身份证ab办理"];
        let positives = vec![vec![0], vec![2], vec![1], vec![0], vec![2], vec![1]];
        let pairs = Pairs { questions: questions.clone(), positives };
        let mut t = QueryTower::from_embedder(&e, 1, 60).unwrap();
        let matrix = Tensor::from_vec(passages.concat(), (3, 32), &Device::Cpu).unwrap();
        let (before, _) = t.rank_quality(&e, &pairs, &matrix).unwrap();
        let cfg = TowerConfig { epochs: 80, batch_size: 3, learning_rate: 3e-3, temperature: 0.05, ..TowerConfig::default() };
        let mut validated = Vec::new();
        t.train(&e, &pairs, &passages, Some(&pairs), &cfg, &mut |p| {
            if let TowerProgress::Validated { recall_at_1, .. } = p {
                validated.push(recall_at_1)
            }
        })
        .unwrap();
        assert_eq!(validated.len(), 81);
        let after = *validated.last().unwrap();
        assert!(before < 1.0 && validated[0] == before && after == 1.0, "recall@1 {before} → {after}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tower.safetensors");
        t.set_trained_on("toy".into());
        t.save(&path).unwrap();
        let loaded = QueryTower::load(&path, &e).unwrap();
        assert_eq!(loaded.spec(), t.spec());
        // Saved as f16: the vectors agree closely, not bit for bit.
        let want = loaded.embed(&e, &questions).unwrap();
        for (a, b) in want.iter().zip(t.embed(&e, &questions).unwrap()) {
            assert!(dot(a, &b) > 0.999);
        }

        // Set on an embedder, the tower embeds its queries (also raw ones) and no passage.
        let base = e.embed(&questions, TextKind::Query).unwrap();
        assert!(want.iter().zip(&base).any(|(a, b)| dot(a, b) < 0.999), "training changed nothing");
        let mut tuned = tiny();
        tuned.set_query_tower(Some(loaded));
        // Same vectors up to float rounding (batches pad differently).
        let same = |a: &[f32], b: &[f32]| dot(a, b) > 0.99999;
        assert!(tuned.embed(&questions, TextKind::Query).unwrap().iter().zip(&want).all(|(a, b)| same(a, b)));
        let raw = ["query: 办理ab", "passage: 身份证"];
        let got = tuned.embed(&raw, TextKind::Raw).unwrap();
        assert!(same(&got[0], &want[0]) && same(&got[1], &passages[0]));
        assert!(same(&tuned.embed(&["身份证"], TextKind::Passage).unwrap()[0], &passages[0]));
    }

    #[test]
    fn bad_pairs_and_files_are_errors() {
        let e = tiny();
        let mut t = QueryTower::from_embedder(&e, 1, 60).unwrap();
        let passages = e.embed(&["身份证"], TextKind::Passage).unwrap();
        let pairs = Pairs { questions: vec!["身份证"], positives: vec![vec![1]] };
        let err = t.train(&e, &pairs, &passages, None, &TowerConfig::default(), &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("no positive"), "{err}");
        assert!(QueryTower::from_embedder(&e, 4, 60).is_err(), "the tiny encoder has 3 layers");
        assert!(matches!(QueryTower::from_bytes(b"junk", "junk", &e), Err(ModelError::Format { .. })));
        // The bundled tower is for the real 12-layer model: it parses, and says so.
        let err = QueryTower::bundled(&e).err().unwrap();
        assert!(err.to_string().contains("(12, 384)"), "{err}");
        let other = Embedder::from_e5s1(E5s1::parse(tiny_file(&tiny_pieces(), &[], 32, 2, 2, 64), "tiny").unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        t.save(&path).unwrap();
        let err = QueryTower::load(&path, &other).err().unwrap();
        assert!(err.to_string().contains("(3, 32)"), "{err}");
    }
}
