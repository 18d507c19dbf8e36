//! Admission rules of the engine: unconfirmed GOset ids, access lists and size limits.

use std::collections::BTreeSet;

use tinyssb::crypto::Keypair;
use tinyssb::feed::{author_chain20, author_plain48};
use tinyssb::node::{Admission, Config, Event, FaceId, FaceKind, Node, PublishError, Role};
use tinyssb::stats::DropReason;
use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::mem::MemStore;
use tinyssb::store::{Frontier, Store};
use tinyssb::time::{Duration, Instant};
use tinyssb::wire::entry::{Entry, EntryType, PAYLOAD_LEN};
use tinyssb::wire::goset::GosetMsg;
use tinyssb::wire::request::want_dmx;
use tinyssb::{FeedId, Seq};

const FACE: FaceId = FaceId(1);

fn key(i: u8) -> Keypair {
    Keypair::from_seed(&[i; 32])
}

fn fake(i: u32) -> FeedId {
    let mut id = [0x77u8; 32];
    id[..4].copy_from_slice(&i.to_be_bytes());
    FeedId(id)
}

fn node_with(adm: Admission) -> Node<MemStore> {
    let cfg = Config { admission: adm, ..Config::default() };
    let mut n = Node::new(cfg, MemStore::default(), Instant(0));
    n.handle_face_up(Instant(0), FACE, FaceKind::Reliable);
    n
}

fn novelty<S: Store>(n: &mut Node<S>, now: Instant, fid: FeedId) {
    n.handle_packet(now, FACE, &GosetMsg::Novelty(fid).to_packet().unwrap());
}

fn events<S: Store>(n: &mut Node<S>) -> Vec<Event> {
    // Settle the signature batch (a driver does it by running the due timers).
    let _ = n.store_mut();
    while n.poll_transmit().is_some() {}
    std::iter::from_fn(|| n.poll_event()).collect()
}

/// Feed directories in a data directory (the lock file and other files do not count).
fn feed_dirs(data: &std::path::Path) -> usize {
    std::fs::read_dir(data).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count()
}

fn refusals(events: &[Event]) -> Vec<(FeedId, DropReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Refused { fid, reason, .. } => Some((*fid, *reason)),
            _ => None,
        })
        .collect()
}

/// The first `n` plain48 entries of `k`'s feed.
fn plain_entries(k: &Keypair, n: u32) -> Vec<Entry> {
    let mut at = Frontier { seq: Seq(0), prev: k.feed_id().genesis_prev() };
    (0..n)
        .map(|i| {
            let a = author_plain48(k, &at, format!("entry {i}").as_bytes()).unwrap();
            at = a.frontier;
            a.entry
        })
        .collect()
}

/// A correctly signed first chain20 entry announcing `len` bytes of content (its chunks never exist).
fn huge_chain20(k: &Keypair, len: u64) -> Entry {
    let mut payload = [0u8; PAYLOAD_LEN];
    let mut v = Vec::new();
    tinyssb::wire::varint::encode(len, &mut v);
    payload[..v.len()].copy_from_slice(&v);
    payload[28..].fill(0xab);
    Entry::sign(k, Seq(1), &k.feed_id().genesis_prev(), EntryType::Chain20.byte(), &payload)
}

#[test]
fn learned_ids_get_no_store_feed_until_their_first_entry() {
    let mut n = node_with(Admission::default());
    let k = key(1);
    novelty(&mut n, Instant(10), k.feed_id());
    let ev = events(&mut n);
    assert!(n.goset().contains(&k.feed_id()));
    assert!(!n.goset().is_confirmed(&k.feed_id()));
    assert!(n.store().feeds().is_empty(), "no store feed for a bare id");
    assert!(!ev.iter().any(|e| matches!(e, Event::FeedAdded(_))));

    let entries = plain_entries(&k, 2);
    n.handle_packet(Instant(20), FACE, &entries[0].0);
    let ev = events(&mut n);
    assert!(ev.contains(&Event::FeedAdded(k.feed_id())));
    assert!(n.goset().is_confirmed(&k.feed_id()));
    assert_eq!(n.store().frontier(&k.feed_id()).map(|f| f.seq), Some(Seq(1)));
    // A confirmed feed never expires.
    n.handle_timeout(Instant(0) + Duration::from_secs(3600));
    assert!(n.goset().contains(&k.feed_id()));
}

