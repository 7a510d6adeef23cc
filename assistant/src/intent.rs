//! What a question asks about an item (materials, time, fees, place …), and whether a message is
//! a follow-up about the item already under discussion (“那要多久？”, “在哪里办？”).
//!
//! Keyword rules, on purpose: the aspects are few and fixed by the guide schema, and a rule that
//! misfires is easy to see and fix.

use banshi_knowledge::section::Section;

/// One aspect of an item guide, matching the chunk sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
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
    /// The guide section that answers this aspect.
    pub fn section(self) -> Section {
        match self {
            Aspect::Materials => Section::Materials,
            Aspect::TimeLimit => Section::TimeLimit,
            Aspect::Fees => Section::Fees,
            Aspect::Place | Aspect::Phone | Aspect::Online => Section::Place,
            Aspect::Conditions => Section::Conditions,
            Aspect::Process => Section::Process,
            Aspect::LegalBasis => Section::LegalBasis,
            Aspect::General => Section::Overview,
        }
    }
}

const RULES: &[(Aspect, &[&str])] = &[
    (
        Aspect::Materials,
        &["材料", "带什么", "带哪些", "准备什么", "准备哪些", "需要什么", "要什么", "证件", "资料", "提交什么", "提供什么", "复印件"],
    ),
    (Aspect::TimeLimit, &["多久", "多长时间", "几天", "时限", "多少天", "什么时候能", "多快", "期限", "办结", "工作日"]),
    (Aspect::Fees, &["多少钱", "收费", "费用", "交钱", "花多少", "工本费", "要钱", "免费", "价格", "收不收"]),
    (Aspect::Phone, &["电话", "热线", "号码", "联系方式", "咨询方式"]),
    (Aspect::Place, &["在哪", "哪里办", "地点", "地址", "窗口", "去哪", "哪个部门", "几点", "上班时间", "办理时间", "营业时间"]),
    (Aspect::Online, &["网上", "线上", "网办", "手机上", "小程序", "app", "APP", "不用跑"]),
    (Aspect::Conditions, &["条件", "能不能办", "可以办吗", "能办吗", "符合", "资格", "要求", "谁可以"]),
    // “How do I …” asks for the steps, whatever the act: 怎么换 / 如何补 / 怎样领 ….
    (
        Aspect::Process,
        &[
            "流程",
            "步骤",
            "怎么办",
            "如何办",
            "怎么申请",
            "如何申请",
            "程序",
            "手续",
            "怎么换",
            "如何换",
            "怎样换",
            "怎么补",
            "如何补",
            "怎样补",
            "怎么领",
            "如何领",
            "怎样领",
            "怎么开",
            "怎么迁",
            "怎么转",
            "怎么注销",
            "怎么变更",
            "怎么登记",
            "怎么弄",
            "怎么操作",
            "怎样办",
        ],
    ),
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
/// limit (“多久能办好”, “要几天”, “办理时限”) unless it asks by when the citizen must act or how
/// long something lasts — the guide's FAQ answers those, not its time-limit section:
///
/// 1. followed by 内 / 之内 / 以内, it is a deadline (“出生多久内要上户口”);
/// 2. followed (after 才 / 能 / 可以 …) by getting it done — 办, 拿, 领, 取, 到账, 下来, 出证, 批 … —
///    it is the processing time, whatever comes before (“居民身份证换领多久能办好”);
/// 3. preceded (before 能 / 可以 / 有 / 是 …, not 要) by a lasting word — 领, 休, 享受, 假,
///    有效(期), 发放 — it is a duration (“生育津贴能领多少天”, “产假有多少天”, “有效期多久”); 领
///    that ends an item's verb (换领, 申领, 补领 …) is not one (“居民身份证补领多长时间”), nor is
///    one followed by 要 (“老人津贴怎么领要多长时间” asks how long claiming takes);
/// 4. otherwise, the processing time.
fn mentions(message: &str, k: &str, a: Aspect) -> bool {
    if a != Aspect::TimeLimit {
        return message.contains(k);
    }
    message.match_indices(k).any(|(at, _)| is_processing_time(&message[..at], &message[at + k.len()..]))
}

/// Rules 1–4 of [`mentions`] for a time word between `before` and `after`.
fn is_processing_time(before: &str, after: &str) -> bool {
    const DEADLINE_AFTER: [&str; 3] = ["内", "之内", "以内"];
    const MODAL_AFTER: [&str; 8] = ["才能", "才可以", "才", "就能", "就", "能", "可以", "可"];
    const DONE_AFTER: [&str; 14] = ["办", "拿", "领", "取", "到账", "下来", "下证", "出证", "出来", "批", "审", "发证", "完成", "寄到"];
    // Not 要: “领要多久” asks how long claiming takes.
    const FILLER_BEFORE: [&str; 15] =
        ["还能", "能", "可以", "可", "最多", "最长", "一共", "总共", "有", "是", "为", "一般", "大概", "大约", "了"];
    const LASTING_BEFORE: [&str; 8] = ["有效期", "有效", "享受", "享有", "发放", "领", "休", "假"];
    const ITEM_VERB_LING: [&str; 5] = ["换领", "申领", "补领", "认领", "首领"];
    if DEADLINE_AFTER.iter().any(|d| after.starts_with(d)) {
        return false;
    }
    let mut rest = after;
    if let Some(m) = MODAL_AFTER.iter().find(|m| rest.starts_with(*m)) {
        rest = &rest[m.len()..];
    }
    if DONE_AFTER.iter().any(|d| rest.starts_with(d)) {
        return true;
    }
    let mut head = before.trim_end();
    // Up to two fillers (“能有多少天”, “最长可以领多久”).
    for _ in 0..2 {
        if let Some(f) = FILLER_BEFORE.iter().find(|f| head.ends_with(*f)) {
            head = &head[..head.len() - f.len()];
        }
    }
    match LASTING_BEFORE.iter().find(|l| head.ends_with(*l)) {
        Some(&"领") => ITEM_VERB_LING.iter().any(|v| head.ends_with(v)),
        Some(_) => false,
        None => true,
    }
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
        assert_eq!(aspect("社保卡丢了怎么补"), Aspect::Process, "how to do it asks for the steps");
        assert_eq!(aspect("驾驶证到期了如何换"), Aspect::Process);
        assert_eq!(aspect("换驾驶证在哪里怎么换"), Aspect::Place, "a more specific aspect comes first");
        assert_eq!(Aspect::Phone.section(), Section::Place);
    }

    #[test]
    fn deadlines_and_durations_are_not_the_processing_time() {
        for m in ["孩子出生多久内要上户口？", "生育津贴能领多少天？", "产假有多少天", "居住证有效期多久", "离职后多长时间以内要办失业登记"]
        {
            assert_ne!(aspect(m), Aspect::TimeLimit, "{m}");
        }
        for m in ["那要多久？", "护照办结要几个工作日", "收房后多久能办房产证？", "身份证多少天能拿到", "办理时限是多久"]
        {
            assert_eq!(aspect(m), Aspect::TimeLimit, "{m}");
        }
        for m in ["失业保险金最长可以领多久", "婚假能休几天", "临时身份证有效期是多久", "低保金能发放多长时间"]
        {
            assert_ne!(aspect(m), Aspect::TimeLimit, "{m}");
        }
        // An item whose name ends in 领 (换领, 申领, 补领) is still asked how long it takes.
        for m in [
            "居民身份证换领多久能办好？",
            "居民身份证补领多长时间",
            "身份证补领要多久",
            "社保卡申领要多长时间",
            "换领身份证几天能拿到",
            "生育津贴多久能到账",
        ] {
            assert_eq!(aspect(m), Aspect::TimeLimit, "{m}");
        }
    }

    /// Every sample guide, asked the editor preview's question and a plainer one about time,
    /// by its name and by each alias (except an alias that asks for materials itself, such as
    /// “开奶茶店要什么证”, whose question is about two aspects): the aspect is the time limit.
    #[test]
    fn every_sample_item_asked_how_long_is_asked_the_time_limit() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../knowledge/guides/sample");
        let mut asked = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let g: banshi_knowledge::Guide = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            for name in std::iter::once(&g.name).chain(&g.aliases).filter(|n| !aspects(n).contains(&Aspect::Materials)) {
                for q in [format!("{name}多久能办好？"), format!("{name}要多长时间")] {
                    assert_eq!(aspect(&q), Aspect::TimeLimit, "{q} ({})", path.display());
                    asked += 1;
                }
            }
        }
        assert!(asked > 100, "{asked} questions");
    }

    #[test]
    fn follow_ups() {
        for m in ["那要多久？", "在哪里办？", "收费吗", "那需要带什么材料呢", "还要交钱吗"] {
            assert!(is_follow_up(m), "{m}");
        }
        for m in ["新生儿怎么上户口需要什么材料", "你好", "", "公积金提取的条件和需要准备的全部材料有哪些"]
        {
            assert!(!is_follow_up(m), "{m}");
        }
    }
}
