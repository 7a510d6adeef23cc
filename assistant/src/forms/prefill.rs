//! Pre-fill (智能预填) from four sources, each value tagged with where it came from: the
//! citizen's profile (一人一档 / 一企一档), e-licences issued to them (电子证照, through the
//! [`ELicenceStore`] interface), what they said in this conversation, and fields read from the
//! materials they uploaded. A field takes the first of its declared sources that has a valid
//! value; pre-fill never overwrites a value the citizen gave. Materials available as one of the
//! holder's e-licences, or issued inside the bundle itself, are marked 免提交.

use std::collections::BTreeMap;

use async_trait::async_trait;
use banshi_knowledge::form::FieldSource;
use serde::{Deserialize, Serialize};

use super::extract;
use super::fill::{FormProgress, ValueSource};

/// A citizen's or enterprise's profile: profile keys (`name`, `id_number`, `phone`, `address`,
/// `company_name`, `uscc` …) to values.
pub type Profile = BTreeMap<String, String>;

/// One issued e-licence (电子证照).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ELicence {
    /// Catalogue name: 居民身份证, 居民户口簿, 结婚证, 出生医学证明, 营业执照 ….
    pub licence_type: String,
    pub number: String,
    pub holder_name: String,
    /// ID number (or credit code) of the holder.
    pub holder_id: String,
    /// Fields as the licence states them (姓名, 公民身份号码, 住址 …).
    pub fields: BTreeMap<String, String>,
    pub issuer: String,
    pub issued_on: Option<String>,
    /// `None`: valid for life.
    pub valid_until: Option<String>,
}

/// Where e-licences come from. The embedded default is a table in the service's database;
/// a city would put its e-licence platform's API behind the same call.
#[async_trait]
pub trait ELicenceStore: Send + Sync {
    /// Licences held by `holder_id`, or naming them (a child's 出生医学证明 names the parents).
    async fn licences_for(&self, holder_id: &str) -> Result<Vec<ELicence>, String>;
}

/// Fields read from one uploaded material (pre-review), by field name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MaterialFields {
    pub material: String,
    pub fields: BTreeMap<String, String>,
}

/// Fill what the sources know. `said` is the citizen's messages in this conversation.
pub fn prefill(p: &mut FormProgress, profile: Option<&Profile>, licences: &[ELicence], materials: &[MaterialFields], said: &[String]) {
    let today = chrono::Local::now().format("%Y-%m-%d").to_string();
    let valid: Vec<&ELicence> = licences.iter().filter(|l| l.valid_until.as_deref().is_none_or(|v| v >= today.as_str())).collect();
    let fields = p.spec.fields.clone();
    for f in &fields {
        for s in &f.sources {
            let offered = match s {
                FieldSource::Profile(k) => profile.and_then(|pr| pr.get(k)).is_some_and(|v| p.prefill(&f.key, v, ValueSource::Profile)),
                FieldSource::ELicence { licence, field } => valid
                    .iter()
                    .filter(|l| &l.licence_type == licence)
                    .find_map(|l| l.fields.get(field))
                    .is_some_and(|v| p.prefill(&f.key, v, ValueSource::ELicence { licence: licence.clone() })),
                FieldSource::Material { material, field } => materials
                    .iter()
                    .filter(|m| &m.material == material)
                    .find_map(|m| m.fields.get(field))
                    .is_some_and(|v| p.prefill(&f.key, v, ValueSource::Material { material: material.clone() })),
                FieldSource::Answer => false,
            };
            if offered {
                break;
            }
        }
    }
    let conversation = said.join("\n");
    let missing: Vec<_> = p.spec.fields.iter().filter(|f| f.produced_by.is_none() && !p.values.contains_key(&f.key)).cloned().collect();
    let refs: Vec<_> = missing.iter().collect();
    for (k, v) in extract::from_conversation(&refs, &conversation) {
        p.prefill(&k, &v, ValueSource::Conversation);
    }
    p.exempt = exemptions(p, &valid);
}

/// Fill what uploaded materials state into an open form (fields declared `material:…`), leaving
/// every other value and the 免提交 marks as they are.
pub fn prefill_from_materials(p: &mut FormProgress, materials: &[MaterialFields]) {
    let fields = p.spec.fields.clone();
    for f in &fields {
        for s in &f.sources {
            if let FieldSource::Material { material, field } = s {
                let found = materials
                    .iter()
                    .filter(|m| &m.material == material || material.contains(m.material.as_str()))
                    .find_map(|m| m.fields.get(field));
                if found.is_some_and(|v| p.prefill(&f.key, v, ValueSource::Material { material: material.clone() })) {
                    break;
                }
            }
        }
    }
}

