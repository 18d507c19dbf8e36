//! Helpers shared by the store tests: vectors, directory copies, and signed test feeds.
#![allow(dead_code)]

use std::path::Path;

use tinyssb::crypto::Keypair;
use tinyssb::store::{Frontier, Store};
use tinyssb::wire::chunk::Chunk;
use tinyssb::wire::entry::Entry;
use tinyssb::{FeedId, Seq};

pub fn hex(s: &str) -> Vec<u8> {
    tinyssb::ids::from_hex(s).unwrap()
}

pub fn vector(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// A temp copy of tests/vectors/datadir; the data directory is `<tmp>/data`.
pub fn sample_datadir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/datadir"), &tmp.path().join("data"));
    tmp
}

pub use tinyssb::feed::Authored;

/// A feed author for tests, on top of the crate's authoring functions.
#[derive(Clone, Debug)]
pub struct Author {
    pub key: Keypair,
    pub at: Frontier,
}

impl Author {
    pub fn new(seed: u8) -> Author {
        let key = Keypair::from_seed(&[seed; 32]);
        let at = Frontier { seq: Seq(0), prev: key.feed_id().genesis_prev() };
        Author { key, at }
    }

    pub fn fid(&self) -> FeedId {
        self.key.feed_id()
    }

    /// Next entry: plain48 (payload starts with the seq) if `content` is `None`, else chain20.
    pub fn next(&mut self, content: Option<&[u8]>) -> Authored {
        let a = match content {
            None => tinyssb::feed::author_plain48(&self.key, &self.at, &[self.at.seq.0 as u8 + 1]),
            Some(c) => tinyssb::feed::author_chain20(&self.key, &self.at, c),
        };
        let a = a.unwrap();
        self.at = a.frontier;
        a
    }
}

/// Everything a store shows about its feeds, for comparing stores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub feeds: Vec<FeedSnapshot>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedSnapshot {
    pub fid: FeedId,
    pub frontier: tinyssb::store::Frontier,
    pub pending: Vec<tinyssb::store::PendingChain>,
    pub entries: Vec<Entry>,
    /// Chunks read for each entry, until the first `None` (plus a probe of a few beyond).
    pub chunks: Vec<Vec<Option<Chunk>>>,
}

pub fn snapshot<S: Store>(store: &mut S) -> Snapshot {
    let mut fids = store.feeds();
    fids.sort();
    let mut feeds = Vec::new();
    for fid in fids {
        let frontier = store.frontier(&fid).unwrap();
        let pending = store.pending_chains(&fid);
        let mut entries = Vec::new();
        let mut chunks = Vec::new();
        for s in 1..=frontier.seq.0 + 1 {
            let n = match store.read_entry(&fid, Seq(s)).unwrap() {
                Some(e) => {
                    entries.push(e);
                    tinyssb::store::chunk_slots(&e) as u32
                }
                None => {
                    assert_eq!(s, frontier.seq.0 + 1, "hole at seq {s}");
                    0
                }
            };
            let cs: Vec<Option<Chunk>> =
                (0..n + 2).map(|k| store.read_chunk(&fid, Seq(s), k).unwrap()).collect();
            chunks.push(cs);
        }
        assert!(store.read_entry(&fid, Seq(0)).unwrap().is_none());
        feeds.push(FeedSnapshot { fid, frontier, pending, entries, chunks });
    }
    Snapshot { feeds }
}
