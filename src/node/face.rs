//! Per-face state: the GOset the face's requests are addressed in, request pacers, the WANT
//! rotation offset, output, the replies still owed to the peer, and what was recently sent to it.

use std::collections::HashMap;

use super::output::Outbox;
use super::pacer::{Pacer, PacerConfig};
use super::serve::Serving;
use super::FaceKind;
use crate::goset::peer::PeerSet;
use crate::ids::{Dmx, FeedId, Seq};
use crate::time::{Duration, Instant};

/// Most (feed, entry) sidechains whose sent chunks a face remembers; older marks are forgotten.
const MAX_CHUNK_MARKS: usize = 1024;

/// The highest item sent on one stream (a feed's entries, or one entry's chunks), the last item
/// the peer asked for, and when either last changed.
#[derive(Clone, Copy, Debug)]
struct SentMark {
    hi: u32,
    asked: u32,
    at: Instant,
}

impl SentMark {
    /// The first item worth sending for a request starting at `asked`.
    ///
    /// Items up to `hi` were sent. While the peer keeps moving forward (it asks for a later item
    /// than before), while output to it is still `busy` (queued or held by the driver), or while
    /// the last send is recent, they are on their way and are not sent again: a slow reader gets
    /// each packet once. Only a peer that asks for the same item for a whole `window` after it
    /// was sent and delivered gets it again (it was lost, or the peer dropped it).
    fn first_unsent(&mut self, asked: u32, now: Instant, window: Duration, busy: bool) -> u32 {
        if asked > self.hi {
            return asked;
        }
        if asked > self.asked || busy {
            self.asked = asked;
            self.at = now;
        }
        if asked == self.asked && now.saturating_since(self.at) >= window {
            self.at = now;
            return asked;
        }
        self.hi.saturating_add(1)
    }

    fn sent(&mut self, item: u32, now: Instant) {
        if item >= self.hi {
            self.hi = item;
            self.at = now;
        }
    }
}

/// Which GOset a face's claims, feed indices and request DMX values refer to.
#[derive(Clone, Debug)]
pub(super) enum FaceSet {
    /// The node's whole set, in the format given: wide towards a peer of our kind, classic on
    /// a node that behaves like a deployed peer ([`super::Config::wide_goset`] off).
    Whole(crate::wire::goset::Format),
    /// A deployed peer, or one not yet known to speak the wide format: a classic set agreed
    /// with it alone.
    Classic(Box<PeerSet>),
}

/// What the node keeps about one face.
#[derive(Clone, Debug)]
pub(super) struct Face {
    pub kind: FaceKind,
    /// The GOset of this link.
    pub set: FaceSet,
    /// The DMX of WANT requests on this link (derived from its set).
    pub want_dmx: Dmx,
    /// The DMX of CHNK requests on this link (derived from its set).
    pub chnk_dmx: Dmx,
    /// While set, a classic set only learns the peer's ids; at the first GOset round from then
    /// on the node offers its own.
    pub listen_until: Option<Instant>,
    pub want: Pacer,
    pub chnk: Pacer,
    /// Feed index the next WANT vector starts at.
    pub want_offset: usize,
    /// Output queued for the face and held by the driver.
    pub out: Outbox,
    /// Replies still owed to the peer, produced while the output has room.
    pub serving: Serving,
    /// What the peer may still be sent in immediate answers to its GOset claims this round.
    pub goset_replies: crate::goset::Replies,
    /// Entries the peer asked for that the node does not have yet, per feed: answered as soon
    /// as they arrive (long poll).
    pub held: HashMap<FeedId, Seq>,
    /// Entries sent per feed (reliable faces only).
    sent_entries: HashMap<FeedId, SentMark>,
    /// Chunks sent per (feed, entry) (reliable faces only).
    sent_chunks: HashMap<(FeedId, Seq), SentMark>,
    /// True once the peer was found to have nothing new; cleared by progress.
    pub in_sync: bool,
    /// Whether the peer is a pub of the same mesh (see [`super::Node::set_pub_link`]); `None`
    /// until the driver says or the peer's first packet does.
    pub pub_link: Option<bool>,
}

