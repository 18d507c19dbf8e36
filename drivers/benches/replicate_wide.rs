//! Past the 100-feed wall: two real `spub-mio` processes on loopback, A serving 10,000 feeds of
//! 3 entries, B starting empty and connecting to A. The pubs recognise each other and exchange
//! their whole sets of feed ids in the wide format. Measures the wall time from B's spawn until every
//! `log.bin` of B equals A's, against a baseline of 100 feeds (what the classic GOset could
//! carry) measured in the same run, and prints the time per feed of both.

use tinyssb_sim as sim;

mod common;

use std::path::Path;
use std::time::Duration;

use common::{free_port, median_min, ms, poll_until, runs, wait_listening, write_datadir, LogWatch, Pub};

const ENTRIES: u32 = 3;

/// Syncs `feeds` feeds from a fresh A to a fresh B `runs` times; the median and minimum time.
fn measure(tmp: &Path, feeds: u64, runs: usize) -> (Duration, Duration) {
    let source = tmp.join(format!("source{feeds}"));
    let mut store = sim::populated_store(&mut sim::Rng::new(feeds), 0, feeds, ENTRIES, 0, 100);
    write_datadir(&mut store, &source);
    // Polling 10,000 files every 2 ms would steal the pubs' CPU.
    let every = Duration::from_millis(if feeds > 1000 { 50 } else { 2 });
    let mut took = Vec::new();
    for run in 0..runs {
        let (a_dir, b_dir) = (tmp.join(format!("a{feeds}-{run}")), tmp.join(format!("b{feeds}-{run}")));
        common::copy_dir(&source, &a_dir);
        let port = free_port();
        let a = Pub::spawn(&["-d", a_dir.to_str().expect("utf8"), &port.to_string()]);
        wait_listening(port);
        let mut watch = LogWatch::new(&a_dir, &b_dir);
        let b = Pub::spawn(&["-d", b_dir.to_str().expect("utf8"), &format!("ws://127.0.0.1:{port}")]);
        let done = poll_until(Duration::from_secs(300), every, || watch.caught_up());
        let t = b.spawned.elapsed();
        assert!(done, "{feeds} feeds, run {run}: B did not catch up within 300 s");
        println!("  {feeds} feeds, run {run}: caught up {} after spawn", ms(t));
        took.push(t);
        drop(b);
        drop(a);
        let _ = std::fs::remove_dir_all(&a_dir);
        let _ = std::fs::remove_dir_all(&b_dir);
    }
    median_min(&took)
}

fn main() {
    let runs = runs(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (base, base_min) = measure(tmp.path(), 100, runs);
    let (wide, wide_min) = measure(tmp.path(), 10_000, runs);
    let per_feed = |d: Duration, n: u32| d / n;
    println!("replicate_wide 100x{ENTRIES} (baseline): median {} (min {})", ms(base), ms(base_min));
    println!("replicate_wide 10000x{ENTRIES}: median {} (min {})", ms(wide), ms(wide_min));
    println!(
        "replicate_wide time per feed: {:.3} ms at 10,000 feeds, {:.3} ms at 100 (ratio {:.2})",
        per_feed(wide, 10_000).as_secs_f64() * 1000.0,
        per_feed(base, 100).as_secs_f64() * 1000.0,
        per_feed(wide, 10_000).as_secs_f64() / per_feed(base, 100).as_secs_f64()
    );
}
