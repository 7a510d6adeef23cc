//! Application forms: value validation by the national rules ([`validate`]).

pub mod validate;
