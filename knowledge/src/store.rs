//! The document stores: every saved version of every guide (and every bundle), and which one
//! is live, in SQLite.
//!
//! Each save is a transaction: the new version row and the document row change together or not
//! at all, so a crash never leaves a document pointing at a missing version. Saving a document
//! whose body equals the live version is a no-op (re-importing the same corpus creates no
//! versions). Guides and bundles share the code through [`Document`]; each has its own tables.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::{Row, SqlitePool};

use crate::bundle::Bundle;
use crate::guide::{Guide, Status};
use crate::KnowledgeError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Open (creating if needed) the SQLite database at `path` with WAL journaling and
/// `synchronous=FULL`: a commit is on disk before it is acknowledged.
pub async fn open_sqlite(path: &std::path::Path) -> Result<SqlitePool, KnowledgeError> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(5))
        .foreign_keys(true);
    Ok(SqlitePoolOptions::new().max_connections(8).connect_with(options).await?)
}

/// Result of saving one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Identical to the live version: nothing written.
    Unchanged,
    /// Written as this version.
    Version(u32),
}

/// Summary row for listings.
/// One saved version, as a history lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionInfo {
    pub version: u32,
    /// `draft` or `published` (published at least once).
    pub status: String,
    pub author: String,
    pub created_at: String,
    pub live: bool,
}

fn doc_meta_time<D: Document>(d: &D) -> Option<String> {
    serde_json::to_value(d).ok()?.get("updated_at")?.as_str().map(str::to_string)
}

fn doc_meta_author<D: Document>(d: &D) -> Option<String> {
    serde_json::to_value(d).ok()?.get("updated_by")?.as_str().map(str::to_string)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuideSummary {
    pub code: String,
    pub name: String,
    pub source: String,
    pub live_version: Option<u32>,
    pub latest_version: u32,
}

/// A versioned document: an item guide or a bundle. Each kind has its own two tables with the
/// same columns: `TABLE` (one row per code: live and latest version) and `VERSIONS` (bodies).
pub trait Document: Serialize + DeserializeOwned + Clone + Send + Sync + Unpin + 'static {
    const TABLE: &'static str;
    const VERSIONS: &'static str;
    fn code(&self) -> &str;
    fn name(&self) -> &str;
    /// `sample`, `gd_catalogue` or `editor`.
    fn source_kind(&self) -> String;
    /// Problems that make it unsavable; empty = valid.
    fn validate(&self) -> Vec<String>;
    /// Set the bookkeeping fields of a saved version.
    fn stamp(&mut self, version: u32, status: Status, at: &str, by: &str);
}

