//! What a claim asserts beyond its wording.
//!
//! Bigram overlap ([`crate::citations::supports`]) measures how much of a sentence is its
//! source's wording. A false sentence built from the source's own words passes it: “办理注销
//! 不需要完税证明” from a section that lists the 完税证明 as required and waives another paper;
//! “需要到外省某厅申请” from a section naming the local office. These checks look at the few
//! words that decide what a sentence asserts, and fail it when the source does not assert the
//! same:
//! - decisive words (free, same-day, for life): the source says one of the same class;
//! - waivers (“not needed”, “no longer required”): what the claim waives is what a waiver of
//!   the source is about, in one clause of the source;
//! - places: every place name of the claim is in the source.

use std::sync::LazyLock;

use banshi_knowledge::segment::place_names;
use regex::Regex;

/// Words that decide what a sentence asserts — that something is free, immediate or forever —
/// in classes of words that say the same. Wording overlap cannot tell “驾驶证换证免费” from a
/// source that says the fee is 10元, so a sentence using one of these is backed only by a source
/// that says one of the same class (chosen on the injection dev split). Waivers (“not needed”)
/// are found by [`WAIVER`] and checked with what they waive.
const DECISIVE: [&[&str]; 3] = [
    &["免费", "不收费", "免收", "不收取", "无需缴费", "不需缴费", "不需要缴费", "零收费", "不要钱", "不花钱"],
    &["当天", "当日", "即办", "立等可取", "立即办结", "当场"],
    &["终身", "永久", "长期有效"],
];

/// A waiver: a negation, an optional 再 (“no longer”), and a verb of needing or requiring —
/// 不需要, 无须, 不必, 不用, 不再需要, 不再要求, 没必要 — or a set phrase (免于, 免予, 免提交, 免交).
static WAIVER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("(?:不|无|毋|没)(?:再)?(?:需要|需|须|必|用|要求)|免[于予]|免提交|免交").expect("a valid pattern"));

/// Words between a waiver and what it waives (“无需再提交任何…”): skipped to find the object.
const FILLER: &[&str] =
    &["任何", "再", "另行", "额外", "提供", "提交", "携带", "出具", "开具", "上传", "缴纳", "交纳", "经过", "进行", "办理"];

/// Ends of a clause: a waiver and what it waives share one.
const CLAUSE_ENDS: [char; 10] = ['。', '；', ';', '！', '\n', '？', '，', ',', '（', '）'];

/// How far after a waiver of the source its object may start (characters): “无需另行提交纸质件”.
const OBJECT_REACH: usize = 8;

/// How far before a waiver of the source its subject may end (characters): “营业执照均免提交”.
const SUBJECT_GAP: usize = 4;

/// Whether `source` asserts what the decisive words, waivers and place names of `claim`
/// assert; `Err` says what is not backed. `claim` is without citation marks.
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

/// Each waiver of the claim (“不需要X”) is backed by a waiver of X in one clause of the source:
/// X right after it (“无需提交X”) or before it (“X免提交”, “X的，不需要…”). A waiver that ends
/// its clause (“…的，不需要。”) needs only some waiver in the source.
fn waivers_in_scope(claim: &str, source: &str) -> Result<(), String> {
    for m in WAIVER.find_iter(claim) {
        let word = m.as_str();
        if !WAIVER.is_match(source) {
            return Err(format!("“{word}”在所引资料中没有依据"));
        }
        let Some(object) = waived_object(&claim[m.end()..]) else { continue };
        if !source.split(CLAUSE_ENDS).any(|clause| waives(clause, &object)) {
            return Err(format!("“{word}{object}”在所引资料中没有依据"));
        }
    }
    Ok(())
}

/// Whether `clause` has a waiver with `object` right before it (“营业执照免提交”) or shortly
/// after it. An object before the waiver in a condition (“体检时已采集的无需提供” waives the
/// photo, not the medical) does not count: nothing of 时 or 的 may stand between them.
fn waives(clause: &str, object: &str) -> bool {
    WAIVER.find_iter(clause).any(|w| {
        let after: String = clause[w.end()..].chars().take(OBJECT_REACH).collect();
        let before = &clause[..w.start()];
        let subject = before.rfind(object).is_some_and(|at| {
            let gap = &before[at + object.len()..];
            gap.chars().count() <= SUBJECT_GAP && !gap.contains(['时', '的'])
        });
        subject || after.contains(object)
    })
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
        let short_found = short.chars().count() >= 2 && source.contains(short);
        if !source.contains(place) && !short_found {
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
    fn waivers_in_other_words_and_objects_before_them() {
        let notes =
            "【某登记】申请材料：1. 营业执照（可用电子证照免提交）；2. 检验报告（在联网机构检验的可上传电子报告，无需提交纸质件）。";
        assert!(asserts_beyond("营业执照可用电子证照，免提交", notes).is_ok(), "the object before the waiver, one clause");
        assert!(asserts_beyond("检验报告无需提交纸质件", notes).is_ok());
        // The source waives the paper copy of the report, not the inspection.
        assert!(asserts_beyond("办理登记不用检验", notes).unwrap_err().contains("检验"));
        // “No longer needed” is a waiver too, and needs one in the source.
        assert!(asserts_beyond("办理登记不再需要营业执照", "【某登记】申请材料：营业执照。").is_err());
        assert!(asserts_beyond("办理登记没必要带营业执照", "【某登记】申请材料：营业执照。").is_err());
        // A condition before a waiver is not what it waives.
        let photo = "【某证】申请材料：相片（体检时已采集或窗口现场拍摄的无需提供）。";
        assert!(asserts_beyond("换证不用体检", photo).unwrap_err().contains("体检"));
        assert!(asserts_beyond("相片可免提交", "【某证】申请材料：相片免提交。").is_ok());
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
