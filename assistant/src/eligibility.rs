//! Evaluating eligibility rules (免申即享) against what the city knows about one resident: their
//! profile, their e-licences, their applications, and the yes/no answers they gave to earlier
//! questions. The result explains itself: each condition held, failed or is unknown, with the
//! evidence and the guide text it restates, so an offer never states an unknown fact as known.
//!
//! Three-valued: a condition whose fact has no record is unknown (not failed) unless the fact is
//! a presence the city's own records settle (an e-licence, an application). A resident's answer
//! settles an unknown condition that carries a question, and is marked as their own statement;
//! it never overrides a record.

use std::collections::BTreeMap;

use banshi_knowledge::eligibility::{cited, section_zh, Ask, Condition, Eligibility, Fact, Op};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::forms::prefill::{ELicence, Profile};

/// What is known about one resident.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub profile: Profile,
    pub licences: Vec<ELicence>,
    /// Item or bundle code → status of the resident's latest application for it.
    pub applications: BTreeMap<String, String>,
    /// Question key → “是” / “否”, as the resident answered.
    pub stated: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Held,
    Failed,
    Unknown,
}

/// One condition as evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Check {
    pub label: String,
    pub state: State,
    /// What decided it, in words (“出生日期 1946-11-20，现年 80 周岁”; “您答复：是”).
    pub evidence: String,
    /// Decided by the resident's own answer, not by a record.
    pub stated: bool,
    /// Held because something is there (a licence, an age), not because something is absent
    /// (no application yet): only such a condition makes a resident someone to ask.
    #[serde(skip)]
    pub affirmative: bool,
    /// Where the rule comes from (“受理条件第 1 条”) and that text.
    pub source: String,
    pub source_text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every condition held.
    Eligible,
    /// None failed, some are unknown.
    Possible,
    /// At least one failed.
    NotEligible,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Verdict {
    pub outcome: Outcome,
    pub checks: Vec<Check>,
    /// The band that applies (“80至89周岁：每人每月100元”), when the rule has bands.
    pub band: Option<String>,
    /// Questions that would settle the unknown conditions, each once.
    pub questions: Vec<Ask>,
}

impl Verdict {
    /// At least one condition held on something the city's records show (not on the resident's
    /// word, not on the absence of a record):
    /// without one, a “possible” offer would be a guess about a stranger.
    pub fn has_record_evidence(&self) -> bool {
        self.checks.iter().any(|c| c.state == State::Held && !c.stated && c.affirmative)
    }
}

/// Evaluate `rule` (part of `doc`, where its citations point) for one resident on `today`.
pub fn evaluate(rule: &Eligibility, doc: &Value, facts: &Facts, today: NaiveDate) -> Verdict {
    let ctx = Ctx { facts, today, doc };
    let mut questions = Vec::new();
    let checks: Vec<Check> = rule.conditions.iter().map(|c| ctx.check(c, &mut questions)).collect();
    let outcome = if checks.iter().any(|c| c.state == State::Failed) {
        Outcome::NotEligible
    } else if checks.iter().all(|c| c.state == State::Held) {
        Outcome::Eligible
    } else {
        Outcome::Possible
    };
    if outcome == Outcome::NotEligible {
        questions.clear();
    }
    let band = rule
        .bands
        .iter()
        .find(|b| b.conditions.iter().all(|c| ctx.check(c, &mut Vec::new()).state == State::Held))
        .map(|b| b.label.clone());
    Verdict { outcome, checks, band, questions }
}

struct Ctx<'a> {
    facts: &'a Facts,
    today: NaiveDate,
    doc: &'a Value,
}

