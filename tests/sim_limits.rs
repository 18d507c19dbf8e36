//! A feed over a receiver's limit: its entry is refused and never stored, the rest replicates,
//! and the refusal does not make the two nodes ask and answer the same entry in a tight loop.
use tinyssb::node::{Admission, Config, Event, Node};
use tinyssb::stats::DropReason;
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::{Duration, Instant};
use tinyssb_sim::{key, seed, LinkSpec, Scenario};

#[test]
fn an_oversized_sidechain_is_refused_without_a_request_storm() {
    let mut origin = Node::new(Config::default(), MemStore::default(), Instant(0));
    let (big, small) = (key(1), key(2));
    origin.publish(Instant(0), &big, &[7u8; 5000]).expect("publish");
    origin.publish(Instant(0), &big, b"after the big one").expect("publish");
    for i in 0..5u8 {
        origin.publish(Instant(0), &small, &[i; 300]).expect("publish");
    }
    let limited = Admission { max_sidechain_bytes: 4096, ..Admission::default() };
    let mut sim = Scenario::new(seed(31))
        .node("a", Config::default(), origin.into_store())
        .node("b", Config { admission: limited, ..Config::default() }, MemStore::default())
        .link("a", "b", LinkSpec::reliable(5))
        .build();
    let b = sim.id("b");
    let (sf, bf) = (small.feed_id(), big.feed_id());
    sim.run_until(Duration::from_secs(60), |s| {
        s.node(b).store().frontier(&sf).is_some_and(|f| f.seq.0 == 5)
            && s.node(b).store().pending_chains(&sf).is_empty()
    })
    .expect("the feed within the limits replicates");
    let before = sim.delivered;
    sim.run_for(Duration::from_secs(120));
    let per_minute = (sim.delivered - before) / 2;
    println!("{per_minute} packets a minute while idle with a refused entry");
    // A request for the refused entry that repeats for the 5 s resend window brings it and its
    // pushed chunks again (about 50 packets); B is a live peer, asked every 3 s at most. A loop
    // would be RTT-bound: over 100 000 packets a minute on these 5 ms links.
    assert!(per_minute < 1000, "no request storm: {per_minute} packets a minute");
    assert!(sim.node(b).store().frontier(&bf).is_none(), "nothing of the big feed stored");
    assert!(sim.node(b).stats().dropped(DropReason::SidechainTooLarge) >= 1);
    let reported = sim.events[b]
        .iter()
        .filter(|e| matches!(e, Event::Refused { reason: DropReason::SidechainTooLarge, .. }))
        .count();
    assert_eq!(reported, 1, "reported once");
    // The refused feed id stays unconfirmed and leaves B's set after the ttl; A still has it.
    assert!(!sim.node(b).goset().is_confirmed(&bf));
}
