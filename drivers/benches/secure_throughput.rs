//! Pub-to-pub throughput over a secure link (issue #14) against a plain one, in the same run:
//! two real `spub-mio` processes on loopback, A serving 10 feeds × 500 entries (30% with
//! sidechains of up to 2 KB), a fresh B fetching them over `ws://` (plain) or `noise+ws://`
//! (Noise XX, one sealed transport message per packet). Plain and secure runs alternate, so
//! the machine's load affects both alike. Prints entries/s of each and the ratio
//! secure/plain (the goal is at least 0.8), and, for scale, what sealing and opening alone
//! cost per packet.

use tinyssb_sim as sim;

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, median_min, ms, poll_until, runs, wait_listening, write_datadir, LogWatch, Pub};
use tinyssb::secure::{Handshake, SecureConfig, Side, StaticKey};

const FEEDS: u64 = 10;
const ENTRIES: u32 = 500;
const TOTAL: u64 = FEEDS * ENTRIES as u64;

/// One catch-up of a fresh B from A over a `scheme` link; returns its wall time from B's spawn.
fn replicate_once(source: &Path, tmp: &Path, name: &str, secure: bool) -> Duration {
    let (a_dir, b_dir) = (tmp.join(format!("{name}-a")), tmp.join(format!("{name}-b")));
    common::copy_dir(source, &a_dir);
    let port = free_port();
    let mut a_args = vec!["-d", a_dir.to_str().expect("utf8")];
    let port_s = port.to_string();
    a_args.push(&port_s);
    if secure {
        a_args.push("--secure");
    }
    let a = Pub::spawn(&a_args);
    wait_listening(port);
    let mut watch = LogWatch::new(&a_dir, &b_dir);
    let url = format!("{}ws://127.0.0.1:{port}", if secure { "noise+" } else { "" });
    let b = Pub::spawn(&["-d", b_dir.to_str().expect("utf8"), &url]);
    let done = poll_until(Duration::from_secs(600), Duration::from_millis(5), || watch.caught_up());
    let took = b.spawned.elapsed();
    assert!(done, "{name}: B did not catch up within 600 s");
    drop(b);
    drop(a);
    took
}

fn per_s(d: Duration) -> f64 {
    TOTAL as f64 / d.as_secs_f64()
}

/// Seals and opens `n` packets of 120 bytes on one link; returns the time per packet.
fn seal_open(n: u32) -> Duration {
    let cfg = |b: u8| Arc::new(SecureConfig::new(StaticKey::from_secret([b; 32]).expect("key")));
    let mut i = Handshake::new(Side::Initiator, cfg(1), [3; 32]).expect("initiator");
    let mut r = Handshake::new(Side::Responder, cfg(2), [4; 32]).expect("responder");
    for turn in 0..3 {
        let (from, to) = if turn % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
        let msg = from.poll_transmit().expect("message due");
        to.handle_message(&msg).expect("handshake");
    }
    let (mut li, mut lr) = (i.into_link().expect("link"), r.into_link().expect("link"));
    let pkt = [0x5a; 120];
    let started = Instant::now();
    for _ in 0..n {
        let sealed = li.seal(&pkt).expect("seal");
        let opened = lr.open(&sealed).expect("open");
        std::hint::black_box(opened);
    }
    started.elapsed() / n
}

fn main() {
    let runs = runs(3);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = tmp.path().join("source");
    let mut full = sim::populated_store(&mut sim::Rng::new(11), 0, FEEDS, ENTRIES, 30, 2048);
    write_datadir(&mut full, &source);
    let (_, entries, chunks) = sim::counts(&mut full);
    let (mut plain, mut secure) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // Alternate which goes first, so neither always finds a warmer cache.
        let order = if run % 2 == 0 { [false, true] } else { [true, false] };
        for s in order {
            let name = format!("{}{run}", if s { "secure" } else { "plain" });
            let took = replicate_once(&source, tmp.path(), &name, s);
            println!(
                "  run {run}: {:6} {} ({:.0} entries/s)",
                if s { "secure" } else { "plain" },
                ms(took),
                per_s(took)
            );
            if s { &mut secure } else { &mut plain }.push(took);
        }
    }
    let (pmed, pmin) = median_min(&plain);
    let (smed, smin) = median_min(&secure);
    println!(
        "secure_throughput {FEEDS}x{ENTRIES} ({entries} entries, {chunks} chunks): plain median {} (min {}) = \
         {:.0} entries/s; secure median {} (min {}) = {:.0} entries/s over {runs} runs",
        ms(pmed),
        ms(pmin),
        per_s(pmed),
        ms(smed),
        ms(smin),
        per_s(smed)
    );
    let ratio = pmed.as_secs_f64() / smed.as_secs_f64();
    // The fastest runs are the least disturbed by other load on the machine.
    let best = pmin.as_secs_f64() / smin.as_secs_f64();
    println!(
        "secure_throughput: throughput ratio secure/plain {ratio:.2} of medians, {best:.2} of the fastest \
         runs (goal >= 0.8){}",
        if ratio.min(best) >= 0.8 { "" } else { "  BELOW GOAL" }
    );
    let per_packet = seal_open(100_000);
    println!(
        "secure_throughput: sealing + opening one 120-byte packet takes {:.2} us ({:.0} packets/s on one core)",
        per_packet.as_secs_f64() * 1e6,
        1.0 / per_packet.as_secs_f64()
    );
}