impl Ctx<'_> {
    fn check(&self, c: &Condition, questions: &mut Vec<Ask>) -> Check {
        let (mut state, mut evidence, affirmative) = match &c.fact {
            Some(fact) => self.leaf(fact, c),
            None if !c.all.is_empty() => self.all(&c.all, questions),
            None => self.any(&c.any, questions),
        };
        let mut stated = false;
        if state == State::Unknown {
            if let Some(ask) = &c.ask {
                // 是 means the condition holds, unless a `stated` condition expects 否.
                let expected = c.value.as_ref().and_then(Value::as_str).filter(|_| c.fact.as_deref() == Some("stated")).unwrap_or("是");
                match self.facts.stated.get(&ask.key).map(String::as_str) {
                    Some(answer @ ("是" | "否")) => {
                        state = if answer == expected { State::Held } else { State::Failed };
                        evidence = format!("您答复“{}”：{answer}", ask.question);
                        stated = true;
                    }
                    _ => {
                        if !questions.iter().any(|q| q.key == ask.key) {
                            questions.push(ask.clone());
                        }
                    }
                }
            }
        }
        Check {
            label: c.label.clone(),
            state,
            evidence,
            stated,
            affirmative,
            source: section_zh(&c.cites),
            source_text: cited(self.doc, &c.cites).unwrap_or_default().to_string(),
        }
    }

    /// Any of `subs`: held when one holds, failed when all fail.
    fn any(&self, subs: &[Condition], questions: &mut Vec<Ask>) -> (State, String, bool) {
        let mut own = Vec::new();
        let checks: Vec<Check> = subs.iter().map(|c| self.check(c, &mut own)).collect();
        if let Some(held) = checks.iter().find(|c| c.state == State::Held) {
            return (State::Held, format!("{}：{}", held.label, held.evidence), held.affirmative && !held.stated);
        }
        let evidence = joined(&checks);
        if checks.iter().all(|c| c.state == State::Failed) {
            return (State::Failed, evidence, false);
        }
        merge(questions, own);
        (State::Unknown, evidence, false)
    }

    /// All of `subs`: failed when one fails, held when all hold.
    fn all(&self, subs: &[Condition], questions: &mut Vec<Ask>) -> (State, String, bool) {
        let mut own = Vec::new();
        let checks: Vec<Check> = subs.iter().map(|c| self.check(c, &mut own)).collect();
        let evidence = joined(&checks);
        if checks.iter().any(|c| c.state == State::Failed) {
            return (State::Failed, evidence, false);
        }
        if checks.iter().all(|c| c.state == State::Held) {
            return (State::Held, evidence, checks.iter().any(|c| c.affirmative && !c.stated));
        }
        merge(questions, own);
        (State::Unknown, evidence, false)
    }

    fn leaf(&self, fact: &str, c: &Condition) -> (State, String, bool) {
        let Ok(fact) = Fact::parse(fact) else {
            // Rules are validated on save; an old stored one that no longer parses decides nothing.
            return (State::Unknown, "规则无法识别，需人工核实".into(), false);
        };
        let (values, described) = self.values(&fact);
        let Some(values) = values else {
            return (State::Unknown, described, false);
        };
        let op = c.op.unwrap_or(Op::Exists);
        let held = match op {
            Op::Exists => !values.is_empty(),
            Op::Absent => values.is_empty(),
            Op::Ne => values.iter().all(|v| !same(v, c.value.as_ref())),
            _ => values.iter().any(|v| self.passes(v, op, c.value.as_ref())),
        };
        let affirmative = !matches!(op, Op::Absent | Op::Ne);
        (if held { State::Held } else { State::Failed }, described, held && affirmative)
    }

    fn passes(&self, v: &str, op: Op, want: Option<&Value>) -> bool {
        let number = |x: &str| x.trim().parse::<f64>().ok();
        match (op, want) {
            (Op::Eq, w) => same(v, w),
            (Op::In, Some(Value::Array(a))) => a.iter().any(|w| same(v, Some(w))),
            (Op::Contains, Some(w)) => v.contains(&text(w)),
            (Op::Gte, Some(w)) => number(v).zip(w.as_f64()).is_some_and(|(x, w)| x >= w),
            (Op::Lte, Some(w)) => number(v).zip(w.as_f64()).is_some_and(|(x, w)| x <= w),
            (Op::WithinDays, Some(w)) => date(v).zip(w.as_i64()).is_some_and(|(d, n)| {
                let days = (self.today - d).num_days();
                (0..=n).contains(&days)
            }),
            _ => false,
        }
    }

    /// The fact's values (`None`: unknown) and a description of what the records say.
    fn values(&self, fact: &Fact) -> (Option<Vec<String>>, String) {
        let f = self.facts;
        match fact {
            Fact::Age => match birth_date(f) {
                Some(b) => {
                    let age = years_between(b, self.today);
                    (Some(vec![age.to_string()]), format!("出生日期 {b}，现年 {age} 周岁"))
                }
                None => (None, "档案和证照中没有出生日期".into()),
            },
            Fact::Gender => match gender(f) {
                Some(g) => (Some(vec![g.clone()]), format!("性别：{g}")),
                None => (None, "档案中没有性别".into()),
            },
            Fact::Profile(key) => match f.profile.get(key).filter(|v| !v.trim().is_empty()) {
                Some(v) => (Some(vec![v.clone()]), format!("档案：{v}")),
                None => (None, "档案中没有这一项".into()),
            },
            Fact::Application(code) => match f.applications.get(code) {
                Some(status) => (Some(vec![status.clone()]), format!("已有申请（{}）", status_zh(status))),
                None => (Some(Vec::new()), "没有申请记录".into()),
            },
            Fact::Licence { licence, field, held_only } => {
                let mine: Vec<&ELicence> = f
                    .licences
                    .iter()
                    .filter(|l| &l.licence_type == licence && valid_on(l, self.today))
                    .filter(|l| !held_only || own_id(f).is_some_and(|id| id == l.holder_id))
                    .collect();
                match field {
                    None if mine.is_empty() => (Some(Vec::new()), format!("电子证照库中没有您的《{licence}》")),
                    None => (Some(mine.iter().map(|l| l.number.clone()).collect()), format!("电子证照：《{licence}》")),
                    Some(field) => {
                        let vals: Vec<String> = mine.iter().filter_map(|l| licence_field(l, field)).collect();
                        if vals.is_empty() {
                            (None, format!("电子证照库中没有可核对的《{licence}》{field}"))
                        } else {
                            (Some(vals.clone()), format!("《{licence}》{field}：{}", vals.join("、")))
                        }
                    }
                }
            }
            Fact::Stated => (None, "需要您本人确认".into()),
        }
    }
}

