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

use crate::guide::{Guide, Material, Place, Source, SourceKind, Status, TimeLimit};

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
        eligibility: None,
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
        online_form: false,
    }
}

/// “30(工作日)” → 30 working days, “60(自然日)” → 60 calendar days (shown “60日”), “3个月” →
/// 3 months: the unit is kept as the catalogue states it ([`TimeLimit::parse`]). A value with
/// no unit or a unit the parser does not know is dropped and reported, never given a guessed one.
fn time_limit(v: Option<String>, field: &str, report: &mut GdReport) -> Option<TimeLimit> {
    let v = text(v)?;
    let parsed = TimeLimit::parse(&v);
    if parsed.is_none() {
        report.drop(&format!("{field}: not “N(工作日)”, “N(自然日)” or “N个月”"));
    }
    parsed
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
    let numbers: Vec<&str> =
        RE.find_iter(&cleaned).map(|m| m.as_str()).filter(|n| n.chars().filter(char::is_ascii_digit).count() >= 5).collect();
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
    use crate::guide::DayUnit;

    const ROWS: &str = r#"{"TASK_CODE":"11440000006939756B2440101007000","TASK_NAME":"临时价格干预范围事项提价申报","TASK_TYPE_TEXT":"行政许可","DEPT_NAME":"广东省发展和改革委员会","AREA_CODE_TEXT":"广东省","URL":"https://example.invalid/a","parentCatalogName":"临时价格干预范围事项提价申报","matter_short":"无","handle_location":"办理地点：广州市越秀区东风中路305号5号楼808房","handle_time":"30(工作日)","handle_time_limit":"7(工作日)","accept_standard":"《广东省实施〈中华人民共和国价格法〉办法》第二十九条规定……","consult_phone":"电话：020-37886901 、020-37886909","complain_phone":"0000swjw","visit_number":"0","theme_category":["其他"],"service_object_name":["自然人","企业法人"],"material_intro":["提价申报申请报告"]}
{"TASK_CODE":"X2","TASK_NAME":"检验检测业务在线咨询","DEPT_NAME":"某局","handle_location":"无线下办理窗口","handle_time":"无","handle_time_limit":"约3天","consult_phone":"020--12345-1","complain_phone":"无","accept_standard":"无。","material_intro":"无"}
{"TASK_CODE":"","TASK_NAME":"没有编码"}
not json
{"TASK_CODE":"X2","TASK_NAME":"重复","DEPT_NAME":"某局"}"#;

    /// A real catalogue row (建设项目环境影响报告书审批): the legal limit is “60(自然日)”, the
    /// promised one “15(工作日)”.
    const EIA_ROW: &str = r#"{"_id":{"$oid":"60ae6fe1e995f7e541f05849"},"TASK_CODE":"11440000006940060Q2440113106001","ORGCODE":"006940060","TASK_TYPE_TEXT":"行政许可","LIMIT_SCENE_NUM":"0","TASK_STATE":null,"CATANAME":"建设项目环境影响评价文件审批","DEPT_NAME":"广东省生态环境厅","AREA_CODE_TEXT":"广东省","parentCatalogId":"44011310600Y","TASK_TYPE":"01","TASK_NAME":"建设项目环境影响报告书审批","subTaskName":null,"parentCatalogName":"建设项目环境影响评价文件审批","CATAID":"440113106001","URL":"http://114.251.10.15:8080/sso/gd/oauth.jsp","TASK_TAG":null,"AREACODE":"440000","subCatalogName":"建设项目环境影响报告书审批","ONLINECHECK":"1","matter_name":"建设项目环境影响报告书审批","matter_short":"无","matter_daily":"无","matter_code":"无","matter_level":"省级","visit_number":"0","co_department":"无","handle_location":"办理地点：广州市天河区龙口西路213号1楼便民窗口全部窗口","handle_time":"60(自然日)","handle_time_limit":"15(工作日)","matter_type":"行政许可","accept_standard":"1.申请材料齐全。 2.申请材料符合《广东省人民政府关于印发广东省建设项目环境影响评价文件分级审批办法的通知》（粤府〔2019〕6号）、《关于发布广东省生态环境厅审批环境影响报告书（表）的建设项目名录（2021年本）的通知 》（粤环办〔2021〕27号）3.项目申报获码并审核通过后提出业务申请。4.深圳市范围内核与辐射建设项目环境影响报告书由深圳市生态环境部门进行审批。跨市或虽不跨市但造成跨市影响且有争议的项目除外。","consult_phone":"020-87532305","courier_service":"是","bear_paltform":"广东省生态环境厅政务服务统一办理系统","complain_phone":"020-87534138","online_book":"是","online_book_addr":"无","district":"省级","theme_category":["环保绿化"],"service_object_name":["自然人","企业法人","事业法人","社会组织法人"],"material_intro":["建设单位申请报批项目环评文件的申请书","建设项目环境影响报告书","建设项目环境影响评价公众参与说明"]}"#;

    #[test]
    fn a_real_row_keeps_calendar_and_working_days_apart() {
        let (guides, report) = convert(EIA_ROW);
        assert_eq!((guides.len(), report.dropped.len()), (1, 0), "{report:?}");
        let g = &guides[0];
        let legal = g.legal_time_limit.as_ref().unwrap();
        assert_eq!((legal.days, legal.unit, legal.display()), (60, DayUnit::CalendarDays, "60日".to_string()));
        let promised = g.promised_time_limit.as_ref().unwrap();
        assert_eq!((promised.days, promised.unit, promised.display()), (15, DayUnit::WorkingDays, "15个工作日".to_string()));
        // Written out (`--convert-to`) and read back, the units are still there.
        let back: Guide = serde_json::from_str(&serde_json::to_string(g).unwrap()).unwrap();
        assert_eq!(
            (back.legal_time_limit.unwrap().display(), back.promised_time_limit.unwrap().display()),
            ("60日".into(), "15个工作日".into())
        );
    }

    /// Every limit of the real catalogue (../shared/data/gd-items) keeps its unit through the
    /// import, and the converted file shipped in knowledge/guides/gd says the same (it is not a
    /// stale conversion that lost units).
    #[test]
    fn every_catalogue_limit_keeps_its_unit_and_the_shipped_file_agrees() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let raw_path = root.join("../../shared/data/gd-items/policy.jsonl");
        let Ok(raw) = std::fs::read_to_string(&raw_path) else {
            eprintln!("SKIPPED: {} not found", raw_path.display());
            return;
        };
        let unit_re = Regex::new(r"^(\d+)\((工作日|自然日)\)$").unwrap();
        let expected = |v: Option<&str>| -> Option<String> {
            let c = unit_re.captures(v?)?;
            Some(if &c[2] == "自然日" { format!("{}日", &c[1]) } else { format!("{}个工作日", &c[1]) })
        };
        let (guides, _) = convert(&raw);
        let by_code: BTreeMap<&str, &Guide> = guides.iter().map(|g| (g.code.as_str(), g)).collect();
        let (mut calendar, mut working, mut seen) = (0, 0, std::collections::HashSet::new());
        for line in raw.lines() {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            // A code's first row is the one imported (later duplicates are skipped).
            let Some(g) = row["TASK_CODE"].as_str().filter(|c| seen.insert(c.to_string())).and_then(|c| by_code.get(c)) else { continue };
            for (field, limit) in [("handle_time", &g.legal_time_limit), ("handle_time_limit", &g.promised_time_limit)] {
                let want = expected(row[field].as_str());
                assert_eq!(limit.as_ref().map(|t| t.display()), want, "{} {field} {:?}", g.code, row[field]);
                match limit.as_ref().map(|t| t.unit) {
                    Some(DayUnit::CalendarDays) => calendar += 1,
                    Some(DayUnit::WorkingDays) => working += 1,
                    _ => {}
                }
            }
        }
        assert!(calendar >= 13 && working > 3000, "{calendar} calendar-day and {working} working-day limits");
        let shipped = std::fs::read_to_string(root.join("guides/gd/gd-catalogue.jsonl")).unwrap();
        let mut compared = 0;
        for line in shipped.lines() {
            let s: Guide = serde_json::from_str(line).unwrap();
            let g = by_code[s.code.as_str()];
            assert_eq!((&s.legal_time_limit, &s.promised_time_limit), (&g.legal_time_limit, &g.promised_time_limit), "{}", s.code);
            compared += 1;
        }
        assert_eq!(compared, guides.len());
    }

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
        assert_eq!(report.dropped.get("handle_time_limit: not “N(工作日)”, “N(自然日)” or “N个月”"), Some(&1));
        assert_eq!(report.dropped.get("complain_phone: no phone number in it"), Some(&1));
        assert!(report.summary().contains("5 rows, 2 converted, 3 skipped"));
    }
}
