//! Unit tests of the mesh state machine, driven by hand. Networks of many pubs are simulated in
//! `tests/sim_mesh.rs`.

use super::*;

fn id(n: u8) -> PubId {
    let mut b = [n; 32];
    b[0] = n.wrapping_mul(37).wrapping_add(11);
    FeedId(b)
}

fn url(n: u8) -> String {
    format!("ws://10.0.0.{n}:8080")
}

fn t(ms: u64) -> Instant {
    Instant(ms)
}

fn drain(m: &mut Mesh) -> Vec<Action> {
    std::iter::from_fn(|| m.poll_action()).collect()
}

fn announce(m: &mut Mesh, now: Instant, who: u8, seq: u32) {
    let rec = Record::Announce { url: url(who) }.encode().unwrap_or_default();
    assert!(m.handle_record(now, id(who), seq, &rec));
}

#[test]
fn a_member_announces_once_and_becomes_live_when_its_record_is_back() {
    let mut m = Mesh::new(Config::default(), id(1), Some(url(1)), vec![url(2)], t(0));
    m.handle_timeout(t(0));
    let acts = drain(&mut m);
    assert!(acts.contains(&Action::Publish(Record::Announce { url: url(1) })));
    assert!(acts.contains(&Action::Dial { url: url(2) }), "the seed is dialled: {acts:?}");
    m.handle_timeout(t(1000));
    assert!(!drain(&mut m).iter().any(|a| matches!(a, Action::Publish(_))));
    announce(&mut m, t(1000), 1, 1);
    assert!(m.is_live(&id(1)));
    m.handle_timeout(t(20_000));
    assert!(!drain(&mut m).iter().any(|a| matches!(a, Action::Publish(_))));
}

#[test]
fn hello_exchange_identifies_the_link_and_shares_known_pubs() {
    let mut a = Mesh::new(Config::default(), id(1), Some(url(1)), vec![], t(0));
    let mut b = Mesh::new(Config::default(), id(2), Some(url(2)), vec![url(1)], t(0));
    announce(&mut a, t(0), 1, 1);
    announce(&mut a, t(0), 3, 1);
    announce(&mut b, t(0), 2, 1);
    b.handle_dialed(t(10), FaceId(7), &url(1));
    while let Some((_, pkt)) = b.poll_transmit() {
        a.handle_packet(t(10), FaceId(70), &pkt);
    }
    while let Some((_, pkt)) = a.poll_transmit() {
        b.handle_packet(t(10), FaceId(7), &pkt);
    }
    assert_eq!(a.pub_on(FaceId(70)), Some(id(2)));
    assert_eq!(b.pub_on(FaceId(7)), Some(id(1)));
    let acts = drain(&mut b);
    assert!(acts.contains(&Action::Follow(id(1))));
    assert!(acts.contains(&Action::Follow(id(3))), "pub 3 learned through a: {acts:?}");
    assert!(acts.contains(&Action::PubLink { face: FaceId(7), pub_id: id(1) }));
}

#[test]
fn failed_dials_to_a_live_pub_write_one_down_record_and_a_refute_follows() {
    let mut m = Mesh::new(Config::default(), id(1), Some(url(1)), vec![], t(0));
    announce(&mut m, t(0), 1, 1);
    announce(&mut m, t(0), 2, 4);
    assert!(m.is_live(&id(2)));
    for i in 0..3 {
        m.handle_dial_failed(t(i * 1000), &url(2));
    }
    let acts = drain(&mut m);
    assert!(acts.contains(&Action::Publish(Record::Down { pub_id: id(2), seq: 4 })), "{acts:?}");
    assert!(!m.is_live(&id(2)));
    m.handle_dial_failed(t(4000), &url(2));
    assert!(!drain(&mut m).iter().any(|a| matches!(a, Action::Publish(_))));
    // Pub 2 reads the record and announces again: live once more.
    announce(&mut m, t(5000), 2, 5);
    assert!(m.is_live(&id(2)));

    // The pub named in a down record answers with a new announce.
    let mut two = Mesh::new(Config::default(), id(2), Some(url(2)), vec![], t(0));
    announce(&mut two, t(0), 2, 4);
    two.handle_timeout(t(0));
    drain(&mut two);
    let down = Record::Down { pub_id: id(2), seq: 4 }.encode().unwrap_or_default();
    assert!(two.handle_record(t(100), id(1), 9, &down));
    assert!(!two.is_live(&id(2)));
    two.handle_timeout(t(10_000));
    assert!(drain(&mut two).contains(&Action::Publish(Record::Announce { url: url(2) })));
}

