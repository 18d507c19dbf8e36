//! Catch-up of a fresh `spub-mio` from another over loopback websockets: 20 feeds × 1000
//! entries (30% with sidechains of up to 2 KB), in entries/s of wall time from B's spawn until
//! B's logs are byte-identical to A's. B runs with `--fsync batched` (the default).
//!
//! In the same run: the engine alone does the same catch-up between two simulated nodes over
//! `MemStore` (as `benches/sync.rs` in the core crate), and the ratio of the times is printed:
//! what processes, sockets and the data directory add. When `/dev/shm` exists, B is also run
//! with its data directory there (fsync costs nothing on tmpfs), which separates the cost of
//! durability from the rest.

use tinyssb_sim as sim;

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, median_min, ms, poll_until, runs, wait_listening, write_datadir, LogWatch, Pub};
use sim::{Corpus, LinkSpec, Rng, Scenario};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;

const FEEDS: u64 = 20;
const ENTRIES: u32 = 1000;
const TOTAL: u64 = FEEDS * ENTRIES as u64;

/// One engine-only catch-up; returns its wall time and the virtual time it took in the simulation.
fn engine_once(full: &MemStore) -> (Duration, u64) {
    let store = full.clone();
    let started = Instant::now();
    let mut sim = Scenario::new(1)
        .node("a", Config::default(), store)
        .empty("n")
        .link("a", "n", LinkSpec::reliable(1))
        .build();
    let t = sim.converge(&sim.ids(["a", "n"]), tinyssb::time::Duration::from_secs(3600));
    let took = started.elapsed();
    (took, t.0)
}

/// What one process catch-up measured.
struct Replication {
    took: Duration,
    ws_up: Duration,
    cpu_a: Duration,
    cpu_b: Duration,
    rss_b: u64,
}

/// Pub A serves a copy of `source` from `a_dir`; a fresh pub B fetches it into `b_dir`.
fn replicate_once(source: &Path, a_dir: &Path, b_dir: &Path) -> Replication {
    common::copy_dir(source, a_dir);
    let port = free_port();
    let a = Pub::spawn(&["-d", a_dir.to_str().expect("utf8"), &port.to_string()]);
    wait_listening(port);
    let mut watch = LogWatch::new(a_dir, b_dir);
    let url = format!("ws://127.0.0.1:{port}");
    let b = Pub::spawn(&["-d", b_dir.to_str().expect("utf8"), "--fsync", "batched", &url]);
    let done = poll_until(Duration::from_secs(600), Duration::from_millis(20), || watch.caught_up());
    let took = b.spawned.elapsed();
    assert!(done, "B did not catch up within 600 s");
    Replication {
        took,
        ws_up: b.up_after().unwrap_or(took),
        cpu_a: a.cpu_time(),
        cpu_b: b.cpu_time(),
        rss_b: b.rss_kib(),
    }
}

fn per_s(d: Duration) -> f64 {
    TOTAL as f64 / d.as_secs_f64()
}

fn main() {
    let runs = runs(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let shm = tempfile::tempdir_in("/dev/shm").ok();
    let source = tmp.path().join("source");
    let mut full = Corpus::new(FEEDS, ENTRIES).chains(30, 2048).build(&mut Rng::new(7));
    write_datadir(&mut full, &source);
    let chunks = sim::counts(&mut full).2;
    let bytes = LogWatch::new(&source, &source).total_bytes();

    let (mut disk, mut ram, mut engine) = (Vec::new(), Vec::new(), Vec::new());
    let mut last = None;
    for run in 0..runs {
        let dir = |name: &str| tmp.path().join(format!("{name}{run}"));
        let r = replicate_once(&source, &dir("a"), &dir("b"));
        println!(
            "  run {run}: processes {} ({:.0} entries/s; websocket up after {}; CPU used: A {}, B {})",
            ms(r.took),
            per_s(r.took),
            ms(r.ws_up),
            ms(r.cpu_a),
            ms(r.cpu_b)
        );
        disk.push(r.took);
        last = Some(r);
        if let Some(shm) = &shm {
            let r = replicate_once(&source, &dir("ra"), &shm.path().join(format!("b{run}")));
            println!(
                "  run {run}: processes, B's data on tmpfs {} ({:.0} entries/s; CPU used: B {})",
                ms(r.took),
                per_s(r.took),
                ms(r.cpu_b)
            );
            ram.push(r.took);
        }
        let (eng, virt) = engine_once(&full);
        println!(
            "  run {run}: engine only {} ({:.0} entries/s; {virt} ms of simulated time over 1 ms links)",
            ms(eng),
            per_s(eng)
        );
        engine.push(eng);
    }
    let (med, min) = median_min(&disk);
    let (emed, emin) = median_min(&engine);
    println!(
        "replicate_large {FEEDS}x{ENTRIES} ({chunks} chunks, {} MiB of logs): processes median {} \
         (min {}) = {:.0} entries/s over {runs} runs",
        bytes >> 20,
        ms(med),
        ms(min),
        per_s(med)
    );
    if !ram.is_empty() {
        let (rmed, rmin) = median_min(&ram);
        println!(
            "replicate_large {FEEDS}x{ENTRIES}: processes, receiver on tmpfs: median {} (min {}) = \
             {:.0} entries/s; e2e/engine time ratio {:.2}",
            ms(rmed),
            ms(rmin),
            per_s(rmed),
            rmed.as_secs_f64() / emed.as_secs_f64()
        );
    }
    println!(
        "replicate_large {FEEDS}x{ENTRIES}: engine only median {} (min {}) = {:.0} entries/s",
        ms(emed),
        ms(emin),
        per_s(emed)
    );
    println!(
        "replicate_large {FEEDS}x{ENTRIES}: e2e/engine time ratio {:.2}; receiver RSS at the end {} KiB",
        med.as_secs_f64() / emed.as_secs_f64(),
        last.map_or(0, |r| r.rss_b)
    );
}
