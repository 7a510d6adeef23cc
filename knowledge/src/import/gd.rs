//! Importer for the Guangdong item catalogue (`gd-items/policy.jsonl`, MIT).
//!
//! Values are as crawled: “无” for empty, “办理地点：” prefixes, “30(工作日)” units, phone fields
//! holding prose or several numbers. Each is cleaned into the guide schema; what cannot be used
//! is dropped and counted in the [`GdReport`] with the reason, and a row without a code or a
//! name is skipped whole. Nothing is invented: the catalogue has no fees, so fees stay “not
//! stated”.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use serde::Deserialize;

use crate::guide::{DayUnit, Guide, Material, Place, Source, SourceKind, Status, TimeLimit};

pub const GD_LICENCE: &str = "Guangdong item catalogue from github.com/Clarence-Kong/QABasedOnPolicyKnowledgeGraph (commit b1f5aec), MIT License, Copyright (c) 2021 clarencekong";

/// What the import did, for the operator.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GdReport {
    pub rows: usize,
    pub converted: usize,
    /// Rows not imported: (line number, reason).
    pub skipped: Vec<(usize, String)>,
    /// Field values dropped while cleaning: reason → count.
    pub dropped: BTreeMap<String, usize>,
}

impl GdReport {
    fn drop(&mut self, reason: &str) {
        *self.dropped.entry(reason.to_string()).or_default() += 1;
    }

    /// A few lines for the terminal.
    pub fn summary(&self) -> String {
        let mut s = format!("{} rows, {} converted, {} skipped\n", self.rows, self.converted, self.skipped.len());
        for (line, why) in self.skipped.iter().take(20) {
            s.push_str(&format!("  skipped line {line}: {why}\n"));
        }
        for (why, n) in &self.dropped {
            s.push_str(&format!("  dropped {n} × {why}\n"));
        }
        s
    }
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct Row {
    #[serde(default)]
    TASK_CODE: Option<String>,
    #[serde(default)]
    TASK_NAME: Option<String>,
    #[serde(default)]
    TASK_TYPE_TEXT: Option<String>,
    #[serde(default)]
    DEPT_NAME: Option<String>,
    #[serde(default)]
    AREA_CODE_TEXT: Option<String>,
    #[serde(default)]
    URL: Option<String>,
    #[serde(default)]
    parentCatalogName: Option<String>,
    #[serde(default)]
    matter_short: Option<String>,
    #[serde(default)]
    accept_standard: Option<String>,
    #[serde(default)]
    handle_location: Option<String>,
    #[serde(default)]
    handle_time: Option<String>,
    #[serde(default)]
    handle_time_limit: Option<String>,
    #[serde(default)]
    consult_phone: Option<String>,
    #[serde(default)]
    complain_phone: Option<String>,
    #[serde(default)]
    visit_number: Option<String>,
    #[serde(default)]
    theme_category: Option<serde_json::Value>,
    #[serde(default)]
    service_object_name: Option<serde_json::Value>,
    #[serde(default)]
    material_intro: Option<serde_json::Value>,
}

/// Convert the whole catalogue text (one JSON object per line).
pub fn convert(jsonl: &str) -> (Vec<Guide>, GdReport) {
    let mut report = GdReport::default();
    let mut guides = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, line) in jsonl.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        report.rows += 1;
        let row: Row = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => {
                report.skipped.push((line_no, format!("not a JSON object: {e}")));
                continue;
            }
        };
        match convert_row(row, &mut report) {
            Ok(g) if !seen.insert(g.code.clone()) => report.skipped.push((line_no, format!("duplicate code {}", g.code))),
            Ok(g) => guides.push(g),
            Err(why) => report.skipped.push((line_no, why)),
        }
    }
    report.converted = guides.len();
    (guides, report)
}

