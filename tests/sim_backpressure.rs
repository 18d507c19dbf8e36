//! Bounded output: a peer that floods requests and reads slowly (or never) holds at most one
//! face budget of the node's memory, repeated requests add nothing, a slow reader gets each
//! packet about once, and an honest peer syncs while a non-reading one floods.
use tinyssb::node::{Config, FaceId, FaceKind, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::time::{Duration, Instant};
use tinyssb::wire::goset::{Format, GosetMsg};
use tinyssb_sim::{
    counts, populated_store, seed, want_packet as want, Attack, Corpus, LinkSpec, Rng, Scenario,
};

/// Brings `face` up as a link to a peer of our kind (one that speaks the wide GOset format), so
/// that WANTs on the node's whole-set DMX are understood at once. Returns the bytes of the
/// greeting taken from the node.
fn wide_face_up(node: &mut Node<MemStore>, now: Instant, face: FaceId) -> usize {
    node.handle_face_up(now, face, FaceKind::Reliable);
    let claim = node.goset().full_claim().expect("a populated set");
    node.handle_packet(now, face, &GosetMsg::Claim(claim).to_packet_as(Format::Wide).expect("wide"));
    take_all(node)
}

fn server(seed: u64) -> Node<MemStore> {
    let store = populated_store(&mut Rng::new(seed), 0, 20, 100, 30, 1500);
    Node::new(Config::default(), store, Instant(0))
}

/// Takes every queued packet without reporting any as written; returns the bytes taken.
fn take_all(node: &mut Node<MemStore>) -> usize {
    std::iter::from_fn(|| node.poll_transmit()).map(|tx| tx.packet.len()).sum()
}

#[test]
fn a_peer_that_never_reads_holds_one_face_budget() {
    let mut node = server(seed(11));
    let cfg = node.config().clone();
    let face = FaceId(1);
    let mut taken = wide_face_up(&mut node, Instant(0), face);
    for i in 0..10_000u64 {
        let seq = 1 + (i % 100) as u32;
        let p = want(&node, 20, seq);
        node.handle_packet(Instant(i), face, &p);
        taken += take_all(&mut node);
    }
    println!("10k WANTs, never read: {taken} bytes handed to the driver");
    assert!(taken <= cfg.max_queued_per_face, "{taken} bytes exceed the face budget");
    assert!(taken > cfg.max_queued_per_face / 2, "the budget was used: {taken}");
    // What the driver holds counts until it is reported written, or the face goes away.
    assert_eq!(node.queued_bytes(), taken);
    node.handle_face_down(Instant(10_000), face);
    assert_eq!(node.queued_bytes(), 0);
}

#[test]
fn many_flooding_peers_share_the_total_budget() {
    let node = server(seed(12));
    let mut cfg = node.config().clone();
    cfg.max_queued_total = 1024 * 1024;
    let store = node.into_store();
    let mut node = Node::new(cfg.clone(), store, Instant(0));
    let mut taken = 0;
    for f in 0..20 {
        taken += wide_face_up(&mut node, Instant(0), FaceId(f));
    }
    for i in 0..2_000u64 {
        let p = want(&node, 20, 1 + (i % 50) as u32);
        node.handle_packet(Instant(i), FaceId(i % 20), &p);
        taken += take_all(&mut node);
    }
    println!("20 faces flooding, never read: {taken} bytes in total");
    assert!(taken <= cfg.max_queued_total);
    // A face that reads gets going again as soon as it reports what it wrote.
    node.handle_face_up(Instant(3000), FaceId(99), FaceKind::Reliable);
    let claim = node.goset().full_claim().expect("a populated set");
    node.handle_packet(
        Instant(3000),
        FaceId(99),
        &GosetMsg::Claim(claim).to_packet_as(Format::Wide).expect("wide"),
    );
    let p = want(&node, 20, 1);
    node.handle_packet(Instant(3000), FaceId(99), &p);
    let before: usize = take_all(&mut node);
    assert_eq!(before, 0, "no room at all while the total is spent");
    node.handle_face_down(Instant(3001), FaceId(0));
    node.handle_face_down(Instant(3001), FaceId(1));
    node.handle_flushed(Instant(3001), FaceId(99), 0);
    let after: usize = take_all(&mut node);
    assert!(after > 0, "faces that went away free their share");
}

#[test]
fn repeated_wants_add_nothing() {
    let mut node = server(seed(13));
    let face = FaceId(1);
    node.handle_face_up(Instant(0), face, FaceKind::Reliable);
    let (mut bytes_in, mut bytes_out) = (0usize, 0usize);
    // A flood of 5 WANTs per millisecond for 10 s of virtual time, all read at once: a few
    // different vectors, repeated over and over.
    for t in 0..10_000u64 {
        for k in 0..5u64 {
            let seq = 1 + ((t / 1000 + k) % 5) as u32;
            let p = want(&node, 20, seq);
            bytes_in += p.len();
            node.handle_packet(Instant(t), face, &p);
        }
        while let Some(tx) = node.poll_transmit() {
            bytes_out += tx.packet.len();
            node.handle_flushed(Instant(t), tx.face, tx.packet.len());
        }
        if node.poll_timeout().is_some_and(|d| d <= Instant(t)) {
            node.handle_timeout(Instant(t));
        }
    }
    let ratio = bytes_out as f64 / bytes_in as f64;
    println!("WANT flood: {bytes_in} bytes in, {bytes_out} out, {ratio:.2} bytes out per byte in");
    assert!(ratio <= 20.0, "amplification {ratio:.1} > 20");
}

#[test]
fn a_slow_reader_gets_each_packet_about_once() {
    // About 60 packets a second from A to B: far slower than A can serve.
    let slow = LinkSpec::reliable(20).with_per_packet(16);
    let mut sim = Scenario::catch_up(seed(14), Corpus::new(5, 40).chains(30, 1500), slow).build();
    let [a, b] = sim.ids(["a", "b"]);
    let (_, entries, chunks) = counts(&mut sim.node(a).store().clone());
    let t = sim.converge(&[a, b], Duration::from_secs(3600));
    let st = sim.node(a).stats().clone();
    let served = st.entries_out + st.chunks_out;
    let needed = (entries + chunks) as u64;
    println!("slow reader: {needed} packets needed, {served} served, {} ms virtual", t.0);
    assert!(served as f64 <= needed as f64 * 1.1, "served {served} for {needed} needed");
    sim.assert_same_contents(&[a, b]);
}

#[test]
fn a_flooding_peer_that_never_reads_does_not_hold_up_an_honest_sync() {
    // Mallory floods A with WANTs for everything and never reads; B, an honest newcomer,
    // syncs from A meanwhile.
    let mut sim = Scenario::catch_up(seed(15), Corpus::new(20, 100).chains(30, 1500), LinkSpec::reliable(5))
        .attacker("mallory", "a", LinkSpec::reliable(5))
        .build();
    let [a, b, m] = sim.ids(["a", "b", "mallory"]);
    let budget = sim.node(a).config().max_queued_per_face;
    let mut mallory = sim.adversary(m);
    mallory.stop_reading(&mut sim, true);
    let wants: Vec<Attack> = (1..=100).map(|seq| Attack::Want { feeds: 20, seq }).collect();
    let start = sim.now;
    mallory.script(&mut sim, 20, Duration(10), &wants);
    let t = sim.converge(&[a, b], Duration::from_secs(60));
    let held = mallory.bytes_from_target(&sim);
    println!("{held} bytes held for Mallory; B synced after {} ms virtual", t.0 - start.0);
    assert!(held as usize <= budget, "{held} bytes exceed the face budget");
    assert!(held as usize > budget / 2, "the flood used the budget: {held}");
    assert_eq!(sim.node(a).queued_bytes(), held as usize, "all of it still waits for Mallory");
    sim.assert_same_contents(&[a, b]);
    // Once Mallory's face goes away, so does what A held for it.
    let link = sim.link_between(a, m).expect("linked");
    sim.set_link(link, false);
    assert_eq!(sim.node(a).queued_bytes(), 0);
}
