//! Reading field values out of what the citizen writes, by rule.
//!
//! Two situations. Answering a question about one or two fields (“孩子叫什么名字？”): the
//! answer is split into parts and each asked field takes the part that fits its type. Free
//! conversation (“我家宝宝11月20日出生，是个男孩”): only values whose shape is unmistakable are
//! taken — ID numbers, credit codes, mobile numbers, dates, enum options — and only when exactly
//! one missing field of that type could want them, or a label word stands right before them.
//! Every value found still goes through [`super::validate::value`]; the model's extraction
//! ([`model_prompt`]) is the fallback for long free-form messages.

use std::sync::LazyLock;

use banshi_knowledge::bundle::MergedField;
use banshi_knowledge::form::FieldKind;
use regex::Regex;

static ID_NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d{17}[\dXx]").expect("static regex"));
static USCC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[0-9A-HJ-NPQRTUWXY]{18}").expect("static regex"));
static MOBILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"1[3-9]\d{9}").expect("static regex"));
static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:(\d{4})\s*[年\-/.]\s*)?(\d{1,2})\s*[月\-/.]\s*(\d{1,2})\s*[日号]?").expect("static regex"));
static NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\d+(?:\.\d+)?").expect("static regex"));
/// “叫王小明”, “名字是王小明”, “姓名：王小明”.
static NAMED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:叫|名叫|名字是|名字叫|姓名是|姓名[:：])\s*([\p{Han}·]{2,6})").expect("static regex"));
/// Replies that say the citizen does not know or will not say: never a field's value.
static NON_ANSWER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:我)?(?:也)?(?:不清楚|不知道|不晓得|不确定|不记得|记不清|忘了|随便|无所谓|不想说|不方便说|没想好|你猜|算了)")
        .expect("static regex")
});
static SPLIT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[，,；;、。\n]+|\s{2,}").expect("static regex"));

/// Words that carry no value in an answer (“是”, “的”, “我的手机号是”).
const FILLER: &[&str] = &["我的", "我家", "孩子的", "他的", "她的", "是", "为", "叫", "就是", "应该是", "号码", "好的", "嗯"];

fn strip_filler(part: &str, label: &str) -> String {
    let mut s = part.trim().trim_end_matches(['。', '！', '!']).to_string();
    // Drop a restated label (“新生儿姓名：王小明” → “王小明”).
    for sep in ['：', ':'] {
        if let Some((_, rest)) = s.split_once(sep) {
            s = rest.trim().to_string();
        }
    }
    if let Some(rest) = s.strip_prefix(label) {
        s = rest.trim().to_string();
    }
    loop {
        let before = s.clone();
        for f in FILLER {
            if let Some(rest) = s.strip_prefix(f) {
                s = rest.trim().to_string();
            }
        }
        if s == before {
            return s;
        }
    }
}

/// A date found in `text`, as YYYY-MM-DD (a missing year is this year's).
pub fn find_date(text: &str) -> Option<String> {
    let c = DATE.captures(text)?;
    let year = c.get(1).map(|y| y.as_str().to_string()).unwrap_or_else(|| chrono::Local::now().format("%Y").to_string());
    Some(format!("{year}-{:0>2}-{:0>2}", &c[2], &c[3]))
}

/// The candidate value of `field` in one answer part (None: nothing of that shape).
fn candidate(field: &MergedField, part: &str) -> Option<String> {
    if NON_ANSWER.is_match(part.trim()) {
        return None;
    }
    match field.kind {
        FieldKind::IdCard => ID_NUMBER.find(part).map(|m| m.as_str().to_string()),
        FieldKind::Uscc => USCC.find(&part.to_uppercase()).map(|m| m.as_str().to_string()),
        FieldKind::Phone => {
            let compact: String = part.chars().filter(|c| !c.is_whitespace() && *c != '-' && *c != '－').collect();
            let landline = compact.chars().skip_while(|c| !c.is_ascii_digit()).collect::<String>();
            MOBILE
                .find(&compact)
                .map(|m| m.as_str().to_string())
                .or_else(|| Some(landline).filter(|p| p.starts_with('0') && p.chars().all(|c| c.is_ascii_digit())))
        }
        FieldKind::Date => find_date(part),
        FieldKind::Number => NUMBER.find(&part.replace(',', "")).map(|m| m.as_str().to_string()),
        FieldKind::Enum => {
            let mut hits: Vec<&String> = field.options.iter().filter(|o| part.contains(o.as_str())).collect();
            if hits.is_empty() {
                // “邮寄” for 邮寄送达: a short answer that only one option contains.
                let p = strip_filler(part, &field.label);
                if p.chars().count() >= 2 {
                    hits = field.options.iter().filter(|o| o.contains(p.as_str())).collect();
                }
            }
            match hits.as_slice() {
                [one] => Some((*one).clone()),
                // “男孩” contains 男 only; “女儿” 女 only; several options named: ambiguous.
                _ => None,
            }
        }
        FieldKind::YesNo => {
            let p = strip_filler(part, &field.label);
            ["是", "否", "有", "没有", "无", "需要", "不需要", "不是"].iter().find(|w| p == **w || p.starts_with(*w)).map(|w| w.to_string())
        }
        FieldKind::Text => {
            if let Some(c) = NAMED.captures(part) {
                return Some(c[1].to_string());
            }
            Some(strip_filler(part, &field.label)).filter(|s| !s.is_empty() && s.chars().count() <= 40)
        }
        FieldKind::Address => Some(strip_filler(part, &field.label)).filter(|s| s.chars().count() >= 5),
    }
}

