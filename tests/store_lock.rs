//! One writer per data directory, and read-only opens that leave a directory exactly as it was.

mod store_util;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use store_util::{snapshot, Author};
use tinyssb::store::fs::{Durability, FsConfig, FsStore, OpenNote, LOCK_FILE};
use tinyssb::store::{Store, StoreError};
use tinyssb::FeedId;

/// Every file under `dir` with its bytes and modification time, sorted by path.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let meta = e.metadata().unwrap();
        if meta.is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push((e.path(), std::fs::read(e.path()).unwrap(), meta.modified().unwrap()));
        }
    }
    out.sort();
    out
}

/// A feed with three entries, one of them with a sidechain of which one chunk is stored.
fn write_feed(root: &Path) -> FeedId {
    let mut a = Author::new(3);
    let entries = [a.next(None), a.next(Some(&[7u8; 400])), a.next(None)];
    let mut store = FsStore::open(root, FsConfig::default()).unwrap();
    store.add_feed(a.fid()).unwrap();
    for e in &entries {
        store.append_entry(&a.fid(), &e.entry, e.msg_id).unwrap();
    }
    store.write_chunk(&a.fid(), tinyssb::Seq(2), 0, &entries[1].chunks[0]).unwrap();
    a.fid()
}

#[test]
fn a_second_writer_is_refused_until_the_first_lets_go() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let fid = write_feed(&root);
    let first = FsStore::open(&root, FsConfig::default()).unwrap();
    // The lock file is ours: no "skipped" note for it.
    assert_eq!(first.open_report(), &[]);
    assert!(!first.is_read_only());

    let batched = FsConfig { durability: Durability::Batched { every: 10 }, ..FsConfig::default() };
    match FsStore::open(&root, batched) {
        Err(StoreError::Locked { dir, lock }) => {
            assert_eq!(dir, root);
            assert_eq!(lock, root.join(LOCK_FILE));
        }
        other => panic!("second writer: {other:?}"),
    }
    let message = FsStore::open(&root, FsConfig::default()).unwrap_err().to_string();
    assert!(message.contains(root.to_str().unwrap()) && message.contains(LOCK_FILE), "{message}");

    // Readers are welcome meanwhile.
    let mut reader = FsStore::open_read_only(&root, FsConfig::default()).unwrap();
    assert_eq!(reader.feeds(), vec![fid]);
    assert!(reader.is_read_only());
    assert!(matches!(reader.add_feed(FeedId([9; 32])), Err(StoreError::ReadOnly)));

    drop(first);
    let second = FsStore::open(&root, FsConfig::default()).unwrap();
    assert_eq!(second.feeds(), vec![fid]);
    // A crash (simulated) lets go of the lock too.
    second.abandon();
    FsStore::open(&root, FsConfig::default()).unwrap();
}

#[test]
fn read_only_open_reports_damage_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let fid = write_feed(&root);
    std::fs::remove_file(root.join(LOCK_FILE)).unwrap();
    let dir = root.join(fid.to_hex());
    // A torn append, an interrupted frontier update, a frontier.bin that lags behind the log.
    let front = std::fs::read(dir.join("frontier.bin")).unwrap();
    std::fs::write(dir.join("frontier.tmp"), &front[..front.len() / 2]).unwrap();
    let mut log = std::fs::read(dir.join("log.bin")).unwrap();
    log.extend_from_slice(&[0x5a; 77]);
    std::fs::write(dir.join("log.bin"), &log).unwrap();
    // (The frontier of the same feed after its first entry, written in another directory.)
    let mut a = Author::new(3);
    {
        let mut older = FsStore::open(tmp.path().join("old"), FsConfig::default()).unwrap();
        older.add_feed(fid).unwrap();
        let e = a.next(None);
        older.append_entry(&fid, &e.entry, e.msg_id).unwrap();
    }
    let stale = std::fs::read(tmp.path().join("old").join(fid.to_hex()).join("frontier.bin")).unwrap();
    std::fs::write(dir.join("frontier.bin"), stale).unwrap();
    // An empty feed directory without log.bin.
    let bare = FeedId([0x22; 32]);
    std::fs::create_dir(root.join(bare.to_hex())).unwrap();
    let before = files(&root);

    let mut ro = FsStore::open_read_only(&root, FsConfig::default()).unwrap();
    let notes = ro.open_report().to_vec();
    assert!(notes.contains(&OpenNote::RemovedTemp(fid)), "{notes:?}");
    assert!(notes.contains(&OpenNote::CreatedLog(bare)), "{notes:?}");
    assert!(
        notes.iter().any(|n| matches!(n, OpenNote::TruncatedLog { fid: f, .. } if *f == fid)),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| matches!(n, OpenNote::RecoveredEntries { fid: f, count: 2 } if *f == fid)));
    let seen = snapshot(&mut ro);
    let e = a.next(None);
    assert!(matches!(ro.append_entry(&fid, &e.entry, e.msg_id), Err(StoreError::ReadOnly)));
    drop(ro);
    assert_eq!(files(&root), before, "a read-only open changed the directory");
    assert!(!root.join(LOCK_FILE).exists());

    // The writer repairs the same damage and ends up with what the reader saw.
    let mut rw = FsStore::open(&root, FsConfig::default()).unwrap();
    assert_eq!(snapshot(&mut rw), seen);
}

#[test]
fn read_only_open_never_creates_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("missing");
    assert!(FsStore::open_read_only(&root, FsConfig::default()).is_err());
    assert!(!root.exists());
}
