//! Whether a verified answer answers what was asked.
//!
//! Verification (`citations`) checks that each sentence is backed by the source it cites; it
//! cannot tell that a well-backed sentence is beside the point. Retrieval picks an item because it
//! shares words with the question, and the model then quotes what that item has: an office's
//! name, a time limit, an address. These checks turn such answers into a clarifying question.

use banshi_knowledge::chunk::chunk_body;
use banshi_knowledge::guide::Faq;
use banshi_knowledge::section::Section;

use crate::citations::{similarity, Source, Verification};
use crate::intent::Aspect;

/// Wording (bigram Dice) a guide's FAQ question must share with the citizen's to be the same
/// question asked in other words.
const FAQ_MATCH: f32 = 0.5;

/// The section key (`faq-N`) of the FAQ entry of item `name` that asks `question`, nearly word
/// for word (the item's name, which every entry shares, does not count). Its
/// answer was written for this question, so it beats the section that the question's keywords
/// point to: “备案一定要跑窗口吗” is answered by the FAQ (不用，线上可办), not by the office's
/// address; “办理公积金贷款要交哪些费用” by the FAQ listing them, not by “不收费”.
pub(crate) fn matching_faq(question: &str, name: &str, faq: &[Faq]) -> Option<Section> {
    faq.iter()
        .enumerate()
        .map(|(i, f)| (i, similarity(question, &f.q, name)))
        .filter(|(_, s)| *s >= FAQ_MATCH)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| Section::Faq(i as u16 + 1))
}

/// Whether `sections` (those an answer rests on) are all logistics (when, how much, where,
/// under which law) the question did not ask about. Such an answer means retrieval matched words of the question, not its point:
/// “哪种洗碗机最省水” → an appliance institute's address and phone number. False when there are
/// no sections.
pub(crate) fn unasked_logistics(sections: impl IntoIterator<Item = Section>, asked: &[Aspect]) -> bool {
    let asked: Vec<Section> = asked.iter().map(|a| a.section()).collect();
    let mut any = false;
    for s in sections {
        if !s.is_logistics() || asked.contains(&s) {
            return false;
        }
        any = true;
    }
    any
}

/// Acts a citizen comes to a counter to do. A look-up service does none of them.
const ACTS: &[&str] = &[
    "报名", "报考", "注册", "登记", "备案", "变更", "注销", "预约", "申报", "缴费", "缴纳", "兑奖", "领奖", "领取", "补办", "补领", "换领",
    "开户", "销户", "挂号", "投诉", "举报",
];

/// Whether item `name` is a look-up service (“…查询”, 667 of the 2,318 items imported) and the
/// question, which looks nothing up, asks to do an act the name does not: “普通话水平测试在哪报名”
/// is not answered by 普通话水平测试成绩查询, nor “福利彩票中奖了到哪里领奖” by 福利彩票开奖结果查询,
/// however many words they share. “普通话测试的成绩怎么查” still is.
pub(crate) fn look_up_only(name: &str, question: &str) -> bool {
    // A trailing note in brackets (“（转链接）”) is not part of what the item does.
    let core = match name.strip_suffix(['）', ')']) {
        Some(rest) => rest.rfind(['（', '(']).map_or(name, |at| &name[..at]),
        None => name,
    };
    // The name itself, when the question quotes it, says nothing about what is asked.
    let asked = question.replace(core, "");
    let looks_up = asked.contains('查') || asked.contains('看');
    (core.ends_with("查询") || core.ends_with("查阅")) && !looks_up && ACTS.iter().any(|a| asked.contains(a) && !core.contains(a))
}

/// Whether a chunk states nothing but its own absence (“受理条件：1. 无受理条件”, “收费标准：无”):
/// quoting it answers no question. A chunk's text is “【item】title：body”.
pub(crate) fn says_nothing(text: &str, title: &str) -> bool {
    chunk_body(text).replace(title, "").chars().filter(|c| c.is_alphabetic()).count() <= 2
}

/// Whether the supported sentences of an answer say something the question asked for: at least
/// one says more than a name, and not all of those are unasked logistics. True when no sentence
/// is supported (verification decides those).
pub(crate) fn answers_the_point(v: &Verification, sources: &[Source], asked: &[Aspect]) -> bool {
    let supported: Vec<(&str, &Source)> =
        v.sentences.iter().filter_map(|s| Some((s.text.as_str(), sources.iter().find(|src| Some(src.n) == s.supported_by)?))).collect();
    if supported.is_empty() {
        return true;
    }
    let saying: Vec<Section> = supported
        .iter()
        .filter(|(text, src)| !only_names(text, src) && !leans_on_the_name(text, src))
        .map(|(_, src)| src.section)
        .collect();
    !saying.is_empty() && !unasked_logistics(saying, asked)
}

