//! Entry signature verification throughput: one by one (with and without a cached
//! public key) against `crypto::verify_batch` over 64 entries.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tinyssb::crypto::{verify_batch, Keypair, PublicKey};
use tinyssb::feed::author_chain20;
use tinyssb::store::Frontier;
use tinyssb::wire::entry::{Entry, NAME_LEN};
use tinyssb::{FeedId, MsgId, Seq};

const N: usize = 64;

/// 64 entries from 8 feeds, with the values a receiver needs to check them.
fn entries() -> Vec<(FeedId, Seq, MsgId, Entry)> {
    let mut out = Vec::with_capacity(N);
    for f in 0..8u8 {
        let key = Keypair::from_seed(&[f; 32]);
        let mut at = Frontier { seq: Seq(0), prev: key.feed_id().genesis_prev() };
        for i in 0..N / 8 {
            let a = author_chain20(&key, &at, &[i as u8; 40]).unwrap_or_else(|e| panic!("{e}"));
            out.push((key.feed_id(), a.frontier.seq, at.prev, a.entry));
            at = a.frontier;
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let es = entries();
    let keys: Vec<PublicKey> = es.iter().filter_map(|(fid, ..)| PublicKey::from_feed_id(fid)).collect();
    let msgs: Vec<[u8; NAME_LEN + 56]> =
        es.iter().map(|(fid, seq, prev, e)| e.signed_message(fid, *seq, prev)).collect();
    let msg_refs: Vec<&[u8]> = msgs.iter().map(<[u8; 122]>::as_slice).collect();
    let sigs: Vec<[u8; 64]> = es.iter().map(|(.., e)| e.signature()).collect();

    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("one_by_one_cached_key", |b| {
        b.iter(|| {
            for ((fid, seq, prev, e), pk) in es.iter().zip(&keys) {
                assert!(e.verify(pk, fid, *seq, prev).is_ok());
            }
        });
    });
    g.bench_function("one_by_one_parse_key", |b| {
        b.iter(|| {
            for (fid, seq, prev, e) in &es {
                let pk = PublicKey::from_feed_id(black_box(fid)).unwrap_or_else(|| panic!("bad key"));
                assert!(e.verify(&pk, fid, *seq, prev).is_ok());
            }
        });
    });
    g.bench_function("batch_64_cached_keys", |b| {
        b.iter(|| assert!(verify_batch(black_box(&msg_refs), &sigs, &keys)));
    });
    g.bench_function("batch_64_parse_keys", |b| {
        b.iter(|| {
            let keys: Vec<PublicKey> =
                es.iter().filter_map(|(fid, ..)| PublicKey::from_feed_id(black_box(fid))).collect();
            assert!(verify_batch(&msg_refs, &sigs, &keys));
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
