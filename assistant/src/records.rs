//! What the assistant may look up in the service's records: the signed-in citizen's profile and
//! the status of an application by tracking number (进度查询). The server implements
//! [`Records`] over its store; without it (the terminal) these answers say they are not
//! available rather than guess.

use async_trait::async_trait;
use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::forms::prefill::Profile;

/// An application's state, as a progress query reports it (no personal data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApplicationView {
    pub tracking_no: String,
    pub target_name: String,
    /// `submitted`, `accepted`, `in_review`, `done` or `returned`.
    pub status: String,
    pub submitted_on: String,
    /// The day the clock of the promised limit started (受理).
    pub accepted_on: Option<String>,
    pub promised_days: Option<u32>,
    pub returned_reason: Option<String>,
}

#[async_trait]
pub trait Records: Send + Sync {
    async fn profile(&self, citizen_id: i64) -> Result<Option<Profile>, String>;
    async fn application(&self, tracking_no: &str) -> Result<Option<ApplicationView>, String>;
    /// The applications a signed-in citizen submitted, newest first.
    async fn citizen_applications(&self, citizen_id: i64) -> Result<Vec<ApplicationView>, String>;
}

pub fn status_zh(s: &str) -> &'static str {
    match s {
        "submitted" => "已提交，等待受理",
        "accepted" => "已受理",
        "in_review" => "审核中",
        "done" => "已办结",
        "returned" => "已退回",
        _ => "处理中",
    }
}

/// `start` plus `n` working days (Saturdays and Sundays skipped; public holidays are not known
/// here, so a due date may fall a few days early around them).
pub fn add_workdays(start: NaiveDate, n: u32) -> NaiveDate {
    let mut d = start;
    let mut left = n;
    while left > 0 {
        d = d.succ_opt().expect("dates this near are representable");
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            left -= 1;
        }
    }
    d
}

/// Working days after `from` up to and including `to` (0 when `to` is not after `from`).
pub fn workdays_between(from: NaiveDate, to: NaiveDate) -> u32 {
    let mut n = 0;
    let mut d = from;
    while d < to {
        d = d.succ_opt().expect("dates this near are representable");
        if !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            n += 1;
        }
    }
    n
}

/// The progress answer for `a` on `today`.
pub fn describe(a: &ApplicationView, today: NaiveDate) -> String {
    let mut s = format!("受理编号 {}（{}）：当前状态为“{}”。", a.tracking_no, a.target_name, status_zh(&a.status));
    match a.status.as_str() {
        "returned" => {
            s.push_str(&format!("退回原因：{}。请按要求补正后重新提交，或转人工咨询。", a.returned_reason.as_deref().unwrap_or("未说明")));
        }
        "done" => s.push_str("办理结果将按您选择的方式送达。"),
        "submitted" => s.push_str("部门受理后开始计算承诺办结时限。"),
        _ => {
            let start = a.accepted_on.as_deref().and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            if let (Some(start), Some(days)) = (start, a.promised_days) {
                let due = add_workdays(start, days);
                let used = workdays_between(start, today);
                if days == 0 {
                    s.push_str("承诺即办。");
                } else if used < days {
                    s.push_str(&format!("承诺 {days} 个工作日内办结（{due} 前），还剩约 {} 个工作日。", days - used));
                } else {
                    s.push_str(&format!("已超过承诺时限（{due}），如有疑问可转人工或拨打12345反映。"));
                }
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn working_days_skip_weekends() {
        // 2026-11-20 is a Friday.
        assert_eq!(add_workdays(d("2026-11-20"), 1), d("2026-11-23"));
        assert_eq!(add_workdays(d("2026-11-20"), 5), d("2026-11-27"));
        assert_eq!(workdays_between(d("2026-11-20"), d("2026-11-24")), 2);
        assert_eq!(workdays_between(d("2026-11-24"), d("2026-11-20")), 0);
    }

    #[test]
    fn progress_says_status_and_time_left() {
        let a = ApplicationView {
            tracking_no: "BS20261120000001".into(),
            target_name: "新生儿出生一件事".into(),
            status: "in_review".into(),
            submitted_on: "2026-11-20".into(),
            accepted_on: Some("2026-11-20".into()),
            promised_days: Some(5),
            returned_reason: None,
        };
        let s = describe(&a, d("2026-11-24"));
        assert!(s.contains("审核中") && s.contains("还剩约 3 个工作日") && s.contains("2026-11-27"), "{s}");
        assert!(describe(&a, d("2026-12-10")).contains("已超过承诺时限"));
        let r = ApplicationView { status: "returned".into(), returned_reason: Some("出生医学证明信息不清晰".into()), ..a };
        assert!(describe(&r, d("2026-11-24")).contains("出生医学证明信息不清晰"));
    }
}
