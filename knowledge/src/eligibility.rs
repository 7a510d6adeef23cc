//! Eligibility rules (免申即享 / 主动服务) as data: which residents a benefit item or a 一件事
//! bundle is for, written into the guide or bundle itself, so a rule is drafted, published,
//! rolled back and audited with the document it comes from.
//!
//! A rule is a list of conditions that must all hold. Each condition cites the section of its
//! document it restates (a JSON pointer such as `/conditions/0`), names a fact about the
//! resident ([`Fact`]: age, an e-licence or one of its fields, an earlier application, or
//! something only the resident can tell) and how to test it. Evaluation lives in the assistant
//! crate; this file defines the format and [`Eligibility::validate`], which names every problem
//! (an unknown fact, a test that cannot apply to it, a citation that points at nothing).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The rule of one benefit item or bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eligibility {
    /// How the city grants it once every condition holds.
    pub grant: Grant,
    /// One line for the offer, e.g. “年满80周岁的本市户籍老人按月领取高龄津贴”.
    pub summary: String,
    /// Every condition must hold.
    pub conditions: Vec<Condition>,
    /// What the resident gets, by band: the first band whose conditions all hold is shown
    /// (高龄津贴 by age, for instance). Empty when there is one standard.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bands: Vec<Band>,
}

/// `auto`: granted from the city's own records without an application (“已为您办理”);
/// `consent`: one tap submits a pre-filled application (“一键确认”).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    Auto,
    Consent,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// What this band gets, e.g. “90至99周岁：每人每月300元”.
    pub label: String,
    /// JSON pointer to the section it restates.
    pub cites: String,
    pub conditions: Vec<Condition>,
}

/// One condition: a test of a fact, or a group of which any one (`any`) or every one (`all`)
/// must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// The condition in words, shown to the resident (“年满八十周岁”).
    pub label: String,
    /// JSON pointer into the document (`/conditions/0`, `/faq/2/a`): the text this restates.
    pub cites: String,
    /// The fact tested, see [`Fact`]; absent for a group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<Op>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Holds when any of these holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any: Vec<Condition>,
    /// Holds when every one of these holds (inside an `any`: 男 and 60 or older).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub all: Vec<Condition>,
    /// A yes/no question for the resident when the records cannot tell (required for `stated`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ask: Option<Ask>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    /// Where the answer is kept for the resident, shared by rules that ask the same thing.
    pub key: String,
    /// The question, answered 是 or 否 (“您目前是否处于失业状态？”).
    pub question: String,
}

/// How a fact is tested. A fact may have several values (two birth certificates): the test
/// holds when any value passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// The fact has a value (an e-licence is held, an application exists).
    Exists,
    /// The fact has no value.
    Absent,
    Eq,
    Ne,
    /// Equal to one of `value` (an array).
    In,
    /// Contains `value` as text (签发机关 contains 示例市).
    Contains,
    /// A number at least `value`.
    Gte,
    /// A number at most `value`.
    Lte,
    /// A date no more than `value` days before today (and not in the future).
    WithinDays,
}

/// What a condition's `fact` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Whole years, from the profile's birth date, the ID number or the ID card e-licence.
    Age,
    /// 男 / 女, from the profile or the ID number.
    Gender,
    /// A profile key (`profile:address`).
    Profile(String),
    /// E-licences that are the resident's or name them (a child's birth certificate names the
    /// parents): `licence:出生医学证明` (exists) or one field, `licence:居民户口簿.签发机关`.
    /// `签发机关` and `签发日期` read the licence's issuer and issue date.
    Licence { licence: String, field: Option<String>, held_only: bool },
    /// The status of the resident's latest application for an item or bundle code.
    Application(String),
    /// Only the resident can tell: always asked (the condition's `ask`).
    Stated,
}

impl Fact {
    /// Parse `age`, `gender`, `profile:KEY`, `licence:TYPE[.FIELD]`, `held:TYPE[.FIELD]`
    /// (held by the resident themselves), `application:CODE` or `stated`.
    pub fn parse(s: &str) -> Result<Fact, String> {
        let (kind, rest) = s.split_once(':').unwrap_or((s, ""));
        let licence = |held_only| {
            let (licence, field) = match rest.split_once('.') {
                Some((l, f)) => (l, Some(f.to_string())),
                None => (rest, None),
            };
            if licence.is_empty() || field.as_deref() == Some("") {
                return Err(format!("事实 {s:?} 应写作 {kind}:证照名称 或 {kind}:证照名称.字段"));
            }
            Ok(Fact::Licence { licence: licence.to_string(), field, held_only })
        };
        match (kind, rest.is_empty()) {
            ("age", true) => Ok(Fact::Age),
            ("gender", true) => Ok(Fact::Gender),
            ("stated", true) => Ok(Fact::Stated),
            ("profile", false) => Ok(Fact::Profile(rest.to_string())),
            ("application", false) => Ok(Fact::Application(rest.to_string())),
            ("licence", false) => licence(false),
            ("held", false) => licence(true),
            _ => Err(format!(
                "未知的事实 {s:?}：可用 age、gender、profile:键、licence:证照[.字段]、held:证照[.字段]、application:事项编码、stated"
            )),
        }
    }

