//! Durability latency: a fresh `spub-mio` B syncs 5 feeds × 20 entries (30% with sidechains of
//! up to 2 KB) from pub A over a loopback websocket. Watched from outside, as a reader of B's
//! data directory would: when every `log.bin` is byte-identical to A's (the last packet has
//! been written), and when every `frontier.bin` is too (the frontier a reader such as `frontier`
//! trusts is durable: B synced). The latency is the gap between the two.
//!
//! Two set-ups in the same run: `--fsync batched` (group commit once the burst settles, 10 ms
//! without readiness) and `--fsync every` (fsync and frontier replaced after every write: no
//! gap, but every write pays for it). Printed: medians over `BENCH_RUNS` (default 5) of the
//! gap (goal 50 ms) and of the time to a durable frontier, and the ratio batched / every of the
//! latter.

use tinyssb_sim as sim;

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{free_port, median_min, ms, runs, wait_listening, write_datadir, LogWatch, Pub};

const FEEDS: u64 = 5;
const ENTRIES: u32 = 20;

/// Watches a replica until every feed's `frontier.bin` equals the source's.
struct FrontierWatch {
    feeds: Vec<(PathBuf, Vec<u8>, bool)>,
    replica: PathBuf,
}

impl FrontierWatch {
    fn new(source: &Path, replica: &Path) -> FrontierWatch {
        let mut feeds = Vec::new();
        for d in std::fs::read_dir(source).expect("read source").flatten().filter(|d| d.path().is_dir()) {
            let f = std::fs::read(d.path().join("frontier.bin")).expect("source frontier");
            feeds.push((PathBuf::from(d.file_name()), f, false));
        }
        FrontierWatch { feeds, replica: replica.to_path_buf() }
    }

    fn durable(&mut self) -> bool {
        let mut all = true;
        for (name, want, done) in &mut self.feeds {
            if !*done {
                let path = self.replica.join(&*name).join("frontier.bin");
                *done = std::fs::read(&path).is_ok_and(|got| got == *want);
            }
            all &= *done;
        }
        all
    }
}

/// One sync; returns (time to complete logs, time to durable frontiers), both from B's spawn.
fn once(source: &Path, dir: &Path, fsync: &str) -> (Duration, Duration) {
    let (a_dir, b_dir) = (dir.join("a"), dir.join("b"));
    common::copy_dir(source, &a_dir);
    let port = free_port();
    let a = Pub::spawn(&["-d", a_dir.to_str().expect("utf8"), &port.to_string()]);
    wait_listening(port);
    let mut logs = LogWatch::new(&a_dir, &b_dir);
    let mut frontiers = FrontierWatch::new(&a_dir, &b_dir);
    let url = format!("ws://127.0.0.1:{port}");
    let b = Pub::spawn(&["-d", b_dir.to_str().expect("utf8"), "--fsync", fsync, &url]);
    let (mut logged, mut durable) = (None, None);
    let end = Instant::now() + Duration::from_secs(60);
    while durable.is_none() && Instant::now() < end {
        if logged.is_none() && logs.caught_up() {
            logged = Some(b.spawned.elapsed());
        }
        if logged.is_some() && frontiers.durable() {
            durable = Some(b.spawned.elapsed());
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    drop((b, a));
    let _ = std::fs::remove_dir_all(dir);
    (logged.expect("B's logs complete within 60 s"), durable.expect("B's frontiers durable within 60 s"))
}

fn main() {
    let runs = runs(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source");
    let mut full = sim::populated_store(&mut sim::Rng::new(7), 0, FEEDS, ENTRIES, 30, 2048);
    write_datadir(&mut full, &source);
    println!("durability: {FEEDS}x{ENTRIES} sync, time from complete logs to durable frontiers");
    let (mut gaps, mut durables) = ([Vec::new(), Vec::new()], [Vec::new(), Vec::new()]);
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        for k in order {
            let fsync = ["batched", "every"][k];
            let (logged, durable) = once(&source, &tmp.path().join(format!("{fsync}{run}")), fsync);
            let gap = durable.saturating_sub(logged);
            println!(
                "  run {run}: --fsync {fsync}: logs complete {}, frontiers durable {} (gap {})",
                ms(logged),
                ms(durable),
                ms(gap)
            );
            gaps[k].push(gap);
            durables[k].push(durable);
        }
    }
    let (gb, gb_min) = median_min(&gaps[0]);
    let (ge, _) = median_min(&gaps[1]);
    let ((db, _), (de, _)) = (median_min(&durables[0]), median_min(&durables[1]));
    println!(
        "durability {FEEDS}x{ENTRIES}, medians over {runs} runs: batched (group commit when settled): \
         gap {} (min {}; goal 50 ms), durable after {}; every write: gap {}, durable after {}; \
         time to durable batched / every {:.2}",
        ms(gb),
        ms(gb_min),
        ms(db),
        ms(ge),
        ms(de),
        db.as_secs_f64() / de.as_secs_f64()
    );
}
