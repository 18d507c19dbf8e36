//! Serving: answering WANT and CHNK requests from the store, as far as the face's output has room.
//!
//! A request does not produce its replies at once. It updates what the face is owed, a cursor
//! per feed (WANT) or per sidechain (CHNK) and a credit of packets, and replies are read from the
//! store only while the face's output budget has room ([`Node::fill`]). Cursors are served in
//! turn, one packet each, as the reference answers in passes. On reliable faces the credit is
//! large, a chain20 entry's chunks follow it at once, and what is already on its way to the peer
//! is not sent again. A request that repeats one still being answered only moves cursors and
//! never adds credit, so a flood of requests costs no more than one.
//!
//! A request for the entry after the last one stored is held (long poll): when that entry
//! arrives, from a peer or published here, it is sent at once to every face that asked for it,
//! instead of waiting for the peer's next request. Each face holds at most one such request per
//! feed.

use std::collections::VecDeque;

use super::{FaceId, FaceKind, Node};
use crate::ids::{FeedId, Seq};
use crate::stats::DropReason;
use crate::store::Store;
use crate::time::Instant;
use crate::wire::entry::{Chain20, EntryType};
use crate::wire::packet::Packet;
use crate::wire::request::{ChnkVector, ChunkRequest, WantVector};
use crate::wire::MAX_PACKET;

/// Most sidechains one face may have open CHNK cursors on; older ones are dropped.
const MAX_CHUNK_CURSORS: usize = 256;

/// The replies a face is still owed.
#[derive(Clone, Debug, Default)]
pub(super) struct Serving {
    /// Next entry to send per feed, served in turn.
    entries: VecDeque<(FeedId, Seq)>,
    /// Packets left for the WANT answer (entries and the chunks pushed after them).
    entry_credit: usize,
    /// Chunks of the chain20 entry just sent, pushed after it: feed, seq, next chunk, end.
    push: Option<(FeedId, Seq, u32, u32)>,
    /// Next chunk to send per sidechain, served in turn.
    chunks: VecDeque<(FeedId, Seq, u32)>,
    /// Packets left for the CHNK answer.
    chunk_credit: usize,
    /// Whether chunks go next when both kinds of reply are owed.
    chunks_turn: bool,
}

impl Serving {
    /// True if replies are owed.
    pub fn has_work(&self) -> bool {
        self.entry_credit > 0 || self.chunk_credit > 0
    }
}

/// What [`Node::fill`] does next for a face.
enum Next {
    Push(FeedId, Seq, u32, u32),
    Entry(FeedId, Seq),
    Chunk(FeedId, Seq, u32),
}

impl<S: Store> Node<S> {
    fn budget(&self, face: FaceId) -> Option<(usize, FaceKind)> {
        let kind = self.faces.get(&face)?.kind;
        let budget = match kind {
            FaceKind::Reliable => self.cfg.reliable_budget,
            FaceKind::Broadcast => self.cfg.broadcast_budget,
        };
        Some((budget, kind))
    }

    pub(super) fn serve_want(&mut self, now: Instant, face: FaceId, body: &[u8]) {
        if !self.cfg.role.serves() {
            return self.drop_packet(face, DropReason::Role);
        }
        let Ok(want) = WantVector::decode(body) else {
            return self.drop_packet(face, DropReason::BadRequest);
        };
        let Some((budget, _)) = self.budget(face) else { return };
        let keys = self.face_keys(face);
        let n = keys.len();
        let asked: Vec<(FeedId, Seq)> = (want.seqs.iter().enumerate())
            .filter_map(|(i, &seq)| Some((*keys.get(want.feed_index(i, n)?)?, seq)))
            .collect();
        let window = self.cfg.resend_window;
        for (fid, seq) in asked {
            self.note_asked(face, fid, seq);
            let Some(f) = self.faces.get_mut(&face) else { return };
            let start = f.first_unsent_entry(&fid, seq, now, window);
            let s = &mut f.serving;
            match s.entries.iter_mut().find(|(id, _)| *id == fid) {
                Some(cursor) => cursor.1 = start,
                None => s.entries.push_back((fid, start)),
            }
        }
        if let Some(f) = self.faces.get_mut(&face) {
            f.serving.entry_credit = f.serving.entry_credit.max(budget);
        }
        self.fill(now, face);
    }