    /// Whether an e-licence is held: only `exists` / `absent` apply.
    fn is_presence(&self) -> bool {
        matches!(self, Fact::Licence { field: None, .. })
    }
}

impl Eligibility {
    /// Every problem with this rule; `doc` is the document it is part of, as JSON (citations
    /// must point at non-empty text in it). Empty = valid.
    pub fn validate(&self, doc: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        if self.summary.trim().is_empty() {
            problems.push("免申即享规则缺少说明（summary）".into());
        }
        if self.conditions.is_empty() {
            problems.push("免申即享规则至少要有一个条件".into());
        }
        for (i, c) in self.conditions.iter().enumerate() {
            check(c, &format!("第 {} 个条件", i + 1), doc, &mut problems);
        }
        for (i, b) in self.bands.iter().enumerate() {
            let at = format!("第 {} 档", i + 1);
            if b.label.trim().is_empty() {
                problems.push(format!("免申即享规则{at}缺少说明"));
            }
            check_cite(&b.cites, &at, doc, &mut problems);
            for (j, c) in b.conditions.iter().enumerate() {
                check(c, &format!("{at}第 {} 个条件", j + 1), doc, &mut problems);
            }
        }
        problems
    }
}

fn check(c: &Condition, at: &str, doc: &Value, problems: &mut Vec<String>) {
    let mut mine = Vec::new();
    let mut say = |p: String| mine.push(format!("免申即享规则{at}：{p}"));
    if c.label.trim().is_empty() {
        say("缺少条件说明（label）".into());
    }
    if let Some(ask) = &c.ask {
        let key_ok = !ask.key.is_empty() && ask.key.len() <= 64 && ask.key.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !key_ok {
            say(format!("询问的键 {:?} 须为 1–64 位字母、数字或 _", ask.key));
        }
        if ask.question.trim().is_empty() {
            say("询问缺少问题".into());
        }
    }
    let groups = usize::from(!c.any.is_empty()) + usize::from(!c.all.is_empty());
    match (&c.fact, groups) {
        (Some(_), 1..) | (None, 2..) => say("fact、any、all 只能写其中一种".into()),
        (None, 0) => say("须写 fact（要检查的事实）、any（任一成立）或 all（全部成立）".into()),
        (None, _) => {
            if c.op.is_some() || c.value.is_some() {
                say("条件组（any / all）不能有 op 或 value".into());
            }
        }
        (Some(fact), 0) => match Fact::parse(fact) {
            Err(e) => say(e),
            Ok(f) => {
                if let Err(e) = check_test(&f, c.op, c.value.as_ref()) {
                    say(e);
                }
                if f == Fact::Stated && c.ask.is_none() {
                    say("stated 事实只能由本人回答，须写 ask".into());
                }
            }
        },
    }
    problems.append(&mut mine);
    for (i, sub) in c.any.iter().enumerate() {
        check(sub, &format!("{at}（任一条件第 {} 项）", i + 1), doc, problems);
    }
    for (i, sub) in c.all.iter().enumerate() {
        check(sub, &format!("{at}（全部条件第 {} 项）", i + 1), doc, problems);
    }
    check_cite(&c.cites, at, doc, problems);
}

/// The op fits the fact and the value fits the op.
fn check_test(fact: &Fact, op: Option<Op>, value: Option<&Value>) -> Result<(), String> {
    let op = op.ok_or("缺少 op（检查方式）")?;
    if *fact == Fact::Stated {
        return match (op, value) {
            (Op::Eq, Some(Value::String(v))) if v == "是" || v == "否" => Ok(()),
            _ => Err("stated 事实只能写 op \"eq\"、value \"是\" 或 \"否\"".into()),
        };
    }
    match op {
        Op::Exists | Op::Absent => match value {
            None => Ok(()),
            Some(_) => Err("exists / absent 不带 value".into()),
        },
        _ if fact.is_presence() => Err("证照是否持有只能用 exists / absent 检查；检查字段请写 licence:证照.字段".into()),
        Op::Eq | Op::Ne | Op::Contains => match value {
            Some(Value::String(s)) if !s.is_empty() => Ok(()),
            Some(Value::Number(_)) => Ok(()),
            _ => Err(format!("{op:?} 须有非空的 value")),
        },
        Op::In => match value {
            Some(Value::Array(a)) if !a.is_empty() && a.iter().all(Value::is_string) => Ok(()),
            _ => Err("in 的 value 须为非空的文字列表".into()),
        },
        Op::Gte | Op::Lte => match value {
            Some(Value::Number(_)) => Ok(()),
            _ => Err(format!("{op:?} 的 value 须为数字")),
        },
        Op::WithinDays => match value.and_then(Value::as_u64) {
            Some(d) if d > 0 => Ok(()),
            _ => Err("within_days 的 value 须为正整数（天数）".into()),
        },
    }
}

