//! Dropping feeds from a running engine, tombstones, and expiry of feeds that went quiet.

use std::collections::BTreeSet;

use tinyssb::crypto::Keypair;
use tinyssb::feed::author_plain48;
use tinyssb::goset::GoSet;
use tinyssb::node::{Admission, Config, Event, FaceId, FaceKind, Node, PublishError};
use tinyssb::stats::DropReason;
use tinyssb::store::fs::{FsConfig, FsStore, DROPPED_DIR};
use tinyssb::store::mem::MemStore;
use tinyssb::store::{Frontier, Store};
use tinyssb::time::{Duration, Instant};
use tinyssb::wire::entry::Entry;
use tinyssb::wire::goset::GosetMsg;
use tinyssb::wire::request::{chnk_dmx, want_dmx};
use tinyssb::{FeedId, Seq};

const FACE: FaceId = FaceId(1);

fn key(i: u8) -> Keypair {
    Keypair::from_seed(&[i; 32])
}

fn up<S: Store>(mut n: Node<S>) -> Node<S> {
    n.handle_face_up(Instant(0), FACE, FaceKind::Reliable);
    n
}

fn events<S: Store>(n: &mut Node<S>) -> Vec<Event> {
    let _ = n.store_mut();
    while n.poll_transmit().is_some() {}
    std::iter::from_fn(|| n.poll_event()).collect()
}

fn first_entry(k: &Keypair) -> Entry {
    let at = Frontier { seq: Seq(0), prev: k.feed_id().genesis_prev() };
    author_plain48(k, &at, b"first").unwrap().entry
}

fn dropped(ev: &[Event]) -> Vec<(FeedId, Option<Duration>)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::FeedDropped { fid, idle, .. } => Some((*fid, *idle)),
            _ => None,
        })
        .collect()
}

/// The request DMX values of a set holding exactly `keys`.
fn dmx_of(keys: &[FeedId]) -> (tinyssb::ids::Dmx, tinyssb::ids::Dmx) {
    let mut g = GoSet::default();
    for k in keys {
        assert!(g.add(*k));
    }
    (want_dmx(&g.state()), chnk_dmx(&g.state()))
}

#[test]
fn a_dropped_feed_leaves_the_goset_and_is_refused_from_then_on() {
    let (gone, kept) = (key(1), key(2));
    // Even an explicit allow entry does not bring a dropped feed back.
    let allow: BTreeSet<FeedId> = [gone.feed_id(), kept.feed_id()].into();
    let cfg =
        Config { admission: Admission { allow: Some(allow), ..Admission::default() }, ..Config::default() };
    let mut n = up(Node::new(cfg.clone(), MemStore::new(), Instant(0)));
    n.publish(Instant(1), &gone, b"one").unwrap();
    n.publish(Instant(1), &kept, b"two").unwrap();
    let both = dmx_of(&[gone.feed_id(), kept.feed_id()]);
    assert_eq!((n.want_dmx(), n.chnk_dmx()), both);
    events(&mut n);

    assert_eq!(n.drop_feed(Instant(2), gone.feed_id()).unwrap(), None);
    let ev = events(&mut n);
    assert_eq!(dropped(&ev), vec![(gone.feed_id(), None)]);
    assert!(!n.goset().contains(&gone.feed_id()));
    assert!(n.goset().is_confirmed(&kept.feed_id()));
    let only_kept = dmx_of(&[kept.feed_id()]);
    assert_eq!((n.want_dmx(), n.chnk_dmx()), only_kept, "the request DMX values follow the set");
    // A request on the old DMX is no longer ours.
    let mut old_want = both.0 .0.to_vec();
    old_want.extend_from_slice(&[0x00]);
    let before = n.stats().dropped(DropReason::Unknown);
    n.handle_packet(Instant(3), FACE, &old_want);
    assert_eq!(n.stats().dropped(DropReason::Unknown), before + 1);
    assert_eq!(n.store().feeds(), vec![kept.feed_id()]);
    assert_eq!(n.tombstones().copied().collect::<Vec<_>>(), vec![gone.feed_id()]);

    // A peer offering it again is refused as denied, and its entries find no expectation.
    n.handle_packet(Instant(4), FACE, &GosetMsg::Novelty(gone.feed_id()).to_packet());
    let ev = events(&mut n);
    assert!(ev.contains(&Event::Refused { face: FACE, fid: gone.feed_id(), reason: DropReason::Denied }));
    assert!(!n.goset().contains(&gone.feed_id()));
    let before = n.stats().dropped(DropReason::Unknown);
    n.handle_packet(Instant(5), FACE, &first_entry(&gone).0);
    assert_eq!(n.stats().dropped(DropReason::Unknown), before + 1);
    assert!(matches!(n.follow(Instant(6), gone.feed_id()), Err(PublishError::Refused(DropReason::Denied))));
    assert!(matches!(n.publish(Instant(6), &gone, b"x"), Err(PublishError::Refused(DropReason::Denied))));

    // The tombstone lives in the store: a node restarted over it still refuses the feed, and
    // once the tombstone is removed the feed can be learned again.
    let mut store = n.into_store();
    let mut n = up(Node::new(cfg.clone(), store.clone(), Instant(10)));
    n.handle_packet(Instant(11), FACE, &GosetMsg::Novelty(gone.feed_id()).to_packet());
    assert!(!n.goset().contains(&gone.feed_id()));
    assert!(store.remove_tombstone(&gone.feed_id()));
    let mut n = up(Node::new(cfg, store, Instant(20)));
    n.handle_packet(Instant(21), FACE, &GosetMsg::Novelty(gone.feed_id()).to_packet());
    assert!(n.goset().contains(&gone.feed_id()));
}

