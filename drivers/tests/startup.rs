//! `spub-mio` start-up and logs as an operator meets them: errors that say what failed,
//! printed once, nothing left on disk after a failed start; --version; the connection and
//! summary lines of the log, in text and JSON.
mod procs;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::Duration;

use procs::{copy_dir, free_port, same_logs, utf8, vectors, wait_until, Pub, PATIENCE, SPUB};

const FRONTIER: &str = env!("CARGO_BIN_EXE_frontier");
const FEED: &str = env!("CARGO_BIN_EXE_tinyssb-feed");

fn spub(args: &[&str]) -> Output {
    Command::new(SPUB).args(args).env_remove("RUST_LOG").output().expect("run spub-mio")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn every_binary_has_a_version() {
    for (bin, name) in [(SPUB, "spub-mio"), (FRONTIER, "frontier"), (FEED, "tinyssb-feed")] {
        let out = Command::new(bin).arg("--version").output().expect("run");
        assert!(out.status.success(), "{name}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{name} {}\n", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn a_bad_address_fails_once_and_creates_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("new/data");
    let d = utf8(&data);
    // Rejected while parsing: exit 2.
    let out = spub(&["-d", d, "--bind", "999.1.2.3", "8080"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).starts_with("spub-mio: error: ") && stderr(&out).contains("999.1.2.3"),
        "{}",
        stderr(&out)
    );
    // Taken: found when listening, after the options were fine. Exit 1, one message naming
    // the address, in the log format asked for.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let out = spub(&["-d", d, "--bind", "127.0.0.1", &port]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let want = format!("cannot listen on 127.0.0.1:{port}");
    assert_eq!(err.matches(&want).count(), 1, "{err}");
    assert_eq!(err.lines().filter(|l| l.contains("ERROR")).count(), 1, "{err}");
    let out = spub(&["-d", d, "--bind", "127.0.0.1", &port, "--log-format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> =
        stderr(&out).lines().map(|l| serde_json::from_str(l).expect("a JSON log line")).collect();
    let errors: Vec<_> = lines.iter().filter(|v| v["level"] == "ERROR").collect();
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert!(errors[0]["msg"].as_str().unwrap_or_default().contains(&want), "{lines:?}");
    assert!(errors[0]["ts"].is_string() && errors[0]["target"].is_string());
    // A missing serial device, likewise.
    let out = spub(&["-d", d, "--kiss", "/nonexistent/ttyUSB9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("serial device /nonexistent/ttyUSB9"), "{}", stderr(&out));
    assert!(!tmp.path().join("new").exists(), "a failed start left a directory behind");
}

#[test]
fn a_bad_log_level_is_a_usage_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    for level in ["loud", "info,tinyssb_drivers=chatty"] {
        let out = spub(&["-d", utf8(&data), "--log-level", level, "8080"]);
        assert_eq!(out.status.code(), Some(2), "{level}");
        assert!(stderr(&out).contains("unknown log level"), "{}", stderr(&out));
    }
    assert!(!data.exists());
}

#[test]
fn logs_name_peers_by_address_and_summaries_show_rates() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&vectors(), &a);
    let port = free_port();
    let server = Pub::spawn(&a, &["--bind", "127.0.0.1", &port.to_string(), "--summary", "1"]);
    let client = Pub::spawn(&b, &["-v", "-ro", "in", "--log-format=json", &format!("ws://127.0.0.1:{port}")]);
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up");
    std::thread::sleep(Duration::from_millis(1200));
    assert!(client.stop() && server.stop());
    // The server's log, in text.
    let log = std::fs::read_to_string(a.with_extension("log")).expect("server log");
    let up = format!("ws server 127.0.0.1:{port}, peer 127.0.0.1:");
    assert!(log.lines().any(|l| l.contains(&up) && l.ends_with(": up")), "{log}");
    assert!(log.lines().any(|l| l.contains(&up) && l.contains(": down after ")), "{log}");
    assert!(!log.contains("peer#") && !log.contains("FaceId("), "{log}");
    let summary = log.lines().find(|l| l.contains("summary: ")).expect("a summary line");
    assert!(summary.contains(" entries (") && summary.contains("/s) out "), "{summary}");
    // The client's, in JSON: one object per line, with fields; -v traces packets named by
    // the peer's address, and nothing from the libraries underneath.
    let log = std::fs::read_to_string(b.with_extension("log")).expect("client log");
    let lines: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let server_addr = format!("127.0.0.1:{port}");
    assert!(lines.iter().any(|v| v["event"] == "up" && v["peer"] == server_addr.as_str()), "{log}");
    let peer = format!("ws client ws://{server_addr}, peer {server_addr}");
    let traced = |v: &serde_json::Value| {
        v["target"] == "packet" && v["msg"].as_str().is_some_and(|m| m.contains(&peer))
    };
    assert!(lines.iter().any(traced), "{log}");
    let summary = lines.iter().find(|v| v["feeds"].is_u64()).expect("a summary line");
    assert_eq!(summary["feeds"], 2, "{summary}");
    assert!(summary["entries_per_s"].is_f64() && summary["packets_in"].is_u64(), "{summary}");
    assert!(lines.iter().any(|v| v["msg"].as_str().is_some_and(|m| m.contains("role in,"))), "{log}");
    assert!(lines.iter().all(|v| v["target"] != "tungstenite::protocol"), "{log}");
}

#[test]
fn a_read_only_data_directory_is_named_as_such() {
    use std::os::unix::fs::PermissionsExt;
    if rustix::process::geteuid().is_root() {
        // Permission bits do not stop root; relay's unit tests cover the message.
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let out = spub(&["-d", utf8(&data), "--udp", "127.0.0.1:0,127.0.0.1:9"]);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod back");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("is not writable").count(), 1, "{err}");
    assert!(err.contains(utf8(&data)), "{err}");
}
