//! Sidechain throughput for 64 KiB of content: building (hashing back to front,
//! plus one signature) and checking (reassembly along the hash chain).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tinyssb::crypto::Keypair;
use tinyssb::feed::{author_chain20, reassemble, ChainCursor};
use tinyssb::store::Frontier;
use tinyssb::Seq;

const LEN: usize = 64 * 1024;

fn bench(c: &mut Criterion) {
    let key = Keypair::from_seed(&[3; 32]);
    let at = Frontier { seq: Seq(0), prev: key.feed_id().genesis_prev() };
    let content: Vec<u8> = (0..LEN).map(|i| (i * 7) as u8).collect();
    let a = author_chain20(&key, &at, &content).unwrap_or_else(|e| panic!("{e}"));

    let mut g = c.benchmark_group("sidechain_64k");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.bench_function("build", |b| b.iter(|| author_chain20(&key, &at, black_box(&content))));
    g.bench_function("reassemble", |b| b.iter(|| reassemble(black_box(&a.entry), black_box(&a.chunks))));
    g.bench_function("cursor_one_at_a_time", |b| {
        b.iter(|| {
            let mut cur = ChainCursor::from_entry(black_box(&a.entry)).unwrap_or_else(|e| panic!("{e}"));
            for ch in &a.chunks {
                cur = cur.accept(ch).unwrap_or_else(|e| panic!("{e}"));
            }
            cur.is_complete()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
