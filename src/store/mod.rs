//! Persistence as the engine sees it: the [`Store`] trait, and its implementations.
//!
//! A store holds feeds. Each feed is an append-only sequence of verified entries
//! (seq 1, 2, ...) and, for chain20 entries, the sidechain chunks received so far.
//! The engine verifies everything before it calls a mutating method; the store
//! trusts its caller but never trusts the disk.
//!
//! [`mem::MemStore`] keeps everything in memory (tests, simulations); `fs::FsStore` (cargo
//! feature `fs`, on by default) is the reference-compatible data directory (SPEC.md section 8).
//! Nothing else in the crate touches the file system.

#[cfg(feature = "fs")]
mod frontier;
#[cfg(feature = "fs")]
pub mod fs;
pub mod mem;

use crate::ids::{FeedId, HashPtr, MsgId, Seq};
use crate::wire::chunk::{Chunk, CHUNK_LEN};
use crate::wire::entry::{Chain20, Entry, EntryType, ENTRY_LEN};

/// Longest a feed's log may grow: record offsets are stored as `u32` back pointers.
pub const MAX_LOG_LEN: u64 = u32::MAX as u64;

/// Number of sidechain chunks an entry announces (0 unless it is a well-formed chain20 entry).
pub fn chunk_slots(entry: &Entry) -> u64 {
    match entry.entry_type() {
        Some(EntryType::Chain20) => Chain20::parse(entry.payload()).map_or(0, |c| c.chunk_count()),
        _ => 0,
    }
}

/// Bytes an entry with `slots` chunk slots occupies in a log: entry, slots, 4-byte back pointer.
pub fn record_len(slots: u64) -> u64 {
    slots.saturating_mul(CHUNK_LEN as u64).saturating_add(ENTRY_LEN as u64 + 4)
}

/// What the store knows about the end of a feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frontier {
    /// Seq of the last entry (0 for an empty feed).
    pub seq: Seq,
    /// Msg id of the last entry, or the genesis prev (`fid[0..20]`) for an empty feed.
    pub prev: MsgId,
}

/// An entry whose sidechain is not complete yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingChain {
    /// Seq of the chain20 entry.
    pub seq: Seq,
    /// Index of the next chunk expected (= chunks received so far).
    pub next_chunk: u32,
    /// Chunks still missing.
    pub remaining: u32,
    /// Hash the next chunk must have.
    pub next_hash: HashPtr,
}

