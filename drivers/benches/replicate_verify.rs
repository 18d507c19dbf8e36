//! Catch-up of a fresh `spub-mio` from another over loopback websockets, 20 feeds of plain48
//! entries (10 000 each unless `BENCH_ENTRIES` says otherwise), with the receiver checking
//! signatures in its loop (`--verify-threads 0`) and on a worker pool (`--verify-threads N`,
//! N from `BENCH_VERIFY_THREADS`, default the number of cores), alternating in the same run.
//! Prints entries/s of wall time from B's spawn until B's logs are byte-identical to A's, B's
//! CPU time, and the ratio of the two set-ups. A (`--verify-threads 0`, it receives nothing)
//! audits every entry before it first serves it, which costs it about what B's checks cost B;
//! on 2 cores that audit alone caps the run near the in-line rate. So by default
//! (`BENCH_WARM=0` to skip) a throwaway pub first syncs everything from A, and B is timed
//! against the warmed A: what is then measured is B's catch-up, as from a pub that has served
//! before (a pub audits each entry once per process).

use tinyssb_sim as sim;

mod common;

use std::path::Path;
use std::time::Duration;

use common::{free_port, median_min, ms, poll_until, runs, wait_listening, write_datadir, LogWatch, Pub};

const FEEDS: u64 = 20;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

/// Pub A serves a copy of `source`; a fresh pub B with `threads` verify threads fetches it.
/// Returns B's wall time, B's CPU time and A's CPU time while B synced.
fn replicate_once(
    source: &Path,
    a_dir: &Path,
    b_dir: &Path,
    threads: usize,
) -> (Duration, Duration, Duration) {
    common::copy_dir(source, a_dir);
    let port = free_port();
    let a = Pub::spawn(&["-d", a_dir.to_str().expect("utf8"), "--verify-threads", "0", &port.to_string()]);
    wait_listening(port);
    let url = format!("ws://127.0.0.1:{port}");
    if std::env::var("BENCH_WARM").map_or(true, |v| v != "0") {
        let w_dir = b_dir.with_extension("warm");
        let mut watch = LogWatch::new(a_dir, &w_dir);
        let w = Pub::spawn(&["-d", w_dir.to_str().expect("utf8"), "--fsync", "batched", &url]);
        let done = poll_until(Duration::from_secs(900), Duration::from_millis(20), || watch.caught_up());
        assert!(done, "the warm-up pub did not catch up within 900 s");
        drop(w);
        let _ = std::fs::remove_dir_all(&w_dir);
    }
    let cpu_a0 = a.cpu_time();
    let mut watch = LogWatch::new(a_dir, b_dir);
    let threads = threads.to_string();
    let b = Pub::spawn(&[
        "-d",
        b_dir.to_str().expect("utf8"),
        "--fsync",
        "batched",
        "--verify-threads",
        &threads,
        &url,
    ]);
    let done = poll_until(Duration::from_secs(900), Duration::from_millis(20), || watch.caught_up());
    let took = b.spawned.elapsed();
    assert!(done, "B did not catch up within 900 s");
    let (cpu_b, cpu_a) = (b.cpu_time(), a.cpu_time() - cpu_a0);
    drop((a, b));
    (took, cpu_b, cpu_a)
}

fn main() {
    let runs = runs(3);
    let entries = env_or("BENCH_ENTRIES", 10_000) as u32;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let threads = env_or("BENCH_VERIFY_THREADS", cores);
    let total = FEEDS * u64::from(entries);
    let per_s = |d: Duration| total as f64 / d.as_secs_f64();
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source");
    let mut full = sim::populated_store(&mut sim::Rng::new(7), 0, FEEDS, entries, 0, 49);
    write_datadir(&mut full, &source);
    drop(full);
    println!("replicate_verify: {FEEDS}x{entries} plain entries, {cores} cores, pool of {threads} threads");

    let (mut inline, mut pool) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // Alternate which set-up goes first, so drift in the machine's load hits both alike.
        let order = if run % 2 == 0 { [0, threads] } else { [threads, 0] };
        for t in order {
            let dir = |name: &str| tmp.path().join(format!("{name}{run}-{t}"));
            let (took, cpu, cpu_a) = replicate_once(&source, &dir("a"), &dir("b"), t);
            println!(
                "  run {run}: verify threads {t}: {} ({:.0} entries/s; CPU used by B {} = {:.2} cores, \
                 by A {})",
                ms(took),
                per_s(took),
                ms(cpu),
                cpu.as_secs_f64() / took.as_secs_f64(),
                ms(cpu_a)
            );
            if t == 0 { &mut inline } else { &mut pool }.push(took);
            let _ = std::fs::remove_dir_all(dir("a"));
            let _ = std::fs::remove_dir_all(dir("b"));
        }
    }
    let (imed, imin) = median_min(&inline);
    let (pmed, pmin) = median_min(&pool);
    println!(
        "replicate_verify {FEEDS}x{entries}: in-line median {} (min {}) = {:.0} entries/s",
        ms(imed),
        ms(imin),
        per_s(imed)
    );
    println!(
        "replicate_verify {FEEDS}x{entries}: {threads} verify threads median {} (min {}) = {:.0} entries/s",
        ms(pmed),
        ms(pmin),
        per_s(pmed)
    );
    println!(
        "replicate_verify {FEEDS}x{entries}: speed-up of the pool over in-line {:.2}x (medians of {runs} runs)",
        imed.as_secs_f64() / pmed.as_secs_f64()
    );
}
