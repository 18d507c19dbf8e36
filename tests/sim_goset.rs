//! A GOset of 100 keys split 50/50 between two nodes converges.
use tinyssb::node::Config;
use tinyssb::time::Duration;
use tinyssb_sim::{seed, store_with_feeds, LinkSpec, Scenario};

fn split_converges(total: u64, limit_ms: u64) -> u64 {
    let seed = seed(7 + total);
    let mut sim = Scenario::new(seed)
        .node("a", Config::default(), store_with_feeds((0..total).filter(|k| k % 2 == 0)))
        .node("b", Config::default(), store_with_feeds((0..total).filter(|k| k % 2 == 1)))
        .link("a", "b", LinkSpec::reliable(10))
        .build();
    let [a, b] = sim.ids(["a", "b"]);
    let t = sim
        .run_until(Duration(limit_ms), |s| {
            s.node(a).goset().len() == total as usize
                && s.node(a).goset().state() == s.node(b).goset().state()
        })
        .unwrap_or_else(|| panic!("GOset of {total} keys did not converge (seed {seed})"));
    assert_eq!(sim.node(a).goset().keys(), sim.node(b).goset().keys());
    t.0
}

#[test]
fn twenty_keys_agree_in_a_handful_of_round_trips() {
    let t = split_converges(20, 600_000);
    println!("20 keys split 10/10 agreed after {t} ms virtual (10 ms links)");
    // A round trip is 20 ms; the reference needs ~180 s here.
    assert!(t <= 300, "took {t} ms");
}

#[test]
fn hundred_keys_split_in_half_converge() {
    let t = split_converges(100, 60_000);
    println!("100 keys split 50/50 agreed after {t} ms virtual (10 ms links)");
    // The reference's 15 s rounds would need many minutes; we stay well under one round.
    assert!(t <= 3_000, "took {t} ms");
}