#[test]
fn unconfirmed_ids_expire_are_quarantined_and_the_dmx_follows() {
    let adm = Admission {
        unconfirmed_ttl: Duration::from_secs(60),
        quarantine: Duration::from_secs(120),
        ..Admission::default()
    };
    let mut n = node_with(adm);
    let empty_dmx = n.want_dmx();
    novelty(&mut n, Instant(1_000), fake(1));
    assert_ne!(n.want_dmx(), empty_dmx);
    n.handle_timeout(Instant(30_000));
    assert!(n.goset().contains(&fake(1)), "not yet");
    // Hearing it again does not prolong it.
    novelty(&mut n, Instant(50_000), fake(1));
    assert!(n.poll_timeout().unwrap() <= Instant(61_000));
    n.handle_timeout(Instant(61_000));
    let ev = events(&mut n);
    assert!(!n.goset().contains(&fake(1)));
    assert!(ev.contains(&Event::FeedForgotten(fake(1))));
    assert_eq!(n.want_dmx(), empty_dmx);
    assert_eq!(n.want_dmx(), want_dmx(&n.goset().state()));
    // Quarantined for two ttls after it left, then learnable again.
    novelty(&mut n, Instant(180_000), fake(1));
    assert!(!n.goset().contains(&fake(1)));
    novelty(&mut n, Instant(182_000), fake(1));
    assert!(n.goset().contains(&fake(1)));
}

#[test]
fn a_full_set_evicts_the_oldest_unconfirmed_id() {
    let cfg = Config { goset_cap: 10, ..Config::default() };
    let mut n = Node::new(cfg, MemStore::default(), Instant(0));
    n.handle_face_up(Instant(0), FACE, FaceKind::Reliable);
    let own = key(9);
    n.publish(Instant(0), &own, b"mine").unwrap();
    for i in 0..30 {
        novelty(&mut n, Instant(u64::from(i) * 10), fake(i));
    }
    let ev = events(&mut n);
    assert_eq!(n.goset().len(), 10);
    assert!(n.goset().is_confirmed(&own.feed_id()));
    // The nine youngest fakes are kept, the rest were evicted oldest first.
    for i in 0..21 {
        assert!(!n.goset().contains(&fake(i)), "fake {i} evicted");
        assert!(ev.contains(&Event::FeedForgotten(fake(i))));
    }
    for i in 21..30 {
        assert!(n.goset().contains(&fake(i)));
    }
    assert_eq!(n.store().feeds(), vec![own.feed_id()]);
    assert_eq!(n.want_dmx(), want_dmx(&n.goset().state()));
    // A local follow also takes the place of the oldest unconfirmed id.
    assert!(n.follow(Instant(1_000), key(8).feed_id()).unwrap());
    assert!(!n.goset().contains(&fake(21)));
    assert!(n.goset().is_confirmed(&key(8).feed_id()));
    // An honest id arriving later evicts a fake too, and its first entry confirms it.
    let honest = key(7);
    novelty(&mut n, Instant(2_000), honest.feed_id());
    assert!(n.goset().contains(&honest.feed_id()));
    n.handle_packet(Instant(2_010), FACE, &plain_entries(&honest, 1)[0].0);
    let _ = events(&mut n);
    assert!(n.goset().is_confirmed(&honest.feed_id()));
    assert_eq!(n.goset().confirmed_len(), 3);
}

#[test]
fn an_empty_feed_directory_is_unconfirmed_at_start_up() {
    let mut store = MemStore::default();
    let full = key(1);
    store.add_feed(fake(1)).unwrap();
    store.add_feed(full.feed_id()).unwrap();
    let e = plain_entries(&full, 1).remove(0);
    store
        .append_entry(&full.feed_id(), &e, e.msg_id(&full.feed_id(), Seq(1), &full.feed_id().genesis_prev()))
        .unwrap();
    let adm = Admission { unconfirmed_ttl: Duration::from_secs(60), ..Admission::default() };
    let mut n = Node::new(Config { admission: adm, ..Config::default() }, store, Instant(5_000));
    assert!(n.goset().is_confirmed(&full.feed_id()));
    assert!(n.goset().contains(&fake(1)) && !n.goset().is_confirmed(&fake(1)));
    n.handle_timeout(Instant(65_000));
    assert!(!n.goset().contains(&fake(1)));
    assert!(n.goset().contains(&full.feed_id()));
}

