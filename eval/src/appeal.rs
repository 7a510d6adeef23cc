//! Appeal classification on MSGABench's hotline messages: appeal type (咨询 / 投诉·求助 / 建言)
//! accuracy and macro-F1, domain accuracy, anger F1 — on the test split (id % 5 == 0), for the
//! majority class, a TF-IDF (jieba words) + logistic-regression baseline trained on dev, the
//! shipped seed model and the same classifier trained on dev, and the fine-tuned e5 classifier
//! trained on the seed set and (given its file) on dev. Also how often citizens' plain
//! questions (gov_qa) would be taken for a complaint, suggestion or off-topic message with the
//! confidence at which the engine acts on it. And how consistent the labels are with
//! themselves ([`crate::label_agreement`]), which bounds every model's score.

use std::collections::BTreeMap;
use std::path::Path;

use banshi_assistant::appeal::model::{FeatureConfig, Features, Head, TrainConfig};
use banshi_assistant::appeal::{encoder, Appeal, AppealModel, AppealType, Example, ANGRY, APPEAL_TYPES};
use banshi_assistant::Policy;
use banshi_knowledge::sparse::SparseEncoder;
use banshi_models::e5_classifier::E5Classifier;
use banshi_models::Embedder;
use serde::Serialize;

use crate::label_agreement::{agreement, near_duplicates, LabelAgreement};
use crate::{read_jsonl, EvalError, Split};

/// Scores of one classifier on the test split.
#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub model: String,
    pub trained_on: String,
    pub appeal_accuracy: f64,
    pub appeal_macro_f1: f64,
    pub per_type_f1: BTreeMap<String, f64>,
    /// On test rows with a domain label.
    pub domain_accuracy: f64,
    /// Tickets routed to the department that handles the labelled domain (the engine's routing
    /// when no item was discussed: domain → department), on test rows with a domain label.
    pub department_accuracy: Option<f64>,
    /// F1 of the 愤怒 label (`None` for baselines without a sentiment head).
    pub angry_f1: Option<f64>,
    /// Share of gov_qa questions taken for a non-question at the engine's `sure` threshold.
    pub questions_misrouted: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppealReport {
    pub dataset: String,
    pub dev_rows: usize,
    pub test_rows: usize,
    pub test_rows_with_domain: usize,
    pub questions_checked: usize,
    pub sure_threshold: f32,
    pub models: Vec<Scores>,
    /// Appeal-type labels of near-duplicate messages, over dev and test.
    pub type_agreement: LabelAgreement,
    /// Domain labels of the same pairs (where both have one).
    pub domain_agreement: LabelAgreement,
    pub run_seconds: f64,
}

/// Jaccard similarity at which two messages count as the same appeal written twice.
pub const DUPLICATE_THRESHOLD: f64 = 0.7;

/// Label agreement of near-duplicate messages over all `rows`: appeal type, then domain.
pub fn label_agreement(rows: &[&Example]) -> (LabelAgreement, LabelAgreement) {
    let texts: Vec<&str> = rows.iter().map(|r| r.message.as_str()).collect();
    let pairs = near_duplicates(&texts, DUPLICATE_THRESHOLD);
    let types: Vec<String> = rows.iter().map(|r| gold_type(r)).collect();
    let types: Vec<Option<&str>> = types.iter().map(|t| Some(t.as_str())).collect();
    let domains: Vec<Option<&str>> = rows.iter().map(|r| r.domain.as_deref()).collect();
    let mut distinct: Vec<&str> = domains.iter().flatten().copied().collect();
    distinct.sort_unstable();
    distinct.dedup();
    (agreement(&pairs, &types, APPEAL_TYPES.len(), DUPLICATE_THRESHOLD), agreement(&pairs, &domains, distinct.len(), DUPLICATE_THRESHOLD))
}