fn convert_row(row: Row, report: &mut GdReport) -> Result<Guide, String> {
    let code = text(row.TASK_CODE).ok_or("no TASK_CODE")?;
    if !code.chars().all(|c| c.is_ascii_alphanumeric()) || code.len() > 64 {
        return Err(format!("TASK_CODE {code:?} is not an ASCII code"));
    }
    let name = text(row.TASK_NAME).ok_or_else(|| format!("{code}: no TASK_NAME"))?;
    let department = text(row.DEPT_NAME).ok_or_else(|| format!("{code}: no DEPT_NAME"))?;
    let mut aliases = Vec::new();
    for alias in [text(row.parentCatalogName), text(row.matter_short)].into_iter().flatten() {
        if alias != name && !aliases.contains(&alias) {
            aliases.push(alias);
        }
    }
    let (conditions, legal_basis) = split_standard(text(row.accept_standard));
    let url = text(row.URL).filter(|u| u.starts_with("http"));
    Ok(Guide {
        code,
        name,
        aliases,
        kind: text(row.TASK_TYPE_TEXT).unwrap_or_else(|| "公共服务".into()),
        department,
        region: text(row.AREA_CODE_TEXT).unwrap_or_else(|| "广东省".into()),
        service_objects: list(row.service_object_name),
        topics: list(row.theme_category).into_iter().filter(|t| t != "其他").collect(),
        conditions,
        materials: list(row.material_intro).into_iter().map(material).collect(),
        process: Vec::new(),
        legal_time_limit: time_limit(row.handle_time, "handle_time", report),
        promised_time_limit: time_limit(row.handle_time_limit, "handle_time_limit", report),
        fees: None,
        result: None,
        places: place(row.handle_location),
        consult_phone: phone(row.consult_phone, "consult_phone", report),
        complaint_phone: phone(row.complain_phone, "complain_phone", report),
        legal_basis,
        online_url: url.clone(),
        visits: text(row.visit_number).and_then(|v| v.parse().ok()),
        faq: Vec::new(),
        form: None,
        source: Source { kind: SourceKind::GdCatalogue, url, licence: Some(GD_LICENCE.into()) },
        status: Status::Published,
        version: 1,
        updated_at: None,
        updated_by: None,
    })
}

/// Trimmed text, or `None` for absent, empty and the crawl's “无” / “无。”.
fn text(v: Option<String>) -> Option<String> {
    let v = v?;
    let t = v.trim().trim_end_matches('。').trim();
    (!t.is_empty() && t != "无" && t != "null").then(|| v.trim().to_string())
}

/// A JSON list of strings (or one string), without “无”.
fn list(v: Option<serde_json::Value>) -> Vec<String> {
    let items: Vec<String> = match v {
        Some(serde_json::Value::Array(a)) => a.into_iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
        Some(serde_json::Value::String(s)) => vec![s],
        _ => Vec::new(),
    };
    items.into_iter().filter_map(|s| text(Some(s))).collect()
}

fn material(name: String) -> Material {
    Material {
        name,
        required: true,
        originals: 0,
        copies: 0,
        form: None,
        e_licence: None,
        tolerance: false,
        origin: None,
        notes: None,
    }
}

/// “30(工作日)” → 30 working days. Unparseable values are dropped and reported.
fn time_limit(v: Option<String>, field: &str, report: &mut GdReport) -> Option<TimeLimit> {
    static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\d{1,4})\s*[（(]\s*(工作日|自然日|天|日)\s*[)）]$").expect("static regex"));
    let v = text(v)?;
    match RE.captures(&v) {
        Some(c) => Some(TimeLimit {
            days: c[1].parse().ok()?,
            unit: if &c[2] == "工作日" { DayUnit::WorkingDays } else { DayUnit::CalendarDays },
            note: None,
        }),
        None => {
            report.drop(&format!("{field}: not “N(工作日)”"));
            None
        }
    }
}

/// Strip repeated “办理地点：” prefixes; “无线下办理窗口” means online only.
fn place(v: Option<String>) -> Vec<Place> {
    let Some(mut v) = text(v) else { return Vec::new() };
    while let Some(rest) = v.strip_prefix("办理地点").map(|r| r.trim_start_matches([':', '：', ' '])) {
        v = rest.to_string();
    }
    if v.is_empty() {
        return Vec::new();
    }
    if v.starts_with("无线下办理窗口") {
        return vec![Place { name: "网上办理（无线下办理窗口）".into(), address: None, hours: None }];
    }
    vec![Place { name: "办理窗口".into(), address: Some(v), hours: None }]
}

