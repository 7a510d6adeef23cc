//! Handing a conversation to a person: why, to which department, how urgently, and the summary
//! an agent reads first (what the citizen wants, what the assistant already answered, what is
//! still missing).
//!
//! The policy itself — when to hand off — lives in the engine; this module describes a handoff
//! and summarises the transcript. Summaries are built from the transcript by rule, not by the
//! model: an agent must be able to trust every line of it.

use serde::{Deserialize, Serialize};

use crate::appeal::Appeal;
use crate::deployment::Deployment;
use crate::ItemRef;

/// Why a conversation goes to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    /// The citizen asked for a person.
    AskedHuman,
    /// A complaint or a request for help: people and departments must act.
    Complaint,
    /// Retrieval stayed unsure after one clarifying question.
    LowConfidence,
    /// The citizen is angry.
    Angry,
    /// Filling a form failed twice.
    FormFailed,
    /// Pre-review of materials failed twice.
    PrereviewFailed,
    /// A 不满意 / 非常不满意 rating: 整改 / 回访.
    BadRating,
}

impl HandoffReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoffReason::AskedHuman => "asked_human",
            HandoffReason::Complaint => "complaint",
            HandoffReason::LowConfidence => "low_confidence",
            HandoffReason::Angry => "angry",
            HandoffReason::FormFailed => "form_failed",
            HandoffReason::PrereviewFailed => "prereview_failed",
            HandoffReason::BadRating => "bad_rating",
        }
    }

    /// Shown to citizens and agents.
    pub fn label(self) -> &'static str {
        match self {
            HandoffReason::AskedHuman => "市民要求人工服务",
            HandoffReason::Complaint => "投诉或求助，需人工处理",
            HandoffReason::LowConfidence => "知识库未能解答",
            HandoffReason::Angry => "市民情绪激动，需人工安抚",
            HandoffReason::FormFailed => "表单填写多次未通过",
            HandoffReason::PrereviewFailed => "材料预审多次未通过",
            HandoffReason::BadRating => "不满意评价，需整改回访",
        }
    }

    /// 1 = urgent, 2 = normal. Complaints, anger and bad ratings go first.
    pub fn priority(self) -> i64 {
        match self {
            HandoffReason::Complaint | HandoffReason::Angry | HandoffReason::BadRating => 1,
            _ => 2,
        }
    }

    /// What the agent still has to do, in one line.
    pub fn missing(self) -> &'static str {
        match self {
            HandoffReason::AskedHuman => "市民希望与人工客服沟通，请了解具体诉求",
            HandoffReason::Complaint => "需核实情况并转交责任部门处理，答复市民办理结果",
            HandoffReason::LowConfidence => "知识库没有可靠答案，请人工答复；如属常见问题，可转为知识",
            HandoffReason::Angry => "请先安抚情绪，再确认诉求",
            HandoffReason::FormFailed => "协助市民完成表单填写",
            HandoffReason::PrereviewFailed => "协助市民准备和补正材料",
            HandoffReason::BadRating => "回访市民，了解不满意原因并整改",
        }
    }
}

/// The engine's decision to hand off, with what it knew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Handoff {
    pub reason: HandoffReason,
    /// The message that triggered it.
    pub question: String,
    pub appeal: Option<Appeal>,
    /// The item under discussion, if any.
    pub item: Option<ItemRef>,
    /// The item's implementing department, when known.
    pub item_department: Option<String>,
}

impl Handoff {
    /// The department the ticket is suggested for: the item's, else the deployment's
    /// department for the classified domain.
    pub fn department(&self, deployment: &Deployment) -> Option<String> {
        self.item_department
            .clone()
            .or_else(|| self.appeal.as_ref().and_then(|a| a.domain.as_deref()).map(|d| deployment.department_for(d).to_string()))
    }
}

/// One message of the transcript, as the summary needs it.
#[derive(Debug, Clone)]
pub struct Turn<'a> {
    /// `user`, `assistant`, `agent` or `system`.
    pub role: &'a str,
    pub text: &'a str,
    /// Outcome kind of an assistant message (`generated`, `extractive`, `declined` …).
    pub kind: Option<&'a str>,
    /// Name of the item an assistant message answered about.
    pub item: Option<&'a str>,
}

/// The summary at the top of a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    /// What the citizen wants: their messages, most recent last (at most three, shortened).
    pub wants: Vec<String>,
    /// What the citizen was already answered (by the assistant or an agent), one line each,
    /// most recent last (at most five): the item and the question for answers from the guides,
    /// what was introduced, filled, submitted or pre-reviewed otherwise.
    pub answered: Vec<String>,
    /// What is still missing for the agent to do.
    pub missing: String,
    pub reason: String,
    pub appeal_type: Option<String>,
    pub domain: Option<String>,
    pub department: Option<String>,
    pub item: Option<String>,
}