/// Accuracy and macro-F1 of `pred` against `gold`, plus per-class F1.
pub fn accuracy_f1(gold: &[String], pred: &[String]) -> (f64, f64, BTreeMap<String, f64>) {
    let mut labels: Vec<&String> = gold.iter().collect();
    labels.sort();
    labels.dedup();
    let correct = gold.iter().zip(pred).filter(|(g, p)| g == p).count();
    let mut per = BTreeMap::new();
    for l in labels {
        let tp = gold.iter().zip(pred).filter(|(g, p)| *g == l && *p == l).count() as f64;
        let fp = gold.iter().zip(pred).filter(|(g, p)| *g != l && *p == l).count() as f64;
        let fneg = gold.iter().zip(pred).filter(|(g, p)| *g == l && *p != l).count() as f64;
        let f1 = if tp == 0.0 { 0.0 } else { 2.0 * tp / (2.0 * tp + fp + fneg) };
        per.insert(l.clone(), f1);
    }
    let macro_f1 = per.values().sum::<f64>() / per.len().max(1) as f64;
    (correct as f64 / gold.len().max(1) as f64, macro_f1, per)
}

fn binary_f1(gold: &[bool], pred: &[bool]) -> f64 {
    let tp = gold.iter().zip(pred).filter(|(g, p)| **g && **p).count() as f64;
    let fp = gold.iter().zip(pred).filter(|(g, p)| !**g && **p).count() as f64;
    let fneg = gold.iter().zip(pred).filter(|(g, p)| **g && !**p).count() as f64;
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fneg)
    }
}

/// Hotline rows split into dev and test.
pub fn load(dataset: &Path) -> Result<(Vec<Example>, Vec<Example>), EvalError> {
    let rows: Vec<Example> = read_jsonl(dataset)?;
    if rows.iter().any(|r| r.id.is_none()) {
        return Err(EvalError::Dataset(format!("{}: every row needs an `id` (the split is id % 5)", dataset.display())));
    }
    let (test, dev): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| Split::Test.contains(r.id.unwrap_or(0)));
    if dev.is_empty() || test.is_empty() {
        return Err(EvalError::Dataset(format!("{}: needs rows in both the dev and the test split", dataset.display())));
    }
    Ok((dev, test))
}

fn gold_types(rows: &[Example]) -> Vec<String> {
    rows.iter().map(gold_type).collect()
}

fn gold_type(r: &Example) -> String {
    AppealType::from_label(&r.appeal_type).map(|t| t.label().to_string()).unwrap_or_else(|| r.appeal_type.clone())
}

/// What a classifier said of one message: the best of the hotline's three types, and the
/// whole classification as the engine sees it.
pub struct Prediction {
    pub type3: String,
    pub appeal: Appeal,
}

/// Score a trained TF-IDF model on the test rows (and on `questions`, plain citizens' questions).
pub fn score_model(name: &str, m: &AppealModel, test: &[Example], questions: &[String], policy: Policy) -> Scores {
    let predict = |t: &str| Prediction { type3: m.appeal_type3(t), appeal: m.classify(t) };
    let test_pred: Vec<Prediction> = test.iter().map(|r| predict(&r.message)).collect();
    let q_pred: Vec<Appeal> = questions.iter().map(|q| m.classify(q)).collect();
    score(name, &m.trained_on, test, &test_pred, &q_pred, policy)
}

/// Score a fine-tuned encoder classifier (see [`score_model`]).
pub fn score_encoder(
    name: &str,
    c: &E5Classifier,
    embedder: &Embedder,
    test: &[Example],
    questions: &[String],
    policy: Policy,
) -> Result<Scores, EvalError> {
    let spec = c.spec();
    let read = |texts: Vec<&str>| -> Result<Vec<Prediction>, EvalError> {
        let probs = c.predict(embedder, &texts).map_err(|e| EvalError::Dataset(format!("classifying: {e}")))?;
        texts
            .iter()
            .zip(probs)
            .map(|(t, p)| match (encoder::appeal_type3(spec, &p), encoder::appeal_from(spec, &p, t)) {
                (Some(type3), Some(appeal)) => Ok(Prediction { type3, appeal }),
                _ => Err(EvalError::Dataset(format!("the classifier's heads are not {:?}", encoder::HEADS))),
            })
            .collect()
    };
    let test_pred = read(test.iter().map(|r| r.message.as_str()).collect())?;
    let q_pred: Vec<Appeal> = read(questions.iter().map(String::as_str).collect())?.into_iter().map(|p| p.appeal).collect();
    Ok(score(name, &spec.trained_on, test, &test_pred, &q_pred, policy))
}

