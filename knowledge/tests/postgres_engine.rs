//! The PostgreSQL server tests start (Debian's binaries, as the `postgres` user under root):
//! it starts on a loopback port, takes SQL over sqlx, and stops. Skips, saying so, when
//! PostgreSQL is not installed.

use banshi_knowledge::testing::Postgres;
use sqlx::Connection;

#[tokio::test]
async fn a_throwaway_postgres_starts_and_answers() {
    let Some(pg) = Postgres::start("a_throwaway_postgres_starts_and_answers") else { return };
    let mut db = sqlx::PgConnection::connect(&pg.url).await.unwrap();
    let (n,): (i32,) = sqlx::query_as("SELECT 40 + 2").fetch_one(&mut db).await.unwrap();
    assert_eq!(n, 42);
    sqlx::query("CREATE TABLE t (id BIGSERIAL PRIMARY KEY, note TEXT NOT NULL)").execute(&mut db).await.unwrap();
    let (note,): (String,) = sqlx::query_as("INSERT INTO t (note) VALUES ('办事') RETURNING note").fetch_one(&mut db).await.unwrap();
    assert_eq!(note, "办事", "UTF-8 round trip");
    drop(db);
    pg.kill();
    assert!(sqlx::PgConnection::connect(&pg.url).await.is_err(), "stopped");
}