/// Materials the citizen need not bring: issued inside the bundle, or held as an e-licence.
fn exemptions(p: &FormProgress, licences: &[&ELicence]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for m in &p.spec.materials {
        if let Some(by) = &m.produced_by {
            // The producing item does not itself need the material: find its name elsewhere.
            let item =
                p.spec.materials.iter().flat_map(|m| &m.needed_by).find(|n| &n.0 == by).map(|n| n.1.clone()).unwrap_or_else(|| by.clone());
            out.insert(m.name.clone(), format!("由“{item}”办结后共享"));
        } else if let Some(t) = m.e_licence.as_ref().filter(|t| licences.iter().any(|l| &l.licence_type == *t)) {
            out.insert(m.name.clone(), format!("已有{t}电子证照"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forms::{FormSpec, Target};
    use banshi_knowledge::bundle::{MaterialRow, MergedField};
    use banshi_knowledge::form::FieldKind;

    fn field(key: &str, label: &str, kind: FieldKind, sources: &[&str]) -> MergedField {
        MergedField {
            key: key.into(),
            label: label.into(),
            kind,
            required: true,
            options: if kind == FieldKind::Enum { vec!["男".into(), "女".into()] } else { vec![] },
            help: None,
            sources: sources.iter().map(|s| FieldSource::try_from(s.to_string()).unwrap()).collect(),
            items: vec!["A".into()],
            produced_by: None,
        }
    }

    fn material(name: &str, e_licence: Option<&str>, produced_by: Option<&str>) -> MaterialRow {
        MaterialRow {
            name: name.into(),
            required: true,
            e_licence: e_licence.map(Into::into),
            tolerance: false,
            needed_by: vec![("A".into(), "甲事项".into(), name.into())],
            produced_by: produced_by.map(Into::into),
            notes: None,
            online_form: false,
        }
    }

    #[test]
    fn each_source_fills_what_it_knows_and_says_so() {
        let spec = FormSpec {
            target: Target::Item { code: "A".into(), name: "甲".into() },
            title: "表".into(),
            fields: vec![
                field("name", "申请人姓名", FieldKind::Text, &["profile:name", "elicence:居民身份证.姓名", "answer"]),
                field("id_number", "公民身份号码", FieldKind::IdCard, &["elicence:居民身份证.公民身份号码", "answer"]),
                field("spouse", "配偶姓名", FieldKind::Text, &["elicence:结婚证.配偶姓名", "answer"]),
                field("child_name", "新生儿姓名", FieldKind::Text, &["answer"]),
                field("address", "房屋坐落", FieldKind::Address, &["material:不动产权证书.坐落", "answer"]),
            ],
            materials: vec![
                material("居民身份证", Some("居民身份证"), None),
                material("出生医学证明", None, Some("A")),
                material("结婚证", Some("结婚证"), None),
            ],
            separate_fields: 5,
            separate_materials: 3,
            promised_days: None,
        };
        let mut p = FormProgress::new(spec);
        let profile: Profile = [("name".to_string(), "张丽".to_string())].into();
        let id = ELicence {
            licence_type: "居民身份证".into(),
            number: "n".into(),
            holder_name: "张丽".into(),
            holder_id: "11010519491231002X".into(),
            fields: [("公民身份号码".to_string(), "11010519491231002X".to_string()), ("姓名".to_string(), "张丽".to_string())].into(),
            issuer: "示例市公安局".into(),
            issued_on: None,
            valid_until: None,
        };
        let expired = ELicence {
            licence_type: "结婚证".into(),
            valid_until: Some("2000-01-01".into()),
            fields: [("配偶姓名".to_string(), "王强".to_string())].into(),
            ..id.clone()
        };
        let deed = MaterialFields {
            material: "不动产权证书".into(),
            fields: [("坐落".to_string(), "示例市示例区幸福路8号".to_string())].into(),
        };
        prefill(&mut p, Some(&profile), &[id, expired], &[deed], &["孩子叫王小明".to_string()]);
        let src = |k: &str| p.values.get(k).map(|v| v.source.label());
        assert_eq!(src("name").as_deref(), Some("个人档案"), "the first declared source wins");
        assert_eq!(src("id_number").as_deref(), Some("电子证照·居民身份证"));
        assert_eq!(src("spouse"), None, "an expired licence fills nothing");
        assert_eq!(src("child_name").as_deref(), Some("对话中提到"));
        assert_eq!(p.values["child_name"].value, "王小明");
        assert_eq!(src("address").as_deref(), Some("材料·不动产权证书"));
        assert_eq!(p.exempt.keys().cloned().collect::<Vec<_>>(), ["出生医学证明", "居民身份证"], "the expired 结婚证 is not exempt");
    }
}
