//! GOset traffic: periodic rounds, greeting new faces, reacting to claims and novelties at once,
//! and the set each face's requests are addressed in.
//!
//! The node's whole set ([`Node::goset`]) may hold thousands of ids. A face starts *classic*:
//! its peer may be a deployed one that holds at most 100 ids, so the face gets a
//! [`PeerSet`] agreed with that peer alone, filled with the node's most recently active feeds.
//! Reliable faces are also greeted in the wide format; a peer that answers in it is of our kind,
//! and the face turns *wide*: from then on it uses the whole set. Broadcast faces reach many
//! peers at once and stay classic.

use super::face::{Face, FaceSet};
use super::pacer::PacerConfig;
use super::{FaceId, FaceKind, Node};
use crate::goset::peer::PeerSet;
use crate::goset::Outcome;
use crate::ids::FeedId;
use crate::stats::DropReason;
use crate::store::Store;
use crate::time::Instant;
use crate::wire::goset::{Format, GosetMsg};
use crate::wire::packet::Packet;

/// How long a new classic face only learns the peer's ids before the node offers its own
/// (unless the peer's claim shows agreement earlier): see [`PeerSet::listening`].
const LISTEN: crate::time::Duration = crate::time::Duration::from_secs(3);
/// Delay of the next GOset round after a set grew (instead of the full period).
const GROWING_ROUND: crate::time::Duration = crate::time::Duration::from_millis(500);

impl<S: Store> Node<S> {
    /// A new face's state: a classic set of its own, offered the node's feeds best first (or,
    /// on a node without the wide format, the whole set).
    pub(super) fn new_face(&self, kind: FaceKind, pacer: PacerConfig, now: Instant) -> Face {
        if !self.cfg.wide_goset {
            let set = FaceSet::Whole(Format::Classic);
            return Face::new(kind, set, &self.goset.state(), self.goset.reply_budget(), pacer, now);
        }
        let set = PeerSet::new(self.cfg.peer_set_cap, crate::goset::DEFAULT_REPLY_BUDGET);
        let (state, budget) = (set.set().state(), set.reply_budget());
        let mut face = Face::new(kind, FaceSet::Classic(Box::new(set)), &state, budget, pacer, now);
        face.listen_until = Some(now + LISTEN);
        face
    }

    /// The confirmed feeds, most recently active first (what a deployed peer is offered).
    fn offer_order(&self) -> Vec<FeedId> {
        let mut keys: Vec<(i128, FeedId)> = self
            .goset
            .keys()
            .iter()
            .filter(|k| self.goset.is_confirmed(k))
            .map(|k| {
                let last =
                    self.idle.get(k).map_or(i128::MIN, |(at, idle)| i128::from(at.0) - i128::from(idle.0));
                (last, *k)
            })
            .collect();
        keys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        keys.into_iter().map(|(_, k)| k).collect()
    }

    /// Greets a new face: the claim over its set, and on a reliable classic face the whole
    /// set's claim in the wide format, which only a peer of our kind understands.
    pub(super) fn greet(&mut self, face: FaceId) {
        let Some(f) = self.faces.get(&face) else { return };
        let reliable = f.kind == FaceKind::Reliable;
        let (format, own, wide) = match &f.set {
            FaceSet::Classic(p) => {
                (Format::Classic, p.set().full_claim(), self.goset.full_claim().filter(|_| reliable))
            }
            FaceSet::Whole(format) => (*format, self.goset.full_claim(), None),
        };
        if let Some(c) = own {
            self.send_goset(face, format, &GosetMsg::Claim(c));
        }
        if let Some(c) = wide {
            self.send_goset(face, Format::Wide, &GosetMsg::Claim(c));
        }
    }

    /// A GOset packet (after its DMX) in `format` from `face`.
    pub(super) fn handle_goset(&mut self, now: Instant, face: FaceId, format: Format, body: &[u8]) {
        let Ok(msg) = GosetMsg::decode_as(format, body) else {
            return self.drop_packet(face, DropReason::BadGoset);
        };
        let Some(f) = self.faces.get(&face) else {
            return self.drop_packet(face, DropReason::Unknown);
        };
        match (format, &f.set) {
            (Format::Classic, FaceSet::Classic(_)) => self.handle_classic(now, face, &msg),
            (Format::Classic, FaceSet::Whole(Format::Classic))
            | (Format::Wide, FaceSet::Whole(Format::Wide)) => {
                self.handle_whole(now, face, format, &msg);
            }
            // A peer of our kind greets in both formats; once wide, the classic set is gone.
            (Format::Classic, FaceSet::Whole(Format::Wide)) => {}
            // A node without the wide format, and broadcast faces, do not speak it.
            (Format::Wide, FaceSet::Whole(Format::Classic)) => self.drop_packet(face, DropReason::Unknown),
            (Format::Wide, FaceSet::Classic(_)) if f.kind == FaceKind::Broadcast => {
                self.drop_packet(face, DropReason::Unknown);
            }
            (Format::Wide, FaceSet::Classic(_)) => {
                self.widen(now, face);
                self.handle_whole(now, face, format, &msg);
            }
        }
    }

