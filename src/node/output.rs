//! Bounded output: what the node has queued for each face, what the driver still holds of it,
//! and the order in which faces are polled.
//!
//! Every byte the node asks a driver to send counts against two budgets until the driver
//! reports it written ([`Node::handle_flushed`]) or dropped ([`Node::handle_send_dropped`]):
//! one per face ([`Config::max_queued_per_face`](super::Config::max_queued_per_face)) and one for
//! all faces together ([`Config::max_queued_total`](super::Config::max_queued_total)). Replies to
//! requests are only produced while both budgets have room, so a peer that reads slowly (or not
//! at all) holds at most one face budget of memory, and a flood of requests cannot queue more.
//!
//! Control packets (GOset messages, this node's own requests) go ahead of replies. A control
//! packet that finds no room is dropped and counted; the protocol repeats them anyway.
//! [`Node::poll_transmit`] takes one packet from each face with output in turn (round robin), so
//! one busy face cannot starve the others.

use std::collections::VecDeque;

use super::{FaceId, Node, Transmit};
use crate::store::Store;
use crate::time::Instant;
use crate::wire::packet::Packet;

/// Queue capacity kept by an idle face; larger queues are shrunk once drained.
const IDLE_CAPACITY: usize = 16;

/// One face's output.
#[derive(Clone, Debug, Default)]
pub(super) struct Outbox {
    ctrl: VecDeque<Packet>,
    data: VecDeque<Packet>,
    /// Bytes in `ctrl` and `data`.
    queued: usize,
    /// Bytes handed to the driver and not yet reported written or dropped.
    in_flight: usize,
    /// True while the face is in the node's round-robin ring.
    in_ring: bool,
}

impl Outbox {
    /// Bytes this face holds against its budget.
    pub fn used(&self) -> usize {
        self.queued + self.in_flight
    }

    /// True if packets wait in the node for this face.
    pub fn has_queued(&self) -> bool {
        !self.ctrl.is_empty() || !self.data.is_empty()
    }

    fn pop(&mut self) -> Option<Packet> {
        let p = self.ctrl.pop_front().or_else(|| self.data.pop_front())?;
        self.queued -= p.len();
        self.in_flight += p.len();
        if self.data.is_empty() && self.data.capacity() > IDLE_CAPACITY {
            self.data.shrink_to(IDLE_CAPACITY);
        }
        Some(p)
    }

    /// The driver is done with `bytes` of this face's output; returns how many were held.
    fn release(&mut self, bytes: usize) -> usize {
        let freed = bytes.min(self.in_flight);
        self.in_flight -= freed;
        freed
    }

    /// Forgets everything queued; returns the bytes this face held against the total.
    fn clear(&mut self) -> usize {
        let used = self.used();
        *self = Outbox::default();
        used
    }
}

impl<S: Store> Node<S> {
    /// Bytes that may still be queued for `face` now (0 for an unknown face).
    pub(super) fn room(&self, face: FaceId) -> usize {
        let Some(f) = self.faces.get(&face) else { return 0 };
        let face_room = self.cfg.max_queued_per_face.saturating_sub(f.out.used());
        let total_room = self.cfg.max_queued_total.saturating_sub(self.out_total);
        face_room.min(total_room)
    }

    /// Queues a control packet for `face`, ahead of replies; drops and counts it if there is no room.
    pub(super) fn send(&mut self, face: FaceId, packet: Packet) {
        if self.room(face) < packet.len() {
            self.stats.out_dropped += 1;
            return;
        }
        let Some(f) = self.faces.get_mut(&face) else { return };
        f.out.ctrl.push_back(packet);
        self.enqueued(face, packet.len());
    }

    /// Queues a reply for `face`; the caller checked [`Node::room`] first.
    pub(super) fn send_reply(&mut self, face: FaceId, packet: Packet) {
        let Some(f) = self.faces.get_mut(&face) else { return };
        f.out.data.push_back(packet);
        self.enqueued(face, packet.len());
    }

    fn enqueued(&mut self, face: FaceId, len: usize) {
        self.stats.packets_out += 1;
        self.out_total += len;
        let Some(f) = self.faces.get_mut(&face) else { return };
        f.out.queued += len;
        if !f.out.in_ring {
            f.out.in_ring = true;
            self.ring.push_back(face);
        }
    }

    /// The next packet to send: one from each face with output in turn.
    pub(super) fn next_transmit(&mut self) -> Option<Transmit> {
        while let Some(face) = self.ring.pop_front() {
            let Some(f) = self.faces.get_mut(&face) else { continue };
            let Some(packet) = f.out.pop() else {
                f.out.in_ring = false;
                continue;
            };
            if f.out.has_queued() {
                self.ring.push_back(face);
            } else {
                f.out.in_ring = false;
            }
            return Some(Transmit { face, packet });
        }
        None
    }

    /// Releases `bytes` of `face`'s in-flight output and refills what the freed room allows.
    pub(super) fn release(&mut self, now: Instant, face: FaceId, bytes: usize) {
        let total_was_full = self.out_total + crate::wire::MAX_PACKET > self.cfg.max_queued_total;
        let Some(f) = self.faces.get_mut(&face) else { return };
        let freed = f.out.release(bytes);
        self.out_total -= freed;
        if total_was_full {
            // Every face may have been waiting for total room: give each a turn.
            let busy: Vec<FaceId> =
                self.faces.iter().filter(|(_, f)| f.serving.has_work()).map(|(id, _)| *id).collect();
            for id in busy {
                self.fill(now, id);
            }
        } else {
            self.fill(now, face);
        }
    }

    /// Forgets a face's output (it went away); its bytes no longer count against the total.
    pub(super) fn discard_output(&mut self, face: FaceId) {
        if let Some(f) = self.faces.get_mut(&face) {
            let used = f.out.clear();
            self.out_total -= used.min(self.out_total);
        }
    }
}
