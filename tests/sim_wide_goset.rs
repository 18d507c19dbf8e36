//! Past the 100-feed wall: nodes of this implementation exchange their whole GOset in the wide
//! format, while a deployed-style peer (one classic set of at most 100 ids, no wide format) gets
//! a set it can hold, and the feeds it asks for.
use tinyssb::node::{Config, FaceId};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb_sim::{seed, Corpus, LinkSpec, Scenario};

/// A node that behaves like the deployed peers: one classic set of at most 100 ids.
fn deployed() -> Config {
    Config { wide_goset: false, goset_cap: 100, ..Config::default() }
}

fn entries(store: &MemStore) -> usize {
    store.feeds().iter().filter_map(|f| store.frontier(f)).map(|f| f.seq.0 as usize).sum()
}

#[test]
fn ten_thousand_feeds_replicate_between_two_new_nodes() {
    const FEEDS: u64 = 10_000;
    let mut sim = Scenario::new(seed(11))
        .populated("a", Corpus::new(FEEDS, 1).keys_from(1))
        .empty("b")
        .link("a", "b", LinkSpec::reliable(10))
        .build();
    let [a, b] = sim.ids(["a", "b"]);
    let link = FaceId(sim.link_between(a, b).expect("linked") as u64);
    let set = sim
        .run_until(Duration::from_secs(60), |s| s.node(b).goset().len() == FEEDS as usize)
        .expect("B learns every id within a minute");
    let done = sim
        .run_until(Duration::from_secs(60), |s| entries(s.node(b).store()) == FEEDS as usize)
        .expect("every feed reaches B");
    println!("B's set complete after {} ms, its {FEEDS} feeds after {} ms of virtual time", set.0, done.0);
    assert_eq!(sim.node(b).goset().keys(), sim.node(a).goset().keys());
    assert_eq!(sim.node(a).face_is_wide(link), Some(true));
    assert_eq!(sim.node(b).face_is_wide(link), Some(true));
}

#[test]
fn a_deployed_peer_in_a_mixed_network_gets_a_set_it_can_hold() {
    // A new pub with 150 feeds, a second new pub with none, and a deployed-style node with 5 of
    // its own; the deployed node hangs off the first pub.
    let mut sim = Scenario::new(seed(12))
        .populated("a", Corpus::new(150, 2).keys_from(1).chains(10, 300))
        .empty("b")
        .populated_with("o", deployed(), Corpus::new(5, 2).keys_from(1000))
        .link("a", "b", LinkSpec::reliable(10))
        .link("a", "o", LinkSpec::reliable(20))
        .build();
    let [a, b, o] = sim.ids(["a", "b", "o"]);
    let ab = FaceId(sim.link_between(a, b).expect("linked") as u64);
    let ao = FaceId(sim.link_between(a, o).expect("linked") as u64);
    let done = sim.run_until(Duration::from_secs(300), |s| {
        let (a, b, o) = (s.node(a), s.node(b), s.node(o));
        let o_done = (o.goset().keys().iter()).all(|k| {
            o.store().frontier(k).is_some_and(|f| f.seq.0 == 2) && o.store().pending_chains(k).is_empty()
        });
        a.store().feeds().len() == 155 && b.store().feeds().len() == 155 && o.goset().len() == 100 && o_done
    });
    let done = done.expect("the new pubs hold every feed, the deployed node a full set of complete feeds");
    println!("converged after {} ms of virtual time", done.0);
    let (na, nb, no) = (sim.node(a), sim.node(b), sim.node(o));
    assert_eq!(na.face_is_wide(ab), Some(true));
    assert_eq!(na.face_is_wide(ao), Some(false), "the deployed node never answered wide");
    // What A keeps towards the deployed node is exactly the deployed node's set.
    assert_eq!(na.face_goset(ao).map(|g| g.keys().to_vec()), Some(no.goset().keys().to_vec()));
    assert_eq!(no.goset().len(), 100, "never more than it can hold");
    assert_eq!(nb.goset().len(), 155);
    // The deployed node's own feeds reached the other new pub through A.
    for fid in no.store().feeds() {
        assert!(nb.store().frontier(&fid).is_some_and(|f| f.seq.0 == 2));
    }
}