    /// The peer on `face` speaks the wide format: the face uses the whole set from now on.
    fn widen(&mut self, now: Instant, face: FaceId) {
        let state = self.goset.state();
        let replies = self.goset.reply_budget();
        let Some(f) = self.faces.get_mut(&face) else { return };
        f.set = FaceSet::Whole(Format::Wide);
        f.goset_replies = replies;
        f.set_state(&state);
        f.on_goset_changed(now);
        self.rearm(face);
        if let Some(c) = self.goset.full_claim() {
            self.send_goset(face, Format::Wide, &GosetMsg::Claim(c));
        }
    }

    /// A message about the whole set: the whole set handles it, and answers go back in the
    /// same format.
    fn handle_whole(&mut self, now: Instant, face: FaceId, format: Format, msg: &GosetMsg) {
        let outcome = self.admit_goset(now, face, msg);
        // Answers go to the face that asked: the others did not ask, and each face has its own
        // reply budget, so one busy peer cannot use up what the others are owed.
        for reply in &outcome.send {
            self.send_goset(face, format, reply);
        }
        // Between peers of our kind, claims left for the round (the answers did not fit the
        // budget, or the peer knows more) are worked on soon, not a whole period later.
        if format == Format::Wide && !self.goset.pending().is_empty() {
            self.timers.advance(super::timers::Timer::GosetRound, now + GROWING_ROUND);
        }
        self.whole_set_grew(now, &outcome);
    }

    /// A classic-format message: the face's own set handles it; the ids the peer showed are
    /// then learned by the whole set, under the admission rules.
    fn handle_classic(&mut self, now: Instant, face: FaceId, msg: &GosetMsg) {
        let Some(f) = self.faces.get_mut(&face) else { return };
        let FaceSet::Classic(set) = &mut f.set else { return };
        let before = set.set().state();
        let mut replies = core::mem::take(&mut f.goset_replies);
        let outcome = set.handle(now, msg, &mut replies);
        let after = set.set().state();
        let agreed_first = set.listening() && set.agreed();
        f.goset_replies = replies;
        for reply in &outcome.send {
            self.send_goset(face, Format::Classic, reply);
        }
        // The peer's set is known: offer ours (which reports the change), or report the change.
        let offered = agreed_first && self.offer_to_listener(now, face);
        if before != after && !offered {
            self.peer_set_changed(now, face, &outcome.send);
        }
        let mut named = match msg {
            GosetMsg::Novelty(key) => vec![*key],
            GosetMsg::Claim(c) => vec![c.lo, c.hi],
        };
        for key in outcome.learned {
            if !named.contains(&key) {
                named.push(key);
            }
        }
        for key in named {
            self.learn_from_peer(now, face, key);
        }
    }

    /// An id a classic peer has: the whole set learns it too, if it lacks it and admits it.
    fn learn_from_peer(&mut self, now: Instant, face: FaceId, key: FeedId) {
        if self.goset.contains(&key) {
            return;
        }
        let learned = self.admit_goset(now, face, &GosetMsg::Novelty(key));
        for m in &learned.send {
            self.broadcast_whole(m);
        }
        self.whole_set_grew(now, &learned);
    }

    /// Ids in classic sets that the whole set lacks (it forgot them, or they were quarantined)
    /// are learned again once the rules admit them: in the classic sets they no longer differ
    /// from the peer's, so no claim would ever name them again.
    fn relearn_from_peers(&mut self, now: Instant) {
        let mut lacking: Vec<(FaceId, FeedId)> = Vec::new();
        for (face, f) in &self.faces {
            let Some(set) = f.peer_set() else { continue };
            lacking.extend(
                (set.set().keys().iter())
                    .filter(|k| !self.goset.contains(k) && !self.goset.is_quarantined(k))
                    .filter(|k| self.id_refusal(k).is_none())
                    .map(|k| (*face, *k)),
            );
        }
        for (face, key) in lacking {
            self.learn_from_peer(now, face, key);
        }
    }

    /// The set of `face` (a classic one) changed: new request DMX values, requests soon, and
    /// the new claim over the whole of it unless `sent` already carries it.
    fn peer_set_changed(&mut self, now: Instant, face: FaceId, sent: &[GosetMsg]) {
        let Some(f) = self.faces.get_mut(&face) else { return };
        let Some(set) = f.peer_set() else { return };
        let (state, full) = (set.set().state(), set.set().full_claim());
        f.set_state(&state);
        f.on_goset_changed(now);
        self.rearm(face);
        self.timers.advance(super::timers::Timer::GosetRound, now + GROWING_ROUND);
        if let Some(c) = full.map(GosetMsg::Claim) {
            if !sent.contains(&c) {
                self.send_goset(face, Format::Classic, &c);
            }
        }
    }

