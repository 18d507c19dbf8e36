//! Admission: which feed ids may enter the GOset, and which verified entries may enter the store.
//!
//! A feed id learned from the network is *unconfirmed* (see [`crate::goset`]): it is tracked so
//! that its first entry can be requested and recognised, but it has no store directory and no
//! permanent GOset slot. The first valid signed entry confirms it; only then is the feed created
//! in the store. Unconfirmed ids expire or are evicted by the GOset, and the node then forgets
//! everything it armed for them.
//!
//! On top of that, [`Admission`] holds the operator's access lists and size limits. Everything
//! refused is counted under a [`DropReason`] and reported as [`Event::Refused`]; refused entries
//! are never stored.

use std::collections::BTreeSet;

use super::{Event, FaceId, Node};
use crate::ids::FeedId;
use crate::stats::DropReason;
use crate::store::{chunk_slots, record_len, Store, StoreError, MAX_LOG_LEN};
use crate::time::{Duration, Instant};
use crate::wire::entry::{Chain20, EntryType};

use super::batch::Tentative;

/// Default largest announced sidechain content a chain20 entry may have: 16 MiB.
pub const DEFAULT_MAX_SIDECHAIN_BYTES: u64 = 16 * 1024 * 1024;

/// Access lists and limits of a node. `Default` admits every id and only limits sidechains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    /// If set, only these feed ids are learned, fetched and stored; other ids are refused.
    pub allow: Option<BTreeSet<FeedId>>,
    /// Feed ids that are never learned, fetched or stored (this wins over `allow`).
    pub deny: BTreeSet<FeedId>,
    /// Most confirmed feeds (feeds in the store and GOset). The first entry of a new feed beyond
    /// it is refused. Local `follow`/`publish` are not limited. Default: no limit but the GOset cap.
    pub max_feeds: usize,
    /// Most bytes a feed's log may take (entries plus sidechain slots, as in `log.bin`). An entry
    /// that would grow the log beyond it is refused. Default: the format's limit, 2^32 - 1.
    pub max_feed_bytes: u64,
    /// Largest content length a chain20 entry may announce; longer ones are refused. Default 16 MiB.
    pub max_sidechain_bytes: u64,
    /// How long a feed id learned from the network waits for its first valid entry before it
    /// leaves the GOset. Default 10 minutes. Nodes whose role does not ingest keep such ids
    /// (they can never confirm them; only eviction from a full set removes them).
    pub unconfirmed_ttl: Duration,
    /// How long an id that expired or was evicted is not learned again from the network.
    /// Default 20 minutes (twice the default ttl): a neighbour that learned the id from us just
    /// before we dropped it keeps it up to a ttl longer and must not teach it back, or fakes
    /// would live for ever between two nodes. The price: a peer that keeps an id no one can
    /// confirm (a reference pub, or a follower of a feed without entries) disagrees with our
    /// set, and so cannot exchange requests with us, while the id is quarantined here.
    pub quarantine: Duration,
}

impl Default for Admission {
    fn default() -> Admission {
        Admission {
            allow: None,
            deny: BTreeSet::new(),
            max_feeds: usize::MAX,
            max_feed_bytes: MAX_LOG_LEN,
            max_sidechain_bytes: DEFAULT_MAX_SIDECHAIN_BYTES,
            unconfirmed_ttl: crate::goset::DEFAULT_UNCONFIRMED_TTL,
            quarantine: Duration(2 * crate::goset::DEFAULT_UNCONFIRMED_TTL.0),
        }
    }
}

impl Admission {
    /// Why `fid` may not be followed, if it may not: denied, or not on the allow list.
    pub fn id_refusal(&self, fid: &FeedId) -> Option<DropReason> {
        if self.deny.contains(fid) {
            Some(DropReason::Denied)
        } else if self.allow.as_ref().is_some_and(|a| !a.contains(fid)) {
            Some(DropReason::NotAllowed)
        } else {
            None
        }
    }
}

impl<S: Store> Node<S> {
    /// Counts a refusal and reports it.
    pub(super) fn refuse(&mut self, face: FaceId, fid: FeedId, reason: DropReason) {
        self.stats.count_drop(reason);
        self.events.push_back(Event::Refused { face, fid, reason });
    }