#[test]
fn deny_list_drops_ids_entries_and_follows() {
    let bad = key(2);
    let adm = Admission { deny: BTreeSet::from([bad.feed_id()]), ..Admission::default() };
    let mut n = node_with(adm.clone());
    novelty(&mut n, Instant(1), bad.feed_id());
    let ev = events(&mut n);
    assert!(!n.goset().contains(&bad.feed_id()));
    assert_eq!(refusals(&ev), vec![(bad.feed_id(), DropReason::Denied)]);
    assert_eq!(n.stats().dropped(DropReason::Denied), 1);
    assert!(matches!(n.follow(Instant(2), bad.feed_id()), Err(PublishError::Refused(DropReason::Denied))));
    // A denied feed already in the store is not followed at start-up.
    let mut store = MemStore::default();
    store.add_feed(bad.feed_id()).unwrap();
    let n = Node::new(Config { admission: adm, ..Config::default() }, store, Instant(0));
    assert!(n.goset().is_empty());
}

#[test]
fn allow_list_drops_every_other_id() {
    let (good, other) = (key(3), key(4));
    let mut n =
        node_with(Admission { allow: Some(BTreeSet::from([good.feed_id()])), ..Admission::default() });
    novelty(&mut n, Instant(1), good.feed_id());
    novelty(&mut n, Instant(2), other.feed_id());
    let ev = events(&mut n);
    assert_eq!(n.goset().keys(), &[good.feed_id()]);
    assert_eq!(refusals(&ev), vec![(other.feed_id(), DropReason::NotAllowed)]);
    assert_eq!(n.stats().dropped(DropReason::NotAllowed), 1);
}

#[test]
fn oversized_sidechain_is_refused_and_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path(), FsConfig::default()).unwrap();
    let mut n = Node::new(Config::default(), store, Instant(0));
    n.handle_face_up(Instant(0), FACE, FaceKind::Reliable);
    let k = key(5);
    novelty(&mut n, Instant(1), k.feed_id());
    // One correctly signed entry announcing a 3.5 GB sidechain.
    n.handle_packet(Instant(2), FACE, &huge_chain20(&k, 3_500_000_000).0);
    let ev = events(&mut n);
    assert_eq!(refusals(&ev), vec![(k.feed_id(), DropReason::SidechainTooLarge)]);
    assert_eq!(n.stats().dropped(DropReason::SidechainTooLarge), 1);
    assert!(n.store().frontier(&k.feed_id()).is_none());
    assert_eq!(feed_dirs(dir.path()), 0, "no feed directory, no log.bin");
    // The feed expects its first entry again: a reasonable one is taken.
    let ok =
        author_chain20(&k, &Frontier { seq: Seq(0), prev: k.feed_id().genesis_prev() }, &[1; 500]).unwrap();
    n.handle_packet(Instant(3), FACE, &ok.entry.0);
    let _ = events(&mut n);
    assert_eq!(n.store().frontier(&k.feed_id()).map(|f| f.seq), Some(Seq(1)));
    // Just over a lowered limit is refused as well.
    let small = Admission { max_sidechain_bytes: 1000, ..Admission::default() };
    let mut n = node_with(small);
    novelty(&mut n, Instant(1), k.feed_id());
    n.handle_packet(Instant(2), FACE, &huge_chain20(&k, 1001).0);
    assert_eq!(refusals(&events(&mut n)), vec![(k.feed_id(), DropReason::SidechainTooLarge)]);
    assert!(n.store().feeds().is_empty());
    // The same entry again (our WANTs keep asking for it) is dropped unverified, counted, not
    // reported again, and is no progress that would make the node ask again at once.
    let deadline = n.poll_timeout();
    n.handle_packet(Instant(3), FACE, &huge_chain20(&k, 1001).0);
    assert!(refusals(&events(&mut n)).is_empty());
    assert_eq!(n.poll_timeout(), deadline);
    assert_eq!(n.stats().dropped(DropReason::SidechainTooLarge), 2);
}

