//! A node that joins after another has already synced with the same peer catches up at once,
//! not at the peer's next periodic GOset round (claims already answered for the first joiner
//! are answered again for the new one).
mod sim;

use sim::{contents, converged, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;

#[test]
fn second_empty_node_joining_later_syncs_at_once() {
    let seed = seed(12);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 5, 10, 30, 600);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    let c = sim.add_node(Config::default(), MemStore::default());
    let stored_c = sim.stop(c);
    sim.link(a, b, LinkSpec::reliable(5));
    sim.run_until(Duration::from_secs(60), |s| converged(s, &[a, b])).expect("A and B converge");
    sim.run_for(Duration::from_secs(1));
    sim.restart(c, stored_c);
    let start = sim.now;
    sim.link(a, c, LinkSpec::reliable(5));
    let t = sim.run_until(Duration::from_secs(60), |s| converged(s, &[a, c])).expect("A and C converge");
    let took = t.0 - start.0;
    println!("the late joiner converged after {took} ms virtual (5 ms links)");
    assert!(took < 1000, "the late joiner waited {took} ms: for a periodic round?");
    let mut sc = sim.node(c).store().clone();
    let mut sa = sim.node(a).store().clone();
    assert_eq!(contents(&mut sc), contents(&mut sa));
}
