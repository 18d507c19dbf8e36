//! Serving: answering WANT and CHNK requests from the store, within the face's send budget.
//!
//! Both requests are answered in passes over their elements, as the reference
//! does: each pass sends the next entry (or chunk) of every element that still
//! has one, until the budget is spent or a pass finds nothing. On reliable
//! faces the budget is large, the chunks of a chain20 entry follow it at once,
//! and what was sent moments ago is skipped instead of sent twice.

use super::{FaceId, FaceKind, Node};
use crate::ids::{FeedId, Seq};
use crate::stats::DropReason;
use crate::store::Store;
use crate::time::Instant;
use crate::wire::entry::{Chain20, EntryType};
use crate::wire::packet::Packet;
use crate::wire::request::{ChnkVector, WantVector};

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
        let Some((mut credit, kind)) = self.budget(face) else { return };
        let keys = self.goset.keys();
        let n = keys.len();
        if n == 0 {
            return;
        }
        let window = self.cfg.resend_window;
        let mut cursors: Vec<(FeedId, Seq)> = Vec::with_capacity(want.seqs.len());
        for (i, &seq) in want.seqs.iter().enumerate() {
            let Some(&fid) = want.feed_index(i, n).and_then(|idx| keys.get(idx)) else { continue };
            let start = match self.faces.get(&face) {
                Some(f) => f.first_unsent_entry(&fid, seq, now, window),
                None => seq,
            };
            cursors.push((fid, start));
        }
        while credit > 0 {
            let mut progressed = false;
            for (fid, seq) in cursors.iter_mut() {
                if credit == 0 {
                    break;
                }
                let entry = match self.store.read_entry(fid, *seq) {
                    Ok(Some(e)) => e,
                    Ok(None) => continue,
                    Err(e) => {
                        self.store_failed(face, e);
                        continue;
                    }
                };
                self.send(face, Packet::full(entry.0));
                self.stats.entries_out += 1;
                credit -= 1;
                progressed = true;
                if let Some(f) = self.faces.get_mut(&face) {
                    f.note_entry_sent(*fid, *seq, now);
                }
                if kind == FaceKind::Reliable && entry.entry_type() == Some(EntryType::Chain20) {
                    if let Some(chain) = Chain20::parse(entry.payload()) {
                        let count = u32::try_from(chain.chunk_count()).unwrap_or(u32::MAX);
                        credit = self.send_chunks(now, face, fid, *seq, 0, count, credit);
                    }
                }
                *seq = seq.next().unwrap_or(Seq(u32::MAX));
            }
            if !progressed {
                break;
            }
        }
    }

    pub(super) fn serve_chnk(&mut self, now: Instant, face: FaceId, body: &[u8]) {
        if !self.cfg.role.serves() {
            return self.drop_packet(face, DropReason::Role);
        }
        let Ok(chnk) = ChnkVector::decode(body) else {
            return self.drop_packet(face, DropReason::BadRequest);
        };
        let Some((mut credit, _)) = self.budget(face) else { return };
        let window = self.cfg.resend_window;
        let mut cursors: Vec<(FeedId, Seq, u32)> = Vec::with_capacity(chnk.requests.len());
        for req in &chnk.requests {
            let Some(&fid) = usize::try_from(req.feed_index).ok().and_then(|i| self.goset.keys().get(i))
            else {
                continue;
            };
            let (seq, nr) = (req.seq, req.chunk);
            let start = match self.faces.get(&face) {
                Some(f) => f.first_unsent_chunk(&fid, seq, nr, now, window),
                None => nr,
            };
            cursors.push((fid, seq, start));
        }
        while credit > 0 {
            let before = credit;
            for (fid, seq, nr) in cursors.iter_mut() {
                if credit == 0 {
                    break;
                }
                let after = self.send_chunks(now, face, fid, *seq, *nr, nr.saturating_add(1), credit);
                if after < credit {
                    *nr = nr.saturating_add(1);
                }
                credit = after;
            }
            if credit == before {
                break;
            }
        }
    }

    /// Sends the held chunks `from..to` of entry `seq`, stopping at the first missing one or when
    /// the credit runs out. Returns the credit left.
    #[allow(clippy::too_many_arguments)]
    fn send_chunks(
        &mut self,
        now: Instant,
        face: FaceId,
        fid: &FeedId,
        seq: Seq,
        from: u32,
        to: u32,
        mut credit: usize,
    ) -> usize {
        let mut nr = from;
        while nr < to && credit > 0 {
            match self.store.read_chunk(fid, seq, nr) {
                Ok(Some(chunk)) => {
                    self.send(face, Packet::full(chunk.0));
                    self.stats.chunks_out += 1;
                    credit -= 1;
                    if let Some(f) = self.faces.get_mut(&face) {
                        f.note_chunk_sent(*fid, seq, nr, now);
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    self.store_failed(face, e);
                    break;
                }
            }
            nr += 1;
        }
        credit
    }
}
