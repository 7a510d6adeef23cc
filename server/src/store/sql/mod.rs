//! The store on SQL: SQLite (the embedded default, the data dir's file next to the guides) or
//! PostgreSQL (several replicas), one implementation for both over sqlx's `AnyPool`
//! ([`banshi_knowledge::db`] says how queries are kept portable).
//!
//! State changes are single statements that check the state they move from (`UPDATE … WHERE
//! status IN (…) RETURNING`), never read-check-write in Rust: under PostgreSQL's row locks, as
//! under SQLite's write lock, of two replicas changing one row exactly one wins. Migrations of
//! this crate run on open and tolerate the other crates' migrations.

mod applications;
mod audit;
mod gaps;
mod offers;
mod proxies;
mod sessions;
mod tickets;
mod uploads;
mod users;

use banshi_knowledge::db::{self, Backend};
use sqlx::AnyPool;

use super::StoreError;

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
}

impl SqlStore {
    /// Migrate and wrap `pool` ([`banshi_knowledge::db::open_sqlite`] opens SQLite with WAL +
    /// `synchronous=FULL`; [`banshi_knowledge::db::open_postgres`] connects to PostgreSQL).
    pub async fn new(pool: AnyPool) -> Result<Self, StoreError> {
        db::migrate(&pool, &SQLITE, &POSTGRES).await?;
        Ok(SqlStore { backend: Backend::of(&pool), pool })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Timestamps are RFC 3339 UTC with milliseconds: they sort as text.
pub(crate) fn now() -> String {
    stamp(chrono::Utc::now())
}

/// `at` as the store writes timestamps.
pub(crate) fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A unique-constraint violation, for turning into [`StoreError::Conflict`].
fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Numbered placeholders for SQL built piece by piece: `Params(n)` continues after `$n`.
#[derive(Default)]
struct Params(usize);

impl Params {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("${}", self.0)
    }

    /// `$a, $b, …` for `n` values.
    fn list(&mut self, n: usize) -> String {
        (0..n).map(|_| self.next()).collect::<Vec<_>>().join(", ")
    }
}
