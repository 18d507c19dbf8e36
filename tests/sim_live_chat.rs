//! Live chat through a pub: a message posted by one client reaches another within about a second
//! and a half. The pub holds the reader's request for the next entry and answers it the moment
//! the entry arrives (long poll), and it asks a live writer for news at least every 3 s.
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb_sim::{key, seed, LinkSpec, Scenario};

#[test]
fn a_message_crosses_the_pub_in_well_under_two_seconds() {
    let mut sim = Scenario::new(seed(31))
        .empty("alice")
        .empty("hub")
        .empty("bob")
        .link("alice", "hub", LinkSpec::reliable(20))
        .link("hub", "bob", LinkSpec::reliable(20))
        .build();
    let [alice, hub, bob] = sim.ids(["alice", "hub", "bob"]);
    let k = key(1);
    let fid = k.feed_id();
    let now = sim.now;
    sim.node_mut(alice).publish(now, &k, b"hello").expect("publish");
    sim.converge(&[alice, hub, bob], Duration::from_secs(60));
    let mut latencies = Vec::new();
    for n in 2..=21u32 {
        // Quiet for a while (a random 5 to 25 s), then Alice posts.
        let pause = 5_000 + sim.rng.below(20_000);
        sim.run_for(Duration(pause));
        let posted = sim.now;
        sim.node_mut(alice).publish(posted, &k, format!("message {n}").as_bytes()).expect("publish");
        let arrived = sim
            .run_until(Duration::from_secs(60), |s| {
                s.node(bob).store().frontier(&fid).is_some_and(|f| f.seq.0 >= n)
            })
            .expect("bob gets the message");
        latencies.push(arrived.0 - posted.0);
    }
    latencies.sort_unstable();
    let median = latencies[latencies.len() / 2];
    let worst = latencies[latencies.len() - 1];
    println!("chat latency alice -> pub -> bob: median {median} ms, worst {worst} ms, all {latencies:?}");
    assert!(median < 2_000, "median {median} ms");
    assert!(worst < 3_500, "worst {worst} ms");
}
