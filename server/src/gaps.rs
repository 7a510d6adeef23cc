//! The gap loop (评价—反馈—优化): failures from real traffic grouped into what to fix. A failure
//! about a known item groups under that item (its guide is what to fix); others group under
//! their most shared keyword (jieba words, the question's word that most other failures share),
//! so "宠物医保" questions land together even though no guide covers them. Each group has its
//! counts by kind, the trend (last 7 days against the 7 before), sample questions, and whether it
//! was closed after its latest failure.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;

use crate::store::{Failure, GapClosure};

/// Words too general to name a topic.
const GENERIC: &[&str] = &[
    "怎么", "办理", "需要", "什么", "哪里", "可以", "如何", "申请", "多少", "请问", "一下", "这个", "现在", "时间", "材料", "手续", "问题",
    "我们", "你们", "要求",
];

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GapGroup {
    /// `item:<code>` or `kw:<word>`.
    pub key: String,
    pub title: String,
    pub item_code: Option<String>,
    pub count: usize,
    /// Failures by kind (`declined`, `handoff`, `bad_rating` …).
    pub by_kind: BTreeMap<String, usize>,
    pub last_7_days: usize,
    pub previous_7_days: usize,
    /// Distinct questions, most frequent first (at most 5).
    pub samples: Vec<String>,
    /// The most frequent question: the pattern for a curated answer.
    pub top_question: String,
    pub closed: Option<GapClosure>,
}

/// Group `failures`; `names` gives item names by code; `words` splits a question into words;
/// `now` is RFC 3339.
pub fn group(
    failures: &[Failure],
    names: &HashMap<String, String>,
    words: &dyn Fn(&str) -> Vec<String>,
    closures: &[GapClosure],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<GapGroup> {
    let tokens: Vec<HashSet<String>> = failures
        .iter()
        .map(|f| words(&f.question).into_iter().filter(|w| w.chars().count() >= 2 && !GENERIC.contains(&w.as_str())).collect())
        .collect();
    let mut df: HashMap<&str, usize> = HashMap::new();
    for t in &tokens {
        for w in t {
            *df.entry(w.as_str()).or_default() += 1;
        }
    }
    let mut groups: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, f) in failures.iter().enumerate() {
        let key = match &f.item_code {
            Some(code) => format!("item:{code}"),
            None => match tokens[i].iter().max_by_key(|w| (df[w.as_str()], w.chars().count(), std::cmp::Reverse((*w).clone()))) {
                Some(w) => format!("kw:{w}"),
                None => "kw:其他".to_string(),
            },
        };
        groups.entry(key).or_default().push(i);
    }
    let week = chrono::Duration::days(7);
    let mut out: Vec<GapGroup> = groups
        .into_iter()
        .map(|(key, idx)| {
            let members: Vec<&Failure> = idx.iter().map(|&i| &failures[i]).collect();
            let mut by_kind = BTreeMap::new();
            let mut questions: HashMap<&str, usize> = HashMap::new();
            let (mut last, mut prev) = (0, 0);
            for f in &members {
                *by_kind.entry(f.kind.clone()).or_default() += 1;
                if !f.question.trim().is_empty() {
                    *questions.entry(f.question.as_str()).or_default() += 1;
                }
                if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&f.at) {
                    let age = now - at.with_timezone(&chrono::Utc);
                    if age <= week {
                        last += 1;
                    } else if age <= week * 2 {
                        prev += 1;
                    }
                }
            }
            let mut ranked: Vec<(&str, usize)> = questions.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let item_code = key.strip_prefix("item:").map(str::to_string);
            let title = match &item_code {
                Some(c) => names.get(c).cloned().unwrap_or_else(|| c.clone()),
                None => format!("话题：{}", key.trim_start_matches("kw:")),
            };
            let latest = members.iter().map(|f| f.at.as_str()).max().unwrap_or_default().to_string();
            let closed = closures.iter().rev().find(|c| c.gap_key == key && c.closed_at >= latest).cloned();
            GapGroup {
                key,
                title,
                item_code,
                count: members.len(),
                by_kind,
                last_7_days: last,
                previous_7_days: prev,
                samples: ranked.iter().take(5).map(|q| q.0.to_string()).collect(),
                top_question: ranked.first().map(|q| q.0.to_string()).unwrap_or_default(),
                closed,
            }
        })
        .collect();
    out.sort_by(|a, b| a.closed.is_some().cmp(&b.closed.is_some()).then(b.count.cmp(&a.count)).then(a.key.cmp(&b.key)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(q: &str, kind: &str, item: Option<&str>, at: &str) -> Failure {
        Failure {
            session_id: "s".into(),
            question: q.into(),
            kind: kind.into(),
            detail: None,
            item_code: item.map(Into::into),
            at: at.into(),
        }
    }

    fn words(s: &str) -> Vec<String> {
        // Test splitter: known words only.
        ["宠物", "医保", "养狗", "登记", "火星", "签证"].iter().filter(|w| s.contains(*w)).map(|w| w.to_string()).collect()
    }

    #[test]
    fn failures_group_by_item_then_shared_keyword_with_trend() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
        let fs = [
            f("宠物医保怎么办理", "declined", None, "2026-11-22T10:00:00Z"),
            f("宠物医保怎么办理", "declined", None, "2026-11-21T10:00:00Z"),
            f("养狗要登记宠物吗", "clarified", None, "2026-11-12T10:00:00Z"),
            f("火星签证", "declined", None, "2026-11-20T10:00:00Z"),
            f("身份证换领多少钱", "bad_rating", Some("G1"), "2026-11-20T10:00:00Z"),
        ];
        let names = HashMap::from([("G1".to_string(), "居民身份证换领".to_string())]);
        let g = group(&fs, &names, &words, &[], now);
        let pet = g.iter().find(|g| g.key == "kw:宠物").expect("pet questions grouped by their shared word");
        assert_eq!((pet.count, pet.last_7_days, pet.previous_7_days), (3, 2, 1));
        assert_eq!(pet.top_question, "宠物医保怎么办理");
        let item = g.iter().find(|g| g.key == "item:G1").unwrap();
        assert_eq!((item.title.as_str(), item.by_kind["bad_rating"]), ("居民身份证换领", 1));
        let closure = GapClosure {
            id: 1,
            gap_key: "kw:宠物".into(),
            note: "已写标准答复".into(),
            actor: "user:wang".into(),
            closed_at: "2026-11-23T00:00:00Z".into(),
        };
        let g = group(&fs, &names, &words, &[closure], now);
        assert!(g.last().unwrap().closed.is_some(), "closed groups sort last");
    }
}
