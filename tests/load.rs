//! A bounded loopback load run (extractive mode): concurrent sessions through `banshi bench
//! load`, which fails unless every accepted message and its answer are stored.

mod common;

use std::process::Command;

use common::*;

#[test]
fn concurrent_sessions_are_all_answered_and_stored() {
    let dir = tempfile::tempdir().unwrap();
    ingest(dir.path(), None);
    // A small wait queue so some messages are refused with 429 and retried. All sessions come
    // from one address, which the per-address limits are there to stop: off for this run.
    let no_limits = ["--limit-sessions", "off", "--limit-messages-per-address", "off"];
    let server = Server::start(
        dir.path(),
        None,
        &[&["--max-turns", "2", "--max-turns-waiting", "4", "--retry-after", "1"][..], &no_limits[..]].concat(),
    );
    let out = Command::new(BIN)
        .args(["bench", "load", "--url", &server.url, "--sessions", "30", "--messages", "3", "--timeout", "240"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("stored: 90 of 90 accepted messages"), "{stdout}");
    assert!(stdout.contains("90 ok"), "{stdout}");
}
