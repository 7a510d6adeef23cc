//! The sections of an item guide (and of a 一件事 bundle) that chunks, citations and answers
//! refer to.
//!
//! Stored and sent as a stable string key (`materials`, `faq-2` …): index payloads, point ids,
//! saved answers and the HTTP API all carry the key, so renaming a variant's key would orphan
//! indexed points and change the API. Parsing an unknown key is an error, never a silent default.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One section of a guide or bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Section {
    Overview,
    Conditions,
    Materials,
    Process,
    TimeLimit,
    Fees,
    /// Place, opening hours, phone and online service.
    Place,
    LegalBasis,
    /// The n-th FAQ pair (from 1).
    Faq(u16),
    /// A document that is one passage (an evaluation corpus's answer).
    Passage,
}

/// A section key that names no section.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown section key {0:?}")]
pub struct UnknownSection(pub String);

impl Section {
    /// The sections of a guide in reading order, FAQ excluded.
    pub const STANDARD: [Section; 8] = [
        Section::Overview,
        Section::Conditions,
        Section::Materials,
        Section::Process,
        Section::TimeLimit,
        Section::Fees,
        Section::Place,
        Section::LegalBasis,
    ];

    /// The stable key: `overview`, `time_limit`, `faq-2` ….
    pub fn key(self) -> String {
        match self {
            Section::Faq(n) => format!("faq-{n}"),
            s => s.fixed_key().to_string(),
        }
    }

    fn fixed_key(self) -> &'static str {
        match self {
            Section::Overview => "overview",
            Section::Conditions => "conditions",
            Section::Materials => "materials",
            Section::Process => "process",
            Section::TimeLimit => "time_limit",
            Section::Fees => "fees",
            Section::Place => "place",
            Section::LegalBasis => "legal_basis",
            Section::Faq(_) => "faq",
            Section::Passage => "answer",
        }
    }

    /// The title citizens read: 申请材料, 常见问题 ….
    pub fn title(self) -> &'static str {
        match self {
            Section::Overview => "基本信息",
            Section::Conditions => "受理条件",
            Section::Materials => "申请材料",
            Section::Process => "办理流程",
            Section::TimeLimit => "办理时限",
            Section::Fees => "收费标准",
            Section::Place => "办理地点和咨询方式",
            Section::LegalBasis => "设定依据",
            Section::Faq(_) => "常见问题",
            Section::Passage => "答复",
        }
    }

    pub fn is_faq(self) -> bool {
        matches!(self, Section::Faq(_))
    }

    /// Sections that say only when, how much, where and under which law.
    pub fn is_logistics(self) -> bool {
        matches!(self, Section::TimeLimit | Section::Fees | Section::Place | Section::LegalBasis)
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Section::Faq(n) => write!(f, "faq-{n}"),
            s => f.write_str(s.fixed_key()),
        }
    }
}

impl FromStr for Section {
    type Err = UnknownSection;

    fn from_str(key: &str) -> Result<Self, Self::Err> {
        if let Some(n) = key.strip_prefix("faq-") {
            return n.parse().ok().filter(|n| *n > 0).map(Section::Faq).ok_or_else(|| UnknownSection(key.to_string()));
        }
        let fixed = Section::STANDARD.into_iter().chain([Section::Passage]).find(|s| s.fixed_key() == key);
        fixed.ok_or_else(|| UnknownSection(key.to_string()))
    }
}

impl From<Section> for String {
    fn from(s: Section) -> String {
        s.key()
    }
}

impl TryFrom<String> for Section {
    type Error = UnknownSection;

    fn try_from(key: String) -> Result<Self, Self::Error> {
        key.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for s in Section::STANDARD.into_iter().chain([Section::Faq(1), Section::Faq(12), Section::Passage]) {
            assert_eq!(s.key().parse::<Section>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.key()));
        }
        assert_eq!(Section::TimeLimit.key(), "time_limit");
        assert_eq!(Section::Faq(3).to_string(), "faq-3");
    }

    #[test]
    fn unknown_keys_are_errors() {
        for k in ["", "faq-", "faq-0", "faq-x", "Materials", "faq"] {
            assert!(k.parse::<Section>().is_err(), "{k}");
        }
        assert!(serde_json::from_value::<Section>(serde_json::json!("nope")).is_err());
    }
}
