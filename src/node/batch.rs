//! Batched signature checking. An entry whose DMX matches its feed's next expected entry is
//! accepted tentatively: its msg id extends the feed's chain at once, so the feed's next entry
//! and the entry's sidechain chunks can be demultiplexed while its signature is still unchecked.
//! The signatures of all tentative entries are verified together when the batch settles (when it
//! is full, and before the node reports anything or runs a timer). Only verified entries and
//! their chunks reach the store. If the batch fails, each entry is checked alone: a feed keeps
//! its verified prefix and is rolled back to it; what was chained on a forged entry is dropped.

use super::timers::Timer;
use super::{ChunkSlot, Event, FaceId, Node};
use crate::crypto::{verify_batch, PublicKey};
use crate::ids::{FeedId, MsgId, Seq};
use crate::stats::DropReason;
use crate::store::Store;
use crate::time::Instant;
use crate::wire::chunk::Chunk;
use crate::wire::entry::Entry;

/// Entries verified together at most (ed25519 batches gain little beyond this).
pub(super) const BATCH_ENTRIES: usize = 64;
/// Chunks held for tentative entries at most before the batch settles early.
const BATCH_CHUNKS: usize = 1024;
/// Below this many entries a batch is checked one by one (a batch of one or two is slower).
const BATCH_MIN: usize = 3;

/// An entry accepted by its DMX whose signature is not yet checked.
#[derive(Clone, Debug)]
pub(super) struct Tentative {
    pub fid: FeedId,
    pub seq: Seq,
    pub prev: MsgId,
    pub msg_id: MsgId,
    pub entry: Entry,
    pub key: PublicKey,
    pub face: FaceId,
    /// Sidechain chunks that arrived before the entry was verified, in order.
    pub chunks: Vec<(u32, Chunk)>,
    /// True once the last chunk of the sidechain is among `chunks`.
    pub chain_complete: bool,
}

/// The entries awaiting verification, in arrival order.
#[derive(Clone, Debug, Default)]
pub(super) struct Batch {
    items: Vec<Tentative>,
    chunks: usize,
}

impl<S: Store> Node<S> {
    /// Accepts `entry` as the next entry of `fid` pending its signature check; arms the next DMX
    /// and the first chunk of its sidechain.
    pub(super) fn accept_tentatively(
        &mut self,
        now: Instant,
        face: FaceId,
        fid: FeedId,
        key: PublicKey,
        entry: Entry,
    ) {
        let Some(state) = self.feeds.get(&fid) else { return };
        let (seq, prev) = (state.next_seq, state.prev);
        let msg_id = entry.msg_id(&fid, seq, &prev);
        self.advance_feed(fid, msg_id);
        self.arm_sidechain(fid, seq, &entry);
        self.batch.items.push(Tentative {
            fid,
            seq,
            prev,
            msg_id,
            entry,
            key,
            face,
            chunks: Vec::new(),
            chain_complete: false,
        });
        // Due at once: the driver settles the batch when it runs the timers after this burst.
        self.timers.advance(Timer::Settle, now);
        if self.batch.items.len() >= BATCH_ENTRIES {
            self.settle();
        }
    }

    /// Holds `chunk` for its tentative entry if `slot` belongs to one; false if the entry is
    /// already stored (the caller stores the chunk then).
    pub(super) fn hold_chunk(&mut self, slot: &ChunkSlot, chunk: &Chunk, last: bool) -> bool {
        let Some(t) = self.batch.items.iter_mut().find(|t| t.seq == slot.seq && t.fid == slot.fid) else {
            return false;
        };
        t.chunks.push((slot.nr, *chunk));
        t.chain_complete |= last;
        self.batch.chunks += 1;
        true
    }

    /// Settles early if the chunks held for the batch reach their bound.
    pub(super) fn settle_if_heavy(&mut self) {
        if self.batch.chunks >= BATCH_CHUNKS {
            self.settle();
        }
    }

    /// Verifies every pending entry and stores the valid ones with their chunks.
    pub(super) fn settle(&mut self) {
        let items = std::mem::take(&mut self.batch.items);
        self.batch.chunks = 0;
        self.timers.set(Timer::Settle, None);
        if items.is_empty() {
            return;
        }
        let all_valid = items.len() >= BATCH_MIN && {
            let msgs: Vec<[u8; 122]> =
                items.iter().map(|t| t.entry.signed_message(&t.fid, t.seq, &t.prev)).collect();
            let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
            let sigs: Vec<[u8; 64]> = items.iter().map(|t| t.entry.signature()).collect();
            let keys: Vec<PublicKey> = items.iter().map(|t| t.key).collect();
            verify_batch(&refs, &sigs, &keys)
        };
        let mut broken: Vec<FeedId> = Vec::new();
        for t in items {
            if broken.contains(&t.fid) {
                // Chained on a rejected entry: its DMX only existed because of that entry.
                self.drop_packet(t.face, DropReason::Unknown);
                continue;
            }
            let valid = all_valid || t.entry.verify(&t.key, &t.fid, t.seq, &t.prev).is_ok();
            if !valid {
                self.drop_packet(t.face, DropReason::BadSignature);
                broken.push(t.fid);
                continue;
            }
            let fid = t.fid;
            if !self.goset.contains(&fid) {
                // Its id left the GOset while the entry waited (it cannot: the node settles first).
                self.drop_packet(t.face, DropReason::Unknown);
                broken.push(fid);
                continue;
            }
            if let Some(reason) = self.entry_refusal(&t) {
                self.refuse_entry(t.face, &t, reason);
                broken.push(fid);
                continue;
            }
            if !self.commit(t) {
                broken.push(fid);
            }
        }
        for fid in broken {
            self.roll_back(fid);
        }
    }

    /// Stores a verified entry and the chunks held for it, creating the feed in the store first if
    /// this is its first entry; false if the store failed.
    fn commit(&mut self, t: Tentative) -> bool {
        if let Err(e) = self.confirm_feed(t.fid) {
            self.store_failed(t.face, e);
            return false;
        }
        if let Err(e) = self.store.append_entry(&t.fid, &t.entry, t.msg_id) {
            self.store_failed(t.face, e);
            return false;
        }
        self.stats.entries_in += 1;
        self.note_verified(t.fid, t.seq, t.msg_id);
        self.events.push_back(Event::EntryStored { fid: t.fid, seq: t.seq });
        for (nr, chunk) in &t.chunks {
            if let Err(e) = self.store.write_chunk(&t.fid, t.seq, *nr, chunk) {
                self.store_failed(t.face, e);
                return true;
            }
            self.stats.chunks_in += 1;
        }
        if t.chain_complete {
            self.events.push_back(Event::ChainComplete { fid: t.fid, seq: t.seq });
        }
        self.wake_waiters(t.fid, t.seq);
        true
    }

    /// Resets `fid` to what the store holds, forgetting what was armed for rejected entries.
    pub(super) fn roll_back(&mut self, fid: FeedId) {
        let Some(state) = self.feeds.remove(&fid) else { return };
        let stale = crate::wire::entry::entry_dmx(&fid, state.next_seq, &state.prev);
        self.expected_entries.remove(&stale);
        let stored = self.store.frontier(&fid).map_or(Seq(0), |f| f.seq);
        self.expected_chunks.retain(|_, slots| {
            slots.retain(|s| s.fid != fid || s.seq <= stored);
            !slots.is_empty()
        });
        self.track_feed(fid);
    }
}
