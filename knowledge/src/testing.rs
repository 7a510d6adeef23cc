//! A real Qdrant server for tests: the binary `../shared/vendor/qdrant/build.sh` builds into
//! `~/.cache/banshi/qdrant/bin/qdrant-ci` (or `$BANSHI_QDRANT_BIN`), started on free loopback
//! ports with a temporary storage dir and killed when dropped. Never in a release build.

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
