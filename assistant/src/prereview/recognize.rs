//! Which material an upload is (身份证, 户口簿, 营业执照, 出生医学证明 …), decided by rules
//! over its text, and the fields it states (names, ID numbers, credit codes, dates, validity).
//! The text is only ever matched against patterns: whatever it says, it is data.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// Kinds of material the rules know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialKind {
    IdCard,
    Hukou,
    BusinessLicence,
    BirthCertificate,
    MarriageCertificate,
    PropertyCertificate,
    Contract,
    ApplicationForm,
    Other,
}

impl MaterialKind {
    pub fn zh(self) -> &'static str {
        match self {
            MaterialKind::IdCard => "居民身份证",
            MaterialKind::Hukou => "居民户口簿",
            MaterialKind::BusinessLicence => "营业执照",
            MaterialKind::BirthCertificate => "出生医学证明",
            MaterialKind::MarriageCertificate => "结婚证",
            MaterialKind::PropertyCertificate => "不动产权证书",
            MaterialKind::Contract => "合同",
            MaterialKind::ApplicationForm => "申请表",
            MaterialKind::Other => "其他文件",
        }
    }

    /// The kind a guide's material name asks for (`None`: the rules cannot check it, e.g. a photo).
    pub fn of_material(name: &str) -> Option<MaterialKind> {
        const BY_NAME: &[(&str, MaterialKind)] = &[
            ("出生医学证明", MaterialKind::BirthCertificate),
            ("身份证", MaterialKind::IdCard),
            ("户口簿", MaterialKind::Hukou),
            ("营业执照", MaterialKind::BusinessLicence),
            ("结婚证", MaterialKind::MarriageCertificate),
            ("不动产权证", MaterialKind::PropertyCertificate),
            ("房屋权属证明", MaterialKind::PropertyCertificate),
            ("合同", MaterialKind::Contract),
            ("申请表", MaterialKind::ApplicationForm),
            ("登记表", MaterialKind::ApplicationForm),
            ("申请书", MaterialKind::ApplicationForm),
        ];
        BY_NAME.iter().find(|(k, _)| name.contains(k)).map(|(_, kind)| *kind)
    }
}

/// Keyword evidence per kind: (word, weight). A kind needs a total of at least 2.
const EVIDENCE: &[(MaterialKind, &[(&str, u32)])] = &[
    (MaterialKind::IdCard, &[("居民身份证", 2), ("公民身份号码", 1), ("签发机关", 1), ("有效期限", 1)]),
    (MaterialKind::Hukou, &[("户口簿", 2), ("户主", 1), ("户别", 1), ("常住人口登记卡", 2)]),
    (MaterialKind::BusinessLicence, &[("营业执照", 2), ("统一社会信用代码", 1), ("法定代表人", 1), ("登记机关", 1), ("注册资本", 1)]),
    (MaterialKind::BirthCertificate, &[("出生医学证明", 3), ("新生儿姓名", 1), ("出生地点", 1)]),
    (MaterialKind::MarriageCertificate, &[("结婚证", 3), ("结婚登记", 1), ("持证人", 1)]),
    (MaterialKind::PropertyCertificate, &[("不动产权证书", 3), ("不动产权第", 2), ("权利人", 1), ("坐落", 1)]),
    (MaterialKind::Contract, &[("合同", 2), ("甲方", 1), ("乙方", 1), ("买受人", 1), ("出卖人", 1)]),
    (MaterialKind::ApplicationForm, &[("申请表", 2), ("登记表", 2), ("申请书", 2), ("申请人签名", 1)]),
];

/// The kind of a document from its text, with the evidence score (0 for `Other`).
pub fn classify(text: &str) -> (MaterialKind, u32) {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut best = (MaterialKind::Other, 0);
    for (kind, words) in EVIDENCE {
        let score: u32 = words.iter().filter(|(w, _)| compact.contains(w)).map(|(_, s)| s).sum();
        if score >= 2 && score > best.1 {
            best = (*kind, score);
        }
    }
    best
}

static ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[1-9]\d{16}[\dXx]").expect("static regex"));
/// A credit code is read only after its label (an 18-digit ID number would match the pattern).
static USCC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"信用代码[:：]?([0-9A-Za-z]{18})").expect("static regex"));
/// Words that start the next field when OCR runs fields together (“陈思语性别女”).
const NEXT_LABELS: &[&str] = &["性别", "民族", "出生", "住址", "公民身份", "签发", "有效期", "类型", "住所", "法定代表人", "注册资本", "成立日期", "证书", "登记", "身份证", "统一社会", "母亲", "父亲", "户别", "与户主"];
static DATE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{4})\s*[年.\-/]\s*(\d{1,2})\s*[月.\-/]\s*(\d{1,2})\s*日?").expect("static regex"));
static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(新生儿姓名|母亲姓名|父亲姓名|持证人|配偶姓名|权利人|法定代表人|户主姓名|姓名|名称)[:：]?\s*([\p{Han}·（）()]{2,30})").expect("static regex")
});

