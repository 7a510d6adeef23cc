//! Application forms filled in the chat (边聊边办): what to fill ([`FormSpec`], one item's form
//! or a bundle's merged form), values checked by the national rules ([`validate`]), pre-fill
//! from four sources ([`prefill`]: the citizen's profile, e-licences, what they said, uploaded
//! materials), answers read from chat messages ([`extract`]), and the filling state carried
//! between turns ([`fill::FormProgress`]).

pub mod extract;
pub mod fill;
pub mod prefill;
pub mod validate;

use std::collections::BTreeMap;

use banshi_knowledge::bundle::{Bundle, MaterialRow, MergedField};
use banshi_knowledge::form::FieldKind;
use banshi_knowledge::guide::DayUnit;
use banshi_knowledge::Guide;
use serde::{Deserialize, Serialize};

/// What an application is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    Item { code: String, name: String },
    Bundle { code: String, name: String },
}

impl Target {
    pub fn code(&self) -> &str {
        match self {
            Target::Item { code, .. } | Target::Bundle { code, .. } => code,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Item { name, .. } | Target::Bundle { name, .. } => name,
        }
    }
}

/// The form to fill and the materials to bring, for one item or one bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormSpec {
    pub target: Target,
    pub title: String,
    pub fields: Vec<MergedField>,
    pub materials: Vec<MaterialRow>,
    /// Fields of the separate forms (bundles; equals `fields.len()` for one item).
    pub separate_fields: usize,
    /// Materials before de-duplication (bundles; equals `materials.len()` for one item).
    pub separate_materials: usize,
    /// Promised working days for the whole application, when stated.
    pub promised_days: Option<u32>,
}

/// An item's promised time limit (else its legal one) in working days — the unit applications
/// count in; `None` when the guide states it in another unit (60日 is not 60 working days).
fn working_days(g: &Guide) -> Option<u32> {
    g.promised_time_limit.as_ref().or(g.legal_time_limit.as_ref()).filter(|t| t.unit == DayUnit::WorkingDays).map(|t| t.days)
}

impl FormSpec {
    /// The form of one item (`None` when the guide has no form: nothing to apply for).
    pub fn for_guide(g: &Guide) -> Option<FormSpec> {
        let form = g.form.as_ref()?;
        let fields: Vec<MergedField> = form
            .fields
            .iter()
            .map(|f| MergedField {
                key: f.key.clone(),
                label: f.label.clone(),
                kind: f.kind,
                required: f.required,
                options: f.options.clone(),
                help: f.help.clone(),
                sources: f.sources.clone(),
                items: vec![g.code.clone()],
                produced_by: None,
            })
            .collect();
        let materials: Vec<MaterialRow> = g
            .materials
            .iter()
            .map(|m| MaterialRow {
                name: m.name.clone(),
                required: m.required,
                e_licence: m.e_licence.clone(),
                tolerance: m.tolerance,
                needed_by: vec![(g.code.clone(), g.name.clone(), m.name.clone())],
                produced_by: None,
                notes: m.notes.clone(),
                online_form: m.online_form,
            })
            .collect();
        Some(FormSpec {
            target: Target::Item { code: g.code.clone(), name: g.name.clone() },
            title: form.title.clone(),
            separate_fields: fields.len(),
            separate_materials: materials.len(),
            fields,
            materials,
            promised_days: working_days(g),
        })
    }

    /// The merged form of a bundle; `guides` holds its items.
    pub fn for_bundle(b: &Bundle, guides: &[Guide]) -> Result<FormSpec, String> {
        let form = b.merged_form(guides)?;
        let promised_days = b.promised_time_limit.as_ref().filter(|t| t.unit == DayUnit::WorkingDays).map(|t| t.days).or_else(|| {
            // The slowest item decides when everything is done.
            b.items.iter().filter_map(|i| guides.iter().find(|g| g.code == i.code)).filter_map(working_days).max()
        });
        Ok(FormSpec {
            target: Target::Bundle { code: b.code.clone(), name: b.name.clone() },
            title: form.title,
            fields: form.fields,
            separate_fields: form.separate_fields,
            materials: b.material_list(guides),
            separate_materials: b.separate_materials(guides),
            promised_days,
        })
    }

    pub fn field(&self, key: &str) -> Option<&MergedField> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// Check a whole submission: every key known, every value valid for its type, every
    /// required (not produced) field present. Returns the normalised values or every problem
    /// by field key.
    pub fn check_submission(&self, values: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        let mut clean = BTreeMap::new();
        for (k, v) in values {
            match self.field(k) {
                None => {
                    errors.insert(k.clone(), format!("表单中没有字段“{k}”"));
                }
                Some(f) if f.produced_by.is_some() => {
                    errors.insert(k.clone(), format!("“{}”由办理过程自动生成，无需填写", f.label));
                }
                Some(f) => match validate::value(f, v) {
                    Ok(norm) => {
                        clean.insert(k.clone(), norm);
                    }
                    Err(e) => {
                        errors.insert(k.clone(), e);
                    }
                },
            }
        }
        for f in self.fields.iter().filter(|f| f.required && f.produced_by.is_none()) {
            if values.get(&f.key).is_none_or(|v| v.trim().is_empty()) && !errors.contains_key(&f.key) {
                errors.insert(f.key.clone(), format!("请填写“{}”", f.label));
            }
        }
        if errors.is_empty() {
            Ok(clean)
        } else {
            Err(errors)
        }
    }
}

/// Chinese name of a field type, for help text.
pub fn kind_zh(k: FieldKind) -> &'static str {
    match k {
        FieldKind::Text => "文字",
        FieldKind::IdCard => "18位公民身份号码",
        FieldKind::Uscc => "18位统一社会信用代码",
        FieldKind::Phone => "手机号码",
        FieldKind::Date => "日期",
        FieldKind::Enum => "选项",
        FieldKind::Address => "地址",
        FieldKind::Number => "数字",
        FieldKind::YesNo => "是或否",
    }
}