/// Values for the `asked` fields from an answer. With one field asked the whole answer is its
/// value; with several, each part of the answer goes to the first asked field it fits.
pub fn from_answer(asked: &[&MergedField], answer: &str) -> Vec<(String, String)> {
    let answer = answer.trim();
    if asked.len() == 1 {
        return candidate(asked[0], answer).map(|v| vec![(asked[0].key.clone(), v)]).unwrap_or_default();
    }
    let parts: Vec<&str> = SPLIT.split(answer).filter(|p| !p.trim().is_empty()).collect();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut used = vec![false; parts.len()];
    // Typed fields first (they recognise their own shape), free text last.
    let mut order: Vec<&&MergedField> = asked.iter().collect();
    order.sort_by_key(|f| matches!(f.kind, FieldKind::Text | FieldKind::Address));
    for f in order {
        for (i, p) in parts.iter().enumerate() {
            if used[i] {
                continue;
            }
            if let Some(v) = candidate(f, p) {
                used[i] = true;
                out.push((f.key.clone(), v));
                break;
            }
        }
    }
    out
}

/// Unmistakable values in free conversation for the `missing` fields: a typed value goes to
/// the field whose label precedes it, else to the only missing field of its type.
pub fn from_conversation(missing: &[&MergedField], text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in missing {
        let finds: Vec<(usize, String)> = match f.kind {
            FieldKind::IdCard => ID_NUMBER.find_iter(text).map(|m| (m.start(), m.as_str().to_string())).collect(),
            FieldKind::Uscc => USCC.find_iter(text).map(|m| (m.start(), m.as_str().to_string())).collect(),
            FieldKind::Phone => MOBILE.find_iter(text).map(|m| (m.start(), m.as_str().to_string())).collect(),
            FieldKind::Date => DATE.find_iter(text).filter_map(|m| find_date(m.as_str()).map(|d| (m.start(), d))).collect(),
            FieldKind::Enum => f.options.iter().filter_map(|o| text.find(o.as_str()).map(|i| (i, o.clone()))).collect(),
            FieldKind::Text => NAMED.captures_iter(text).map(|c| (c.get(1).map_or(0, |m| m.start()), c[1].to_string())).collect(),
            _ => Vec::new(),
        };
        let same_kind = missing.iter().filter(|m| m.kind == f.kind).count();
        let keywords = label_keywords(&f.label);
        // A value right after the field's own label word wins; else one unambiguous value.
        let before = |at: usize| text[..at].chars().rev().take(8).collect::<String>().chars().rev().collect::<String>();
        let labelled = finds.iter().find(|(at, _)| keywords.iter().any(|k| before(*at).contains(k)));
        // An option word is unambiguous when no other missing choice offers it; other values
        // when no other missing field has their type.
        let unambiguous = if f.kind == FieldKind::Enum { distinct_options(missing, f) } else { same_kind == 1 };
        let chosen = match (labelled, finds.as_slice()) {
            (Some((_, v)), _) => Some(v.clone()),
            (None, [(_, v)]) if unambiguous => Some(v.clone()),
            _ => None,
        };
        if let Some(v) = chosen {
            out.push((f.key.clone(), v));
        }
    }
    out
}

/// Words that name whose value it is, for a label (“母亲公民身份号码” → 母亲, 妈妈 …).
fn label_keywords(label: &str) -> Vec<&str> {
    const GROUPS: &[&[&str]] = &[
        &["新生儿", "孩子", "宝宝", "小孩", "儿子", "女儿", "儿童"],
        &["母亲", "妈妈", "孩子妈"],
        &["父亲", "爸爸", "孩子爸"],
        &["监护人"],
        &["法定代表人", "法人"],
        &["经办人", "办税人"],
        &["买受人", "买方", "买家"],
        &["出卖人", "卖方", "卖家", "原户主"],
        &["员工", "职工", "劳动者"],
        &["配偶", "爱人"],
    ];
    GROUPS.iter().find(|g| label.contains(g[0])).map(|g| g.to_vec()).unwrap_or_else(|| vec![label])
}