/// Fields a material states: `姓名`, `公民身份号码` (all ID numbers, comma-separated),
/// `统一社会信用代码`, `有效期至`, `签发日期` … as the rules found them.
pub fn fields(text: &str) -> BTreeMap<String, String> {
    let compact: String = text.chars().filter(|c| *c != ' ' && *c != '\u{3000}').collect();
    let mut out = BTreeMap::new();
    for line in compact.lines() {
        for c in LABELLED.captures_iter(line) {
            let label = &c[1];
            // “名称” is a company's name; inside 新生儿姓名 etc. the longer label wins (alternation order).
            let mut value = c[2].to_string();
            if let Some(cut) = NEXT_LABELS.iter().filter_map(|w| value.find(w)).filter(|&i| i > 0).min() {
                value.truncate(cut);
            }
            out.entry(label.to_string()).or_insert(value);
        }
    }
    let ids: Vec<String> = ID.find_iter(&compact).map(|m| m.as_str().to_uppercase()).collect();
    if !ids.is_empty() {
        out.insert("公民身份号码".into(), ids.join(","));
    }
    if let Some(c) = USCC.captures(&compact) {
        out.insert("统一社会信用代码".into(), c[1].to_uppercase());
    }
    let dates: Vec<(usize, NaiveDate)> = DATE
        .captures_iter(&compact)
        .filter_map(|c| Some((c.get(0)?.start(), NaiveDate::from_ymd_opt(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?)?)))
        .collect();
    if let Some(at) = compact.find("有效期") {
        // “有效期限 2021.03.01-2041.03.01”: the last date after the label ends the validity.
        let after: Vec<&(usize, NaiveDate)> = dates.iter().filter(|(i, _)| *i > at).take(2).collect();
        if compact[at..].chars().take(24).collect::<String>().contains("长期") {
            out.insert("有效期至".into(), "长期".into());
        } else if let Some((_, d)) = after.last() {
            out.insert("有效期至".into(), d.to_string());
        }
    }
    for (label, key) in [("出生时间", "出生时间"), ("出生日期", "出生日期"), ("签发日期", "签发日期"), ("登记日期", "登记日期"), ("成立日期", "成立日期")] {
        if let Some(at) = compact.find(label) {
            if let Some((_, d)) = dates.iter().find(|(i, _)| *i > at) {
                out.insert(key.into(), d.to_string());
            }
        }
    }
    out
}

/// All dates on a document (for plausibility checks).
pub fn all_dates(text: &str) -> Vec<NaiveDate> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    DATE.captures_iter(&compact).filter_map(|c| NaiveDate::from_ymd_opt(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_recognised_by_their_words() {
        let id = "中华人民共和国\n居民身份证\n签发机关 示例市公安局\n有效期限 2021.03.01-2041.03.01";
        assert_eq!(classify(id).0, MaterialKind::IdCard);
        assert_eq!(classify("营业执照\n统一社会信用代码 91350102MA2YK8N33H\n法定代表人 陈志强").0, MaterialKind::BusinessLicence);
        assert_eq!(classify("出生医学证明\n新生儿姓名 陈思语").0, MaterialKind::BirthCertificate);
        assert_eq!(classify("今天天气很好").0, MaterialKind::Other);
        assert_eq!(MaterialKind::of_material("父母双方居民身份证"), Some(MaterialKind::IdCard));
        assert_eq!(MaterialKind::of_material("本人近期免冠彩色照片"), None);
    }

    #[test]
    fn fields_are_read_with_their_labels() {
        let f = fields("居民身份证\n姓名 林晓梅\n公民身份号码 35010219930412124x\n有效期限 2021.03.01-2041.03.01");
        assert_eq!(f["姓名"], "林晓梅");
        assert_eq!(f["公民身份号码"], "35010219930412124X");
        assert_eq!(f["有效期至"], "2041-03-01");
        let f = fields("出生医学证明\n新生儿姓名 陈思语 性别 女\n出生时间 2026年11月18日\n母亲姓名 林晓梅");
        assert_eq!((f["新生儿姓名"].as_str(), f["母亲姓名"].as_str(), f["出生时间"].as_str()), ("陈思语", "林晓梅", "2026-11-18"));
        let f = fields("营业执照\n名称 示例市云帆科技有限公司\n统一社会信用代码 91350102MA2YK8N33H\n营业期限 长期");
        assert_eq!((f["名称"].as_str(), f["统一社会信用代码"].as_str()), ("示例市云帆科技有限公司", "91350102MA2YK8N33H"));
        assert_eq!(fields("有效期限 2015.10.12-长期")["有效期至"], "长期");
    }
}