impl Document for Guide {
    const TABLE: &'static str = "guides";
    const VERSIONS: &'static str = "guide_versions";
    fn code(&self) -> &str {
        &self.code
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn source_kind(&self) -> String {
        serde_json::to_value(self.source.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "editor".into())
    }
    fn validate(&self) -> Vec<String> {
        Guide::validate(self)
    }
    fn stamp(&mut self, version: u32, status: Status, at: &str, by: &str) {
        (self.version, self.status, self.updated_at, self.updated_by) = (version, status, Some(at.into()), Some(by.into()));
    }
}

impl Document for Bundle {
    const TABLE: &'static str = "bundles";
    const VERSIONS: &'static str = "bundle_versions";
    fn code(&self) -> &str {
        &self.code
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn source_kind(&self) -> String {
        serde_json::to_value(self.source.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_else(|| "editor".into())
    }
    fn validate(&self) -> Vec<String> {
        Bundle::validate(self)
    }
    fn stamp(&mut self, version: u32, status: Status, at: &str, by: &str) {
        (self.version, self.status, self.updated_at, self.updated_by) = (version, status, Some(at.into()), Some(by.into()));
    }
}

/// Every saved version of every document of one kind, and which one is live.
pub struct DocStore<D: Document> {
    pool: SqlitePool,
    kind: std::marker::PhantomData<fn() -> D>,
}

impl<D: Document> Clone for DocStore<D> {
    fn clone(&self) -> Self {
        DocStore { pool: self.pool.clone(), kind: std::marker::PhantomData }
    }
}

pub type GuideStore = DocStore<Guide>;
pub type BundleStore = DocStore<Bundle>;

impl<D: Document> DocStore<D> {
    /// Run this crate's migrations on `pool` (other crates' migrations may share the database).
    pub async fn new(pool: SqlitePool) -> Result<Self, KnowledgeError> {
        // Each crate migrates its own tables in one shared database: tolerate the others' rows.
        let mut migrator = sqlx::migrate::Migrator { migrations: MIGRATOR.migrations.clone(), ..sqlx::migrate::Migrator::DEFAULT };
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(DocStore { pool, kind: std::marker::PhantomData })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Save `doc` as a new published version, unless it equals the live one.
    pub async fn publish(&self, doc: &D, author: &str) -> Result<Saved, KnowledgeError> {
        let (table, versions) = (D::TABLE, D::VERSIONS);
        let code = doc.code();
        let problems = doc.validate();
        if !problems.is_empty() {
            return Err(KnowledgeError::Invalid { code: code.to_string(), problems });
        }
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(&format!("SELECT live_version, latest_version FROM {table} WHERE code = ?")).bind(code).fetch_optional(&mut *tx).await?;
        let (live, latest): (Option<i64>, i64) = match &row {
            Some(r) => (r.get(0), r.get(1)),
            None => (None, 0),
        };
        if let Some(live) = live {
            let body: String = sqlx::query_scalar(&format!("SELECT body FROM {versions} WHERE code = ? AND version = ?"))
                .bind(code)
                .bind(live)
                .fetch_one(&mut *tx)
                .await?;
            if comparable(&body) == comparable(&serde_json::to_string(doc).expect("documents serialise")) {
                return Ok(Saved::Unchanged);
            }
        }
        let version = latest + 1;
        let now = chrono::Utc::now().to_rfc3339();
        let mut stored = doc.clone();
        stored.stamp(version as u32, Status::Published, &now, author);
        let body = serde_json::to_string(&stored).expect("documents serialise");
        sqlx::query(&format!("INSERT INTO {versions} (code, version, status, name, body, author, created_at) VALUES (?, ?, 'published', ?, ?, ?, ?)"))
            .bind(code)
            .bind(version)
            .bind(doc.name())
            .bind(&body)
            .bind(author)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} (code, name, source, live_version, latest_version, updated_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT(code) DO UPDATE SET name = excluded.name, source = excluded.source,
               live_version = excluded.live_version, latest_version = excluded.latest_version, updated_at = excluded.updated_at"
        ))
        .bind(code)
        .bind(doc.name())
        .bind(doc.source_kind())
        .bind(version)
        .bind(version)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Saved::Version(version as u32))
    }

