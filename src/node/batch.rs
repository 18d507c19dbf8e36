//! Batched signature checking. An entry whose DMX matches its feed's next expected entry is
//! accepted tentatively: its msg id extends the feed's chain at once, so the feed's next entry
//! and the entry's sidechain chunks can be demultiplexed while its signature is still unchecked.
//! The signatures of all tentative entries are verified together when the batch settles (when it
//! is full, and before the node reports anything or runs a timer). Only verified entries and
//! their chunks reach the store. If the batch fails, each entry is checked alone: a feed keeps
//! its verified prefix and is rolled back to it; what was chained on a forged entry is dropped.
//!
//! With [`Config::external_verify`](super::Config::external_verify) a full (or due) batch is not
//! verified here but handed out as a [`VerifyJob`]; its entries stay tentative until the driver
//! returns the job's [`Verdict`] with [`Node::handle_verified`]. Jobs are committed in the order
//! they were issued, whatever order their verdicts come back in, with the same rules as an
//! in-line batch. While jobs are out, a partial batch is not due: it fills up to a full batch or
//! goes out when the last verdict is back. At most
//! [`Config::max_verify_jobs`](super::Config::max_verify_jobs) jobs are out at once: past that
//! bound the node checks each further batch itself and queues it, verdict in hand, behind the
//! jobs out (its caller slows down meanwhile, which pushes back on the peers, and no work is
//! done twice). With four times that many batches queued, or that many batches' worth of chunks
//! held, it settles everything itself; verdicts for jobs settled that way are ignored.

use std::collections::VecDeque;

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

/// One signature to check: the signed message, the signature and the key, all owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyItem {
    /// The signed message (an entry's name followed by its first 56 bytes).
    pub msg: [u8; 122],
    /// The ed25519 signature.
    pub sig: [u8; 64],
    /// The feed's public key.
    pub key: PublicKey,
}

/// A batch of signatures the node wants checked outside of it (see
/// [`Config::external_verify`](super::Config::external_verify)). Owned data: it can be sent to
/// another thread. Answer it with [`Node::handle_verified`] and the job's `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyJob {
    /// Names the job in [`Node::handle_verified`]; ids increase in issue order.
    pub id: u64,
    /// The signatures, in the order the verdict refers to them.
    pub items: Vec<VerifyItem>,
}

/// The outcome of a [`VerifyJob`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every signature is valid.
    AllValid,
    /// The signatures at these indices into [`VerifyJob::items`] are invalid (the others valid).
    Invalid(Vec<usize>),
}

impl Verdict {
    /// True if item `i` is valid.
    pub fn is_valid(&self, i: usize) -> bool {
        match self {
            Verdict::AllValid => true,
            Verdict::Invalid(bad) => !bad.contains(&i),
        }
    }
}

impl VerifyJob {
    /// Checks the job as the node would in-line: all signatures as one batch, and if that fails
    /// (or the job is too small to gain from it) each one alone. Pure: call it on any thread.
    pub fn verify(&self) -> Verdict {
        verify_items(&self.items)
    }
}

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

/// A batch handed out as a job, waiting for (or holding) its verdict.
#[derive(Clone, Debug)]
struct Outstanding {
    id: u64,
    items: Vec<Tentative>,
    verdict: Option<Verdict>,
}

/// The entries awaiting verification, in arrival order.
#[derive(Clone, Debug, Default)]
pub(super) struct Batch {
    items: Vec<Tentative>,
    chunks: usize,
    /// Batches handed out for external verification, oldest first.
    out: VecDeque<Outstanding>,
    /// Chunks held for the entries of `out`.
    out_chunks: usize,
    /// Jobs not yet taken by [`Node::poll_verify`].
    jobs: VecDeque<VerifyJob>,
    next_job: u64,
}

impl Batch {
    /// The next job to hand out.
    pub fn next_job(&mut self) -> Option<VerifyJob> {
        self.jobs.pop_front()
    }

