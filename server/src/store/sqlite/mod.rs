//! The embedded default: everything in the data dir's SQLite file, next to the guides.
//! Migrations of this crate run on open and tolerate the other crates' migrations.

mod applications;
mod audit;
mod gaps;
mod sessions;
mod tickets;
mod uploads;
mod users;

use sqlx::SqlitePool;

use super::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Migrate and wrap `pool` (opened with WAL + `synchronous=FULL` by the knowledge crate).
    pub async fn new(pool: SqlitePool) -> Result<Self, StoreError> {
        let mut migrator = sqlx::migrate::Migrator { migrations: MIGRATOR.migrations.clone(), ..sqlx::migrate::Migrator::DEFAULT };
        migrator.set_ignore_missing(true);
        migrator.run(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

/// Timestamps are RFC 3339 UTC with milliseconds: they sort as text.
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A unique-constraint violation, for turning into [`StoreError::Conflict`].
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let pool = banshi_knowledge::store::open_sqlite(&dir.path().join("t.db")).await.unwrap();
        (dir, SqliteStore::new(pool).await.unwrap())
    }
}