    pub(super) fn serve_chnk(&mut self, now: Instant, face: FaceId, body: &[u8]) {
        if !self.cfg.role.serves() {
            return self.drop_packet(face, DropReason::Role);
        }
        let Ok(chnk) = ChnkVector::decode(body) else {
            return self.drop_packet(face, DropReason::BadRequest);
        };
        let Some((budget, _)) = self.budget(face) else { return };
        let window = self.cfg.resend_window;
        let keys = self.face_keys(face);
        let asked: Vec<(FeedId, ChunkRequest)> = (chnk.requests.iter())
            .filter_map(|req| Some((*keys.get(usize::try_from(req.feed_index).ok()?)?, *req)))
            .collect();
        for (fid, req) in asked {
            let Some(f) = self.faces.get_mut(&face) else { return };
            let start = f.first_unsent_chunk(&fid, req.seq, req.chunk, now, window);
            let s = &mut f.serving;
            match s.chunks.iter_mut().find(|(id, seq, _)| *id == fid && *seq == req.seq) {
                Some(cursor) => cursor.2 = start,
                None => {
                    if s.chunks.len() >= MAX_CHUNK_CURSORS {
                        s.chunks.pop_front();
                    }
                    s.chunks.push_back((fid, req.seq, start));
                }
            }
        }
        if let Some(f) = self.faces.get_mut(&face) {
            f.serving.chunk_credit = f.serving.chunk_credit.max(budget);
        }
        self.fill(now, face);
    }

    /// Produces the replies `face` is owed while its output has room and credit is left.
    pub(super) fn fill(&mut self, now: Instant, face: FaceId) {
        while self.room(face) >= MAX_PACKET {
            let Some(next) = self.faces.get_mut(&face).and_then(|f| next_reply(&mut f.serving)) else {
                return;
            };
            match next {
                Next::Push(fid, seq, nr, end) => {
                    let sent = self.reply_chunk(now, face, &fid, seq, nr);
                    let Some(s) = self.faces.get_mut(&face).map(|f| &mut f.serving) else { return };
                    s.push = (sent && nr + 1 < end).then_some((fid, seq, nr + 1, end));
                    if sent {
                        s.entry_credit = s.entry_credit.saturating_sub(1);
                    }
                }
                Next::Entry(fid, seq) => {
                    let push = self.reply_entry(now, face, &fid, seq);
                    if push.is_none() && self.store.frontier(&fid).and_then(|f| f.seq.next()) == Some(seq) {
                        self.hold(face, fid, seq);
                    }
                    let Some(s) = self.faces.get_mut(&face).map(|f| &mut f.serving) else { return };
                    if let Some(push) = push {
                        s.entry_credit = s.entry_credit.saturating_sub(1);
                        s.push = push.map(|count| (fid, seq, 0, count));
                        if let Some(next) = seq.next() {
                            s.entries.push_back((fid, next));
                        }
                    }
                }
                Next::Chunk(fid, seq, nr) => {
                    let sent = self.reply_chunk(now, face, &fid, seq, nr);
                    let Some(s) = self.faces.get_mut(&face).map(|f| &mut f.serving) else { return };
                    if sent {
                        s.chunk_credit = s.chunk_credit.saturating_sub(1);
                        s.chunks.push_back((fid, seq, nr.saturating_add(1)));
                    }
                }
            }
            if let Some(s) = self.faces.get_mut(&face).map(|f| &mut f.serving) {
                if s.entry_credit == 0 {
                    s.entries.clear();
                    s.push = None;
                }
                if s.chunk_credit == 0 {
                    s.chunks.clear();
                }
            }
        }
    }

    /// Remembers that `face` wants entry `seq` of `fid`, the one after the last stored.
    fn hold(&mut self, face: FaceId, fid: FeedId, seq: Seq) {
        let Some(f) = self.faces.get_mut(&face) else { return };
        if f.held.insert(fid, seq).is_none() {
            self.waiters.entry(fid).or_default().push(face);
        }
    }

