//! The state of a form being filled in the chat, kept in the dialogue state between turns:
//! values with where each came from, errors next to their fields, which fields were asked, and
//! how often the same field failed (twice → a person helps).

use std::collections::BTreeMap;

use banshi_knowledge::bundle::MergedField;
use serde::{Deserialize, Serialize};

use super::{validate, FormSpec};

/// Where a value came from, shown next to it for the citizen to confirm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ValueSource {
    /// The signed-in citizen's or enterprise's profile (一人一档 / 一企一档).
    Profile,
    /// An e-licence the holder has (电子证照).
    ELicence { licence: String },
    /// Read by rule from what the citizen said.
    Conversation,
    /// Read by the language model from what the citizen said (validated).
    Model,
    /// Read from an uploaded material.
    Material { material: String },
    /// Typed or corrected by the citizen.
    Citizen,
}

impl ValueSource {
    pub fn label(&self) -> String {
        match self {
            ValueSource::Profile => "个人档案".into(),
            ValueSource::ELicence { licence } => format!("电子证照·{licence}"),
            ValueSource::Conversation => "对话中提到".into(),
            ValueSource::Model => "对话中提到（智能识别）".into(),
            ValueSource::Material { material } => format!("材料·{material}"),
            ValueSource::Citizen => "本人填写".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldValue {
    pub value: String,
    pub source: ValueSource,
}

/// A form in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormProgress {
    pub spec: FormSpec,
    pub values: BTreeMap<String, FieldValue>,
    /// Problems of values that were offered and refused, by field key.
    pub errors: BTreeMap<String, String>,
    /// Keys asked in the last turn.
    pub asking: Vec<String>,
    /// Consecutive refused answers per field.
    pub failures: BTreeMap<String, u32>,
    /// Materials available as e-licences of the holder (免提交), by material name.
    pub exempt: BTreeMap<String, String>,
}

/// At most this many fields are asked in one turn.
pub const FIELDS_PER_TURN: usize = 2;

impl FormProgress {
    pub fn new(spec: FormSpec) -> Self {
        FormProgress {
            spec,
            values: BTreeMap::new(),
            errors: BTreeMap::new(),
            asking: Vec::new(),
            failures: BTreeMap::new(),
            exempt: BTreeMap::new(),
        }
    }

    /// Fields still to ask: required, not produced by the bundle, without a value — in form order.
    pub fn missing(&self) -> Vec<&MergedField> {
        self.spec.fields.iter().filter(|f| f.required && f.produced_by.is_none() && !self.values.contains_key(&f.key)).collect()
    }

    /// Optional fields without a value (offered, never insisted on).
    pub fn optional_open(&self) -> Vec<&MergedField> {
        self.spec.fields.iter().filter(|f| !f.required && f.produced_by.is_none() && !self.values.contains_key(&f.key)).collect()
    }

    pub fn complete(&self) -> bool {
        self.missing().is_empty()
    }

    /// Offer a value: validated, then kept (replacing an earlier one) or refused with the reason.
    pub fn offer(&mut self, key: &str, raw: &str, source: ValueSource) -> Result<(), String> {
        let field = self.spec.field(key).ok_or_else(|| format!("表单中没有字段“{key}”"))?;
        if field.produced_by.is_some() {
            return Err(format!("“{}”由办理过程自动生成，无需填写", field.label));
        }
        match validate::value(field, raw) {
            Ok(v) => {
                self.values.insert(key.to_string(), FieldValue { value: v, source });
                self.errors.remove(key);
                self.failures.remove(key);
                Ok(())
            }
            Err(e) => {
                self.errors.insert(key.to_string(), e.clone());
                *self.failures.entry(key.to_string()).or_default() += 1;
                Err(e)
            }
        }
    }

    /// Offer a value only where none is set yet (pre-fill never overwrites).
    pub fn prefill(&mut self, key: &str, raw: &str, source: ValueSource) -> bool {
        if self.values.contains_key(key) {
            return false;
        }
        let ok = self.spec.field(key).is_some_and(|f| validate::value(f, raw).is_ok());
        // A pre-fill that fails validation is not an error of the citizen's: just not used.
        ok && self.offer(key, raw, source).is_ok()
    }

    /// Choose the next fields to ask (at most [`FIELDS_PER_TURN`]); refused fields first.
    pub fn next_questions(&mut self) -> Vec<MergedField> {
        let mut missing: Vec<MergedField> = self.missing().into_iter().cloned().collect();
        missing.sort_by_key(|f| !self.errors.contains_key(&f.key));
        missing.truncate(FIELDS_PER_TURN);
        self.asking = missing.iter().map(|f| f.key.clone()).collect();
        missing
    }

    /// The highest number of consecutive refusals of one field.
    pub fn worst_failures(&self) -> u32 {
        self.failures.values().copied().max().unwrap_or(0)
    }

    /// Values only, for submission.
    pub fn plain_values(&self) -> BTreeMap<String, String> {
        self.values.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect()
    }

    /// The question for the next fields, in Chinese.
    pub fn question(fields: &[MergedField]) -> String {
        let parts: Vec<String> = fields
            .iter()
            .map(|f| {
                let hint = match (&f.help, f.options.is_empty()) {
                    (Some(h), _) => format!("（{h}）"),
                    (None, false) => format!("（{}）", f.options.join("/")),
                    (None, true) => String::new(),
                };
                format!("{}{hint}", f.label)
            })
            .collect();
        format!("请告诉我：{}。", parts.join("；"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use banshi_knowledge::form::FieldKind;

    fn spec() -> FormSpec {
        let f = |key: &str, label: &str, kind: FieldKind, required: bool, produced: bool| MergedField {
            key: key.into(),
            label: label.into(),
            kind,
            required,
            options: if kind == FieldKind::Enum { vec!["男".into(), "女".into()] } else { vec![] },
            help: None,
            sources: vec![],
            items: vec!["A".into()],
            produced_by: produced.then(|| "A".into()),
        };
        FormSpec {
            target: super::super::Target::Item { code: "A".into(), name: "甲".into() },
            title: "表".into(),
            fields: vec![
                f("name", "姓名", FieldKind::Text, true, false),
                f("id_number", "公民身份号码", FieldKind::IdCard, true, false),
                f("gender", "性别", FieldKind::Enum, true, false),
                f("note", "备注", FieldKind::Text, false, false),
                f("cert_no", "证书编号", FieldKind::Text, true, true),
            ],
            materials: vec![],
            separate_fields: 5,
            separate_materials: 0,
            promised_days: Some(5),
        }
    }

    #[test]
    fn asks_two_at_a_time_refused_first_and_never_produced_fields() {
        let mut p = FormProgress::new(spec());
        assert_eq!(p.next_questions().iter().map(|f| f.key.as_str()).collect::<Vec<_>>(), ["name", "id_number"]);
        assert!(p.offer("id_number", "123", ValueSource::Citizen).unwrap_err().contains("18 位"));
        p.offer("name", "王小明", ValueSource::Citizen).unwrap();
        assert_eq!(
            p.next_questions().iter().map(|f| f.key.as_str()).collect::<Vec<_>>(),
            ["id_number", "gender"],
            "the refused field is asked again first"
        );
        assert!(p.offer("cert_no", "X1", ValueSource::Citizen).is_err(), "produced fields are not filled in");
        p.offer("id_number", "11010519491231002x", ValueSource::Citizen).unwrap();
        p.offer("gender", "男", ValueSource::Citizen).unwrap();
        assert!(p.complete(), "optional and produced fields are not required");
        assert_eq!(p.plain_values()["id_number"], "11010519491231002X");
        assert!(p.errors.is_empty());
    }

    #[test]
    fn prefill_never_overwrites_and_ignores_bad_values() {
        let mut p = FormProgress::new(spec());
        p.offer("name", "李四", ValueSource::Citizen).unwrap();
        assert!(!p.prefill("name", "张三", ValueSource::Profile));
        assert!(!p.prefill("id_number", "bad", ValueSource::Profile));
        assert!(p.errors.is_empty(), "a bad pre-fill is not the citizen's error");
        assert!(p.prefill("gender", "女", ValueSource::ELicence { licence: "居民身份证".into() }));
        assert_eq!(p.values["gender"].source.label(), "电子证照·居民身份证");
    }

    #[test]
    fn failures_count_per_field() {
        let mut p = FormProgress::new(spec());
        let _ = p.offer("id_number", "1", ValueSource::Citizen);
        let _ = p.offer("id_number", "2", ValueSource::Citizen);
        assert_eq!(p.worst_failures(), 2);
        p.offer("id_number", "11010519491231002X", ValueSource::Citizen).unwrap();
        assert_eq!(p.worst_failures(), 0);
    }
}
