//! Personal data out of logs: the one masking function every log line goes through.
//!
//! - [`mask_pii`]: numbers and names in free text. Any run of 11 or more digits — ASCII,
//!   full-width (`１３９`) or other Unicode digits, joined by up to three separators (spaces,
//!   dashes, full-width spaces and dashes, parentheses, zero-width characters, the escapes
//!   `\t` / `\u{200b}` / `\u3000` that Debug and JSON formatting write), optionally led by `+` / `＋`
//!   and ended by an ID number's check character `X` / `x` — keeps its first 3 and last 4
//!   digits and shows `*` for the others. That covers 18-digit resident ID numbers, mobiles
//!   with or without `+86` / `86`, landlines with area codes and bank cards in every spacing.
//!   Names after a cue (我叫, 姓名, 申请人, 联系人, 孩子叫 …, or 我是 / 先生 / 女士 around a common
//!   surname) become `*`s.
//! - [`mask_log_line`]: [`mask_pii`], plus the values of fields whose key names personal data
//!   (`name=`, `"phone":` …), for whole formatted log lines; [`MaskedWriter`] applies it to
//!   every line the binary's logger writes, so a call site that forgets is still covered.
//! - [`preview`]: a short masked preview of a citizen's message; [`pseudonym`]: a stable,
//!   unreversible stand-in for a citizen's username within one process run.
//!
//! Left as they are (they are not personal and operators need them): 32/40/64-character hex
//! tokens with at least one letter (session ids, hashes), dashed UUIDs, and tracking numbers
//! (`BS` + 14 digits). Limits: a number split by more than three separators in a row, or by
//! anything else (letters, commas), is not recognised as one run; names are found by cues
//! and a surname list, not by a model, so a bare name without a cue stays — call sites must
//! not log names (they log ids, or [`pseudonym`]s of usernames).

use std::borrow::Cow;
use std::io::Write;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

/// Digit runs shorter than this are left alone (amounts, dates, counts, durations).
const MIN_DIGITS: usize = 11;
/// Leading digits a masked run keeps.
const KEEP_HEAD: usize = 3;
/// Trailing digits (or check character) a masked run keeps.
const KEEP_TAIL: usize = 4;
/// Separator characters in a row that still join two digit groups.
const MAX_GAP: usize = 3;

/// Tokens that look like long numbers but are not personal: hex ids and hashes, UUIDs,
/// tracking numbers. ASCII word boundaries, so `编号BS2026…` still counts as a boundary.
static PROTECTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?-u:\b)(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        r"|[0-9a-fA-F]{64}|[0-9a-fA-F]{40}|[0-9a-fA-F]{32}|BS[0-9]{14})(?-u:\b)",
    ))
    .unwrap()
});

/// Common surnames (the hundred most frequent, plus the first characters of compound surnames
/// such as 欧阳, 司马, 诸葛, 上官).
const SURNAMES: &str =
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任卢姚沈钟姜崔谭陆范汪廖\
    石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严欧莫孔向常汤康易乔赖文施洪牛樊葛邢安齐伍庞颜倪庄\
    聂章鲁岳翟殷詹申耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解\
    牟艾尤阳穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛\
    仲虞敖巩佘池查麻苑迟邝封谈匡鞠惠荆乐冀郁胥班储栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻厉伊仝郜阚权强帅屠豆朴盖练廉禹井祖漆巴丰支卿\
    狄计索宣晋初诸上皇慕宇轩令";

/// A name after a cue: `(cue)(filler)(name)`; the name is masked.
static NAME_AFTER_CUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        "(?:我叫|我名叫|我的名字(?:是|叫)|名字(?:是|叫)|姓名|叫做|本人|申请人|联系人|代理人|经办人|法定代表人|法人代表|法人|户主|监护人|收件人|持证人|\
         (?:孩子|儿子|女儿|宝宝|小孩|爸爸|妈妈|父亲|母亲|老公|老婆|丈夫|妻子|爱人|我爸|我妈)(?:叫|名叫|的名字(?:是|叫)|名字(?:是|叫))|我是)\
         [\\s:：\"“]{{0,2}}(?:是|为)?[\\s\"“]{{0,2}}([{SURNAMES}]\\p{{Han}}{{1,3}})"
    ))
    .unwrap()
});

