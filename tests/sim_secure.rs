//! Two nodes replicate over a secure link (`tinyssb::secure`): every packet travels sealed,
//! and no feed id shows on the wire.
use std::sync::Arc;

use tinyssb::node::Config;
use tinyssb::secure::{Handshake, Link, SecureConfig, Side, StaticKey};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb_sim::{contents, converged, populated_store, seed, LinkSpec, Sim};

fn ends() -> [Link; 2] {
    let cfg = |b: u8| Arc::new(SecureConfig::new(StaticKey::from_secret([b; 32]).expect("key")));
    let mut i = Handshake::new(Side::Initiator, cfg(1), [3; 32]).expect("initiator");
    let mut r = Handshake::new(Side::Responder, cfg(2), [4; 32]).expect("responder");
    for turn in 0..3 {
        let (from, to) = if turn % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
        let msg = from.poll_transmit().expect("message due");
        to.handle_message(&msg).expect("handshake step");
    }
    [i.into_link().expect("initiator"), r.into_link().expect("responder")]
}

#[test]
fn two_nodes_converge_over_a_secure_link_and_the_wire_shows_no_feed_id() {
    let seed = seed(14);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 4, 15, 30, 1500);
    let fids = full.feeds();
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    sim.secure_link(a, b, LinkSpec::reliable(2), ends());
    sim.run_until(Duration::from_secs(600), |s| converged(s, &[a, b])).expect("converges");
    let mut sa = sim.node(a).store().clone();
    let mut sb = sim.node(b).store().clone();
    assert!(contents(&mut sa) == contents(&mut sb));
    assert!(sim.trace.len() > 60, "{} packets", sim.trace.len());
    for item in &sim.trace {
        for fid in &fids {
            // Any 8 bytes of a feed id in clear would be a leak; sealed bytes are random-looking.
            let leak = item.bytes.windows(8).any(|w| fid.0.windows(8).any(|f| f == w));
            assert!(!leak, "feed id bytes on the wire at {:?}", item.at);
        }
    }
}
