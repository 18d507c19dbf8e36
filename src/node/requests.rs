//! Requesting: building the WANT and CHNK vectors this node sends when a face's pacer is due.

use super::{Event, FaceId, FaceKind, Node};
use crate::store::Store;
use crate::time::Instant;
use crate::wire::packet::Packet;
use crate::wire::request::{ChnkVector, ChunkRequest, RequestVector, WantVector};

/// WANT packets sent per due request on a reliable face (each covers as many feeds as fit).
const RELIABLE_WANT_PACKETS: usize = 4;

impl<S: Store> Node<S> {
    /// Sends whatever requests are due on `face` and re-arms its pacers.
    pub(super) fn send_requests(&mut self, now: Instant, face: FaceId) {
        let Some(f) = self.faces.get(&face) else { return };
        let (want_due, chnk_due, kind) = (f.want.is_due(now), f.chnk.is_due(now), f.kind);
        if want_due {
            self.send_wants(now, face, kind);
        }
        if chnk_due {
            self.send_chnks(now, face);
        }
    }

    fn send_wants(&mut self, now: Instant, face: FaceId, kind: FaceKind) {
        let keys = self.face_keys(face);
        let n = keys.len();
        let Some(f) = self.faces.get(&face) else { return };
        let dmx = f.want_dmx;
        let mut offset = if n == 0 { 0 } else { f.want_offset % n };
        let packets = match kind {
            FaceKind::Reliable => RELIABLE_WANT_PACKETS,
            FaceKind::Broadcast => 1,
        };
        let mut covered = 0;
        let mut out = Vec::new();
        // Asked once per request, not per element: whether the face gets only held feeds.
        let filtered = self.filtered(face);
        while covered < n && out.len() < packets {
            let mut want = WantVector::new(u32::try_from(offset).unwrap_or(0));
            let mut i = 0;
            while covered + i < n {
                let Some(fid) = keys.get((offset + i) % n) else { break };
                // A peer's id this node does not replicate (refused, or not learned yet) is
                // never asked for: the vector ends before it.
                let Some(state) = self.feeds.get(fid) else { break };
                if !want.try_push(self.wanted_seq(filtered, fid, state.next_seq)) {
                    break;
                }
                i += 1;
            }
            // A vector that could not even start skips the id it stopped at.
            let step = i.max(1);
            covered += step;
            offset = (offset + step) % n;
            if i > 0 {
                out.push(want.encode());
            }
        }
        for body in out {
            if let Some(p) = Packet::concat(&dmx.0, &body) {
                self.send(face, p);
                self.stats.wants_out += 1;
            }
        }
        if let Some(f) = self.faces.get_mut(&face) {
            f.want_offset = offset;
            let idle = f.want.on_sent(now);
            if idle && !f.in_sync {
                f.in_sync = true;
                self.events.push_back(Event::PeerInSync(face));
            }
        }
    }

    fn send_chnks(&mut self, now: Instant, face: FaceId) {
        let Some(dmx) = self.faces.get(&face).map(|f| f.chnk_dmx) else { return };
        let mut chnk = ChnkVector::fitting([]);
        'feeds: for (idx, fid) in self.face_keys(face).iter().enumerate() {
            for p in self.store.pending_chains(fid) {
                let req = ChunkRequest {
                    feed_index: u32::try_from(idx).unwrap_or(u32::MAX),
                    seq: p.seq,
                    chunk: p.next_chunk,
                };
                if !chnk.try_push(req) {
                    break 'feeds;
                }
            }
        }
        if !chnk.requests.is_empty() {
            if let Some(p) = Packet::concat(&dmx.0, &chnk.encode()) {
                self.send(face, p);
                self.stats.chnks_out += 1;
            }
        }
        if let Some(f) = self.faces.get_mut(&face) {
            f.chnk.on_sent(now);
        }
    }
}
