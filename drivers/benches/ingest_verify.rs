//! The receiver's side alone: one engine over `MemStore` ingests 20 feeds × 2000 plain48
//! entries (`BENCH_ENTRIES` per feed to change it) handed to it directly, feeds interleaved,
//! timers run every 64 packets as a driver's loop would, checking signatures in-line and with a
//! `VerifyPool` of N threads (`BENCH_VERIFY_THREADS`, default the number of cores), alternating
//! in the same run. No sockets and no sender: this is the ceiling the pool can lift.

#[path = "../../tests/sim/mod.rs"]
#[allow(unused_imports)]
mod sim;

use std::time::{Duration, Instant};

use mio::{Events, Poll};
use tinyssb::node::{Config, FaceId, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Instant as Now;
use tinyssb::Seq;
use tinyssb_drivers::verify::VerifyPool;

const FEEDS: u64 = 20;

/// CPU time (user + system) this process has used, from /proc/self/stat.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

/// Ingests `packets` into a fresh node following `fids`; returns the wall time until all stored.
fn ingest(fids: &[tinyssb::FeedId], packets: &[[u8; 120]], threads: usize, entries: u32) -> Duration {
    let cfg = Config { external_verify: threads > 0, ..Config::default() };
    let mut node = Node::new(cfg, MemStore::default(), Now(0));
    for f in fids {
        node.follow(Now(0), *f).expect("follow");
    }
    let mut poll = Poll::new().expect("poll");
    let mut pool = (threads > 0).then(|| VerifyPool::new(threads, poll.registry()).expect("pool"));
    let mut events = Events::with_capacity(8);
    let started = Instant::now();
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
    let took = started.elapsed();
    for f in fids {
        assert_eq!(node.store().frontier(f).map(|x| x.seq), Some(Seq(entries)), "all stored");
    }
    took
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
    let (mut inline, mut pooled) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, threads] } else { [threads, 0] };
        for t in order {
            let cpu = cpu_time();
            let took = ingest(&fids, &packets, t, entries);
            let busy = (cpu_time() - cpu).as_secs_f64() / took.as_secs_f64();
            println!(
                "  run {run}: verify threads {t}: {:.1} ms ({:.0} entries/s, {busy:.2} cores busy)",
                took.as_secs_f64() * 1e3,
                total / took.as_secs_f64()
            );
            if t == 0 { &mut inline } else { &mut pooled }.push(took);
        }
    }
    inline.sort();
    pooled.sort();
    let (i, p) = (inline[inline.len() / 2], pooled[pooled.len() / 2]);
    println!(
        "ingest_verify {FEEDS}x{entries}: in-line median {:.0} entries/s, {threads} threads {:.0} entries/s, \
         ratio {:.2} (medians of {runs} runs)",
        total / i.as_secs_f64(),
        total / p.as_secs_f64(),
        i.as_secs_f64() / p.as_secs_f64()
    );
}