/// A full name before an honorific: `王小明先生`.
static NAME_BEFORE_TITLE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!("([{SURNAMES}]\\p{{Han}}{{1,2}})(?:先生|女士|同志|老师|师傅)")).unwrap());

/// Fields whose whole value is personal data, in the text (`key=value`, `key="…"`) and JSON
/// (`"key":"…"`) log formats, with the colour escapes a terminal gets between the parts.
static SENSITIVE_FIELD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r#"((?:^|[\s{,(])(?:\x1b\[[0-9;]*m)*"?"#,
        r"(?:name|display_name|real_name|full_name|citizen_name|legal_person|id_number|id_card|phone|mobile|address|password|profile)",
        r#""?(?:\x1b\[[0-9;]*m)*[=:](?:\x1b\[[0-9;]*m)*)("(?:[^"\\]|\\.)*"|[^\s,}\x1b]+)"#,
    ))
    .unwrap()
});

/// What one piece of text is, for finding digit runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Digit,
    /// `X` / `x` (also full-width): an ID number's check character.
    Check,
    /// `+` / `＋`: a country-code prefix.
    Plus,
    Separator,
    Other,
}

/// A piece of text: one character, an escape sequence standing for one (`\t`, `\u{3000}`), or
/// a whole protected token.
struct Token {
    start: usize,
    end: usize,
    kind: Kind,
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c) || (!c.is_ascii() && c.is_numeric())
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '-' | '(' | ')' | '（' | '）' | '\u{00A0}' | '\u{2000}'..='\u{200D}' | '\u{2010}'..='\u{2015}' | '\u{2060}' | '\u{202F}'
            | '\u{205F}' | '\u{2212}' | '\u{3000}' | '\u{FE58}' | '\u{FE63}' | '\u{FEFF}' | '\u{FF0D}'
    )
}

fn kind_of(c: char) -> Kind {
    if is_digit(c) {
        Kind::Digit
    } else if matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ') {
        Kind::Check
    } else if matches!(c, '+' | '＋') {
        Kind::Plus
    } else if is_separator(c) {
        Kind::Separator
    } else {
        Kind::Other
    }
}

/// The length of an escape sequence at the start of `s` (which starts with `\`) that stands
/// for a separator: `\t`, `\n`, `\r`, `\u{…}` (Rust Debug) or `\uXXXX` (JSON).
fn escaped_separator(s: &str) -> Option<usize> {
    let rest = &s[1..];
    if rest.starts_with(['t', 'n', 'r']) {
        return Some(2);
    }
    let (hex, len) = if let Some(r) = rest.strip_prefix("u{") {
        let close = r.find('}').filter(|&i| (1..=6).contains(&i))?;
        (&r[..close], 3 + close + 1)
    } else {
        let r = rest.strip_prefix('u')?;
        (r.get(..4)?, 6)
    };
    let c = char::from_u32(u32::from_str_radix(hex, 16).ok()?)?;
    is_separator(c).then_some(len)
}

fn tokenize(s: &str) -> Vec<Token> {
    let protected: Vec<(usize, usize)> = PROTECTED
        .find_iter(s)
        .filter(|m| m.as_str().starts_with("BS") || m.as_str().bytes().any(|b| b.is_ascii_alphabetic()))
        .map(|m| (m.start(), m.end()))
        .collect();
    let mut tokens = Vec::with_capacity(s.len());
    let mut next_protected = protected.into_iter().peekable();
    let mut i = 0;
    while i < s.len() {
        if let Some(&(start, end)) = next_protected.peek() {
            if start == i {
                tokens.push(Token { start, end, kind: Kind::Other });
                next_protected.next();
                i = end;
                continue;
            }
        }
        let c = s[i..].chars().next().expect("i is on a character boundary");
        let (len, kind) = match c {
            '\\' => escaped_separator(&s[i..]).map_or((1, Kind::Other), |n| (n, Kind::Separator)),
            c => (c.len_utf8(), kind_of(c)),
        };
        tokens.push(Token { start: i, end: i + len, kind });
        i += len;
    }
    tokens
}

