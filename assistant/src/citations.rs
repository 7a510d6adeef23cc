//! Citation parsing and verification of a generated answer.
//!
//! The answer is split into sentences; each sentence that states something (a claim) must cite
//! a numbered source `[n]` that exists and supports it. Support is checked two ways, both cheap
//! and explainable:
//! - every number in the sentence (fees, days, phone numbers, dates) appears in the source —
//!   a 1.5B model's most harmful error is a wrong number, and this catches it exactly;
//! - most of the sentence's character bigrams occur in the source. Chinese words are mostly two
//!   characters, so bigram recall measures how much of the sentence is the source's wording;
//!   a grounded answer from a small model is largely extractive, an invented one is not.
//!
//! A claim without a citation is attributed to the source that supports it best, if one does
//! (the citation is added and marked automatic); otherwise the answer fails verification.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// Share of a claim's bigrams that must occur in the cited source.
pub const MIN_BIGRAM_SUPPORT: f32 = 0.5;

/// A numbered source in the prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Source {
    pub n: usize,
    pub code: String,
    pub item: String,
    pub section: String,
    pub title: String,
    pub text: String,
}

/// One claim of the answer and what backs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckedSentence {
    pub text: String,
    /// Citations as written by the model (may include ones that do not exist).
    pub cited: Vec<usize>,
    /// The source that supports it, if any.
    pub supported_by: Option<usize>,
    /// The citation was added by attribution, not written by the model.
    pub auto: bool,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verification {
    pub sentences: Vec<CheckedSentence>,
    /// Citations written that name a missing source (a forged `[9]`).
    pub forged: Vec<usize>,
    pub passed: bool,
}

impl Verification {
    /// Citations written by the model that exist and support their sentence, over all written.
    pub fn citation_validity(&self) -> Option<f32> {
        let written: usize = self.sentences.iter().map(|s| s.cited.len()).sum();
        if written == 0 {
            return None;
        }
        let valid = self.sentences.iter().filter(|s| !s.auto && s.supported_by.is_some_and(|n| s.cited.contains(&n))).count();
        Some(valid as f32 / written as f32)
    }

    /// Claim sentences supported by a source, over all claim sentences.
    pub fn faithfulness(&self) -> f32 {
        if self.sentences.is_empty() {
            return 1.0;
        }
        self.sentences.iter().filter(|s| s.supported_by.is_some()).count() as f32 / self.sentences.len() as f32
    }
}

static CITE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[\[［【]\s*(\d{1,2})\s*[\]］】]").expect("static regex"));
/// A list item's own number (“1.”, “2、”, “（7）”) at the start of a sentence: not a fact.
static ENUMERATOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*(?:[（(]\d{1,2}[）)]|\d{1,2}[、．.)）])").expect("static regex"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").expect("static regex"));

/// Sentences of `text`, each keeping the citations written right after its end mark.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        current.push(c);
        if matches!(c, '。' | '！' | '？' | '!' | '?' | '；' | ';' | '\n') {
            // Citations that follow the end mark belong to this sentence: “…20元。[1]”.
            let rest: String = chars[i + 1..].iter().collect();
            if let Some(m) = CITE.find(&rest).filter(|m| rest[..m.start()].trim().is_empty()) {
                current.push_str(&rest[..m.end()]);
                i += rest[..m.end()].chars().count();
            }
            push_sentence(&mut out, &mut current);
        }
        i += 1;
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let s = current.trim().to_string();
    current.clear();
    if !s.is_empty() {
        out.push(s);
    }
}

/// Citation numbers in a sentence.
pub fn cited(sentence: &str) -> Vec<usize> {
    let mut v: Vec<usize> = CITE.captures_iter(sentence).filter_map(|c| c[1].parse().ok()).collect();
    v.dedup();
    v
}

/// The sentence without citation marks.
pub fn strip_citations(s: &str) -> String {
    CITE.replace_all(s, "").to_string()
}

/// Content characters: letters and digits, without the commonest function characters.
fn content(s: &str) -> Vec<char> {
    const FUNCTION: &str = "的了是在和与及或您你我请可以需要应当将并把被等其该此为也都就还要会能吗呢吧啊";
    s.chars().filter(|c| c.is_alphanumeric() && !FUNCTION.contains(*c)).collect()
}