    /// Refuses a verified entry: counted and reported, and remembered so that the same entry,
    /// which our requests keep asking for, is dropped on arrival from then on.
    pub(super) fn refuse_entry(&mut self, face: FaceId, t: &Tentative, reason: DropReason) {
        self.refused.insert(t.fid, (t.seq, reason, t.entry));
        self.refuse(face, t.fid, reason);
    }

    /// If `entry` is the very entry refused before as the one `fid` expects next, counts the
    /// repeat (without another event) and returns true: the caller drops it without verifying it
    /// and without counting it as progress, so a peer cannot keep our request timer spinning
    /// with it. A different entry for the same seq takes the normal path.
    pub(super) fn refused_again(&mut self, fid: &FeedId, entry: &crate::wire::entry::Entry) -> bool {
        let Some(&(seq, reason, ref refused)) = self.refused.get(fid) else { return false };
        if self.feeds.get(fid).is_none_or(|s| s.next_seq != seq) {
            self.refused.remove(fid);
            return false;
        }
        if refused != entry {
            return false;
        }
        self.stats.count_drop(reason);
        true
    }

    /// Why a verified entry may not be stored, if it may not: its feed's id, the feed count, the
    /// announced sidechain, or the feed's log size.
    pub(super) fn entry_refusal(&self, t: &Tentative) -> Option<DropReason> {
        let adm = &self.cfg.admission;
        if let Some(reason) = self.id_refusal(&t.fid) {
            return Some(reason);
        }
        if !self.goset.is_confirmed(&t.fid) && self.goset.confirmed_len() >= adm.max_feeds {
            return Some(DropReason::TooManyFeeds);
        }
        if t.entry.entry_type() == Some(EntryType::Chain20) {
            let announced = Chain20::parse(t.entry.payload()).map_or(0, |c| c.content_len);
            if announced > adm.max_sidechain_bytes {
                return Some(DropReason::SidechainTooLarge);
            }
        }
        let now = self.store.log_len(&t.fid).unwrap_or(0);
        if now.saturating_add(record_len(chunk_slots(&t.entry))) > adm.max_feed_bytes {
            return Some(DropReason::FeedTooLarge);
        }
        None
    }

    /// Makes `fid` a confirmed feed before its first verified entry is stored: creates it in the
    /// store and confirms it in the GOset. Does nothing for a confirmed feed.
    /// An id learned from a pub link is confirmed before the store has it (see [`super::placement`]).
    pub(super) fn confirm_feed(&mut self, fid: FeedId) -> Result<(), StoreError> {
        if self.goset.is_confirmed(&fid) && self.store.frontier(&fid).is_some() {
            return Ok(());
        }
        self.store.add_feed(fid)?;
        self.goset.confirm(&fid);
        self.events.push_back(Event::FeedAdded(fid));
        self.offer_to_peers(self.clock, &[fid]);
        Ok(())
    }

    /// Why `fid` may not be followed, if it may not: it was dropped here (a tombstone, counted
    /// as denied), it is denied, or it is not on the allow list. A tombstone wins over the
    /// allow list: only removing the tombstone takes the feed back.
    pub(super) fn id_refusal(&self, fid: &FeedId) -> Option<DropReason> {
        if self.tombstones.contains(fid) {
            return Some(DropReason::Denied);
        }
        self.cfg.admission.id_refusal(fid)
    }

    /// Forgets everything armed for a feed that left the GOset (its next entry, its chunks).
    pub(super) fn untrack_feed(&mut self, fid: &FeedId) {
        if self.forget_feed(fid) {
            self.events.push_back(Event::FeedForgotten(*fid));
        }
    }

    /// [`Node::untrack_feed`] without the event; false if the feed was not tracked.
    pub(super) fn forget_feed(&mut self, fid: &FeedId) -> bool {
        self.refused.remove(fid);
        self.idle.remove(fid);
        let Some(state) = self.feeds.remove(fid) else { return false };
        let dmx = crate::wire::entry::entry_dmx(fid, state.next_seq, &state.prev);
        self.expected_entries.remove(&dmx);
        self.expected_chunks.retain(|_, slots| {
            slots.retain(|s| s.fid != *fid);
            !slots.is_empty()
        });
        true
    }

