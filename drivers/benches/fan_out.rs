//! Fan-out: `CLIENTS` (default 100, `BENCH_CLIENTS`) fresh `spub-mio` processes connect to one
//! pub A at once and each syncs a corpus of 20 feeds × 100 entries (30% with sidechains of up
//! to 2 KB) over loopback websockets. Measured per client: time from its spawn until its logs
//! are byte-identical to A's. Printed per run: the median and the slowest client, and the
//! ratio slowest / median (fairness; the goal is at most 2 and at most 3 s), plus the
//! ratio of the median to a single client syncing alone in the same run (the baseline).
//!
//! Every process shares this machine's cores: on 2 cores the clients' own signature checks
//! (100 × 2000 entries) dominate, so the absolute times say more about the machine than the pub;
//! the fairness ratio does not depend on that. `BENCH_CLIENT_DIR=/dev/shm` (any directory) puts
//! the clients' data directories there instead of next to A's, to take their fsyncs off the disk.

use tinyssb_sim as sim;

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, median_min, ms, runs, wait_listening, write_datadir, LogWatch, Pub};

const FEEDS: u64 = 20;
const ENTRIES: u32 = 100;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

/// Pub A serves a copy of `source` from `dir/a`; `clients` fresh pubs sync from it at once.
/// Returns each client's sync time, sorted, and the CPU time A used meanwhile.
fn fan_out(source: &Path, dir: &Path, clients: usize) -> (Vec<Duration>, Duration) {
    let a_dir = dir.join("a");
    let client_root = std::env::var("BENCH_CLIENT_DIR").map_or_else(
        |_| dir.to_path_buf(),
        |d| {
            let run = dir.file_name().and_then(|n| n.to_str()).unwrap_or("run");
            Path::new(&d).join(format!("fan_out-{}-{run}", std::process::id()))
        },
    );
    common::copy_dir(source, &a_dir);
    let port = free_port();
    let pub_threads = std::env::var("BENCH_PUB_VERIFY_THREADS").unwrap_or_else(|_| "0".into());
    let a = Pub::spawn(&[
        "-d",
        a_dir.to_str().expect("utf8"),
        "--max-per-ip",
        "0",
        "--verify-threads",
        &pub_threads,
        &port.to_string(),
    ]);
    wait_listening(port);
    let url = format!("ws://127.0.0.1:{port}");
    let mut watches: Vec<LogWatch> =
        (0..clients).map(|i| LogWatch::new(&a_dir, &client_root.join(format!("c{i}")))).collect();
    // The clients check signatures in their loops (`BENCH_CLIENT_VERIFY_THREADS`, default 0): a
    // pool per client would only add threads competing for the same two cores.
    let threads = std::env::var("BENCH_CLIENT_VERIFY_THREADS").unwrap_or_else(|_| "0".into());
    let procs: Vec<Pub> = (0..clients)
        .map(|i| {
            let d = client_root.join(format!("c{i}"));
            Pub::spawn(&[
                "-d",
                d.to_str().expect("utf8"),
                "--fsync",
                "batched",
                "--verify-threads",
                &threads,
                &url,
            ])
        })
        .collect();
    let mut done: Vec<Option<Duration>> = vec![None; clients];
    let end = Instant::now() + Duration::from_secs(300);
    while done.iter().any(Option::is_none) && Instant::now() < end {
        for (i, w) in watches.iter_mut().enumerate() {
            if done[i].is_none() && w.caught_up() {
                done[i] = Some(procs[i].spawned.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let a_cpu = a.cpu_time();
    drop(procs);
    drop(a);
    if client_root != dir {
        let _ = std::fs::remove_dir_all(&client_root);
    }
    let mut times: Vec<Duration> =
        done.into_iter().map(|d| d.expect("every client syncs within 300 s")).collect();
    times.sort();
    (times, a_cpu)
}

fn main() {
    let runs = runs(3);
    let clients = env_or("BENCH_CLIENTS", 100);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source");
    let mut full = sim::populated_store(&mut sim::Rng::new(7), 0, FEEDS, ENTRIES, 30, 2048);
    write_datadir(&mut full, &source);
    if let Ok(keep) = std::env::var("BENCH_KEEP_SOURCE") {
        // A copy of the corpus to run pubs on by hand.
        common::copy_dir(&source, Path::new(&keep));
    }
    println!("fan_out: {clients} fresh clients sync {FEEDS}x{ENTRIES} from one pub at once");
    let (mut alone, mut medians, mut slowest, mut fairness) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let single = fan_out(&source, &tmp.path().join(format!("s{run}")), 1).0[0];
        let (times, a_cpu) = fan_out(&source, &tmp.path().join(format!("f{run}")), clients);
        let (median, slow) = (times[times.len() / 2], times[times.len() - 1]);
        println!(
            "  run {run}: one client alone {}; {clients} clients: fastest {}, median {}, slowest {} \
             (slowest / median {:.2}, median / alone {:.2}); the pub used {} of CPU",
            ms(single),
            ms(times[0]),
            ms(median),
            ms(slow),
            slow.as_secs_f64() / median.as_secs_f64(),
            median.as_secs_f64() / single.as_secs_f64(),
            ms(a_cpu)
        );
        alone.push(single);
        medians.push(median);
        slowest.push(slow);
        fairness.push(slow.as_secs_f64() / median.as_secs_f64());
        // The next run starts from empty directories; drop this run's to spare the disk.
        let _ = std::fs::remove_dir_all(tmp.path().join(format!("s{run}")));
        let _ = std::fs::remove_dir_all(tmp.path().join(format!("f{run}")));
    }
    fairness.sort_by(f64::total_cmp);
    let ((a, _), (m, _), (s, _)) = (median_min(&alone), median_min(&medians), median_min(&slowest));
    println!(
        "fan_out {clients} clients {FEEDS}x{ENTRIES}, medians over {runs} runs: alone {}, median client {}, \
         slowest client {}; slowest / median {:.2} (goal <= 2, slowest <= 3 s), median / alone {:.2}",
        ms(a),
        ms(m),
        ms(s),
        fairness[fairness.len() / 2],
        m.as_secs_f64() / a.as_secs_f64()
    );
}
