//! What a claim asserts beyond its wording.
//!
//! Bigram overlap ([`crate::citations::supports`]) measures how much of a sentence is its
//! source's wording. A false sentence built from the source's own words passes it: “办理注销
//! 不需要完税证明” from a section that lists the 完税证明 as required and waives another paper;
//! “需要到外省某厅申请” from a section naming the local office. These checks look at the few
//! words that decide what a sentence asserts, and fail it when the source does not assert the
//! same:
//! - decisive words (free, not needed, same-day, for life): the source says one of the same class;
//! - the scope of “not needed”: what follows it in the claim is what a “not needed” of the
//!   source is about, in the same sentence of the source;
//! - places: every place name of the claim is in the source.

use banshi_knowledge::segment::place_names;

/// Words that decide what a sentence asserts — that something is free, not needed, immediate
/// or forever — in classes of words that say the same. Wording overlap cannot tell “驾驶证换证
/// 免费” from a source that says the fee is 10元, so a sentence using one of these is backed
/// only by a source that says one of the same class (chosen on the injection dev split).
const DECISIVE: [&[&str]; 4] = [
    &["免费", "不收费", "免收", "不收取", "无需缴费", "不需缴费", "不需要缴费", "零收费", "不要钱", "不花钱"],
    NOT_NEEDED,
    &["当天", "当日", "即办", "立等可取", "立即办结", "当场"],
    &["终身", "永久", "长期有效"],
];

/// The class that waives a requirement; what it waives is checked too.
const NOT_NEEDED: &[&str] = &["不需要", "不需", "无需", "无须", "不用", "不必", "免于", "免予", "免提交", "不要求"];

/// Words between a waiver and what it waives (“无需再提交任何…”): skipped to find the object.
const FILLER: &[&str] = &["任何", "再", "另行", "额外", "提供", "提交", "携带", "出具", "开具", "上传", "缴纳", "交纳"];

/// Ends of a source's sentences: a waiver and its object must share one.
const SOURCE_SENTENCE_ENDS: [char; 6] = ['。', '；', ';', '！', '\n', '？'];

/// Whether `source` asserts what the decisive words and place names of `claim` assert; `Err`
/// says what is not backed. `claim` is without citation marks.
pub(crate) fn asserts_beyond(claim: &str, source: &str) -> Result<(), String> {
    for class in DECISIVE {
        if let Some(w) = class.iter().find(|w| claim.contains(*w)) {
            if !class.iter().any(|v| source.contains(v)) {
                return Err(format!("“{w}”在所引资料中没有依据"));
            }
        }
    }
    waivers_in_scope(claim, source)?;
    places_in_source(claim, source)
}

/// Each waiver of the claim (“不需要X”) has a waiver of X in one sentence of the source.
fn waivers_in_scope(claim: &str, source: &str) -> Result<(), String> {
    let sentences: Vec<&str> = source.split(SOURCE_SENTENCE_ENDS).collect();
    for (at, word) in waivers(claim) {
        let Some(object) = waived_object(&claim[at + word.len()..]) else { continue };
        let backed = sentences.iter().any(|s| s.contains(&object) && NOT_NEEDED.iter().any(|w| s.contains(w)));
        if !backed {
            return Err(format!("“{word}{object}”在所引资料中没有依据"));
        }
    }
    Ok(())
}

/// Byte offsets and words of the claim's waivers, longest word first at each place.
fn waivers(claim: &str) -> Vec<(usize, &'static str)> {
    let mut found: Vec<(usize, &'static str)> = Vec::new();
    for w in NOT_NEEDED {
        for (at, _) in claim.match_indices(w) {
            // “不需要” also contains “不需”: keep the longer word at one place.
            if !found.iter().any(|(a, f)| *a == at && f.len() >= w.len()) {
                found.retain(|(a, _)| *a != at);
                found.push((at, w));
            }
        }
    }
    found.sort();
    found
}

/// The first two Chinese characters of what follows a waiver, after filler words; `None` when
/// the waiver ends its clause (“…的，不需要。”): the class check alone decides those.
fn waived_object(after: &str) -> Option<String> {
    let mut rest = after;
    while let Some(f) = FILLER.iter().find(|f| rest.starts_with(**f)) {
        rest = &rest[f.len()..];
    }
    let head: String = rest.chars().take_while(|c| ('\u{4e00}'..='\u{9fff}').contains(c)).take(2).collect();
    (head.chars().count() == 2).then_some(head)
}

/// Every place name of the claim is in the source (or its short form: 广东省 → 广东).
fn places_in_source(claim: &str, source: &str) -> Result<(), String> {
    for place in place_names(claim) {
        let short = place.trim_end_matches(['省', '市', '区', '县']);
        if !source.contains(place) && !(short.chars().count() >= 2 && source.contains(short)) {
            return Err(format!("地名“{place}”不在所引资料中"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MATERIALS: &str = "【某证明开具】申请材料：1. 居民身份证；2. 单位介绍信（本市机关单位开具的，无需加盖公章）；3. 户口簿。";

    #[test]
    fn a_waiver_must_be_about_what_the_source_waives() {
        // The source waives the seal, not the letter nor the household register.
        assert!(asserts_beyond("单位介绍信无需加盖公章", MATERIALS).is_ok());
        let err = asserts_beyond("办理时无需户口簿也可以", MATERIALS).unwrap_err();
        assert!(err.contains("无需户口"), "{err}");
        // Filler words between the waiver and its object are skipped.
        assert!(asserts_beyond("不需要再提交户口簿", MATERIALS).is_err());
        // A waiver that ends its clause has no object: the class check decides.
        assert!(asserts_beyond("本市机关单位开具的，无需。", MATERIALS).is_ok());
    }

    #[test]
    fn a_decisive_word_needs_its_class_in_the_source() {
        let fees = "【某证换领】收费标准：工本费20元。";
        assert!(asserts_beyond("换领免费", fees).unwrap_err().contains("免费"));
        assert!(asserts_beyond("换领当天就能拿到", fees).is_err());
        assert!(asserts_beyond("换领工本费20元", fees).is_ok());
    }

    #[test]
    fn a_place_the_source_does_not_name_is_not_backed() {
        let place = "【某证申领】办理地点：示例市政务服务中心（广东省示例市政务大道1号）。";
        assert!(asserts_beyond("可到广东省示例市政务服务中心办理", place).is_ok());
        assert!(asserts_beyond("可到广东办理", place).is_ok(), "the short form of a named province");
        let err = asserts_beyond("也可以到南京的政务服务中心办理", place).unwrap_err();
        assert!(err.contains("南京"), "{err}");
    }
}
