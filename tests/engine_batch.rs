//! Batched signature verification: entries accepted by their DMX are verified together when the
//! node's timers run (the pending batch makes them due at once); forged entries (and whatever was chained on them) never reach the store,
//! the valid prefix of a burst does, and chunks that arrive before their entry is verified are
//! stored once it is.
use tinyssb::crypto::Keypair;
use tinyssb::ids::{FeedId, MsgId, Seq};
use tinyssb::node::{Config, Event, FaceId, Node};
use tinyssb::stats::DropReason;
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Instant;
use tinyssb::wire::chunk::Chunk;
use tinyssb::wire::entry::{entry_dmx, Entry};
use tinyssb_sim::key;

const FACE: FaceId = FaceId(1);

/// A feed authored by `k` with one entry per content; returns its entries and their chunks.
fn authored(k: &Keypair, contents: &[Vec<u8>]) -> Vec<(Entry, Vec<Chunk>)> {
    let mut author = Node::new(Config::default(), MemStore::default(), Instant(0));
    for c in contents {
        author.publish(Instant(0), k, c).expect("publish");
    }
    let mut store = author.into_store();
    let fid = k.feed_id();
    (1..=contents.len() as u32)
        .map(|s| {
            let e = store.read_entry(&fid, Seq(s)).expect("read").expect("entry");
            let chunks = (0..).map_while(|nr| store.read_chunk(&fid, Seq(s), nr).ok().flatten()).collect();
            (e, chunks)
        })
        .collect()
}

fn receiver(fid: FeedId) -> Node<MemStore> {
    let mut rx = Node::new(Config::default(), MemStore::default(), Instant(0));
    rx.follow(Instant(0), fid).expect("follow");
    rx.handle_timeout(Instant(0)); // the first GOset round: the next deadline is far away
    while rx.poll_event().is_some() {}
    rx
}

/// Runs the due timers (which settle the batch) and takes the events.
fn drain(rx: &mut Node<MemStore>) -> Vec<Event> {
    rx.handle_timeout(Instant(10));
    std::iter::from_fn(|| rx.poll_event()).collect()
}

fn frontier(rx: &mut Node<MemStore>, fid: &FeedId) -> u32 {
    rx.store_mut().frontier(fid).map_or(0, |f| f.seq.0)
}

fn short(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
}

/// An entry with the right DMX for `seq` after `prev` but a signature nobody made.
fn forged(fid: &FeedId, seq: Seq, prev: &MsgId, fill: u8) -> Entry {
    let mut e = Entry([fill; 120]);
    e.0[..7].copy_from_slice(&entry_dmx(fid, seq, prev).0);
    e
}

#[test]
fn a_burst_is_stored_only_when_the_timers_run_and_then_all_of_it() {
    let k = key(1);
    let fid = k.feed_id();
    let feed = authored(&k, &short(150));
    let mut rx = receiver(fid);
    for (e, _) in feed.iter().take(40) {
        rx.handle_packet(Instant(5), FACE, &e.0);
    }
    let stored = |rx: &Node<MemStore>| rx.store().frontier(&fid).map_or(0, |f| f.seq.0);
    assert_eq!(stored(&rx), 0, "nothing is stored before the batch settles");
    assert_eq!(rx.poll_timeout(), Some(Instant(5)), "a pending batch is due at once");
    let events = drain(&mut rx);
    assert_eq!(events.iter().filter(|e| matches!(e, Event::EntryStored { .. })).count(), 40);
    assert_eq!(frontier(&mut rx, &fid), 40);
    // More than one batch's worth in one burst: full batches settle on their own.
    for (e, _) in feed.iter().skip(40) {
        rx.handle_packet(Instant(6), FACE, &e.0);
    }
    assert_eq!(stored(&rx), 40 + 64, "a full batch settles on its own");
    drain(&mut rx);
    assert_eq!(frontier(&mut rx, &fid), 150);
    assert_eq!(rx.stats().entries_in, 150);
}

#[test]
fn a_bad_signature_keeps_the_valid_prefix_and_drops_the_rest() {
    let k = key(2);
    let fid = k.feed_id();
    let feed = authored(&k, &short(10));
    let mut rx = receiver(fid);
    let mut bad = feed[4].0;
    bad.0[100] ^= 1; // signature bit: same DMX, different msg id
    for (e, _) in &feed[..4] {
        rx.handle_packet(Instant(1), FACE, &e.0);
    }
    rx.handle_packet(Instant(1), FACE, &bad.0);
    for (e, _) in &feed[5..] {
        rx.handle_packet(Instant(1), FACE, &e.0); // chained on the honest 5th: unknown here
    }
    drain(&mut rx);
    assert_eq!(frontier(&mut rx, &fid), 4);
    assert_eq!(rx.stats().dropped(DropReason::BadSignature), 1);
    assert_eq!(rx.stats().dropped(DropReason::Unknown), 5);
    // The honest entries are accepted after the rollback.
    for (e, _) in &feed[4..] {
        rx.handle_packet(Instant(2), FACE, &e.0);
    }
    drain(&mut rx);
    assert_eq!(frontier(&mut rx, &fid), 10);
}