/// Mask long digit runs (see the module docs); borrowed when there are none.
fn mask_numbers(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_digit) {
        return Cow::Borrowed(s);
    }
    let tokens = tokenize(s);
    // Token indexes of the digits (and check characters) to hide.
    let mut hide = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let first_digit = match tokens[i].kind {
            Kind::Digit => i,
            Kind::Plus if tokens.get(i + 1).is_some_and(|t| t.kind == Kind::Digit) => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        let mut digits = vec![first_digit];
        let mut j = first_digit + 1;
        while j < tokens.len() {
            match tokens[j].kind {
                Kind::Digit => {
                    digits.push(j);
                    j += 1;
                }
                Kind::Check => {
                    digits.push(j);
                    j += 1;
                    break;
                }
                Kind::Separator => {
                    let gap = tokens[j..].iter().take_while(|t| t.kind == Kind::Separator).count();
                    match tokens.get(j + gap) {
                        Some(t) if gap <= MAX_GAP && matches!(t.kind, Kind::Digit | Kind::Check) => j += gap,
                        _ => break,
                    }
                }
                _ => break,
            }
        }
        if digits.len() >= MIN_DIGITS {
            hide.extend_from_slice(&digits[KEEP_HEAD..digits.len() - KEEP_TAIL]);
        }
        i = j.max(i + 1);
    }
    if hide.is_empty() {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for t in hide {
        let tok = &tokens[t];
        out.push_str(&s[last..tok.start]);
        out.push('*');
        last = tok.end;
    }
    out.push_str(&s[last..]);
    Cow::Owned(out)
}

/// Replace the first capture group of every match of `re` with one `*` per character.
fn star_group<'a>(s: Cow<'a, str>, re: &Regex) -> Cow<'a, str> {
    if !re.is_match(&s) {
        return s;
    }
    let out = re
        .replace_all(&s, |c: &regex::Captures<'_>| {
            let (whole, name) = (c.get(0).expect("match"), c.get(1).expect("group 1"));
            let stars = "*".repeat(name.as_str().chars().count());
            format!("{}{stars}{}", &whole.as_str()[..name.start() - whole.start()], &whole.as_str()[name.end() - whole.start()..])
        })
        .into_owned();
    Cow::Owned(out)
}

/// Mask names found by cue words or honorifics (see the module docs).
fn mask_names(s: Cow<'_, str>) -> Cow<'_, str> {
    let s = star_group(s, &NAME_AFTER_CUE);
    star_group(s, &NAME_BEFORE_TITLE)
}

/// `s` with long digit runs (ID, mobile, landline, card numbers in any spacing, prefix or
/// full-width form) and cued names masked; borrowed when there is nothing to mask. Never
/// fails; over-masking (an unrelated 11-digit number, a word after 本人 that starts with a
/// surname character) is preferred to leaking.
pub fn mask_pii(s: &str) -> Cow<'_, str> {
    mask_names(mask_numbers(s))
}

/// A whole formatted log line masked: [`mask_pii`], and the value of every field whose key
/// names personal data (`name`, `display_name`, `id_number`, `phone`, `address`, `password` …)
/// replaced by `***`, in the text and the JSON log formats.
pub fn mask_log_line(line: &str) -> Cow<'_, str> {
    let masked = mask_pii(line);
    if !SENSITIVE_FIELD.is_match(&masked) {
        return masked;
    }
    let out = SENSITIVE_FIELD
        .replace_all(&masked, |c: &regex::Captures<'_>| {
            let quoted = c[2].starts_with('"');
            format!("{}{}", &c[1], if quoted { "\"***\"" } else { "***" })
        })
        .into_owned();
    Cow::Owned(out)
}

/// A short, masked preview of a citizen's message for logs: masked as a whole first, so the
/// cut never leaves the visible part of a number behind.
pub fn preview(s: &str) -> String {
    mask_pii(s).chars().take(40).collect()
}

/// A stand-in for a citizen's username (or whatever was typed as one) in logs: `u:` and 8 hex
/// characters of a SHA-256 keyed with a random per-process secret. The same name gives the
/// same pseudonym until the process restarts (repeated failures against one account can be
/// seen); without the secret, which is never written anywhere, it cannot be reversed by trying
/// names.
pub fn pseudonym(s: &str) -> String {
    static KEY: LazyLock<[u8; 32]> = LazyLock::new(rand::random);
    let digest = Sha256::new().chain_update(*KEY).chain_update(s.as_bytes()).finalize();
    format!("u:{}", hex::encode(&digest[..4]))
}

