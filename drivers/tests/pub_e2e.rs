//! End-to-end: real `spub-mio` processes on 127.0.0.1 replicate a data directory, survive
//! `kill -9`, and stop cleanly on SIGTERM.
mod procs;

use std::process::Command;
use std::time::{Duration, Instant};

use procs::{
    assert_same_dirs, copy_dir, feeds, free_port, publish_demo, same_logs, vectors, wait_until, Pub,
    PATIENCE, SPUB,
};

/// Pub A serving a copy of the sample data directory, and an empty pub B connected to it.
fn sample_pair() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf, Pub, Pub) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&vectors(), &a);
    let port = free_port();
    let server = Pub::spawn(&a, &["--bind", "127.0.0.1", &port.to_string()]);
    let client = Pub::spawn(&b, &[&format!("ws://127.0.0.1:{port}")]);
    (tmp, a, b, server, client)
}

#[test]
fn pub_to_pub_replicates_byte_identical_and_stops_cleanly() {
    let (_tmp, a, b, server, client) = sample_pair();
    let started = Instant::now();
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up with A");
    println!("replicated the sample data directory in {:?}", started.elapsed());
    assert!(client.stop(), "client did not exit 0 on SIGTERM");
    assert!(server.stop(), "server did not exit 0 on SIGTERM");
    assert_same_dirs(&a, &b);
}

#[test]
fn a_finished_sync_reaches_the_frontier_files_by_group_commit() {
    let (_tmp, a, b, server, client) = sample_pair();
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up with A");
    let logs_done = Instant::now();
    // frontier.bin (what readers of the directory trust) follows by group commit.
    let same_frontiers = || {
        feeds(&a) == feeds(&b)
            && feeds(&a).iter().all(|f| {
                std::fs::read(a.join(f).join("frontier.bin")).ok()
                    == std::fs::read(b.join(f).join("frontier.bin")).ok()
            })
    };
    assert!(wait_until(Duration::from_secs(5), same_frontiers), "frontiers never caught up");
    let lag = logs_done.elapsed();
    println!("frontier.bin durable {lag:?} after the logs were complete");
    assert!(lag < Duration::from_millis(250), "group commit took {lag:?}");
    assert!(client.stop());
    assert!(server.stop());
}

#[test]
fn kill_9_mid_sync_then_restart_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&vectors(), &a);
    let port = free_port();
    let server = Pub::spawn(&a, &["--bind", "127.0.0.1", &port.to_string()]);
    let url = format!("ws://127.0.0.1:{port}");
    let mut client = Pub::spawn(&b, &[&url]);
    // Kill the client as soon as it has created a feed (its lock file comes before any).
    wait_until(PATIENCE, || !feeds(&b).is_empty());
    client.kill();
    let client = Pub::spawn(&b, &[&url]);
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up after kill -9");
    assert!(client.stop());
    assert!(server.stop());
}

#[test]
fn bad_arguments_fail_cleanly() {
    for args in [&["-role", "sideways"][..], &["not-a-port"], &["--bogus"], &["-d"]] {
        let out = Command::new(SPUB).args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("spub-mio: "));
    }
    let out = Command::new(SPUB).arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-role"));
}

/// Known engine issue: a second empty pub that joins after a first one has synced waits for the
/// server's next periodic GOset round (15 s). Both clients go through the same GOset states, and
/// the server answers a given (claim, own state) pair only once per round however many peers
/// send it (`answered`, reset with `replies_left` in `Goset::round`, src/goset.rs), so the late
/// joiner's claim goes unanswered until then.
#[test]
fn second_empty_pub_joining_later_syncs_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    copy_dir(&vectors(), &a);
    // A third feed: with only two, the server's greeting claim names both as its endpoints.
    publish_demo(tmp.path(), &a, 100);
    let port = free_port();
    let server = Pub::spawn(&a, &["--bind", "127.0.0.1", &port.to_string()]);
    let url = format!("ws://127.0.0.1:{port}");
    let first = Pub::spawn(&b, &[&url]);
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up with A");
    let late = Pub::spawn(&c, &[&url]);
    assert!(wait_until(Duration::from_secs(5), || same_logs(&a, &c)), "C waited for the GOset round");
    assert!(late.stop() && first.stop() && server.stop());
}
