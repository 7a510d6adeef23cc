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

/// Keyword evidence per kind: (word, weight). A kind needs a total of at least 2. The resident ID
/// card has two sides: the back (国徽面) says 居民身份证, 签发机关 and 有效期限; the front
/// (人像面) says none of them and is recognised by its labels ([`id_card_front`]).
const EVIDENCE: &[(MaterialKind, &[(&str, u32)])] = &[
    (MaterialKind::IdCard, &[("居民身份证", 2), ("公民身份号码", 1), ("签发机关", 1), ("有效期限", 1)]),
    (MaterialKind::Hukou, &[("户口簿", 2), ("户主", 1), ("户别", 1), ("常住人口登记卡", 2), ("与户主关系", 1)]),
    (MaterialKind::BusinessLicence, &[("营业执照", 2), ("统一社会信用代码", 1), ("法定代表人", 1), ("登记机关", 1), ("注册资本", 1)]),
    (MaterialKind::BirthCertificate, &[("出生医学证明", 3), ("新生儿姓名", 1), ("出生地点", 1)]),
    (MaterialKind::MarriageCertificate, &[("结婚证", 3), ("结婚登记", 1), ("持证人", 1)]),
    (MaterialKind::PropertyCertificate, &[("不动产权证书", 3), ("不动产权第", 2), ("权利人", 1), ("坐落", 1)]),
    (MaterialKind::Contract, &[("合同", 2), ("甲方", 1), ("乙方", 1), ("买受人", 1), ("出卖人", 1)]),
    (MaterialKind::ApplicationForm, &[("申请表", 2), ("登记表", 2), ("申请书", 2), ("申请人签名", 1)]),
];

/// Labels printed on the front (人像面) of the resident ID card, in order; 公民身份号码 last.
const ID_FRONT_LABELS: [&str; 5] = ["姓名", "性别", "民族", "出生", "住址"];

/// The front of a resident ID card: the 公民身份号码 label (or an ID number, when OCR garbled
/// the label) with at least four of 姓名 / 性别 / 民族 / 出生 / 住址. Worth 2, the least that
/// decides a kind, so a register page with the same labels and its own words (户主, 常住人口登记卡)
/// stays a register.
fn id_card_front(compact: &str) -> u32 {
    let number = compact.contains("公民身份号码") || ID.is_match(compact);
    let labels = ID_FRONT_LABELS.iter().filter(|l| compact.contains(*l)).count();
    if number && labels >= 4 {
        2
    } else {
        0
    }
}

/// The kind of a document from its text, with the evidence score (0 for `Other`). Ties go to
/// the kind listed first in [`EVIDENCE`], except that the ID card's front-side layout loses ties.
pub fn classify(text: &str) -> (MaterialKind, u32) {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut best = (MaterialKind::Other, 0);
    for (kind, words) in EVIDENCE {
        let score: u32 = words.iter().filter(|(w, _)| compact.contains(w)).map(|(_, s)| s).sum();
        if score >= 2 && score > best.1 {
            best = (*kind, score);
        }
    }
    let front = id_card_front(&compact);
    if front > best.1 {
        best = (MaterialKind::IdCard, front);
    }
    best
}

static ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[1-9]\d{16}[\dXx]").expect("static regex"));
/// A credit code is read only after its label (an 18-digit ID number would match the pattern).
static USCC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"信用代码[:：]?\s*([0-9A-Za-z]{18})").expect("static regex"));
/// Words that start the next field when OCR runs fields together (“陈思语性别女”).
const NEXT_LABELS: &[&str] = &[
    "性别",
    "民族",
    "出生",
    "住址",
    "公民身份",
    "签发",
    "有效期",
    "类型",
    "住所",
    "法定代表人",
    "注册资本",
    "成立日期",
    "证书",
    "登记",
    "身份证",
    "统一社会",
    "母亲",
    "父亲",
    "户别",
    "与户主",
];
static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(\d{4})\s*[年.\-/]\s*(\d{1,2})\s*[月.\-/]\s*(\d{1,2})\s*日?").expect("static regex"));
static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(新生儿姓名|母亲姓名|父亲姓名|持证人|配偶姓名|权利人|法定代表人|户主姓名|姓名|名称)[:：]?\s*([\p{Han}·（）()]{2,30})")
        .expect("static regex")
});

/// A line that is only a label (OCR put the value on the next line: “姓名” then “林晓梅”).
static LABEL_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(新生儿姓名|母亲姓名|父亲姓名|持证人|配偶姓名|权利人|法定代表人|户主姓名|姓名|名称)[:：]?$").expect("static regex")
});

