//! A node restarted mid-sync from its store converges.
mod sim;

use sim::{contents, converged, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;

#[test]
fn restart_mid_sync_converges() {
    let seed = seed(6);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 5, 40, 30, 1500);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    // Slow link so the sync is still running when B stops.
    let mut spec = LinkSpec::reliable(20);
    spec.per_packet = Duration(2);
    sim.link(a, b, spec);
    sim.run_for(Duration(300));
    let partial = sim.stop(b);
    let (_, got, _) = sim::counts(&mut partial.clone());
    assert!(got > 0 && got < 200, "B should be mid-sync, holds {got} entries");
    sim.run_for(Duration::from_secs(2));
    sim.restart(b, partial);
    sim.run_until(Duration::from_secs(600), |s| converged(s, &[a, b])).expect("converges after restart");
    let mut sa = sim.node(a).store().clone();
    let mut sb = sim.node(b).store().clone();
    assert_eq!(contents(&mut sa), contents(&mut sb));
    let _ = MemStore::default();
}
