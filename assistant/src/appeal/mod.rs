//! Appeal classification: what a citizen's message is — 咨询 (a question), 投诉·求助 (a
//! complaint or a request for help), 建言 (a suggestion) or out of scope — its domain (城建, 交通,
//! 教育 …) for routing, whether the citizen is angry, and whether they ask for a person.
//!
//! The type, domain and anger come from [`AppealModel`] (TF-IDF + logistic regression, see
//! [`model`]) or, when one was trained, from the fine-tuned e5 encoder ([`encoder`]); asking for
//! a person is a rule, because the words are few and must never be missed. The model that ships
//! ([`AppealModel::seed`]) is trained on the project's own hand-written seed set
//! (`assistant/data/appeal_seed.jsonl`); `banshi train appeal` trains both on a hotline's own
//! labelled messages into the data dir, which the server then prefers.

pub mod encoder;
pub mod model;

use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use self::model::{FeatureConfig, Features, Head, TrainConfig};
use crate::AssistantError;

/// The three appeal types of the 12345 hotline, as labelled in its data.
pub const APPEAL_TYPES: [&str; 3] = ["咨询", "投诉/求助", "建言"];
/// The seed set's label for messages that are not about public services at all.
pub const OUT_OF_SCOPE: &str = "其他";
/// Sentiment label that counts as angry.
pub const ANGRY: &str = "愤怒";
/// A domain needs this many training examples to be predicted (rarer ones are noise).
const MIN_DOMAIN_EXAMPLES: usize = 5;
/// File name of a trained model in the data dir.
pub const MODEL_FILE: &str = "appeal-model.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AppealType {
    /// 咨询
    Consult,
    /// 投诉·求助
    ComplaintHelp,
    /// 建言
    Suggestion,
    /// Not about public services.
    OutOfScope,
}

impl AppealType {
    pub fn label(self) -> &'static str {
        match self {
            AppealType::Consult => "咨询",
            AppealType::ComplaintHelp => "投诉/求助",
            AppealType::Suggestion => "建言",
            AppealType::OutOfScope => OUT_OF_SCOPE,
        }
    }

    pub fn from_label(s: &str) -> Option<Self> {
        match s {
            "咨询" => Some(AppealType::Consult),
            "投诉/求助" | "投诉·求助" | "投诉" | "求助" => Some(AppealType::ComplaintHelp),
            "建言" | "建议" => Some(AppealType::Suggestion),
            OUT_OF_SCOPE => Some(AppealType::OutOfScope),
            _ => None,
        }
    }
}

/// What one message is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Appeal {
    pub kind: AppealType,
    /// Probability of `kind`.
    pub confidence: f32,
    pub domain: Option<String>,
    pub domain_confidence: f32,
    /// Probability that the citizen is angry.
    pub angry: f32,
    /// The citizen asks for a person (转人工, 人工客服 …).
    pub asks_human: bool,
}

/// One labelled message (the hotline data's row format; extra fields are ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct Example {
    #[serde(default)]
    pub id: Option<u64>,
    pub message: String,
    pub appeal_type: String,
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub sentiment: Option<String>,
}

static ASKS_HUMAN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"转人工|人工客服|人工服务|人工坐席|人工台|接人工|找人工|要人工|换人工|转接人工|真人|活人|客服人员|工作人员(?:联系|回复|跟我|和我|帮)|(?:找|要|换)个?人(?:说|对话|沟通|跟)").expect("static regex")
});

/// Whether `text` asks to talk to a person.
pub fn asks_for_human(text: &str) -> bool {
    // 人工费 (labour cost) is not a person.
    ASKS_HUMAN.is_match(&text.replace("人工费", ""))
}

/// The trained classifier: shared features, three heads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppealModel {
    pub version: u32,
    /// What it was trained on, for reports (`seed set (209 rows)`, a dataset path …).
    pub trained_on: String,
    features: Features,
    appeal: Head,
    domain: Head,
    angry: Head,
}

const SEED_MODEL: &str = include_str!("../../data/appeal-model-seed.json");

