//! Engine catch-up: two simulated nodes, one holding 20 feeds × 1000 entries (30% with
//! sidechains of up to 2 KB), the other empty. Measured in entries/s of wall-clock, next to
//! single-signature verification measured in the same run (the baseline the engine should
//! approach: signature checking dominates and nothing else does), and batch verification of the
//! same entries (the best the engine's batched checks can do).
#![allow(clippy::disallowed_methods)]

#[path = "../tests/sim/mod.rs"]
#[allow(unused_imports)]
mod sim;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sim::{converged, populated_store, LinkSpec, Sim};
use tinyssb::crypto::{verify_batch, PublicKey};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb::Seq;

const FEEDS: u64 = 20;
const ENTRIES: u32 = 1000;

fn catch_up(c: &mut Criterion) {
    let mut rng = sim::Rng::new(7);
    let mut full = populated_store(&mut rng, 0, FEEDS, ENTRIES, 30, 2048);
    let total = u64::from(ENTRIES) * FEEDS;

    // Baseline: verify every entry of the first feed one by one with a cached key.
    let fid = full.feeds()[0];
    let key = PublicKey::from_feed_id(&fid).expect("key");
    let mut checks = Vec::new();
    let mut prev = fid.genesis_prev();
    for s in 1..=ENTRIES {
        let e = full.read_entry(&fid, Seq(s)).expect("read").expect("entry");
        checks.push((e, Seq(s), prev));
        prev = e.msg_id(&fid, Seq(s), &prev);
    }
    let mut g = c.benchmark_group("catch_up");
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(ENTRIES)));
    g.bench_function("verify_single_baseline", |b| {
        b.iter(|| {
            for (e, s, p) in &checks {
                assert!(e.verify(&key, &fid, *s, p).is_ok());
            }
        });
    });
    // Second baseline: the same entries through ed25519 batch verification, 64 at a time (what
    // the engine's batches do at best).
    let msgs: Vec<[u8; 122]> = checks.iter().map(|(e, s, p)| e.signed_message(&fid, *s, p)).collect();
    let sigs: Vec<[u8; 64]> = checks.iter().map(|(e, _, _)| e.signature()).collect();
    g.bench_function("verify_batch64_baseline", |b| {
        b.iter(|| {
            for (m, s) in msgs.chunks(64).zip(sigs.chunks(64)) {
                let refs: Vec<&[u8]> = m.iter().map(<[u8; 122]>::as_slice).collect();
                assert!(verify_batch(&refs, s, &vec![key; s.len()]));
            }
        });
    });
    g.throughput(Throughput::Elements(total));
    g.bench_function("engine_20x1000", |b| {
        b.iter_batched(
            || full.clone(),
            |store| {
                let mut sim = Sim::new(1);
                let a = sim.add_node(Config::default(), store);
                let n = sim.add_node(Config::default(), MemStore::default());
                sim.link(a, n, LinkSpec::reliable(1));
                let t =
                    sim.run_until(Duration::from_secs(3600), |s| converged(s, &[a, n])).expect("converges");
                (t, sim.delivered)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();

    // Virtual time and packets for the record (printed once).
    let mut sim = Sim::new(1);
    let a = sim.add_node(Config::default(), full.clone());
    let n = sim.add_node(Config::default(), MemStore::default());
    sim.link(a, n, LinkSpec::reliable(1));
    let t = sim.run_until(Duration::from_secs(3600), |s| converged(s, &[a, n])).expect("converges");
    println!(
        "catch_up: {total} entries in {} ms of virtual time over 1 ms links, {} packets delivered",
        t.0, sim.delivered
    );
}

criterion_group!(benches, catch_up);
criterion_main!(benches);
