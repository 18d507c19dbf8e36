//! A node restarted mid-sync from its store converges.
use tinyssb::time::Duration;
use tinyssb_sim::{counts, seed, Corpus, LinkSpec, Scenario};

#[test]
fn restart_mid_sync_converges() {
    // Slow link so the sync is still running when B stops.
    let slow = LinkSpec::reliable(20).with_per_packet(2);
    let mut sim = Scenario::catch_up(seed(6), Corpus::new(5, 40).chains(30, 1500), slow).build();
    let [a, b] = sim.ids(["a", "b"]);
    sim.run_for(Duration(300));
    sim.halt(b);
    let (_, got, _) = counts(&mut sim.parked(b).expect("halted").clone());
    assert!(got > 0 && got < 200, "B should be mid-sync, holds {got} entries");
    sim.run_for(Duration::from_secs(2));
    sim.start(b);
    sim.converge(&[a, b], Duration::from_secs(600));
    sim.assert_same_contents(&[a, b]);
}