    /// After the whole set handled a message: if it changed, show the wide faces the new
    /// whole claim at once (a peer that still differs notices now rather than at the next
    /// round), and run the next round soon.
    fn whole_set_grew(&mut self, now: Instant, outcome: &Outcome) {
        if outcome.learned.is_empty() && outcome.evicted.is_empty() {
            return;
        }
        // While the set is growing, run the next round soon: its pending-claim work finishes
        // what the immediate answers left open.
        self.timers.advance(super::timers::Timer::GosetRound, now + GROWING_ROUND);
        if let Some(claim) = self.goset.full_claim() {
            let full = GosetMsg::Claim(claim);
            if !outcome.send.contains(&full) {
                self.broadcast_whole(&full);
            }
        }
    }

    /// Ends the listening phase of `face`'s classic set and offers it the node's feeds; true if
    /// that changed the set (and the change was reported).
    fn offer_to_listener(&mut self, now: Instant, face: FaceId) -> bool {
        let order = self.offer_order();
        let Some(f) = self.faces.get_mut(&face) else { return false };
        f.listen_until = None;
        let FaceSet::Classic(set) = &mut f.set else { return false };
        set.stop_listening();
        let changed = set.offer(order);
        if changed {
            self.peer_set_changed(now, face, &[]);
        }
        changed
    }

    /// Offers newly confirmed feeds to the classic faces with room.
    pub(super) fn offer_to_peers(&mut self, now: Instant, keys: &[FeedId]) {
        let faces: Vec<FaceId> = self.faces.keys().copied().collect();
        for face in faces {
            let Some(f) = self.faces.get_mut(&face) else { continue };
            let FaceSet::Classic(set) = &mut f.set else { continue };
            if set.has_room() && set.offer(keys.iter().copied()) {
                self.peer_set_changed(now, face, &[]);
            }
        }
    }

    /// Takes back offers of a feed the node no longer holds.
    pub(super) fn withdraw_from_peers(&mut self, now: Instant, key: &FeedId) {
        let faces: Vec<FaceId> = self.faces.keys().copied().collect();
        for face in faces {
            let Some(f) = self.faces.get_mut(&face) else { continue };
            let FaceSet::Classic(set) = &mut f.set else { continue };
            if set.withdraw(key) {
                self.peer_set_changed(now, face, &[]);
            }
        }
    }

    /// The periodic round: on wide faces the whole set's claim and its pending-claim work, on
    /// classic faces their own; reliable classic faces are greeted in the wide format again.
    pub(super) fn goset_round(&mut self, now: Instant) {
        self.relearn_from_peers(now);
        let done: Vec<FaceId> = (self.faces.iter())
            .filter(|(_, f)| f.listen_until.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for face in done {
            self.offer_to_listener(now, face);
        }
        let whole = self.goset.round();
        let hello = self.goset.full_claim().map(GosetMsg::Claim).filter(|_| self.cfg.wide_goset);
        let faces: Vec<FaceId> = self.faces.keys().copied().collect();
        for face in faces {
            let Some(f) = self.faces.get_mut(&face) else { continue };
            let (own, budget) = match &mut f.set {
                FaceSet::Classic(set) => (Some(set.round()), set.reply_budget()),
                FaceSet::Whole(_) => (None, self.goset.reply_budget()),
            };
            f.goset_replies = budget;
            let (kind, set) = (f.kind, &f.set);
            match (own, set) {
                (Some(msgs), _) => {
                    for m in &msgs {
                        self.send_goset(face, Format::Classic, m);
                    }
                    if let (FaceKind::Reliable, Some(h)) = (kind, &hello) {
                        self.send_goset(face, Format::Wide, h);
                    }
                }
                (None, &FaceSet::Whole(format)) => {
                    for m in &whole {
                        self.send_goset(face, format, m);
                    }
                }
                (None, FaceSet::Classic(_)) => {}
            }
        }
    }

    /// Sends a message about the whole set on every face that uses it, in the face's format.
    fn broadcast_whole(&mut self, msg: &GosetMsg) {
        let faces: Vec<(FaceId, Format)> = (self.faces.iter())
            .filter_map(|(id, f)| match f.set {
                FaceSet::Whole(format) => Some((*id, format)),
                FaceSet::Classic(_) => None,
            })
            .collect();
        for (face, format) in faces {
            self.send_goset(face, format, msg);
        }
    }

    /// Queues one GOset message for `face`.
    fn send_goset(&mut self, face: FaceId, format: Format, msg: &GosetMsg) {
        let Some(packet) = msg.to_packet_as(format).as_deref().and_then(Packet::new) else { return };
        self.send(face, packet);
        self.stats.goset_out += 1;
    }
}
