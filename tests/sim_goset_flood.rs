//! A malicious peer floods honest nodes with fake feed ids (novelties and claims). The ids take
//! no store feed, expire, and never lock the GOset: honest feeds keep replicating.
use tinyssb::node::{Admission, Config};
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb::FeedId;
use tinyssb_sim::{converged, key, seed, Adversary, Attack, Corpus, LinkSpec, Scenario, Sim};

const TTL: Duration = Duration::from_secs(120);

fn config() -> Config {
    let admission =
        Admission { unconfirmed_ttl: TTL, quarantine: Duration(2 * TTL.0), ..Admission::default() };
    Config { admission, goset_cap: 100, ..Config::default() }
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

/// A holds 3 feeds, B has synced them; Mallory has a link into B and floods it with `n` fake
/// ids. Returns the network, A, B and the fakes.
fn synced_pair_flooded(seed: u64, n: usize) -> (Sim, usize, usize, Vec<FeedId>) {
    let mut sim = Scenario::new(seed)
        .populated_with("a", config(), Corpus::new(3, 10).chains(30, 400))
        .node("b", config(), Default::default())
        .link("a", "b", LinkSpec::reliable(5))
        .attacker("mallory", "b", LinkSpec::reliable(5))
        .build();
    let [a, b, m] = sim.ids(["a", "b", "mallory"]);
    sim.converge(&[a, b], Duration::from_secs(60));
    let mut mallory: Adversary = sim.adversary(m);
    let ids = mallory.fake_ids(n);
    mallory.perform(&mut sim, &Attack::FakeIds(ids.clone()));
    (sim, a, b, ids)
}

/// 90 fakes: the set does not fill, the fakes spread as unconfirmed ids, and a new honest feed
/// and a newcomer's feeds still replicate; after the ttl the fakes are gone everywhere.
#[test]
fn fake_id_flood_below_the_cap_does_not_stop_replication() {
    let (mut sim, a, b, ids) = synced_pair_flooded(seed(21), 90);
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
    let own = Corpus::new(2, 5).keys_from(100).build(&mut sim.rng);
    let c = sim.add_named("c", config(), own);
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
    let (mut sim, a, b, ids) = synced_pair_flooded(seed(22), 150);
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
