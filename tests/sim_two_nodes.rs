//! Two nodes converge on feeds, entries and sidechains from arbitrary starting stores.
mod sim;

use sim::{contents, converged, copy_prefix, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::time::Duration;

#[test]
fn full_into_empty_converges_fast() {
    let seed = seed(1);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 5, 20, 30, 2048);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    sim.link(a, b, LinkSpec::reliable(1));
    let t = sim.run_until(Duration::from_secs(600), |s| converged(s, &[a, b])).expect("converges");
    println!("5 feeds x 20 entries converged after {} ms virtual, {} packets", t.0, sim.delivered);
    assert!(t.0 < 50, "whole-protocol target: < 50 ms of virtual time, took {} ms", t.0);
    let mut sa = sim.node(a).store().clone();
    let mut sb = sim.node(b).store().clone();
    assert!(contents(&mut sa) == contents(&mut sb));
}

#[test]
fn overlapping_stores_converge_both_ways() {
    let seed = seed(2);
    let mut sim = Sim::new(seed);
    let mut master = populated_store(&mut sim.rng, 0, 6, 12, 30, 700);
    // A lacks feed 5 and has short feeds 2..4; B lacks feed 0 and has short feeds 1 and 5.
    let sa = copy_prefix(&mut master, |i| match i {
        5 => None,
        2..=4 => Some(3 * i as u32 - 2),
        _ => Some(12),
    });
    let sb = copy_prefix(&mut master, |i| match i {
        0 => None,
        1 | 5 => Some(5),
        _ => Some(12),
    });
    let a = sim.add_node(Config::default(), sa);
    let b = sim.add_node(Config::default(), sb);
    sim.link(a, b, LinkSpec::reliable(5));
    sim.run_until(Duration::from_secs(600), |s| converged(s, &[a, b])).expect("converges");
    let mut sa = sim.node(a).store().clone();
    let mut sb = sim.node(b).store().clone();
    // The union: every feed at its longest, and feed 5 only as long as B had it.
    let mut union = copy_prefix(&mut master, |i| Some(if i == 5 { 5 } else { 12 }));
    let expected = contents(&mut union);
    assert!(contents(&mut sa) == expected, "A is not the union (seed {seed})");
    assert!(contents(&mut sb) == expected, "B is not the union (seed {seed})");
}