    /// Entry `seq` of `fid` was just stored: answer the faces that were waiting for it.
    pub(super) fn wake_waiters(&mut self, fid: FeedId, seq: Seq) {
        let Some(waiting) = self.waiters.remove(&fid) else { return };
        let now = self.clock;
        let mut still = Vec::new();
        let mut woken = Vec::new();
        for face in waiting {
            let Some((budget, _)) = self.budget(face) else { continue };
            let Some(f) = self.faces.get_mut(&face) else { continue };
            match f.held.get(&fid) {
                Some(&want) if want == seq => {
                    f.held.remove(&fid);
                    let s = &mut f.serving;
                    match s.entries.iter_mut().find(|(id, _)| *id == fid) {
                        Some(cursor) => cursor.1 = seq,
                        None => s.entries.push_back((fid, seq)),
                    }
                    s.entry_credit = s.entry_credit.max(budget);
                    woken.push(face);
                }
                Some(_) => still.push(face),
                None => {}
            }
        }
        if !still.is_empty() {
            self.waiters.insert(fid, still);
        }
        for face in woken {
            self.fill(now, face);
        }
    }

    /// Queues entry `seq` of `fid`. `None` if the store does not hold it; otherwise the number of
    /// chunks to push after it (on reliable faces, for a chain20 entry with chunks).
    fn reply_entry(&mut self, now: Instant, face: FaceId, fid: &FeedId, seq: Seq) -> Option<Option<u32>> {
        if !self.audited(fid, seq) {
            return None;
        }
        let entry = match self.store.read_entry(fid, seq) {
            Ok(Some(e)) => e,
            Ok(None) => return None,
            Err(e) => {
                self.store_failed(face, e);
                return None;
            }
        };
        self.send_reply(face, Packet::full(entry.0));
        self.stats.entries_out += 1;
        let f = self.faces.get_mut(&face)?;
        f.note_entry_sent(*fid, seq, now);
        if f.kind != FaceKind::Reliable || entry.entry_type() != Some(EntryType::Chain20) {
            return Some(None);
        }
        let count =
            Chain20::parse(entry.payload()).map_or(0, |c| u32::try_from(c.chunk_count()).unwrap_or(u32::MAX));
        Some((count > 0).then_some(count))
    }

    /// Queues chunk `nr` of entry `seq`; false if the store does not hold it.
    fn reply_chunk(&mut self, now: Instant, face: FaceId, fid: &FeedId, seq: Seq, nr: u32) -> bool {
        if !self.audited(fid, seq) {
            return false;
        }
        match self.store.read_chunk(fid, seq, nr) {
            Ok(Some(chunk)) => {
                self.send_reply(face, Packet::full(chunk.0));
                self.stats.chunks_out += 1;
                let window = self.cfg.resend_window;
                if let Some(f) = self.faces.get_mut(&face) {
                    f.note_chunk_sent(*fid, seq, nr, now, window);
                }
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.store_failed(face, e);
                false
            }
        }
    }
}

/// Takes the next reply owed: pushed chunks first, then entries and chunk requests in turn.
fn next_reply(s: &mut Serving) -> Option<Next> {
    if s.entry_credit > 0 {
        if let Some((fid, seq, nr, end)) = s.push.take() {
            return Some(Next::Push(fid, seq, nr, end));
        }
    }
    let entries_owed = s.entry_credit > 0 && !s.entries.is_empty();
    let chunks_owed = s.chunk_credit > 0 && !s.chunks.is_empty();
    if !entries_owed {
        s.entry_credit = 0;
    }
    if !chunks_owed {
        s.chunk_credit = 0;
    }
    let take_chunk = chunks_owed && (s.chunks_turn || !entries_owed);
    s.chunks_turn = !s.chunks_turn;
    if take_chunk {
        let (fid, seq, nr) = s.chunks.pop_front()?;
        return Some(Next::Chunk(fid, seq, nr));
    }
    if entries_owed {
        let (fid, seq) = s.entries.pop_front()?;
        return Some(Next::Entry(fid, seq));
    }
    None
}
