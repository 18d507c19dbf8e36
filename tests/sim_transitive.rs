//! Three nodes converge transitively when A and C are never up at the same time.
mod sim;

use sim::{contents, converged, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;

#[test]
fn a_to_c_through_b_without_overlap() {
    let seed = seed(3);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 3, 15, 30, 1000);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    let c = sim.add_node(Config::default(), MemStore::default());
    let stored_c = sim.stop(c);
    let ab = sim.link(a, b, LinkSpec::reliable(10));
    sim.run_until(Duration::from_secs(300), |s| converged(s, &[a, b])).expect("A and B converge");
    // A leaves for good before C ever starts.
    sim.set_link(ab, false);
    let mut master = sim.stop(a);
    sim.restart(c, stored_c);
    sim.link(b, c, LinkSpec::reliable(10));
    sim.run_until(Duration::from_secs(300), |s| converged(s, &[b, c])).expect("B and C converge");
    let mut sc = sim.node(c).store().clone();
    assert_eq!(contents(&mut sc), contents(&mut master));
}