/// A writer that collects one log event and writes it to `inner`, passed through
/// [`mask_log_line`], when dropped. The logger makes one per event
/// (`with_writer(|| MaskedWriter::new(std::io::stderr()))`), so a number or name is masked
/// even if the formatter writes it in pieces. Write errors on drop are ignored (a log line
/// that cannot be written is lost, as with the plain writer).
pub struct MaskedWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
}

impl<W: Write> MaskedWriter<W> {
    pub fn new(inner: W) -> Self {
        MaskedWriter { inner, buf: Vec::with_capacity(256) }
    }
}

impl<W: Write> Write for MaskedWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for MaskedWriter<W> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let line = String::from_utf8_lossy(&self.buf);
        let _ = self.inner.write_all(mask_log_line(&line).as_bytes());
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn id_and_mobile_numbers_are_masked() {
        assert_eq!(mask_pii("身份证11010519491231002X，电话13812345678"), "身份证110***********002X，电话138****5678");
        assert_eq!(mask_pii("号码 11010519491231002x 好"), "号码 110***********002x 好");
        assert_eq!(mask_pii("我的手机是15900001111"), "我的手机是159****1111");
    }

    #[test]
    fn the_forms_named_in_the_issue_are_masked() {
        assert_eq!(mask_pii("身份证 3501 0219 9304 1212 4X 谢谢"), "身份证 350* **** **** **12 4X 谢谢");
        assert_eq!(mask_pii("350102-19930412-124X"), "350***-********-124X");
        assert_eq!(mask_pii("电话+8613905910412"), "电话+861******0412");
        assert_eq!(mask_pii("电话 139-0591-0412。"), "电话 139-****-0412。");
        assert_eq!(mask_pii("(+86) 139 0591 0412"), "(+86) 1** **** 0412");
        assert_eq!(mask_pii("８６１３９０５９１０４１２"), "８６１******０４１２");
        assert_eq!(mask_pii("１３９－０５９１－０４１２"), "１３９－****－０４１２");
        assert_eq!(mask_pii("139\u{3000}0591\u{3000}0412"), "139\u{3000}****\u{3000}0412");
        assert_eq!(mask_pii("139\u{200b}0591\u{200b}0412"), "139\u{200b}****\u{200b}0412");
        assert_eq!(mask_pii("固话0591-87654321"), "固话059*-****4321");
    }

    #[test]
    fn escaped_separators_in_formatted_lines_are_masked() {
        assert_eq!(mask_pii(r#"text="139\t0591\t0412""#), r#"text="139\t****\t0412""#);
        assert_eq!(mask_pii(r#"text="139\u{200b}0591\u{200b}0412""#), r#"text="139\u{200b}****\u{200b}0412""#);
        assert_eq!(mask_pii(r#""text":"139\u30000591\u30000412""#), r#""text":"139\u3000****\u30000412""#);
    }

    #[test]
    fn names_after_cues_are_masked() {
        assert_eq!(mask_pii("我叫林晓梅，想办身份证"), "我叫***，想办身份证");
        assert_eq!(mask_pii("姓名：陈志强"), "姓名：***");
        // Names run 2–4 characters: the one after a 3-character name is masked too.
        assert_eq!(mask_pii("申请人王小明需要带什么"), "申请人****要带什么");
        assert_eq!(mask_pii("孩子叫欧阳娜娜"), "孩子叫****");
        assert_eq!(mask_pii("您好，我是郑秀兰"), "您好，我是***");
        assert_eq!(mask_pii("请张三丰先生到3号窗口"), "请***先生到3号窗口");
        // No surname after the cue: nothing to mask.
        assert_eq!(mask_pii("我是退休人员，申请人需要什么材料"), "我是退休人员，申请人需要什么材料");
    }

    #[test]
    fn other_text_is_untouched() {
        for s in [
            "工本费20元，60日内办结",
            "12345热线",
            "2026-12-04T12:00:01.123456Z  INFO banshi_server::routes::chat: message accepted",
            "session=3f2a1b9c139059104121234567890123 upload=17",
            "ticket 5f0e8a52-1390-5910-4121-139059104120 claimed",
            "application=BS20261204123456 status=受理",
            "latency=0.123456789 bytes=10485760",
        ] {
            assert!(matches!(mask_pii(s), Cow::Borrowed(_)), "{s} → {}", mask_pii(s));
        }
        // A 32-character run of digits only is no hex id: masked.
        assert_ne!(mask_pii("13905910412139059104121390591041"), "13905910412139059104121390591041");
    }

    #[test]
    fn log_lines_lose_personal_field_values() {
        assert_eq!(mask_log_line("citizen signed in name=林晓梅 session=1"), "citizen signed in name=*** session=1");
        assert_eq!(
            mask_log_line(r#"{"fields":{"display_name":"林晓梅","phone":"13905910412"}}"#),
            r#"{"fields":{"display_name":"***","phone":"***"}}"#
        );
        assert_eq!(mask_log_line("x \x1b[3mname\x1b[0m\x1b[2m=\x1b[0m林晓梅 y"), "x \x1b[3mname\x1b[0m\x1b[2m=\x1b[0m*** y");
        assert_eq!(mask_log_line("route=/api/v1/items/{code} status=200"), "route=/api/v1/items/{code} status=200");
    }

    #[test]
    fn previews_mask_before_they_cut() {
        let text = format!("{}我的电话是139 0591 0412", "请问".repeat(14));
        let p = preview(&text);
        assert_eq!(p.chars().count(), 40);
        assert!(!p.contains("0591"), "{p}");
    }

    #[test]
    fn pseudonyms_are_stable_and_hide_the_name() {
        assert_eq!(pseudonym("linxiaomei"), pseudonym("linxiaomei"));
        assert_ne!(pseudonym("linxiaomei"), pseudonym("chenzhiqiang"));
        assert!(!pseudonym("linxiaomei").contains("lin"));
    }

    #[test]
    fn the_masked_writer_masks_a_line_written_in_pieces() {
        let mut out = Vec::new();
        {
            let mut w = MaskedWriter::new(&mut out);
            w.write_all("电话139".as_bytes()).unwrap();
            w.write_all("-0591-".as_bytes()).unwrap();
            w.write_all("0412\n".as_bytes()).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), "电话139-****-0412\n");
    }

    // ---------- property: no ID or mobile number survives in any written form ----------

    const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const ID_CHECK: &[u8; 11] = b"10X98765432";
    const REGIONS: [&str; 8] = ["110105", "350102", "440106", "310104", "510107", "420111", "610113", "650102"];

    fn random_id(rng: &mut StdRng) -> String {
        let region = REGIONS[rng.random_range(0..REGIONS.len())];
        let birth = format!("{}{:02}{:02}", rng.random_range(1930..2024), rng.random_range(1..=12), rng.random_range(1..=28));
        let body = format!("{region}{birth}{:03}", rng.random_range(0..1000));
        let sum: u32 = body.bytes().zip(ID_WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        let id = format!("{body}{}", ID_CHECK[(sum % 11) as usize] as char);
        assert!(banshi_assistant::forms::validate::id_card(&id).is_ok(), "generated {id} is valid");
        id
    }

    /// A mobile number whose hidden middle four digits differ from its visible last four (so
    /// that seeing the last four is no false alarm).
    fn random_mobile(rng: &mut StdRng) -> String {
        loop {
            let n = format!("1{}{:09}", rng.random_range(3..=9), rng.random_range(0..1_000_000_000u32));
            if n[3..7] != n[7..] {
                return n;
            }
        }
    }

    fn full_width(c: char) -> char {
        match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap(),
            'X' => 'Ｘ',
            '+' => '＋',
            ' ' => '\u{3000}',
            '-' => '－',
            c => c,
        }
    }

    /// `number` split into groups of `sizes` (the rest in the last), joined by `sep`.
    fn grouped(number: &str, sizes: &[usize], sep: &str) -> String {
        let chars: Vec<char> = number.chars().collect();
        let mut parts = Vec::new();
        let mut at = 0;
        for &n in sizes {
            if at >= chars.len() {
                break;
            }
            let end = (at + n).min(chars.len());
            parts.push(chars[at..end].iter().collect::<String>());
            at = end;
        }
        if at < chars.len() {
            parts.push(chars[at..].iter().collect());
        }
        parts.join(sep)
    }

    /// Every way the property test writes a number.
    fn written_forms(number: &str, is_id: bool, rng: &mut StdRng) -> Vec<String> {
        let seps = [" ", "-", "  ", " - ", "\u{3000}", "－", "\u{2014}", "\u{200b}", "\u{00a0}"];
        let sep = seps[rng.random_range(0..seps.len())];
        let groupings: &[&[usize]] =
            if is_id { &[&[6, 8], &[4, 4, 4, 4], &[3, 3, 4, 4, 4], &[6, 4, 4]] } else { &[&[3, 4], &[3, 4, 4], &[4, 4]] };
        let mut forms = vec![number.to_string()];
        for g in groupings {
            forms.push(grouped(number, g, sep));
            forms.push(grouped(number, g, " "));
            forms.push(grouped(number, g, "-"));
        }
        forms.push(number.chars().map(String::from).collect::<Vec<_>>().join(sep));
        if is_id {
            forms.push(number.to_lowercase());
            forms.push(grouped(&number.to_lowercase(), &[4, 4, 4, 4], " "));
        } else {
            for prefix in ["+86", "86", "+86 ", "+86-", "(+86)", "（+86）", "0086", "+86 "] {
                forms.push(format!("{prefix}{number}"));
                forms.push(format!("{prefix}{}", grouped(number, &[3, 4], sep)));
            }
        }
        let wide: Vec<String> = forms.iter().map(|f| f.chars().map(full_width).collect()).collect();
        forms.extend(wide);
        // Mixed: some digits full-width, some not.
        forms.push(number.chars().map(|c| if rng.random_bool(0.5) { full_width(c) } else { c }).collect());
        forms
    }

    fn random_text(rng: &mut StdRng) -> String {
        const PIECES: [&str; 16] = [
            "我想问一下",
            "身份证",
            "电话",
            "手机号是",
            "号码：",
            "，",
            "。",
            "办理",
            "需要带什么材料",
            "谢谢",
            "工本费20元",
            "共3个工作日",
            "请联系",
            "（",
            "）",
            "地址在示例市",
        ];
        (0..rng.random_range(0..4)).map(|_| PIECES[rng.random_range(0..PIECES.len())]).collect()
    }

    /// Digits (as ASCII) and check characters of each stretch of `s` that could be one
    /// written number: the stretches are split at anything that is not a digit, check
    /// character, `+` or separator (of any length: stricter than the masking's three).
    fn digit_runs(s: &str) -> Vec<String> {
        let mut runs = vec![String::new()];
        for t in tokenize(s) {
            let c = s[t.start..].chars().next().unwrap();
            match t.kind {
                Kind::Digit => {
                    runs.last_mut().unwrap().push(char::from_digit(c.to_digit(10).unwrap_or_else(|| c as u32 - '０' as u32), 10).unwrap())
                }
                Kind::Check => runs.last_mut().unwrap().push('X'),
                Kind::Plus | Kind::Separator => {}
                Kind::Other => runs.push(String::new()),
            }
        }
        runs.retain(|r| !r.is_empty());
        runs
    }

    #[test]
    fn property_no_id_or_mobile_survives_in_any_written_form() {
        let mut rng = StdRng::seed_from_u64(23);
        let mut checked = 0;
        for round in 0..400 {
            let is_id = round % 2 == 0;
            let number = if is_id { random_id(&mut rng) } else { random_mobile(&mut rng) };
            // The part that must never be visible: birth date and sequence of an ID, the
            // middle four digits of a mobile.
            let hidden = &number[KEEP_HEAD..number.len() - KEEP_TAIL];
            for form in written_forms(&number, is_id, &mut rng) {
                let text = format!("{}{form}{}", random_text(&mut rng), random_text(&mut rng));
                for masked in [mask_pii(&text).into_owned(), preview(&text), mask_log_line(&format!("text={text:?}")).into_owned()] {
                    for run in digit_runs(&masked) {
                        assert!(!run.contains(&number) && !run.contains(hidden), "{number} survives in {masked:?} (from {text:?})");
                    }
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }
}
