//! The cost of a local drop, as SPEC.md section 5 states it: a node that drops a feed its
//! neighbour keeps stops replicating with that neighbour, for every feed, until both agree again.
mod sim;

use sim::{converged, key, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb::Seq;

#[test]
fn replication_pauses_while_one_side_dropped_a_feed_and_resumes_once_both_did() {
    let mut sim = Sim::new(seed(7));
    let full = populated_store(&mut sim.rng, 0, 2, 3, 0, 100);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    sim.link(a, b, LinkSpec::reliable(2));
    sim.run_until(Duration::from_secs(60), |s| converged(s, &[a, b])).expect("converges");
    let (gone, kept) = (key(0), key(1));

    // B drops feed 0; A keeps it. Requests B sent before the drop may still be answered, so
    // let them pass; then, while the link is down, A publishes to feed 1. Once it is up again
    // (nothing held from before), B's requests name a set A does not have.
    let link = 0;
    let now = sim.now;
    sim.node_mut(b).drop_feed(now, gone.feed_id()).expect("drop");
    sim.run_for(Duration::from_secs(5));
    sim.set_link(link, false);
    for text in [&b"one"[..], b"two"] {
        let now = sim.now;
        sim.node_mut(a).publish(now, &kept, text).expect("publish");
    }
    sim.set_link(link, true);
    sim.run_for(Duration::from_secs(120));
    let at_b = |sim: &Sim| sim.node(b).store().frontier(&kept.feed_id()).map(|f| f.seq);
    assert_eq!(at_b(&sim), Some(Seq(3)), "B got entries although the sets differ");
    assert!(!sim.node(b).goset().contains(&gone.feed_id()), "A's offers are refused");
    assert!(sim.node(b).stats().dropped(tinyssb::stats::DropReason::Denied) > 0);

    // Once A drops it too, the sets agree again and feed 1 replicates.
    let now = sim.now;
    sim.node_mut(a).drop_feed(now, gone.feed_id()).expect("drop");
    let done = sim.run_until(Duration::from_secs(120), |s| at_b(s) == Some(Seq(5)));
    assert!(done.is_some(), "replication did not resume");
}
