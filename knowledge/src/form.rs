//! Application form schemas (申请表): fields, their types and where a value may come from.
//!
//! A schema is part of the guide data and validated on import; value validation (ID checksums,
//! credit codes …) lives with the form filling in `assistant`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormSchema {
    /// Form title, e.g. “居民身份证申领登记表”.
    pub title: String,
    pub fields: Vec<FormField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormField {
    /// Stable key; bundles merge fields of different items by key (asked once).
    pub key: String,
    pub label: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// Choices of an `enum` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Where a value may be pre-filled from, in order of preference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<FieldSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    /// 18-digit resident ID number (GB 11643-1999).
    IdCard,
    /// 统一社会信用代码 (GB 32100-2015).
    Uscc,
    Phone,
    Date,
    Enum,
    Address,
    Number,
    YesNo,
}

/// A pre-fill source: `profile:name`, `elicence:居民身份证.姓名`, `answer`, `material:户口簿.户号`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FieldSource {
    /// The signed-in citizen's or enterprise's profile (一人一档 / 一企一档), by profile key.
    Profile(String),
    /// A field of an e-licence the holder has: (licence type, field name).
    ELicence { licence: String, field: String },
    /// Something the citizen said earlier in the conversation.
    Answer,
    /// A field read from an uploaded material: (material name, field name).
    Material { material: String, field: String },
}

impl TryFrom<String> for FieldSource {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let (kind, rest) = s.split_once(':').unwrap_or((s.as_str(), ""));
        let pair = |rest: &str| {
            rest.split_once('.')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| format!("source {s:?}: expected {kind}:NAME.FIELD"))
        };
        match kind {
            "profile" if !rest.is_empty() => Ok(FieldSource::Profile(rest.to_string())),
            "answer" if rest.is_empty() => Ok(FieldSource::Answer),
            "elicence" => pair(rest).map(|(licence, field)| FieldSource::ELicence { licence, field }),
            "material" => pair(rest).map(|(material, field)| FieldSource::Material { material, field }),
            _ => Err(format!("source {s:?}: expected profile:KEY, elicence:LICENCE.FIELD, material:NAME.FIELD or answer")),
        }
    }
}

impl From<FieldSource> for String {
    fn from(s: FieldSource) -> String {
        match s {
            FieldSource::Profile(k) => format!("profile:{k}"),
            FieldSource::ELicence { licence, field } => format!("elicence:{licence}.{field}"),
            FieldSource::Answer => "answer".into(),
            FieldSource::Material { material, field } => format!("material:{material}.{field}"),
        }
    }
}

impl FormSchema {
    /// Problems with the schema itself; empty = valid.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.fields.is_empty() {
            problems.push("没有任何字段".into());
        }
        let mut seen = std::collections::HashSet::new();
        for f in &self.fields {
            let key_ok = !f.key.is_empty() && f.key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                problems.push(format!("字段键 {:?} 须为小写字母、数字或 _", f.key));
            }
            if !seen.insert(f.key.as_str()) {
                problems.push(format!("字段键 {:?} 重复", f.key));
            }
            if f.label.trim().is_empty() {
                problems.push(format!("字段 {:?} 缺少名称", f.key));
            }
            if (f.kind == FieldKind::Enum) == f.options.is_empty() {
                problems.push(format!("字段 {:?}：只有选项型字段有选项，且选项型字段必须有选项", f.key));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_round_trip() {
        for s in ["profile:name", "elicence:居民身份证.公民身份号码", "answer", "material:户口簿.户号"] {
            let parsed = FieldSource::try_from(s.to_string()).unwrap();
            assert_eq!(String::from(parsed), s);
        }
        assert!(FieldSource::try_from("elicence:居民身份证".to_string()).is_err());
        assert!(FieldSource::try_from("guess".to_string()).is_err());
    }

    #[test]
    fn schema_problems_are_named() {
        let schema: FormSchema = serde_json::from_value(serde_json::json!({
            "title": "t",
            "fields": [
                {"key": "name", "label": "姓名", "type": "text", "required": true},
                {"key": "name", "label": "", "type": "enum"},
                {"key": "Bad Key", "label": "x", "type": "id_card"}
            ]
        }))
        .unwrap();
        let p = schema.validate();
        assert_eq!(p.len(), 4, "{p:?}");
    }
}
