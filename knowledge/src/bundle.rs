//! 一件事 bundles: several items a citizen needs for one life event (a birth, opening a
//! company, retiring …), applied for with one merged form and one de-duplicated material list.
//!
//! A bundle names its items and says only what cannot be derived: which item field keys mean
//! the same thing ([`Bundle::field_map`]) and which differently named materials are one
//! document ([`BundleMaterial::covers`]). The merged form and the material list are computed
//! from the items' guides ([`Bundle::merged_form`], [`Bundle::material_list`]), so they never
//! drift from the guides; [`Bundle::check`] names every inconsistency (a missing item, a field
//! key mapped to nothing, two fields of one key with different types).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::eligibility::Eligibility;
use crate::form::{FieldKind, FieldSource, FormField};
use crate::guide::{Faq, Guide, Source, Status, TimeLimit};

/// One 一件事.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// `BUNDLE-…`: unique, distinct from item codes.
    pub code: String,
    pub name: String,
    /// What citizens call it (“孩子出生要办什么”, “开公司”).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// One paragraph: who it is for and what it saves.
    pub summary: String,
    /// 牵头部门.
    pub department: String,
    pub region: String,
    pub items: Vec<BundleItem>,
    /// Per item code: item field key → bundle field key, for keys that differ between items
    /// (“name” of 医保参保 is the newborn's, so it maps to `child_name`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_map: BTreeMap<String, BTreeMap<String, String>>,
    /// Labels for merged fields where the items' labels would mislead.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub field_labels: BTreeMap<String, String>,
    /// Bundle field key → the item whose result fills it (the newborn's ID number comes from
    /// 出生登记; a new company's credit code from 设立登记): never asked of the citizen.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub produced: BTreeMap<String, String>,
    /// Materials that are one document under different names in different items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub materials: Vec<BundleMaterial>,
    /// 一件事 promised time limit, for the whole bundle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_time_limit: Option<TimeLimit>,
    /// Visits to a counter for the whole bundle (0 = fully online).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visits: Option<u32>,
    /// Scenario questions and answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faq: Vec<Faq>,
    /// Who the city offers this bundle to without being asked (a newborn's parents …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligibility: Option<Eligibility>,
    pub source: Source,
    #[serde(default)]
    pub status: Status,
    #[serde(default = "one")]
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleItem {
    pub code: String,
    /// When it applies (“随母落户的可不提供父亲信息”); optional items are offered, not forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default)]
    pub optional: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleMaterial {
    /// The name shown in the merged list.
    pub name: String,
    /// `ITEM-CODE:material name` of every item material this one document satisfies.
    pub covers: Vec<String>,
    /// The item of this bundle that issues it (出生医学证明 within 新生儿出生一件事): shared
    /// inside the bundle, never submitted by the citizen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// A field of the merged form: asked once, used by `items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MergedField {
    pub key: String,
    pub label: String,
    #[schema(value_type = String)]
    pub kind: FieldKind,
    /// Required by at least one item.
    pub required: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Pre-fill sources of every item, first item's first.
    #[schema(value_type = Vec<String>)]
    pub sources: Vec<FieldSource>,
    /// Item codes that use this field.
    pub items: Vec<String>,
    /// Filled from this item's result, not asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_by: Option<String>,
}

/// The merged form and what merging saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MergedForm {
    pub title: String,
    pub fields: Vec<MergedField>,
    /// Fields of the items' separate forms, summed.
    pub separate_fields: usize,
}

/// One line of the de-duplicated material list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MaterialRow {
    pub name: String,
    /// Required by at least one item.
    pub required: bool,
    /// Accepted e-licence type (免提交 when the holder has one), from the items.
    pub e_licence: Option<String>,
    /// Every item that needs it may accept it later under commitment (容缺).
    pub tolerance: bool,
    /// `(item code, item name, the item's own name for it)`.
    pub needed_by: Vec<(String, String, String)>,
    /// Issued by this item of the bundle: shared, not submitted.
    pub produced_by: Option<String>,
    pub notes: Option<String>,
    /// It is the application form filled in online (every item material it stands for is its
    /// item's form, [`crate::guide::Material::online_form`]): applying fills it, it is never
    /// uploaded. Absent in rows stored before it existed: false.
    #[serde(default)]
    pub online_form: bool,
}

fn guide<'a>(guides: &'a [Guide], code: &str) -> Option<&'a Guide> {
    guides.iter().find(|g| g.code == code)
}