impl Face {
    /// A face using `set`, whose state is `state`, answering GOset claims within `goset_replies`.
    pub fn new(
        kind: FaceKind,
        set: FaceSet,
        state: &[u8; 32],
        goset_replies: crate::goset::Replies,
        pacer: PacerConfig,
        now: Instant,
    ) -> Face {
        Face {
            goset_replies,
            set,
            want_dmx: crate::wire::request::want_dmx(state),
            chnk_dmx: crate::wire::request::chnk_dmx(state),
            listen_until: None,
            kind,
            want: Pacer::new(pacer, now),
            chnk: Pacer::new(pacer, now),
            want_offset: 0,
            out: Outbox::default(),
            serving: Serving::default(),
            held: HashMap::new(),
            sent_entries: HashMap::new(),
            sent_chunks: HashMap::new(),
            in_sync: false,
            pub_link: None,
        }
    }

    /// The peer's classic set, unless the face is wide.
    pub fn peer_set(&self) -> Option<&PeerSet> {
        match &self.set {
            FaceSet::Classic(p) => Some(p),
            FaceSet::Whole(_) => None,
        }
    }

    /// Re-derives the request DMX values from a set state.
    pub fn set_state(&mut self, state: &[u8; 32]) {
        self.want_dmx = crate::wire::request::want_dmx(state);
        self.chnk_dmx = crate::wire::request::chnk_dmx(state);
    }

    pub fn deadline(&self) -> Instant {
        self.want.deadline().min(self.chnk.deadline())
    }

    /// The set changed, so requests to this face use a new DMX: ask again soon.
    pub fn on_goset_changed(&mut self, now: Instant) {
        self.want.on_progress(now);
        self.chnk.on_progress(now);
    }

    /// The first entry seq worth sending for a request of `seq`.
    pub fn first_unsent_entry(&mut self, fid: &FeedId, seq: Seq, now: Instant, window: Duration) -> Seq {
        let busy = self.out.used() > 0;
        match self.sent_entries.get_mut(fid) {
            Some(mark) => Seq(mark.first_unsent(seq.0, now, window, busy)),
            None => seq,
        }
    }

    /// The first chunk worth sending for a request of chunk `nr` of entry `seq`.
    pub fn first_unsent_chunk(
        &mut self,
        fid: &FeedId,
        seq: Seq,
        nr: u32,
        now: Instant,
        window: Duration,
    ) -> u32 {
        let busy = self.out.used() > 0;
        match self.sent_chunks.get_mut(&(*fid, seq)) {
            Some(mark) => mark.first_unsent(nr, now, window, busy),
            None => nr,
        }
    }

    pub fn note_entry_sent(&mut self, fid: FeedId, seq: Seq, now: Instant) {
        if self.kind == FaceKind::Reliable {
            self.sent_entries
                .entry(fid)
                .or_insert(SentMark { hi: seq.0, asked: 0, at: now })
                .sent(seq.0, now);
        }
    }

    pub fn note_chunk_sent(&mut self, fid: FeedId, seq: Seq, nr: u32, now: Instant, window: Duration) {
        if self.kind != FaceKind::Reliable {
            return;
        }
        if self.sent_chunks.len() >= MAX_CHUNK_MARKS && !self.sent_chunks.contains_key(&(fid, seq)) {
            self.sent_chunks.retain(|_, m| now.saturating_since(m.at) < window);
            if self.sent_chunks.len() >= MAX_CHUNK_MARKS {
                self.sent_chunks.clear();
            }
        }
        self.sent_chunks.entry((fid, seq)).or_insert(SentMark { hi: nr, asked: 0, at: now }).sent(nr, now);
    }

    /// Output to this face was lost: forget what was sent, so that the next request is answered.
    pub fn forget_sent(&mut self) {
        self.sent_entries.clear();
        self.sent_chunks.clear();
    }
}
