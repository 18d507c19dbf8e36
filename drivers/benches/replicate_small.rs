//! Two real `spub-mio` processes on loopback: A serves 5 feeds × 20 entries (30% with
//! sidechains of up to 2 KB), B starts with an empty data directory and connects to A.
//! Measures the wall time from B's spawn until B's `log.bin` files are byte-identical to A's,
//! and separately how much of it went to B's start-up and websocket connect.

use tinyssb_sim as sim;

mod common;

use std::time::Duration;

use common::{
    free_port, median_min, ms, poll_until, runs, wait_listening, write_datadir, LogWatch, Pub, POLL,
};

const FEEDS: u64 = 5;
const ENTRIES: u32 = 20;

fn main() {
    let runs = runs(5);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source");
    let mut store = sim::Corpus::new(FEEDS, ENTRIES).chains(30, 2048).build(&mut sim::Rng::new(5));
    write_datadir(&mut store, &source);

    let (mut total, mut connect) = (Vec::new(), Vec::new());
    let mut bytes = 0;
    for run in 0..runs {
        let (a_dir, b_dir) = (tmp.path().join(format!("a{run}")), tmp.path().join(format!("b{run}")));
        common::copy_dir(&source, &a_dir);
        let port = free_port();
        let a = Pub::spawn(&["-d", a_dir.to_str().expect("utf8"), &port.to_string()]);
        // B connects only once A accepts: its first attempt must not fall into the reconnect backoff.
        wait_listening(port);
        let mut watch = LogWatch::new(&a_dir, &b_dir);
        bytes = watch.total_bytes();
        let b = Pub::spawn(&["-d", b_dir.to_str().expect("utf8"), &format!("ws://127.0.0.1:{port}")]);
        let done = poll_until(Duration::from_secs(60), POLL, || watch.caught_up());
        let took = b.spawned.elapsed();
        assert!(done, "run {run}: B did not catch up within 60 s");
        let up = b.up_after().unwrap_or(took);
        println!("  run {run}: caught up {} after spawn (websocket up after {})", ms(took), ms(up));
        total.push(took);
        connect.push(up);
        drop(b);
        drop(a);
    }
    let (med, min) = median_min(&total);
    let (cmed, cmin) = median_min(&connect);
    println!(
        "replicate_small {FEEDS}x{ENTRIES} ({} KiB of logs): median {} (min {}) over {runs} runs",
        bytes / 1024,
        ms(med),
        ms(min)
    );
    println!(
        "replicate_small {FEEDS}x{ENTRIES}: spawn to websocket up median {} (min {}), {:.0}% of the total",
        ms(cmed),
        ms(cmin),
        100.0 * cmed.as_secs_f64() / med.as_secs_f64()
    );
}