impl Bundle {
    /// Problems that need no guides: codes, names, items listed once.
    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        if !self.code.starts_with("BUNDLE-") || !self.code.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-') {
            p.push(format!("一件事编码 {:?} 须以 BUNDLE- 开头，其后为大写字母、数字或 -", self.code));
        }
        if self.name.trim().is_empty() {
            p.push("名称不能为空".into());
        }
        if self.items.len() < 2 {
            p.push("一件事至少包含两个事项".into());
        }
        let mut seen = std::collections::HashSet::new();
        for i in &self.items {
            if !seen.insert(i.code.as_str()) {
                p.push(format!("事项 {} 重复列出", i.code));
            }
        }
        let listed = |code: &String| self.items.iter().any(|i| &i.code == code);
        for m in &self.materials {
            if m.covers.is_empty() {
                p.push(format!("材料 {:?} 没有对应任何事项的材料", m.name));
            }
            if let Some(by) = m.produced_by.as_ref().filter(|c| !listed(c)) {
                p.push(format!("材料 {:?} 由 {by} 产生，但 {by} 不是本一件事的事项", m.name));
            }
        }
        for (key, by) in &self.produced {
            if !listed(by) {
                p.push(format!("字段 {key:?} 由 {by} 产生，但 {by} 不是本一件事的事项"));
            }
        }
        if let Some(rule) = &self.eligibility {
            p.extend(rule.validate(&serde_json::to_value(self).expect("bundles serialise")));
        }
        p
    }

    /// Everything that must agree with the items' guides (`guides` holds at least the items).
    pub fn check(&self, guides: &[Guide]) -> Vec<String> {
        let mut p = self.validate();
        for item in &self.items {
            match guide(guides, &item.code) {
                None => p.push(format!("事项 {} 不是已发布的办事指南", item.code)),
                Some(g) if g.form.is_none() => p.push(format!("事项 {} 没有申请表", item.code)),
                Some(_) => {}
            }
        }
        for (code, map) in &self.field_map {
            if !self.items.iter().any(|i| &i.code == code) {
                p.push(format!("字段合并（field_map）引用的 {code} 不是本一件事的事项"));
                continue;
            }
            let Some(form) = guide(guides, code).and_then(|g| g.form.as_ref()) else { continue };
            for key in map.keys() {
                if !form.fields.iter().any(|f| &f.key == key) {
                    p.push(format!("字段合并（field_map）：{code} 的申请表没有字段 {key:?}"));
                }
            }
        }
        for m in &self.materials {
            for c in &m.covers {
                let Some((code, name)) = c.split_once(':') else {
                    p.push(format!("材料 {:?}：对应关系 {c:?} 应写作“事项编码:材料名称”", m.name));
                    continue;
                };
                match guide(guides, code) {
                    Some(g) if g.materials.iter().any(|x| x.name == name) => {}
                    Some(_) => p.push(format!("材料 {:?}：{code} 没有名为 {name:?} 的材料", m.name)),
                    None => p.push(format!("材料 {:?}：{code} 不是已发布的办事指南", m.name)),
                }
            }
        }
        match self.merged_form(guides) {
            Ok(form) => {
                for key in self.produced.keys().filter(|k| !form.fields.iter().any(|f| &f.key == *k)) {
                    p.push(format!("办结后产生的字段 {key:?} 不在合并后的申请表中"));
                }
            }
            Err(e) => p.push(e),
        }
        p
    }

    /// The bundle key of an item's field key.
    pub fn bundle_key<'a>(&'a self, item: &str, key: &'a str) -> &'a str {
        self.field_map.get(item).and_then(|m| m.get(key)).map(String::as_str).unwrap_or(key)
    }

    /// One form for all items: fields unified by (mapped) key, asked once. Fails when one key
    /// has two types.
    pub fn merged_form(&self, guides: &[Guide]) -> Result<MergedForm, String> {
        let mut fields: Vec<MergedField> = Vec::new();
        let mut separate = 0;
        for item in &self.items {
            let Some(form) = guide(guides, &item.code).and_then(|g| g.form.as_ref()) else { continue };
            separate += form.fields.len();
            for f in &form.fields {
                let key = self.bundle_key(&item.code, &f.key).to_string();
                match fields.iter_mut().find(|m| m.key == key) {
                    Some(m) => merge_into(m, f, &item.code)?,
                    None => fields.push(MergedField {
                        label: self.field_labels.get(&key).cloned().unwrap_or_else(|| f.label.clone()),
                        kind: f.kind,
                        required: f.required,
                        options: f.options.clone(),
                        help: f.help.clone(),
                        sources: f.sources.clone(),
                        items: vec![item.code.clone()],
                        produced_by: self.produced.get(&key).cloned(),
                        key,
                    }),
                }
            }
        }
        Ok(MergedForm { title: format!("{}联合申请表", self.name), fields, separate_fields: separate })
    }

    /// One list of materials: declared merges first, then every other item material, merged
    /// by exact name; each line says which items need it, and whether it is the online form.
    pub fn material_list(&self, guides: &[Guide]) -> Vec<MaterialRow> {
        let mut rows: Vec<MaterialRow> = self
            .materials
            .iter()
            .map(|m| MaterialRow {
                name: m.name.clone(),
                required: false,
                e_licence: None,
                tolerance: true,
                needed_by: Vec::new(),
                produced_by: m.produced_by.clone(),
                notes: m.notes.clone(),
                online_form: true,
            })
            .collect();
        for item in &self.items {
            let Some(g) = guide(guides, &item.code) else { continue };
            for mat in &g.materials {
                let cover = format!("{}:{}", g.code, mat.name);
                let at =
                    self.materials.iter().position(|m| m.covers.contains(&cover)).or_else(|| rows.iter().position(|r| r.name == mat.name));
                let row = match at {
                    Some(i) => &mut rows[i],
                    None => {
                        rows.push(MaterialRow {
                            name: mat.name.clone(),
                            required: false,
                            e_licence: None,
                            tolerance: true,
                            needed_by: Vec::new(),
                            produced_by: None,
                            notes: None,
                            online_form: true,
                        });
                        rows.last_mut().expect("just pushed")
                    }
                };
                row.required |= mat.required;
                row.tolerance &= mat.tolerance;
                // Every item's form is part of the merged form, so a line standing only for
                // items' forms is the merged form itself.
                row.online_form &= mat.online_form;
                if row.e_licence.is_none() {
                    row.e_licence = mat.e_licence.clone();
                }
                row.needed_by.push((g.code.clone(), g.name.clone(), mat.name.clone()));
            }
        }
        rows.retain(|r| !r.needed_by.is_empty());
        rows
    }

    /// Fields the citizen is asked for: the merged form less what the bundle's items produce.
    pub fn asked_fields(form: &MergedForm) -> usize {
        form.fields.iter().filter(|f| f.produced_by.is_none()).count()
    }

    /// Materials of the items' separate lists, summed (before de-duplication).
    pub fn separate_materials(&self, guides: &[Guide]) -> usize {
        self.items.iter().filter_map(|i| guide(guides, &i.code)).map(|g| g.materials.len()).sum()
    }
}