#[test]
fn max_feed_bytes_stops_a_feed_from_growing() {
    // Two plain48 records: 2 × (120 + 4) bytes.
    let mut n = node_with(Admission { max_feed_bytes: 248, ..Admission::default() });
    let k = key(6);
    novelty(&mut n, Instant(1), k.feed_id());
    for (i, e) in plain_entries(&k, 3).iter().enumerate() {
        n.handle_packet(Instant(2 + i as u64), FACE, &e.0);
    }
    let ev = events(&mut n);
    assert_eq!(refusals(&ev), vec![(k.feed_id(), DropReason::FeedTooLarge)]);
    assert_eq!(n.store().frontier(&k.feed_id()).map(|f| f.seq), Some(Seq(2)));
    assert_eq!(n.store().log_len(&k.feed_id()), Some(248));
    assert_eq!(n.stats().dropped(DropReason::FeedTooLarge), 1);
}

#[test]
fn max_feeds_refuses_the_first_entry_of_one_feed_too_many() {
    let mut n = node_with(Admission { max_feeds: 2, ..Admission::default() });
    let keys: Vec<Keypair> = (10..13).map(key).collect();
    for k in &keys {
        novelty(&mut n, Instant(1), k.feed_id());
    }
    for k in &keys {
        n.handle_packet(Instant(2), FACE, &plain_entries(k, 1)[0].0);
    }
    let ev = events(&mut n);
    let refused = refusals(&ev);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].1, DropReason::TooManyFeeds);
    assert_eq!(n.store().feeds().len(), 2);
    assert!(!n.goset().is_confirmed(&refused[0].0));
    assert_eq!(n.stats().dropped(DropReason::TooManyFeeds), 1);
}

#[test]
fn fake_id_flood_creates_no_directory_in_the_fs_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path(), FsConfig::default()).unwrap();
    let mut n = Node::new(Config { goset_cap: 100, ..Config::default() }, store, Instant(0));
    n.handle_face_up(Instant(0), FACE, FaceKind::Reliable);
    for i in 0..120 {
        novelty(&mut n, Instant(u64::from(i)), fake(i));
    }
    let _ = events(&mut n);
    assert_eq!(n.goset().len(), 100);
    assert_eq!(feed_dirs(dir.path()), 0);
    // A followed feed does get its directory, and takes an unconfirmed id's slot.
    n.follow(Instant(200), key(1).feed_id()).unwrap();
    let _ = n.into_store();
    assert_eq!(feed_dirs(dir.path()), 1);
}

#[test]
fn a_node_that_does_not_ingest_keeps_learned_ids() {
    // It can never confirm them, and expiring them would only make its set differ from its peers'.
    let cfg = Config { role: Role::Out, ..Config::default() };
    let mut n = Node::new(cfg, MemStore::default(), Instant(0));
    n.handle_face_up(Instant(0), FACE, FaceKind::Reliable);
    novelty(&mut n, Instant(1), fake(1));
    n.handle_timeout(Instant(0) + Duration::from_secs(7200));
    assert!(n.goset().contains(&fake(1)) && !n.goset().is_confirmed(&fake(1)));
    assert!(n.store().feeds().is_empty());
}

#[test]
fn following_into_a_set_full_of_confirmed_feeds_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = FsStore::open(dir.path(), FsConfig::default()).unwrap();
    let mut n = Node::new(Config { goset_cap: 2, ..Config::default() }, store, Instant(0));
    n.follow(Instant(0), key(1).feed_id()).unwrap();
    n.follow(Instant(0), key(2).feed_id()).unwrap();
    assert!(matches!(n.follow(Instant(0), key(3).feed_id()), Err(PublishError::GosetFull)));
    let _ = n.into_store();
    assert_eq!(feed_dirs(dir.path()), 2);
}
