//! Per-face state: request pacers, the WANT rotation offset, and what was recently sent to the peer.

use std::collections::HashMap;

use super::pacer::{Pacer, PacerConfig};
use super::FaceKind;
use crate::ids::{FeedId, Seq};
use crate::time::{Duration, Instant};

/// What the node keeps about one face.
#[derive(Clone, Debug)]
pub(super) struct Face {
    pub kind: FaceKind,
    pub want: Pacer,
    pub chnk: Pacer,
    /// Feed index the next WANT vector starts at.
    pub want_offset: usize,
    /// Highest entry seq sent per feed, and when (reliable faces only).
    sent_entries: HashMap<FeedId, (Seq, Instant)>,
    /// Highest chunk nr sent per (feed, seq), and when (reliable faces only).
    sent_chunks: HashMap<(FeedId, Seq), (u32, Instant)>,
    /// True once the peer was found to have nothing new; cleared by progress.
    pub in_sync: bool,
}

impl Face {
    pub fn new(kind: FaceKind, pacer: PacerConfig, now: Instant) -> Face {
        Face {
            kind,
            want: Pacer::new(pacer, now),
            chnk: Pacer::new(pacer, now),
            want_offset: 0,
            sent_entries: HashMap::new(),
            sent_chunks: HashMap::new(),
            in_sync: false,
        }
    }

    pub fn is_due(&self, now: Instant) -> bool {
        self.want.is_due(now) || self.chnk.is_due(now)
    }

    pub fn deadline(&self) -> Instant {
        self.want.deadline().min(self.chnk.deadline())
    }

    /// The set changed, so requests to this face use a new DMX: ask again soon.
    pub fn on_goset_changed(&mut self, now: Instant) {
        self.want.on_progress(now);
        self.chnk.on_progress(now);
    }

    /// The first entry seq worth sending for a request of `seq` (skips what was just sent).
    pub fn first_unsent_entry(&self, fid: &FeedId, seq: Seq, now: Instant, window: Duration) -> Seq {
        match self.sent_entries.get(fid) {
            Some(&(hi, at)) if now.saturating_since(at) < window && hi >= seq => {
                hi.next().unwrap_or(Seq(u32::MAX))
            }
            _ => seq,
        }
    }

    /// The first chunk worth sending for a request of chunk `nr` of entry `seq`.
    pub fn first_unsent_chunk(&self, fid: &FeedId, seq: Seq, nr: u32, now: Instant, window: Duration) -> u32 {
        match self.sent_chunks.get(&(*fid, seq)) {
            Some(&(hi, at)) if now.saturating_since(at) < window && hi >= nr => hi.saturating_add(1),
            _ => nr,
        }
    }

    pub fn note_entry_sent(&mut self, fid: FeedId, seq: Seq, now: Instant) {
        if self.kind == FaceKind::Reliable {
            let e = self.sent_entries.entry(fid).or_insert((seq, now));
            if seq >= e.0 {
                *e = (seq, now);
            }
        }
    }

    pub fn note_chunk_sent(&mut self, fid: FeedId, seq: Seq, nr: u32, now: Instant) {
        if self.kind == FaceKind::Reliable {
            let e = self.sent_chunks.entry((fid, seq)).or_insert((nr, now));
            if nr >= e.0 {
                *e = (nr, now);
            }
        }
    }
}