impl AppealModel {
    /// Train on `rows` (every row is used: split before calling).
    pub fn train(rows: &[Example], trained_on: &str) -> Result<Self, AssistantError> {
        let fc = FeatureConfig::default();
        let tc = TrainConfig::default();
        let rows = usable(rows)?;
        let texts: Vec<&str> = rows.iter().map(|r| r.message.as_str()).collect();
        let features = Features::fit(&texts, fc);
        let vecs: Vec<_> = texts.iter().map(|t| features.vector(t)).collect();
        let dim = features.len();
        let sets = LabelSets::of(&rows)?;
        let labels: Vec<[Option<usize>; 3]> = rows.iter().map(|r| sets.labels(r)).collect();
        let head = |k: usize, classes: &[String]| {
            let rows: Vec<_> = vecs.iter().zip(&labels).filter_map(|(v, l)| l[k].map(|y| (v, y))).collect();
            Head::train(classes.to_vec(), dim, &rows, tc)
        };
        let (appeal, domain, angry) = (head(0, &sets.types), head(1, &sets.domains), head(2, &sets.moods));

        let mut m = AppealModel { version: 1, trained_on: format!("{trained_on} ({} rows)", rows.len()), features, appeal, domain, angry };
        m.appeal.round();
        m.domain.round();
        m.angry.round();
        Ok(m)
    }

    /// The model trained on the shipped seed set.
    pub fn seed() -> Self {
        serde_json::from_str(SEED_MODEL).expect("the shipped seed model parses")
    }

    /// The model in `data_dir` if `banshi train appeal` put one there, else the seed model.
    pub fn load_or_seed(data_dir: &Path) -> Result<Self, AssistantError> {
        let path = data_dir.join(MODEL_FILE);
        if !path.exists() {
            return Ok(Self::seed());
        }
        Self::load(&path)
    }