fn merge_into(m: &mut MergedField, f: &FormField, item: &str) -> Result<(), String> {
    if m.kind != f.kind {
        return Err(format!("合并字段 {:?}：{item} 中的类型为 {:?}，{} 中为 {:?}，请统一", m.key, f.kind, m.items[0], m.kind));
    }
    m.required |= f.required;
    for o in &f.options {
        if !m.options.contains(o) {
            m.options.push(o.clone());
        }
    }
    for s in &f.sources {
        if !m.sources.contains(s) {
            m.sources.push(s.clone());
        }
    }
    if m.help.is_none() {
        m.help = f.help.clone();
    }
    m.items.push(item.to_string());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::FormSchema;
    use crate::guide::Material;

    fn item(code: &str, fields: &[(&str, FieldKind, bool)], materials: &[&str]) -> Guide {
        let mut g: Guide = serde_json::from_value(serde_json::json!({
            "code": code, "name": format!("事项{code}"), "kind": "公共服务", "department": "示例市某局", "region": "示例市",
            "source": {"kind": "sample"}
        }))
        .unwrap();
        g.form = Some(FormSchema {
            title: "表".into(),
            fields: fields
                .iter()
                .map(|(k, kind, req)| FormField {
                    key: k.to_string(),
                    label: k.to_string(),
                    kind: *kind,
                    required: *req,
                    help: None,
                    options: vec![],
                    sources: vec![],
                })
                .collect(),
        });
        g.materials = materials
            .iter()
            .map(|n| Material {
                name: n.to_string(),
                required: true,
                originals: 1,
                copies: 0,
                form: None,
                e_licence: None,
                tolerance: false,
                origin: None,
                notes: None,
                online_form: false,
            })
            .collect();
        g
    }

    fn bundle() -> Bundle {
        serde_json::from_value(serde_json::json!({
            "code": "BUNDLE-TEST", "name": "测试一件事", "summary": "s", "department": "d", "region": "示例市",
            "items": [{"code": "A"}, {"code": "B"}],
            "field_map": {"B": {"name": "child_name"}},
            "produced": {"bank": "A"},
            "materials": [{"name": "父母身份证", "covers": ["A:母亲身份证", "B:父母双方身份证"]}, {"name": "照片", "covers": ["B:照片"], "produced_by": "A"}],
            "source": {"kind": "sample"}
        }))
        .unwrap()
    }

    #[test]
    fn a_line_standing_only_for_the_items_forms_is_the_online_form() {
        let mut guides = [
            item("A", &[("phone", FieldKind::Phone, true)], &["A申请表", "户口簿"]),
            item("B", &[("phone", FieldKind::Phone, true)], &["B登记表", "照片"]),
        ];
        for g in &mut guides {
            g.materials[0].online_form = true;
        }
        let mut b = bundle();
        b.produced.clear();
        b.materials = serde_json::from_value(serde_json::json!([
            {"name": "联合申请表（在线填写）", "covers": ["A:A申请表"]},
            {"name": "登记表和照片", "covers": ["B:B登记表", "B:照片"]}
        ]))
        .unwrap();
        let list = b.material_list(&guides);
        let online: Vec<(&str, bool)> = list.iter().map(|r| (r.name.as_str(), r.online_form)).collect();
        assert_eq!(
            online,
            [("联合申请表（在线填写）", true), ("登记表和照片", false), ("户口簿", false)],
            "a line that is also a photo is not the form"
        );
    }

    #[test]
    fn fields_merge_by_key_and_materials_by_declared_cover_or_name() {
        let guides = [
            item("A", &[("child_name", FieldKind::Text, true), ("phone", FieldKind::Phone, true)], &["母亲身份证", "户口簿"]),
            item(
                "B",
                &[("name", FieldKind::Text, false), ("phone", FieldKind::Phone, false), ("bank", FieldKind::Text, true)],
                &["父母双方身份证", "户口簿", "照片"],
            ),
        ];
        let b = bundle();
        assert!(b.check(&guides).is_empty(), "{:?}", b.check(&guides));
        let form = b.merged_form(&guides).unwrap();
        assert_eq!(form.fields.iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["child_name", "phone", "bank"]);
        assert_eq!((form.fields.len(), form.separate_fields), (3, 5));
        assert_eq!(form.fields[0].items, ["A", "B"]);
        assert!(form.fields[1].required, "required by one item is required");
        assert_eq!((form.fields[2].produced_by.as_deref(), Bundle::asked_fields(&form)), (Some("A"), 2), "produced fields are not asked");
        let list = b.material_list(&guides);
        assert_eq!(list.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["父母身份证", "照片", "户口簿"]);
        assert_eq!(list[1].produced_by.as_deref(), Some("A"));
        assert_eq!((list.len(), b.separate_materials(&guides)), (3, 5));
        assert_eq!(list[0].needed_by.iter().map(|n| n.2.as_str()).collect::<Vec<_>>(), ["母亲身份证", "父母双方身份证"]);
    }

    #[test]
    fn inconsistencies_are_named() {
        let guides =
            [item("A", &[("phone", FieldKind::Text, true)], &["母亲身份证"]), item("B", &[("phone", FieldKind::Phone, true)], &["照片"])];
        let mut b = bundle();
        b.items.push(BundleItem { code: "C".into(), note: None, optional: false });
        b.produced.insert("nothing".into(), "Z".into());
        let p = b.check(&guides).join("\n");
        assert!(p.contains("事项 C 不是已发布的办事指南"), "{p}");
        assert!(p.contains("B 的申请表没有字段 \"name\""), "{p}");
        assert!(p.contains("B 没有名为 \"父母双方身份证\" 的材料"), "{p}");
        assert!(p.contains("合并字段 \"phone\""), "{p}");
        assert!(p.contains("由 Z 产生，但 Z 不是本一件事的事项"), "{p}");
    }
}
