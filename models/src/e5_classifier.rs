//! multilingual-e5-small fine-tuned as a text classifier. The [`Embedder`]'s bottom layers run
//! frozen; copies of its top `tuned_layers` layers ([`TunedTop`]) and one linear head per task
//! (over the mean-pooled last hidden state) are trained with AdamW through candle's autograd.
//!
//! Only the tuned layers and the heads are saved (safetensors, ≈7 MB per layer, the spec in its
//! metadata); the frozen part is the E5S1 file the [`Embedder`] reads, so a classifier file is
//! valid only with that embedder (the shape is checked at load). Saving writes a temporary file
//! and renames it: a crash never leaves half a classifier. Not thread-safe by design: the compute
//! thread owns it, as it owns the embedder.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::e5s1::E5Config;
use crate::embedder::{Embedder, TextKind};
use crate::tuned_top::{check_shape, linear, schedule, shuffled_batches, TunedTop, Weights};
use crate::ModelError;

/// One head: a name for callers and its class labels, in output order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadSpec {
    pub name: String,
    pub classes: Vec<String>,
}

/// What a classifier is: its heads, how much of the encoder it tunes, what it learnt from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierSpec {
    pub heads: Vec<HeadSpec>,
    /// Top encoder layers trained (the rest stay as the embedder has them).
    pub tuned_layers: usize,
    /// Content tokens read per text; longer texts are cut (a classifier needs their gist).
    pub max_tokens: usize,
    /// Encoder shape it was trained on: layers, hidden size.
    pub encoder: (usize, usize),
    /// What it was trained on, for reports (set by the caller before saving).
    #[serde(default)]
    pub trained_on: String,
}

impl ClassifierSpec {
    /// Whether this spec fits an encoder shaped `c`.
    fn check(&self, c: &E5Config) -> Result<(), String> {
        check_shape(self.encoder, self.tuned_layers, self.max_tokens, c)?;
        if self.heads.is_empty() || self.heads.iter().any(|h| h.classes.is_empty()) {
            return Err("every head needs at least one class".into());
        }
        Ok(())
    }

    /// Index of the head called `name`.
    pub fn head(&self, name: &str) -> Option<usize> {
        self.heads.iter().position(|h| h.name == name)
    }
}

/// Training settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TuneConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate of the tuned layers (linear warm-up, then linear decay to 0). The
    /// default, 1e-4, is the rate validated on an inner split of MSGABench's dev rows.
    pub learning_rate: f64,
    /// Peak learning rate of the freshly initialised heads.
    pub head_learning_rate: f64,
    /// Fraction of the steps spent warming up.
    pub warmup: f64,
    pub weight_decay: f64,
    pub seed: u64,
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            epochs: 3,
            batch_size: 16,
            learning_rate: 1e-4,
            head_learning_rate: 1e-3,
            warmup: 0.1,
            weight_decay: 0.01,
            seed: 20261124,
        }
    }
}

/// Where training is, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub enum TuneProgress {
    /// Running the frozen layers once over every text.
    Reading { done: usize, total: usize },
    /// One optimiser step; `loss` is the batch's summed cross-entropy over the heads.
    Step { epoch: usize, step: usize, steps: usize, loss: f32 },
}

/// A fine-tuned e5 classifier (see the module header).
pub struct E5Classifier {
    spec: ClassifierSpec,
    top: TunedTop,
    /// `h{k}.w` / `h{k}.b` → head variable.
    heads: BTreeMap<String, Var>,
    device: Device,
}

impl E5Classifier {
    /// A new classifier: tuned layers copied from `embedder`, heads initialised at random
    /// (uniform ±1/√hidden, seeded, as PyTorch's `Linear`).
    ///
    /// Fails with [`ModelError::Training`] on no heads, a head without classes, or a layer
    /// count the encoder does not have.
    pub fn from_embedder(
        embedder: &Embedder,
        heads: Vec<HeadSpec>,
        tuned_layers: usize,
        max_tokens: usize,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let c = embedder.config();
        let spec = ClassifierSpec { heads, tuned_layers, max_tokens, encoder: (c.layers, c.hidden), trained_on: String::new() };
        spec.check(&c).map_err(ModelError::Training)?;
        let top = TunedTop::from_embedder(embedder, tuned_layers, max_tokens)?;
        let mut vars = BTreeMap::new();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let bound = 1.0 / (c.hidden as f32).sqrt();
        for (k, n) in spec.heads.iter().map(|h| h.classes.len()).enumerate() {
            let w: Vec<f32> = (0..n * c.hidden).map(|_| rng.random_range(-bound..bound)).collect();
            vars.insert(format!("h{k}.w"), Var::from_vec(w, (n, c.hidden), &Device::Cpu)?);
            vars.insert(format!("h{k}.b"), Var::zeros(n, DType::F32, &Device::Cpu)?);
        }
        Ok(E5Classifier { spec, top, heads: vars, device: Device::Cpu })
    }