/// No other missing enum field shares an option with `f` (so 男 cannot be two fields' answer).
fn distinct_options(missing: &[&MergedField], f: &MergedField) -> bool {
    !missing.iter().any(|m| m.key != f.key && m.kind == FieldKind::Enum && m.options.iter().any(|o| f.options.contains(o)))
}

/// A prompt asking the model for the `missing` fields' values in `conversation` as one JSON
/// object; the answer is forced to start with `{` and every value is validated afterwards.
pub fn model_prompt(missing: &[&MergedField], conversation: &str) -> String {
    let fields: Vec<String> = missing
        .iter()
        .map(|f| {
            let opts = if f.options.is_empty() { String::new() } else { format!("，只能是：{}", f.options.join("/")) };
            format!("\"{}\": {}（{}{opts}）", f.key, f.label, super::kind_zh(f.kind))
        })
        .collect();
    format!(
        "从下面的对话中找出这些字段的值，只输出一个JSON对象；对话中没有提到的字段不要输出，不得猜测。\n字段：\n{}\n对话：\n{}",
        fields.join("\n"),
        conversation
    )
}

/// Pairs from the model's JSON answer (anything unparsable yields nothing).
pub fn parse_model_json(text: &str, missing: &[&MergedField]) -> Vec<(String, String)> {
    let start = text.find('{');
    let end = text.rfind('}');
    let (Some(s), Some(e)) = (start, end) else { return Vec::new() };
    if e <= s {
        return Vec::new();
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(&text[s..=e]) else { return Vec::new() };
    map.into_iter()
        .filter(|(k, _)| missing.iter().any(|f| &f.key == k))
        .filter_map(|(k, v)| match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some((k, s)),
            serde_json::Value::Number(n) => Some((k, n.to_string())),
            serde_json::Value::Bool(b) => Some((k, if b { "是" } else { "否" }.to_string())),
            _ => None,
        })
        .collect()
}

/// Chinese numerals read digit by digit (“一三九…” as said on the phone) → ASCII digits;
/// spaces and dashes dropped.
fn digits_of(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '－'))
        .map(|c| match c {
            '零' | '〇' | 'O' => '0',
            '一' | '幺' => '1',
            '二' | '两' => '2',
            '三' => '3',
            '四' => '4',
            '五' => '5',
            '六' => '6',
            '七' => '7',
            '八' => '8',
            '九' => '9',
            c => c.to_ascii_uppercase(),
        })
        .collect()
}

