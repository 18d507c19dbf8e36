//! Retiring feeds: dropping a feed from a running node, and expiring feeds that went quiet.
//!
//! A dropped feed leaves the GOset and the store, and its id gets a *tombstone* in the store.
//! From then on the id is refused like a denied one (counted under
//! [`DropReason::Denied`](crate::stats::DropReason::Denied)): peers that still hold the feed keep
//! offering it, and our set differs from theirs for that id (SPEC.md section 5).
//!
//! Expiry needs to know how long each feed has been without a new entry, and the node has no
//! clock of its own. It notes the time of every new entry, and counts every tracked feed as
//! fresh when it is first tracked (at start-up, that is the start). A driver that knows better,
//! for example from the modification time of a feed's files, says so with
//! [`Node::set_feed_idle`].

use super::{Event, Node};
use crate::ids::FeedId;
use crate::store::{Store, StoreError};
use crate::time::{Duration, Instant};

/// The longest time between two expiry checks.
pub const EXPIRY_CHECK_MAX: Duration = Duration::from_secs(3600);

impl<S: Store> Node<S> {
    /// Drops a feed: takes it out of the GOset (so the request DMX values change), forgets what
    /// was armed for it, and has the store remove it and record a tombstone. From then on the
    /// id is refused like a denied id, whatever the allow list says, for as long as the store
    /// keeps the tombstone. Dropping a feed the node does not hold records the tombstone too.
    /// Returns where the store kept the feed's data, if it kept it; on an error the node has
    /// dropped the feed all the same, but the store may not have recorded it.
    pub fn drop_feed(&mut self, now: Instant, fid: FeedId) -> Result<Option<std::path::PathBuf>, StoreError> {
        self.clock = self.clock.max(now);
        self.retire(now, fid, None)
    }

    /// Drops ([`Node::drop_feed`]) every confirmed feed that has had no new entry for
    /// `older_than` or longer at `now`; returns the ids dropped. Unconfirmed ids are left to their
    /// own expiry. [`Config::expire_after`](super::Config::expire_after) calls this from
    /// [`Node::handle_timeout`].
    pub fn expire_feeds(&mut self, now: Instant, older_than: Duration) -> Vec<FeedId> {
        self.clock = self.clock.max(now);
        self.settle();
        let old: Vec<(FeedId, Duration)> = self
            .goset
            .keys()
            .iter()
            .filter(|k| self.goset.is_confirmed(k))
            .filter_map(|k| Some((*k, self.feed_idle(now, k)?)))
            .filter(|(_, idle)| *idle >= older_than)
            .collect();
        for (fid, idle) in &old {
            // A store failure is reported as an event; the feed has left the node regardless.
            let _ = self.retire(now, *fid, Some(*idle));
        }
        old.into_iter().map(|(fid, _)| fid).collect()
    }

    /// How long the tracked feed `fid` has had no new entry, as of `now`; `None` if the node
    /// does not track it.
    pub fn feed_idle(&self, now: Instant, fid: &FeedId) -> Option<Duration> {
        let (since, before) = self.idle.get(fid)?;
        Some(Duration(now.saturating_since(*since).0.saturating_add(before.0)))
    }

    /// Tells the node that the tracked feed `fid` had had no new entry for `idle` at `now` (a
    /// driver learns it from the store, for example from file times at start-up). Ignored for a
    /// feed the node does not track.
    pub fn set_feed_idle(&mut self, now: Instant, fid: &FeedId, idle: Duration) {
        if let Some(slot) = self.idle.get_mut(fid) {
            *slot = (now, idle);
        }
    }

    /// The feeds that have tombstones (refused as dropped), in ascending order.
    pub fn tombstones(&self) -> impl Iterator<Item = &FeedId> + '_ {
        self.tombstones.iter()
    }

    /// Runs [`Node::expire_feeds`] if [`Config::expire_after`](super::Config::expire_after) is set
    /// and its check is due.
    pub(super) fn expire_idle(&mut self, now: Instant) {
        let (Some(due), Some(after)) = (self.expire_due, self.cfg.expire_after) else { return };
        if now < due {
            return;
        }
        self.expire_due = Some(now + after.min(EXPIRY_CHECK_MAX).max(Duration::from_millis(1)));
        self.expire_feeds(now, after);
    }

    fn retire(
        &mut self,
        now: Instant,
        fid: FeedId,
        idle: Option<Duration>,
    ) -> Result<Option<std::path::PathBuf>, StoreError> {
        self.settle();
        self.tombstones.insert(fid);
        self.forget_feed(&fid);
        self.waiters.remove(&fid);
        if self.goset.remove(&fid) {
            self.on_goset_changed(now);
        }
        match self.store.drop_feed(&fid) {
            Ok(kept) => {
                self.events.push_back(Event::FeedDropped { fid, kept: kept.clone(), idle });
                Ok(kept)
            }
            Err(e) => {
                self.events.push_back(Event::StoreFailed(format!("dropping feed {fid}: {e}")));
                Err(e)
            }
        }
    }
}