    /// Load a classifier saved by [`E5Classifier::save`] for use with `embedder`.
    ///
    /// Fails with [`ModelError::Format`] when the file is not one, or was trained on an
    /// encoder of another shape.
    pub fn load(path: &Path, embedder: &Embedder) -> Result<Self, ModelError> {
        let bad = |detail: String| ModelError::Format { file: path.display().to_string(), detail };
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let spec = meta.metadata().as_ref().and_then(|m| m.get("spec")).ok_or_else(|| bad("no classifier spec in its metadata".into()))?;
        let spec: ClassifierSpec = serde_json::from_str(spec).map_err(|e| bad(format!("spec: {e}")))?;
        let c = embedder.config();
        spec.check(&c).map_err(bad)?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)?;
        let top = TunedTop::from_tensors(embedder, spec.tuned_layers, spec.max_tokens, &tensors).map_err(bad)?;
        let mut heads = BTreeMap::new();
        for (k, n) in spec.heads.iter().map(|h| h.classes.len()).enumerate() {
            for (name, dims) in [(format!("h{k}.w"), vec![n, c.hidden]), (format!("h{k}.b"), vec![n])] {
                let t = tensors.get(&name).ok_or_else(|| bad(format!("tensor {name} missing")))?;
                if t.dims() != dims.as_slice() || t.dtype() != DType::F32 {
                    return Err(bad(format!("tensor {name} is {:?} {:?}, not f32 {dims:?}", t.dtype(), t.dims())));
                }
                heads.insert(name, Var::from_tensor(t)?);
            }
        }
        Ok(E5Classifier { spec, top, heads, device: Device::Cpu })
    }

    /// Write the tuned layers and heads (through a temporary file and a rename).
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let meta = HashMap::from([("spec".to_string(), serde_json::to_string(&self.spec).expect("specs serialise"))]);
        let tensors: Vec<(String, Tensor)> =
            self.top.vars.iter().chain(&self.heads).map(|(n, v)| (n.clone(), v.as_tensor().clone())).collect();
        save_safetensors(path, tensors, meta)
    }

    pub fn spec(&self) -> &ClassifierSpec {
        &self.spec
    }

    /// Record what the classifier was trained on (saved with it).
    pub fn set_trained_on(&mut self, what: String) {
        self.spec.trained_on = what;
    }

    /// Class probabilities per text, per head: `[text][head][class]`.
    pub fn predict(&self, embedder: &Embedder, texts: &[&str]) -> Result<Vec<Vec<Vec<f32>>>, ModelError> {
        let weights = self.weights(false);
        let mut out = vec![Vec::new(); texts.len()];
        self.top.each_frozen_batch(embedder, texts, TextKind::Query, |batch, bottom, mask, _| {
            for l in self.forward(&weights, &bottom, &mask)? {
                let probs = candle_nn::ops::softmax_last_dim(&l)?.to_vec2::<f32>()?;
                for (&i, p) in batch.iter().zip(probs) {
                    out[i].push(p);
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Train on `texts` with `labels[text][head]` (None where a text has no label for a head).
    /// The frozen layers run once per text and their output is kept in memory as f32
    /// (≈ 150 KB per 100-token text: 1.4 GB for 9,000 hotline messages).
    ///
    /// Deterministic for the same data, config and thread count. Fails with
    /// [`ModelError::Training`] on labels that do not fit the heads.
    pub fn train(
        &mut self,
        embedder: &Embedder,
        texts: &[&str],
        labels: &[Vec<Option<u32>>],
        cfg: &TuneConfig,
        progress: &mut dyn FnMut(TuneProgress),
    ) -> Result<(), ModelError> {
        self.check_labels(texts.len(), labels)?;
        let cache =
            self.top.read_frozen(embedder, texts, TextKind::Query, &mut |done, total| progress(TuneProgress::Reading { done, total }))?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
        let adam = |vars: Vec<Var>, lr: f64| AdamW::new(vars, ParamsAdamW { lr, weight_decay: cfg.weight_decay, ..ParamsAdamW::default() });
        let mut encoder_opt = adam(self.top.all_vars(), cfg.learning_rate)?;
        let mut head_opt = adam(self.heads.values().cloned().collect(), cfg.head_learning_rate)?;
        let per_epoch = texts.len().div_ceil(cfg.batch_size.max(1));
        let steps = per_epoch * cfg.epochs;
        let mut step = 0;
        for epoch in 0..cfg.epochs {
            for batch in shuffled_batches(&cache, cfg.batch_size.max(1), &mut rng) {
                let scale = schedule(step, steps, cfg.warmup);
                encoder_opt.set_learning_rate(cfg.learning_rate * scale);
                head_opt.set_learning_rate(cfg.head_learning_rate * scale);
                let (bottom, mask) = self.top.padded(&cache, &batch)?;
                let logits = self.forward(&self.weights(true), &bottom, &mask)?;
                let loss = self.loss(&logits, &batch, labels)?;
                let grads = loss.backward()?;
                encoder_opt.step(&grads)?;
                head_opt.step(&grads)?;
                step += 1;
                progress(TuneProgress::Step { epoch, step, steps, loss: loss.to_scalar::<f32>()? });
            }
        }
        Ok(())
    }

    fn check_labels(&self, n: usize, labels: &[Vec<Option<u32>>]) -> Result<(), ModelError> {
        if n == 0 || labels.len() != n {
            return Err(ModelError::Training(format!("{n} texts and {} label rows", labels.len())));
        }
        for (row, l) in labels.iter().enumerate() {
            if l.len() != self.spec.heads.len() {
                return Err(ModelError::Training(format!("row {row}: {} labels for {} heads", l.len(), self.spec.heads.len())));
            }
            for (k, v) in l.iter().enumerate() {
                let n = self.spec.heads[k].classes.len();
                if v.is_some_and(|v| v as usize >= n) {
                    return Err(ModelError::Training(format!("row {row}: label {v:?} of head {k} is not below {n}")));
                }
            }
        }
        Ok(())
    }

    /// Layer and head tensors by name (see [`TunedTop::weights`]).
    fn weights(&self, train: bool) -> Weights {
        let mut w = self.top.weights(train);
        w.extend(self.heads.iter().map(|(n, v)| (n.clone(), if train { v.as_tensor().clone() } else { v.as_detached_tensor() })));
        w
    }

    /// Logits of every head for the frozen layers' output `bottom` `(b, len, hidden)`.
    fn forward(&self, w: &Weights, bottom: &Tensor, mask: &Tensor) -> Result<Vec<Tensor>, ModelError> {
        let pooled = self.top.pooled(w, bottom, mask)?;
        (0..self.spec.heads.len()).map(|k| Ok(linear(&pooled, &w[&format!("h{k}.w")], &w[&format!("h{k}.b")])?)).collect()
    }

    /// Sum over heads of the mean cross-entropy on the rows labelled for that head.
    fn loss(&self, logits: &[Tensor], batch: &[usize], labels: &[Vec<Option<u32>>]) -> Result<Tensor, ModelError> {
        let mut total = Tensor::zeros((), DType::F32, &self.device)?;
        for (k, l) in logits.iter().enumerate() {
            let (rows, targets): (Vec<u32>, Vec<u32>) =
                batch.iter().enumerate().filter_map(|(j, &i)| labels[i][k].map(|y| (j as u32, y))).unzip();
            if rows.is_empty() {
                continue;
            }
            let rows = Tensor::new(rows.as_slice(), &self.device)?;
            let targets = Tensor::new(targets.as_slice(), &self.device)?;
            total = (total + candle_nn::loss::cross_entropy(&l.index_select(&rows, 0)?, &targets)?)?;
        }
        Ok(total)
    }
}

/// Write `tensors` with `meta` as safetensors through a temporary file and a rename, so a crash
/// never leaves half a model.
pub(crate) fn save_safetensors(path: &Path, tensors: Vec<(String, Tensor)>, meta: HashMap<String, String>) -> Result<(), ModelError> {
    let tmp = path.with_extension("partial");
    if let Err(e) = safetensors::serialize_to_file(tensors, Some(meta), &tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(ModelError::Training(format!("writing {}: {e}", tmp.display())));
    }
    std::fs::rename(&tmp, path).map_err(|e| ModelError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e5s1::E5s1;
    use crate::testing::{tiny_file, tiny_pieces};

    fn tiny() -> Embedder {
        Embedder::from_e5s1(E5s1::parse(tiny_file(&tiny_pieces(), &[], 32, 3, 2, 64), "tiny").unwrap()).unwrap()
    }

    fn heads() -> Vec<HeadSpec> {
        vec![
            HeadSpec { name: "kind".into(), classes: vec!["证".into(), "办".into()] },
            HeadSpec { name: "len".into(), classes: vec!["short".into(), "long".into(), "unused".into()] },
        ]
    }

    #[test]
    fn untrained_tuned_layers_reproduce_the_embedder() {
        let e = tiny();
        let c = E5Classifier::from_embedder(&e, heads(), 2, 60, 1).unwrap();
        let texts = ["身份证", "办理身份证换证"];
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| e.ids(t, TextKind::Query)).collect();
        let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let (bottom, mask) = e.hidden_states(&rows, 1).unwrap();
        let pooled = c.top.pooled(&c.weights(false), &bottom, &mask).unwrap().to_vec2::<f32>().unwrap();
        for (p, want) in pooled.iter().zip(e.embed(&texts, TextKind::Query).unwrap()) {
            let norm = p.iter().map(|v| v * v).sum::<f32>().sqrt();
            let cos: f32 = p.iter().zip(&want).map(|(a, b)| a / norm * b).sum();
            assert!(cos > 0.9999, "differentiable layers differ from candle's BERT: cos {cos}");
        }
    }

    #[test]
    fn learns_a_separable_task_and_survives_saving() {
        let e = tiny();
        let mut c = E5Classifier::from_embedder(&e, heads(), 1, 60, 1).unwrap();
        let texts = ["身份证", "换身份证", "身份证身份证", "办理", "换办理", "办理办理", "身份证ab", "ab办理"];
        let kind = |t: &str| u32::from(t.contains("办理"));
        // The second head is unlabelled on some rows: those rows must not train it.
        let labels: Vec<Vec<Option<u32>>> =
            texts.iter().enumerate().map(|(i, t)| vec![Some(kind(t)), (i % 2 == 0).then(|| u32::from(t.chars().count() > 3))]).collect();
        let cfg = TuneConfig { epochs: 60, batch_size: 4, learning_rate: 1e-3, head_learning_rate: 1e-2, ..TuneConfig::default() };
        let mut losses = Vec::new();
        c.train(&e, &texts, &labels, &cfg, &mut |p| {
            if let TuneProgress::Step { loss, .. } = p {
                losses.push(loss)
            }
        })
        .unwrap();
        assert_eq!(losses.len(), 120);
        let early: f32 = losses[..4].iter().sum();
        let late: f32 = losses[losses.len() - 4..].iter().sum();
        assert!(late < early / 4.0, "loss {early} → {late}");
        let probs = c.predict(&e, &texts).unwrap();
        for (t, p) in texts.iter().zip(&probs) {
            assert_eq!(p.len(), 2);
            assert_eq!(u32::from(p[0][1] > p[0][0]), kind(t), "{t}: {p:?}");
            assert!((p[1].iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.safetensors");
        c.set_trained_on("toy".into());
        c.save(&path).unwrap();
        let loaded = E5Classifier::load(&path, &e).unwrap();
        assert_eq!(loaded.spec(), c.spec());
        assert_eq!(loaded.predict(&e, &texts).unwrap(), probs);
    }

    #[test]
    fn bad_labels_and_files_are_errors() {
        let e = tiny();
        let mut c = E5Classifier::from_embedder(&e, heads(), 1, 60, 1).unwrap();
        let cfg = TuneConfig::default();
        let err = c.train(&e, &["身份证"], &[vec![Some(2), None]], &cfg, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("not below 2"), "{err}");
        let err = c.train(&e, &["身份证"], &[vec![Some(0)]], &cfg, &mut |_| {}).unwrap_err();
        assert!(err.to_string().contains("1 labels for 2 heads"), "{err}");
        assert!(E5Classifier::from_embedder(&e, heads(), 4, 60, 1).is_err(), "the tiny encoder has 3 layers");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.safetensors");
        std::fs::write(&path, b"not a classifier").unwrap();
        assert!(matches!(E5Classifier::load(&path, &e), Err(ModelError::Format { .. })));
        let other = Embedder::from_e5s1(E5s1::parse(tiny_file(&tiny_pieces(), &[], 32, 2, 2, 64), "tiny").unwrap()).unwrap();
        c.save(&path).unwrap();
        let err = E5Classifier::load(&path, &other).err().unwrap();
        assert!(err.to_string().contains("(3, 32)"), "{err}");
    }
}