fn score(name: &str, trained_on: &str, test: &[Example], pred: &[Prediction], questions: &[Appeal], policy: Policy) -> Scores {
    let gold = gold_types(test);
    let types: Vec<String> = pred.iter().map(|p| p.type3.clone()).collect();
    let (acc, f1, per) = accuracy_f1(&gold, &types);
    let with_domain: Vec<(&Example, &Prediction)> = test.iter().zip(pred).filter(|(r, _)| r.domain.is_some()).collect();
    let domain_ok = with_domain.iter().filter(|(r, p)| r.domain == p.appeal.domain).count();
    let deployment = banshi_assistant::deployment::Deployment::bundled();
    let department = |d: Option<&str>| deployment.department_for(d.unwrap_or_default()).to_string();
    let department_ok =
        with_domain.iter().filter(|(r, p)| department(r.domain.as_deref()) == department(p.appeal.domain.as_deref())).count();
    let angry_gold: Vec<bool> = test.iter().map(|r| r.sentiment.as_deref() == Some(ANGRY)).collect();
    let angry_pred: Vec<bool> = pred.iter().map(|p| p.appeal.angry >= 0.5).collect();
    let misrouted = questions.iter().filter(|a| a.kind != AppealType::Consult && a.confidence >= policy.sure).count();
    Scores {
        model: name.into(),
        trained_on: trained_on.into(),
        appeal_accuracy: acc,
        appeal_macro_f1: f1,
        per_type_f1: per,
        domain_accuracy: domain_ok as f64 / with_domain.len().max(1) as f64,
        department_accuracy: Some(department_ok as f64 / with_domain.len().max(1) as f64),
        angry_f1: Some(binary_f1(&angry_gold, &angry_pred)),
        questions_misrouted: (!questions.is_empty()).then(|| misrouted as f64 / questions.len() as f64),
    }
}

/// Always the most frequent dev label.
pub fn majority(dev: &[Example], test: &[Example]) -> Scores {
    let most = |labels: Vec<String>| {
        let mut c: BTreeMap<String, usize> = BTreeMap::new();
        for l in labels {
            *c.entry(l).or_default() += 1;
        }
        c.into_iter().max_by_key(|(_, n)| *n).map(|(l, _)| l).unwrap_or_default()
    };
    let top_type = most(gold_types(dev));
    let top_domain = most(dev.iter().filter_map(|r| r.domain.clone()).collect());
    let gold = gold_types(test);
    let (acc, f1, per) = accuracy_f1(&gold, &vec![top_type.clone(); gold.len()]);
    let with_domain: Vec<&Example> = test.iter().filter(|r| r.domain.is_some()).collect();
    let domain_ok = with_domain.iter().filter(|r| r.domain.as_deref() == Some(top_domain.as_str())).count();
    Scores {
        model: "majority class".into(),
        trained_on: format!("dev ({top_type}, {top_domain})"),
        appeal_accuracy: acc,
        appeal_macro_f1: f1,
        per_type_f1: per,
        domain_accuracy: domain_ok as f64 / with_domain.len().max(1) as f64,
        department_accuracy: None,
        angry_f1: None,
        questions_misrouted: None,
    }
}

/// TF-IDF over jieba words + logistic regression, trained on dev: the usual baseline.
pub fn word_baseline(dev: &[Example], test: &[Example]) -> Scores {
    let jieba = SparseEncoder::new();
    let words = |t: &str| jieba.tokens(t);
    let cfg = FeatureConfig { min_df: 2, max_features: 60_000, ..FeatureConfig::default() };
    let texts: Vec<&str> = dev.iter().map(|r| r.message.as_str()).collect();
    let f = Features::fit_with(&texts, cfg, &words);
    let vecs: Vec<_> = texts.iter().map(|t| f.vector_with(t, &words)).collect();
    let types: Vec<String> = APPEAL_TYPES.iter().map(|s| s.to_string()).collect();
    let gold_dev = gold_types(dev);
    let rows: Vec<_> = vecs.iter().zip(&gold_dev).filter_map(|(v, g)| types.iter().position(|t| t == g).map(|i| (v, i))).collect();
    let head = Head::train(types, f.len(), &rows, TrainConfig::default());
    let mut domains: Vec<String> = dev.iter().filter_map(|r| r.domain.clone()).collect();
    domains.sort();
    domains.dedup();
    let drows: Vec<_> = vecs
        .iter()
        .zip(dev)
        .filter_map(|(v, r)| r.domain.as_ref().and_then(|d| domains.iter().position(|x| x == d)).map(|i| (v, i)))
        .collect();
    let dhead = Head::train(domains, f.len(), &drows, TrainConfig::default());
    let gold = gold_types(test);
    let test_vecs: Vec<_> = test.iter().map(|r| f.vector_with(&r.message, &words)).collect();
    let pred: Vec<String> = test_vecs.iter().map(|v| head.predict(v, &[]).0).collect();
    let (acc, f1, per) = accuracy_f1(&gold, &pred);
    let (mut ok, mut n) = (0, 0);
    for (v, r) in test_vecs.iter().zip(test) {
        if let Some(d) = &r.domain {
            n += 1;
            ok += usize::from(&dhead.predict(v, &[]).0 == d);
        }
    }
    Scores {
        model: "TF-IDF (jieba words) + LR".into(),
        trained_on: format!("dev ({} rows)", dev.len()),
        appeal_accuracy: acc,
        appeal_macro_f1: f1,
        per_type_f1: per,
        domain_accuracy: ok as f64 / n.max(1) as f64,
        department_accuracy: None,
        angry_f1: None,
        questions_misrouted: None,
    }
}

