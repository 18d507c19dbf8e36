//! End-to-end: real `spub-mio` processes on 127.0.0.1 replicate a data directory, survive
//! `kill -9`, and stop cleanly on SIGTERM.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).expect("copy");
        }
    }
}

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/datadir")
}

fn spawn(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_spub-mio"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn spub-mio")
}

/// Every file of `a` exists in `b` with the same bytes.
fn same_logs(a: &Path, b: &Path) -> bool {
    let Ok(dirs) = std::fs::read_dir(a) else { return false };
    for d in dirs.flatten() {
        let name = d.file_name();
        let (x, y) = (std::fs::read(d.path().join("log.bin")), std::fs::read(b.join(&name).join("log.bin")));
        match (x, y) {
            (Ok(x), Ok(y)) if x == y => {}
            _ => return false,
        }
    }
    true
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::yield_now();
        std::thread::park_timeout(Duration::from_millis(20));
    }
    f()
}

fn terminate(mut child: Child) -> bool {
    let pid = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(status)) = child.try_wait() {
            return status.success();
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
    let _ = child.kill();
    false
}

#[test]
fn pub_to_pub_replicates_byte_identical_and_stops_cleanly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&vectors(), &a);
    let port = free_port();
    let server = spawn(&["-d", a.to_str().expect("utf8"), &port.to_string()]);
    let client = spawn(&["-d", b.to_str().expect("utf8"), &format!("ws://127.0.0.1:{port}")]);
    let started = Instant::now();
    assert!(wait_until(Duration::from_secs(20), || same_logs(&a, &b)), "B did not catch up with A");
    println!("replicated the sample data directory in {:?}", started.elapsed());
    assert!(terminate(client), "client did not exit 0 on SIGTERM");
    assert!(terminate(server), "server did not exit 0 on SIGTERM");
    for d in std::fs::read_dir(&a).expect("a").flatten() {
        let f = |root: &Path| std::fs::read(root.join(d.file_name()).join("frontier.bin")).expect("frontier");
        assert_eq!(f(&a), f(&b), "frontier.bin differs for {:?}", d.file_name());
    }
}

#[test]
fn kill_9_mid_sync_then_restart_loses_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&vectors(), &a);
    let port = free_port();
    let server = spawn(&["-d", a.to_str().expect("utf8"), &port.to_string()]);
    let url = format!("ws://127.0.0.1:{port}");
    let mut client = spawn(&["-d", b.to_str().expect("utf8"), &url]);
    // Kill the client as soon as it has created anything at all.
    wait_until(Duration::from_secs(10), || {
        std::fs::read_dir(&b).map(|mut d| d.next().is_some()).unwrap_or(false)
    });
    let _ = client.kill();
    let _ = client.wait();
    let client = spawn(&["-d", b.to_str().expect("utf8"), &url]);
    assert!(wait_until(Duration::from_secs(20), || same_logs(&a, &b)), "B did not catch up after kill -9");
    assert!(terminate(client));
    assert!(terminate(server));
}

#[test]
fn bad_arguments_fail_cleanly() {
    for args in [&["-role", "sideways"][..], &["not-a-port"], &["--bogus"], &["-d"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_spub-mio")).args(args).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("spub-mio: "));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_spub-mio")).arg("--help").output().expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("-role"));
}
