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
//! - the words that decide what it asserts (free, not needed and what is not needed, same-day,
//!   places) are asserted by the source too ([`crate::claims`]).
//!
//! A claim without a citation is attributed to the source that supports it best, if one does
//! (the citation is added and marked automatic); otherwise the answer fails verification.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::LazyLock;

use banshi_knowledge::section::Section;
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
    /// The section's key (`materials`, `faq-2` …).
    #[schema(value_type = String)]
    pub section: Section,
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

/// Byte ranges of the sentences of `text`, each keeping the citations written right after its
/// end mark. The ranges cover `text` without gaps (whitespace between sentences included), so
/// joining some of them rebuilds a shorter answer in the model's own layout.
fn sentence_spans(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if !matches!(c, '。' | '！' | '？' | '!' | '?' | '；' | ';' | '\n') {
            continue;
        }
        let mut end = i + c.len_utf8();
        // Citations that follow the end mark belong to this sentence: “…20元。[1]”.
        let rest = &text[end..];
        if let Some(m) = CITE.find(rest).filter(|m| rest[..m.start()].trim().is_empty()) {
            end += m.end();
            while chars.next_if(|(j, _)| *j < end).is_some() {}
        }
        out.push(start..end);
        start = end;
    }
    if start < text.len() {
        out.push(start..text.len());
    }
    out
}

/// `text` without a last sentence that has no end mark: what is left of an answer the token
/// budget cut off (“…并有求职[3]”). Text that ends with its end mark comes back whole.
pub fn complete_sentences(text: &str) -> &str {
    let ends_sentence = |s: &str| {
        let s = CITE.replace_all(s, "");
        s.trim_end().ends_with(['。', '！', '？', '!', '?', '；', ';']) || s.ends_with('\n')
    };
    match sentence_spans(text).last() {
        Some(last) if !ends_sentence(&text[last.clone()]) => text[..last.start].trim_end(),
        _ => text,
    }
}

/// Sentences of `text`, trimmed, each keeping the citations written right after its end mark.
pub fn sentences(text: &str) -> Vec<String> {
    sentence_spans(text).into_iter().map(|r| text[r].trim().to_string()).filter(|s| !s.is_empty()).collect()
}

/// Citation numbers in a sentence.
pub fn cited(sentence: &str) -> Vec<usize> {
    let mut v: Vec<usize> = CITE.captures_iter(sentence).filter_map(|c| c[1].parse().ok()).collect();
    v.dedup();
    v
}

