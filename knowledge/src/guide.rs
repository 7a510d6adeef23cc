//! The item guide (办事指南): the standard elements of an implementation list (事项实施清单).
//!
//! A guide is data, reviewed like code. Unknown facts are `None` (never guessed): an absent fee
//! list means "not stated", an empty one means "free of charge". [`Guide::validate`] checks what
//! serde cannot (codes, non-empty names, unique form keys, FAQ pairs) and names every problem.

use serde::{Deserialize, Serialize};

use crate::eligibility::Eligibility;
use crate::form::FormSchema;

/// One item guide. Field names are the project's own JSON format (see `knowledge/guides/`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guide {
    /// 事项编码: unique and stable; chunks and citations point to it.
    pub code: String,
    /// 事项名称.
    pub name: String,
    /// Other names citizens use (“换身份证”, “办营业执照”); indexed with the overview.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// 事项类型: 行政许可 / 公共服务 / 行政确认 / 行政给付 / 其他行政权力 ….
    pub kind: String,
    /// 实施主体 (implementing department).
    pub department: String,
    /// 行政区划, e.g. “示例市” or “广东省中山市”.
    pub region: String,
    /// 服务对象: 自然人 / 企业法人 / 事业单位法人 / 其他组织 ….
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_objects: Vec<String>,
    /// Topic tags (主题分类) such as 户籍办理, 社会保障.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// 受理条件, one condition per entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// 申请材料.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materials: Vec<Material>,
    /// 办理流程.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process: Vec<Step>,
    /// 法定办结时限.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_time_limit: Option<TimeLimit>,
    /// 承诺办结时限.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_time_limit: Option<TimeLimit>,
    /// 收费标准: `None` = not stated in the source, `Some([])` = 不收费.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees: Option<Vec<Fee>>,
    /// 办理结果 (e.g. 居民身份证, 营业执照).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// 办理地点 and hours.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub places: Vec<Place>,
    /// 咨询电话.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consult_phone: Option<String>,
    /// 监督投诉电话.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complaint_phone: Option<String>,
    /// 设定依据, one law / regulation (with article) per entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub legal_basis: Vec<String>,
    /// 网上办理入口.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_url: Option<String>,
    /// 到办事现场次数.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits: Option<u32>,
    /// 常见问题.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faq: Vec<Faq>,
    /// The application form, for items that are applied for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<FormSchema>,
    /// Who the city grants or offers this item to without being asked (免申即享 / 主动服务).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligibility: Option<Eligibility>,
    /// Where this guide came from; sample data is marked so no one mistakes it for real.
    pub source: Source,
    #[serde(default)]
    pub status: Status,
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

fn one() -> u32 {
    1
}

/// One required or optional material (申请材料).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    pub name: String,
    /// 是否必需.
    #[serde(default = "yes")]
    pub required: bool,
    /// 原件份数.
    #[serde(default)]
    pub originals: u32,
    /// 复印件份数.
    #[serde(default)]
    pub copies: u32,
    /// 材料形式: 纸质 / 电子 / 纸质或电子.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<String>,
    /// Accepted e-licence type (电子证照目录名); when the holder has one the material is 免提交.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e_licence: Option<String>,
    /// 容缺受理: may be submitted later under a written commitment (告知承诺).
    #[serde(default)]
    pub tolerance: bool,
    /// 来源渠道: 申请人自备 / 政府部门核发 ….
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// This material is the application form itself (the guide's `form`): applying online
    /// fills it in, so it is never uploaded or photographed. Only valid when the guide has a form.
    #[serde(default, skip_serializing_if = "is_false")]
    pub online_form: bool,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One step of the process (办理流程).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A time limit; `days == 0` means 即办 (handled on the spot). The unit is data, as the source
/// states it: 60日 (calendar days) and 60个工作日 are different limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLimit {
    /// How many `unit`s (days, or months for [`DayUnit::Months`]); the name predates months.
    pub days: u32,
    /// Absent in a file means 工作日, the unit of most limits (and of files written before the
    /// unit was recorded).
    #[serde(default)]
    pub unit: DayUnit,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The unit of a [`TimeLimit`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayUnit {
    /// 工作日.
    #[default]
    WorkingDays,
    /// 自然日 (a source's “日” or “天”).
    CalendarDays,
    /// 个月 (calendar months).
    Months,
}

impl DayUnit {
    /// The unit as a limit is written after its number: “个工作日”, “日”, “个月”.
    pub fn zh(self) -> &'static str {
        match self {
            DayUnit::WorkingDays => "个工作日",
            DayUnit::CalendarDays => "日",
            DayUnit::Months => "个月",
        }
    }

    /// The unit a source's word names: 工作日, 自然日 / 日 / 天, 个月; `None` for anything
    /// else (the caller drops the value rather than guess a unit).
    pub fn from_zh(word: &str) -> Option<DayUnit> {
        match word.trim() {
            "工作日" | "个工作日" => Some(DayUnit::WorkingDays),
            "自然日" | "个自然日" | "日" | "天" | "日历日" => Some(DayUnit::CalendarDays),
            "个月" | "自然月" | "个自然月" => Some(DayUnit::Months),
            _ => None,
        }
    }
}

