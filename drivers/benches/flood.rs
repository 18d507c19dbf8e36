//! An honest catch-up under a WANT flood: a fresh `spub-mio` B fetches 20 feeds × 100 entries
//! (30% with sidechains of up to 2 KB) from pub A over loopback websockets, once with A idle
//! and once while 20 rogue websocket clients flood A with valid WANT requests for the whole
//! corpus as fast as they can write, half of them never reading and half reading 5 KiB/s.
//!
//! Measured in the same run, for both: B's time from spawn to byte-identical logs, and A's peak
//! RSS while B syncs (sampled every few milliseconds). Printed as medians over `BENCH_RUNS`
//! (default 3) and as ratios flood / no flood.

use tinyssb_sim as sim;

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::flood::{hello_packet, want_packet, Flood, Reading};
use common::{free_port, median_min, ms, poll_until, runs, wait_listening, write_datadir, LogWatch, Pub};

const FEEDS: u64 = 20;
const ENTRIES: u32 = 100;
const ROGUES: usize = 20;
/// How long the flood runs before B starts.
const HEAD_START: Duration = Duration::from_millis(300);

/// What one catch-up measured.
struct Run {
    took: Duration,
    peak_kib: u64,
    /// Bytes the rogues sent and received (0 without a flood).
    sent: u64,
    received: u64,
}

/// Pub A serves a copy of `source` from `a_dir`, flooded by `ROGUES` clients if `flood` (their
/// GOset hello and their WANT) is given; a fresh pub B fetches it into `b_dir`.
fn once(source: &Path, a_dir: &Path, b_dir: &Path, flood: Option<(&[u8], &[u8])>) -> Run {
    common::copy_dir(source, a_dir);
    let port = free_port();
    let a = Pub::spawn(&["-d", a_dir.to_str().expect("utf8"), "--bind", "127.0.0.1", &port.to_string()]);
    wait_listening(port);
    let flood = flood.map(|(hello, want)| {
        let f =
            Flood::start(
                port,
                hello,
                want,
                ROGUES,
                |i| if i % 2 == 0 { Reading::Never } else { Reading::Slow },
            );
        std::thread::sleep(HEAD_START);
        f
    });
    let mut peak_kib = a.rss_kib();
    let mut watch = LogWatch::new(a_dir, b_dir);
    let url = format!("ws://127.0.0.1:{port}");
    let b = Pub::spawn(&["-d", b_dir.to_str().expect("utf8"), "--fsync", "batched", &url]);
    let done = poll_until(Duration::from_secs(60), Duration::from_millis(5), || {
        peak_kib = peak_kib.max(a.rss_kib());
        watch.caught_up()
    });
    let took = b.spawned.elapsed();
    peak_kib = peak_kib.max(a.rss_kib());
    let (sent, received) = match flood {
        Some(f) => {
            let (sent, received, _) = f.stop();
            (sent, received)
        }
        None => (0, 0),
    };
    assert!(done, "B did not catch up within 60 s");
    Run { took, peak_kib, sent, received }
}

fn median_u64(xs: &[u64]) -> u64 {
    let mut v = xs.to_vec();
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let runs = runs(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source");
    let mut full = sim::Corpus::new(FEEDS, ENTRIES).chains(30, 2048).build(&mut sim::Rng::new(7));
    write_datadir(&mut full, &source);
    let (hello, want) = (hello_packet(&full), want_packet(&full));
    let bytes = LogWatch::new(&source, &source).total_bytes();

    let (mut calm, mut flooded) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = |name: &str| tmp.path().join(format!("{name}{run}"));
        let started = Instant::now();
        let c = once(&source, &dir("a"), &dir("b"), None);
        println!("  run {run}: no flood: B synced in {}, A's peak RSS {} KiB", ms(c.took), c.peak_kib);
        let f = once(&source, &dir("fa"), &dir("fb"), Some((&hello, &want)));
        println!(
            "  run {run}: {ROGUES} rogues flooding: B synced in {}, A's peak RSS {} KiB \
             (rogues sent {} KiB, received {} KiB; run took {:.1} s)",
            ms(f.took),
            f.peak_kib,
            f.sent >> 10,
            f.received >> 10,
            started.elapsed().as_secs_f64()
        );
        calm.push(c);
        flooded.push(f);
    }
    let times = |rs: &[Run]| median_min(&rs.iter().map(|r| r.took).collect::<Vec<_>>());
    let peaks = |rs: &[Run]| median_u64(&rs.iter().map(|r| r.peak_kib).collect::<Vec<_>>());
    let ((cmed, cmin), (fmed, fmin)) = (times(&calm), times(&flooded));
    let (cpeak, fpeak) = (peaks(&calm), peaks(&flooded));
    println!(
        "flood {FEEDS}x{ENTRIES} ({} KiB of logs), medians over {runs} runs: no flood: sync {} (min {}), \
         A's peak RSS {cpeak} KiB; {ROGUES} rogues flooding WANTs: sync {} (min {}), A's peak RSS {fpeak} KiB",
        bytes >> 10,
        ms(cmed),
        ms(cmin),
        ms(fmed),
        ms(fmin)
    );
    println!(
        "flood / no flood: sync time ratio {:.2}, A's peak RSS ratio {:.2}",
        fmed.as_secs_f64() / cmed.as_secs_f64(),
        fpeak as f64 / cpeak as f64
    );
}
