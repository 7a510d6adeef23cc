//! Real engines for tests. A Qdrant server: the binary `../shared/vendor/qdrant/build.sh` builds into
//! `~/.cache/banshi/qdrant/bin/qdrant-ci` (or `$BANSHI_QDRANT_BIN`), started on free loopback
//! ports with a temporary storage dir and killed when dropped; and a PostgreSQL server
//! ([`Postgres`]). Never in a release build.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the server binary is, if it was built.
pub fn qdrant_binary() -> Option<PathBuf> {
    let path = match std::env::var_os("BANSHI_QDRANT_BIN") {
        Some(p) => PathBuf::from(p),
        None => {
            let home = std::env::var_os("QDRANT_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/banshi/qdrant"));
            home.join("bin/qdrant-ci")
        }
    };
    path.exists().then_some(path)
}

/// A running Qdrant server; killed (and its storage removed) when dropped.
pub struct QdrantServer {
    child: Child,
    bin: PathBuf,
    /// HTTP and gRPC ports.
    ports: (u16, u16),
    storage: tempfile::TempDir,
    /// gRPC base URL (what qdrant-client and `--qdrant-url` take).
    pub grpc_url: String,
    /// REST base URL (readiness).
    pub http_url: String,
}

fn spawn(bin: &std::path::Path, storage: &std::path::Path, http: u16, grpc: u16) -> Child {
    Command::new(bin)
        .current_dir(storage)
        .env("QDRANT__SERVICE__HOST", "127.0.0.1")
        .env("QDRANT__SERVICE__HTTP_PORT", http.to_string())
        .env("QDRANT__SERVICE__GRPC_PORT", grpc.to_string())
        .env("QDRANT__STORAGE__STORAGE_PATH", storage.join("storage"))
        .env("QDRANT__STORAGE__SNAPSHOTS_PATH", storage.join("snapshots"))
        .env("QDRANT__TELEMETRY_DISABLED", "true")
        .env("QDRANT__LOG_LEVEL", "WARN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the Qdrant server")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

impl QdrantServer {
    /// Start a server and wait until it is ready; `None` (after saying SKIP on standard error)
    /// when the binary was not built.
    pub fn start(test: &str) -> Option<QdrantServer> {
        let Some(bin) = qdrant_binary() else {
            eprintln!("SKIP {test}: no Qdrant server binary (run ../shared/vendor/qdrant/build.sh)");
            return None;
        };
        let storage = tempfile::tempdir().expect("temp dir");
        let (http, grpc) = (free_port(), free_port());
        let mut server = QdrantServer {
            child: spawn(&bin, storage.path(), http, grpc),
            bin,
            ports: (http, grpc),
            storage,
            grpc_url: format!("http://127.0.0.1:{grpc}"),
            http_url: format!("http://127.0.0.1:{http}"),
        };
        server.wait_ready(http);
        Some(server)
    }

    /// Start again after [`QdrantServer::kill`], on the same ports and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn(&self.bin, self.storage.path(), self.ports.0, self.ports.1);
        self.wait_ready(self.ports.0);
    }

    fn wait_ready(&mut self, http: u16) {
        use std::io::{Read, Write};
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the Qdrant server exited at start ({status}); is port {http} taken?");
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", http)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the Qdrant server on port {http} did not become ready within 60 s");
    }

    /// Stop the server as a crash would (SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for QdrantServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real PostgreSQL server for tests: Debian's server binaries (`/usr/lib/postgresql/*/bin`,
/// or `$BANSHI_PG_BIN`), `initdb` + `pg_ctl` on a temporary directory and a free loopback port,
/// run as the `postgres` user when the tests run as root (PostgreSQL refuses root). Stopped
/// (immediately, as a crash would) and removed when dropped.
pub struct Postgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    as_postgres: bool,
    port: u16,
    /// `postgres://banshi@127.0.0.1:PORT/postgres`.
    pub url: String,
}

/// Where the PostgreSQL server binaries are, if installed.
pub fn postgres_binaries() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BANSHI_PG_BIN") {
        return Some(PathBuf::from(p)).filter(|p| p.join("initdb").exists());
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").ok()?.flatten().map(|e| e.path().join("bin")).collect();
    dirs.retain(|d| d.join("initdb").exists() && d.join("pg_ctl").exists());
    dirs.sort_by_key(|d| d.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()));
    dirs.pop()
}

