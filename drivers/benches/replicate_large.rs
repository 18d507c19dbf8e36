//! Catch-up of a fresh `spub-mio` from another over loopback websockets: 20 feeds × 1000
//! entries (30% with sidechains of up to 2 KB), in entries/s of wall time from B's spawn until
//! B's logs are byte-identical to A's. In the same run, the engine alone does the same catch-up
//! between two simulated nodes over `MemStore` (as `benches/sync.rs` in the core crate), and
//! the ratio of the two times is printed: what processes, sockets and the data directory cost.

#[path = "../../tests/sim/mod.rs"]
#[allow(unused_imports)]
mod sim;

mod common;

use std::time::{Duration, Instant};

use common::{free_port, median_min, ms, poll_until, runs, wait_listening, write_datadir, LogWatch, Pub};
use sim::{converged, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;

const FEEDS: u64 = 20;
const ENTRIES: u32 = 1000;

/// One engine-only catch-up; returns its wall time.
fn engine_once(full: &MemStore) -> Duration {
    let store = full.clone();
    let started = Instant::now();
    let mut sim = Sim::new(1);
    let a = sim.add_node(Config::default(), store);
    let n = sim.add_node(Config::default(), MemStore::default());
    sim.link(a, n, LinkSpec::reliable(1));
    let t = sim.run_until(tinyssb::time::Duration::from_secs(3600), |s| converged(s, &[a, n]));
    assert!(t.is_some(), "the simulated nodes did not converge");
    started.elapsed()
}

fn main() {
    let runs = runs(3);
    let total = u64::from(ENTRIES) * FEEDS;
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source");
    let mut full = sim::populated_store(&mut sim::Rng::new(7), 0, FEEDS, ENTRIES, 30, 2048);
    write_datadir(&mut full, &source);
    let chunks = sim::counts(&mut full).2;

    let (mut e2e, mut engine, mut up) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    let mut rss = 0;
    for run in 0..runs {
        let (a_dir, b_dir) = (tmp.path().join(format!("a{run}")), tmp.path().join(format!("b{run}")));
        common::copy_dir(&source, &a_dir);
        let port = free_port();
        let a = Pub::spawn(&["-d", a_dir.to_str().expect("utf8"), &port.to_string()]);
        wait_listening(port);
        let mut watch = LogWatch::new(&a_dir, &b_dir);
        bytes = watch.total_bytes();
        let b = Pub::spawn(&[
            "-d",
            b_dir.to_str().expect("utf8"),
            "--fsync",
            "batched",
            &format!("ws://127.0.0.1:{port}"),
        ]);
        let done = poll_until(Duration::from_secs(600), Duration::from_millis(20), || watch.caught_up());
        let took = b.spawned.elapsed();
        assert!(done, "run {run}: B did not catch up within 600 s");
        rss = b.rss_kib();
        up.push(b.up_after().unwrap_or(took));
        drop(b);
        drop(a);
        let eng = engine_once(&full);
        println!(
            "  run {run}: processes {} ({:.0} entries/s), engine only {} ({:.0} entries/s)",
            ms(took),
            total as f64 / took.as_secs_f64(),
            ms(eng),
            total as f64 / eng.as_secs_f64()
        );
        e2e.push(took);
        engine.push(eng);
    }
    let (med, min) = median_min(&e2e);
    let (emed, emin) = median_min(&engine);
    let (umed, _) = median_min(&up);
    println!(
        "replicate_large {FEEDS}x{ENTRIES} ({chunks} chunks, {} MiB of logs): processes median {} \
         (min {}) = {:.0} entries/s over {runs} runs; websocket up after {}",
        bytes >> 20,
        ms(med),
        ms(min),
        total as f64 / med.as_secs_f64(),
        ms(umed)
    );
    println!(
        "replicate_large {FEEDS}x{ENTRIES}: engine only median {} (min {}) = {:.0} entries/s",
        ms(emed),
        ms(emin),
        total as f64 / emed.as_secs_f64()
    );
    println!(
        "replicate_large {FEEDS}x{ENTRIES}: e2e/engine time ratio {:.2}; receiver RSS at the end {} KiB",
        med.as_secs_f64() / emed.as_secs_f64(),
        rss
    );
}
