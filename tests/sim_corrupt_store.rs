//! Stored data is never served unverified: an entry damaged on disk (a flipped signature bit)
//! is caught before it is served, quarantined with everything after it, and fetched again, so a
//! pub with a damaged copy and an intact peer ends with an intact copy, and nobody downstream
//! ever sees the damage.
mod sim;

use sim::{contents, converged, copy_altered, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::{Config, Event};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb::Seq;

/// A copy of `master` in which entry `bad` of the first feed has one flipped signature bit, as a
/// bad disk would leave it (the store's own bookkeeping, its frontier, is intact).
fn damaged(master: &mut MemStore, bad: u32) -> MemStore {
    copy_altered(
        master,
        |_| Some(u32::MAX),
        |i, seq, e| {
            if i == 0 && seq == bad {
                e.0[100] ^= 0x10;
            }
        },
    )
}

#[test]
fn a_damaged_pub_quarantines_refetches_and_never_serves_the_damage() {
    let seed = seed(21);
    let mut sim = Sim::new(seed);
    let mut master = populated_store(&mut sim.rng, 0, 3, 20, 30, 1000);
    let fid0 = {
        let mut f = master.feeds();
        f.sort();
        f[0]
    };
    let broken = damaged(&mut master, 5);
    let a = sim.add_node(Config::default(), broken);
    let b = sim.add_node(Config::default(), MemStore::default());
    sim.link(a, b, LinkSpec::reliable(2));
    // First B fetches only from the damaged A: it gets the intact prefix and nothing after it.
    sim.run_for(Duration::from_secs(30));
    let front_b = sim.node(b).store().frontier(&fid0).map_or(0, |f| f.seq.0);
    assert_eq!(front_b, 4, "B got the prefix before the damage and nothing else");
    let quarantined: Vec<_> = sim.events[a]
        .iter()
        .filter_map(|e| match e {
            Event::Quarantined { fid, from, .. } => Some((*fid, *from)),
            _ => None,
        })
        .collect();
    assert_eq!(quarantined, vec![(fid0, Seq(5))]);
    assert_eq!(sim.node(b).stats().dropped_total(), 0, "A never sent B the damaged entry");
    // Then an intact pub C appears next to A: A fetches the feed again and so does B.
    let c = sim.add_node(Config::default(), master.clone());
    sim.link(a, c, LinkSpec::reliable(2));
    sim.run_until(Duration::from_secs(120), |s| converged(s, &[a, b, c])).expect("converges");
    let expected = contents(&mut master);
    for n in [a, b] {
        let mut store = sim.node(n).store().clone();
        assert!(contents(&mut store) == expected, "node {n} does not hold the intact feeds (seed {seed})");
    }
    assert!(sim.node(a).stats().entries_audited > 0);
}
