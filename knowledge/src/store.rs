//! The document stores: every saved version of every guide (and every bundle), and which one
//! is live, in SQLite.
//!
//! Each save is a transaction: the new version row and the document row change together or not
//! at all, so a crash never leaves a document pointing at a missing version. Saving a document
//! whose body equals the live version is a no-op (re-importing the same corpus creates no
//! versions). Guides and bundles share the code through [`Document`]; each has its own tables.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::bundle::Bundle;
use crate::guide::{Guide, Status};
use crate::KnowledgeError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Open (creating if needed) the SQLite database at `path` with WAL journaling and
/// `synchronous=FULL`: a commit is on disk before it is acknowledged.
///
/// The database holds personal data, so it is owner-only: its directory is created (or
/// tightened to) 0700, the file is created 0600 before SQLite opens it (SQLite gives the `-wal`
/// and `-shm` files the database's mode), and an existing database, `-wal` and `-shm` with
/// looser modes are tightened to 0600 ([`crate::private`]). Fails when the directory or file
/// cannot be created or its mode changed, or when SQLite cannot open it.
pub async fn open_sqlite(path: &std::path::Path) -> Result<SqlitePool, KnowledgeError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::private::create_dir_all(dir).map_err(|e| KnowledgeError::io(dir, e))?;
        crate::private::restrict(dir).map_err(|e| KnowledgeError::io(dir, e))?;
    }
    crate::private::create_file(path).map_err(|e| KnowledgeError::io(path, e))?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = std::path::PathBuf::from(side);
        crate::private::restrict(&side).map_err(|e| KnowledgeError::io(&side, e))?;
    }
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

/// How a version is made live: publishing (a draft that builds on the live version, or the
/// live version itself again) or rolling back (any version that was published before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GoLive {
    Publish,
    Rollback,
}

/// Every version of one document as its line of edits: `(status, base)` by version, where
/// `base` is the version the edit started from (0 for the first).
struct Lineage {
    versions: std::collections::BTreeMap<u32, (String, u32)>,
    live: Option<u32>,
}

impl Lineage {
    async fn load(db: &mut sqlx::SqliteConnection, table: &str, versions: &str, code: &str) -> Result<Lineage, KnowledgeError> {
        let live: Option<i64> = sqlx::query_scalar(&format!("SELECT live_version FROM {table} WHERE code = ?"))
            .bind(code)
            .fetch_optional(&mut *db)
            .await?
            .flatten();
        let rows = sqlx::query(&format!("SELECT version, status, COALESCE(base_version, version - 1) FROM {versions} WHERE code = ?"))
            .bind(code)
            .fetch_all(&mut *db)
            .await?;
        let versions =
            rows.into_iter().map(|r| (r.get::<i64, _>(0) as u32, (r.get::<String, _>(1), r.get::<i64, _>(2).max(0) as u32))).collect();
        Ok(Lineage { versions, live: live.map(|v| v as u32) })
    }

    /// The published version `v`'s edits start from: `v` itself when published, else the first
    /// published version down its chain of drafts (0 when the chain starts from nothing).
    /// `None` when `v` does not exist.
    fn root(&self, mut v: u32) -> Option<u32> {
        loop {
            if v == 0 {
                return Some(0);
            }
            let (status, base) = self.versions.get(&v)?;
            // A base is always older than its version, so the walk ends.
            if status == "published" || *base >= v {
                return Some(v);
            }
            v = *base;
        }
    }

    /// Whether `v` is on the live line: the live version, or a draft built (through drafts) on
    /// it — or, while nothing is live, a draft built from nothing.
    fn alive(&self, v: u32) -> bool {
        self.versions.contains_key(&v) && self.root(v) == Some(self.live.unwrap_or(0))
    }

    /// The version an edit starts from: the newest version on the live line (a rolled-back
    /// version, and drafts built on it, are history only). 0 when there is none.
    fn head(&self) -> u32 {
        self.versions.keys().rev().copied().find(|&v| self.alive(v)).unwrap_or(0)
    }
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
        let row = sqlx::query(&format!("SELECT live_version, latest_version FROM {table} WHERE code = ?"))
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
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
        sqlx::query(&format!(
            "INSERT INTO {versions} (code, version, status, name, body, author, created_at) VALUES (?, ?, 'published', ?, ?, ?, ?)"
        ))
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

