//! The same seed replays the identical packet trace.
mod sim;

use sim::{converged, populated_store, seed, LinkSpec, Sim, TraceItem};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;

fn run(seed: u64) -> Vec<TraceItem> {
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 3, 10, 30, 900);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    let c = sim.add_node(Config::default(), MemStore::default());
    sim.link(a, b, LinkSpec::lossy(20, 0.2));
    sim.link(b, c, LinkSpec::lossy(30, 0.2));
    sim.run_until(Duration::from_secs(3600), |s| converged(s, &[a, b, c])).expect("converges");
    sim.trace
}

#[test]
fn same_seed_same_trace() {
    let seed = seed(9);
    let first = run(seed);
    let second = run(seed);
    assert!(!first.is_empty());
    assert_eq!(first, second);
    let other = run(seed + 1);
    assert_ne!(first, other, "a different seed should give a different trace");
}
