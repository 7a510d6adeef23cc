//! Splitting a guide into retrievable sections.
//!
//! One chunk per standard section (overview, conditions, materials, process, time limits, fees,
//! place and contact, legal basis) and one per FAQ pair, each carrying the item code and the
//! section key so an answer can cite “item + section”. The item name heads every chunk: a
//! section alone (“申请材料：身份证…”) does not say which item it belongs to. Empty or
//! unknown sections produce no chunk, so nothing says “not stated” as if it were a fact.

use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::guide::Guide;
use crate::section::Section;

/// A chunk's text without its “【item】title：” head: what the section itself says.
pub fn chunk_body(text: &str) -> &str {
    text.split_once('：').map_or(text, |(_, body)| body)
}

/// A retrievable piece of a guide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chunk {
    /// Item code (or any document id, for evaluation corpora).
    pub code: String,
    /// Item name, for display.
    pub name: String,
    /// Which section it is; stored and sent as its key (`overview`, `faq-2` …).
    pub section: Section,
    /// Section title in Chinese: 申请材料, 常见问题 ….
    pub title: String,
    /// The text that is embedded, indexed and shown.
    pub text: String,
}

/// All chunks of a guide, in reading order.
pub fn chunk_guide(g: &Guide) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut push = |section: Section, body: String| {
        if !body.trim().is_empty() {
            let title = section.title().to_string();
            out.push(Chunk {
                code: g.code.clone(), name: g.name.clone(), text: format!("【{}】{title}：{body}", g.name), section, title
            });
        }
    };
    push(Section::Overview, overview(g));
    push(Section::Conditions, numbered(g.conditions.iter().cloned()));
    push(Section::Materials, numbered(g.materials.iter().map(material_line)));
    push(
        Section::Process,
        numbered(
            g.process.iter().map(|s| if s.description.is_empty() { s.name.clone() } else { format!("{}：{}", s.name, s.description) }),
        ),
    );
    push(Section::TimeLimit, time_limits(g));
    push(Section::Fees, g.fees_display().unwrap_or_default());
    push(Section::Place, place(g));
    push(Section::LegalBasis, g.legal_basis.join("；"));
    for (i, f) in g.faq.iter().enumerate() {
        push(Section::Faq(i as u16 + 1), format!("问：{} 答：{}", f.q, f.a));
    }
    out
}

/// Chunks of a 一件事 bundle (`guides` must hold its items, for names and materials): an
/// overview naming the items, the merged material list, and the scenario FAQ.
pub fn chunk_bundle(b: &Bundle, guides: &[Guide]) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut push = |section: Section, body: String| {
        if !body.trim().is_empty() {
            let title = section.title().to_string();
            out.push(Chunk {
                code: b.code.clone(), name: b.name.clone(), text: format!("【{}】{title}：{body}", b.name), section, title
            });
        }
    };
    let names: Vec<&str> = b.items.iter().filter_map(|i| guides.iter().find(|g| g.code == i.code)).map(|g| g.name.as_str()).collect();
    let mut overview = vec![format!("一件事名称：{}", b.name)];
    if !b.aliases.is_empty() {
        overview.push(format!("又称：{}", b.aliases.join("、")));
    }
    overview.push(b.summary.clone());
    overview.push(format!("包含事项：{}", names.join("、")));
    overview.push(format!("牵头部门：{}", b.department));
    push(Section::Overview, overview.join("。") + "。");
    let materials = b.material_list(guides);
    push(
        Section::Materials,
        numbered(materials.iter().map(|m| format!("{}（{}）", m.name, if m.required { "必需" } else { "视情况提供" }))),
    );
    for (i, f) in b.faq.iter().enumerate() {
        push(Section::Faq(i as u16 + 1), format!("问：{} 答：{}", f.q, f.a));
    }
    out
}

