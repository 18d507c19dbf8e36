//! A network cut in two keeps replicating on each side of the cut, and both sides converge once
//! it heals, over links of different kinds (fast, bandwidth-limited, lossy).
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb_sim::{key, seed, Corpus, LinkSpec, Scenario};

#[test]
fn both_sides_of_a_partition_converge_after_it_heals() {
    let mut sim = Scenario::new(seed(51))
        .populated("a", Corpus::new(2, 10).chains(30, 600))
        .empty("b")
        .empty("c")
        .empty("d")
        .link("a", "b", LinkSpec::reliable(5))
        // About 20 KB/s: a slow uplink.
        .link("b", "c", LinkSpec::reliable(20).with_bandwidth(20_000))
        .link("c", "d", LinkSpec::lossy(10, 0.1))
        .build();
    let [a, b, c, d] = sim.ids(["a", "b", "c", "d"]);
    sim.partition(&[a, b]);
    let bc = sim.link_between(b, c).expect("linked");
    assert!(!sim.link_is_up(bc) && sim.link_is_up(sim.link_between(c, d).expect("linked")));

    // Each side replicates on its own: A's feeds reach B, D's new feed reaches C.
    sim.converge(&[a, b], Duration::from_secs(60));
    let author = key(77);
    let now = sim.now;
    sim.node_mut(d).publish(now, &author, b"from the other side").expect("publish");
    sim.converge(&[c, d], Duration::from_secs(60));
    assert_eq!(sim.node(c).store().feeds(), vec![author.feed_id()], "nothing crossed the cut");
    assert_eq!(sim.node(b).store().feeds().len(), 2, "nothing crossed the cut");

    sim.heal();
    sim.converge(&[a, b, c, d], Duration::from_secs(600));
    sim.assert_same_contents(&[a, b, c, d]);
    assert_eq!(sim.node(a).store().feeds().len(), 3);
}
