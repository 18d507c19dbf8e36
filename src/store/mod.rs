//! Persistence as the engine sees it: the [`Store`] trait, and its implementations.
//!
//! A store holds feeds. Each feed is an append-only sequence of verified entries
//! (seq 1, 2, ...) and, for chain20 entries, the sidechain chunks received so far.
//! The engine verifies everything before it calls a mutating method; the store
//! trusts its caller but never trusts the disk.

use crate::ids::{FeedId, HashPtr, MsgId, Seq};
use crate::wire::chunk::Chunk;
use crate::wire::entry::Entry;

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
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StoreError::UnknownFeed => f.write_str("unknown feed"),
            StoreError::OutOfOrder => f.write_str("out-of-order append"),
            StoreError::Io(e) => write!(f, "i/o error: {e}"),
            StoreError::Corrupt(why) => write!(f, "corrupt store: {why}"),
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

    /// Makes everything written so far durable (a no-op where writes are already durable).
    fn sync(&mut self) -> Result<(), StoreError>;
}
