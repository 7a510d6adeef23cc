//! One citizen message, understood once: what it asks, what it refers to, and what it carries.
//!
//! [`Turn::read`] runs every rule and the classifier over the text before anything is decided;
//! the handlers in [`crate::engine`] read its fields and never parse the text again.

use std::sync::LazyLock;

use regex::Regex;

use crate::appeal::Appeal;
use crate::deployment::{Deployment, Elsewhere, Referral};
use crate::engine::{Clarifying, ItemRef};
use crate::intent::{self, Aspect};

/// Tracking numbers: `BS` + date + six digits. Not `\b`: a Chinese character is a word
/// character, and numbers sit inside sentences.
static TRACKING: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)(?:^|[^A-Za-z0-9])(BS\d{14})(?:$|[^0-9])").expect("static regex"));
static PROGRESS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"进度|办到哪|办得怎么样|什么状态|审核到").expect("static regex"));
static APPLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:我)?(?:要|想|现在|马上|立即|开始)?(?:办理|申请|填表|办|一表填报|在线办理|开始办理)(?:吧|一下|这个|这件事|一件事)?[。！!]?$|开始办理|立即办理|我要办理|我要申请|一表填报").expect("static regex")
});
static CANCEL: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:取消|不办了|退出|算了|先不办|取消办理)").expect("static regex"));

/// Words that make a message a question rather than a value typed into a form.
const QUESTION_WORDS: [&str; 5] = ["吗", "怎么", "多少", "哪", "什么"];

/// What a message asks about applications in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProgressAsk {
    /// The application with this tracking number (upper-cased).
    Number(String),
    /// The citizen's own applications (“我的申请办到哪了”).
    Mine,
}

/// An answer to a clarifying question: the item picked for the question asked before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Picked {
    pub item: ItemRef,
    pub question: String,
    pub aspects: Vec<Aspect>,
}

/// A citizen message, read once.
#[derive(Debug, Clone)]
pub struct Turn<'d> {
    /// The message, trimmed.
    pub text: String,
    /// The classifier's reading: appeal type, domain, anger, asking for a person.
    pub appeal: Appeal,
    /// The aspects of an item it asks about, most specific first (`General` when none).
    pub aspects: Vec<Aspect>,
    /// A short question about the item already under discussion (“那要多久？”).
    pub follow_up: bool,
    /// Asks to start applying (“我要办理”).
    pub applies: bool,
    /// Asks to stop filling the open form (“不办了”).
    pub cancels: bool,
    /// Reads as a question: inside a form it is answered, not taken as a field value.
    pub question_like: bool,
    /// Asks about an application's progress.
    pub progress: Option<ProgressAsk>,
    /// The option of the pending clarifying question that this message picks.
    pub picked: Option<Picked>,
    /// A kind of matter no city department handles, named by its words.
    pub topic: Option<&'d Referral>,
    /// Where the question is sent instead of the queue: `topic`, else another region's rules.
    pub elsewhere: Option<Elsewhere<'d>>,
}

impl<'d> Turn<'d> {
    /// Read `text` (already trimmed, not empty) classified as `appeal`, in a conversation whose
    /// pending clarifying question is `clarifying`.
    pub fn read(text: &str, appeal: Appeal, clarifying: Option<&Clarifying>, deployment: &'d Deployment) -> Self {
        let aspects = intent::aspects(text);
        let topic = deployment.topic_of(text);
        let elsewhere = topic.map(Elsewhere::Topic).or_else(|| deployment.other_region(text).map(Elsewhere::OtherRegion));
        Turn {
            follow_up: intent::is_follow_up(text),
            applies: APPLY.is_match(text),
            cancels: CANCEL.is_match(text),
            question_like: text.contains(['？', '?']) || QUESTION_WORDS.iter().any(|w| text.contains(w)),
            progress: progress_ask(text),
            picked: clarifying.and_then(|c| {
                let item = pick_option(text, &c.options)?.clone();
                Some(Picked { item, question: c.question.clone(), aspects: c.aspects.clone() })
            }),
            text: text.to_string(),
            appeal,
            aspects,
            topic,
            elsewhere,
        }
    }

    /// The main aspect asked.
    pub fn aspect(&self) -> Aspect {
        self.aspects.first().copied().unwrap_or(Aspect::General)
    }
}

fn progress_ask(text: &str) -> Option<ProgressAsk> {
    match TRACKING.captures(text).and_then(|c| c.get(1)) {
        Some(m) => Some(ProgressAsk::Number(m.as_str().to_uppercase())),
        None => PROGRESS.is_match(text).then_some(ProgressAsk::Mine),
    }
}

/// Which clarification option a reply picks: its number, its name, or a distinctive part.
fn pick_option<'a>(reply: &str, options: &'a [ItemRef]) -> Option<&'a ItemRef> {
    let r = reply.trim_end_matches(['。', '.', '！']);
    let ordinal =
        ["1", "2", "3"].iter().zip(["第一", "第二", "第三"]).position(|(d, w)| r == *d || r.starts_with(w) || r == format!("{d}."));
    if let Some(i) = ordinal {
        return options.get(i);
    }
    options.iter().find(|o| r.contains(&o.name) || (r.chars().count() >= 2 && o.name.contains(r)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appeal::AppealType;

    fn opts() -> Vec<ItemRef> {
        ["居民身份证换领", "临时居民身份证申领", "居民身份证首次申领"]
            .iter()
            .map(|n| ItemRef { code: n.to_string(), name: n.to_string() })
            .collect()
    }

    fn read<'d>(text: &str, d: &'d Deployment) -> Turn<'d> {
        let clarifying = Clarifying { question: "身份证".into(), options: opts(), aspects: vec![Aspect::General] };
        let appeal =
            Appeal { kind: AppealType::Consult, confidence: 0.9, domain: None, domain_confidence: 0.0, angry: 0.0, asks_human: false };
        Turn::read(text, appeal, Some(&clarifying), d)
    }

    #[test]
    fn clarification_replies_pick_an_option() {
        let d = Deployment::bundled();
        assert_eq!(read("2", &d).picked.unwrap().item.name, "临时居民身份证申领");
        assert_eq!(read("第三个", &d).picked.unwrap().item.name, "居民身份证首次申领");
        assert_eq!(read("临时居民身份证", &d).picked.unwrap().item.name, "临时居民身份证申领");
        assert!(read("我想办护照", &d).picked.is_none());
    }

    #[test]
    fn one_reading_carries_every_rule() {
        let d = Deployment::bundled();
        let t = read("那要多久？", &d);
        assert!(t.follow_up && t.question_like && !t.applies);
        assert_eq!(t.aspect(), Aspect::TimeLimit);
        assert!(read("我要办理", &d).applies);
        assert!(read("不办了", &d).cancels);
        assert_eq!(read("bs20261201000001办到哪了", &d).progress, Some(ProgressAsk::Number("BS20261201000001".into())));
        assert_eq!(read("我的申请审核到哪一步了", &d).progress, Some(ProgressAsk::Mine));
        let t = read("我要起诉房东", &d);
        assert!(t.topic.is_some() && matches!(t.elsewhere, Some(Elsewhere::Topic(_))));
        assert!(matches!(read("杭州的居住证积分怎么算", &d).elsewhere, Some(Elsewhere::OtherRegion(_))));
    }
}
