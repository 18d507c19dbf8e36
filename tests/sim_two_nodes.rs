//! Two nodes converge on feeds, entries and sidechains from arbitrary starting stores.
use tinyssb::node::Config;
use tinyssb::time::Duration;
use tinyssb_sim::{contents, copy_prefix, populated_store, seed, Corpus, LinkSpec, Scenario};

#[test]
fn full_into_empty_converges_fast() {
    let corpus = Corpus::new(5, 20).chains(30, 2048);
    let mut sim = Scenario::catch_up(seed(1), corpus, LinkSpec::reliable(1)).build();
    let [a, b] = sim.ids(["a", "b"]);
    let t = sim.converge(&[a, b], Duration::from_secs(600));
    println!("5 feeds x 20 entries converged after {} ms virtual, {} packets", t.0, sim.delivered);
    assert!(t.0 < 50, "whole-protocol target: < 50 ms of virtual time, took {} ms", t.0);
    sim.assert_same_contents(&[a, b]);
}

#[test]
fn overlapping_stores_converge_both_ways() {
    let seed = seed(2);
    let mut sc = Scenario::new(seed);
    let mut master = populated_store(sc.rng(), 0, 6, 12, 30, 700);
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
    let mut sim = sc
        .node("a", Config::default(), sa)
        .node("b", Config::default(), sb)
        .link("a", "b", LinkSpec::reliable(5))
        .build();
    let [a, b] = sim.ids(["a", "b"]);
    sim.converge(&[a, b], Duration::from_secs(600));
    // The union: every feed at its longest, and feed 5 only as long as B had it.
    let mut union = copy_prefix(&mut master, |i| Some(if i == 5 { 5 } else { 12 }));
    let expected = contents(&mut union);
    assert!(sim.contents(a) == expected, "A is not the union (seed {seed})");
    assert!(sim.contents(b) == expected, "B is not the union (seed {seed})");
}
