//! Dropping feeds from a data directory: the directory is moved aside, a tombstone is written,
//! and a reopened store honours it until the tombstone is removed.

mod store_util;

use std::path::Path;

use store_util::Author;
use tinyssb::store::fs::{FsConfig, FsStore, OpenNote, DROPPED_DIR, TOMBSTONES_FILE};
use tinyssb::store::mem::MemStore;
use tinyssb::store::{Store, StoreError};
use tinyssb::FeedId;

fn feed_with_entries(root: &Path, seed: u8, n: usize) -> FeedId {
    let mut a = Author::new(seed);
    let mut store = FsStore::open(root, FsConfig::default()).unwrap();
    store.add_feed(a.fid()).unwrap();
    for _ in 0..n {
        let e = a.next(None);
        store.append_entry(&a.fid(), &e.entry, e.msg_id).unwrap();
    }
    a.fid()
}

#[test]
fn a_dropped_feed_is_moved_aside_and_stays_dropped_after_reopening() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let gone = feed_with_entries(root, 1, 3);
    let kept = feed_with_entries(root, 2, 2);
    let log = std::fs::read(root.join(gone.to_hex()).join("log.bin")).unwrap();

    let mut store = FsStore::open(root, FsConfig::default()).unwrap();
    let aside = store.drop_feed_noted(&gone, "dropped at 2026-12-01T00:00:00Z").unwrap().unwrap();
    assert_eq!(aside, root.join(DROPPED_DIR).join(format!("{gone}-0")));
    assert_eq!(std::fs::read(aside.join("log.bin")).unwrap(), log, "the data is kept aside intact");
    assert!(!root.join(gone.to_hex()).exists());
    assert_eq!(store.feeds(), vec![kept]);
    assert_eq!(store.tombstones(), vec![gone]);
    assert!(store.frontier(&gone).is_none());
    assert!(matches!(store.add_feed(gone), Err(StoreError::Tombstoned)));
    let text = std::fs::read_to_string(root.join(TOMBSTONES_FILE)).unwrap();
    assert_eq!(text, format!("{gone} dropped at 2026-12-01T00:00:00Z\n"));
    drop(store);

    // Reopened, the tombstone still holds; a copy of the directory put back by hand is skipped
    // (and reported), not loaded, as long as the tombstone is there.
    store_util::copy_dir(&aside, &root.join(gone.to_hex()));
    let mut store = FsStore::open(root, FsConfig::default()).unwrap();
    assert_eq!(store.feeds(), vec![kept]);
    assert_eq!(store.tombstones(), vec![gone]);
    let skipped = store
        .open_report()
        .iter()
        .any(|n| matches!(n, OpenNote::Skipped { path, .. } if *path == root.join(gone.to_hex())));
    assert!(skipped, "{:?}", store.open_report());
    // Nothing about the tombstone file or the dropped directory is reported as a stray entry.
    assert_eq!(store.open_report().len(), 1, "{:?}", store.open_report());

    // Dropping again moves the second copy next to the first.
    let second = store.drop_feed(&gone).unwrap().unwrap();
    assert_eq!(second, root.join(DROPPED_DIR).join(format!("{gone}-1")));
    assert_eq!(std::fs::read_to_string(root.join(TOMBSTONES_FILE)).unwrap().lines().count(), 1);

    // Removing the tombstone lets the feed come back, with the data moved back by hand.
    assert!(store.remove_tombstone(&gone).unwrap());
    assert!(!store.remove_tombstone(&gone).unwrap());
    assert!(store.tombstones().is_empty());
    drop(store);
    std::fs::rename(&aside, root.join(gone.to_hex())).unwrap();
    let store = FsStore::open(root, FsConfig::default()).unwrap();
    let mut feeds = store.feeds();
    feeds.sort();
    let mut want = vec![gone, kept];
    want.sort();
    assert_eq!(feeds, want);
    assert_eq!(store.frontier(&gone).unwrap().seq.0, 3);
}

#[test]
fn tombstones_for_unknown_feeds_comments_and_bad_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let never = FeedId([7; 32]);
    let listed = FeedId([8; 32]);
    std::fs::write(root.join(TOMBSTONES_FILE), format!("# dropped by hand\n\n{listed}  old\nnot-an-id\n"))
        .unwrap();
    let mut store = FsStore::open(root, FsConfig::default()).unwrap();
    assert_eq!(store.tombstones(), vec![listed]);
    assert!(matches!(store.open_report(), [OpenNote::Skipped { .. }]), "{:?}", store.open_report());
    // A feed the store never held gets a tombstone, and nothing is moved.
    assert_eq!(store.drop_feed(&never).unwrap(), None);
    assert!(matches!(store.add_feed(never), Err(StoreError::Tombstoned)));
    assert!(store.remove_tombstone(&listed).unwrap());
    let text = std::fs::read_to_string(root.join(TOMBSTONES_FILE)).unwrap();
    assert_eq!(text, format!("# dropped by hand\n\nnot-an-id\n{never}\n"), "other lines are kept");
    assert!(store.add_feed(listed).unwrap());

    // A read-only open sees the tombstones and refuses to change them.
    drop(store);
    let mut ro = FsStore::open_read_only(root, FsConfig::default()).unwrap();
    assert_eq!(ro.tombstones(), vec![never]);
    assert!(matches!(ro.drop_feed(&listed), Err(StoreError::ReadOnly)));
}

#[test]
fn mem_store_drops_and_refuses_like_the_file_store() {
    let mut a = Author::new(3);
    let mut store = MemStore::new();
    store.add_feed(a.fid()).unwrap();
    let e = a.next(None);
    store.append_entry(&a.fid(), &e.entry, e.msg_id).unwrap();
    assert_eq!(store.drop_feed(&a.fid()).unwrap(), None);
    assert!(store.feeds().is_empty());
    assert_eq!(store.tombstones(), vec![a.fid()]);
    assert!(matches!(store.add_feed(a.fid()), Err(StoreError::Tombstoned)));
    assert!(store.remove_tombstone(&a.fid()));
    assert!(store.add_feed(a.fid()).unwrap());
}

#[test]
fn a_feed_dropped_with_unsynced_writes_is_kept_with_a_matching_frontier() {
    use tinyssb::store::fs::Durability;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let config = FsConfig { durability: Durability::Batched { every: 1000 }, ..FsConfig::default() };
    let mut a = Author::new(4);
    let mut store = FsStore::open(&root, config).unwrap();
    store.add_feed(a.fid()).unwrap();
    for _ in 0..3 {
        let e = a.next(None);
        store.append_entry(&a.fid(), &e.entry, e.msg_id).unwrap();
    }
    let aside = store.drop_feed(&a.fid()).unwrap().unwrap();
    drop(store);
    // The kept directory, put into a data directory of its own, opens without any repair.
    let other = tmp.path().join("other");
    store_util::copy_dir(&aside, &other.join(a.fid().to_hex()));
    let ro = FsStore::open_read_only(&other, FsConfig::default()).unwrap();
    assert!(ro.open_report().is_empty(), "{:?}", ro.open_report());
    assert_eq!(ro.frontier(&a.fid()).unwrap().seq.0, 3);
}
