//! Citizens a test makes itself, straight in the data dir's store before the server starts: valid
//! ID numbers for any birth date, so eligibility boundaries can be set relative to today.

use banshi_assistant::forms::prefill::ELicence;
use banshi_server::store::{Applications, SqlStore};
use chrono::NaiveDate;

/// The password of every citizen made here.
pub const CITIZEN_PW: &str = "Sample-Pass-2026";

/// The data dir's store (SQLite), for adding records before the server starts.
pub async fn store(data: &std::path::Path) -> SqlStore {
    SqlStore::new(banshi_knowledge::db::open_sqlite(&data.join("banshi.db")).await.unwrap()).await.unwrap()
}

/// A valid 18-digit ID number (GB 11643 check character) for a birth date.
pub fn id_number(birth: NaiveDate, seq: u32) -> String {
    let body = format!("350102{}{seq:03}", birth.format("%Y%m%d"));
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(W).map(|(b, w)| u32::from(b - b'0') * w).sum();
    format!("{body}{}", "10X98765432".as_bytes()[(sum % 11) as usize] as char)
}

pub fn licence(kind: &str, id: &str, issuer: &str, fields: &[(&str, String)]) -> ELicence {
    ELicence {
        licence_type: kind.into(),
        number: format!("{kind}-{id}"),
        holder_name: "测试".into(),
        holder_id: id.into(),
        fields: fields.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        issuer: issuer.into(),
        issued_on: Some("2010-01-01".into()),
        valid_until: None,
    }
}

/// A citizen born on `birth` with a 示例市 household register (居民户口簿); returns their ID number.
pub async fn add(store: &SqlStore, username: &str, name: &str, birth: NaiveDate, gender: &str, seq: u32) -> String {
    let id = id_number(birth, seq);
    let profile = [
        ("name", name.to_string()),
        ("id_number", id.clone()),
        ("gender", gender.to_string()),
        ("birth_date", birth.to_string()),
        ("phone", format!("1390591{seq:04}")),
        ("address", format!("示例市鼓楼区东街{seq}号")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    store.add_citizen(username, name, &banshi_server::auth::hash_password(CITIZEN_PW).unwrap(), &profile).await.unwrap();
    store.put_licence(&licence("居民户口簿", &id, "示例市公安局鼓楼分局", &[("姓名", name.into())]), &[]).await.unwrap();
    id
}
