//! The set a node keeps towards one deployed peer: a classic GOset of at most [`super::DEFAULT_CAP`]
//! ids, chosen for that peer.
//!
//! Deployed peers (the reference pub, the Android app, the LoRa firmware) hold at most 100 ids
//! and address feeds by their position in that set, so a node with more feeds cannot show them
//! its whole set. Towards such a peer it keeps a [`PeerSet`] instead, and the two converge on
//! one set of at most 100 ids, which names the WANT and CHNK DMX values and feed indices of
//! that link:
//!
//! - every id the peer shows (in a claim or a novelty) enters the set *confirmed*: the peer has
//!   it, and the sets must agree on it whether or not this node follows the feed;
//! - the node *offers* its own feeds while there is room, best first ([`PeerSet::offer`]). An
//!   offered id is evicted, worst first, when the peer shows ids that need the room;
//! - once the peer shows a claim over a full set that differs from ours, it cannot take any
//!   more ids: the set starts over from that claim, learns the peer's ids by the usual
//!   bisection, and nothing is offered to the peer any more. The set then converges on exactly
//!   the peer's set (again, should the peer ever drop ids it showed).
//!
//! The peer sees an ordinary GOset neighbour with fewer than 100 ids. Nothing here reads a
//! clock: the message handling of [`super::GoSet`] takes the time.

use super::{Config, GoSet, Outcome, Replies, MAX_CLASSIC_CAP};
use crate::ids::FeedId;
use crate::time::{Duration, Instant};
use crate::wire::goset::GosetMsg;

/// A classic GOset agreed with one peer (see the module docs).
#[derive(Clone, Debug)]
pub struct PeerSet {
    set: GoSet,
    /// The peer showed a full set unlike ours: it takes no offered id.
    peer_full: bool,
    /// Ids offered so far: the time stamp of the next offer (it orders eviction).
    offers: u64,
    /// Still learning the peer's own set: nothing is offered yet (see [`PeerSet::listening`]).
    listening: bool,
    /// The peer's last claim equalled our full claim.
    agreed: bool,
}

impl PeerSet {
    /// An empty set of at most `cap` ids (clamped to [`MAX_CLASSIC_CAP`]) that answers at most
    /// `reply_budget` packets per round.
    pub fn new(cap: usize, reply_budget: usize) -> PeerSet {
        let set = GoSet::new(Config {
            cap: cap.min(MAX_CLASSIC_CAP),
            reply_budget,
            // Offered ids never expire, and a withdrawn id may come back at once.
            unconfirmed_ttl: Duration(u64::MAX),
            quarantine: Duration::ZERO,
            learned_confirmed: true,
        });
        PeerSet { set, peer_full: false, offers: 0, listening: true, agreed: false }
    }

    /// The set as agreed so far.
    pub fn set(&self) -> &GoSet {
        &self.set
    }

    /// True once the peer showed a full set unlike ours (nothing is offered to it any more).
    pub fn peer_full(&self) -> bool {
        self.peer_full
    }

    /// True if an id could be offered now.
    pub fn has_room(&self) -> bool {
        !self.listening && !self.peer_full && self.set.len() < self.set.cap()
    }

    /// True while the set only learns the peer's ids and offers none. A new set listens until
    /// the owner calls [`PeerSet::stop_listening`], typically once the peer's claim equals ours
    /// ([`PeerSet::agreed`]) or after a short while. Teaching a peer ids before knowing its own
    /// makes it help us with spans our claims cut through, and the reference pub crashes on
    /// some of that help (see SPEC.md, section 10).
    pub fn listening(&self) -> bool {
        self.listening
    }

    /// Ends the listening phase: from now on ids may be offered.
    pub fn stop_listening(&mut self) {
        self.listening = false;
    }

    /// True if the last claim the peer sent equalled our claim over our whole set.
    pub fn agreed(&self) -> bool {
        self.agreed
    }

    /// Offers `keys`, best first, while there is room; returns true if the set changed. Ids
    /// already present are skipped. When the peer later needs the room, the worst offered id
    /// goes first.
    pub fn offer(&mut self, keys: impl IntoIterator<Item = FeedId>) -> bool {
        let room = if self.has_room() { self.set.cap().saturating_sub(self.set.len()) } else { 0 };
        let fresh: Vec<FeedId> = keys.into_iter().filter(|k| !self.set.contains(k)).take(room).collect();
        // Eviction takes the unconfirmed id with the oldest time: within one offer the worst id
        // gets the oldest, and earlier offers are older than later ones.
        for key in fresh.iter().rev() {
            self.set.add_unconfirmed(*key, Instant(self.offers));
            self.offers += 1;
        }
        !fresh.is_empty()
    }

    /// Takes back an offered id (the node no longer has the feed); ids the peer showed stay.
    /// Returns true if the set changed.
    pub fn withdraw(&mut self, key: &FeedId) -> bool {
        self.set.is_unconfirmed(key) && self.set.remove(key)
    }

