//! Field values checked against the national rules, with errors that say how to fix them.
//!
//! - 公民身份号码 (GB 11643-1999): 17 digits and a check character — weights 7 9 10 5 8 4 2 1 6
//!   3 7 9 10 5 8 4 2, sum mod 11 → 1 0 X 9 8 7 6 5 4 3 2 —, a real birth date, a known
//!   province-level region prefix; a lowercase `x` is normalised.
//! - 统一社会信用代码 (GB 32100-2015): 18 characters from 0-9A-HJ-NPQRTUWXY, weights 3^(i-1)
//!   mod 31, check = 31 − sum mod 31; characters 9–17 are an organisation code (GB 11714) with
//!   its own check character (weights 3 7 9 10 5 8 4 2, 11 − sum mod 11, 10 → X, 11 → 0).
//! - Mobile numbers `^1[3-9]\d{9}$`; landlines with an area code (0xx(x)-xxxxxxx(x)).
//! - Dates (YYYY-MM-DD, YYYY/MM/DD, YYYY年M月D日) must exist and lie within the field's range.

use banshi_knowledge::bundle::MergedField;
use banshi_knowledge::form::FieldKind;
use chrono::NaiveDate;

/// 公民身份号码 check-digit weights.
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";
/// Province-level codes (first two digits) of GB/T 2260, plus 71 台湾, 81 香港, 82 澳门.
const PROVINCES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44", "45", "46", "50",
    "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
];
/// The 31 characters of 统一社会信用代码 (no I, O, S, V, Z).
const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// A normalised 公民身份号码, or why it is wrong.
pub fn id_card(raw: &str) -> Result<String, String> {
    let s: String = raw.trim().chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    let n = s.chars().count();
    if n != 18 {
        return Err(format!("公民身份号码应为 18 位，当前为 {n} 位，请核对后重新输入"));
    }
    let bytes = s.as_bytes();
    if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
        return Err("公民身份号码前 17 位应为数字，最后一位为数字或 X".into());
    }
    if !PROVINCES.contains(&&s[..2]) || &s[2..6] == "0000" {
        return Err(format!("公民身份号码前 6 位地区码 {} 不存在，请核对", &s[..6]));
    }
    let (y, m, d) = (&s[6..10], &s[10..12], &s[12..14]);
    let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d")
        .map_err(|_| format!("公民身份号码中的出生日期 {y}年{m}月{d}日 不存在，请核对第 7–14 位"))?;
    let today = chrono::Local::now().date_naive();
    if birth < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date") || birth > today {
        return Err(format!("公民身份号码中的出生日期 {y}年{m}月{d}日 不合理，请核对第 7–14 位"));
    }
    let sum: u32 = bytes[..17].iter().zip(ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    let expected = ID_CHECK[(sum % 11) as usize] as char;
    if bytes[17] as char != expected {
        return Err(format!("公民身份号码校验位不正确（按前 17 位应为 {expected}），请核对是否有输错的数字"));
    }
    Ok(s)
}

/// Value of an organisation-code character: digits 0–9, letters A=10 … Z=35.
fn org_value(c: char) -> Option<u32> {
    c.to_digit(36)
}

/// The check character of an 8-character organisation code body (GB 11714).
fn org_check(body: &str) -> Option<char> {
    let sum: u32 = body.chars().zip(ORG_WEIGHTS).map(|(c, w)| org_value(c).map(|v| v * w)).sum::<Option<u32>>()?;
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        v => char::from_digit(v, 10).expect("below 10"),
    })
}

