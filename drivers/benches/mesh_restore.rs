//! A mesh of real `spub-mio` pubs on 127.0.0.x (release binaries): how long the mesh takes to
//! restore the replication factor after `r - 1` pubs die at once, and what keeping the mesh
//! costs each pub per minute (mesh packets and mesh-feed entries) against the data traffic of
//! the same run.
//!
//! Each run: 12 pubs from one seed (`--replicas 3`), a client brings 60 feeds × 20 entries to
//! one pub, the feeds spread to their holders (timed), the mesh idles for 30 s (maintenance
//! measured from the pubs' `/status.json`), then the two best holders of one feed are killed
//! at once and the time until every feed is back on 3 live holders is measured.
//! `BENCH_RUNS` sets the number of runs (default 3).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{free_port, median_min, mesh as census, poll_until, runs, write_datadir, Pub};
use tinyssb::mesh::hrw;
use tinyssb::FeedId;
use tinyssb_sim as sim;

const PUBS: usize = 12;
const REPLICAS: usize = 3;
const FEEDS: u64 = 60;
const ENTRIES: u32 = 20;
const IDLE: Duration = Duration::from_secs(30);
const PATIENCE: Duration = Duration::from_secs(120);

/// `/status.json` of the pub at `bind:port`, or `Null` if it does not answer.
fn status(bind: &str, port: u16) -> serde_json::Value {
    let fetch = || -> std::io::Result<String> {
        let mut s = TcpStream::connect((bind, port))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /status.json HTTP/1.0\r\nHost: x\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    let text = fetch().unwrap_or_default();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(serde_json::Value::Null)
}

/// Sums a mesh counter over the pubs that answer.
fn total(binds: &[String], port: u16, key: &str) -> u64 {
    binds.iter().map(|b| status(b, port)["mesh"][key].as_u64().unwrap_or(0)).sum()
}

struct Run {
    placed: Duration,
    restored: Duration,
    maintenance_per_pub_min: f64,
    maintenance_total: u64,
    data_total: u64,
}

fn one_run(root: &Path, client_src: &Path, feeds: &[(FeedId, u64)]) -> Run {
    let port = free_port();
    let seed = format!("ws://127.0.0.1:{port}");
    let binds: Vec<String> = (1..=PUBS).map(|n| format!("127.0.0.{n}")).collect();
    let dirs: Vec<PathBuf> = (1..=PUBS).map(|n| root.join(format!("p{n:02}"))).collect();
    let mut pubs: Vec<Option<Pub>> = (binds.iter().zip(&dirs))
        .map(|(bind, dir)| {
            let url = format!("ws://{bind}:{port}");
            let p = port.to_string();
            let args =
                ["-d", dir.to_str().expect("utf8"), &p, "--bind", bind, "--announce", &url, "--join", &seed];
            Some(Pub::spawn(&args))
        })
        .collect();
    let live_dirs = |pubs: &[Option<Pub>]| -> Vec<&Path> {
        dirs.iter().zip(pubs).filter(|(_, p)| p.is_some()).map(|(d, _)| d.as_path()).collect()
    };
    let formed = poll_until(PATIENCE, Duration::from_millis(100), || {
        binds.iter().all(|b| status(b, port)["mesh"]["live_pubs"].as_u64() == Some(PUBS as u64))
    });
    assert!(formed, "the mesh did not form");

    let client_dir = root.join("client");
    common::copy_dir(client_src, &client_dir);
    let client =
        Pub::spawn(&["-d", client_dir.to_str().expect("utf8"), &format!("ws://{}:{port}", binds[2])]);
    let t = Instant::now();
    let ok = poll_until(PATIENCE, Duration::from_millis(20), || {
        census::census(&live_dirs(&pubs), feeds, REPLICAS).short == 0
    });
    assert!(ok, "the feeds did not reach their holders");
    let placed = t.elapsed();
    drop(client);

    // Idle: what the mesh costs when nothing happens (sessions settle first).
    std::thread::sleep(Duration::from_secs(5));
    let before = total(&binds, port, "maintenance_bytes");
    std::thread::sleep(IDLE);
    let after = total(&binds, port, "maintenance_bytes");
    let maintenance_per_pub_min =
        (after.saturating_sub(before)) as f64 / PUBS as f64 * 60.0 / IDLE.as_secs_f64();

    // Kill the two best holders of the first feed at once.
    let ids: Vec<FeedId> = dirs.iter().filter_map(|d| census::pub_id(d)).collect();
    let victims = hrw::top(&feeds[0].0, &ids, REPLICAS - 1);
    for (d, p) in dirs.iter().zip(pubs.iter_mut()) {
        if census::pub_id(d).is_some_and(|id| victims.contains(&id)) {
            *p = None;
        }
    }
    let t = Instant::now();
    assert_eq!(census::census(&live_dirs(&pubs), feeds, REPLICAS).lost, 0, "a feed was lost");
    let ok = poll_until(PATIENCE, Duration::from_millis(20), || {
        census::census(&live_dirs(&pubs), feeds, REPLICAS).short == 0
    });
    assert!(ok, "the replication factor did not come back");
    let restored = t.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let live: Vec<String> =
        (binds.iter().zip(&pubs)).filter(|(_, p)| p.is_some()).map(|(b, _)| b.clone()).collect();
    let maintenance_total = total(&live, port, "maintenance_bytes");
    let data_total = total(&live, port, "data_bytes");
    Run { placed, restored, maintenance_per_pub_min, maintenance_total, data_total }
}

fn main() {
    let runs = runs(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let client_src = tmp.path().join("client-src");
    let mut store = sim::Corpus::new(FEEDS, ENTRIES).keys_from(900).build(&mut sim::Rng::new(21));
    write_datadir(&mut store, &client_src);
    let feeds: Vec<(FeedId, u64)> =
        sim::sorted_feeds(&store).into_iter().map(|f| (f, census::log_len(&client_src, &f))).collect();
    let mut results = Vec::new();
    for run in 0..runs {
        let root = tmp.path().join(format!("run{run}"));
        std::fs::create_dir_all(&root).expect("mkdir");
        let r = one_run(&root, &client_src, &feeds);
        println!(
            "  run {run}: placed {:.2} s, restored {:.2} s after killing {} of {PUBS}, idle mesh {:.0} B/pub/min, \
             whole run: mesh {} KiB vs data {} KiB",
            r.placed.as_secs_f64(),
            r.restored.as_secs_f64(),
            REPLICAS - 1,
            r.maintenance_per_pub_min,
            r.maintenance_total / 1024,
            r.data_total / 1024
        );
        results.push(r);
    }
    let (pmed, pmin) = median_min(&results.iter().map(|r| r.placed).collect::<Vec<_>>());
    let (rmed, rmin) = median_min(&results.iter().map(|r| r.restored).collect::<Vec<_>>());
    let mut idle: Vec<f64> = results.iter().map(|r| r.maintenance_per_pub_min).collect();
    idle.sort_by(f64::total_cmp);
    let mesh: u64 = results.iter().map(|r| r.maintenance_total).sum();
    let data: u64 = results.iter().map(|r| r.data_total).sum();
    println!("mesh_restore, {PUBS} pubs, r = {REPLICAS}, {FEEDS} feeds x {ENTRIES} entries, {runs} runs:");
    println!("| measure | median | min |");
    println!("|---|---|---|");
    println!(
        "| feeds on their holders after the client's upload | {:.2} s | {:.2} s |",
        pmed.as_secs_f64(),
        pmin.as_secs_f64()
    );
    println!(
        "| replication factor restored after {} pubs die | {:.2} s | {:.2} s |",
        REPLICAS - 1,
        rmed.as_secs_f64(),
        rmin.as_secs_f64()
    );
    println!(
        "| idle mesh maintenance per pub per minute | {:.0} B | {:.0} B |",
        idle[idle.len() / 2],
        idle[0]
    );
    println!(
        "whole runs: mesh maintenance {} KiB against {} KiB of data received, a ratio of {:.3}",
        mesh / 1024,
        data / 1024,
        mesh as f64 / data.max(1) as f64
    );
}
