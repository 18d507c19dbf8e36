//! Ingest: checking incoming entries and chunks against what the node expects, then storing them.

use super::{ChunkSlot, Event, FaceId, Node};
use crate::crypto::sha256_prefix;
use crate::ids::{FeedId, HashPtr, Seq};
use crate::stats::DropReason;
use crate::store::Store;
use crate::time::Instant;
use crate::wire::chunk::Chunk;
use crate::wire::entry::{Chain20, Entry, EntryType};

impl<S: Store> Node<S> {
    /// An entry whose DMX matched the next expected entry of `fid`.
    pub(super) fn ingest_entry(&mut self, now: Instant, face: FaceId, fid: FeedId, bytes: &[u8]) {
        if !self.cfg.role.ingests() {
            return self.drop_packet(face, DropReason::Role);
        }
        let Ok(entry) = Entry::from_slice(bytes) else {
            return self.drop_packet(face, DropReason::BadLength);
        };
        let Some(state) = self.feeds.get(&fid) else {
            return self.drop_packet(face, DropReason::Unknown);
        };
        let Some(key) = state.key else {
            return self.drop_packet(face, DropReason::BadSignature);
        };
        if self.refused_again(&fid, &entry) {
            return;
        }
        self.accept_tentatively(now, face, fid, key, entry);
        if let Some(f) = self.faces.get_mut(&face) {
            f.in_sync = false;
            f.want.on_progress(now);
            f.chnk.on_progress(now);
        }
        self.rearm(face);
    }

    /// Arms the first chunk of entry `seq`'s sidechain, if it is a chain20 entry with one.
    pub(super) fn arm_sidechain(&mut self, fid: FeedId, seq: Seq, entry: &Entry) {
        if entry.entry_type() != Some(EntryType::Chain20) {
            return;
        }
        if let Some(chain) = Chain20::parse(entry.payload()) {
            let count = chain.chunk_count();
            if count > 0 && !chain.first.is_null() {
                let remaining = u32::try_from(count).unwrap_or(u32::MAX);
                self.expect_chunk(chain.first, ChunkSlot { fid, seq, nr: 0, remaining });
            }
        }
    }

    /// A 120-byte packet with no known DMX: a chunk if its hash is expected.
    pub(super) fn ingest_chunk_packet(&mut self, now: Instant, face: FaceId, bytes: &[u8]) {
        let hash = HashPtr(sha256_prefix(&[bytes]));
        let Some(slots) = self.expected_chunks.remove(&hash) else {
            return self.drop_packet(face, DropReason::Unknown);
        };
        if !self.cfg.role.ingests() {
            self.expected_chunks.insert(hash, slots);
            return self.drop_packet(face, DropReason::Role);
        }
        let Ok(chunk) = Chunk::from_slice(bytes) else {
            return self.drop_packet(face, DropReason::BadLength);
        };
        for slot in slots {
            let last = slot.remaining <= 1;
            if !self.hold_chunk(&slot, &chunk, last) {
                if let Err(e) = self.store.write_chunk(&slot.fid, slot.seq, slot.nr, &chunk) {
                    self.store_failed(face, e);
                    continue;
                }
                self.stats.chunks_in += 1;
                if last {
                    self.events.push_back(Event::ChainComplete { fid: slot.fid, seq: slot.seq });
                }
            }
            let next = chunk.next();
            if !last && !next.is_null() {
                let follow =
                    ChunkSlot { nr: slot.nr.saturating_add(1), remaining: slot.remaining - 1, ..slot };
                self.expect_chunk(next, follow);
            }
        }
        self.settle_if_heavy();
        if let Some(f) = self.faces.get_mut(&face) {
            f.in_sync = false;
            f.chnk.on_progress(now);
        }
        self.rearm(face);
    }
}
