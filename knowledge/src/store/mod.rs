//! The document stores: every saved version of every guide (and every bundle), and which one
//! is live, in SQLite or PostgreSQL ([`crate::db`]).
//!
//! Each save is a transaction: the new version row and the document row change together or not
//! at all, so a crash never leaves a document pointing at a missing version. Saving a document
//! whose body equals the live version is a no-op (re-importing the same corpus creates no
//! versions). Guides and bundles share the code through [`Document`]; each has its own tables.

use serde::de::DeserializeOwned;
use serde::Serialize;
use sqlx::{AnyPool, Row};

use crate::bundle::Bundle;
use crate::guide::{Guide, Status};
use crate::KnowledgeError;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

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
    async fn load(db: &mut sqlx::AnyConnection, table: &str, versions: &str, code: &str) -> Result<Lineage, KnowledgeError> {
        let live: Option<i64> = sqlx::query_scalar(&format!("SELECT live_version FROM {table} WHERE code = $1"))
            .bind(code)
            .fetch_optional(&mut *db)
            .await?
            .flatten();
        let rows = sqlx::query(&format!("SELECT version, status, COALESCE(base_version, version - 1) FROM {versions} WHERE code = $1"))
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
    pool: AnyPool,
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
    pub async fn new(pool: AnyPool) -> Result<Self, KnowledgeError> {
        crate::db::migrate(&pool, &SQLITE, &POSTGRES).await?;
        Ok(DocStore { pool, kind: std::marker::PhantomData })
    }

    pub fn pool(&self) -> &AnyPool {
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
        lock(&mut tx, table, code).await?;
        let row = sqlx::query(&format!("SELECT live_version, latest_version FROM {table} WHERE code = $1"))
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
        let (live, latest): (Option<i64>, i64) = match &row {
            Some(r) => (r.get(0), r.get(1)),
            None => (None, 0),
        };
        if let Some(live) = live {
            let body: String = sqlx::query_scalar(&format!("SELECT body FROM {versions} WHERE code = $1 AND version = $2"))
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
            "INSERT INTO {versions} (code, version, status, name, body, author, created_at) VALUES ($1, $2, 'published', $3, $4, $5, $6)"
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
            "INSERT INTO {table} (code, name, source, live_version, latest_version, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
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
        lock(&mut tx, table, code).await?;
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
            let by: String = sqlx::query_scalar(&format!("SELECT author FROM {versions} WHERE code = $1 AND version = $2"))
                .bind(code)
                .bind(i64::from(head))
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
        sqlx::query(&format!("INSERT INTO {versions} (code, version, status, name, body, author, created_at, base_version) VALUES ($1, $2, 'draft', $3, $4, $5, $6, $7)"))
            .bind(code)
            .bind(version)
            .bind(doc.name())
            .bind(serde_json::to_string(&stored).expect("documents serialise"))
            .bind(author)
            .bind(&now)
            .bind(i64::from(base))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {table} (code, name, source, live_version, latest_version, updated_at) VALUES ($1, $2, $3, NULL, $4, $5)
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
        lock(&mut tx, table, code).await?;
        let body: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {versions} WHERE code = $1 AND version = $2"))
            .bind(code)
            .bind(i64::from(version))
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
            sqlx::query_scalar(&format!("SELECT live_version FROM {table} WHERE code = $1")).bind(code).fetch_one(&mut *tx).await?;
        let now = chrono::Utc::now().to_rfc3339();
        let at = doc_meta_time(&doc).unwrap_or_else(|| now.clone());
        let by = doc_meta_author(&doc).unwrap_or_default();
        doc.stamp(version, Status::Published, &at, &by);
        sqlx::query(&format!("UPDATE {versions} SET status = 'published', body = $1 WHERE code = $2 AND version = $3"))
            .bind(serde_json::to_string(&doc).expect("documents serialise"))
            .bind(code)
            .bind(i64::from(version))
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!("UPDATE {table} SET live_version = $1, name = $2, updated_at = $3 WHERE code = $4"))
            .bind(i64::from(version))
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
        let body: Option<String> = sqlx::query_scalar(&format!("SELECT body FROM {} WHERE code = $1 AND version = $2", D::VERSIONS))
            .bind(code)
            .bind(i64::from(version))
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
        let live: Option<i64> = sqlx::query_scalar(&format!("SELECT live_version FROM {} WHERE code = $1", D::TABLE))
            .bind(code)
            .fetch_optional(&self.pool)
            .await?
            .flatten();
        let rows =
            sqlx::query(&format!("SELECT version, status, author, created_at FROM {} WHERE code = $1 ORDER BY version DESC", D::VERSIONS))
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
            "SELECT v.version, v.body FROM {} g JOIN {} v ON v.code = g.code AND v.version = g.live_version WHERE g.code = $1",
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

    /// Every live document whose JSON contains `needle` (a quoted key, say), by code.
    pub async fn live_mentioning(&self, needle: &str) -> Result<Vec<D>, KnowledgeError> {
        let sql = format!(
            "SELECT g.code, v.version, v.body FROM {} g JOIN {} v ON v.code = g.code AND v.version = g.live_version \
             WHERE v.body LIKE $1 ORDER BY g.code",
            D::TABLE,
            D::VERSIONS
        );
        let rows = sqlx::query(&sql).bind(format!("%{needle}%")).fetch_all(&self.pool).await?;
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

/// Take the write lock on document `code` for the rest of the transaction, before reading
/// its lineage: a PostgreSQL row lock (another replica saving the same document waits here,
/// then reads what the first one wrote), the database's write lock on SQLite. A document with
/// no row yet takes no lock; two first saves then race on the versions' primary key and the
/// loser's insert fails.
async fn lock(tx: &mut sqlx::Transaction<'_, sqlx::Any>, table: &str, code: &str) -> Result<(), KnowledgeError> {
    sqlx::query(&format!("UPDATE {table} SET updated_at = updated_at WHERE code = $1")).bind(code).execute(&mut **tx).await?;
    Ok(())
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
mod tests;