fn joined(checks: &[Check]) -> String {
    checks.iter().map(|c| format!("{}：{}", c.label, c.evidence)).collect::<Vec<_>>().join("；")
}

fn merge(questions: &mut Vec<Ask>, more: Vec<Ask>) {
    for q in more {
        if !questions.iter().any(|x| x.key == q.key) {
            questions.push(q);
        }
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn same(v: &str, want: Option<&Value>) -> bool {
    match want {
        Some(Value::Number(n)) => v.trim().parse::<f64>().ok().zip(n.as_f64()).is_some_and(|(a, b)| a == b),
        Some(w) => v.trim() == text(w),
        None => false,
    }
}

/// `2026-11-18`, `2026-11-18 08:30` or `2026年11月18日`.
fn date(s: &str) -> Option<NaiveDate> {
    let s = s.trim();
    let head: String = s.chars().take(10).collect();
    NaiveDate::parse_from_str(&head, "%Y-%m-%d").ok().or_else(|| {
        let digits: Vec<u32> = s.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect();
        match digits[..] {
            [y, m, d, ..] => NaiveDate::from_ymd_opt(y as i32, m, d),
            _ => None,
        }
    })
}

fn own_id(f: &Facts) -> Option<&str> {
    f.profile.get("id_number").map(String::as_str).filter(|s| s.len() == 18)
}

fn birth_date(f: &Facts) -> Option<NaiveDate> {
    if let Some(d) = f.profile.get("birth_date").and_then(|d| date(d)) {
        return Some(d);
    }
    if let Some(d) = own_id(f).and_then(|id| NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").ok()) {
        return Some(d);
    }
    let id = own_id(f)?;
    f.licences
        .iter()
        .filter(|l| l.licence_type == "居民身份证" && l.holder_id == id)
        .find_map(|l| l.fields.get("出生日期").and_then(|d| date(d)))
}

fn gender(f: &Facts) -> Option<String> {
    if let Some(g) = f.profile.get("gender").filter(|g| *g == "男" || *g == "女") {
        return Some(g.clone());
    }
    let digit = own_id(f)?.as_bytes()[16];
    digit.is_ascii_digit().then(|| if (digit - b'0') % 2 == 1 { "男" } else { "女" }.to_string())
}

/// Whole years from `from` to `to` (a birthday counts on its day).
fn years_between(from: NaiveDate, to: NaiveDate) -> i32 {
    let mut years = to.year() - from.year();
    if (to.month(), to.day()) < (from.month(), from.day()) {
        years -= 1;
    }
    years
}

fn valid_on(l: &ELicence, today: NaiveDate) -> bool {
    l.valid_until.as_deref().and_then(date).is_none_or(|until| until >= today)
}

fn licence_field(l: &ELicence, field: &str) -> Option<String> {
    match field {
        "签发机关" => Some(l.issuer.clone()),
        "签发日期" => l.issued_on.clone(),
        _ => l.fields.get(field).cloned(),
    }
    .filter(|v| !v.trim().is_empty())
}

fn status_zh(status: &str) -> &str {
    match status {
        "submitted" => "已提交",
        "accepted" => "已受理",
        "in_review" => "审核中",
        "done" => "已办结",
        "returned" => "已退回",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()
    }

    fn doc() -> Value {
        json!({"conditions": ["年满八十周岁", "具有本市户籍"], "faq": [{"q": "发多少", "a": "80至89周岁每月100元，90周岁以上每月300元"}]})
    }

    fn rule() -> Eligibility {
        serde_json::from_value(json!({
            "grant": "auto", "summary": "高龄津贴",
            "conditions": [
                {"label": "年满80周岁", "cites": "/conditions/0", "fact": "age", "op": "gte", "value": 80},
                {"label": "本市户籍", "cites": "/conditions/1", "fact": "licence:居民户口簿.签发机关", "op": "contains", "value": "示例市",
                 "ask": {"key": "local_hukou", "question": "您是否为示例市户籍？"}}
            ],
            "bands": [
                {"label": "90周岁以上：每月300元", "cites": "/faq/0/a", "conditions": [{"label": "年满90周岁", "cites": "/faq/0/a", "fact": "age", "op": "gte", "value": 90}]},
                {"label": "80至89周岁：每月100元", "cites": "/faq/0/a", "conditions": [{"label": "年满80周岁", "cites": "/faq/0/a", "fact": "age", "op": "gte", "value": 80}]}
            ]
        }))
        .unwrap()
    }

    fn licence(kind: &str, holder: &str, issuer: &str, fields: &[(&str, &str)]) -> ELicence {
        ELicence {
            licence_type: kind.into(),
            number: format!("{kind}-1"),
            holder_name: "某人".into(),
            holder_id: holder.into(),
            fields: fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            issuer: issuer.into(),
            issued_on: Some("2020-01-01".into()),
            valid_until: None,
        }
    }

    fn resident(birth: &str) -> Facts {
        let mut f = Facts::default();
        f.profile.insert("birth_date".into(), birth.into());
        f
    }

    #[test]
    fn every_condition_explains_itself() {
        let mut f = resident("1946-12-05");
        f.licences.push(licence("居民户口簿", "x", "示例市公安局鼓楼分局", &[]));
        let v = evaluate(&rule(), &doc(), &f, today());
        assert_eq!(v.outcome, Outcome::Eligible, "{v:?}");
        assert!(v.checks[0].evidence.contains("现年 80 周岁"), "{v:?}");
        assert_eq!((v.checks[0].source.as_str(), v.checks[0].source_text.as_str()), ("受理条件第 1 条", "年满八十周岁"));
        assert_eq!(v.band.as_deref(), Some("80至89周岁：每月100元"));
        assert!(v.has_record_evidence());
    }

    #[test]
    fn the_day_before_a_birthday_does_not_count() {
        let v = evaluate(&rule(), &doc(), &resident("1946-12-06"), today());
        assert_eq!(v.outcome, Outcome::NotEligible);
        assert!(v.checks[0].evidence.contains("现年 79 周岁"), "{v:?}");
        assert!(v.questions.is_empty(), "no questions once a condition failed");
    }

    #[test]
    fn unknown_facts_are_asked_never_assumed() {
        let mut f = resident("1935-01-01");
        let v = evaluate(&rule(), &doc(), &f, today());
        assert_eq!(v.outcome, Outcome::Possible);
        assert_eq!(v.checks[1].state, State::Unknown);
        assert_eq!(v.questions.iter().map(|q| q.key.as_str()).collect::<Vec<_>>(), ["local_hukou"]);
        assert_eq!(v.band.as_deref(), Some("90周岁以上：每月300元"));
        f.stated.insert("local_hukou".into(), "是".into());
        let v = evaluate(&rule(), &doc(), &f, today());
        assert_eq!(v.outcome, Outcome::Eligible);
        assert!(v.checks[1].stated && v.checks[1].evidence.contains("您答复"), "{v:?}");
        f.stated.insert("local_hukou".into(), "否".into());
        assert_eq!(evaluate(&rule(), &doc(), &f, today()).outcome, Outcome::NotEligible);
    }

    #[test]
    fn a_record_outweighs_an_answer() {
        let mut f = resident("1935-01-01");
        f.licences.push(licence("居民户口簿", "x", "别的市公安局", &[]));
        f.stated.insert("local_hukou".into(), "是".into());
        let v = evaluate(&rule(), &doc(), &f, today());
        assert_eq!(v.outcome, Outcome::NotEligible, "{v:?}");
        assert!(!v.checks[1].stated);
    }

    #[test]
    fn age_and_gender_come_from_the_id_number_when_the_profile_lacks_them() {
        let mut f = Facts::default();
        f.profile.insert("id_number".into(), "350102194612052425".into());
        let v = evaluate(&rule(), &doc(), &f, today());
        assert!(v.checks[0].evidence.contains("1946-12-05"), "{v:?}");
        assert_eq!(gender(&f).as_deref(), Some("女"));
    }

    #[test]
    fn licences_held_or_naming_presence_fields_and_dates() {
        let cond = |fact: &str, op: &str, value: Value| -> Eligibility {
            serde_json::from_value(json!({"grant": "consent", "summary": "s",
                "conditions": [{"label": "l", "cites": "/conditions/0", "fact": fact, "op": op, "value": value}]}))
            .unwrap()
        };
        let mut f = resident("1993-04-12");
        f.profile.insert("id_number".into(), "35010219930412124X".into());
        f.licences.push(licence("出生医学证明", "350102199108201330", "示例市妇幼保健院", &[("出生时间", "2026-11-18 08:30")]));
        f.licences.push(licence("残疾人证", "35010219930412124X", "示例市残联", &[("残疾等级", "二级")]));
        let run = |r: &Eligibility| evaluate(r, &doc(), &f, today()).outcome;
        assert_eq!(run(&cond("licence:出生医学证明.出生时间", "within_days", json!(90))), Outcome::Eligible);
        assert_eq!(run(&cond("licence:出生医学证明.出生时间", "within_days", json!(10))), Outcome::NotEligible);
        assert_eq!(run(&cond("held:出生医学证明.出生时间", "within_days", json!(90))), Outcome::Possible, "named, not held");
        assert_eq!(run(&cond("held:残疾人证.残疾等级", "in", json!(["一级", "二级"]))), Outcome::Eligible);
        assert_eq!(run(&cond("licence:独生子女父母光荣证", "exists", Value::Null)), Outcome::NotEligible, "the library settles presence");
        assert_eq!(run(&cond("application:SAMPLE-MZ-004", "absent", Value::Null)), Outcome::Eligible);
        let absent = evaluate(&cond("application:SAMPLE-MZ-004", "absent", Value::Null), &doc(), &f, today());
        assert!(!absent.has_record_evidence(), "no application is nobody's evidence of anything");
    }

    #[test]
    fn groups_nest_any_of_all() {
        let r: Eligibility = serde_json::from_value(json!({"grant": "consent", "summary": "退休", "conditions": [
            {"label": "达到退休年龄", "cites": "/conditions/0", "any": [
                {"label": "男满60", "cites": "/conditions/0", "all": [
                    {"label": "男", "cites": "/conditions/0", "fact": "gender", "op": "eq", "value": "男"},
                    {"label": "满60", "cites": "/conditions/0", "fact": "age", "op": "gte", "value": 60}]},
                {"label": "女满50", "cites": "/conditions/0", "all": [
                    {"label": "女", "cites": "/conditions/0", "fact": "gender", "op": "eq", "value": "女"},
                    {"label": "满50", "cites": "/conditions/0", "fact": "age", "op": "gte", "value": 50}]}]}
        ]}))
        .unwrap();
        assert_eq!(r.validate(&doc()), Vec::<String>::new());
        let mut f = resident("1975-01-01");
        f.profile.insert("gender".into(), "女".into());
        let v = evaluate(&r, &doc(), &f, today());
        assert_eq!(v.outcome, Outcome::Eligible, "{v:?}");
        assert!(v.has_record_evidence());
        f.profile.insert("gender".into(), "男".into());
        assert_eq!(evaluate(&r, &doc(), &f, today()).outcome, Outcome::NotEligible);
        f.profile.remove("gender");
        assert_eq!(evaluate(&r, &doc(), &f, today()).outcome, Outcome::Possible, "gender unknown: neither branch decided");
    }
}
