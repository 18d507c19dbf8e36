//! Three nodes converge transitively when A and C are never up at the same time.
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;
use tinyssb_sim::{contents, seed, Corpus, LinkSpec, Scenario};

#[test]
fn a_to_c_through_b_without_overlap() {
    let mut sim = Scenario::catch_up(seed(3), Corpus::new(3, 15).chains(30, 1000), LinkSpec::reliable(10))
        .offline("c", Config::default(), MemStore::default())
        .build();
    let [a, b, c] = sim.ids(["a", "b", "c"]);
    sim.converge(&[a, b], Duration::from_secs(300));
    // A leaves for good before C ever starts.
    let ab = sim.link_between(a, b).expect("linked");
    sim.set_link(ab, false);
    let mut master = sim.stop(a);
    sim.start(c);
    sim.link(b, c, LinkSpec::reliable(10));
    sim.converge(&[b, c], Duration::from_secs(300));
    assert_eq!(sim.contents(c), contents(&mut master));
}