#[test]
fn dropping_through_the_file_store_moves_the_directory_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let k = key(3);
    let store = FsStore::open(&root, FsConfig::default()).unwrap();
    let mut n = up(Node::new(Config::default(), store, Instant(0)));
    n.publish(Instant(1), &k, b"hello").unwrap();
    let kept = n.drop_feed(Instant(2), k.feed_id()).unwrap();
    assert_eq!(kept, Some(root.join(DROPPED_DIR).join(format!("{}-0", k.feed_id()))));
    let ev = events(&mut n);
    assert!(ev.contains(&Event::FeedDropped { fid: k.feed_id(), kept, idle: None }));
    assert!(!root.join(k.feed_id().to_hex()).exists());
    drop(n);
    let store = FsStore::open(&root, FsConfig::default()).unwrap();
    let mut n = up(Node::new(Config::default(), store, Instant(10)));
    assert!(n.goset().is_empty());
    n.handle_packet(Instant(11), FACE, &GosetMsg::Novelty(k.feed_id()).to_packet());
    assert!(!n.goset().contains(&k.feed_id()));
    assert_eq!(n.stats().dropped(DropReason::Denied), 1);
}

#[test]
fn feeds_without_new_entries_expire_after_the_configured_time() {
    let (quiet, busy, fetched) = (key(4), key(5), key(6));
    let cfg = Config { expire_after: Some(Duration::from_millis(100)), ..Config::default() };
    let mut n = up(Node::new(cfg, MemStore::new(), Instant(0)));
    n.publish(Instant(0), &quiet, b"q").unwrap();
    n.publish(Instant(0), &busy, b"b1").unwrap();
    n.publish(Instant(60), &busy, b"b2").unwrap();
    // A feed learned from a peer and confirmed by an entry at 70 ms.
    n.handle_packet(Instant(0), FACE, &GosetMsg::Novelty(fetched.feed_id()).to_packet());
    n.handle_packet(Instant(70), FACE, &first_entry(&fetched).0);
    // An id nobody confirms is left to its own (much longer) expiry.
    let fake = FeedId([0x55; 32]);
    n.handle_packet(Instant(0), FACE, &GosetMsg::Novelty(fake).to_packet());
    events(&mut n);
    assert!(n.goset().is_confirmed(&fetched.feed_id()));

    assert!(n.poll_timeout().unwrap() <= Instant(100), "the expiry check is a timer");
    n.handle_timeout(Instant(100));
    let ev = events(&mut n);
    assert_eq!(dropped(&ev), vec![(quiet.feed_id(), Some(Duration(100)))]);
    assert!(!n.goset().contains(&quiet.feed_id()));
    assert!(n.goset().contains(&busy.feed_id()) && n.goset().contains(&fake));
    assert_eq!(n.feed_idle(Instant(100), &busy.feed_id()), Some(Duration(40)));

    // The next check is one period later, not at every timeout.
    n.handle_timeout(Instant(150));
    assert!(dropped(&events(&mut n)).is_empty());
    n.handle_timeout(Instant(200));
    let mut gone: Vec<FeedId> = dropped(&events(&mut n)).into_iter().map(|(f, _)| f).collect();
    gone.sort();
    let mut want = vec![busy.feed_id(), fetched.feed_id()];
    want.sort();
    assert_eq!(gone, want);
    assert_eq!(n.goset().keys(), &[fake]);
    assert_eq!(n.tombstones().count(), 3);
}

#[test]
fn a_driver_can_say_how_long_a_feed_was_quiet_before_the_start() {
    let k = key(7);
    let mut store = MemStore::new();
    store.add_feed(k.feed_id()).unwrap();
    let at = Frontier { seq: Seq(0), prev: k.feed_id().genesis_prev() };
    let a = author_plain48(&k, &at, b"old").unwrap();
    store.append_entry(&k.feed_id(), &a.entry, a.msg_id).unwrap();
    let cfg = Config { expire_after: Some(Duration::from_secs(3 * 86_400)), ..Config::default() };
    let mut n = Node::new(cfg, store, Instant(5));
    // Fresh at start-up unless told otherwise.
    assert_eq!(n.feed_idle(Instant(5), &k.feed_id()), Some(Duration::ZERO));
    n.set_feed_idle(Instant(5), &k.feed_id(), Duration::from_secs(4 * 86_400));
    assert_eq!(n.feed_idle(Instant(1005), &k.feed_id()), Some(Duration(4 * 86_400_000 + 1000)));
    n.handle_timeout(Instant(5));
    assert_eq!(dropped(&events(&mut n)), vec![(k.feed_id(), Some(Duration(4 * 86_400_000)))]);
    // Checks then run at most hourly.
    assert!(n.poll_timeout().unwrap() <= Instant(5) + Duration::from_secs(3600));
}