/// Phone numbers found in the field, normalised and joined with “、”; prose is dropped.
fn phone(v: Option<String>, field: &str, report: &mut GdReport) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d[\d-]{3,}\d(?:转\d+)?").expect("static regex"));
    let v = text(v)?;
    let cleaned: String = v.replace(['–', '—', '－'], "-").replace("- ", "-").replace(" -", "-");
    let cleaned = Regex::new(r"-{2,}").expect("static regex").replace_all(&cleaned, "-").to_string();
    let numbers: Vec<&str> = RE
        .find_iter(&cleaned)
        .map(|m| m.as_str())
        .filter(|n| n.chars().filter(char::is_ascii_digit).count() >= 5)
        .collect();
    if numbers.is_empty() {
        report.drop(&format!("{field}: no phone number in it"));
        return None;
    }
    let mut unique: Vec<&str> = Vec::new();
    for n in numbers {
        if !unique.contains(&n) {
            unique.push(n);
        }
    }
    Some(unique.join("、"))
}

/// `accept_standard` holds conditions, or legal text (“《…》第…条…”); tell them apart.
fn split_standard(v: Option<String>) -> (Vec<String>, Vec<String>) {
    let Some(v) = v else { return (Vec::new(), Vec::new()) };
    let lines: Vec<String> = v.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    if v.starts_with('《') && v.contains('条') {
        (Vec::new(), lines)
    } else {
        (lines, Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: &str = r#"{"TASK_CODE":"11440000006939756B2440101007000","TASK_NAME":"临时价格干预范围事项提价申报","TASK_TYPE_TEXT":"行政许可","DEPT_NAME":"广东省发展和改革委员会","AREA_CODE_TEXT":"广东省","URL":"https://example.invalid/a","parentCatalogName":"临时价格干预范围事项提价申报","matter_short":"无","handle_location":"办理地点：广州市越秀区东风中路305号5号楼808房","handle_time":"30(工作日)","handle_time_limit":"7(工作日)","accept_standard":"《广东省实施〈中华人民共和国价格法〉办法》第二十九条规定……","consult_phone":"电话：020-37886901 、020-37886909","complain_phone":"0000swjw","visit_number":"0","theme_category":["其他"],"service_object_name":["自然人","企业法人"],"material_intro":["提价申报申请报告"]}
{"TASK_CODE":"X2","TASK_NAME":"检验检测业务在线咨询","DEPT_NAME":"某局","handle_location":"无线下办理窗口","handle_time":"无","handle_time_limit":"约3天","consult_phone":"020--12345-1","complain_phone":"无","accept_standard":"无。","material_intro":"无"}
{"TASK_CODE":"","TASK_NAME":"没有编码"}
not json
{"TASK_CODE":"X2","TASK_NAME":"重复","DEPT_NAME":"某局"}"#;

    #[test]
    fn cleans_the_crawl() {
        let (guides, report) = convert(ROWS);
        assert_eq!(report.rows, 5);
        assert_eq!(guides.len(), 2);
        let g = &guides[0];
        assert_eq!(g.places[0].address.as_deref(), Some("广州市越秀区东风中路305号5号楼808房"));
        assert_eq!(g.legal_time_limit.as_ref().unwrap().days, 30);
        assert_eq!(g.promised_time_limit.as_ref().unwrap().display(), "7个工作日");
        assert_eq!(g.consult_phone.as_deref(), Some("020-37886901、020-37886909"));
        assert_eq!(g.complaint_phone, None, "no digits worth keeping");
        assert!(g.conditions.is_empty() && g.legal_basis.len() == 1, "legal text goes to legal_basis");
        assert!(g.aliases.is_empty(), "alias equal to the name and “无” are dropped");
        assert!(g.topics.is_empty(), "“其他” is not a topic");
        assert_eq!(g.fees, None, "the catalogue has no fees: not stated, never free");
        assert!(g.validate().is_empty(), "{:?}", g.validate());

        let online = &guides[1];
        assert_eq!(online.places[0].name, "网上办理（无线下办理窗口）");
        assert_eq!(online.consult_phone.as_deref(), Some("020-12345-1"));
        assert_eq!(online.legal_time_limit, None);
        assert_eq!(online.promised_time_limit, None);
        assert!(online.materials.is_empty() && online.conditions.is_empty());

        assert_eq!(report.skipped.len(), 3, "{:?}", report.skipped);
        assert!(report.skipped[0].1.contains("TASK_CODE"));
        assert!(report.skipped[1].1.contains("JSON"));
        assert!(report.skipped[2].1.contains("duplicate"));
        assert_eq!(report.dropped.get("handle_time_limit: not “N(工作日)”"), Some(&1));
        assert_eq!(report.dropped.get("complain_phone: no phone number in it"), Some(&1));
        assert!(report.summary().contains("5 rows, 2 converted, 3 skipped"));
    }
}
