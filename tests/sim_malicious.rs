//! A malicious peer (garbage, forged signatures, forged chunks, absurd claims, floods) cannot
//! corrupt any store or stall the honest nodes.
mod sim;

use sim::{contents, converged, key, populated_store, seed, LinkSpec, Sim};
use tinyssb::node::Config;
use tinyssb::stats::DropReason;
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Duration;
use tinyssb::wire::goset::{goset_dmx, Claim, GosetMsg};
use tinyssb::wire::request::{ChnkVector, ChunkRequest, RequestVector, WantVector};
use tinyssb::Seq;

#[test]
fn honest_nodes_survive_a_malicious_peer() {
    let seed = seed(8);
    let mut sim = Sim::new(seed);
    let full = populated_store(&mut sim.rng, 0, 3, 20, 40, 800);
    let a = sim.add_node(Config::default(), full);
    let b = sim.add_node(Config::default(), MemStore::default());
    let ab = sim.link(a, b, LinkSpec::reliable(5));
    // The attacker's face into B: a link to a node that never runs.
    let m = sim.add_node(Config::default(), MemStore::default());
    let mb = sim.link(m, b, LinkSpec::reliable(5));
    let _ = sim.stop(m);
    let _ = ab;

    let attack = |sim: &mut Sim, round: u64| {
        let mut rng = sim::Rng::new(seed ^ round);
        // Garbage of every length, including over-long packets.
        for len in [0usize, 1, 6, 7, 8, 40, 105, 119, 120, 121, 500, 4096] {
            let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            sim.inject(b, mb, &junk);
        }
        // Forged entries: the DMX B expects next for a real feed, with a bad signature.
        let honest = sim.node(a).goset().keys().to_vec();
        for fid in &honest {
            let (next, prev) = match sim.node(b).store().frontier(fid) {
                Some(f) => (Seq(f.seq.0 + 1), f.prev),
                None => (Seq(1), fid.genesis_prev()),
            };
            let mut forged = [0u8; 120];
            forged[..7].copy_from_slice(&tinyssb::wire::entry::entry_dmx(fid, next, &prev).0);
            for x in forged[7..].iter_mut() {
                *x = rng.next_u64() as u8;
            }
            sim.inject(b, mb, &forged);
        }
        // Entries signed by the wrong key, for a feed the attacker does not own.
        let mallory = key(999);
        let fake = tinyssb::feed::author_plain48(
            &mallory,
            &tinyssb::store::Frontier { seq: Seq(0), prev: honest[0].genesis_prev() },
            b"evil",
        )
        .expect("author");
        sim.inject(b, mb, &fake.entry.0);
        // Absurd claims: huge counts, reversed spans, zero keys.
        for (lo, hi, count) in
            [([0u8; 32], [0xff; 32], 255u32), ([0xff; 32], [0; 32], 3), ([7; 32], [7; 32], 0)]
        {
            let claim = GosetMsg::Claim(Claim {
                lo: tinyssb::FeedId(lo),
                hi: tinyssb::FeedId(hi),
                xor: [rng.next_u64() as u8; 32],
                count,
            });
            sim.inject(b, mb, &claim.to_packet().unwrap());
        }
        // Requests with absurd indices and seqs, on B's current request DMX.
        let mut want = WantVector::new(u32::MAX);
        for _ in 0..40 {
            want.try_push(Seq(u32::MAX));
        }
        sim.inject(b, mb, &want.to_packet(&sim.node(b).want_dmx()));
        let chnk = ChnkVector::fitting((0..20).map(|i| ChunkRequest {
            feed_index: 1000 + i,
            seq: Seq(1),
            chunk: u32::MAX,
        }));
        sim.inject(b, mb, &chnk.to_packet(&sim.node(b).chnk_dmx()));
        let _ = goset_dmx();
    };

    // Attack before, during and after the honest sync.
    for round in 0..60 {
        attack(&mut sim, round);
        sim.run_for(Duration(20));
    }
    sim.run_until(Duration::from_secs(600), |s| converged(s, &[a, b])).expect("honest nodes converge");
    let mut sa = sim.node(a).store().clone();
    let mut sb = sim.node(b).store().clone();
    let cb = contents(&mut sb);
    // B holds exactly A's feeds (nothing of Mallory's) with A's exact bytes; fake feed ids
    // learned from absurd claims hold no entries.
    let ca = contents(&mut sa);
    for (fid, entries, chunks) in &cb {
        match ca.iter().find(|x| x.0 == *fid) {
            Some(x) => assert_eq!((&x.1, &x.2), (entries, chunks)),
            None => assert!(entries.is_empty() && chunks.is_empty()),
        }
    }
    let stats = sim.node(b).stats();
    assert!(stats.dropped(DropReason::BadSignature) > 0);
    assert!(stats.dropped_total() > 100);
}