#[test]
fn every_pub_computes_the_same_holders_and_holds_its_share() {
    let pubs: Vec<u8> = (1..=10).collect();
    let mut meshes: Vec<Mesh> =
        pubs.iter().map(|n| Mesh::new(Config::default(), id(*n), Some(url(*n)), vec![], t(0))).collect();
    for m in &mut meshes {
        for n in &pubs {
            announce(m, t(0), *n, 1);
        }
    }
    let feeds: Vec<FeedId> = (0..200u8).map(|i| FeedId([i; 32])).collect();
    for m in &mut meshes {
        for f in &feeds {
            m.handle_feed(t(0), *f);
        }
    }
    for f in &feeds {
        let h = meshes[0].holders(f);
        assert_eq!(h.len(), 3);
        let holding = meshes.iter().filter(|m| m.holds(f)).count();
        assert_eq!(holding, 3);
        assert!(meshes.iter().all(|m| m.holders(f) == h));
    }
    // One pub goes: every feed it held moves to exactly one other pub, nothing else moves.
    let gone = id(4);
    let before: Vec<Vec<PubId>> = feeds.iter().map(|f| meshes[0].holders(f)).collect();
    let down = Record::Down { pub_id: gone, seq: 1 }.encode().unwrap_or_default();
    for m in &mut meshes {
        m.handle_record(t(10), id(1), 2, &down);
    }
    for (f, old) in feeds.iter().zip(before) {
        let new = meshes[0].holders(f);
        assert!(!new.contains(&gone));
        let kept = old.iter().filter(|p| new.contains(p)).count();
        assert_eq!(kept, if old.contains(&gone) { 2 } else { 3 });
    }
}

#[test]
fn a_new_holder_visits_the_others_and_closes_the_session_when_both_are_in_sync() {
    let mut m = Mesh::new(Config::default(), id(1), Some(url(1)), vec![], t(0));
    for n in 1..=3 {
        announce(&mut m, t(0), n, 1);
    }
    m.handle_feed(t(0), FeedId([9; 32]));
    let acts = drain(&mut m);
    assert!(acts.contains(&Action::Hold { fid: FeedId([9; 32]), held: true }));
    // Links to 2 and 3 are wanted anyway (fewer pubs than links): they are dialled.
    m.handle_timeout(t(0));
    let dials: Vec<Action> = drain(&mut m).into_iter().filter(|a| matches!(a, Action::Dial { .. })).collect();
    assert_eq!(dials.len(), 2);
}

/// Hello packets from `from` delivered to `to` over `face` (and nothing else).
fn greet(from: &mut Mesh, to: &mut Mesh, now: Instant, face: FaceId) {
    while let Some((_, pkt)) = from.poll_transmit() {
        to.handle_packet(now, face, &pkt);
    }
}

#[test]
fn links_hung_up_on_purpose_are_not_probed() {
    // Regression: a pub hung up a link it no longer wanted, then probed the pub on the face
    // going down, dialled it, hung up again, and so on; the other end probed back in turn.
    let cfg = Config { links: 1, ..Config::default() };
    let mut a = Mesh::new(cfg.clone(), id(1), Some(url(1)), vec![], t(0));
    for n in 1..=3 {
        announce(&mut a, t(0), n, 1);
    }
    // `a` wants a link to one of 2 and 3; the other one dials nobody (it has no records).
    let other = if a.desired_links() == vec![id(2)] { 3 } else { 2 };
    let mut b = Mesh::new(cfg, id(other), Some(url(other)), vec![], t(0));
    a.handle_dialed(t(10), FaceId(1), &url(other));
    greet(&mut a, &mut b, t(20), FaceId(2));
    greet(&mut b, &mut a, t(30), FaceId(1));
    drain(&mut a);
    drain(&mut b);
    a.handle_timeout(t(1000));
    let acts = drain(&mut a);
    assert!(acts.contains(&Action::HangUp(FaceId(1))), "{acts:?}");
    a.handle_face_down(t(1010), FaceId(1));
    b.handle_face_down(t(1020), FaceId(2));
    a.handle_timeout(t(3000));
    b.handle_timeout(t(3000));
    let a_dials = drain(&mut a);
    assert!(!a_dials.contains(&Action::Dial { url: url(other) }), "no probe after a hang-up: {a_dials:?}");
    let b_dials = drain(&mut b);
    assert!(!b_dials.contains(&Action::Dial { url: url(1) }), "no probe of a short link: {b_dials:?}");
}

#[test]
fn a_standing_link_that_breaks_is_probed_by_both_ends() {
    let mut a = Mesh::new(Config::default(), id(1), Some(url(1)), vec![], t(0));
    let mut b = Mesh::new(Config::default(), id(2), Some(url(2)), vec![], t(0));
    for m in [&mut a, &mut b] {
        for n in 1..=2 {
            announce(m, t(0), n, 1);
        }
    }
    a.handle_dialed(t(10), FaceId(1), &url(2));
    greet(&mut a, &mut b, t(20), FaceId(2));
    greet(&mut b, &mut a, t(30), FaceId(1));
    drain(&mut a);
    drain(&mut b);
    // Broken after ten minutes, by neither side.
    a.handle_face_down(t(600_000), FaceId(1));
    b.handle_face_down(t(600_000), FaceId(2));
    a.handle_timeout(t(600_000));
    b.handle_timeout(t(600_000));
    assert!(drain(&mut a).contains(&Action::Dial { url: url(2) }));
    assert!(drain(&mut b).contains(&Action::Dial { url: url(1) }));
}

