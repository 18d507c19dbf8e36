//! Store benchmarks: appends (fsync per write vs batched), random reads vs a raw positioned
//! read, and opening a data directory of 100 feeds x 10 000 entries.
//!
//! Entries carry the right DMX chain (the store checks it) but no valid signature: signatures
//! are the engine's business and never looked at by the store.

// Benchmarks measure wall-clock time themselves; the clock ban is for the sans-IO core.
#![allow(clippy::disallowed_methods)]

use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tinyssb::store::fs::{Durability, FsConfig, FsStore};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::wire::entry::{entry_dmx, Entry};
use tinyssb::{FeedId, MsgId, Seq};

/// `n` plain48 entries of feed `fid` with a correct DMX chain.
fn chain(fid: &FeedId, n: u32) -> Vec<(Entry, MsgId)> {
    let mut prev = fid.genesis_prev();
    (1..=n)
        .map(|s| {
            let mut wire = [0u8; 120];
            wire[..7].copy_from_slice(&entry_dmx(fid, Seq(s), &prev).0);
            wire[8..12].copy_from_slice(&s.to_be_bytes());
            let e = Entry(wire);
            let id = e.msg_id(fid, Seq(s), &prev);
            prev = id;
            (e, id)
        })
        .collect()
}

fn fid(i: u32) -> FeedId {
    let mut b = [0x5a; 32];
    b[..4].copy_from_slice(&i.to_be_bytes());
    FeedId(b)
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(1)).sample_size(10);
    let configs =
        [("fsync_each", Durability::EveryWrite), ("batched_1000", Durability::Batched { every: 1000 })];
    for (name, durability) in configs {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
                let config = FsConfig { durability, ..FsConfig::default() };
                let mut store = FsStore::open(tmp.path(), config).unwrap_or_else(|e| panic!("{e}"));
                let f = fid(0);
                store.add_feed(f).unwrap_or_else(|e| panic!("{e}"));
                let entries = chain(&f, iters as u32);
                let t = Instant::now();
                for (e, id) in &entries {
                    store.append_entry(&f, e, *id).unwrap_or_else(|e| panic!("{e}"));
                }
                store.sync().unwrap_or_else(|e| panic!("{e}"));
                t.elapsed()
            });
        });
    }
    g.bench_function("mem", |b| {
        b.iter_custom(|iters| {
            let mut store = MemStore::new();
            let f = fid(0);
            let _ = store.add_feed(f);
            let entries = chain(&f, iters as u32);
            let t = Instant::now();
            for (e, id) in &entries {
                let _ = store.append_entry(&f, e, *id);
            }
            t.elapsed()
        });
    });
    g.finish();
}

fn random_reads(c: &mut Criterion) {
    const N: u32 = 100_000;
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = FsConfig { durability: Durability::Batched { every: u32::MAX }, ..FsConfig::default() };
    let mut store = FsStore::open(tmp.path(), config).unwrap_or_else(|e| panic!("{e}"));
    let f = fid(1);
    let _ = store.add_feed(f);
    for (e, id) in chain(&f, N) {
        store.append_entry(&f, &e, id).unwrap_or_else(|e| panic!("{e}"));
    }
    store.sync().unwrap_or_else(|e| panic!("{e}"));
    let raw =
        std::fs::File::open(tmp.path().join(f.to_hex()).join("log.bin")).unwrap_or_else(|e| panic!("{e}"));
    // A fixed pseudo-random walk over the seqs, shared by both benchmarks.
    let seqs: Vec<u32> =
        (0..4096u64).map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % u64::from(N)) as u32 + 1).collect();
    let mut g = c.benchmark_group("read_100k");
    g.throughput(Throughput::Elements(1));
    g.bench_function("fsstore_read_entry", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % seqs.len();
            black_box(store.read_entry(&f, Seq(seqs[i])).ok().flatten())
        });
    });
    g.bench_function("raw_pread_120", |b| {
        let mut i = 0;
        let mut buf = [0u8; 120];
        b.iter(|| {
            i = (i + 1) % seqs.len();
            // Records are 124 bytes here, so the offset of seq s is 124 * (s - 1).
            black_box(raw.read_exact_at(&mut buf, 124 * u64::from(seqs[i] - 1)).is_ok());
            black_box(buf[0])
        });
    });
    g.finish();
}

fn open_datadir(c: &mut Criterion) {
    const FEEDS: u32 = 100;
    const ENTRIES: u32 = 10_000;
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    {
        let config = FsConfig { durability: Durability::Batched { every: u32::MAX }, ..FsConfig::default() };
        let mut store = FsStore::open(tmp.path(), config).unwrap_or_else(|e| panic!("{e}"));
        for i in 0..FEEDS {
            let f = fid(100 + i);
            let _ = store.add_feed(f);
            for (e, id) in chain(&f, ENTRIES) {
                store.append_entry(&f, &e, id).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        store.sync().unwrap_or_else(|e| panic!("{e}"));
    }
    let mut g = c.benchmark_group("open");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    g.bench_function("100_feeds_x_10k_entries", |b| {
        b.iter(|| {
            let store = FsStore::open(tmp.path(), FsConfig::default()).unwrap_or_else(|e| panic!("{e}"));
            assert!(store.open_report().is_empty());
            black_box(store.feeds().len())
        });
    });
    g.finish();
}

criterion_group!(benches, append, random_reads, open_datadir);
criterion_main!(benches);