fn short(s: &str, n: usize) -> String {
    let t: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        format!("{t}…")
    } else {
        t
    }
}

/// Lines of [`Summary::answered`] kept (the most recent; the transcript has the rest).
const MAX_ANSWERED: usize = 5;

/// Outcome kinds of assistant messages that answer nothing: the assistant asked back, declined,
/// chatted, handed off, took a suggestion or found the question out of scope.
const NOT_ANSWERS: [&str; 6] = ["clarified", "declined", "small_talk", "handoff", "suggestion", "out_of_scope"];

/// What message `t` answered, as one summary line (`question` is the citizen's message before
/// it), or None when it answered nothing. Every assistant message with an outcome kind is an
/// answer unless its kind is in [`NOT_ANSWERS`] (an interrupted answer has no kind), so a kind
/// added later is summarised rather than silently left out; an agent's reply is an answer too.
fn answered_line(t: &Turn<'_>, question: &str) -> Option<String> {
    let q = short(question, 40);
    match t.role {
        "agent" => return Some(format!("人工客服已答复：{}", short(t.text, 40))),
        "assistant" => {}
        _ => return None,
    }
    let kind = t.kind?;
    if NOT_ANSWERS.contains(&kind) {
        return None;
    }
    Some(match kind {
        "generated" | "extractive" => format!("已就“{}”答复：{q}", t.item.unwrap_or("办事指南")),
        "curated" => format!("已以标准答复答复：{q}"),
        "bundle" => format!("已介绍“{}”：{q}", t.item.unwrap_or("一件事")),
        "form_step" => "已协助在线填写申请表".to_string(),
        "submitted" => format!("已提交申请：{}", short(t.text, 50)),
        "progress" => format!("已答复办理进度：{}", short(t.text, 50)),
        "prereview" => format!("已预审材料：{}", short(t.text, 50)),
        _ => match t.item {
            Some(item) => format!("已就“{item}”答复：{q}"),
            None => format!("已答复：{q}"),
        },
    })
}