impl TimeLimit {
    /// Chinese display: “即办”, “20个工作日”, “30日”, “3个月”.
    pub fn display(&self) -> String {
        let base = match self.days {
            0 => "即办".to_string(),
            d => format!("{d}{}", self.unit.zh()),
        };
        match &self.note {
            Some(n) if !n.is_empty() => format!("{base}（{n}）"),
            _ => base,
        }
    }

    /// A limit as sources write it: “30(工作日)”, “60（自然日）”, “60日”, “15个工作日”,
    /// “3个月”, “20天”, “即办” / “当场办结” (0). `None` for anything else — a number without a
    /// unit, a range, prose — so an importer drops it and says so instead of guessing a unit.
    pub fn parse(text: &str) -> Option<TimeLimit> {
        static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"^(\d{1,4})\s*[（(]?\s*(个工作日|工作日|个自然日|自然日|日历日|日|天|个自然月|自然月|个月)\s*[)）]?$")
                .expect("static regex")
        });
        let t = text.trim().trim_end_matches(['。', '.']);
        if matches!(t, "即办" | "即办件" | "当场办结" | "当场办理" | "立即办结") {
            return Some(TimeLimit { days: 0, unit: DayUnit::WorkingDays, note: None });
        }
        let c = RE.captures(t)?;
        Some(TimeLimit { days: c[1].parse().ok()?, unit: DayUnit::from_zh(&c[2])?, note: None })
    }
}

/// One fee (收费项目).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub name: String,
    /// Amount in yuan; `None` when the amount depends on the case (then `note` says how).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_yuan: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// 收费依据.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

/// Where to go (办理地点) and when (办理时间).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    pub q: String,
    pub a: String,
}

/// Provenance of a guide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub kind: SourceKind,
    /// Link to the original listing, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Licence notice of imported data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licence: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Hand-written for the fictional 示例市: national facts are real, local details invented.
    Sample,
    /// Imported from the Guangdong catalogue (MIT).
    GdCatalogue,
    /// Written or edited by the city's own editors.
    Editor,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    #[default]
    Published,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Published => "published",
        }
    }
}

impl Guide {
    /// True for the invented 示例市 sample data, which the UI must label as such.
    pub fn is_sample(&self) -> bool {
        self.source.kind == SourceKind::Sample
    }

