//! A malicious peer floods honest nodes with fake feed ids (novelties and claims). The ids take
//! no store feed, expire, and never lock the GOset: honest feeds keep replicating.
mod sim;

use sim::{converged, key, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::{Admission, Config};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb::wire::goset::{Claim, GosetMsg};
use tinyssb::FeedId;

const TTL: Duration = Duration::from_secs(120);

fn config() -> Config {
    let admission =
        Admission { unconfirmed_ttl: TTL, quarantine: Duration(2 * TTL.0), ..Admission::default() };
    Config { admission, ..Config::default() }
}

/// `n` fake ids from `rng`.
fn fakes(rng: &mut sim::Rng, n: usize) -> Vec<FeedId> {
    (0..n)
        .map(|_| {
            let mut id = [0u8; 32];
            for b in id.iter_mut() {
                *b = rng.next_u64() as u8;
            }
            FeedId(id)
        })
        .collect()
}

/// Sends the fakes to `to` on `link`: odd ones as novelties, even ones in pairs as two-key claims.
fn flood(sim: &mut Sim, to: usize, link: usize, ids: &[FeedId]) {
    for pair in ids.chunks(2) {
        match pair {
            [a, b] => {
                let (lo, hi) = if a < b { (*a, *b) } else { (*b, *a) };
                let mut xor = lo.0;
                for (x, y) in xor.iter_mut().zip(hi.0) {
                    *x ^= y;
                }
                sim.inject(to, link, &GosetMsg::Claim(Claim { lo, hi, xor, count: 2 }).to_packet());
            }
            [a] => sim.inject(to, link, &GosetMsg::Novelty(*a).to_packet()),
            _ => {}
        }
    }
}

fn honest_only(sim: &Sim, nodes: &[usize], fakes: &[FeedId]) -> bool {
    nodes.iter().all(|&i| sim.node(i).goset().keys().iter().all(|k| !fakes.contains(k)))
}

fn no_fake_in_store(sim: &Sim, nodes: &[usize], fakes: &[FeedId]) {
    for &i in nodes {
        let feeds = sim.node(i).store().feeds();
        assert!(feeds.iter().all(|f| !fakes.contains(f)), "node {i} created a store feed for a fake id");
    }
}

/// A holds 3 feeds, B has synced them; `mb` is an attacker's link into B (its node never runs).
fn synced_pair_with_attacker(seed: u64) -> (Sim, usize, usize, usize) {
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 3, 10, 30, 400);
    let a = sim.add_node(config(), full);
    let b = sim.add_node(config(), MemStore::default());
    sim.link(a, b, LinkSpec::reliable(5));
    let m = sim.add_node(config(), MemStore::default());
    let mb = sim.link(m, b, LinkSpec::reliable(5));
    let _ = sim.stop(m);
    sim.run_until(Duration::from_secs(60), |s| converged(s, &[a, b])).expect("initial sync");
    (sim, a, b, mb)
}

/// 90 fakes: the set does not fill, the fakes spread as unconfirmed ids, and a new honest feed
/// and a newcomer's feeds still replicate; after the ttl the fakes are gone everywhere.
#[test]
fn fake_id_flood_below_the_cap_does_not_stop_replication() {
    let seed = seed(21);
    let (mut sim, a, b, mb) = synced_pair_with_attacker(seed);

    let mut rng = sim::Rng::new(seed ^ 0xf00d);
    let ids = fakes(&mut rng, 90);
    flood(&mut sim, b, mb, &ids);
    sim.run_for(Duration::from_secs(2));
    assert!(sim.node(b).goset().len() >= 93, "B took the fakes as unconfirmed ids");
    assert_eq!(sim.node(a).goset().keys(), sim.node(b).goset().keys(), "they spread to A");
    no_fake_in_store(&sim, &[a, b], &ids);

    // A new honest feed on A replicates to B while the fakes are in both sets.
    let author = key(50);
    let now = sim.now;
    sim.node_mut(a).publish(now, &author, b"hello despite the flood").expect("publish");
    let fid = author.feed_id();
    sim.run_until(Duration::from_secs(30), |s| {
        s.node(b).store().frontier(&fid).is_some_and(|f| f.seq.0 == 1)
    })
    .expect("the honest feed reaches B");

    // A newcomer with its own feeds gets B's and A's feeds, and they get its feeds.
    let own = populated_store(&mut sim.rng, 100, 2, 5, 0, 100);
    let c = sim.add_node(config(), own);
    sim.link(c, b, LinkSpec::reliable(5));
    sim.run_until(Duration::from_secs(60), |s| {
        converged(s, &[a, b, c]) && s.node(a).store().feeds().len() == 6
    })
    .expect("the newcomer's feeds replicate both ways");
    no_fake_in_store(&sim, &[a, b, c], &ids);

    // The fakes expire everywhere, and the sets agree on the honest feeds alone.
    sim.run_until(Duration::from_secs(360), |s| {
        honest_only(s, &[a, b, c], &ids)
            && s.node(a).goset().keys() == s.node(b).goset().keys()
            && s.node(b).goset().keys() == s.node(c).goset().keys()
    })
    .expect("fakes expire");
    assert_eq!(sim.node(b).goset().len(), 6);
    assert!(sim.events[b].iter().any(|e| matches!(e, tinyssb::node::Event::FeedForgotten(_))));
}

/// 150 fakes: B's set fills, the oldest fakes are evicted, and an honest feed published on A
/// afterwards still gets a slot on B and replicates; no fake ever gets a store feed. A and B
/// evicted different fakes, so their sets differ (and requests between them stall) until the
/// fakes expire: the honest feed arrives about one ttl after the flood, not never.
#[test]
fn fake_id_flood_beyond_the_cap_is_evicted_and_does_not_lock_the_set() {
    let seed = seed(22);
    let (mut sim, a, b, mb) = synced_pair_with_attacker(seed);

    let mut rng = sim::Rng::new(seed ^ 0xbeef);
    let ids = fakes(&mut rng, 150);
    flood(&mut sim, b, mb, &ids);
    assert_eq!(sim.node(b).goset().len(), 100, "full, but not locked");
    assert_eq!(sim.node(b).goset().confirmed_len(), 3);
    sim.run_for(Duration::from_secs(2));
    no_fake_in_store(&sim, &[a, b], &ids);

    let author = key(60);
    let now = sim.now;
    sim.node_mut(a).publish(now, &author, b"a new honest feed").expect("publish on a full set");
    let fid = author.feed_id();
    let start = sim.now;
    let done = sim
        .run_until(Duration::from_secs(360), |s| {
            s.node(b).store().frontier(&fid).is_some_and(|f| f.seq.0 == 1)
        })
        .expect("the honest feed gets a slot on B and replicates");
    println!("honest feed on B after {} ms of virtual time", done.saturating_since(start).0);
    assert!(done.saturating_since(start) < Duration(TTL.0 + 15_000), "within a ttl and a round");
    sim.run_until(Duration::from_secs(360), |s| honest_only(s, &[a, b], &ids) && converged(s, &[a, b]))
        .expect("fakes expire and the honest nodes agree");
    assert_eq!(sim.node(a).goset().keys(), sim.node(b).goset().keys());
    assert_eq!(sim.node(b).goset().len(), 4);
    no_fake_in_store(&sim, &[a, b], &ids);
}