/// The sources `text` cites by number, in their order (numbers are kept, so `[n]` still
/// finds its source).
pub fn cited_sources(text: &str, sources: Vec<Source>) -> Vec<Source> {
    let numbers: HashSet<usize> = CITE.captures_iter(text).filter_map(|c| c[1].parse().ok()).collect();
    sources.into_iter().filter(|s| numbers.contains(&s.n)).collect()
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

/// How much two short texts share their wording: Dice coefficient over content bigrams (0–1),
/// not counting the bigrams of `common` (words both are expected to share, like an item's name).
pub(crate) fn similarity(a: &str, b: &str, common: &str) -> f32 {
    let common = bigrams(&content(common));
    let distinct = |s: &str| -> HashSet<(char, char)> { bigrams(&content(s)).difference(&common).copied().collect() };
    let (a, b) = (distinct(a), distinct(b));
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    2.0 * a.intersection(&b).count() as f32 / (a.len() + b.len()) as f32
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
    crate::claims::asserts_beyond(&claim, source)?;
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

/// A sentence that states nothing checkable: too short, a lead-in to a list (“具体如下：”), or a
/// question (a small model often repeats the citizen's question before answering it).
fn is_claim(sentence: &str) -> bool {
    let s = strip_citations(sentence);
    let states = !s.trim_end().ends_with(['：', ':', '？', '?']);
    states && content(&s).len() >= 4
}

/// Verify every claim of `answer` against `sources` (numbered from 1).
pub fn verify(answer: &str, sources: &[Source]) -> Verification {
    let mut checked = Vec::new();
    let mut forged = Vec::new();
    for s in sentences(answer) {
        if is_claim(&s) {
            let (c, f) = check(s, sources);
            checked.push(c);
            forged.extend(f);
        }
    }
    let passed = forged.is_empty() && checked.iter().all(|s| s.supported_by.is_some());
    Verification { sentences: checked, forged, passed }
}

/// One claim against the sources; also returns the citations it names that do not exist.
fn check(s: String, sources: &[Source]) -> (CheckedSentence, Vec<usize>) {
    let cites = cited(&s);
    let mut forged = Vec::new();
    let mut supported_by = None;
    let mut reason = None;
    for &n in &cites {
        match sources.iter().find(|src| src.n == n) {
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
    if supported_by.is_none() && cites.iter().all(|n| !sources.iter().any(|src| src.n == *n)) {
        // Uncited (or only forged): attribute to a source that supports it, if any.
        if let Some(src) = sources.iter().find(|src| supports(&s, &src.text).is_ok()) {
            supported_by = Some(src.n);
            auto = true;
            reason = None;
        } else if cites.is_empty() {
            reason = Some("未标注引用，且没有资料支持".into());
        }
    }
    (CheckedSentence { text: s, cited: cites, supported_by, auto, reason }, forged)
}

/// Largest share of an answer's claims that may be removed for lack of support before the whole
/// answer is given up: what is shown should be mostly what the model said, and past a third the
/// model has said too much the sources do not (or answered half of a two-part question).
pub const MAX_REMOVED_SHARE: f32 = 1.0 / 3.0;

/// A generated answer reduced to what the sources back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settled {
    /// The answer as shown: the backed claims in the model's words, each citing the source that
    /// backs it (and only that one), plus the connecting text.
    pub text: String,
    /// `text` verified again: every citation in it exists and supports its sentence.
    pub verification: Verification,
    /// Claims taken out because no source backs them, with the reason.
    pub removed: Vec<CheckedSentence>,
}

/// What the citizen sees of a generated `answer`: claims that no source backs (a forged `[9]`,
/// a wrong number, an invented sentence) are removed; every claim left cites exactly the source
/// that backs it, including claims the model left uncited. `None` when no claim is backed or
/// more than [`MAX_REMOVED_SHARE`] of them would go: the caller then shows the guide's own words.
pub fn settle(answer: &str, sources: &[Source]) -> Option<Settled> {
    // Each piece with the source that backs it (None: connecting text).
    let mut pieces: Vec<(String, Option<usize>)> = Vec::new();
    let (mut kept, mut removed) = (0usize, Vec::new());
    for span in sentence_spans(answer) {
        let raw = &answer[span];
        let s = raw.trim();
        if !is_claim(s) {
            pieces.push((raw.to_string(), None));
            continue;
        }
        let (c, _) = check(s.to_string(), sources);
        match c.supported_by {
            Some(n) => {
                kept += 1;
                pieces.push((raw.to_string(), Some(n)));
            }
            None => removed.push(c),
        }
    }
    let mut pieces = cite_runs(pieces);
    let removed_share = removed.len() as f32 / (kept + removed.len()).max(1) as f32;
    if kept == 0 || removed_share > MAX_REMOVED_SHARE + 1e-6 {
        return None;
    }
    // A lead-in (“具体如下：”) whose list was removed does not stay dangling.
    while pieces.last().is_some_and(|p| p.trim().is_empty() || p.trim_end().ends_with(['：', ':'])) {
        pieces.pop();
    }
    let text = tidy(&pieces.concat());
    let verification = verify(&text, sources);
    Some(Settled { text, verification, removed })
}

/// The pieces' text with citations placed: a run of consecutive claims backed by the same
/// source (a material list copied from one section) cites it once, after the run's last claim,
/// instead of a `[1]` on every line; every other claim cites its own source.
fn cite_runs(pieces: Vec<(String, Option<usize>)>) -> Vec<String> {
    let next_source = |from: usize| pieces[from..].iter().find(|(p, n)| n.is_some() || !p.trim().is_empty()).and_then(|(_, n)| *n);
    (0..pieces.len())
        .map(|i| {
            let (raw, n) = &pieces[i];
            let Some(n) = *n else { return raw.clone() };
            let s = raw.trim();
            let lead = &raw[..raw.len() - raw.trim_start().len()];
            let tail = &raw[raw.trim_end().len()..];
            let body = if next_source(i + 1) == Some(n) { strip_citations(s) } else { cite_only(s, n) };
            format!("{lead}{body}{tail}")
        })
        .collect()
}

/// `sentence` with its citation marks replaced by one `[n]` before its end mark.
fn cite_only(sentence: &str, n: usize) -> String {
    let bare = strip_citations(sentence);
    let body = bare.trim_end().trim_end_matches(['。', '！', '？', '!', '?', '；', ';']);
    let end = &bare.trim_end()[body.len()..];
    format!("{}[{n}]{end}", body.trim_end())
}

/// Blank lines left where removed sentences stood collapse to one line break.
fn tidy(text: &str) -> String {
    text.lines().map(str::trim_end).filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_not_needed_and_at_once_need_a_source_that_says_so() {
        let fee = "收费标准：机动车驾驶证工本费每证10元。";
        assert!(supports("驾驶证换证免费[1]。", fee).unwrap_err().contains("免费"));
        assert!(supports("机动车驾驶证工本费每证10元[1]。", fee).is_ok());
        assert!(supports("结婚登记不收费[1]。", "收费标准：结婚登记免收费用。").is_ok(), "same class, other words");
        let materials = "申请材料：居民身份证原件；户口簿原件。";
        assert!(supports("办理居住证不需要任何材料[1]。", materials).is_err());
        assert!(supports("护照当天就能拿到[1]。", "承诺时限：7个工作日。").is_err());
    }

    #[test]
    fn a_sentence_the_budget_cut_off_is_dropped() {
        assert_eq!(complete_sentences("需办理失业登记[1]。并有求职[3]"), "需办理失业登记[1]。");
        assert_eq!(complete_sentences("材料如下：\n1. 身份证；\n2. 纸质或电子"), "材料如下：\n1. 身份证；");
        assert_eq!(complete_sentences("工本费20元。[1]"), "工本费20元。[1]");
        assert_eq!(complete_sentences("没有句号"), "");
    }

    #[test]
    fn a_run_of_claims_from_one_source_cites_it_once_and_only_cited_sources_are_listed() {
        let src = |n: usize, text: &str| Source {
            n,
            code: "X".into(),
            item: "事项".into(),
            section: Section::Materials,
            title: "申请材料".into(),
            text: text.into(),
        };
        let sources = vec![src(1, "申请材料：居民身份证原件；户口簿原件；近期免冠照片一张。"), src(2, "收费标准：工本费20元。")];
        let answer = "需要带：\n1. 居民身份证原件[1]；\n2. 户口簿原件[1]；\n3. 近期免冠照片一张[1]。\n工本费20元[2]。";
        let s = settle(answer, &sources).expect("all backed");
        assert_eq!(cited(&s.text).len(), 2, "{}", s.text);
        assert_eq!(s.text.matches("[1]").count(), 1, "{}", s.text);
        assert!(s.text.contains("照片一张[1]。"), "the run's last claim cites it: {}", s.text);
        assert!(s.verification.passed, "{:?}", s.verification);
        let listed = cited_sources(&s.text, sources.clone());
        assert_eq!(listed.len(), 2);
        assert_eq!(cited_sources("工本费20元[2]。", sources).iter().map(|s| s.n).collect::<Vec<_>>(), vec![2]);
    }

    fn sources() -> Vec<Source> {
        let s = |n: usize, text: &str| Source {
            n,
            code: "SAMPLE-GA-001".into(),
            item: "居民身份证换领".into(),
            section: Section::Fees,
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
        let v = verify("您好！换身份证要交多少钱？具体如下：\n工本费20元[1]。", &sources());
        assert_eq!(v.sentences.len(), 1);
        assert!(v.passed);
    }

    #[test]
    fn settling_removes_unbacked_claims_and_cites_the_backing_source() {
        let answer = "您好！具体如下：\n1. 工本费20元[2][1]。\n2. 还可以享受上门服务并打八折[1]。\n3. 承诺办结时限为15个工作日。";
        let s = settle(answer, &sources()).expect("two of three claims are backed");
        assert_eq!(s.text, "您好！具体如下：\n1. 工本费20元[1]。\n3. 承诺办结时限为15个工作日[2]。");
        assert_eq!(s.removed.len(), 1);
        assert!(s.removed[0].text.contains("八折"));
        assert!(s.verification.passed);
        assert_eq!(s.verification.citation_validity(), Some(1.0));
        assert_eq!(s.verification.faithfulness(), 1.0);
    }

    #[test]
    fn settling_drops_forged_and_wrong_numbers() {
        // A forged citation on a claim a real source backs is redirected to that source.
        let s = settle("居民身份证工本费20元[9]。承诺办结时限为15个工作日[2]。", &sources()).unwrap();
        assert_eq!(s.text, "居民身份证工本费20元[1]。承诺办结时限为15个工作日[2]。");
        // A wrong number is removed, not repaired.
        let s = settle("居民身份证工本费25元[1]。承诺办结时限为15个工作日[2]。居民身份证工本费20元[1]。", &sources()).unwrap();
        assert!(!s.text.contains("25"), "{}", s.text);
        assert!(s.removed[0].reason.as_deref().unwrap().contains("25"));
    }

    #[test]
    fn settling_gives_up_when_too_much_is_unbacked() {
        assert_eq!(settle("办理身份证可以在网上预约上门服务并享受八折优惠[1]。", &sources()), None);
        assert_eq!(settle("工本费20元[1]。可以上门办理并打八折[1]。", &sources()), None, "half is too much to remove");
        assert_eq!(settle("您好！", &sources()), None, "nothing is backed");
    }

    #[test]
    fn a_lead_in_whose_list_was_removed_goes_too() {
        let s = settle("工本费20元[1]。承诺办结时限为15个工作日[2]。可选服务如下：\n上门办理并打八折[1]。", &sources()).unwrap();
        assert_eq!(s.text, "工本费20元[1]。承诺办结时限为15个工作日[2]。");
    }
}
