//! Removing feeds: `tinyssb-feed drop`/`undrop` on a data directory, their refusal while a pub
//! has it open, and `spub-mio --expire-after`.
mod procs;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use procs::{feed, free_port, tcp_taken, utf8, wait_until, Pub, FEED, PATIENCE};
use tinyssb::store::fs::{DROPPED_DIR, LOCK_FILE, TOMBSTONES_FILE};

const FRONTIER: &str = env!("CARGO_BIN_EXE_frontier");

/// Runs `tinyssb-feed ARGS`, expecting exit 1; returns stderr.
fn feed_fails(args: &[&str]) -> String {
    let out = Command::new(FEED).args(args).output().expect("run tinyssb-feed");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    err
}

/// A data directory with one feed of two entries; returns the feed id.
fn one_feed(dir: &Path, data: &Path, name: &str) -> String {
    let key = dir.join(format!("{name}.json"));
    let fid = feed(&["keygen", "-o", utf8(&key)], b"").trim().to_owned();
    for text in ["one", "two"] {
        feed(&["publish", "-d", utf8(data), "-k", utf8(&key), text], b"");
    }
    fid
}

#[test]
fn drop_moves_a_feed_aside_and_undrop_takes_it_back() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let d = utf8(&data);
    let fid = one_feed(tmp.path(), &data, "a");
    let other = one_feed(tmp.path(), &data, "b");
    let aside = data.join(DROPPED_DIR).join(format!("{fid}-0"));

    let out = feed(&["drop", "-d", d, &fid], b"");
    assert_eq!(out, format!("dropped {fid}: data moved to {}\n", aside.display()));
    assert!(!data.join(&fid).exists() && aside.join("log.bin").is_file());
    let tombs = std::fs::read_to_string(data.join(TOMBSTONES_FILE)).expect("tombstones");
    assert!(
        tombs.starts_with(&format!("{fid} dropped ")) && tombs.trim_end().ends_with("UTC by tinyssb-feed")
    );
    assert!(feed_fails(&["read", "-d", d, &fid]).contains("is not in"));
    assert_eq!(feed(&["read", "-d", d, &other], b"").lines().count(), 2, "other feeds stay");
    assert_eq!(feed(&["drop", "-d", d, &fid], b""), format!("{fid} was already dropped\n"));
    // frontier lists the tombstone, and only the feed that is left.
    let out = Command::new(FRONTIER).args(["-d", d, "--json"]).output().expect("run frontier");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["dropped"], serde_json::json!([fid]));
    assert_eq!(v["feeds"].as_array().map(Vec::len), Some(1));
    let out = Command::new(FRONTIER).args(["-d", d]).output().expect("run frontier");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("- dropped (tombstone): {fid}\n")));

    // undrop without --restore only removes the tombstone and says where the data is.
    let out = feed(&["undrop", "-d", d, &fid], b"");
    assert!(out.contains("tombstone removed") && out.contains(&aside.display().to_string()), "{out}");
    assert!(!std::fs::read_to_string(data.join(TOMBSTONES_FILE)).expect("tombstones").contains(&fid));
    assert!(feed_fails(&["undrop", "-d", d, &fid]).contains("has no tombstone"));

    // Tombstone again (the feed has no directory now), then take it back with its data.
    assert!(feed(&["drop", "-d", d, &fid], b"").contains("tombstone recorded"));
    let out = feed(&["undrop", "-d", d, &fid, "--restore"], b"");
    assert!(out.contains("restored"), "{out}");
    assert!(!aside.exists());
    assert_eq!(feed(&["read", "-d", d, &fid], b"").lines().count(), 2);

    let missing = tmp.path().join("missing");
    assert!(feed_fails(&["drop", "-d", utf8(&missing), &fid]).contains("does not exist"));
    assert!(!missing.exists());
}

#[test]
fn drop_and_undrop_refuse_a_directory_a_pub_has_open() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let d = utf8(&data);
    let fid = one_feed(tmp.path(), &data, "a");
    let port = free_port();
    let running = Pub::spawn(&data, &["--bind", "127.0.0.1", &port.to_string()]);
    assert!(wait_until(PATIENCE, || tcp_taken(port)), "the pub did not start");
    for args in [&["drop", "-d", d, &fid][..], &["undrop", "-d", d, &fid]] {
        let err = feed_fails(args);
        assert!(err.contains(LOCK_FILE) && err.contains("stop the pub first"), "{err}");
    }
    assert!(data.join(&fid).is_dir() && !data.join(TOMBSTONES_FILE).exists());
    assert!(running.stop());
    assert!(feed(&["drop", "-d", d, &fid], b"").starts_with("dropped"));
}

#[test]
fn a_pub_with_expire_after_drops_feeds_quiet_for_longer() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let old = one_feed(tmp.path(), &data, "old");
    let fresh = one_feed(tmp.path(), &data, "fresh");
    // The old feed's last entry was written three days ago, as far as the file times say.
    let three_days = SystemTime::now() - Duration::from_secs(3 * 86_400);
    let log = std::fs::File::options().write(true).open(data.join(&old).join("log.bin")).expect("log");
    log.set_modified(three_days).expect("set mtime");
    drop(log);

    let port = free_port();
    let running = Pub::spawn(&data, &["--bind", "127.0.0.1", "--expire-after", "2", &port.to_string()]);
    let aside = data.join(DROPPED_DIR).join(format!("{old}-0"));
    assert!(wait_until(PATIENCE, || aside.is_dir()), "the old feed was not dropped");
    assert!(running.stop());
    let log = std::fs::read_to_string(data.with_extension("log")).expect("pub log");
    assert!(log.contains(&format!("feed {old} dropped after 72 h")), "{log}");
    assert!(data.join(&fresh).is_dir(), "the fresh feed stays");
    let tombs = std::fs::read_to_string(data.join(TOMBSTONES_FILE)).expect("tombstones");
    assert_eq!(
        tombs.lines().map(|l| l.split(' ').next().unwrap_or("")).collect::<Vec<_>>(),
        vec![old.as_str()]
    );
}