    /// Save `doc` as a new draft version on top of `base` (the latest version the editor loaded;
    /// 0 for a new document). Fails with `Conflict` when someone saved a newer version since —
    /// the check and the insert are one transaction, so two editors cannot both win. The live
    /// version is unchanged until [`DocStore::make_live`].
    pub async fn save_draft(&self, doc: &D, base: u32, author: &str) -> Result<u32, KnowledgeError> {
        let (table, versions) = (D::TABLE, D::VERSIONS);
        let code = doc.code();
        let problems = doc.validate();
        if !problems.is_empty() {
            return Err(KnowledgeError::Invalid { code: code.to_string(), problems });
        }
        let mut tx = self.pool.begin().await?;
        let latest: i64 = sqlx::query_scalar(&format!("SELECT latest_version FROM {table} WHERE code = ?")).bind(code).fetch_optional(&mut *tx).await?.unwrap_or(0);
        if latest as u32 != base {
            let by: String = sqlx::query_scalar(&format!("SELECT author FROM {versions} WHERE code = ? AND version = ?")).bind(code).bind(latest).fetch_optional(&mut *tx).await?.unwrap_or_default();
            return Err(KnowledgeError::Conflict { code: code.to_string(), base, latest: latest as u32, by });
        }
        let version = latest + 1;
        let now = chrono::Utc::now().to_rfc3339();
        let mut stored = doc.clone();
        stored.stamp(version as u32, Status::Draft, &now, author);
        sqlx::query(&format!("INSERT INTO {versions} (code, version, status, name, body, author, created_at) VALUES (?, ?, 'draft', ?, ?, ?, ?)"))
            .bind(code)
            .bind(version)
            .bind(doc.name())
            .bind(serde_json::to_string(&stored).expect("documents serialise"))
            .bind(author)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} (code, name, source, live_version, latest_version, updated_at) VALUES (?, ?, ?, NULL, ?, ?)
             ON CONFLICT(code) DO UPDATE SET latest_version = excluded.latest_version, updated_at = excluded.updated_at"
        ))
        .bind(code)
        .bind(doc.name())
        .bind(doc.source_kind())
        .bind(version)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version as u32)
    }

    /// Make `version` of `code` the live one (publish a draft, or roll back to an earlier
    /// version). Returns the version that was live before.
    pub async fn make_live(&self, code: &str, version: u32) -> Result<Option<u32>, KnowledgeError> {
        let (table, versions) = (D::TABLE, D::VERSIONS);
        let mut tx = self.pool.begin().await?;
        let body: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {versions} WHERE code = ? AND version = ?")).bind(code).bind(version).fetch_optional(&mut *tx).await?;
        let body = body.ok_or_else(|| KnowledgeError::NotFound(format!("{code} v{version}")))?;
        let mut doc: D = parse(code, version as i64, body)?;
        let problems = doc.validate();
        if !problems.is_empty() {
            return Err(KnowledgeError::Invalid { code: code.to_string(), problems });
        }
        let before: Option<i64> = sqlx::query_scalar(&format!("SELECT live_version FROM {table} WHERE code = ?")).bind(code).fetch_one(&mut *tx).await?;
        let now = chrono::Utc::now().to_rfc3339();
        let at = doc_meta_time(&doc).unwrap_or_else(|| now.clone());
        let by = doc_meta_author(&doc).unwrap_or_default();
        doc.stamp(version, Status::Published, &at, &by);
        sqlx::query(&format!("UPDATE {versions} SET status = 'published', body = ? WHERE code = ? AND version = ?"))
            .bind(serde_json::to_string(&doc).expect("documents serialise"))
            .bind(code)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("UPDATE {table} SET live_version = ?, name = ?, updated_at = ? WHERE code = ?")).bind(version).bind(doc.name()).bind(&now).bind(code).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(before.map(|v| v as u32))
    }

    /// One version of a document, whatever its status.
    pub async fn version(&self, code: &str, version: u32) -> Result<Option<D>, KnowledgeError> {
        let body: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {} WHERE code = ? AND version = ?", D::VERSIONS)).bind(code).bind(version).fetch_optional(&self.pool).await?;
        body.map(|b| parse(code, version as i64, b)).transpose()
    }

    /// Every version of a document, newest first.
    pub async fn history(&self, code: &str) -> Result<Vec<VersionInfo>, KnowledgeError> {
        let live: Option<i64> = sqlx::query_scalar(&format!("SELECT live_version FROM {} WHERE code = ?", D::TABLE)).bind(code).fetch_optional(&self.pool).await?.flatten();
        let rows = sqlx::query(&format!("SELECT version, status, author, created_at FROM {} WHERE code = ? ORDER BY version DESC", D::VERSIONS)).bind(code).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let version: i64 = r.get(0);
                VersionInfo { version: version as u32, status: r.get(1), author: r.get(2), created_at: r.get(3), live: live == Some(version) }
            })
            .collect())
    }

    /// The live (published) version of a document.
    pub async fn live(&self, code: &str) -> Result<Option<D>, KnowledgeError> {
        let sql = format!("SELECT v.version, v.body FROM {} g JOIN {} v ON v.code = g.code AND v.version = g.live_version WHERE g.code = ?", D::TABLE, D::VERSIONS);
        let row = sqlx::query(&sql).bind(code).fetch_optional(&self.pool).await?;
        row.map(|r| parse(code, r.get(0), r.get(1))).transpose()
    }

    /// Every live document, by code.
    pub async fn all_live(&self) -> Result<Vec<D>, KnowledgeError> {
        let sql = format!("SELECT g.code, v.version, v.body FROM {} g JOIN {} v ON v.code = g.code AND v.version = g.live_version ORDER BY g.code", D::TABLE, D::VERSIONS);
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(|r| parse(r.get::<&str, _>(0), r.get(1), r.get(2))).collect()
    }

    pub async fn list(&self) -> Result<Vec<GuideSummary>, KnowledgeError> {
        let rows = sqlx::query(&format!("SELECT code, name, source, live_version, latest_version FROM {} ORDER BY code", D::TABLE)).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| GuideSummary {
                code: r.get(0),
                name: r.get(1),
                source: r.get(2),
                live_version: r.get::<Option<i64>, _>(3).map(|v| v as u32),
                latest_version: r.get::<i64, _>(4) as u32,
            })
            .collect())
    }

    pub async fn count_live(&self) -> Result<usize, KnowledgeError> {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {} WHERE live_version IS NOT NULL", D::TABLE)).fetch_one(&self.pool).await?;
        Ok(n as usize)
    }
}

