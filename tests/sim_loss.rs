//! 30% packet loss with reordering still converges, on lossy broadcast-style links.
use tinyssb::time::Duration;
use tinyssb_sim::{seed, Corpus, LinkSpec, Scenario};

/// A full node and an empty one over `link`; returns the virtual seconds they took to converge.
fn full_into_empty(seed: u64, corpus: Corpus, link: LinkSpec) -> u64 {
    let mut sim = Scenario::catch_up(seed, corpus, link).build();
    let [a, b] = sim.ids(["a", "b"]);
    let t = sim.converge(&[a, b], Duration::from_secs(3600));
    sim.assert_same_contents(&[a, b]);
    t.0 / 1000
}

#[test]
fn thirty_percent_loss_converges() {
    let s = full_into_empty(seed(4), Corpus::new(4, 10).chains(30, 600), LinkSpec::lossy(50, 0.3));
    println!("converged after {s} s virtual under 30% loss");
}

#[test]
fn reliable_link_with_loss_and_reordering_converges() {
    let link = LinkSpec::reliable(20).with_loss(0.3).with_jitter(30);
    full_into_empty(seed(5), Corpus::new(3, 30).chains(30, 900), link);
}
