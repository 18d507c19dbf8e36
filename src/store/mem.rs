//! [`MemStore`]: a [`Store`] held entirely in memory, for tests and many-node simulations.
//!
//! It enforces the same rules as the on-disk store (DMX of each appended entry, chunk order and
//! hash, the 4 GiB log limit), so both give the same observable results for the same calls.

use std::collections::{BTreeSet, HashMap};

use super::{chunk_slots, record_len, Frontier, PendingChain, Store, StoreError, MAX_LOG_LEN};
use crate::ids::{FeedId, HashPtr, MsgId, Seq};
use crate::wire::chunk::Chunk;
use crate::wire::entry::{entry_dmx, Chain20, Entry};

/// One entry and the prefix of its sidechain received so far.
#[derive(Clone, Debug)]
struct Record {
    entry: Entry,
    slots: u32,
    chunks: Vec<Chunk>,
}

impl Record {
    fn next_hash(&self) -> HashPtr {
        match self.chunks.last() {
            Some(c) => c.next(),
            None => Chain20::parse(self.entry.payload()).map_or(HashPtr::NULL, |c| c.first),
        }
    }
}

#[derive(Clone, Debug)]
struct Feed {
    records: Vec<Record>,
    prev: MsgId,
    pending: BTreeSet<u32>,
    /// The length `log.bin` would have, to apply the same size limit as the file store.
    log_len: u64,
}

/// An in-memory store.
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    feeds: HashMap<FeedId, Feed>,
    tombstones: BTreeSet<FeedId>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Removes the tombstone of `fid`; false if it had none.
    pub fn remove_tombstone(&mut self, fid: &FeedId) -> bool {
        self.tombstones.remove(fid)
    }

    fn record(&self, fid: &FeedId, seq: Seq) -> Option<&Record> {
        let idx = usize::try_from(seq.0).ok()?.checked_sub(1)?;
        self.feeds.get(fid)?.records.get(idx)
    }
}

impl Store for MemStore {
    fn feeds(&self) -> Vec<FeedId> {
        self.feeds.keys().copied().collect()
    }

    fn add_feed(&mut self, fid: FeedId) -> Result<bool, StoreError> {
        if self.feeds.contains_key(&fid) {
            return Ok(false);
        }
        if self.tombstones.contains(&fid) {
            return Err(StoreError::Tombstoned);
        }
        let feed =
            Feed { records: Vec::new(), prev: fid.genesis_prev(), pending: BTreeSet::new(), log_len: 0 };
        self.feeds.insert(fid, feed);
        Ok(true)
    }

    fn log_len(&self, fid: &FeedId) -> Option<u64> {
        self.feeds.get(fid).map(|f| f.log_len)
    }

    fn frontier(&self, fid: &FeedId) -> Option<Frontier> {
        let f = self.feeds.get(fid)?;
        Some(Frontier { seq: Seq(u32::try_from(f.records.len()).expect("seqs are u32")), prev: f.prev })
    }

    fn read_entry(&mut self, fid: &FeedId, seq: Seq) -> Result<Option<Entry>, StoreError> {
        Ok(self.record(fid, seq).map(|r| r.entry))
    }

    fn read_chunk(&mut self, fid: &FeedId, seq: Seq, nr: u32) -> Result<Option<Chunk>, StoreError> {
        let r = self.record(fid, seq);
        Ok(r.and_then(|r| usize::try_from(nr).ok().and_then(|i| r.chunks.get(i)).copied()))
    }

    fn append_entry(&mut self, fid: &FeedId, entry: &Entry, msg_id: MsgId) -> Result<(), StoreError> {
        let feed = self.feeds.get_mut(fid).ok_or(StoreError::UnknownFeed)?;
        let seq = Seq(u32::try_from(feed.records.len() + 1).map_err(|_| StoreError::LogFull)?);
        if entry.dmx() != entry_dmx(fid, seq, &feed.prev) {
            return Err(StoreError::OutOfOrder);
        }
        let slots = chunk_slots(entry);
        let end = feed.log_len.saturating_add(record_len(slots));
        if end > MAX_LOG_LEN {
            return Err(StoreError::LogFull);
        }
        let slots = u32::try_from(slots).map_err(|_| StoreError::LogFull)?;
        feed.records.push(Record { entry: *entry, slots, chunks: Vec::new() });
        if slots > 0 {
            feed.pending.insert(seq.0);
        }
        feed.log_len = end;
        feed.prev = msg_id;
        Ok(())
    }

    fn write_chunk(&mut self, fid: &FeedId, seq: Seq, nr: u32, chunk: &Chunk) -> Result<(), StoreError> {
        let feed = self.feeds.get_mut(fid).ok_or(StoreError::UnknownFeed)?;
        if !feed.pending.contains(&seq.0) {
            return Err(StoreError::OutOfOrder);
        }
        let idx = usize::try_from(seq.0).ok().and_then(|s| s.checked_sub(1));
        let rec = idx.and_then(|i| feed.records.get_mut(i)).ok_or(StoreError::OutOfOrder)?;
        if nr as usize != rec.chunks.len() || chunk.hash() != rec.next_hash() {
            return Err(StoreError::OutOfOrder);
        }
        rec.chunks.push(*chunk);
        if rec.chunks.len() == rec.slots as usize {
            feed.pending.remove(&seq.0);
        }
        Ok(())
    }

    fn pending_chains(&self, fid: &FeedId) -> Vec<PendingChain> {
        let Some(feed) = self.feeds.get(fid) else { return Vec::new() };
        feed.pending
            .iter()
            .filter_map(|&s| {
                let rec = feed.records.get(usize::try_from(s).ok()?.checked_sub(1)?)?;
                let received = u32::try_from(rec.chunks.len()).ok()?;
                Some(PendingChain {
                    seq: Seq(s),
                    next_chunk: received,
                    remaining: rec.slots - received,
                    next_hash: rec.next_hash(),
                })
            })
            .collect()
    }

    fn quarantine(&mut self, fid: &FeedId, keep: Frontier) -> Result<Option<std::path::PathBuf>, StoreError> {
        let feed = self.feeds.get_mut(fid).ok_or(StoreError::UnknownFeed)?;
        let keep_len = usize::try_from(keep.seq.0).map_err(|_| StoreError::OutOfOrder)?;
        if keep_len > feed.records.len() {
            return Err(StoreError::OutOfOrder);
        }
        feed.records.truncate(keep_len);
        feed.pending.retain(|&s| s <= keep.seq.0);
        feed.log_len = feed.records.iter().map(|r| record_len(u64::from(r.slots))).sum();
        feed.prev = keep.prev;
        Ok(None)
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    fn drop_feed(&mut self, fid: &FeedId) -> Result<Option<std::path::PathBuf>, StoreError> {
        self.feeds.remove(fid);
        self.tombstones.insert(*fid);
        Ok(None)
    }

    fn tombstones(&self) -> Vec<FeedId> {
        self.tombstones.iter().copied().collect()
    }
}