fn bigrams(chars: &[char]) -> HashSet<(char, char)> {
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Whether `source` supports `claim`; `Err` says why not.
pub fn supports(claim: &str, source: &str) -> Result<(), String> {
    let claim = strip_citations(claim);
    let claim = match ENUMERATOR.find(&claim) {
        // “1.5元” is a number, not an item.
        Some(m) if !claim[m.end()..].starts_with(|c: char| c.is_ascii_digit()) => claim[m.end()..].to_string(),
        _ => claim,
    };
    for n in NUMBER.find_iter(&claim) {
        if !source.contains(n.as_str()) {
            return Err(format!("数字“{}”不在所引资料中", n.as_str()));
        }
    }
    let c = content(&claim);
    if c.len() < 2 {
        return Ok(());
    }
    let claim_bigrams = bigrams(&c);
    let source_bigrams = bigrams(&content(source));
    let found = claim_bigrams.iter().filter(|b| source_bigrams.contains(b)).count();
    let recall = found as f32 / claim_bigrams.len() as f32;
    if recall >= MIN_BIGRAM_SUPPORT {
        Ok(())
    } else {
        Err(format!("与所引资料的重合度{:.0}%，低于{:.0}%", recall * 100.0, MIN_BIGRAM_SUPPORT * 100.0))
    }
}

/// A sentence that states nothing checkable: too short, or a lead-in to a list (“具体如下：”).
fn is_claim(sentence: &str) -> bool {
    let s = strip_citations(sentence);
    let lead_in = s.trim_end().ends_with(['：', ':']);
    !lead_in && content(&s).len() >= 4
}

/// Verify every claim of `answer` against `sources` (numbered from 1).
pub fn verify(answer: &str, sources: &[Source]) -> Verification {
    let mut checked = Vec::new();
    let mut forged = Vec::new();
    for s in sentences(answer) {
        if !is_claim(&s) {
            continue;
        }
        let cites = cited(&s);
        let mut supported_by = None;
        let mut reason = None;
        for &n in &cites {
            match sources.get(n.wrapping_sub(1)) {
                None => {
                    forged.push(n);
                    reason = Some(format!("引用[{n}]不存在"));
                }
                Some(src) => match supports(&s, &src.text) {
                    Ok(()) => {
                        supported_by = Some(n);
                        break;
                    }
                    Err(why) => reason = Some(format!("[{n}]：{why}")),
                },
            }
        }
        let mut auto = false;
        if supported_by.is_none() && cites.iter().all(|n| *n == 0 || *n > sources.len()) {
            // Uncited (or only forged): attribute to a source that supports it, if any.
            if let Some(src) = sources.iter().find(|src| supports(&s, &src.text).is_ok()) {
                supported_by = Some(src.n);
                auto = true;
                reason = None;
            } else if cites.is_empty() {
                reason = Some("未标注引用，且没有资料支持".into());
            }
        }
        checked.push(CheckedSentence { text: s, cited: cites, supported_by, auto, reason });
    }
    let passed = forged.is_empty() && checked.iter().all(|s| s.supported_by.is_some());
    Verification { sentences: checked, forged, passed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Vec<Source> {
        let s = |n: usize, text: &str| Source {
            n,
            code: "SAMPLE-GA-001".into(),
            item: "居民身份证换领".into(),
            section: "fees".into(),
            title: "收费标准".into(),
            text: text.into(),
        };
        vec![
            s(1, "【居民身份证换领】收费标准：居民身份证工本费20元（有效期满换领、损坏换领均收取）"),
            s(2, "【居民身份证换领】办理时限：法定办结时限60日（交通不便地区可延长至90日）；承诺办结时限15个工作日"),
        ]
    }

    #[test]
    fn sentences_keep_their_trailing_citations() {
        assert_eq!(sentences("工本费20元。[1]承诺15个工作日办结[2]。"), vec!["工本费20元。[1]", "承诺15个工作日办结[2]。"]);
        assert_eq!(cited("见[1]和［2］【3】"), vec![1, 2, 3]);
        assert_eq!(strip_citations("20元[1]。"), "20元。");
    }

    #[test]
    fn supported_answer_passes() {
        let v = verify("换领居民身份证需交工本费20元[1]。承诺办结时限为15个工作日[2]。", &sources());
        assert!(v.passed, "{v:?}");
        assert_eq!(v.citation_validity(), Some(1.0));
        assert_eq!(v.faithfulness(), 1.0);
    }

    #[test]
    fn forged_citation_fails() {
        let v = verify("换领居民身份证需交工本费20元[9]。", &sources());
        assert!(!v.passed);
        assert_eq!(v.forged, vec![9]);
    }

    #[test]
    fn a_wrong_number_fails_even_with_a_citation() {
        let v = verify("换领居民身份证需交工本费25元[1]。", &sources());
        assert!(!v.passed);
        assert!(v.sentences[0].reason.as_deref().unwrap().contains("25"), "{v:?}");
    }

    #[test]
    fn a_list_items_own_number_is_not_a_fact() {
        assert!(supports("（7）居民身份证工本费20元", &sources()[0].text).is_ok());
        assert!(supports("3. 居民身份证工本费20元", &sources()[0].text).is_ok());
        assert!(supports("7、居民身份证工本费20元", &sources()[0].text).is_ok());
        // A decimal at the start is a number, and a wrong one still fails.
        assert!(supports("1.5元的居民身份证工本费", &sources()[0].text).is_err());
        assert!(supports("（7）居民身份证工本费25元", &sources()[0].text).is_err());
    }

    #[test]
    fn an_unsupported_claim_fails() {
        let v = verify("办理身份证可以在网上预约上门服务并享受八折优惠[1]。", &sources());
        assert!(!v.passed, "{v:?}");
        assert_eq!(v.citation_validity(), Some(0.0));
    }

    #[test]
    fn uncited_but_supported_claims_are_attributed() {
        let v = verify("居民身份证工本费20元。", &sources());
        assert!(v.passed, "{v:?}");
        assert!(v.sentences[0].auto);
        assert_eq!(v.sentences[0].supported_by, Some(1));
        assert_eq!(v.citation_validity(), None, "no citation was written");
    }

    #[test]
    fn connectives_are_not_claims() {
        let v = verify("您好！具体如下：\n工本费20元[1]。", &sources());
        assert_eq!(v.sentences.len(), 1);
        assert!(v.passed);
    }
}