impl AppealReport {
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "# Appeal classification\n\n{} — trained on the dev split ({} rows), scored on the test split ({} rows, {} with a domain). \
             \"Misrouted\": share of {} gov_qa questions (plain citizens' questions) classified as a complaint, suggestion or \
             off-topic with confidence ≥ {:.2}, the level at which the engine acts without retrieval's agreement. Run {:.1} s.\n\n",
            self.dataset,
            self.dev_rows,
            self.test_rows,
            self.test_rows_with_domain,
            self.questions_checked,
            self.sure_threshold,
            self.run_seconds
        );
        s.push_str("| model | trained on | type accuracy | type macro-F1 | F1 咨询 / 投诉求助 / 建言 | domain accuracy | routed to the right department | 愤怒 F1 | misrouted |\n|---|---|---|---|---|---|---|---|---|\n");
        let pct = |v: Option<f64>| v.map(|v| format!("{:.1}%", v * 100.0)).unwrap_or_else(|| "–".into());
        for m in &self.models {
            let per = APPEAL_TYPES
                .iter()
                .map(|t| format!("{:.3}", m.per_type_f1.get(*t).copied().unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(" / ");
            s.push_str(&format!(
                "| {} | {} | {:.3} | {:.3} | {} | {:.3} | {} | {} | {} |\n",
                m.model,
                m.trained_on,
                m.appeal_accuracy,
                m.appeal_macro_f1,
                per,
                m.domain_accuracy,
                m.department_accuracy.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into()),
                m.angry_f1.map(|v| format!("{v:.3}")).unwrap_or_else(|| "–".into()),
                pct(m.questions_misrouted)
            ));
        }
        let (t, d) = (&self.type_agreement, &self.domain_agreement);
        s.push_str(&format!(
            "\nLabel consistency: {} pairs of near-duplicate messages (character 3-gram Jaccard ≥ {}, {} messages, dev and test) \
             carry the same appeal type in {:.1}% of pairs; both have a domain in {} pairs, the same one in {:.1}%. \
             If a label is right with probability q and otherwise one of the other types at random, that agreement implies q ≈ {} (95% interval {}): \
             about the accuracy a classifier that always found the true type would score against these labels.\n",
            t.pairs,
            t.threshold,
            t.messages,
            t.agreement * 100.0,
            d.pairs,
            d.agreement * 100.0,
            t.implied_accuracy.map(|q| format!("{q:.2}")).unwrap_or_else(|| "– (no pairs)".into()),
            t.implied_accuracy_95.map(|(lo, hi)| format!("{lo:.2}–{hi:.2}")).unwrap_or_else(|| "–".into())
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_averages_classes() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (acc, f1, per) = accuracy_f1(&s(&["a", "a", "b", "b"]), &s(&["a", "b", "b", "b"]));
        assert_eq!(acc, 0.75);
        assert!((per["a"] - 2.0 / 3.0).abs() < 1e-9 && (per["b"] - 0.8).abs() < 1e-9);
        assert!((f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
        assert_eq!(binary_f1(&[true, false], &[true, true]), 2.0 / 3.0);
    }
}
