//! Helpers for the process-level tests: run the `spub-mio` and `tinyssb-feed` binaries, pick free
//! ports, build and compare data directories, and wait for a condition with a deadline.
#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tinyssb::store::fs::{Durability, FsConfig, FsStore};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::Seq;

pub mod flood;
pub mod mesh;

pub const SPUB: &str = env!("CARGO_BIN_EXE_spub-mio");
pub const FEED: &str = env!("CARGO_BIN_EXE_tinyssb-feed");

/// How long a test waits for replication before failing: generous for a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("free udp port")
}

/// Someone (a pub just started) listens on TCP 127.0.0.1:`port`.
pub fn tcp_taken(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err()
}

/// Someone (a pub just started) has bound UDP 127.0.0.1:`port`.
pub fn udp_taken(port: u16) -> bool {
    UdpSocket::bind(("127.0.0.1", port)).is_err()
}

/// The sample data directory of tests/vectors.
pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/datadir")
}

pub fn copy_dir(from: &Path, to: &Path) {
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

pub fn utf8(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A running `spub-mio`. Dropping it kills the process (and, while a test is failing, prints
/// the end of its log), so no pub outlives its test.
pub struct Pub {
    child: Option<Child>,
    log: PathBuf,
}

impl Pub {
    /// Starts `spub-mio -d DATA ARGS...`; its stderr goes to `DATA.log` next to the directory.
    pub fn spawn(data: &Path, args: &[&str]) -> Pub {
        let log = data.with_extension("log");
        let file = std::fs::File::create(&log).expect("pub log file");
        let child = Command::new(SPUB)
            .arg("-d")
            .arg(data)
            .args(args)
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn spub-mio");
        Pub { child: Some(child), log }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `kill -9` and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (bounded) for the exit; true if the pub exited 0.
    pub fn stop(mut self) -> bool {
        // A signal that arrives before the pub installed its handlers kills it outright: wait
        // until it logged its start (it does so after installing them), or exited.
        let log = self.log.clone();
        wait_until(Duration::from_secs(10), || {
            let started = std::fs::read_to_string(&log).is_ok_and(|l| l.contains(": data "));
            started || !self.alive()
        });
        let Some(mut child) = self.child.take() else { return false };
        let pid = rustix::process::Pid::from_child(&child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let mut status = None;
        wait_until(Duration::from_secs(10), || {
            status = child.try_wait().ok().flatten();
            status.is_some()
        });
        if status.is_none() {
            let _ = child.kill();
            let _ = child.wait();
        }
        status.is_some_and(|s| s.success())
    }
}

impl Drop for Pub {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.kill();
            if std::thread::panicking() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- end of {} ---", self.log.display());
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
    }
}

/// Resident set size of process `pid` in KiB, from /proc/PID/status.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS line")
}

/// Writes every feed of `src` into a fresh data directory at `dir` (the reference layout).
pub fn write_datadir(src: &mut MemStore, dir: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let cfg = FsConfig { durability: Durability::Batched { every: u32::MAX }, ..FsConfig::default() };
    let mut out = FsStore::open(dir, cfg).expect("open data dir");
    for fid in src.feeds() {
        out.add_feed(fid).expect("add feed");
        let max = src.frontier(&fid).map_or(0, |f| f.seq.0);
        let mut prev = fid.genesis_prev();
        for s in 1..=max {
            let seq = Seq(s);
            let entry = src.read_entry(&fid, seq).expect("read").expect("entry");
            let id = entry.msg_id(&fid, seq, &prev);
            out.append_entry(&fid, &entry, id).expect("append");
            let mut nr = 0;
            while let Some(c) = src.read_chunk(&fid, seq, nr).expect("read chunk") {
                out.write_chunk(&fid, seq, nr, &c).expect("write chunk");
                nr += 1;
            }
            prev = id;
        }
    }
    out.sync().expect("sync");
}

/// Polls `f` until it holds or `limit` passes; returns its last answer.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
    f()
}

/// The feed directories of a data directory, sorted.
pub fn feeds(data: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(data)
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn same_file(a: &Path, b: &Path, feed: &std::ffi::OsStr, file: &str) -> bool {
    match (std::fs::read(a.join(feed).join(file)), std::fs::read(b.join(feed).join(file))) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// `b` has the same feeds as `a`, each with a byte-identical `log.bin` (entries and sidechains).
pub fn same_logs(a: &Path, b: &Path) -> bool {
    let fa = feeds(a);
    !fa.is_empty() && fa == feeds(b) && fa.iter().all(|f| same_file(a, b, f, "log.bin"))
}

/// Asserts that `a` and `b` agree byte for byte: same feeds, same `log.bin` and `frontier.bin`.
pub fn assert_same_dirs(a: &Path, b: &Path) {
    assert_eq!(feeds(a), feeds(b), "different feeds");
    for f in feeds(a) {
        assert!(same_file(a, b, &f, "log.bin"), "log.bin differs for {f:?}");
        assert!(same_file(a, b, &f, "frontier.bin"), "frontier.bin differs for {f:?}");
    }
}

/// Runs `tinyssb-feed ARGS` with `input` on stdin; returns stdout, asserting success.
pub fn feed(args: &[&str], input: &[u8]) -> String {
    let mut child = Command::new(FEED)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tinyssb-feed");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let out = child.wait_with_output().expect("tinyssb-feed");
    assert!(out.status.success(), "tinyssb-feed {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Deterministic pseudo-random bytes (xorshift64), for content and garbage.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// What the demo author published: the feed id and each entry's content in order.
pub struct Published {
    pub fid: String,
    pub contents: Vec<Vec<u8>>,
}

/// The classic demo's first step: a fresh key (in `dir`) and a few messages published into
/// `data` with `tinyssb-feed`: short ones (plain48) and longer ones, text and binary, of
/// 0.2 to `long` bytes (chain20 with a sidechain).
pub fn publish_demo(dir: &Path, data: &Path, long: usize) -> Published {
    let key = dir.join("key.json");
    let fid = feed(&["keygen", "-o", utf8(&key)], b"").trim().to_owned();
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(long / 45 + 1);
    let contents = vec![
        b"hello tinySSB".to_vec(),
        text.as_bytes()[..long.min(200)].to_vec(),
        vec![0x42; 48],
        noise(7, long),
        text.as_bytes()[..long].to_vec(),
        b"bye".to_vec(),
    ];
    for (seq, c) in (1..).zip(&contents) {
        let out = feed(&["publish", "-d", utf8(data), "-k", utf8(&key), "-"], c);
        assert_eq!(out, format!("{fid} {seq}\n"));
    }
    Published { fid, contents }
}

/// Reads the demo feed back from `data` with `tinyssb-feed read --json` and compares every
/// entry's type and content with what was published, byte for byte.
pub fn assert_read_back(data: &Path, p: &Published) {
    let out = feed(&["read", "-d", utf8(data), &p.fid, "--json"], b"");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let entries = v.as_array().expect("array");
    assert_eq!(entries.len(), p.contents.len(), "{out}");
    for (i, (e, want)) in entries.iter().zip(&p.contents).enumerate() {
        let got = tinyssb::ids::from_hex(e["content_hex"].as_str().expect("content_hex")).expect("hex");
        if want.len() <= 48 {
            assert_eq!(e["type"], "plain48", "entry {}", i + 1);
            let mut padded = want.clone();
            padded.resize(48, 0);
            assert_eq!(got, padded, "entry {}", i + 1);
        } else {
            assert_eq!(e["type"], "chain20", "entry {}", i + 1);
            assert_eq!(&got, want, "entry {}", i + 1);
        }
    }
}