    /// Handles one classic GOset message from the peer at `now`, answering within `replies`.
    /// The returned outcome's `learned` are the ids the peer showed that the set lacked.
    pub fn handle(&mut self, now: Instant, msg: &GosetMsg, replies: &mut Replies) -> Outcome {
        if let GosetMsg::Claim(c) = msg {
            let count = usize::try_from(c.count).unwrap_or(usize::MAX);
            if count >= self.set.cap() && self.set.full_claim().as_ref() != Some(c) {
                // The peer's whole set, full and unlike ours: start over from it. (Dropping only
                // our offers is not enough: a peer may also have dropped ids it showed before.)
                self.peer_full = true;
                for key in self.set.keys().to_vec() {
                    self.set.remove(&key);
                }
            }
        }
        let outcome = self.set.handle_from(now, msg, &mut |_| true, replies);
        if let GosetMsg::Claim(c) = msg {
            self.agreed = self.set.full_claim().as_ref() == Some(c);
        }
        // Ids the peer names are ids it has: offered ones are agreed now.
        match msg {
            GosetMsg::Novelty(key) => {
                self.set.confirm(key);
            }
            GosetMsg::Claim(c) => {
                self.set.confirm(&c.lo);
                self.set.confirm(&c.hi);
            }
        }
        outcome
    }

    /// The periodic round of this link (see [`GoSet::round`]).
    pub fn round(&mut self) -> Vec<GosetMsg> {
        self.set.round()
    }

    /// A fresh per-round reply budget for this peer.
    pub fn reply_budget(&self) -> Replies {
        self.set.reply_budget()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goset::DEFAULT_CAP;

    fn k(i: u8) -> FeedId {
        FeedId([i; 32])
    }

    /// Runs messages back and forth between a peer set and a plain (deployed-style) set until
    /// both are quiet; the deployed side answers from one budget like the reference.
    fn exchange(ours: &mut PeerSet, theirs: &mut GoSet, rounds: usize) {
        let mut to_them: Vec<GosetMsg> = ours.round();
        let mut to_us: Vec<GosetMsg> = theirs.round();
        for _ in 0..rounds {
            let mut replies = ours.reply_budget();
            let mut next_us = Vec::new();
            for m in &to_us {
                to_them.extend(ours.handle(Instant(1), m, &mut replies).send);
            }
            for m in &to_them {
                next_us.extend(theirs.handle(m).send);
            }
            to_them = ours.round();
            next_us.extend(theirs.round());
            to_us = next_us;
        }
    }

    #[test]
    fn a_peer_with_room_takes_the_best_offers_and_the_sets_agree() {
        let mut ours = PeerSet::new(4, 64);
        assert!(!ours.offer([k(1)]), "a new set listens first");
        ours.stop_listening();
        assert!(ours.offer([k(1), k(2), k(3), k(4), k(5)]));
        assert_eq!(ours.set().keys(), [k(1), k(2), k(3), k(4)]);
        let mut theirs = GoSet::new(Config { cap: 4, ..Config::default() });
        assert!(theirs.add(k(9)));
        exchange(&mut ours, &mut theirs, 20);
        assert_eq!(ours.set().keys(), theirs.keys(), "they agree");
        assert!(ours.set().contains(&k(9)), "the peer's own id");
        assert_eq!(ours.set().len(), 4, "one offer made room");
        assert!(ours.set().contains(&k(1)), "the best offer stays");
        assert!(!ours.peer_full());
    }

    #[test]
    fn a_full_peer_gets_nothing_and_the_set_becomes_the_peers() {
        let mut ours = PeerSet::new(DEFAULT_CAP, 512);
        ours.stop_listening();
        assert!(ours.offer((1..=60).map(k)));
        let mut theirs = GoSet::default();
        for i in 101..=200 {
            assert!(theirs.add(k(i)));
        }
        exchange(&mut ours, &mut theirs, 40);
        assert!(ours.peer_full());
        assert_eq!(ours.set().keys(), theirs.keys());
        assert_eq!(theirs.len(), 100, "the deployed peer never went past its cap");
        assert!(!ours.offer([k(7)]), "nothing is offered to a full peer");
    }

    #[test]
    fn withdrawing_takes_back_offers_only() {
        let mut ours = PeerSet::new(10, 64);
        ours.stop_listening();
        ours.offer([k(1), k(2)]);
        let mut replies = ours.reply_budget();
        ours.handle(Instant(0), &GosetMsg::Novelty(k(2)), &mut replies);
        ours.handle(Instant(0), &GosetMsg::Novelty(k(3)), &mut replies);
        assert!(ours.withdraw(&k(1)));
        assert!(!ours.withdraw(&k(2)), "the peer has it");
        assert!(!ours.withdraw(&k(3)), "the peer showed it");
        assert_eq!(ours.set().keys(), [k(2), k(3)]);
    }
}
