//! BIPF and request-vector encode/decode speed.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use tinyssb::wire::bipf::{self, Value};
use tinyssb::wire::request::{RequestVector, WantVector};
use tinyssb::Seq;

fn want20() -> WantVector {
    WantVector { offset: 7, seqs: (0..20).map(|i| Seq(1 + i * 997)).collect() }
}

/// A frontier-like dict with two pending sidechains.
fn frontier() -> Value {
    let pending = |seq: i64, got: i64, left: i64, fill: u8, pos: i64| {
        (
            Value::Int(seq),
            Value::List(vec![
                Value::Int(got),
                Value::Int(left),
                Value::Bytes(vec![fill; 20]),
                Value::Int(pos),
            ]),
        )
    };
    Value::Dict(vec![
        (
            Value::from("pend_sc"),
            Value::Dict(vec![
                pending(200, 0, 21, 0x22, 70_000),
                pending(100_000, 17, 3, 0x33, 3_000_000_000),
            ]),
        ),
        (Value::from("max_seq"), Value::Int(100_000)),
        (Value::from("max_pos"), Value::Int(3_000_000_484)),
        (Value::from("prev"), Value::Bytes(vec![0x44; 20])),
    ])
}

fn bench(c: &mut Criterion) {
    let want = want20();
    let want_bytes = want.encode();
    c.bench_function("want20/encode", |b| b.iter(|| black_box(&want).encode()));
    c.bench_function("want20/decode", |b| b.iter(|| WantVector::decode(black_box(&want_bytes))));
    let front = frontier();
    let front_bytes = bipf::encode(&front);
    c.bench_function("frontier/encode", |b| b.iter(|| bipf::encode(black_box(&front))));
    c.bench_function("frontier/decode", |b| b.iter(|| bipf::decode(black_box(&front_bytes))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
