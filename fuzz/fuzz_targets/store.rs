//! Opening a data directory with arbitrary files: the input is split into one feed's
//! `frontier.bin` and `log.bin`; the store must open, serve every entry and chunk it
//! claims to hold, report `feed_stats`, and produce what `frontier` prints.
//!
//! Input: `u16le(frontier length) ‖ frontier.bin ‖ log.bin`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tinyssb::ids::{FeedId, Seq};
use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::{chunk_slots, feed_stats, Store};
use tinyssb_drivers::{chat, inspect};

/// The feed of tests/vectors/datadir whose files make the seed inputs.
const FID: &str = "51dbf1a50b6913c124ac6e9d2912a5ade39b109b00a91911da0294a84b67dd8a";

fn scratch() -> tempfile::TempDir {
    // tmpfs where there is one: opening a repaired feed fsyncs.
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new();
    if shm.is_dir() {
        b.tempdir_in(shm).unwrap()
    } else {
        b.tempdir().unwrap()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else { return };
    let (frontier, log) = rest.split_at(usize::from(u16::from_le_bytes(*len)).min(rest.len()));
    let tmp = scratch();
    let dir = tmp.path().join(FID);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("frontier.bin"), frontier).unwrap();
    std::fs::write(dir.join("log.bin"), log).unwrap();

    let mut store = FsStore::open(tmp.path(), FsConfig::default()).unwrap();
    let fid = FeedId::from_hex(FID).unwrap();
    let Some(front) = store.frontier(&fid) else { return };
    let mut held = 0u64;
    for s in 1..=front.seq.0 {
        let entry = store.read_entry(&fid, Seq(s)).unwrap().expect("entries up to the frontier are held");
        for nr in 0..u32::try_from(chunk_slots(&entry)).unwrap_or(u32::MAX) {
            match store.read_chunk(&fid, Seq(s), nr) {
                Ok(Some(_)) => held += 1,
                Ok(None) | Err(_) => break,
            }
        }
    }
    assert!(store.read_entry(&fid, Seq(front.seq.0.saturating_add(1))).unwrap().is_none());
    let stats = feed_stats(&mut store, &fid).unwrap().expect("the feed is there");
    assert_eq!(stats.entries, front.seq.0);
    let _ = held;
    for p in store.pending_chains(&fid) {
        assert!(p.seq.0 >= 1 && p.seq.0 <= front.seq.0);
        let _ = store.read_chunk(&fid, p.seq, p.next_chunk);
    }
    // What `frontier` does with the directory.
    let _ = inspect::digests(&mut store).unwrap();
    for s in 1..=front.seq.0 {
        if let Some((_, c)) = inspect::read_content(&mut store, &fid, Seq(s)).unwrap() {
            let _ = inspect::render_content(&c);
            let _ = inspect::content_json(Seq(s), &c);
        }
    }
    let _ = chat::tav_messages(&mut store).unwrap();
    drop(store);
    // A second open of what the first one repaired finds nothing left to repair.
    let again = FsStore::open(tmp.path(), FsConfig::default()).unwrap();
    assert_eq!(again.frontier(&fid), Some(front));
});