    pub fn load(path: &Path) -> Result<Self, AssistantError> {
        let text = std::fs::read_to_string(path).map_err(|e| AssistantError::Train(format!("reading {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| AssistantError::Train(format!("{} is not an appeal model: {e}", path.display())))
    }

    /// Write as JSON (through a temporary file, so a crash never leaves half a model).
    pub fn save(&self, path: &Path) -> Result<(), AssistantError> {
        let tmp = path.with_extension("json.partial");
        let io = |e: std::io::Error| AssistantError::Train(format!("writing {}: {e}", path.display()));
        std::fs::write(&tmp, serde_json::to_vec(self).expect("models serialise")).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Classify one message.
    pub fn classify(&self, text: &str) -> Appeal {
        let x = self.features.vector(text);
        let (kind, confidence) = self.appeal.predict(&x, &[]);
        let (domain, domain_confidence) = self.domain.predict(&x, &[]);
        let angry = self.angry.probabilities(&x)[0];
        Appeal {
            kind: AppealType::from_label(&kind).unwrap_or(AppealType::Consult),
            confidence,
            domain: Some(domain),
            domain_confidence,
            angry,
            asks_human: asks_for_human(text),
        }
    }

    /// The most probable of the hotline's three types (never out of scope), for evaluation.
    pub fn appeal_type3(&self, text: &str) -> String {
        self.appeal.predict(&self.features.vector(text), &APPEAL_TYPES).0
    }

    /// The most probable domain.
    pub fn domain(&self, text: &str) -> String {
        self.domain.predict(&self.features.vector(text), &[]).0
    }

    /// Probability that the writer is angry.
    pub fn angry(&self, text: &str) -> f32 {
        self.angry.probabilities(&self.features.vector(text))[0]
    }

    /// Probabilities of each appeal type, in [`AppealModel::types`] order.
    pub fn type_probabilities(&self, text: &str) -> Vec<f32> {
        self.appeal.probabilities(&self.features.vector(text))
    }

    pub fn types(&self) -> &[String] {
        &self.appeal.classes
    }

    pub fn domains(&self) -> &[String] {
        &self.domain.classes
    }
}

/// The classes of the three heads, as found in training rows.
pub(crate) struct LabelSets {
    pub types: Vec<String>,
    /// Domains with at least `MIN_DOMAIN_EXAMPLES` rows.
    pub domains: Vec<String>,
    /// 愤怒 and the rest.
    pub moods: Vec<String>,
}

impl LabelSets {
    /// From rows whose appeal types all parse; fails when no domain is frequent enough.
    pub fn of(rows: &[&Example]) -> Result<Self, AssistantError> {
        let type_of = |r: &Example| AppealType::from_label(&r.appeal_type).map(|t| t.label().to_string());
        let types = classes(rows.iter().filter_map(|r| type_of(r)), 1);
        let domains = classes(rows.iter().filter_map(|r| r.domain.clone()), MIN_DOMAIN_EXAMPLES);
        if domains.is_empty() {
            return Err(AssistantError::Train(format!("no domain has {MIN_DOMAIN_EXAMPLES} or more labelled rows")));
        }
        Ok(LabelSets { types, domains, moods: vec![ANGRY.to_string(), "其他".to_string()] })
    }

    /// Class indices of `r` for the type, domain and mood heads (None where it has no usable label).
    pub fn labels(&self, r: &Example) -> [Option<usize>; 3] {
        let ty = AppealType::from_label(&r.appeal_type).and_then(|t| self.types.iter().position(|c| c == t.label()));
        let domain = r.domain.as_ref().and_then(|d| self.domains.iter().position(|c| c == d));
        [ty, domain, Some(usize::from(r.sentiment.as_deref() != Some(ANGRY)))]
    }
}

/// Training rows: those whose appeal type is one the classifier knows; at least 10.
pub(crate) fn usable(rows: &[Example]) -> Result<Vec<&Example>, AssistantError> {
    let rows: Vec<&Example> = rows.iter().filter(|r| AppealType::from_label(&r.appeal_type).is_some()).collect();
    if rows.len() < 10 {
        return Err(AssistantError::Train(format!(
            "{} usable rows; need at least 10 with appeal_type in 咨询/投诉/求助/建言/其他",
            rows.len()
        )));
    }
    Ok(rows)
}

/// Distinct labels seen at least `min` times, sorted.
fn classes(labels: impl Iterator<Item = String>, min: usize) -> Vec<String> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for l in labels {
        *counts.entry(l).or_default() += 1;
    }
    counts.into_iter().filter(|(_, n)| *n >= min).map(|(l, _)| l).collect()
}

/// The seed set that ships with the project (hand-written; see its README).
pub fn seed_examples() -> Vec<Example> {
    include_str!("../../data/appeal_seed.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("seed rows parse"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asking_for_a_person_is_recognised() {
        for t in ["转人工", "我要人工客服", "能不能找个人跟我说", "让工作人员联系我", "我要和真人对话", "请工作人员帮我"]
        {
            assert!(asks_for_human(t), "{t}");
        }
        for t in ["身份证怎么换", "需要人工费吗", "个人所得税怎么算", "本人到场吗", "需要人来现场吗"] {
            assert!(!asks_for_human(t), "{t}");
        }
    }

    #[test]
    fn the_shipped_model_is_the_seed_set_trained_again() {
        let shipped = AppealModel::seed();
        let fresh = AppealModel::train(&seed_examples(), "seed set").unwrap();
        for e in seed_examples() {
            let (a, b) = (shipped.classify(&e.message), fresh.classify(&e.message));
            assert_eq!((a.kind, &a.domain), (b.kind, &b.domain), "{}", e.message);
            assert!((a.confidence - b.confidence).abs() < 1e-3);
        }
    }

    #[test]
    fn the_seed_model_reads_typical_messages() {
        let m = AppealModel::seed();
        let c = |t: &str| m.classify(t).kind;
        assert_eq!(c("请问换身份证需要带什么材料？"), AppealType::Consult);
        assert_eq!(c("楼下饭店油烟太大，天天熏得没法开窗，投诉了也没人管！"), AppealType::ComplaintHelp);
        assert_eq!(c("建议在地铁站附近多设置一些共享单车停放点"), AppealType::Suggestion);
        assert_eq!(c("推荐一部好看的电影"), AppealType::OutOfScope);
        assert_eq!(m.classify("学校附近的路口太乱了").domain.as_deref(), Some("交通"));
    }
}