/// Why a store operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// The feed is not in the store.
    UnknownFeed,
    /// An append whose seq is not the frontier's seq + 1, or a chunk that is not the next expected one.
    OutOfOrder,
    /// The underlying I/O failed.
    Io(std::io::Error),
    /// Data on disk is inconsistent in a way that could not be repaired.
    Corrupt(String),
    /// The entry would grow the feed's log beyond [`MAX_LOG_LEN`] bytes.
    LogFull,
    /// Another store (usually another process) has the data directory open for writing.
    Locked {
        /// The data directory.
        dir: std::path::PathBuf,
        /// The lock file whose advisory lock is held.
        lock: std::path::PathBuf,
    },
    /// A write to a store opened read-only.
    ReadOnly,
    /// The feed was dropped from this store and has a tombstone: it cannot be added again until
    /// the tombstone is removed.
    Tombstoned,
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::UnknownFeed => f.write_str("unknown feed"),
            StoreError::OutOfOrder => f.write_str("out-of-order append"),
            StoreError::Io(e) => write!(f, "i/o error: {e}"),
            StoreError::Corrupt(why) => write!(f, "corrupt store: {why}"),
            StoreError::LogFull => f.write_str("feed log would exceed 4 GiB"),
            StoreError::Locked { dir, lock } => write!(
                f,
                "data directory {} is in use by another writer (a pub or tool holds the lock on {})",
                dir.display(),
                lock.display()
            ),
            StoreError::ReadOnly => f.write_str("the store is open read-only"),
            StoreError::Tombstoned => f.write_str("the feed was dropped (it has a tombstone)"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// The engine's only view of persistence.
///
/// Reads take `&mut self` so that implementations can cache file handles.
pub trait Store {
    /// All feed ids in the store, in no particular order.
    fn feeds(&self) -> Vec<FeedId>;

    /// Adds an empty feed; `Ok(false)` if it was already there.
    fn add_feed(&mut self, fid: FeedId) -> Result<bool, StoreError>;

    /// The feed's frontier, or `None` for an unknown feed.
    fn frontier(&self, fid: &FeedId) -> Option<Frontier>;

    /// Entry `seq` of the feed, or `None` if the store does not hold it.
    fn read_entry(&mut self, fid: &FeedId, seq: Seq) -> Result<Option<Entry>, StoreError>;

    /// Chunk `nr` (0-based) of the sidechain of entry `seq`, or `None` if not (yet) held.
    fn read_chunk(&mut self, fid: &FeedId, seq: Seq, nr: u32) -> Result<Option<Chunk>, StoreError>;

    /// Appends a verified entry as seq `frontier.seq + 1`; `msg_id` becomes the new `prev`.
    /// A chain20 entry with chunks becomes a pending chain.
    fn append_entry(&mut self, fid: &FeedId, entry: &Entry, msg_id: MsgId) -> Result<(), StoreError>;

    /// Stores the next expected chunk (`nr` = the pending chain's `next_chunk`) of entry `seq`,
    /// already checked against its `next_hash`.
    fn write_chunk(&mut self, fid: &FeedId, seq: Seq, nr: u32, chunk: &Chunk) -> Result<(), StoreError>;

    /// The feed's incomplete sidechains, in ascending seq order.
    fn pending_chains(&self, fid: &FeedId) -> Vec<PendingChain>;

    /// Takes every entry after `keep.seq` (and its chunks) out of the feed, because entry
    /// `keep.seq + 1` failed verification; `keep` (the last good entry's seq and msg id) becomes
    /// the frontier at once, durably. A store that can keeps the removed bytes aside instead of
    /// deleting them. Returns where they were kept, if anywhere.
    fn quarantine(&mut self, fid: &FeedId, keep: Frontier) -> Result<Option<std::path::PathBuf>, StoreError>;

    /// Makes everything written so far durable (a no-op where writes are already durable).
    fn sync(&mut self) -> Result<(), StoreError>;

    /// Removes a feed and records a *tombstone* for it, durably: the feed leaves
    /// [`Store::feeds`], its id appears in [`Store::tombstones`], and [`Store::add_feed`] refuses
    /// it until the tombstone is removed. A feed the store does not hold gets a tombstone too.
    /// A store that can keeps the feed's data aside instead of deleting it, and returns where.
    fn drop_feed(&mut self, fid: &FeedId) -> Result<Option<std::path::PathBuf>, StoreError>;

    /// Ids of the feeds dropped with [`Store::drop_feed`] (and not taken back), in no particular order.
    fn tombstones(&self) -> Vec<FeedId>;

    /// Bytes the feed's log takes (`log.bin`'s length: entries and their chunk slots), or `None`
    /// if unknown. The engine's `max_feed_bytes` limit relies on it.
    fn log_len(&self, fid: &FeedId) -> Option<u64> {
        let _ = fid;
        None
    }
}

/// Counts describing one feed, for inspection tools.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Entries held (the frontier's seq).
    pub entries: u32,
    /// Sidechain chunks held.
    pub chunks_available: u64,
    /// Sidechain chunks announced but not held yet.
    pub chunks_missing: u64,
    /// Incomplete sidechains.
    pub pending_chains: usize,
}

/// Counts entries and chunks of a feed through any [`Store`]; reads every entry without a
/// pending chain once. Total on damaged stores: counts saturate, nothing underflows.
pub fn feed_stats<S: Store + ?Sized>(store: &mut S, fid: &FeedId) -> Result<Option<FeedStats>, StoreError> {
    let Some(front) = store.frontier(fid) else { return Ok(None) };
    let pending = store.pending_chains(fid);
    let mut stats = FeedStats { entries: front.seq.0, pending_chains: pending.len(), ..FeedStats::default() };
    // The pending chains come from the log's record layout, an entry's slot count from its
    // type byte; on a damaged disk the two can disagree, so nothing is subtracted: a pending
    // entry counts the chunks it holds, any other entry the chunks it announces.
    let mut held = std::collections::BTreeMap::new();
    for p in &pending {
        held.insert(p.seq.0, u64::from(p.next_chunk));
        stats.chunks_missing = stats.chunks_missing.saturating_add(u64::from(p.remaining));
    }
    for s in 1..=front.seq.0 {
        let available = match held.get(&s) {
            Some(&n) => n,
            None => store.read_entry(fid, Seq(s))?.map_or(0, |e| chunk_slots(&e)),
        };
        stats.chunks_available = stats.chunks_available.saturating_add(available);
    }
    Ok(Some(stats))
}