#[test]
fn a_visit_that_must_wait_does_not_make_the_driver_spin() {
    // Regression: a co-holder due for a visit stayed due while its dial was under way (or the
    // sessions were all taken), so poll_timeout stayed in the past and a driver that sleeps
    // until it called handle_timeout in a busy loop.
    let cfg = Config { links: 0, ..Config::default() };
    let mut m = Mesh::new(cfg, id(1), Some(url(1)), vec![], t(0));
    for n in 1..=3 {
        announce(&mut m, t(0), n, 1);
    }
    m.handle_feed(t(0), FeedId([9; 32]));
    m.handle_timeout(t(0));
    let dials = drain(&mut m).into_iter().filter(|a| matches!(a, Action::Dial { .. })).count();
    assert_eq!(dials, 2, "sessions to the two other holders");
    assert!(m.poll_timeout() > t(0), "poll_timeout {:?} is not in the future", m.poll_timeout());
    m.handle_timeout(t(1000));
    assert!(m.poll_timeout() > t(1000));
}

#[test]
fn pubs_believed_down_are_dialled_again_in_turn() {
    // Regression: after a partition each side had written down records for the other and no
    // pub ever dialled a pub it believed down, so the sides never met again after the heal.
    let mut m = Mesh::new(Config::default(), id(1), Some(url(1)), vec![], t(0));
    for n in 1..=4 {
        announce(&mut m, t(0), n, 1);
    }
    for n in [2u8, 3] {
        let down = Record::Down { pub_id: id(n), seq: 1 }.encode().unwrap_or_default();
        assert!(m.handle_record(t(0), id(1), u32::from(n), &down));
    }
    m.handle_timeout(t(0));
    drain(&mut m);
    let mut rechecked = Vec::new();
    for minute in 1..=4u64 {
        m.handle_timeout(t(minute * 60_000));
        for a in drain(&mut m) {
            if let Action::Dial { url: u } = a {
                if u == url(2) || u == url(3) {
                    // Still gone: no record is written about a pub that is down already.
                    m.handle_dial_failed(t(minute * 60_000 + 3000), &u);
                    assert!(!drain(&mut m).iter().any(|a| matches!(a, Action::Publish(_))));
                    rechecked.push(u);
                }
            }
        }
    }
    assert_eq!(rechecked.len(), 4, "one down pub a minute: {rechecked:?}");
    assert!(rechecked.contains(&url(2)) && rechecked.contains(&url(3)), "in turn: {rechecked:?}");
}

#[test]
fn a_copy_on_a_pub_that_does_not_hold_it_is_offered_to_new_holders() {
    let cfg = Config { replicas: 1, links: 1, ..Config::default() };
    let mut m = Mesh::new(cfg, id(1), Some(url(1)), vec![], t(0));
    for n in 1..=4 {
        announce(&mut m, t(0), n, 1);
    }
    // A feed pub 1 does not hold, brought by a client.
    let fid = (0..=255u8).map(|i| FeedId([i; 32])).find(|f| !m.holders(f).contains(&id(1)));
    let Some(fid) = fid else { return };
    m.handle_stored(t(0), fid);
    let holder = m.holders(&fid)[0];
    // Its holder dies before a session: the next holder is visited.
    let down = Record::Down { pub_id: holder, seq: 1 }.encode().unwrap_or_default();
    assert!(m.handle_record(t(10), id(9), 1, &down));
    let next = m.holders(&fid)[0];
    assert_ne!(next, holder);
    if next == id(1) {
        return; // it became this pub's own: nothing to offer
    }
    drain(&mut m);
    let mut dialled = Vec::new();
    for s in 1..10 {
        m.handle_timeout(t(s * 1000));
        dialled.extend(drain(&mut m).into_iter().filter_map(|a| match a {
            Action::Dial { url } => Some(url),
            _ => None,
        }));
    }
    let next_url = m.url_of(&next).map(str::to_owned).unwrap_or_default();
    assert!(dialled.contains(&next_url), "{dialled:?} lacks {next_url}");
}

#[test]
fn made_up_pub_ids_are_refused_past_the_cap_and_expire() {
    let cfg = Config { max_pubs: 50, ..Config::default() };
    let ttl = cfg.unannounced_ttl;
    let mut m = Mesh::new(cfg, id(1), Some(url(1)), vec![], t(0));
    announce(&mut m, t(0), 1, 1);
    m.handle_packet(t(0), FaceId(5), &packet::MeshPacket::Hello(id(2)).encode());
    let fake = |i: u32| {
        let mut b = [0xee; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        FeedId(b)
    };
    for i in 0..200u32 {
        m.handle_packet(t(1), FaceId(5), &packet::MeshPacket::Pubs(vec![fake(i)]).encode());
    }
    assert_eq!(m.known_count(), 50);
    assert!(m.stats().pubs_refused >= 150);
    // Made-up ids never announce: they are forgotten, and real pubs are learned again.
    m.handle_timeout(t(1) + ttl);
    assert_eq!((0..200).filter(|i| m.is_pub(&fake(*i))).count(), 0);
    m.handle_packet(t(2) + ttl, FaceId(6), &packet::MeshPacket::Hello(id(3)).encode());
    assert!(m.is_pub(&id(3)));
}
