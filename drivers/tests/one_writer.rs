//! One writer per data directory: a second `spub-mio` and `tinyssb-feed publish` refuse a
//! directory in use; `frontier` and the reading commands only read, changing nothing.
mod procs;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use procs::{copy_dir, feed, free_port, tcp_taken, utf8, vectors, wait_until, Pub, FEED, PATIENCE, SPUB};
use tinyssb::store::fs::{FsConfig, FsStore, LOCK_FILE};

const FRONTIER: &str = env!("CARGO_BIN_EXE_frontier");

/// Every file and directory under `dir` with its bytes (files), modification time and inode
/// (a file replaced by rename, even with the same bytes in the same clock tick, gets a new one).
fn tree(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>, SystemTime, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        let meta = e.metadata().expect("metadata");
        let (modified, ino) = (meta.modified().expect("mtime"), meta.ino());
        if meta.is_dir() {
            out.push((e.path(), None, modified, ino));
            out.extend(tree(&e.path()));
        } else {
            out.push((e.path(), Some(std::fs::read(e.path()).expect("read")), modified, ino));
        }
    }
    out.sort();
    out
}

/// Sets `dir` and everything in it to read-only (`a-w`), or back to writable for the owner.
fn set_writable(dir: &Path, writable: bool) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |is_dir: bool| match (is_dir, writable) {
        (true, true) => 0o755,
        (true, false) => 0o555,
        (false, true) => 0o644,
        (false, false) => 0o444,
    };
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let e = e.expect("entry");
        let is_dir = e.file_type().expect("type").is_dir();
        if is_dir {
            set_writable(&e.path(), writable);
        }
        std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode(is_dir))).expect("chmod");
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode(true))).expect("chmod");
}

#[test]
fn a_second_pub_on_the_same_directory_exits_with_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    copy_dir(&vectors(), &data);
    let port = free_port();
    let first = Pub::spawn(&data, &["--bind", "127.0.0.1", &port.to_string()]);
    assert!(wait_until(PATIENCE, || tcp_taken(port)), "the first pub did not start");

    let other_port = free_port();
    let mut second = Command::new(SPUB)
        .args(["-d", utf8(&data), "--bind", "127.0.0.1", &other_port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spub-mio");
    let mut status = None;
    wait_until(PATIENCE, || {
        status = second.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = second.kill();
    }
    let out = second.wait_with_output().expect("second pub");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(status.is_some_and(|s| !s.success()), "the second pub kept running or exited 0: {err}");
    assert!(err.contains(utf8(&data)) && err.contains(LOCK_FILE), "{err}");
    assert!(!tcp_taken(other_port), "the second pub opened its port");

    // Once the first pub has stopped, the directory is free again.
    assert!(first.stop());
    let port = free_port();
    let again = Pub::spawn(&data, &["--bind", "127.0.0.1", &port.to_string()]);
    assert!(wait_until(PATIENCE, || tcp_taken(port)), "a pub could not take over the directory");
    assert!(again.stop());
}

#[test]
fn publishing_into_a_directory_in_use_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let key = tmp.path().join("key.json");
    let (d, k) = (utf8(&data), utf8(&key));
    let fid = feed(&["keygen", "-o", k], b"").trim().to_owned();
    feed(&["publish", "-d", d, "-k", k, "first"], b"");
    let held = FsStore::open(&data, FsConfig::default()).expect("open");
    for args in [&["publish", "-d", d, "-k", k, "second"][..], &["chat", "post", "-d", d, "-k", k, "hi"]] {
        let out = Command::new(FEED).args(args).output().expect("run tinyssb-feed");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(d) && err.contains(LOCK_FILE) && err.contains("stop the pub"), "{err}");
    }
    // Reading works meanwhile, and nothing was added.
    let read = feed(&["read", "-d", d, &fid], b"");
    assert_eq!(read.lines().count(), 1, "{read}");
    drop(held);
    assert_eq!(feed(&["publish", "-d", d, "-k", k, "second"], b""), format!("{fid} 2\n"));
}

#[test]
fn frontier_reads_a_write_protected_and_a_damaged_directory_without_changing_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    copy_dir(&vectors(), &data);
    // Damage the first feed: a torn append and an interrupted frontier update.
    let first = procs::feeds(&data).into_iter().next().expect("a feed");
    let dir = data.join(&first);
    let mut log = std::fs::read(dir.join("log.bin")).expect("log");
    log.extend_from_slice(&[0xee; 50]);
    std::fs::write(dir.join("log.bin"), log).expect("write log");
    std::fs::write(dir.join("frontier.tmp"), b"half a frontier").expect("write tmp");
    // Tests may run as root, for whom a-w changes nothing; the check is that nothing changes.
    set_writable(&data, false);
    let before = tree(&data);
    let out = Command::new(FRONTIER).args(["-d", utf8(&data), "--json"]).output().expect("run frontier");
    let after = tree(&data);
    set_writable(&data, true);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(after, before, "frontier changed the data directory");
    assert!(!data.join(LOCK_FILE).exists());
    assert!(err.contains("leftover frontier.tmp (ignored)"), "{err}");
    assert!(err.contains("the rest is ignored"), "{err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["feeds"].as_array().map(Vec::len), Some(2));
}