    /// When the next unconfirmed id expires; never on a node that does not ingest.
    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.goset.next_expiry().filter(|_| self.cfg.role.ingests())
    }

    /// Removes the unconfirmed ids whose time is up, and re-derives the request DMX values.
    pub(super) fn expire_unconfirmed(&mut self, now: Instant) {
        if self.next_expiry().is_none_or(|t| now < t) {
            return;
        }
        let gone = self.goset.expire(now);
        for fid in &gone {
            self.untrack_feed(fid);
        }
        if !gone.is_empty() {
            self.on_goset_changed(now);
        }
    }

    /// Builds the GOset at start-up from the store: feeds with at least one entry are confirmed;
    /// empty feed directories are unconfirmed, learned `now` (they expire like ids learned from
    /// the network unless an entry arrives). Denied or not allowed feeds are left out.
    pub(super) fn load_goset(&mut self, now: Instant) {
        let mut fids = self.store.feeds();
        fids.retain(|f| self.id_refusal(f).is_none());
        fids.sort();
        let (full, empty): (Vec<FeedId>, Vec<FeedId>) =
            fids.into_iter().partition(|f| self.store.frontier(f).is_some_and(|fr| fr.seq.0 > 0));
        for fid in full {
            if self.goset.add(fid) {
                self.track_feed(fid);
            }
        }
        for fid in empty {
            if self.goset.add_unconfirmed(fid, now) {
                self.track_feed(fid);
            }
        }
    }
}

impl<S: Store> Node<S> {
    /// Hands a GOset message to the set with the admission filter, then tracks learned ids
    /// (without creating them in the store), forgets evicted ones and counts refused ones.
    pub(super) fn admit_goset(
        &mut self,
        now: Instant,
        face: FaceId,
        msg: &crate::wire::goset::GosetMsg,
    ) -> crate::goset::Outcome {
        // An eviction must not hit a feed whose first entry waits in the batch: settle first.
        if self.goset.len() >= self.goset.cap() {
            self.settle();
        }
        let (adm, tombstones) = (&self.cfg.admission, &self.tombstones);
        // Answers come out of the asking face's own budget (a fresh one if the face is unknown).
        let mut replies = match self.faces.get_mut(&face) {
            Some(f) => std::mem::take(&mut f.goset_replies),
            None => self.goset.reply_budget(),
        };
        let outcome = self.goset.handle_from(
            now,
            msg,
            &mut |k| !tombstones.contains(k) && adm.id_refusal(k).is_none(),
            &mut replies,
        );
        if let Some(f) = self.faces.get_mut(&face) {
            f.goset_replies = replies;
        }
        for fid in &outcome.refused {
            let reason = self.id_refusal(fid).unwrap_or(DropReason::Denied);
            self.refuse(face, *fid, reason);
        }
        for fid in &outcome.evicted {
            self.untrack_feed(fid);
        }
        let vouched = self.is_pub_link(face);
        for fid in &outcome.learned {
            if !self.goset.contains(fid) {
                continue;
            }
            if vouched {
                self.goset.confirm(fid);
            }
            if !self.feeds.contains_key(fid) {
                self.track_feed(*fid);
            }
            self.events.push_back(Event::FeedLearned(*fid));
        }
        if !outcome.learned.is_empty() || !outcome.evicted.is_empty() {
            self.on_goset_changed(now);
        }
        // The peer's whole set equals ours, so it understands our requests now; if ids still
        // wait for their first entry, ask it at once instead of after a backed-off interval
        // (sets that differed for a while, e.g. during a flood, must not let them expire unasked).
        // Ids whose first entry was refused are not waiting for anything.
        if let crate::wire::goset::GosetMsg::Claim(c) = msg {
            let same = self.goset.full_claim().as_ref() == Some(c);
            if same && self.goset.unconfirmed().any(|(k, _)| !self.refused.contains_key(&k)) {
                if let Some(f) = self.faces.get_mut(&face) {
                    f.on_goset_changed(now);
                }
                self.rearm(face);
            }
        }
        outcome
    }
}
