//! The sources card: an item's key facts taken straight from its guide, streamed before any
//! model text so the citizen sees what to bring, how long, how much, where and whom to call at
//! once. Nothing here is generated; an element the guide does not state says so.

use banshi_knowledge::chunk::material_line;
use banshi_knowledge::Guide;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourcesCard {
    pub code: String,
    pub name: String,
    pub department: String,
    pub kind: String,
    /// One line per material, with required / copies / e-licence / 容缺 notes.
    pub materials: Vec<String>,
    pub legal_time_limit: Option<String>,
    pub promised_time_limit: Option<String>,
    /// “不收费”, the fee list, or `None` when the guide does not state fees.
    pub fees: Option<String>,
    pub places: Vec<String>,
    pub consult_phone: Option<String>,
    pub complaint_phone: Option<String>,
    pub online_url: Option<String>,
    /// True for the fictional 示例市 sample data; the UI labels it.
    pub sample: bool,
    pub version: u32,
}

impl SourcesCard {
    pub fn from_guide(g: &Guide) -> Self {
        SourcesCard {
            code: g.code.clone(),
            name: g.name.clone(),
            department: g.department.clone(),
            kind: g.kind.clone(),
            materials: g.materials.iter().map(material_line).collect(),
            legal_time_limit: g.legal_time_limit.as_ref().map(|t| t.display()),
            promised_time_limit: g.promised_time_limit.as_ref().map(|t| t.display()),
            fees: g.fees_display(),
            places: g
                .places
                .iter()
                .map(|p| {
                    let mut s = p.name.clone();
                    if let Some(a) = &p.address {
                        s.push_str(&format!("（{a}）"));
                    }
                    if let Some(h) = &p.hours {
                        s.push_str(&format!("，{h}"));
                    }
                    s
                })
                .collect(),
            consult_phone: g.consult_phone.clone(),
            complaint_phone: g.complaint_phone.clone(),
            online_url: g.online_url.clone(),
            sample: g.is_sample(),
            version: g.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_is_taken_from_the_guide() {
        let g: Guide = serde_json::from_str(include_str!("../../knowledge/guides/sample/sfz-huanling.json")).unwrap();
        let c = SourcesCard::from_guide(&g);
        assert_eq!(c.name, "居民身份证换领");
        assert_eq!(c.fees.as_deref(), Some("居民身份证工本费20元（有效期满换领、损坏换领均收取）"));
        assert_eq!(c.legal_time_limit.as_deref(), Some("60日（交通不便地区可延长至90日）"));
        assert!(c.materials[0].starts_with("原居民身份证"));
        assert!(c.sample);
        assert!(c.places[0].contains("示例地址"));
    }
}
