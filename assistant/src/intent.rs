//! What a question asks about an item (materials, time, fees, place …), and whether a message is
//! a follow-up about the item already under discussion (“那要多久？”, “在哪里办？”).
//!
//! Keyword rules, on purpose: the aspects are few and fixed by the guide schema, and a rule that
//! misfires is easy to see and fix.

/// One aspect of an item guide, matching the chunk sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    Materials,
    TimeLimit,
    Fees,
    Place,
    Phone,
    Conditions,
    Process,
    LegalBasis,
    Online,
    General,
}

impl Aspect {
    /// The chunk section that answers this aspect.
    pub fn section(self) -> &'static str {
        match self {
            Aspect::Materials => "materials",
            Aspect::TimeLimit => "time_limit",
            Aspect::Fees => "fees",
            Aspect::Place | Aspect::Phone | Aspect::Online => "place",
            Aspect::Conditions => "conditions",
            Aspect::Process => "process",
            Aspect::LegalBasis => "legal_basis",
            Aspect::General => "overview",
        }
    }
}

const RULES: &[(Aspect, &[&str])] = &[
    (Aspect::Materials, &["材料", "带什么", "带哪些", "准备什么", "准备哪些", "需要什么", "要什么", "证件", "资料", "提交什么", "提供什么", "复印件"]),
    (Aspect::TimeLimit, &["多久", "多长时间", "几天", "时限", "多少天", "什么时候能", "多快", "期限", "办结", "工作日"]),
    (Aspect::Fees, &["多少钱", "收费", "费用", "交钱", "花多少", "工本费", "要钱", "免费", "价格", "收不收"]),
    (Aspect::Phone, &["电话", "热线", "号码", "联系方式", "咨询方式"]),
    (Aspect::Place, &["在哪", "哪里办", "地点", "地址", "窗口", "去哪", "哪个部门", "几点", "上班时间", "办理时间", "营业时间"]),
    (Aspect::Online, &["网上", "线上", "网办", "手机上", "小程序", "app", "APP", "不用跑"]),
    (Aspect::Conditions, &["条件", "能不能办", "可以办吗", "能办吗", "符合", "资格", "要求", "谁可以"]),
    (Aspect::Process, &["流程", "步骤", "怎么办", "如何办", "怎么申请", "如何申请", "程序", "手续"]),
    (Aspect::LegalBasis, &["依据", "法律", "规定", "政策文件", "条例"]),
];

/// The aspects a message asks about, most specific first; `General` when none.
pub fn aspects(message: &str) -> Vec<Aspect> {
    let found: Vec<Aspect> = RULES.iter().filter(|(a, kws)| kws.iter().any(|k| mentions(message, k, *a))).map(|(a, _)| *a).collect();
    if found.is_empty() {
        vec![Aspect::General]
    } else {
        found
    }
}

/// The main aspect of a message.
pub fn aspect(message: &str) -> Aspect {
    aspects(message)[0]
}

/// Whether `message` uses keyword `k` for aspect `a`. A time word asks for the processing time
/// limit, unless it asks by when the citizen must act (“出生多久内要上户口”) or how long a
/// benefit or document lasts (“生育津贴能领多少天”, “有效期多久”): the guide's FAQ answers those,
/// not its time-limit section.
fn mentions(message: &str, k: &str, a: Aspect) -> bool {
    const DEADLINE_AFTER: [&str; 3] = ["内", "之内", "以内"];
    const LASTS_BEFORE: [&str; 6] = ["领", "休", "享受", "假", "有效", "发放"];
    if a != Aspect::TimeLimit {
        return message.contains(k);
    }
    message.match_indices(k).any(|(at, _)| {
        let after = &message[at + k.len()..];
        // The three characters before the keyword.
        let from = message[..at].char_indices().rev().nth(2).map_or(0, |(i, _)| i);
        let before = &message[from..at];
        !DEADLINE_AFTER.iter().any(|d| after.starts_with(d)) && !LASTS_BEFORE.iter().any(|l| before.contains(l))
    })
}

/// Words that point back to something said before.
const BACK_REFERENCES: &[&str] = &["那", "这个", "这", "它", "还", "另外", "那么", "然后", "此外", "刚才", "上面", "该"];

/// A short message about an aspect with a back-reference or nothing else in it reads as a
/// follow-up on the current item: “那要多久？”, “在哪里办？”, “收费吗”.
pub fn is_follow_up(message: &str) -> bool {
    let m = message.trim().trim_end_matches(['？', '?', '。', '！', '!']);
    let chars = m.chars().count();
    if chars == 0 || aspect(m) == Aspect::General {
        return false;
    }
    let back = BACK_REFERENCES.iter().any(|b| m.starts_with(b));
    back || chars <= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspects_from_keywords() {
        assert_eq!(aspect("办护照需要带什么材料"), Aspect::Materials);
        assert_eq!(aspect("那要多久？"), Aspect::TimeLimit);
        assert_eq!(aspect("换身份证收费吗"), Aspect::Fees);
        assert_eq!(aspect("在哪里办？"), Aspect::Place);
        assert_eq!(aspect("咨询电话是多少"), Aspect::Phone);
        assert_eq!(aspect("什么是居住证"), Aspect::General);
        assert_eq!(Aspect::Phone.section(), "place");
    }

    #[test]
    fn deadlines_and_durations_are_not_the_processing_time() {
        for m in ["孩子出生多久内要上户口？", "生育津贴能领多少天？", "产假有多少天", "居住证有效期多久", "离职后多长时间以内要办失业登记"] {
            assert_ne!(aspect(m), Aspect::TimeLimit, "{m}");
        }
        for m in ["那要多久？", "护照办结要几个工作日", "收房后多久能办房产证？", "身份证多少天能拿到", "办理时限是多久"] {
            assert_eq!(aspect(m), Aspect::TimeLimit, "{m}");
        }
    }

    #[test]
    fn follow_ups() {
        for m in ["那要多久？", "在哪里办？", "收费吗", "那需要带什么材料呢", "还要交钱吗"] {
            assert!(is_follow_up(m), "{m}");
        }
        for m in ["新生儿怎么上户口需要什么材料", "你好", "", "公积金提取的条件和需要准备的全部材料有哪些"] {
            assert!(!is_follow_up(m), "{m}");
        }
    }
}