fn check_cite(pointer: &str, at: &str, doc: &Value, problems: &mut Vec<String>) {
    match cited(doc, pointer) {
        Some(_) => {}
        None => problems.push(format!("免申即享规则{at}：引用 {pointer:?} 在本事项中找不到文字（应写作 /conditions/0 这样的位置）")),
    }
}

/// The non-empty text a citation points at in `doc`.
pub fn cited<'a>(doc: &'a Value, pointer: &str) -> Option<&'a str> {
    if !pointer.starts_with('/') || pointer.starts_with("/eligibility") {
        return None;
    }
    doc.pointer(pointer).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// Where a citation points, in words: `/conditions/1` → “受理条件第 2 条”.
pub fn section_zh(pointer: &str) -> String {
    let mut parts = pointer.trim_start_matches('/').split('/');
    let section = match parts.next().unwrap_or_default() {
        "conditions" => "受理条件",
        "faq" => "常见问题",
        "legal_basis" => "设定依据",
        "process" => "办理流程",
        "materials" => "申请材料",
        "summary" => "事项说明",
        "items" => "包含事项",
        _ => "办事指南",
    };
    match parts.next().and_then(|i| i.parse::<usize>().ok()) {
        Some(i) => format!("{section}第 {} 条", i + 1),
        None => section.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(conditions: Value) -> Eligibility {
        serde_json::from_value(json!({"grant": "auto", "summary": "年满80周岁按月领取", "conditions": conditions})).unwrap()
    }

    #[test]
    fn facts_parse_and_unknown_ones_are_named() {
        assert_eq!(Fact::parse("age").unwrap(), Fact::Age);
        assert_eq!(
            Fact::parse("held:残疾人证.残疾等级").unwrap(),
            Fact::Licence { licence: "残疾人证".into(), field: Some("残疾等级".into()), held_only: true }
        );
        assert_eq!(Fact::parse("application:SAMPLE-MZ-004").unwrap(), Fact::Application("SAMPLE-MZ-004".into()));
        assert!(Fact::parse("income").unwrap_err().contains("income"));
        assert!(Fact::parse("licence:").is_err());
        assert!(Fact::parse("licence:户口簿.").is_err());
    }

    #[test]
    fn a_valid_rule_cites_text_of_its_document() {
        let doc = json!({"conditions": ["年满八十周岁", "具有本市户籍"], "faq": [{"q": "多少钱", "a": "每月100元"}]});
        let r = rule(json!([
            {"label": "年满80周岁", "cites": "/conditions/0", "fact": "age", "op": "gte", "value": 80},
            {"label": "本市户籍", "cites": "/conditions/1", "any": [
                {"label": "户口簿为本市签发", "cites": "/conditions/1", "fact": "licence:居民户口簿.签发机关", "op": "contains", "value": "示例市"},
                {"label": "本人确认", "cites": "/conditions/1", "fact": "stated", "op": "eq", "value": "是", "ask": {"key": "local_hukou", "question": "您是否为本市户籍？"}}
            ]}
        ]));
        assert_eq!(r.validate(&doc), Vec::<String>::new());
        assert_eq!(cited(&doc, "/faq/0/a"), Some("每月100元"));
        assert_eq!(section_zh("/conditions/1"), "受理条件第 2 条");
    }

    #[test]
    fn every_problem_is_named() {
        let doc = json!({"conditions": ["年满八十周岁"]});
        let r = rule(json!([
            {"label": "年龄", "cites": "/conditions/5", "fact": "age", "op": "gte", "value": "八十"},
            {"label": "有证", "cites": "/conditions/0", "fact": "licence:残疾人证", "op": "eq", "value": "一级"},
            {"label": "自述", "cites": "/conditions/0", "fact": "stated", "op": "eq", "value": "是"},
            {"label": "", "cites": "/eligibility/summary", "fact": "salary", "op": "gte", "value": 1},
            {"label": "空组", "cites": "/conditions/0"}
        ]));
        let p = r.validate(&doc).join("\n");
        for needle in
            ["/conditions/5", "须为数字", "exists / absent", "须写 ask", "缺少条件说明", "salary", "/eligibility/summary", "须写 fact"]
        {
            assert!(p.contains(needle), "{needle} missing from:\n{p}");
        }
    }
}