fn overview(g: &Guide) -> String {
    let mut parts = vec![format!("事项名称：{}", g.name)];
    if !g.aliases.is_empty() {
        parts.push(format!("又称：{}", g.aliases.join("、")));
    }
    parts.push(format!("事项类型：{}", g.kind));
    parts.push(format!("实施主体：{}", g.department));
    if !g.service_objects.is_empty() {
        parts.push(format!("服务对象：{}", g.service_objects.join("、")));
    }
    if !g.topics.is_empty() {
        parts.push(format!("主题：{}", g.topics.join("、")));
    }
    if let Some(r) = &g.result {
        parts.push(format!("办理结果：{r}"));
    }
    if let Some(v) = g.visits {
        parts.push(if v == 0 { "网上办理，无需到现场".to_string() } else { format!("到现场次数：{v}次") });
    }
    parts.join("。") + "。"
}

/// One material as a line: name (required?, originals/copies, e-licence, 容缺, notes).
pub fn material_line(m: &crate::guide::Material) -> String {
    let mut attrs = vec![if m.required { "必需" } else { "视情况提供" }.to_string()];
    match (m.originals, m.copies) {
        (0, 0) => {}
        (o, 0) => attrs.push(format!("原件{o}份")),
        (0, c) => attrs.push(format!("复印件{c}份")),
        (o, c) => attrs.push(format!("原件{o}份、复印件{c}份")),
    }
    if let Some(form) = &m.form {
        attrs.push(form.clone());
    }
    if let Some(e) = &m.e_licence {
        attrs.push(format!("可用{e}电子证照免提交"));
    }
    if m.tolerance {
        attrs.push("可容缺受理".into());
    }
    if let Some(n) = &m.notes {
        attrs.push(n.clone());
    }
    format!("{}（{}）", m.name, attrs.join("；"))
}

fn numbered(items: impl Iterator<Item = String>) -> String {
    items.enumerate().map(|(i, s)| format!("{}. {s}", i + 1)).collect::<Vec<_>>().join(" ")
}

fn time_limits(g: &Guide) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &g.legal_time_limit {
        parts.push(format!("法定办结时限{}", t.display()));
    }
    if let Some(t) = &g.promised_time_limit {
        parts.push(format!("承诺办结时限{}", t.display()));
    }
    parts.join("；")
}

fn place(g: &Guide) -> String {
    let mut parts: Vec<String> = g
        .places
        .iter()
        .map(|p| {
            let mut s = p.name.clone();
            if let Some(a) = &p.address {
                s.push_str(&format!("，地址：{a}"));
            }
            if let Some(h) = &p.hours {
                s.push_str(&format!("，办理时间：{h}"));
            }
            s
        })
        .collect();
    if let Some(p) = &g.consult_phone {
        parts.push(format!("咨询电话：{p}"));
    }
    if let Some(p) = &g.complaint_phone {
        parts.push(format!("监督投诉电话：{p}"));
    }
    if let Some(u) = &g.online_url {
        parts.push(format!("网上办理：{u}"));
    }
    parts.join("；")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide() -> Guide {
        let text = include_str!("../guides/sample/sfz-huanling.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn sections_carry_code_name_and_key() {
        let chunks = chunk_guide(&guide());
        let keys: Vec<String> = chunks.iter().map(|c| c.section.key()).collect();
        assert_eq!(
            keys,
            ["overview", "conditions", "materials", "process", "time_limit", "fees", "place", "legal_basis", "faq-1", "faq-2", "faq-3"]
        );
        assert!(chunks.iter().all(|c| c.code == "SAMPLE-GA-001" && c.text.starts_with("【居民身份证换领】")));
        let materials = &chunks[2].text;
        assert!(materials.contains("1. 原居民身份证（必需；原件1份"), "{materials}");
        assert!(materials.contains("可用居民户口簿电子证照免提交"), "{materials}");
        assert!(chunks[4].text.contains("法定办结时限60日（交通不便地区可延长至90日）"), "{}", chunks[4].text);
        assert!(chunks[5].text.contains("工本费20元"));
    }

    #[test]
    fn unknown_sections_make_no_chunk() {
        let mut g = guide();
        g.fees = None;
        g.legal_basis.clear();
        g.faq.clear();
        let keys: Vec<Section> = chunk_guide(&g).into_iter().map(|c| c.section).collect();
        assert!(!keys.contains(&Section::Fees) && !keys.contains(&Section::LegalBasis));
    }
}