    /// Jobs handed out (or ready to be) whose entries are not committed yet.
    pub fn outstanding(&self) -> usize {
        self.out.len()
    }
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
        // While jobs are out, a partial batch is not due: it fills up, or is handed out when the
        // last verdict is back.
        if self.batch.out.is_empty() {
            self.timers.advance(Timer::Settle, now);
        }
        if self.batch.items.len() >= BATCH_ENTRIES {
            self.close_batch();
        }
    }

    /// Holds `chunk` for its tentative entry if `slot` belongs to one; false if the entry is
    /// already stored (the caller stores the chunk then). The newest tentative entry with that
    /// seq is the live one (older ones may be orphans of a rolled-back feed awaiting a verdict).
    pub(super) fn hold_chunk(&mut self, slot: &ChunkSlot, chunk: &Chunk, last: bool) -> bool {
        let is_it = |t: &&mut Tentative| t.seq == slot.seq && t.fid == slot.fid;
        let t = match self.batch.items.iter_mut().rev().find(is_it) {
            Some(t) => {
                self.batch.chunks += 1;
                t
            }
            None => {
                let older = self.batch.out.iter_mut().rev().flat_map(|o| o.items.iter_mut().rev());
                let Some(t) = older.into_iter().find(is_it) else { return false };
                self.batch.out_chunks += 1;
                t
            }
        };
        t.chunks.push((slot.nr, *chunk));
        t.chain_complete |= last;
        true
    }

    /// Settles early if the chunks held for the batch reach their bound.
    pub(super) fn settle_if_heavy(&mut self) {
        if self.batch.out_chunks >= BATCH_CHUNKS.saturating_mul(self.cfg.max_verify_jobs.max(1)) {
            self.settle();
        } else if self.batch.chunks >= BATCH_CHUNKS {
            self.close_batch();
        }
    }

    /// Closes the current batch if it is due: not while jobs are out (then the partial batch
    /// waits to fill up, or for the last verdict, and the settle timer is off).
    pub(super) fn close_due_batch(&mut self) {
        if self.batch.out.is_empty() {
            self.close_batch();
        } else {
            self.timers.set(Timer::Settle, None);
        }
    }

    /// The current batch is full or due: verified here, or handed out as a job. With
    /// `max_verify_jobs` jobs out, the node checks the batch itself and queues it, verdict in
    /// hand, behind the jobs out (its caller slows down meanwhile: backpressure without wasted
    /// work); with four times that many batches queued it settles everything itself.
    pub(super) fn close_batch(&mut self) {
        if !self.cfg.external_verify {
            return self.settle();
        }
        self.timers.set(Timer::Settle, None);
        if self.batch.items.is_empty() {
            return;
        }
        let bound = self.cfg.max_verify_jobs.max(1);
        if self.batch.out.len() >= bound.saturating_mul(4) {
            return self.settle();
        }
        let items = std::mem::take(&mut self.batch.items);
        self.batch.out_chunks += self.batch.chunks;
        self.batch.chunks = 0;
        let id = self.batch.next_job;
        self.batch.next_job += 1;
        if self.batch.out.len() >= bound {
            let verdict = Some(check(&items));
            self.batch.out.push_back(Outstanding { id, items, verdict });
            return;
        }
        let job = VerifyJob { id, items: signatures(&items) };
        self.batch.jobs.push_back(job);
        self.batch.out.push_back(Outstanding { id, items, verdict: None });
    }

    /// Takes the verdict of job `id`, then commits every job at the head of the queue whose
    /// verdict is in. Unknown ids (jobs already settled in-line) are ignored.
    pub(super) fn take_verdict(&mut self, id: u64, verdict: Verdict) {
        if let Some(o) = self.batch.out.iter_mut().find(|o| o.id == id) {
            o.verdict.get_or_insert(verdict);
        }
        while self.batch.out.front().is_some_and(|o| o.verdict.is_some()) {
            let Some(o) = self.batch.out.pop_front() else { break };
            self.batch.out_chunks -= o.items.iter().map(|t| t.chunks.len()).sum::<usize>();
            let verdict = o.verdict.unwrap_or(Verdict::AllValid);
            self.apply(o.items, |i, _| verdict.is_valid(i));
        }
        if self.batch.out.is_empty() && !self.batch.items.is_empty() {
            // The partial batch that waited for the jobs before it.
            self.close_batch();
        }
    }

    /// Verifies every pending entry here, jobs handed out included (in issue order, using the
    /// verdicts already back), and stores the valid ones with their chunks.
    pub(super) fn settle(&mut self) {
        self.batch.jobs.clear();
        self.batch.out_chunks = 0;
        while let Some(o) = self.batch.out.pop_front() {
            match o.verdict {
                Some(v) => self.apply(o.items, |i, _| v.is_valid(i)),
                None => self.verify_and_apply(o.items),
            }
        }
        let items = std::mem::take(&mut self.batch.items);
        self.batch.chunks = 0;
        self.timers.set(Timer::Settle, None);
        self.verify_and_apply(items);
    }

    /// Verifies `items` as one batch (each alone if the batch fails) and applies the outcome.
    fn verify_and_apply(&mut self, items: Vec<Tentative>) {
        if items.is_empty() {
            return;
        }
        let verdict = check(&items);
        self.apply(items, |i, _| verdict.is_valid(i));
    }

    /// Stores the entries of a settled batch that `valid` accepts, in order, and rolls back the
    /// feeds that had an entry rejected. An entry that does not extend what its feed holds in the
    /// store was chained on a rejected one (here, or in a job settled before): it is dropped.
    fn apply(&mut self, items: Vec<Tentative>, valid: impl Fn(usize, &Tentative) -> bool) {
        let mut broken: Vec<FeedId> = Vec::new();
        for (i, t) in items.into_iter().enumerate() {
            if broken.contains(&t.fid) || !self.extends_store(&t) {
                // Chained on a rejected entry: its DMX only existed because of that entry.
                self.drop_packet(t.face, DropReason::Unknown);
                continue;
            }
            if !valid(i, &t) {
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

    /// True if `t` is the entry that follows its feed's last stored one.
    fn extends_store(&self, t: &Tentative) -> bool {
        let (seq, prev) = match self.store.frontier(&t.fid) {
            Some(f) => (f.seq, f.prev),
            None => (Seq(0), t.fid.genesis_prev()),
        };
        seq.next() == Some(t.seq) && prev == t.prev
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

/// The signatures of tentative entries, in order. (Their DMX values were checked when they
/// were recognised, so the signature is all that is left to check.)
fn signatures(items: &[Tentative]) -> Vec<VerifyItem> {
    (items.iter())
        .map(|t| VerifyItem {
            msg: t.entry.signed_message(&t.fid, t.seq, &t.prev),
            sig: t.entry.signature(),
            key: t.key,
        })
        .collect()
}

/// Checks the signatures of `items` here (see [`VerifyJob::verify`]).
fn check(items: &[Tentative]) -> Verdict {
    verify_items(&signatures(items))
}

/// All signatures as one batch, and each alone if that fails (or there are too few to gain).
fn verify_items(items: &[VerifyItem]) -> Verdict {
    let all_valid = items.len() >= BATCH_MIN && {
        let refs: Vec<&[u8]> = items.iter().map(|t| t.msg.as_slice()).collect();
        let sigs: Vec<[u8; 64]> = items.iter().map(|t| t.sig).collect();
        let keys: Vec<PublicKey> = items.iter().map(|t| t.key).collect();
        verify_batch(&refs, &sigs, &keys)
    };
    if all_valid {
        return Verdict::AllValid;
    }
    let bad: Vec<usize> =
        (items.iter().enumerate()).filter(|(_, t)| !t.key.verify(&t.msg, &t.sig)).map(|(i, _)| i).collect();
    if bad.is_empty() {
        Verdict::AllValid
    } else {
        Verdict::Invalid(bad)
    }
}
