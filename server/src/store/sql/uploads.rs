//! Uploads and pre-review reports, in SQL both backends run.

use async_trait::async_trait;
use banshi_assistant::prereview::Report;
use sqlx::any::AnyRow;
use sqlx::Row;

use banshi_knowledge::db::Backend;

use super::{now, SqlStore};
use crate::store::{NewUpload, StoreError, StoredReport, Upload, UploadQuota, Uploads};

fn json<T: serde::de::DeserializeOwned>(r: &AnyRow, col: &str) -> Result<T, StoreError> {
    let s: String = r.get(col);
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn upload(r: &AnyRow) -> Result<Upload, StoreError> {
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

fn report(r: &AnyRow) -> Result<StoredReport, StoreError> {
    Ok(StoredReport {
        id: r.get("id"),
        session_id: r.get("session_id"),
        target_code: r.get("target_code"),
        report: json(r, "report")?,
        created_at: r.get("created_at"),
    })
}

const UPLOAD_COLUMNS: &str = "id, session_id, sha256, file_name, kind, size, declared, document, recognised, created_at";

#[async_trait]
impl Uploads for SqlStore {
    async fn add_upload(&self, u: NewUpload, quota: &UploadQuota) -> Result<Option<Upload>, StoreError> {
        let kind = serde_json::to_value(u.kind).expect("kinds serialise");
        let bound = |q: Option<u64>| q.map_or(i64::MAX, |q| q.min(i64::MAX as u64) as i64);
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // The quotas are sums over other rows: two replicas' inserts would each see the
            // other's row missing. Upload inserts take turns (SQLite's writes always do);
            // readers are not blocked.
            sqlx::query("LOCK TABLE uploads IN SHARE ROW EXCLUSIVE MODE").execute(&mut *tx).await?;
        }
        let row = sqlx::query(&format!(
            "INSERT INTO uploads (session_id, sha256, file_name, kind, size, declared, document, recognised, created_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 \
             WHERE (SELECT COUNT(*) FROM uploads WHERE session_id = $1) < $10 \
               AND (SELECT COALESCE(SUM(size), 0) FROM uploads WHERE session_id = $1) + $5 <= $11 \
               AND (SELECT COALESCE(SUM(size), 0) FROM uploads WHERE created_at >= $12) + $5 <= $13 \
             RETURNING {UPLOAD_COLUMNS}"
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
        .bind(quota.files.min(i64::MAX as usize) as i64)
        .bind(bound(quota.session_bytes))
        .bind(&quota.day_since)
        .bind(bound(quota.day_bytes))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.as_ref().map(upload).transpose()
    }

    async fn uploads(&self, session_id: &str) -> Result<Vec<Upload>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE session_id = $1 ORDER BY id"))
            .bind(session_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(upload).collect()
    }

    async fn count_uploads(&self, session_id: &str) -> Result<usize, StoreError> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE session_id = $1").bind(session_id).fetch_one(&self.pool).await?;
        Ok(n as usize)
    }

    async fn upload_bytes(&self, session_id: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM uploads WHERE session_id = $1")
            .bind(session_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn upload_bytes_since(&self, since: &str) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM uploads WHERE created_at >= $1")
            .bind(since)
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn add_report(&self, session_id: &str, target_code: &str, r: &Report) -> Result<StoredReport, StoreError> {
        let verdict = serde_json::to_value(r.verdict).expect("verdicts serialise");
        let row = sqlx::query(
            "INSERT INTO prereviews (session_id, target_code, verdict, report, created_at) VALUES ($1, $2, $3, $4, $5) \
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
        let rows = sqlx::query("SELECT id, session_id, target_code, report, created_at FROM prereviews WHERE session_id = $1 AND target_code = $2 ORDER BY id DESC")
            .bind(session_id)
            .bind(target_code)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(report).collect()
    }

    async fn attach_report(&self, application_id: i64, r: &Report) -> Result<(), StoreError> {
        sqlx::query("UPDATE applications SET prereview = $1 WHERE id = $2")
            .bind(serde_json::to_string(r).expect("reports serialise"))
            .bind(application_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use banshi_assistant::prereview::report::recognise;
    use banshi_assistant::prereview::{Document, FileKind};
    use banshi_knowledge::testing::TestDb;

    use super::*;
    use crate::store::Sessions;

    fn new_upload(session: &str, size: usize) -> NewUpload {
        let document = Document { kind: FileKind::Pdf, pages: Vec::new() };
        let recognised = recognise(&document);
        NewUpload {
            session_id: session.into(),
            sha256: "ab".repeat(32),
            file_name: "a.pdf".into(),
            kind: FileKind::Pdf,
            size,
            declared: None,
            document,
            recognised,
        }
    }

    fn quota(files: usize, session_bytes: Option<u64>, day_bytes: Option<u64>) -> UploadQuota {
        UploadQuota { files, session_bytes, day_bytes, day_since: "2000-01-01T00:00:00.000Z".into() }
    }

    async fn the_insert_keeps_every_quota(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        for id in ["s1", "s2"] {
            s.create_session(id, id, "web").await.unwrap();
        }
        let q = quota(3, Some(100), Some(150));
        assert!(s.add_upload(new_upload("s1", 60), &q).await.unwrap().is_some());
        assert!(s.add_upload(new_upload("s1", 41), &q).await.unwrap().is_none(), "101 bytes > the session's 100");
        assert!(s.add_upload(new_upload("s1", 40), &q).await.unwrap().is_some(), "exactly 100 fits");
        assert!(s.add_upload(new_upload("s2", 60), &q).await.unwrap().is_none(), "160 bytes today > the service's 150");
        assert!(s.add_upload(new_upload("s2", 50), &q).await.unwrap().is_some());
        let few = quota(3, None, None);
        assert!(s.add_upload(new_upload("s1", 1), &few).await.unwrap().is_some(), "the third file");
        assert!(s.add_upload(new_upload("s1", 1), &few).await.unwrap().is_none(), "a fourth file");
        assert_eq!(s.count_uploads("s1").await.unwrap(), 3);
    }

    async fn racing_uploads_cannot_overshoot_together(db: TestDb) {
        let s = SqlStore::new(db.pool().await).await.unwrap();
        s.create_session("s1", "h", "web").await.unwrap();
        let s = std::sync::Arc::new(s);
        let q = quota(100, Some(100), None);
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let (s, q) = (s.clone(), q.clone());
                tokio::spawn(async move { s.add_upload(new_upload("s1", 30), &q).await.unwrap().is_some() })
            })
            .collect();
        let mut stored = 0;
        for t in tasks {
            stored += usize::from(t.await.unwrap());
        }
        assert_eq!(stored, 3, "3 × 30 bytes fit in 100, the other 7 are refused");
        assert_eq!(s.upload_bytes("s1").await.unwrap(), 90);
    }

    banshi_knowledge::both_backends!(the_insert_keeps_every_quota, racing_uploads_cannot_overshoot_together);
}
