//! Memory of idle websocket connections: a `spub-mio` with an empty data directory listens;
//! the bench opens many websocket connections to it (blocking tungstenite handshakes) and
//! leaves them idle. The pub's VmRSS before and after gives the cost of one connection.

mod common;

use std::net::TcpStream;
use std::time::Duration;

use common::{free_port, poll_until, runs, wait_listening, Pub};
use tinyssb_drivers::ws::raise_fd_limit;

const CONNS: usize = 1000;

/// Polls the pub's RSS until it has not changed for `quiet` (or `limit` passes); returns it.
fn settled_rss(p: &Pub, quiet: Duration, limit: Duration) -> u64 {
    let step = Duration::from_millis(20);
    let mut last = p.rss_kib();
    let mut same = Duration::ZERO;
    poll_until(limit, step, || {
        let now = p.rss_kib();
        if now == last {
            same += step;
        } else {
            (last, same) = (now, Duration::ZERO);
        }
        same >= quiet
    });
    last
}

fn main() {
    let got = raise_fd_limit(CONNS as u64 + 64);
    let conns = CONNS.min(usize::try_from(got).unwrap_or(CONNS).saturating_sub(64));
    if conns < CONNS {
        println!("  (file descriptor limit {got}: opening only {conns} connections)");
    }
    let mut per_conn = Vec::new();
    let mut baseline = Vec::new();
    for run in 0..runs(3) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let max = (conns + 16).to_string();
        // All clients come from 127.0.0.1 and stay silent: lift the per-address limit.
        let dir = tmp.path().to_str().expect("utf8");
        let p = Pub::spawn(&["-d", dir, "--max-conns", &max, "--max-per-ip", "0", &port.to_string()]);
        wait_listening(port);
        let before = settled_rss(&p, Duration::from_millis(300), Duration::from_secs(5));
        let url = format!("ws://127.0.0.1:{port}/");
        let mut open = Vec::with_capacity(conns);
        for _ in 0..conns {
            let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            let (ws, _) = tungstenite::client(url.as_str(), tcp).expect("websocket handshake");
            open.push(ws);
        }
        // Every connection reported up by the pub, then its memory settled.
        let all_up = poll_until(Duration::from_secs(30), Duration::from_millis(10), || p.ups() >= conns);
        assert!(all_up, "only {} of {conns} connections came up", p.ups());
        let after = settled_rss(&p, Duration::from_millis(500), Duration::from_secs(10));
        let kib = (after.saturating_sub(before)) as f64 / conns as f64;
        println!(
            "  run {run}: RSS {before} KiB idle, {after} KiB with {conns} connections: {kib:.1} KiB each"
        );
        per_conn.push(kib);
        baseline.push(before);
        drop(open);
    }
    per_conn.sort_by(f64::total_cmp);
    baseline.sort();
    println!(
        "idle_memory {conns} websocket connections: median {:.1} KiB per connection (min {:.1}), \
         baseline RSS {} KiB, over {} runs",
        per_conn[per_conn.len() / 2],
        per_conn[0],
        baseline[baseline.len() / 2],
        per_conn.len()
    );
}
