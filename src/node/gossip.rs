//! GOset traffic: periodic rounds, greeting new faces, and reacting to claims and novelties at once.

use super::{FaceId, Node};
use crate::stats::DropReason;
use crate::store::Store;
use crate::time::Instant;
use crate::wire::goset::GosetMsg;
use crate::wire::packet::Packet;

/// Delay of the next GOset round after the set grew (instead of the full period).
const GROWING_ROUND: crate::time::Duration = crate::time::Duration::from_millis(500);

impl<S: Store> Node<S> {
    /// A GOset packet (after its DMX) from `face`.
    pub(super) fn handle_goset(&mut self, now: Instant, face: FaceId, body: &[u8]) {
        let Ok(msg) = GosetMsg::decode(body) else {
            return self.drop_packet(face, DropReason::BadGoset);
        };
        let outcome = self.admit_goset(now, face, &msg);
        // Answers go to the face that asked: the others did not ask, and each face has its own
        // reply budget, so one busy peer cannot use up what the others are owed.
        for reply in &outcome.send {
            if let Some(packet) = Packet::new(&reply.to_packet()) {
                self.send(face, packet);
                self.stats.goset_out += 1;
            }
        }
        // Our set changed: show the whole new set at once, so a peer that still differs notices
        // now rather than at the next round.
        if !outcome.learned.is_empty() || !outcome.evicted.is_empty() {
            // While the set is growing, run the next round soon: its pending-claim work
            // finishes what the immediate answers left open.
            self.timers.advance(super::timers::Timer::GosetRound, now + GROWING_ROUND);
            if let Some(claim) = self.goset.full_claim() {
                let full = GosetMsg::Claim(claim);
                if !outcome.send.contains(&full) {
                    self.broadcast(&full);
                }
            }
        }
    }

    /// The periodic round: the claim over the whole set, and work on pending claims.
    pub(super) fn goset_round(&mut self, _now: Instant) {
        for msg in self.goset.round() {
            self.broadcast(&msg);
        }
        for f in self.faces.values_mut() {
            f.goset_replies = self.goset.reply_budget();
        }
    }

    /// Sends a GOset message on every face.
    fn broadcast(&mut self, msg: &GosetMsg) {
        let Some(packet) = Packet::new(&msg.to_packet()) else { return };
        let faces: Vec<FaceId> = self.faces.keys().copied().collect();
        for face in faces {
            self.send(face, packet);
            self.stats.goset_out += 1;
        }
    }
}
