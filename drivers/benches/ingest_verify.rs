//! The receiver's side alone: one engine over `MemStore` ingests 20 feeds × 2000 plain48
//! entries (`BENCH_ENTRIES` per feed to change it) handed to it directly, feeds interleaved,
//! timers run every 64 packets as a driver's loop would, checking signatures in-line and with a
//! `VerifyPool` of N threads (`BENCH_VERIFY_THREADS`, default the number of cores), alternating
//! in the same run. No sockets and no sender: this is the ceiling the pool can lift.
//!
//! Besides wall time it reads the CPU time of the loop's thread and of the workers, because on
//! a machine shared with other work the wall-time ratio only shows what the scheduler granted.
//! From those it prints the loop's CPU per entry (the serial part: the most a loop thread can
//! ingest however many workers check signatures) and the total CPU per entry, and the rate they
//! allow on this machine's cores when idle, `min(1 / loop, cores / total)`: a projection, printed
//! as such, next to the measured ratio.

use tinyssb_sim as sim;

use std::time::{Duration, Instant};

use mio::{Events, Poll};
use tinyssb::node::{Config, FaceId, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Instant as Now;
use tinyssb::Seq;
use tinyssb_drivers::verify::VerifyPool;

const FEEDS: u64 = 20;

/// CPU time (user + system) from a /proc `stat` file.
fn stat_cpu(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time the calling thread has used.
fn thread_cpu() -> Duration {
    stat_cpu("/proc/thread-self/stat")
}

/// CPU time the live threads named `verify-*` of this process have used (one pool at a time).
fn worker_cpu_time() -> Duration {
    let mut ticks = 0;
    for t in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if head.contains("(verify-") {
            ticks +=
                rest.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum::<u64>();
        }
    }
    Duration::from_millis(ticks * 10)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

/// What one ingest measured.
struct Run {
    wall: Duration,
    /// CPU time of the loop's thread.
    lp: Duration,
    /// CPU time of the workers.
    workers: Duration,
}

/// Ingests `packets` into a fresh node following `fids` until all are stored.
fn ingest(fids: &[tinyssb::FeedId], packets: &[[u8; 120]], threads: usize, entries: u32) -> Run {
    let cfg = Config { external_verify: threads > 0, ..Config::default() };
    let mut node = Node::new(cfg, MemStore::default(), Now(0));
    for f in fids {
        node.follow(Now(0), *f).expect("follow");
    }
    let mut poll = Poll::new().expect("poll");
    let mut pool = (threads > 0).then(|| VerifyPool::new(threads, poll.registry()).expect("pool"));
    let mut events = Events::with_capacity(8);
    let (started, lp) = (Instant::now(), thread_cpu());
    for burst in packets.chunks(64) {
        for p in burst {
            node.handle_packet(Now(1), FaceId(1), p);
        }
        node.handle_timeout(Now(1));
        if let Some(pool) = &mut pool {
            pool.pump(&mut node, Now(1));
        }
        while node.poll_event().is_some() {}
    }
    node.handle_timeout(Now(1));
    if let Some(pool) = &mut pool {
        while node.verify_jobs_outstanding() > 0 {
            pool.pump(&mut node, Now(1));
            poll.poll(&mut events, Some(Duration::from_millis(100))).expect("poll");
            pool.pump(&mut node, Now(1));
        }
    }
    let (wall, lp) = (started.elapsed(), thread_cpu() - lp);
    let workers = worker_cpu_time();
    for f in fids {
        assert_eq!(node.store().frontier(f).map(|x| x.seq), Some(Seq(entries)), "all stored");
    }
    Run { wall, lp, workers }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let runs = env_or("BENCH_RUNS", 5);
    let entries = env_or("BENCH_ENTRIES", 2000) as u32;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let threads = env_or("BENCH_VERIFY_THREADS", cores);
    let mut full = sim::populated_store(&mut sim::Rng::new(7), 0, FEEDS, entries, 0, 49);
    let mut fids = full.feeds();
    fids.sort();
    let mut packets = Vec::new();
    for s in 1..=entries {
        for f in &fids {
            packets.push(full.read_entry(f, Seq(s)).expect("read").expect("entry").0);
        }
    }
    let total = packets.len() as f64;
    println!("ingest_verify: {FEEDS}x{entries} plain entries, {cores} cores, pool of {threads} threads");
    let mut runs_of: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, threads] } else { [threads, 0] };
        for t in order {
            let r = ingest(&fids, &packets, t, entries);
            println!(
                "  run {run}: verify threads {t}: {:.1} ms ({:.0} entries/s); CPU per entry: loop {:.1} us, \
                 workers {:.1} us",
                r.wall.as_secs_f64() * 1e3,
                total / r.wall.as_secs_f64(),
                r.lp.as_secs_f64() * 1e6 / total,
                r.workers.as_secs_f64() * 1e6 / total
            );
            runs_of[usize::from(t > 0)].push(r);
        }
    }
    // Medians per set-up: rate, and CPU per entry of the loop and of everything.
    let stats = |rs: &[Run]| {
        let rate = median(rs.iter().map(|r| total / r.wall.as_secs_f64()).collect());
        let lp = median(rs.iter().map(|r| r.lp.as_secs_f64() * 1e6 / total).collect());
        let all = median(rs.iter().map(|r| (r.lp + r.workers).as_secs_f64() * 1e6 / total).collect());
        // Entries/s the CPU cost allows on `cores` idle cores: the loop is one thread.
        let cap = (1e6 / lp).min(cores as f64 * 1e6 / all);
        (rate, lp, all, cap)
    };
    let ((ri, li, ai, ci), (rp, lp, ap, cp)) = (stats(&runs_of[0]), stats(&runs_of[1]));
    println!(
        "ingest_verify {FEEDS}x{entries}, medians of {runs} runs: in-line {ri:.0} entries/s (CPU per entry {ai:.1} us), \
         {threads} threads {rp:.0} entries/s (loop {lp:.1} us + workers {:.1} us per entry); measured ratio {:.2}",
        ap - lp,
        rp / ri
    );
    println!(
        "  projection for {cores} idle cores from the CPU per entry: in-line {ci:.0} entries/s (loop {li:.1} us), \
         pool {cp:.0} entries/s, ratio {:.2}",
        cp / ci
    );
}
