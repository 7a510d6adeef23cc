//! The database every store shares: SQLite (the embedded default, one file in the data dir)
//! or PostgreSQL (`--database-url postgres://…`, for several replicas), behind one sqlx
//! [`AnyPool`].
//!
//! Queries are written once for both: `$N` placeholders (SQLite reads them too), BIGINT/TEXT
//! columns, JSON as TEXT, timestamps made in Rust. The few places where the dialects differ ask
//! [`Backend`] for their SQL. Each crate keeps its migrations per backend in
//! `migrations/{sqlite,postgres}` and runs them with [`migrate`].

use std::sync::Once;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

use crate::KnowledgeError;

/// Which engine a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The engine of `pool`, from its URL scheme.
    pub fn of(pool: &AnyPool) -> Backend {
        match pool.connect_options().database_url.scheme() {
            "postgres" | "postgresql" => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }

    /// SQL for the text at `path` (object keys) inside the JSON text column `col`; NULL when absent.
    pub fn json_text(self, col: &str, path: &[&str]) -> String {
        match self {
            Backend::Sqlite => format!("json_extract({col}, '$.{}')", path.join(".")),
            Backend::Postgres => format!("(CAST({col} AS jsonb) #>> '{{{}}}')", path.join(",")),
        }
    }

    /// SQL for the number at `path` inside the JSON text column `col`, as a double.
    pub fn json_number(self, col: &str, path: &[&str]) -> String {
        match self {
            Backend::Sqlite => format!("CAST({} AS REAL)", self.json_text(col, path)),
            Backend::Postgres => format!("CAST({} AS DOUBLE PRECISION)", self.json_text(col, path)),
        }
    }

    /// SQL that holds when the JSON array of strings in `col` contains the text parameter `param`.
    pub fn json_array_has(self, col: &str, param: &str) -> String {
        match self {
            Backend::Sqlite => format!("EXISTS (SELECT 1 FROM json_each({col}) WHERE value = {param})"),
            Backend::Postgres => format!("CAST({col} AS jsonb) @> jsonb_build_array(CAST({param} AS TEXT))"),
        }
    }
}

fn install_drivers() {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
}

/// Open (creating if needed) the SQLite database at `path` with WAL journaling and
/// `synchronous=FULL`: a commit is on disk before it is acknowledged.
///
/// The database holds personal data, so it is owner-only: its directory is created (or
/// tightened to) 0700, the file is created 0600 before SQLite opens it (SQLite gives the `-wal`
/// and `-shm` files the database's mode), and an existing database, `-wal` and `-shm` with
/// looser modes are tightened to 0600 ([`crate::private`]). Fails when the directory or file
/// cannot be created or its mode changed, or when SQLite cannot open it.
pub async fn open_sqlite(path: &std::path::Path) -> Result<AnyPool, KnowledgeError> {
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
    install_drivers();
    let path = std::path::absolute(path).map_err(|e| KnowledgeError::io(path, e))?;
    let url = format!("sqlite://{}?mode=rwc", percent_encoding::utf8_percent_encode(&path.to_string_lossy(), PATH));
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .after_connect(|conn, _| {
            Box::pin(async move {
                conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000")
                    .await
                    .map(drop)
            })
        })
        .connect(&url)
        .await?;
    Ok(pool)
}

/// What a file path keeps unescaped in a SQLite URL (everything else is percent-encoded).
const PATH: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Connect to the PostgreSQL database at `url` (`postgres://user:pass@host:port/db`). Fails,
/// naming the server, when it is unreachable within `timeout` or refuses the log-in.
pub async fn open_postgres(url: &str, max_connections: u32, timeout: Duration) -> Result<AnyPool, KnowledgeError> {
    install_drivers();
    AnyPoolOptions::new().max_connections(max_connections).acquire_timeout(timeout).connect(url).await.map_err(|e| {
        KnowledgeError::Database(sqlx::Error::Configuration(format!("PostgreSQL at {} is not usable: {e}", redact(url)).into()))
    })
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "(unparsable URL)".into(),
    }
}

/// Run one crate's migrations for `pool`'s backend. Crates share the database (and sqlx's
/// migration table), so each tolerates the others' applied migrations.
pub async fn migrate(pool: &AnyPool, sqlite: &Migrator, postgres: &Migrator) -> Result<(), sqlx::migrate::MigrateError> {
    let chosen = match Backend::of(pool) {
        Backend::Sqlite => sqlite,
        Backend::Postgres => postgres,
    };
    let mut migrator = Migrator { migrations: chosen.migrations.clone(), ..Migrator::DEFAULT };
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_sql_per_dialect() {
        assert_eq!(Backend::Sqlite.json_text("m", &["item", "code"]), "json_extract(m, '$.item.code')");
        assert_eq!(Backend::Postgres.json_text("m", &["item", "code"]), "(CAST(m AS jsonb) #>> '{item,code}')");
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[tokio::test]
    async fn a_path_with_spaces_and_chinese_opens() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open_sqlite(&dir.path().join("办事 数据").join("b.db")).await.unwrap();
        assert_eq!(Backend::of(&pool), Backend::Sqlite);
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
        assert_eq!(mode, "wal");
    }
}