impl Postgres {
    /// Start a server; `None` (after saying SKIP on standard error) when PostgreSQL is not
    /// installed.
    pub fn start(test: &str) -> Option<Postgres> {
        let Some(bin) = postgres_binaries() else {
            eprintln!("SKIP {test}: PostgreSQL server binaries not installed (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = is_root();
        if as_postgres {
            let (uid, gid) = postgres_ids().expect("a `postgres` user to run PostgreSQL as (root may not)");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("handing the temp dir to postgres");
        }
        let port = free_port();
        let pg = Postgres { bin, dir, as_postgres, port, url: format!("postgres://banshi@127.0.0.1:{port}/postgres") };
        let data = pg.dir.path().join("data");
        pg.run("initdb", &["-D", &data.to_string_lossy(), "-U", "banshi", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"]);
        pg.restart();
        Some(pg)
    }

    /// Start the server again on its data and port (after [`Postgres::kill`]).
    pub fn restart(&self) {
        let data = self.dir.path().join("data");
        let opts = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        let log = self.dir.path().join("log");
        self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-o", &opts, "-l", &log.to_string_lossy(), "-w", "-t", "60", "start"]);
    }

    /// `tool` from the server binaries, as the `postgres` user when the tests run as root.
    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        c.current_dir(self.dir.path());
        c
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self.command(tool).args(args).output().unwrap_or_else(|e| panic!("running {tool}: {e}"));
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        assert!(out.status.success(), "{tool} failed: {}\n{log}", String::from_utf8_lossy(&out.stderr));
    }

    /// The URL of a new, empty database on this server (one per test case, so cases sharing a
    /// server never see each other's rows).
    pub async fn fresh_database(&self) -> String {
        use sqlx::Connection;
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!("case_{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut admin = sqlx::PgConnection::connect(&self.url).await.expect("connecting to the test PostgreSQL");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("creating a test database");
        self.url.replace("/postgres", &format!("/{name}"))
    }

    /// Stop the server as a crash would.
    pub fn kill(&self) {
        let data = self.dir.path().join("data");
        self.run("pg_ctl", &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        let stop = self
            .command("pg_ctl")
            .arg("-D")
            .arg(data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        drop(stop);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn postgres_ids() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, "postgres"]).output().ok()?;
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

/// A database for one test case: a SQLite file in a temp dir, or a fresh database on a test
/// PostgreSQL. [`TestDb::pool`] opens a new pool each call, so a case can be two replicas.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite(tempfile::tempdir().expect("temp dir"))
    }

    pub async fn postgres(pg: &Postgres) -> TestDb {
        TestDb::Postgres(pg.fresh_database().await)
    }

    /// A new pool on this database (migrations not run: the stores run their own).
    pub async fn pool(&self) -> sqlx::AnyPool {
        match self {
            TestDb::Sqlite(dir) => crate::db::open_sqlite(&dir.path().join("banshi.db")).await.expect("opening the test SQLite"),
            TestDb::Postgres(url) => {
                crate::db::open_postgres(url, 8, std::time::Duration::from_secs(10)).await.expect("connecting to the test PostgreSQL")
            }
        }
    }
}

/// One store test suite for both backends: each case is an `async fn(TestDb)`. Makes a test
/// per case on SQLite (module `on_sqlite`) and one test, `on_postgres`, that runs every case
/// on one real PostgreSQL server with a fresh database each (saying SKIP when PostgreSQL is
/// not installed).
#[macro_export]
macro_rules! both_backends {
    ($($case:ident),+ $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case($crate::testing::TestDb::sqlite()).await;
                }
            )+
        }

        #[tokio::test]
        async fn on_postgres() {
            let Some(pg) = $crate::testing::Postgres::start(module_path!()) else { return };
            $(
                eprintln!("case {} on PostgreSQL", stringify!($case));
                $case($crate::testing::TestDb::postgres(&pg).await).await;
            )+
        }
    };
}
