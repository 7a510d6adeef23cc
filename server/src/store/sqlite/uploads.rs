//! Uploads and pre-review reports in SQLite.

use async_trait::async_trait;
use banshi_assistant::prereview::Report;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::{now, SqliteStore};
use crate::store::{NewUpload, StoreError, StoredReport, Upload, Uploads};

fn json<T: serde::de::DeserializeOwned>(r: &SqliteRow, col: &str) -> Result<T, StoreError> {
    let s: String = r.get(col);
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn upload(r: &SqliteRow) -> Result<Upload, StoreError> {
    let kind: String = r.get("kind");
    Ok(Upload {
        id: r.get("id"),
        session_id: r.get("session_id"),
        sha256: r.get("sha256"),
        file_name: r.get("file_name"),
        kind: serde_json::from_value(serde_json::Value::String(kind)).map_err(|e| StoreError::Corrupt(format!("kind: {e}")))?,
        size: r.get("size"),
        declared: r.get("declared"),
        document: json(r, "document")?,
        recognised: json(r, "recognised")?,
        created_at: r.get("created_at"),
    })
}

fn report(r: &SqliteRow) -> Result<StoredReport, StoreError> {
    Ok(StoredReport { id: r.get("id"), session_id: r.get("session_id"), target_code: r.get("target_code"), report: json(r, "report")?, created_at: r.get("created_at") })
}

const UPLOAD_COLUMNS: &str = "id, session_id, sha256, file_name, kind, size, declared, document, recognised, created_at";

#[async_trait]
impl Uploads for SqliteStore {
    async fn add_upload(&self, u: NewUpload) -> Result<Upload, StoreError> {
        let kind = serde_json::to_value(u.kind).expect("kinds serialise");
        let row = sqlx::query(&format!(
            "INSERT INTO uploads (session_id, sha256, file_name, kind, size, declared, document, recognised, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {UPLOAD_COLUMNS}"
        ))
        .bind(&u.session_id)
        .bind(&u.sha256)
        .bind(&u.file_name)
        .bind(kind.as_str())
        .bind(u.size as i64)
        .bind(&u.declared)
        .bind(serde_json::to_string(&u.document).expect("documents serialise"))
        .bind(serde_json::to_string(&u.recognised).expect("fields serialise"))
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        upload(&row)
    }

    async fn uploads(&self, session_id: &str) -> Result<Vec<Upload>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE session_id = ? ORDER BY id")).bind(session_id).fetch_all(&self.pool).await?;
        rows.iter().map(upload).collect()
    }

    async fn count_uploads(&self, session_id: &str) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE session_id = ?").bind(session_id).fetch_one(&self.pool).await?;
        Ok(n as usize)
    }

    async fn upload_bytes(&self, session_id: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM uploads WHERE session_id = ?").bind(session_id).fetch_one(&self.pool).await?;
        Ok(n.max(0) as u64)
    }

    async fn upload_bytes_since(&self, since: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(size), 0) FROM uploads WHERE created_at >= ?").bind(since).fetch_one(&self.pool).await?;
        Ok(n.max(0) as u64)
    }

    async fn add_report(&self, session_id: &str, target_code: &str, r: &Report) -> Result<StoredReport, StoreError> {
        let verdict = serde_json::to_value(r.verdict).expect("verdicts serialise");
        let row = sqlx::query(
            "INSERT INTO prereviews (session_id, target_code, verdict, report, created_at) VALUES (?, ?, ?, ?, ?) \
             RETURNING id, session_id, target_code, report, created_at",
        )
        .bind(session_id)
        .bind(target_code)
        .bind(verdict.as_str())
        .bind(serde_json::to_string(r).expect("reports serialise"))
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        report(&row)
    }

    async fn reports(&self, session_id: &str, target_code: &str) -> Result<Vec<StoredReport>, StoreError> {
        let rows = sqlx::query("SELECT id, session_id, target_code, report, created_at FROM prereviews WHERE session_id = ? AND target_code = ? ORDER BY id DESC")
            .bind(session_id)
            .bind(target_code)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(report).collect()
    }

    async fn attach_report(&self, application_id: i64, r: &Report) -> Result<(), StoreError> {
        sqlx::query("UPDATE applications SET prereview = ? WHERE id = ?").bind(serde_json::to_string(r).expect("reports serialise")).bind(application_id).execute(&self.pool).await?;
        Ok(())
    }
}
