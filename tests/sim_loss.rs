//! 30% packet loss with reordering still converges, on lossy broadcast-style links.
mod sim;

use sim::{contents, converged, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;

#[test]
fn thirty_percent_loss_converges() {
    let seed = seed(4);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 4, 10, 30, 600);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    sim.link(a, b, LinkSpec::lossy(50, 0.3));
    let t = sim
        .run_until(Duration::from_secs(3600), |s| converged(s, &[a, b]))
        .unwrap_or_else(|| panic!("no convergence under 30% loss (seed {seed})"));
    println!("converged after {} s virtual under 30% loss", t.0 / 1000);
    let mut sa = sim.node(a).store().clone();
    let mut sb = sim.node(b).store().clone();
    assert_eq!(contents(&mut sa), contents(&mut sb));
}

#[test]
fn reliable_link_with_loss_and_reordering_converges() {
    let seed = seed(5);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 3, 30, 30, 900);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    let mut spec = LinkSpec::reliable(20);
    spec.loss = 0.3;
    spec.jitter = Duration(30);
    sim.link(a, b, spec);
    sim.run_until(Duration::from_secs(3600), |s| converged(s, &[a, b]))
        .unwrap_or_else(|| panic!("no convergence (seed {seed})"));
}
