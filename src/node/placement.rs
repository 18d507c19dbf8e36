//! Placement: in a mesh of pubs ([`crate::mesh`]) each pub holds only its share of the feeds.
//! On faces marked as pub links the node asks only for held feeds; other faces (phones, LoRa
//! bridges, tools) are asked for everything as before, so what a client brings is always taken.
//!
//! A WANT vector covers consecutive feed indices, so a feed that is not held cannot simply be
//! left out: its element asks for seq [`SKIP_SEQ`], which no feed reaches, and the peer sends
//! nothing for it. A pub of the mesh greets with a mesh hello before anything else, and the
//! driver takes mesh packets before the engine sees them; so with placement on, a new face
//! counts as a pub link until the driver says otherwise or the peer's first packet reaches
//! the engine (a client's GOset greeting), and nothing a pub does not hold is ever asked of it.
//! Ids learned from a pub link count as confirmed at once: the pub that holds
//! the feed vouched for it, and a pub that holds no entries of a feed must not let its id expire.

use super::{Event, FaceId, Node};
use crate::ids::{FeedId, Seq};
use crate::store::Store;
use crate::time::Instant;

/// The seq a pub link is asked for in place of a feed the node does not hold (`2^31 − 1`, the
/// largest a WANT element carries in four bytes).
pub const SKIP_SEQ: Seq = Seq(0x7fff_ffff);

impl<S: Store> Node<S> {
    /// Turns placement on: from now on pub links are asked only for the feeds passed to
    /// [`Node::set_held`].
    pub fn use_placement(&mut self) {
        if self.held.is_none() {
            self.held = Some(std::collections::HashSet::new());
        }
    }

    /// Starts or stops asking pub links for `fid` (no effect until [`Node::use_placement`]).
    pub fn set_held(&mut self, fid: FeedId, held: bool) {
        let Some(set) = self.held.as_mut() else { return };
        if held {
            set.insert(fid);
            self.asked.remove(&fid);
        } else {
            set.remove(&fid);
        }
    }

    /// True if the node asks pub links for `fid` (always, with placement off).
    pub fn holds(&self, fid: &FeedId) -> bool {
        self.held.as_ref().is_none_or(|set| set.contains(fid))
    }

    /// Marks `face` as a link to another pub of the mesh (or not).
    pub fn set_pub_link(&mut self, face: FaceId, pub_link: bool) {
        if let Some(f) = self.faces.get_mut(&face) {
            f.pub_link = Some(pub_link);
        }
    }

    /// True if the driver marked `face` as a pub link.
    pub fn is_pub_link(&self, face: FaceId) -> bool {
        self.faces.get(&face).is_some_and(|f| f.pub_link == Some(true))
    }

    /// True if `face` is asked only for held feeds: a pub link, or with placement on a face
    /// that has not shown what it is yet.
    pub(super) fn filtered(&self, face: FaceId) -> bool {
        let Some(f) = self.faces.get(&face) else { return false };
        f.pub_link.unwrap_or(self.held.is_some())
    }

    /// A packet for the engine arrived on `face`: if nobody said what the face is, its peer is
    /// not a pub (a pub's hello would have come first), so it is asked for everything, soon.
    pub(super) fn note_packet(&mut self, now: Instant, face: FaceId) {
        let Some(f) = self.faces.get_mut(&face) else { return };
        if f.pub_link.is_some() || self.held.is_none() {
            return;
        }
        f.pub_link = Some(false);
        f.on_goset_changed(now);
        self.rearm(face);
    }

    /// The seq to ask a face for as the next entry of `fid`, `filtered` if the face gets only
    /// held feeds ([`Node::filtered`]).
    pub(super) fn wanted_seq(&self, filtered: bool, fid: &FeedId, next: Seq) -> Seq {
        if filtered && !self.holds(fid) {
            SKIP_SEQ
        } else {
            next
        }
    }

    /// A peer asked for entry `seq` of `fid`: if it is a client asking for a feed this node
    /// neither holds nor has that entry of, report it (once, until the feed is held).
    pub(super) fn note_asked(&mut self, face: FaceId, fid: FeedId, seq: Seq) {
        if seq >= SKIP_SEQ
            || self.held.is_none()
            || self.holds(&fid)
            || self.filtered(face)
            || self.asked.contains(&fid)
        {
            return;
        }
        if self.store.frontier(&fid).is_some_and(|f| f.seq >= seq) {
            return;
        }
        self.asked.insert(fid);
        self.events.push_back(Event::Asked { face, fid });
    }
}