    /// Save `doc` as a new draft version on top of `base`: the version the editor loaded to
    /// edit ([`DocStore::head`]; 0 for a new document). Fails with `Conflict` when someone saved
    /// a newer draft on the live line since, and with `Stale` when `base` is no longer on the
    /// live line (it was rolled back, or a later version was published) — the check and the
    /// insert are one transaction, so two editors cannot both win. The live version is
    /// unchanged until [`DocStore::make_live`].
    pub async fn save_draft(&self, doc: &D, base: u32, author: &str) -> Result<u32, KnowledgeError> {
        let (table, versions) = (D::TABLE, D::VERSIONS);
        let code = doc.code();
        let problems = doc.validate();
        if !problems.is_empty() {
            return Err(KnowledgeError::Invalid { code: code.to_string(), problems });
        }
        let mut tx = self.pool.begin().await?;
        let lineage = Lineage::load(&mut tx, table, versions, code).await?;
        let head = lineage.head();
        if base != head {
            if base != 0 && !lineage.alive(base) {
                if let Some(root) = lineage.root(base) {
                    return Err(KnowledgeError::Stale {
                        code: code.to_string(),
                        version: base,
                        root,
                        live: lineage.live,
                        publishing: false,
                    });
                }
            }
            let by: String = sqlx::query_scalar(&format!("SELECT author FROM {versions} WHERE code = ? AND version = ?"))
                .bind(code)
                .bind(head)
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or_default();
            return Err(KnowledgeError::Conflict { code: code.to_string(), base, latest: head, by });
        }
        let latest = lineage.versions.keys().next_back().copied().unwrap_or(0) as i64;
        let version = latest + 1;
        let now = chrono::Utc::now().to_rfc3339();
        let mut stored = doc.clone();
        stored.stamp(version as u32, Status::Draft, &now, author);
        sqlx::query(&format!("INSERT INTO {versions} (code, version, status, name, body, author, created_at, base_version) VALUES (?, ?, 'draft', ?, ?, ?, ?, ?)"))
            .bind(code)
            .bind(version)
            .bind(doc.name())
            .bind(serde_json::to_string(&stored).expect("documents serialise"))
            .bind(author)
            .bind(&now)
            .bind(base)
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

    /// Make `version` of `code` the live one. [`GoLive::Publish`]: `version` must be on the live
    /// line — the live version itself, or a draft built on it — else `Stale` (a version that
    /// was rolled back, or a draft built on one, never goes live by publishing: that would
    /// silently bring back what was withdrawn). [`GoLive::Rollback`]: `version` must have been
    /// published before, else `NotAllowed`. `NotFound` for an unknown version, `Invalid` when
    /// it fails validation. The checks and the switch are one transaction. Returns the version
    /// that was live before.
    pub async fn make_live(&self, code: &str, version: u32, how: GoLive) -> Result<Option<u32>, KnowledgeError> {
        let (table, versions) = (D::TABLE, D::VERSIONS);
        let mut tx = self.pool.begin().await?;
        let body: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {versions} WHERE code = ? AND version = ?"))
            .bind(code)
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        let body = body.ok_or_else(|| KnowledgeError::NotFound(format!("{code} v{version}")))?;
        let lineage = Lineage::load(&mut tx, table, versions, code).await?;
        match how {
            GoLive::Publish if !lineage.alive(version) => {
                let root = lineage.root(version).unwrap_or(version);
                return Err(KnowledgeError::Stale { code: code.to_string(), version, root, live: lineage.live, publishing: true });
            }
            GoLive::Rollback if lineage.versions.get(&version).is_none_or(|(status, _)| status != "published") => {
                return Err(KnowledgeError::NotAllowed(format!("第 {version} 版从未发布过，只能回滚到已发布的版本")));
            }
            _ => {}
        }
        let mut doc: D = parse(code, version as i64, body)?;
        let problems = doc.validate();
        if !problems.is_empty() {
            return Err(KnowledgeError::Invalid { code: code.to_string(), problems });
        }
        let before: Option<i64> =
            sqlx::query_scalar(&format!("SELECT live_version FROM {table} WHERE code = ?")).bind(code).fetch_one(&mut *tx).await?;
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
        sqlx::query(&format!("UPDATE {table} SET live_version = ?, name = ?, updated_at = ? WHERE code = ?"))
            .bind(version)
            .bind(doc.name())
            .bind(&now)
            .bind(code)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(before.map(|v| v as u32))
    }

    /// One version of a document, whatever its status.
    pub async fn version(&self, code: &str, version: u32) -> Result<Option<D>, KnowledgeError> {
        let body: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {} WHERE code = ? AND version = ?", D::VERSIONS))
            .bind(code)
            .bind(version)
            .fetch_optional(&self.pool)
            .await?;
        body.map(|b| parse(code, version as i64, b)).transpose()
    }

    /// The version an edit of `code` starts from: the newest draft built on the live version,
    /// else the live version — after a rollback, the version rolled back to, never the one
    /// rolled back (nor drafts built on it). `None` when `code` has no versions.
    pub async fn head(&self, code: &str) -> Result<Option<u32>, KnowledgeError> {
        let lineage = Lineage::load(&mut *self.pool.acquire().await?, D::TABLE, D::VERSIONS, code).await?;
        Ok(Some(lineage.head()).filter(|&v| v != 0))
    }

    /// Every version of a document, newest first.
    pub async fn history(&self, code: &str) -> Result<Vec<VersionInfo>, KnowledgeError> {
        let live: Option<i64> = sqlx::query_scalar(&format!("SELECT live_version FROM {} WHERE code = ?", D::TABLE))
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .flatten();
        let rows =
            sqlx::query(&format!("SELECT version, status, author, created_at FROM {} WHERE code = ? ORDER BY version DESC", D::VERSIONS))
                .bind(code)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let version: i64 = r.get(0);
                VersionInfo {
                    version: version as u32,
                    status: r.get(1),
                    author: r.get(2),
                    created_at: r.get(3),
                    live: live == Some(version),
                }
            })
            .collect())
    }

    /// The live (published) version of a document.
    pub async fn live(&self, code: &str) -> Result<Option<D>, KnowledgeError> {
        let sql = format!(
            "SELECT v.version, v.body FROM {} g JOIN {} v ON v.code = g.code AND v.version = g.live_version WHERE g.code = ?",
            D::TABLE,
            D::VERSIONS
        );
        let row = sqlx::query(&sql).bind(code).fetch_optional(&self.pool).await?;
        row.map(|r| parse(code, r.get(0), r.get(1))).transpose()
    }

    /// Every live document, by code.
    pub async fn all_live(&self) -> Result<Vec<D>, KnowledgeError> {
        let sql = format!(
            "SELECT g.code, v.version, v.body FROM {} g JOIN {} v ON v.code = g.code AND v.version = g.live_version ORDER BY g.code",
            D::TABLE,
            D::VERSIONS
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.into_iter().map(|r| parse(r.get::<&str, _>(0), r.get(1), r.get(2))).collect()
    }

    pub async fn list(&self) -> Result<Vec<GuideSummary>, KnowledgeError> {
        let rows = sqlx::query(&format!("SELECT code, name, source, live_version, latest_version FROM {} ORDER BY code", D::TABLE))
            .fetch_all(&self.pool)
            .await?;
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
        let n: i64 =
            sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {} WHERE live_version IS NOT NULL", D::TABLE)).fetch_one(&self.pool).await?;
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
        assert_eq!(store.make_live(&code, 2, GoLive::Publish).await.unwrap(), Some(1));
        assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(30.0));
        assert_eq!(store.make_live(&code, 1, GoLive::Rollback).await.unwrap(), Some(2), "roll back");
        assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(20.0));
        let h = store.history(&code).await.unwrap();
        assert_eq!(h.iter().map(|v| (v.version, v.live)).collect::<Vec<_>>(), [(2, false), (1, true)]);
        assert_eq!(h[0].author, "editor-a");
        assert!(matches!(store.make_live(&code, 9, GoLive::Publish).await, Err(KnowledgeError::NotFound(_))));
    }

    #[tokio::test]
    async fn after_a_rollback_edits_start_from_the_live_version_and_nothing_rolled_back_is_republished() {
        let dir = tempfile::tempdir().unwrap();
        let store = GuideStore::new(open_sqlite(&dir.path().join("banshi.db")).await.unwrap()).await.unwrap();
        let code = guide(20.0).code;
        let fee = |g: Guide| g.fees.unwrap()[0].amount_yuan;
        store.publish(&guide(20.0), "import").await.unwrap();
        assert_eq!(store.head(&code).await.unwrap(), Some(1));
        assert_eq!(store.save_draft(&guide(30.0), 1, "editor-a").await.unwrap(), 2);
        assert_eq!(store.head(&code).await.unwrap(), Some(2), "a draft on the live version is what the next edit continues");
        store.make_live(&code, 2, GoLive::Publish).await.unwrap();
        // A draft on version 2, then version 2 is rolled back.
        assert_eq!(store.save_draft(&guide(35.0), 2, "editor-b").await.unwrap(), 3);
        assert_eq!(store.make_live(&code, 1, GoLive::Rollback).await.unwrap(), Some(2));
        assert_eq!(store.head(&code).await.unwrap(), Some(1), "the rolled-back version and drafts on it are history");
        for v in [2, 3] {
            let e = store.make_live(&code, v, GoLive::Publish).await.unwrap_err();
            assert!(
                matches!(e, KnowledgeError::Stale { version, root: 2, live: Some(1), publishing: true, .. } if version == v),
                "v{v}: {e}"
            );
        }
        assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(20.0), "nothing rolled back came back");
        let e = store.save_draft(&guide(40.0), 2, "editor-a").await.unwrap_err();
        assert!(matches!(e, KnowledgeError::Stale { version: 2, root: 2, live: Some(1), publishing: false, .. }), "{e}");
        assert!(matches!(store.save_draft(&guide(40.0), 3, "editor-b").await.unwrap_err(), KnowledgeError::Stale { root: 2, .. }));
        // Editing the live version works, and that draft publishes.
        assert_eq!(store.save_draft(&guide(25.0), 1, "editor-a").await.unwrap(), 4);
        assert!(
            matches!(store.save_draft(&guide(26.0), 1, "editor-b").await.unwrap_err(), KnowledgeError::Conflict { latest: 4, .. }),
            "the usual conflict"
        );
        assert_eq!(store.head(&code).await.unwrap(), Some(4));
        store.make_live(&code, 4, GoLive::Publish).await.unwrap();
        assert_eq!(fee(store.live(&code).await.unwrap().unwrap()), Some(25.0));
        // Rolling back needs a version that was published; publishing the live one again is harmless.
        assert!(matches!(store.make_live(&code, 3, GoLive::Rollback).await.unwrap_err(), KnowledgeError::NotAllowed(_)));
        assert_eq!(store.make_live(&code, 4, GoLive::Publish).await.unwrap(), Some(4));
        assert_eq!(store.make_live(&code, 2, GoLive::Rollback).await.unwrap(), Some(4), "any published version can be rolled back to");
    }

    #[tokio::test]
    async fn drafts_saved_before_bases_were_recorded_build_on_the_version_before_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = GuideStore::new(open_sqlite(&dir.path().join("banshi.db")).await.unwrap()).await.unwrap();
        let code = guide(20.0).code;
        store.publish(&guide(20.0), "import").await.unwrap();
        store.save_draft(&guide(30.0), 1, "editor-a").await.unwrap();
        sqlx::query("UPDATE guide_versions SET base_version = NULL").execute(store.pool()).await.unwrap();
        assert_eq!(store.head(&code).await.unwrap(), Some(2));
        assert_eq!(store.save_draft(&guide(31.0), 2, "editor-a").await.unwrap(), 3);
        store.make_live(&code, 3, GoLive::Publish).await.unwrap();
        assert_eq!(store.live(&code).await.unwrap().unwrap().fees.unwrap()[0].amount_yuan, Some(31.0));
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
