//! Masking of personal numbers before anything reaches a log line: 18-digit resident ID
//! numbers keep their first 3 and last 4 characters, mobile numbers their first 3 and last 4.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

static ID_NUMBER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(\d{3})\d{11}(\d{3}[\dXx])").unwrap());
static MOBILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(^|\D)(1[3-9]\d)\d{4}(\d{4})(\D|$)").unwrap());

/// `s` with ID and mobile numbers masked; borrowed when there is nothing to mask.
pub fn mask_pii(s: &str) -> Cow<'_, str> {
    let s = ID_NUMBER.replace_all(s, "$1***********$2");
    match MOBILE.replace_all(&s, "$1$2****$3$4") {
        Cow::Borrowed(_) => s,
        Cow::Owned(o) => Cow::Owned(o),
    }
}

/// A short, masked preview of a citizen's message for logs.
pub fn preview(s: &str) -> String {
    let short: String = s.chars().take(40).collect();
    mask_pii(&short).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_mobile_numbers_are_masked() {
        assert_eq!(mask_pii("身份证11010519491231002X，电话13812345678"), "身份证110***********002X，电话138****5678");
        assert_eq!(mask_pii("号码 11010519491231002x 好"), "号码 110***********002x 好");
        assert_eq!(mask_pii("我的手机是15900001111"), "我的手机是159****1111");
    }

    #[test]
    fn other_text_is_untouched() {
        assert!(matches!(mask_pii("工本费20元，60日内办结"), Cow::Borrowed(_)));
        assert_eq!(mask_pii("12345热线"), "12345热线");
    }
}
