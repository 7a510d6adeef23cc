//! The audit log, in SQL both backends run.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{now, SqlStore};
use crate::store::{Audit, AuditEntry, NewAudit, StoreError};

fn entry(r: &AnyRow) -> Result<AuditEntry, StoreError> {
    let json = |col: &str| -> Result<Option<serde_json::Value>, StoreError> {
        r.get::<Option<String>, _>(col)
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("audit {col}: {e}")))
    };
    Ok(AuditEntry {
        id: r.get("id"),
        actor: r.get("actor"),
        action: r.get("action"),
        entity: r.get("entity"),
        entity_id: r.get("entity_id"),
        before: json("before")?,
        after: json("after")?,
        at: r.get("at"),
    })
}

#[async_trait]
impl Audit for SqlStore {
    async fn record(&self, e: NewAudit) -> Result<AuditEntry, StoreError> {
        let row = sqlx::query(
            "INSERT INTO audit_log (actor, action, entity, entity_id, before, after, at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        )
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.entity)
        .bind(&e.entity_id)
        .bind(e.before.map(|v| v.to_string()))
        .bind(e.after.map(|v| v.to_string()))
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        entry(&row)
    }

    async fn audit_entries(&self, entity: Option<&str>, entity_id: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM audit_log WHERE ($1 IS NULL OR entity = $1) AND ($2 IS NULL OR entity_id = $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(entity)
        .bind(entity_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entry).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use banshi_knowledge::testing::TestDb;

    async fn the_log_is_append_only(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        let pool = s.pool.clone();
        let e = s
            .record(NewAudit {
                actor: "user:a".into(),
                action: "guide.publish".into(),
                entity: "guide".into(),
                entity_id: "G1".into(),
                before: Some(serde_json::json!({"v": 1})),
                after: Some(serde_json::json!({"v": 2})),
            })
            .await
            .unwrap();
        assert_eq!(s.audit_entries(Some("guide"), Some("G1"), 10).await.unwrap(), [e]);
        assert!(sqlx::query("UPDATE audit_log SET actor = 'x'").execute(&pool).await.is_err());
        assert!(sqlx::query("DELETE FROM audit_log").execute(&pool).await.is_err());
    }

    banshi_knowledge::both_backends!(the_log_is_append_only);
}