#[test]
fn a_forged_chain_is_dropped_whole_and_the_feed_rolls_back() {
    let k = key(3);
    let fid = k.feed_id();
    let feed = authored(&k, &short(6));
    let mut rx = receiver(fid);
    for (e, _) in &feed[..3] {
        rx.handle_packet(Instant(1), FACE, &e.0);
    }
    // Forged entries 4, 5, 6, each with the DMX the previous forged one makes valid.
    let mut prev = fid.genesis_prev();
    for (s, (e, _)) in (1..=3).zip(&feed) {
        prev = e.msg_id(&fid, Seq(s), &prev);
    }
    for s in 4..=6 {
        let f = forged(&fid, Seq(s), &prev, s as u8);
        rx.handle_packet(Instant(1), FACE, &f.0);
        prev = f.msg_id(&fid, Seq(s), &prev);
    }
    drain(&mut rx);
    assert_eq!(frontier(&mut rx, &fid), 3);
    assert_eq!(rx.stats().dropped(DropReason::BadSignature), 1);
    assert_eq!(rx.stats().dropped(DropReason::Unknown), 2);
    for (e, _) in &feed[3..] {
        rx.handle_packet(Instant(2), FACE, &e.0);
    }
    drain(&mut rx);
    assert_eq!(frontier(&mut rx, &fid), 6);
    assert_eq!(rx.store_mut().read_entry(&fid, Seq(6)).expect("read"), Some(feed[5].0));
}

#[test]
fn chunks_that_beat_the_check_are_stored_with_their_entry() {
    let k = key(4);
    let fid = k.feed_id();
    let contents = vec![b"short".to_vec(), vec![7u8; 1500], b"after".to_vec(), vec![9u8; 300]];
    let feed = authored(&k, &contents);
    assert!(feed[1].1.len() > 10 && !feed[3].1.is_empty());
    let mut rx = receiver(fid);
    for (e, chunks) in &feed {
        rx.handle_packet(Instant(1), FACE, &e.0);
        for c in chunks {
            rx.handle_packet(Instant(1), FACE, &c.0);
        }
    }
    assert_eq!(rx.stats().dropped(DropReason::Unknown), 0, "every chunk was expected");
    let events = drain(&mut rx);
    let complete: Vec<Seq> = events
        .iter()
        .filter_map(|e| match e {
            Event::ChainComplete { seq, .. } => Some(*seq),
            _ => None,
        })
        .collect();
    assert_eq!(complete, vec![Seq(2), Seq(4)]);
    let store = rx.store_mut();
    assert!(store.pending_chains(&fid).is_empty());
    for (s, (_, chunks)) in (1..).zip(&feed) {
        for (nr, c) in (0..).zip(chunks) {
            assert_eq!(store.read_chunk(&fid, Seq(s), nr).expect("read"), Some(*c));
        }
    }
}

#[test]
fn chunks_of_a_forged_entry_are_never_stored() {
    let k = key(5);
    let fid = k.feed_id();
    let honest = authored(&k, &[vec![1u8; 900]]);
    let mut rx = receiver(fid);
    // The forger reuses a real sidechain under an entry with a broken signature.
    let mut bad = honest[0].0;
    bad.0[119] ^= 0x40;
    rx.handle_packet(Instant(1), FACE, &bad.0);
    for c in &honest[0].1 {
        rx.handle_packet(Instant(1), FACE, &c.0);
    }
    drain(&mut rx);
    assert_eq!(frontier(&mut rx, &fid), 0);
    assert_eq!(rx.stats().chunks_in, 0);
    assert_eq!(rx.stats().dropped(DropReason::BadSignature), 1);
    // Its chunk expectations are gone; the honest entry and chain then go through.
    for c in &honest[0].1 {
        rx.handle_packet(Instant(2), FACE, &c.0);
    }
    drain(&mut rx);
    assert_eq!(rx.stats().dropped(DropReason::Unknown), honest[0].1.len() as u64);
    rx.handle_packet(Instant(3), FACE, &honest[0].0 .0);
    for c in &honest[0].1 {
        rx.handle_packet(Instant(3), FACE, &c.0);
    }
    drain(&mut rx);
    assert_eq!(frontier(&mut rx, &fid), 1);
    assert_eq!(rx.stats().chunks_in, honest[0].1.len() as u64);
    assert!(rx.store_mut().pending_chains(&fid).is_empty());
}