/// A normalised 统一社会信用代码, or why it is wrong.
pub fn uscc(raw: &str) -> Result<String, String> {
    let s: String = raw.trim().chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase();
    let n = s.chars().count();
    if n != 18 {
        return Err(format!("统一社会信用代码应为 18 位，当前为 {n} 位，请对照营业执照核对"));
    }
    // The first 17 characters must be from the alphabet; the 18th is judged by the checksum.
    let values: Vec<u32> = match s.chars().take(17).map(|c| USCC_ALPHABET.find(c).map(|i| i as u32)).collect::<Option<Vec<u32>>>() {
        Some(v) => v,
        None => {
            let bad: String = s.chars().take(17).filter(|c| !USCC_ALPHABET.contains(*c)).collect();
            return Err(format!("统一社会信用代码含有不使用的字符“{bad}”（代码中没有 I、O、S、V、Z），请对照营业执照核对"));
        }
    };
    if !s[2..8].bytes().all(|b| b.is_ascii_digit()) {
        return Err("统一社会信用代码第 3–8 位应为行政区划数字码，请核对".into());
    }
    let org = &s[8..17];
    if org_check(&org[..8]) != org.chars().nth(8) {
        let expected = org_check(&org[..8]).map(String::from).unwrap_or_else(|| "?".into());
        return Err(format!("统一社会信用代码第 9–17 位的组织机构代码 {org} 校验位不正确（应为 {expected}），请核对"));
    }
    let mut weight = 1u32;
    let mut sum = 0u32;
    for v in &values {
        sum += v * weight;
        weight = weight * 3 % 31;
    }
    let check = (31 - sum % 31) % 31;
    let expected = USCC_ALPHABET.as_bytes()[check as usize] as char;
    if s.chars().nth(17) != Some(expected) {
        return Err(format!("统一社会信用代码校验位不正确（按前 17 位应为 {expected}），请对照营业执照逐位核对"));
    }
    Ok(s)
}

/// A normalised phone number (mobile, or landline with area code), or why it is wrong.
pub fn phone(raw: &str) -> Result<String, String> {
    let s: String = raw.trim().chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '－').collect();
    let s = s.strip_prefix("+86").unwrap_or(&s).to_string();
    if !s.chars().all(|c| c.is_ascii_digit()) {
        return Err("电话号码只能包含数字（座机可写区号-号码）".into());
    }
    if s.starts_with('1') {
        let b = s.as_bytes();
        if s.len() == 11 && (b'3'..=b'9').contains(&b[1]) {
            return Ok(s);
        }
        return Err(format!("手机号码应为以 13–19 开头的 11 位数字，当前为 {} 位，请核对", s.len()));
    }
    if s.starts_with('0') && (10..=12).contains(&s.len()) {
        return Ok(s);
    }
    Err("请填写 11 位手机号码，或带区号的座机号码（如 020-12345678）".into())
}

/// A date as YYYY-MM-DD (accepts `/`, `.` and 年月日), within `min`..=`max` if given.
pub fn date(raw: &str, min: Option<NaiveDate>, max: Option<NaiveDate>) -> Result<NaiveDate, String> {
    let t = raw.trim().replace(['年', '月', '/', '.'], "-").replace('日', "");
    let d = NaiveDate::parse_from_str(&t, "%Y-%m-%d")
        .map_err(|_| format!("日期“{}”无效，请按 2024-05-01 的格式填写真实存在的日期", raw.trim()))?;
    if let Some(m) = min.filter(|m| d < *m) {
        return Err(format!("日期不能早于 {m}"));
    }
    if let Some(m) = max.filter(|m| d > *m) {
        return Err(format!("日期不能晚于 {m}"));
    }
    Ok(d)
}

/// Longest free-text value accepted.
const MAX_TEXT: usize = 200;