    /// Every problem with this guide, in Chinese-free English for editors' tooling; empty = valid.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let code_ok =
            !self.code.is_empty() && self.code.len() <= 64 && self.code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !code_ok {
            problems.push(format!("事项编码 {:?} 须为 1–64 位字母、数字、- 或 _", self.code));
        }
        for (what, value) in
            [("事项名称", &self.name), ("事项类型", &self.kind), ("实施部门", &self.department), ("行政区划", &self.region)]
        {
            if value.trim().is_empty() {
                problems.push(format!("{what}不能为空"));
            }
        }
        for (i, m) in self.materials.iter().enumerate() {
            if m.name.trim().is_empty() {
                problems.push(format!("第 {} 项申请材料缺少名称", i + 1));
            }
            if m.online_form && self.form.is_none() {
                problems.push(format!("第 {} 项申请材料“{}”标为在线填写（online_form），但本事项没有在线申请表（form）", i + 1, m.name));
            }
        }
        for (i, f) in self.faq.iter().enumerate() {
            if f.q.trim().is_empty() || f.a.trim().is_empty() {
                problems.push(format!("第 {} 条常见问题须同时填写问题和答案", i + 1));
            }
        }
        if let Some(fees) = &self.fees {
            for (i, f) in fees.iter().enumerate() {
                // Negative, or not a number at all (NaN compares with nothing).
                if f.amount_yuan.is_some_and(|a| a.partial_cmp(&0.0).is_none_or(std::cmp::Ordering::is_lt)) {
                    problems.push(format!("第 {} 项收费金额不能为负数", i + 1));
                }
            }
        }
        if let Some(form) = &self.form {
            problems.extend(form.validate().into_iter().map(|p| format!("申请表：{p}")));
        }
        if let Some(rule) = &self.eligibility {
            problems.extend(rule.validate(&serde_json::to_value(self).expect("guides serialise")));
        }
        if self.version == 0 {
            problems.push("版本号从 1 开始".into());
        }
        problems
    }

    /// Fees as one Chinese line: “不收费”, “工本费20元；…”, or `None` when not stated.
    pub fn fees_display(&self) -> Option<String> {
        let fees = self.fees.as_ref()?;
        if fees.is_empty() {
            return Some("不收费".into());
        }
        let parts: Vec<String> = fees
            .iter()
            .map(|f| {
                let amount = match f.amount_yuan {
                    Some(a) if a.fract() == 0.0 => format!("{}元", a as i64),
                    Some(a) => format!("{a:.2}元"),
                    None => String::new(),
                };
                let note = f.note.as_deref().map(|n| format!("（{n}）")).unwrap_or_default();
                format!("{}{}{}", f.name, amount, note)
            })
            .collect();
        Some(parts.join("；"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn minimal() -> Guide {
        serde_json::from_value(serde_json::json!({
            "code": "SAMPLE-001",
            "name": "居民身份证换领",
            "kind": "公共服务",
            "department": "示例市公安局",
            "region": "示例市",
            "source": {"kind": "sample"}
        }))
        .unwrap()
    }

    #[test]
    fn minimal_guide_is_valid_and_published() {
        let g = minimal();
        assert!(g.validate().is_empty(), "{:?}", g.validate());
        assert_eq!(g.status, Status::Published);
        assert_eq!(g.version, 1);
        assert!(g.is_sample());
        assert_eq!(g.fees_display(), None, "absent fees are 'not stated', never 'free'");
    }

    #[test]
    fn validation_names_each_problem() {
        let mut g = minimal();
        g.code = "坏 code".into();
        g.name = " ".into();
        g.faq.push(Faq { q: "问".into(), a: "".into() });
        g.fees = Some(vec![Fee { name: "工本费".into(), amount_yuan: Some(-1.0), note: None, basis: None }]);
        let p = g.validate();
        assert_eq!(p.len(), 4, "{p:?}");
        assert!(p[0].starts_with("事项编码") && p[1] == "事项名称不能为空", "{p:?}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_value::<Guide>(serde_json::json!({
            "code": "X", "name": "n", "kind": "k", "department": "d", "region": "r",
            "source": {"kind": "sample"}, "feez": []
        }))
        .unwrap_err();
        assert!(err.to_string().contains("feez"));
    }

    #[test]
    fn displays() {
        let t = TimeLimit { days: 20, unit: DayUnit::WorkingDays, note: None };
        assert_eq!(t.display(), "20个工作日");
        assert_eq!(TimeLimit { days: 0, unit: DayUnit::WorkingDays, note: None }.display(), "即办");
        let mut g = minimal();
        g.fees = Some(vec![]);
        assert_eq!(g.fees_display().unwrap(), "不收费");
        g.fees = Some(vec![Fee { name: "工本费".into(), amount_yuan: Some(20.0), note: None, basis: None }]);
        assert_eq!(g.fees_display().unwrap(), "工本费20元");
    }

    #[test]
    fn limits_keep_the_unit_the_source_wrote() {
        let shown = |s: &str| TimeLimit::parse(s).map(|t| t.display());
        for (src, want) in [
            ("30(工作日)", "30个工作日"),
            ("60（自然日）", "60日"),
            ("60(自然日)", "60日"),
            ("60日", "60日"),
            ("20天", "20日"),
            ("15个工作日", "15个工作日"),
            ("3个月", "3个月"),
            ("6(个月)", "6个月"),
            ("即办", "即办"),
        ] {
            assert_eq!(shown(src).as_deref(), Some(want), "{src}");
        }
        for src in ["约3天", "30", "3-5个工作日", "无", "三个月", "3月"] {
            assert_eq!(shown(src), None, "{src}: no unit is guessed");
        }
        // Files written before months existed, and without a unit, still load (工作日).
        let t: TimeLimit = serde_json::from_str(r#"{"days": 5}"#).unwrap();
        assert_eq!(t.unit, DayUnit::WorkingDays);
        let t: TimeLimit = serde_json::from_str(r#"{"days": 3, "unit": "months"}"#).unwrap();
        assert_eq!(t.display(), "3个月");
    }

    #[test]
    fn an_online_form_material_needs_the_form() {
        let mut g = minimal();
        g.materials.push(serde_json::from_value(serde_json::json!({"name": "居民身份证申领登记表", "online_form": true})).unwrap());
        assert!(g.validate().iter().any(|p| p.contains("online_form")), "{:?}", g.validate());
        let plain: Material = serde_json::from_value(serde_json::json!({"name": "照片"})).unwrap();
        assert!(!plain.online_form, "absent means not the form");
        assert!(!serde_json::to_string(&plain).unwrap().contains("online_form"), "files without it stay as they are");
    }
}