fn parse<D: Document>(code: &str, version: i64, body: String) -> Result<D, KnowledgeError> {
    serde_json::from_str(&body).map_err(|e| KnowledgeError::Corrupt { code: code.into(), version, detail: e.to_string() })
}

/// A body with its bookkeeping fields removed, for "did the content change?".
fn comparable(body: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        for k in ["version", "status", "updated_at", "updated_by"] {
            o.remove(k);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide(fee: f64) -> Guide {
        let mut g: Guide = serde_json::from_str(include_str!("../guides/sample/sfz-huanling.json")).unwrap();
        g.fees.as_mut().unwrap()[0].amount_yuan = Some(fee);
        g
    }

    #[tokio::test]
    async fn drafts_conflict_publish_and_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = GuideStore::new(open_sqlite(&dir.path().join("banshi.db")).await.unwrap()).await.unwrap();
        assert_eq!(store.publish(&guide(20.0), "import").await.unwrap(), Saved::Version(1));
        let code = guide(20.0).code;
        assert_eq!(store.save_draft(&guide(30.0), 1, "editor-a").await.unwrap(), 2);
        let e = store.save_draft(&guide(40.0), 1, "editor-b").await.unwrap_err();
        assert!(matches!(&e, KnowledgeError::Conflict { latest: 2, by, .. } if by == "editor-a"), "{e}");
        let fee = |g: Guide| g.fees.unwrap()[0].amount_yuan;
        assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(20.0), "a draft is not live");
        assert_eq!(store.make_live(&code, 2).await.unwrap(), Some(1));
        assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(30.0));
        assert_eq!(store.make_live(&code, 1).await.unwrap(), Some(2), "roll back");
        assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(20.0));
        let h = store.history(&code).await.unwrap();
        assert_eq!(h.iter().map(|v| (v.version, v.live)).collect::<Vec<_>>(), [(2, false), (1, true)]);
        assert_eq!(h[0].author, "editor-a");
        assert!(matches!(store.make_live(&code, 9).await, Err(KnowledgeError::NotFound(_))));
    }

    #[tokio::test]
    async fn versions_are_created_only_on_change_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("banshi.db");
        {
            let store = GuideStore::new(open_sqlite(&db).await.unwrap()).await.unwrap();
            assert_eq!(store.publish(&guide(20.0), "import").await.unwrap(), Saved::Version(1));
            assert_eq!(store.publish(&guide(20.0), "import").await.unwrap(), Saved::Unchanged);
            assert_eq!(store.publish(&guide(25.0), "editor-a").await.unwrap(), Saved::Version(2));
            store.pool().close().await;
        }
        let store = GuideStore::new(open_sqlite(&db).await.unwrap()).await.unwrap();
        let live = store.live("SAMPLE-GA-001").await.unwrap().unwrap();
        assert_eq!(live.version, 2);
        assert_eq!(live.fees.unwrap()[0].amount_yuan, Some(25.0));
        assert_eq!(live.updated_by.as_deref(), Some("editor-a"));
        assert_eq!(store.list().await.unwrap()[0].latest_version, 2);
        assert_eq!(store.count_live().await.unwrap(), 1);
        assert!(store.live("NOPE").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn invalid_guides_are_refused_with_reasons() {
        let dir = tempfile::tempdir().unwrap();
        let store = GuideStore::new(open_sqlite(&dir.path().join("b.db")).await.unwrap()).await.unwrap();
        let mut g = guide(20.0);
        g.name.clear();
        let err = store.publish(&g, "x").await.unwrap_err();
        assert!(err.to_string().contains("事项名称不能为空"), "{err}");
        assert_eq!(store.count_live().await.unwrap(), 0);
    }
}
