//! A GOset of 100 keys split 50/50 between two nodes converges.
mod sim;

use sim::{key, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;

fn store_with(keys: impl Iterator<Item = u64>) -> MemStore {
    let mut s = MemStore::default();
    for k in keys {
        s.add_feed(key(k).feed_id()).expect("add");
    }
    s
}

fn split_converges(total: u64, limit_ms: u64) -> u64 {
    let seed = seed(7 + total);
    let mut sim = Sim::new(seed);
    let a = sim.add_node(Config::default(), store_with((0..total).filter(|k| k % 2 == 0)));
    let b = sim.add_node(Config::default(), store_with((0..total).filter(|k| k % 2 == 1)));
    sim.link(a, b, LinkSpec::reliable(10));
    let t = sim
        .run_until(Duration(limit_ms), |s| {
            s.node(a).goset().len() == total as usize
                && s.node(a).goset().state() == s.node(b).goset().state()
        })
        .unwrap_or_else(|| panic!("GOset of {total} keys did not converge (seed {seed})"));
    assert_eq!(sim.node(a).goset().keys(), sim.node(b).goset().keys());
    t.0
}

#[test]
fn twenty_keys_agree_in_a_handful_of_round_trips() {
    let t = split_converges(20, 600_000);
    println!("20 keys split 10/10 agreed after {t} ms virtual (10 ms links)");
    // A round trip is 20 ms; the reference needs ~180 s here.
    assert!(t <= 300, "took {t} ms");
}

#[test]
fn hundred_keys_split_in_half_converge() {
    let t = split_converges(100, 60_000);
    println!("100 keys split 50/50 agreed after {t} ms virtual (10 ms links)");
    // The reference's 15 s rounds would need many minutes; we stay well under one round.
    assert!(t <= 3_000, "took {t} ms");
}
