//! A file store damaged on disk: the engine audits stored entries and their chunks before it
//! serves them, and moves the damaged entry and everything after it into a file next to the log
//! (never deleting it), with the frontier set back durably.
use tinyssb::crypto::Keypair;
use tinyssb::node::{Config, Event, FaceId, FaceKind, Node};
use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::Store;
use tinyssb::time::Instant;
use tinyssb::wire::entry::ENTRY_LEN;
use tinyssb::wire::request::{RequestVector, WantVector};
use tinyssb::Seq;

#[test]
fn a_damaged_chunk_on_disk_is_quarantined_not_served() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let key = Keypair::from_seed(&[7; 32]);
    let fid = key.feed_id();
    {
        let store = FsStore::open(&data, FsConfig::default()).expect("open");
        let mut node = Node::new(Config::default(), store, Instant(0));
        node.publish(Instant(0), &key, b"one").expect("publish");
        node.publish(Instant(0), &key, b"two").expect("publish");
        node.publish(Instant(0), &key, &[0x33; 500]).expect("publish");
        node.publish(Instant(0), &key, b"four").expect("publish");
        node.store_mut().sync().expect("sync");
    }
    // Entries 1 and 2 are plain records (entry + back pointer); entry 3's record starts after
    // them, and its second chunk slot two slots further on. Flip a bit in that chunk.
    let log = data.join(fid.to_string()).join("log.bin");
    let mut bytes = std::fs::read(&log).expect("read log");
    let third = 2 * (ENTRY_LEN + 4);
    let original_len = bytes.len();
    bytes[third + 2 * 120 + 50] ^= 0x01;
    std::fs::write(&log, &bytes).expect("write log");

    let store = FsStore::open(&data, FsConfig::default()).expect("reopen");
    let mut node = Node::new(Config::default(), store, Instant(0));
    let face = FaceId(1);
    node.handle_face_up(Instant(0), face, FaceKind::Reliable);
    // A new face first listens for the peer's ids; then the node offers its feed.
    node.handle_timeout(Instant(3_000));
    while node.poll_transmit().is_some() {}
    let mut want = node.want_dmx_on(face).expect("face").0.to_vec();
    want.extend_from_slice(&WantVector::fitting(0, [Seq(1)]).encode());
    node.handle_packet(Instant(3_001), face, &want);
    let served: Vec<_> = std::iter::from_fn(|| node.poll_transmit()).map(|t| t.packet).collect();
    assert_eq!(served.len(), 2, "only entries 1 and 2 are served");
    let events: Vec<Event> = std::iter::from_fn(|| node.poll_event()).collect();
    let kept = events
        .iter()
        .find_map(|e| match e {
            Event::Quarantined { fid: f, from, kept } if *f == fid && *from == Seq(3) => kept.clone(),
            _ => None,
        })
        .expect("entry 3 was quarantined");
    let aside = std::fs::read(&kept).expect("the damaged tail is kept");
    assert_eq!(aside.len(), original_len - third);
    assert_eq!(aside, bytes[third..], "the quarantine file holds the damaged bytes as they were");
    assert_eq!(std::fs::metadata(&log).expect("log").len() as usize, third);
    assert_eq!(node.store().frontier(&fid).map(|f| f.seq), Some(Seq(2)));
    drop(node);
    let reopened = FsStore::open(&data, FsConfig::default()).expect("reopen");
    assert_eq!(reopened.frontier(&fid).map(|f| f.seq), Some(Seq(2)), "the cut is durable");
}
