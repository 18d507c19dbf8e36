//! What the process benchmarks share: spawning `spub-mio`, writing a data directory, polling
//! files and ports, reading a process's RSS, and summarising repeated runs.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "../../tests/procs/mod.rs"]
mod procs;
#[allow(unused_imports)]
pub use procs::{copy_dir, flood, free_port, mesh, rss_kib, write_datadir};

/// How often file and port conditions are re-checked.
pub const POLL: Duration = Duration::from_millis(2);

/// Polls `f` every `every` until it holds or `limit` passes; true if it held.
pub fn poll_until(limit: Duration, every: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::park_timeout(every);
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`.
pub fn wait_listening(port: u16) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let ok = poll_until(Duration::from_secs(10), POLL, || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
    });
    assert!(ok, "nothing listens on port {port}");
}

/// A running `spub-mio`; stopped with SIGTERM (and waited for) when dropped.
pub struct Pub {
    child: Child,
    /// When the process was spawned.
    pub spawned: Instant,
    /// When the log first reported a websocket peer up.
    first_up: Arc<Mutex<Option<Instant>>>,
    /// How many "peer up" lines the log has shown.
    ups: Arc<AtomicUsize>,
}

impl Pub {
    /// Spawns `spub-mio` with `args`, logging at info level; a thread reads its log.
    pub fn spawn(args: &[&str]) -> Pub {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spub-mio"))
            .args(args)
            .args(["--log-level", "info"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn spub-mio");
        let spawned = Instant::now();
        let first_up = Arc::new(Mutex::new(None));
        let ups = Arc::new(AtomicUsize::new(0));
        let stderr = child.stderr.take().expect("piped stderr");
        let (fu, n) = (Arc::clone(&first_up), Arc::clone(&ups));
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.ends_with(" up") {
                    fu.lock().expect("lock").get_or_insert_with(Instant::now);
                    n.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Pub { child, spawned, first_up, ups }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Time from spawn until the log first said a websocket peer was up.
    pub fn up_after(&self) -> Option<Duration> {
        self.first_up.lock().expect("lock").map(|t| t - self.spawned)
    }

    /// How many peers have come up so far.
    pub fn ups(&self) -> usize {
        self.ups.load(Ordering::Relaxed)
    }

    /// CPU time (user + system) the process has used so far, from /proc/PID/stat.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("proc stat");
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum();
        // USER_HZ is 100 on every Linux architecture this runs on.
        Duration::from_millis(ticks * 10)
    }

    /// Resident set size in KiB, from /proc/PID/status.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid())
    }
}

impl Drop for Pub {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let stopped = poll_until(Duration::from_secs(10), Duration::from_millis(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !stopped {
            eprintln!("spub-mio {} ignored SIGTERM; killing it", self.pid());
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Watches a replica directory until its `log.bin` files equal those of a source directory.
/// Feeds already found equal are not read again (the source does not change).
pub struct LogWatch {
    /// (feed directory name, the source's log bytes, equal yet).
    feeds: Vec<(PathBuf, Vec<u8>, bool)>,
    replica: PathBuf,
}

impl LogWatch {
    /// Reads the source's logs once.
    pub fn new(source: &Path, replica: &Path) -> LogWatch {
        let mut feeds = Vec::new();
        // Feed directories only: the writer's lock file sits next to them.
        for d in std::fs::read_dir(source).expect("read source").flatten().filter(|d| d.path().is_dir()) {
            let log = std::fs::read(d.path().join("log.bin")).expect("source log");
            feeds.push((PathBuf::from(d.file_name()), log, false));
        }
        LogWatch { feeds, replica: replica.to_path_buf() }
    }

    /// Bytes of all source logs.
    pub fn total_bytes(&self) -> usize {
        self.feeds.iter().map(|f| f.1.len()).sum()
    }

    /// True once every source log has a byte-identical copy in the replica. Compares lengths
    /// first, so a replica still growing costs one `stat` per feed.
    pub fn caught_up(&mut self) -> bool {
        let mut all = true;
        for (name, want, done) in &mut self.feeds {
            if *done {
                continue;
            }
            let path = self.replica.join(&*name).join("log.bin");
            let same_len = std::fs::metadata(&path).is_ok_and(|m| m.len() == want.len() as u64);
            *done = same_len && std::fs::read(&path).is_ok_and(|got| got == *want);
            all &= *done;
        }
        all
    }
}

/// Median and minimum of some durations (at least one).
pub fn median_min(xs: &[Duration]) -> (Duration, Duration) {
    let mut v = xs.to_vec();
    v.sort();
    (v[v.len() / 2], v[0])
}

/// Milliseconds with one decimal, for printing.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Runs from the environment (`BENCH_RUNS`), else `default`.
pub fn runs(default: usize) -> usize {
    std::env::var("BENCH_RUNS").ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}