/// Whether a value the model gave for `field` is actually in `conversation`: the model may
/// only copy, never invent (a small model fills gaps with plausible names and dates). Text is
/// kept when it occurs verbatim; numbers when their digits occur (spoken digits count); dates
/// when their year, or their month and day, are said; options when a two-character part of
/// them is said.
pub fn grounded(field: &MergedField, value: &str, conversation: &str) -> bool {
    let compact: String = conversation.chars().filter(|c| !c.is_whitespace()).collect();
    let v: String = value.chars().filter(|c| !c.is_whitespace()).collect();
    match field.kind {
        FieldKind::Text | FieldKind::Address => !v.is_empty() && compact.contains(&v) && !digits_of(&v).chars().all(|c| c.is_ascii_digit()),
        FieldKind::IdCard | FieldKind::Uscc | FieldKind::Phone | FieldKind::Number => digits_of(&compact).contains(&digits_of(&v)),
        FieldKind::Date => {
            let parts: Vec<&str> = value.split('-').collect();
            let said = digits_of(&compact);
            match parts.as_slice() {
                [y, m, d] => {
                    said.contains(y)
                        || (compact.contains(&format!("{}月", m.trim_start_matches('0')))
                            && compact.contains(&format!("{}日", d.trim_start_matches('0'))))
                        || compact.contains(&format!("{}号", d.trim_start_matches('0')))
                }
                _ => false,
            }
        }
        FieldKind::Enum | FieldKind::YesNo => {
            let chars: Vec<char> = v.chars().collect();
            chars.len() < 2 && compact.contains(&v) || chars.windows(2).any(|w| compact.contains(&w.iter().collect::<String>()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(key: &str, label: &str, kind: FieldKind, options: &[&str]) -> MergedField {
        MergedField {
            key: key.into(),
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
    fn answers_fill_the_asked_fields() {
        let name = f("child_name", "新生儿姓名", FieldKind::Text, &[]);
        let gender = f("child_gender", "新生儿性别", FieldKind::Enum, &["男", "女"]);
        assert_eq!(from_answer(&[&name], "王小明"), [("child_name".into(), "王小明".into())]);
        assert_eq!(from_answer(&[&name], "孩子叫王小明。"), [("child_name".into(), "王小明".into())]);
        assert_eq!(from_answer(&[&name], "新生儿姓名：李梓涵"), [("child_name".into(), "李梓涵".into())]);
        assert!(from_answer(&[&name], "不清楚").is_empty() && from_answer(&[&name], "随便吧").is_empty(), "not knowing is not a name");
        let got = from_answer(&[&name, &gender], "王小明，男孩");
        assert!(got.contains(&("child_name".into(), "王小明".into())) && got.contains(&("child_gender".into(), "男".into())), "{got:?}");
        let phone = f("phone", "联系电话", FieldKind::Phone, &[]);
        assert_eq!(from_answer(&[&phone], "我的手机号是138 1234 5678"), [("phone".into(), "13812345678".into())]);
        assert_eq!(from_answer(&[&phone], "020-12345678"), [("phone".into(), "02012345678".into())]);
        let date = f("child_birth_date", "新生儿出生日期", FieldKind::Date, &[]);
        assert_eq!(from_answer(&[&date], "2026年11月20日"), [("child_birth_date".into(), "2026-11-20".into())]);
        let bank = f("bank_name", "社保卡合作银行", FieldKind::Text, &[]);
        let delivery = f("delivery", "领取方式", FieldKind::Enum, &["窗口领取", "邮寄送达"]);
        let got = from_answer(&[&bank, &delivery], "工商银行，邮寄");
        assert!(
            got.contains(&("bank_name".into(), "工商银行".into())) && got.contains(&("delivery".into(), "邮寄送达".into())),
            "a short answer picks the one option containing it: {got:?}"
        );
    }

    #[test]
    fn conversation_values_need_an_unambiguous_home() {
        let mother = f("mother_id_number", "母亲公民身份号码", FieldKind::IdCard, &[]);
        let father = f("father_id_number", "父亲公民身份号码", FieldKind::IdCard, &[]);
        let gender = f("child_gender", "新生儿性别", FieldKind::Enum, &["男", "女"]);
        let text = "宝宝是男孩，11月20日出生。母亲身份证11010519491231002X";
        let got = from_conversation(&[&mother, &father, &gender], text);
        assert!(got.contains(&("mother_id_number".into(), "11010519491231002X".into())), "labelled: {got:?}");
        assert!(!got.iter().any(|(k, _)| k == "father_id_number"), "one ID, two ID fields, no label: not guessed");
        assert!(got.contains(&("child_gender".into(), "男".into())));
        let delivery = f("delivery", "领取方式", FieldKind::Enum, &["窗口领取", "邮寄送达"]);
        let got = from_conversation(&[&gender, &delivery], "11月18日出生的男孩");
        assert_eq!(got, [("child_gender".into(), "男".into())], "other choices do not make an option word ambiguous");
        let name = f("child_name", "新生儿姓名", FieldKind::Text, &[]);
        assert_eq!(from_conversation(&[&name], "我家孩子叫王小明，刚出生"), [("child_name".into(), "王小明".into())]);
    }

    #[test]
    fn model_values_must_be_in_the_conversation() {
        let said = "我想办社保卡，卡想办在建设银行，办好了寄到家里就行。我的手机是一三九零五九一零零零零，孩子11月18日出生";
        assert!(grounded(&f("bank_name", "社保卡合作银行", FieldKind::Text, &[]), "建设银行", said));
        assert!(!grounded(&f("name", "持卡人姓名", FieldKind::Text, &[]), "李明华", said), "an invented name");
        assert!(!grounded(&f("name", "持卡人姓名", FieldKind::Text, &[]), "三九零五九一零零零零", said), "digits are not a name");
        assert!(grounded(&f("phone", "联系电话", FieldKind::Phone, &[]), "13905910000", said), "spoken digits");
        assert!(!grounded(&f("birth_date", "出生日期", FieldKind::Date, &[]), "1970-01-01", said), "an invented date");
        assert!(grounded(&f("child_birth_date", "出生日期", FieldKind::Date, &[]), "2026-11-18", said));
        assert!(!grounded(&f("gender", "性别", FieldKind::Enum, &["男", "女"]), "男", said));
        assert!(!grounded(&f("delivery", "领取方式", FieldKind::Enum, &["窗口领取", "邮寄送达"]), "邮寄送达", said), "寄到 is not 邮寄");
    }

    #[test]
    fn model_json_is_parsed_defensively() {
        let name = f("child_name", "新生儿姓名", FieldKind::Text, &[]);
        assert_eq!(parse_model_json("{\"child_name\": \"王小明\", \"other\": \"x\"}", &[&name]), [("child_name".into(), "王小明".into())]);
        assert!(parse_model_json("不是JSON", &[&name]).is_empty());
        assert!(parse_model_json("{\"child_name\": \"\"}", &[&name]).is_empty());
        assert!(model_prompt(&[&name], "孩子叫王小明").contains("\"child_name\": 新生儿姓名"));
    }
}