/// A sentence that only names the item or an organisation of its source (“广东省司法厅[1]。”).
fn only_names(sentence: &str, source: &Source) -> bool {
    const ORGANISATIONS: [&str; 9] = ["厅", "局", "委员会", "中心", "办公室", "政府", "院", "所", "处"];
    let name = crate::citations::strip_citations(sentence);
    let name = name.trim().trim_end_matches(['。', '.', '；', ';', '！']);
    if name.is_empty() {
        return false;
    }
    source.item.contains(name) || (ORGANISATIONS.iter().any(|o| name.ends_with(o)) && source.text.contains(&format!("：{name}")))
}

/// A sentence backed only through the item's name, which every section of the item carries:
/// without the name, what it says is not in the source (“恐龙灭绝的依据是《查询群龙出没——恐龙时代大穿越》”).
fn leans_on_the_name(sentence: &str, source: &Source) -> bool {
    let rest = crate::citations::strip_citations(sentence).replace(source.item.as_str(), "");
    rest.chars().filter(|c| c.is_alphanumeric()).count() >= 4 && crate::citations::supports(&rest, &source.text).is_err()
}

/// A question about one aspect (fees, time, materials …) is answered only when some sentence
/// is backed by that aspect's own section, if the prompt had it. A small model otherwise
/// answers a neighbouring fact faithfully: asked the 换证 fee, it quotes the FAQ's 临时身份证
/// fee — supported by its source, and still the wrong answer.
pub(crate) fn answers_aspect(v: &Verification, sources: &[Source], aspect: Aspect) -> bool {
    let section = aspect.section();
    if aspect == Aspect::General || !sources.iter().any(|s| s.section == section) {
        return true;
    }
    v.sentences.iter().filter_map(|s| s.supported_by).any(|n| sources.iter().any(|s| s.n == n && s.section == section))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent;

    fn secs(keys: &[&str]) -> Vec<Section> {
        keys.iter().map(|k| k.parse().unwrap()).collect()
    }

    fn asks(question: &str) -> Vec<Aspect> {
        intent::aspects(question)
    }

    #[test]
    fn a_look_up_service_does_not_do_other_acts() {
        assert!(look_up_only("普通话水平测试成绩查询", "普通话水平测试在哪报名"));
        assert!(look_up_only("福利彩票开奖结果查询", "福利彩票中奖了到哪里领奖"));
        assert!(look_up_only("个人信用报告查询（转链接）", "怎么注销信用卡"), "a bracketed note is not the act");
        assert!(!look_up_only("普通话水平测试成绩查询", "普通话测试的成绩在哪里查"), "asks to look up");
        assert!(!look_up_only("普通话水平测试成绩查询", "普通话测试报名后怎么看成绩"), "looks something up");
        assert!(!look_up_only("普通话水平测试成绩查询", "普通话测试成绩查询要收费吗"), "no other act");
        assert!(!look_up_only("考试报名信息查询", "考试怎么报名"), "the name has the act");
        assert!(!look_up_only("注册会计师全国统一考试报名", "注册会计师考试怎么报名"), "not a look-up service");
        assert!(!look_up_only("户籍登记（转链接）", "户口怎么登记"));
        assert!(look_up_only("福利彩票开奖结果查询", "福利彩票开奖结果查询那里能领奖吗"), "the quoted name looks nothing up");
    }

    #[test]
    fn an_empty_section_says_nothing() {
        assert!(says_nothing("【查询群龙出没——恐龙时代大穿越】受理条件：1. 无受理条件", "受理条件"));
        assert!(says_nothing("【某事项】收费标准：无", "收费标准"));
        assert!(!says_nothing("【某事项】收费标准：不收费", "收费标准"));
        assert!(!says_nothing("【居民身份证换领】受理条件：1. 年满16周岁的中国公民", "受理条件"));
    }

    #[test]
    fn an_faq_entry_matches_its_question_in_other_words() {
        let faq: Vec<Faq> =
            ["备案一定要跑窗口吗？", "临时外出就医备案有效期多久？"].iter().map(|q| Faq { q: q.to_string(), a: "…".into() }).collect();
        let m = |q: &str| matching_faq(q, "异地就医备案", &faq);
        assert_eq!(m("备案一定要跑窗口吗？").map(Section::key).as_deref(), Some("faq-1"));
        assert_eq!(m("异地就医备案一定要去窗口吗").map(Section::key).as_deref(), Some("faq-1"));
        assert_eq!(m("临时外出就医的备案有效期是多久").map(Section::key).as_deref(), Some("faq-2"));
        assert_eq!(m("备案需要什么材料"), None);
        assert_eq!(m("关于“异地就医备案”：那要多久？"), None, "a follow-up is not an FAQ question");
        // Sharing the item's name is not asking the same question.
        let faq = [Faq { q: "在外地可以换身份证吗？".into(), a: "…".into() }];
        assert_eq!(matching_faq("换身份证要交多少钱", "居民身份证换领", &faq), None);
    }

    #[test]
    fn aspect_questions_need_their_own_section() {
        let src = |n: usize, section: &str| Source {
            n,
            code: "C".into(),
            item: "I".into(),
            section: section.parse().unwrap(),
            title: String::new(),
            text: String::new(),
        };
        let sources = [src(1, "fees"), src(2, "faq-3")];
        let backed_by = |n: usize| Verification {
            sentences: vec![crate::citations::CheckedSentence {
                text: "工本费10元".into(),
                cited: vec![n],
                supported_by: Some(n),
                auto: false,
                reason: None,
            }],
            forged: vec![],
            passed: true,
        };
        assert!(answers_aspect(&backed_by(1), &sources, Aspect::Fees));
        assert!(!answers_aspect(&backed_by(2), &sources, Aspect::Fees), "a neighbouring FAQ does not answer the fee");
        assert!(answers_aspect(&backed_by(2), &sources, Aspect::General));
        assert!(answers_aspect(&backed_by(2), &sources[1..], Aspect::Fees), "no fee section in the prompt: nothing to require");
    }

    #[test]
    fn unasked_logistics_are_not_an_answer() {
        assert!(unasked_logistics(secs(&["place"]), &asks("哪种洗碗机最省水")));
        assert!(unasked_logistics(secs(&["overview", "place"]).into_iter().skip(1), &asks("哪个理财产品收益最稳")));
        assert!(unasked_logistics(secs(&["time_limit", "place"]), &asks("结婚以后户口一定要迁到一起吗")));
        assert!(!unasked_logistics(secs(&["place"]), &asks("换身份证去哪里办")), "asked where");
        assert!(!unasked_logistics(secs(&["time_limit", "place"]), &asks("办护照要多久")), "asked how long");
        assert!(!unasked_logistics(secs(&["legal_basis"]), &asks("这个事项的办理依据是什么")), "asked the law");
        assert!(!unasked_logistics(secs(&["place", "faq-2"]), &asks("暴雪突然袭击我们该如何应对")), "an FAQ answers");
        assert!(!unasked_logistics(secs(&["overview"]), &asks("什么是居住证")), "the overview says what the item is");
        assert!(!unasked_logistics(secs(&[]), &asks("什么是居住证")), "nothing to judge");
    }

    #[test]
    fn names_and_unasked_logistics_do_not_answer_the_point() {
        let src = |n: usize, section: &str, text: &str| Source {
            n,
            code: "C".into(),
            item: "股票认购证抽签公证指引".into(),
            section: section.parse().unwrap(),
            title: String::new(),
            text: text.into(),
        };
        let sources = [
            src(1, "overview", "股票认购证抽签公证指引（基本信息）：实施主体：广东省司法厅。"),
            src(2, "place", "办理窗口，地址：下塘西路5号"),
            src(3, "faq-1", "问：抽签怎么公证 答：带身份证到窗口申请"),
        ];
        let answer = |claims: &[(&str, usize)]| Verification {
            sentences: claims
                .iter()
                .map(|(t, n)| crate::citations::CheckedSentence {
                    text: format!("{t}[{n}]"),
                    cited: vec![*n],
                    supported_by: Some(*n),
                    auto: false,
                    reason: None,
                })
                .collect(),
            forged: vec![],
            passed: true,
        };
        let q = "哪个理财产品收益最稳";
        assert!(!answers_the_point(&answer(&[("广东省司法厅。", 1)]), &sources, &asks(q)), "an organisation's name");
        assert!(!answers_the_point(&answer(&[("股票认购证抽签公证指引。", 1), ("办理窗口，地址：下塘西路5号。", 2)]), &sources, &asks(q)));
        assert!(answers_the_point(&answer(&[("办理窗口，地址：下塘西路5号。", 2)]), &sources, &asks("抽签公证去哪里办")));
        assert!(answers_the_point(
            &answer(&[("股票认购证抽签公证指引。", 1), ("带身份证到窗口申请。", 3)]),
            &sources,
            &asks("抽签怎么公证")
        ));
        assert!(answers_the_point(&answer(&[]), &sources, &asks(q)), "nothing supported: verification's call");
        let leaning = answer(&[("股票翻倍的依据是《股票认购证抽签公证指引》。", 1)]);
        assert!(!answers_the_point(&leaning, &sources, &asks(q)), "backed only through the item's name");
        let named = answer(&[("股票认购证抽签公证指引的实施主体是广东省司法厅。", 1)]);
        assert!(answers_the_point(&named, &sources, &asks("股票认购证抽签公证找哪个部门")), "the rest is in the source too");
    }
}