/// A value for `field`, normalised (ID numbers upper-cased, dates as YYYY-MM-DD, yes/no as
/// 是/否, enum values as the option's exact text), or why it is wrong — in Chinese, naming
/// the field and how to fix it.
pub fn value(field: &MergedField, raw: &str) -> Result<String, String> {
    let v = raw.trim();
    let label = &field.label;
    if v.is_empty() {
        return Err(format!("请填写“{label}”"));
    }
    if v.chars().count() > MAX_TEXT {
        return Err(format!("“{label}”过长，请控制在 {MAX_TEXT} 字以内"));
    }
    let today = chrono::Local::now().date_naive();
    match field.kind {
        FieldKind::Text => {
            if v.chars().any(char::is_control) {
                return Err(format!("“{label}”含有不可见字符，请重新输入"));
            }
            Ok(v.to_string())
        }
        FieldKind::IdCard => id_card(v).map_err(|e| format!("{label}：{e}")),
        FieldKind::Uscc => uscc(v).map_err(|e| format!("{label}：{e}")),
        FieldKind::Phone => phone(v).map_err(|e| format!("{label}：{e}")),
        FieldKind::Date => {
            // Birth dates lie in the past; other dates within a plausible window.
            let past_only = label.contains("出生");
            let max = if past_only { Some(today) } else { today.checked_add_signed(chrono::Duration::days(3650)) };
            date(v, NaiveDate::from_ymd_opt(1900, 1, 1), max).map(|d| d.to_string()).map_err(|e| format!("{label}：{e}"))
        }
        FieldKind::Enum => {
            if let Some(o) = field.options.iter().find(|o| o.as_str() == v) {
                return Ok(o.clone());
            }
            let hits: Vec<&String> = field.options.iter().filter(|o| o.contains(v) || v.contains(o.as_str())).collect();
            match hits.as_slice() {
                [one] => Ok((*one).clone()),
                _ => Err(format!("“{label}”请从以下选项中选择：{}", field.options.join("、"))),
            }
        }
        FieldKind::Address => {
            if v.chars().count() < 5 {
                return Err(format!("“{label}”请填写详细地址（区、街道、门牌号）"));
            }
            Ok(v.to_string())
        }
        FieldKind::Number => {
            let n: f64 =
                v.trim_end_matches(['元', '人', '%', '万']).replace(',', "").parse().map_err(|_| format!("“{label}”应为数字，如 100"))?;
            if !n.is_finite() || n < 0.0 {
                return Err(format!("“{label}”不能为负数"));
            }
            Ok(if n.fract() == 0.0 { format!("{}", n as i64) } else { format!("{n}") })
        }
        FieldKind::YesNo => match v {
            "是" | "有" | "需要" | "要" | "已通过" | "通过" | "yes" | "y" | "true" | "是的" | "对" => Ok("是".into()),
            "否" | "无" | "没有" | "不需要" | "不要" | "未通过" | "no" | "n" | "false" | "不是" | "不" => Ok("否".into()),
            _ => Err(format!("“{label}”请回答“是”或“否”")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid ID number with a computed check digit (constructed: 110105 朝阳区, 1949-12-31).
    fn with_check(first17: &str) -> String {
        let sum: u32 = first17.bytes().zip(ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        format!("{first17}{}", ID_CHECK[(sum % 11) as usize] as char)
    }

    #[test]
    fn id_numbers_follow_gb_11643() {
        // The standard's own example: 11010519491231002X.
        assert_eq!(id_card("11010519491231002X").unwrap(), "11010519491231002X");
        assert_eq!(id_card(" 11010519491231002x ").unwrap(), "11010519491231002X", "lowercase x is normalised");
        assert_eq!(id_card(&with_check("44010619900307123")).unwrap().len(), 18);
        assert!(id_card("110105194912310021").unwrap_err().contains("应为 X"), "wrong check digit names the right one");
        assert!(id_card("11010519491231002").unwrap_err().contains("17 位"));
        assert!(id_card(&with_check("11010519490231002")).unwrap_err().contains("不存在"), "1949-02-31 is no date");
        assert!(id_card(&with_check("99010519491231002")).unwrap_err().contains("地区码"), "no province 99");
        assert!(id_card(&with_check("11010530000101002")).unwrap_err().contains("不合理"), "born in 3000");
        assert!(id_card("11010519491231002Y").is_err());
    }

    #[test]
    fn credit_codes_follow_gb_32100_and_gb_11714() {
        // The standard's own example is wrong in its last character: it should be 3.
        let e = uscc("91350100M000100Y4Z").unwrap_err();
        assert!(e.contains("应为 3"), "{e}");
        assert_eq!(uscc("91350100M000100Y43").unwrap(), "91350100M000100Y43");
        assert_eq!(uscc("91350100m000100y43").unwrap(), "91350100M000100Y43", "case is normalised");
        assert!(uscc("91350100M000100Y4").unwrap_err().contains("18 位"));
        assert!(uscc("91350100M0001O0Y43").unwrap_err().contains("不使用的字符"), "O is not in the alphabet");
        // Organisation code check: M000100Y's check character is 4, not 5.
        assert!(uscc("91350100M000100Y53").unwrap_err().contains("组织机构代码"));
        assert_eq!(org_check("M000100Y"), Some('4'));
        assert_eq!(org_check("D2143569"), Some('X'), "a remainder of 1 gives 10, written X");
    }

    fn field(kind: FieldKind, label: &str, options: &[&str]) -> MergedField {
        MergedField {
            key: "k".into(),
            label: label.into(),
            kind,
            required: true,
            options: options.iter().map(|s| s.to_string()).collect(),
            help: None,
            sources: vec![],
            items: vec![],
            produced_by: None,
        }
    }

    #[test]
    fn values_are_normalised_or_explained() {
        assert_eq!(value(&field(FieldKind::Enum, "性别", &["男", "女"]), "女").unwrap(), "女");
        assert_eq!(value(&field(FieldKind::Enum, "领取方式", &["窗口领取", "邮寄送达"]), "邮寄").unwrap(), "邮寄送达");
        assert!(value(&field(FieldKind::Enum, "性别", &["男", "女"]), "未知").unwrap_err().contains("男、女"));
        assert_eq!(value(&field(FieldKind::YesNo, "是否", &[]), "没有").unwrap(), "否");
        assert_eq!(value(&field(FieldKind::Number, "注册资本（万元）", &[]), "1,000").unwrap(), "1000");
        assert!(value(&field(FieldKind::Number, "人数", &[]), "-3").is_err());
        assert!(value(&field(FieldKind::Date, "出生日期", &[]), "2999-01-01").unwrap_err().contains("出生日期"), "births are in the past");
        assert!(value(&field(FieldKind::Address, "住址", &[]), "北京").is_err());
        assert!(value(&field(FieldKind::IdCard, "母亲公民身份号码", &[]), "123").unwrap_err().starts_with("母亲公民身份号码"));
        assert!(value(&field(FieldKind::Text, "姓名", &[]), "  ").is_err());
        assert!(value(&field(FieldKind::Text, "姓名", &[]), &"长".repeat(201)).is_err());
    }

    #[test]
    fn no_input_makes_a_validator_panic() {
        let odd = [
            "",
            "中文中文中文中文中文中文中文中文中文",
            "11010519491231002中",
            "９１３５０１００Ｍ０００１００Ｙ４３",
            "\u{0}\u{7}",
            "1",
            "XXXXXXXXXXXXXXXXXX",
            "0000-00-00",
            "2024年13月40日",
        ];
        for s in odd {
            let _ = (id_card(s), uscc(s), phone(s), date(s, None, None));
            for k in [
                FieldKind::Text,
                FieldKind::IdCard,
                FieldKind::Uscc,
                FieldKind::Phone,
                FieldKind::Date,
                FieldKind::Enum,
                FieldKind::Address,
                FieldKind::Number,
                FieldKind::YesNo,
            ] {
                let _ = value(&field(k, "字段", &["甲"]), s);
            }
        }
    }

    #[test]
    fn phones_and_dates() {
        assert_eq!(phone("138 1234 5678").unwrap(), "13812345678");
        assert_eq!(phone("+86 139-0000-1111").unwrap(), "13900001111");
        assert!(phone("12812345678").is_err(), "no 12x mobile numbers");
        assert!(phone("1381234567").unwrap_err().contains("11 位"));
        assert_eq!(phone("020-12345678").unwrap(), "02012345678");
        assert!(phone("abc").is_err());
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(date("2024年5月1日", None, None).unwrap(), d("2024-05-01"));
        assert_eq!(date("2024/05/01", None, None).unwrap(), d("2024-05-01"));
        assert!(date("2023-02-29", None, None).unwrap_err().contains("真实存在"));
        assert!(date("2024-05-01", Some(d("2024-06-01")), None).unwrap_err().contains("不能早于"));
        assert!(date("2024-05-01", None, Some(d("2024-04-01"))).unwrap_err().contains("不能晚于"));
    }
}