/// Summarise `transcript` (oldest first) for a handoff.
pub fn summarise(transcript: &[Turn<'_>], h: &Handoff, deployment: &Deployment) -> Summary {
    let substantive = |t: &&Turn<'_>| t.role == "user" && t.text.chars().count() > 2;
    let mut wants: Vec<String> = transcript.iter().filter(substantive).map(|t| short(t.text, 80)).collect();
    if wants.is_empty() {
        wants.push(short(&h.question, 80));
    }
    let wants = wants.split_off(wants.len().saturating_sub(3));
    let mut answered: Vec<String> = Vec::new();
    let mut last_question = "";
    for t in transcript {
        if t.role == "user" {
            if t.kind != Some("upload") {
                last_question = t.text;
            }
            continue;
        }
        if let Some(line) = answered_line(t, last_question) {
            if answered.last() != Some(&line) {
                answered.push(line);
            }
        }
    }
    let answered = answered.split_off(answered.len().saturating_sub(MAX_ANSWERED));
    Summary {
        wants,
        answered,
        missing: h.reason.missing().to_string(),
        reason: h.reason.label().to_string(),
        appeal_type: h.appeal.as_ref().map(|a| a.kind.label().to_string()),
        domain: h.appeal.as_ref().and_then(|a| a.domain.clone()),
        department: h.department(deployment),
        item: h.item.as_ref().map(|i| i.name.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appeal::AppealType;

    fn turn<'a>(role: &'a str, text: &'a str, kind: Option<&'a str>, item: Option<&'a str>) -> Turn<'a> {
        Turn { role, text, kind, item }
    }

    #[test]
    fn summary_says_what_is_wanted_answered_and_missing() {
        let appeal = Appeal {
            kind: AppealType::ComplaintHelp,
            confidence: 0.9,
            domain: Some("城建".into()),
            domain_confidence: 0.8,
            angry: 0.7,
            asks_human: false,
        };
        let h = Handoff {
            reason: HandoffReason::Complaint,
            question: "物业不修电梯".into(),
            appeal: Some(appeal),
            item: None,
            item_department: None,
        };
        let transcript = [
            turn("user", "换身份证要带什么？", None, None),
            turn("assistant", "需要原居民身份证[1]。", Some("extractive"), Some("居民身份证换领")),
            turn("user", "好", None, None),
            turn("user", "我们小区电梯坏了一个月物业不修", None, None),
        ];
        let s = summarise(&transcript, &h, &Deployment::bundled());
        assert_eq!(s.wants, ["换身份证要带什么？", "我们小区电梯坏了一个月物业不修"], "short replies are not wants");
        assert_eq!(s.answered, ["已就“居民身份证换领”答复：换身份证要带什么？"]);
        assert_eq!(s.department.as_deref(), Some("示例市住房和城乡建设局"));
        assert_eq!(s.appeal_type.as_deref(), Some("投诉/求助"));
        assert!(s.missing.contains("责任部门"));
        assert_eq!(HandoffReason::Complaint.priority(), 1);
        assert_eq!(HandoffReason::LowConfidence.priority(), 2);
    }

    /// Every way the assistant answers is summarised, not only answers from the guides' text
    /// (the field trial's ticket after a 一件事 card said “已答复 无”).
    #[test]
    fn every_kind_of_answer_is_summarised_and_non_answers_are_not() {
        let h =
            Handoff { reason: HandoffReason::AskedHuman, question: "转人工".into(), appeal: None, item: None, item_department: None };
        let transcript = [
            turn("user", "孩子刚出生，要办哪些手续？", None, None),
            turn("assistant", "可以一次办好新生儿出生一件事……", Some("bundle"), Some("新生儿出生一件事")),
            turn("user", "开始办理", None, None),
            turn("assistant", "已为您预填……", Some("form_step"), None),
            turn("user", "随母", None, None),
            turn("assistant", "还需要……", Some("form_step"), None),
            turn("assistant", "“新生儿出生一件事”已提交，受理编号 BS20261204000001。", Some("submitted"), None),
            turn("user", "社保卡丢了怎么办", None, None),
            turn("assistant", "请问是哪一项？", Some("clarified"), None),
            turn("user", "天气怎么样", None, None),
            turn("assistant", "抱歉……", Some("out_of_scope"), None),
            turn("user", "公积金怎么提取", None, None),
            turn("assistant", "提取公积金需……", Some("curated"), None),
            turn("user", "还有问题", None, None),
            turn("assistant", "回答中断", None, None),
            turn("agent", "您好，已为您查询，材料齐全。", None, None),
            turn("user", "转人工", None, None),
            turn("assistant", "已为您转接人工客服", Some("handoff"), None),
        ];
        let s = summarise(&transcript, &h, &Deployment::bundled());
        assert_eq!(
            s.answered,
            [
                "已介绍“新生儿出生一件事”：孩子刚出生，要办哪些手续？",
                "已协助在线填写申请表",
                "已提交申请：“新生儿出生一件事”已提交，受理编号 BS20261204000001。",
                "已以标准答复答复：公积金怎么提取",
                "人工客服已答复：您好，已为您查询，材料齐全。",
            ]
        );
        // Repeated lines collapse; a long conversation keeps its most recent answers.
        let same: Vec<Turn<'_>> = (0..3)
            .flat_map(|_| {
                [turn("user", "换身份证要带什么？", None, None), turn("assistant", "原证件", Some("extractive"), Some("居民身份证换领"))]
            })
            .collect();
        assert_eq!(summarise(&same, &h, &Deployment::bundled()).answered, ["已就“居民身份证换领”答复：换身份证要带什么？"]);
        let questions: Vec<String> = (1..=8).map(|i| format!("第{i}个问题")).collect();
        let many: Vec<Turn<'_>> =
            questions.iter().flat_map(|q| [turn("user", q, None, None), turn("assistant", "答", Some("generated"), None)]).collect();
        let s = summarise(&many, &h, &Deployment::bundled());
        assert_eq!(s.answered.len(), 5, "{:?}", s.answered);
        assert_eq!((s.answered[0].as_str(), s.answered[4].as_str()), ("已就“办事指南”答复：第4个问题", "已就“办事指南”答复：第8个问题"));
    }

    #[test]
    fn the_item_department_wins_over_the_domain() {
        let h = Handoff {
            reason: HandoffReason::AskedHuman,
            question: "转人工".into(),
            appeal: None,
            item: Some(ItemRef { code: "X".into(), name: "居民身份证换领".into() }),
            item_department: Some("示例市公安局".into()),
        };
        assert_eq!(h.department(&Deployment::bundled()).as_deref(), Some("示例市公安局"));
        assert_eq!(summarise(&[], &h, &Deployment::bundled()).wants, ["转人工"]);
    }
}
