//! A node that joins after another has already synced with the same peer catches up at once,
//! not at the peer's next periodic GOset round (claims already answered for the first joiner
//! are answered again for the new one).
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;
use tinyssb_sim::{seed, Corpus, LinkSpec, Scenario};

#[test]
fn second_empty_node_joining_later_syncs_at_once() {
    let mut sim = Scenario::catch_up(seed(12), Corpus::new(5, 10).chains(30, 600), LinkSpec::reliable(5))
        .offline("c", Config::default(), MemStore::default())
        .build();
    let [a, b, c] = sim.ids(["a", "b", "c"]);
    sim.converge(&[a, b], Duration::from_secs(60));
    sim.run_for(Duration::from_secs(1));
    sim.start(c);
    let start = sim.now;
    sim.link(a, c, LinkSpec::reliable(5));
    let t = sim.converge(&[a, c], Duration::from_secs(60));
    let took = t.0 - start.0;
    println!("the late joiner converged after {took} ms virtual (5 ms links)");
    assert!(took < 1000, "the late joiner waited {took} ms: for a periodic round?");
    sim.assert_same_contents(&[c, a]);
}
