//! The appeal classifier on the fine-tuned e5 encoder ([`E5Classifier`]): its three heads
//! (type, domain, mood) trained from labelled hotline rows, and its probabilities read back as
//! an [`Appeal`].
//!
//! It reads meaning where the TF-IDF model reads character n-grams, at the cost of an encoder
//! pass on the compute thread per message (tens of milliseconds) and tens of minutes of training
//! per 10,000 rows on two cores. When the compute thread has no such classifier or its queue is
//! full, [`classify`] falls back to the TF-IDF [`AppealModel`], so a message is always
//! classified. (Behind a running generation it waits its turn, as the message's own retrieval
//! would.)

use banshi_models::e5_classifier::{ClassifierSpec, E5Classifier, HeadSpec, TuneConfig, TuneProgress};
use banshi_models::{ComputeHandle, Embedder};

use super::{asks_for_human, usable, Appeal, AppealModel, AppealType, Example, LabelSets, APPEAL_TYPES};
use crate::AssistantError;

/// File name of a fine-tuned classifier in the data dir.
pub const ENCODER_FILE: &str = "appeal-encoder.safetensors";
/// Head names, in the order [`LabelSets::labels`] gives their labels.
pub const HEADS: [&str; 3] = ["appeal_type", "domain", "sentiment"];
/// Top encoder layers tuned. On an inner split of MSGABench's dev rows (id % 5 == 1 held out),
/// 4 of 12 layers over 3 epochs gave type macro-F1 0.823 (TF-IDF: 0.810) and domain accuracy
/// 0.770, training a third of the encoder.
pub const TUNED_LAYERS: usize = 4;
/// Tokens read per message: 90 % of hotline messages are shorter.
pub const MAX_TOKENS: usize = 192;

/// Fine-tune a classifier on `rows` (all used: split before calling).
pub fn train(
    embedder: &Embedder,
    rows: &[Example],
    cfg: &TuneConfig,
    trained_on: &str,
    progress: &mut dyn FnMut(TuneProgress),
) -> Result<E5Classifier, AssistantError> {
    let rows = usable(rows)?;
    let sets = LabelSets::of(&rows)?;
    let heads = [&sets.types, &sets.domains, &sets.moods]
        .into_iter()
        .zip(HEADS)
        .map(|(c, name)| HeadSpec { name: name.into(), classes: c.clone() })
        .collect();
    let mut clf = E5Classifier::from_embedder(embedder, heads, TUNED_LAYERS, MAX_TOKENS, cfg.seed)?;
    let texts: Vec<&str> = rows.iter().map(|r| r.message.as_str()).collect();
    let labels: Vec<Vec<Option<u32>>> = rows.iter().map(|r| sets.labels(r).iter().map(|l| l.map(|y| y as u32)).collect()).collect();
    clf.train(embedder, &texts, &labels, cfg, progress)?;
    clf.set_trained_on(format!("{trained_on} ({} rows)", rows.len()));
    Ok(clf)
}

/// Classify `text`: with the compute thread's fine-tuned classifier when it has one and its
/// queue has room, else with `fallback`.
pub async fn classify(fallback: &AppealModel, compute: Option<&ComputeHandle>, text: &str) -> Appeal {
    let Some((c, spec)) = compute.and_then(|c| c.classifier().map(|s| (c, s))) else {
        return fallback.classify(text);
    };
    match c.try_classify(text.to_string()).await {
        Ok(probs) => match appeal_from(spec, &probs, text) {
            Some(a) => a,
            None => fallback.classify(text),
        },
        Err(e) => {
            tracing::warn!("appeal classifier unavailable ({e}); using the TF-IDF model");
            fallback.classify(text)
        }
    }
}

/// Read a classifier's head probabilities as an [`Appeal`]; None when its heads are not
/// [`HEADS`] (a classifier trained for something else).
pub fn appeal_from(spec: &ClassifierSpec, probs: &[Vec<f32>], text: &str) -> Option<Appeal> {
    let (kind, confidence) = head_best(spec, probs, HEADS[0], &[])?;
    let (domain, domain_confidence) = head_best(spec, probs, HEADS[1], &[])?;
    let mood = spec.head(HEADS[2])?;
    let angry_class = spec.heads[mood].classes.iter().position(|c| c == super::ANGRY)?;
    Some(Appeal {
        kind: AppealType::from_label(&kind).unwrap_or(AppealType::Consult),
        confidence,
        domain: Some(domain),
        domain_confidence,
        angry: *probs.get(mood)?.get(angry_class)?,
        asks_human: asks_for_human(text),
    })
}

/// The most probable of the hotline's three types (never out of scope), for evaluation.
pub fn appeal_type3(spec: &ClassifierSpec, probs: &[Vec<f32>]) -> Option<String> {
    Some(head_best(spec, probs, HEADS[0], &APPEAL_TYPES)?.0)
}

/// The most probable class of head `name` among `allowed` (all when empty), and its
/// probability; None when there is no such head or no allowed class has a probability.
fn head_best(spec: &ClassifierSpec, probs: &[Vec<f32>], name: &str, allowed: &[&str]) -> Option<(String, f32)> {
    let k = spec.head(name)?;
    spec.heads[k]
        .classes
        .iter()
        .zip(probs.get(k)?)
        .filter(|(c, _)| allowed.is_empty() || allowed.contains(&c.as_str()))
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(c, p)| (c.clone(), *p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ClassifierSpec {
        let head = |name: &str, c: &[&str]| HeadSpec { name: name.into(), classes: c.iter().map(|s| s.to_string()).collect() };
        ClassifierSpec {
            heads: vec![
                head("appeal_type", &["其他", "咨询", "建言", "投诉/求助"]),
                head("domain", &["交通", "城建"]),
                head("sentiment", &["愤怒", "其他"]),
            ],
            tuned_layers: 4,
            max_tokens: 192,
            encoder: (12, 384),
            trained_on: String::new(),
        }
    }

    #[test]
    fn probabilities_become_an_appeal() {
        let probs = vec![vec![0.5, 0.1, 0.1, 0.3], vec![0.2, 0.8], vec![0.7, 0.3]];
        let a = appeal_from(&spec(), &probs, "转人工").unwrap();
        assert_eq!(a.kind, AppealType::OutOfScope);
        assert_eq!((a.domain.as_deref(), a.domain_confidence), (Some("城建"), 0.8));
        assert_eq!(a.angry, 0.7);
        assert!(a.asks_human);
        // For the hotline's three types, out of scope is never the answer.
        assert_eq!(appeal_type3(&spec(), &probs).as_deref(), Some("投诉/求助"));
        let mut other = spec();
        other.heads[2].name = "topic".into();
        assert!(appeal_from(&other, &probs, "x").is_none(), "a classifier for something else is not read as an appeal");
        assert!(appeal_from(&spec(), &probs[..2], "x").is_none(), "too few heads' probabilities");
        assert!(appeal_from(&spec(), &[vec![0.5], vec![1.0], vec![]], "x").is_none(), "too few classes' probabilities");
    }
}