/// Lines with a label alone on its line joined to the line after it, unless that line starts
/// with a label itself (the value was not read; nothing is borrowed from the next field).
fn join_split_labels(compact: &str) -> Vec<String> {
    let lines: Vec<&str> = compact.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let next =
            lines.get(i + 1).filter(|n| !LABEL_ONLY.is_match(n) && !LABELLED.is_match(n) && !NEXT_LABELS.iter().any(|w| n.starts_with(w)));
        match next {
            Some(n) if LABEL_ONLY.is_match(lines[i]) => {
                out.push(format!("{}{n}", lines[i]));
                i += 2;
            }
            _ => {
                out.push(lines[i].to_string());
                i += 1;
            }
        }
    }
    out
}

/// Fields a material states: `姓名`, `公民身份号码` (all ID numbers, comma-separated),
/// `统一社会信用代码`, `有效期至`, `签发日期` … as the rules found them. A label and its value may
/// be on one line or on consecutive lines (OCR reads them as separate boxes); a value never
/// runs into the next label. Fields the text does not state are absent, never guessed.
pub fn fields(text: &str) -> BTreeMap<String, String> {
    let compact: String = text.chars().filter(|c| *c != ' ' && *c != '\u{3000}').collect();
    let mut out = BTreeMap::new();
    for line in join_split_labels(&compact) {
        for c in LABELLED.captures_iter(&line) {
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
    for (label, key) in
        [("出生时间", "出生时间"), ("出生日期", "出生日期"), ("签发日期", "签发日期"), ("登记日期", "登记日期"), ("成立日期", "成立日期")]
    {
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
    DATE.captures_iter(&compact)
        .filter_map(|c| NaiveDate::from_ymd_opt(c[1].parse().ok()?, c[2].parse().ok()?, c[3].parse().ok()?))
        .collect()
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

    /// The two sides of a resident ID card as OCR reads them: the front (人像面) has no
    /// 居民身份证 / 签发机关 / 有效期限 text at all, only its labels and values.
    const FRONT: &str =
        "姓名 林晓梅\n性别 女 民族 汉\n出生 1993 年 4 月 12 日\n住址 示例市鼓楼区五四路100号\n公民身份号码 35010219930412124X";
    const BACK: &str = "中华人民共和国\n居民身份证\n签发机关 示例市公安局\n有效期限 2021.03.01-2041.03.01";

    #[test]
    fn both_sides_of_the_id_card_are_recognised() {
        assert_eq!(classify(FRONT).0, MaterialKind::IdCard, "front");
        assert_eq!(classify(BACK).0, MaterialKind::IdCard, "back");
        // OCR garbles the number's label: the number and four labels still make a front.
        assert_eq!(classify(&FRONT.replace("公民身份号码", "公民身份号鸡")).0, MaterialKind::IdCard);
        // Labels alone, or a number with two labels, are not enough.
        assert_eq!(classify("姓名 林晓梅\n性别 女\n民族 汉\n出生 1993年4月12日\n住址 示例市").0, MaterialKind::Other);
        assert_eq!(classify("姓名 林晓梅\n住址 示例市\n35010219930412124X").0, MaterialKind::Other);
        // A register's page has the same labels, and its own words: still a register.
        let register = "常住人口登记卡\n姓名 林晓梅 户主或与户主关系 妻\n性别 女 民族 汉\n出生日期 1993年4月12日\n住址 示例市鼓楼区\n公民身份号码 35010219930412124X";
        assert_eq!(classify(register).0, MaterialKind::Hukou);
        let f = fields(FRONT);
        assert_eq!((f["姓名"].as_str(), f["公民身份号码"].as_str()), ("林晓梅", "35010219930412124X"));
        assert_eq!(fields(BACK)["有效期至"], "2041-03-01");
    }

    #[test]
    fn labels_and_values_on_separate_lines_are_read_together() {
        let f = fields("姓名\n林晓梅\n性别\n女\n民族\n汉\n公民身份号码\n35010219930412124X");
        assert_eq!((f["姓名"].as_str(), f["公民身份号码"].as_str()), ("林晓梅", "35010219930412124X"));
        let f = fields("出生医学证明\n新生儿姓名：\n陈思语\n母亲姓名\n林晓梅\n出生时间\n2026年11月18日");
        assert_eq!((f["新生儿姓名"].as_str(), f["母亲姓名"].as_str(), f["出生时间"].as_str()), ("陈思语", "林晓梅", "2026-11-18"));
        let f = fields("营业执照\n统一社会信用代码\n91350102MA2YK8N33H\n名称\n示例市云帆科技有限公司");
        assert_eq!((f["统一社会信用代码"].as_str(), f["名称"].as_str()), ("91350102MA2YK8N33H", "示例市云帆科技有限公司"));
        // A label whose value OCR missed borrows nothing from the next field.
        let f = fields("姓名\n性别 女\n公民身份号码 35010219930412124X");
        assert!(!f.contains_key("姓名"), "{f:?}");
        // The value line stops at the next label, as on one line.
        assert_eq!(fields("姓名\n林晓梅性别女")["姓名"], "林晓梅");
    }
}
