//! Auditing stored data before it is served. A disk can flip bits, and an entry or chunk served
//! as stored would then stall every peer that fetches the feed. So before an entry (or a chunk of
//! its sidechain) is first served, it and every entry before it are checked as a peer would check
//! them: the hash chain (each entry's DMX names its seq and its predecessor's msg id), the
//! signatures (verified in batches) and the sidechain chunks held (each chunk's hash is the
//! pointer before it). Entries this node verified itself on arrival count as audited.
//!
//! The first entry that fails, and everything after it, is quarantined: the store takes it out
//! of the feed (the file store keeps the bytes in a file next to the log), the node reports
//! [`Event::Quarantined`], and the feed is fetched again from peers like any feed that is behind.

use super::{Event, Node};
use crate::crypto::verify_batch;
use crate::ids::{FeedId, MsgId, Seq};
use crate::store::{Frontier, Store, StoreError};
use crate::wire::entry::{entry_dmx, Chain20, Entry, EntryType};

/// Entries audited at most per step (one batch signature verification).
const AUDIT_BATCH: u32 = 64;

impl<S: Store> Node<S> {
    /// True if entry `seq` of `fid` may be served: it and every entry before it passed the audit.
    /// Audits as far as needed on first use, quarantining what fails.
    pub(super) fn audited(&mut self, fid: &FeedId, seq: Seq) -> bool {
        loop {
            let Some(state) = self.feeds.get(fid) else { return false };
            if seq <= state.audited {
                return true;
            }
            let Some(key) = state.key else { return false };
            let (from, mut prev) = (state.audited.0.saturating_add(1), state.audited_prev);
            let stored = self.store.frontier(fid).map_or(0, |f| f.seq.0);
            if seq.0 > stored {
                return false;
            }
            let to = stored.min(from.saturating_add(AUDIT_BATCH - 1));
            // Entries in order, each with the prev it must chain on; stop at the first that breaks.
            let mut items: Vec<(Seq, Entry, MsgId)> = Vec::new();
            let mut broken: Option<(Seq, MsgId)> = None;
            for s in (from..=to).map(Seq) {
                let entry = match self.store.read_entry(fid, s) {
                    Ok(Some(e)) => e,
                    Ok(None) => {
                        broken = Some((s, prev));
                        break;
                    }
                    Err(e) => return self.audit_failed(e),
                };
                match self.chunks_intact(fid, s, &entry) {
                    Ok(true) if entry.dmx() == entry_dmx(fid, s, &prev) => {}
                    Ok(_) => {
                        broken = Some((s, prev));
                        break;
                    }
                    Err(e) => return self.audit_failed(e),
                }
                let id = entry.msg_id(fid, s, &prev);
                items.push((s, entry, prev));
                prev = id;
            }
            let msgs: Vec<[u8; 122]> = items.iter().map(|(s, e, p)| e.signed_message(fid, *s, p)).collect();
            let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
            let sigs: Vec<[u8; 64]> = items.iter().map(|(_, e, _)| e.signature()).collect();
            let keys = vec![key; items.len()];
            if !verify_batch(&refs, &sigs, &keys) {
                let forged = items.iter().find(|(s, e, p)| e.verify(&key, fid, *s, p).is_err());
                if let Some((s, _, p)) = forged {
                    broken = Some((*s, *p));
                }
            }
            self.stats.entries_audited += items.len() as u64;
            match broken {
                None => {
                    if let Some(state) = self.feeds.get_mut(fid) {
                        state.audited = Seq(to);
                        state.audited_prev = prev;
                    }
                }
                Some((bad, bad_prev)) => {
                    self.quarantine(*fid, Frontier { seq: Seq(bad.0 - 1), prev: bad_prev });
                    return seq < bad;
                }
            }
        }
    }

    /// Whether the chunks held for entry `seq` hash-chain from the entry's sidechain pointer.
    fn chunks_intact(&mut self, fid: &FeedId, seq: Seq, entry: &Entry) -> Result<bool, StoreError> {
        if entry.entry_type() != Some(EntryType::Chain20) {
            return Ok(true);
        }
        let Some(chain) = Chain20::parse(entry.payload()) else { return Ok(true) };
        let mut expected = chain.first;
        for nr in 0..u32::try_from(chain.chunk_count()).unwrap_or(u32::MAX) {
            let Some(chunk) = self.store.read_chunk(fid, seq, nr)? else { break };
            if chunk.hash() != expected {
                return Ok(false);
            }
            expected = chunk.next();
        }
        Ok(true)
    }

    /// Takes entries after `keep` out of the feed and sets the feed up to fetch them again.
    fn quarantine(&mut self, fid: FeedId, keep: Frontier) {
        // Entries still awaiting their signature check may chain on what is taken out.
        self.settle();
        let from = Seq(keep.seq.0 + 1);
        match self.store.quarantine(&fid, keep) {
            Ok(kept) => {
                self.stats.quarantined += 1;
                self.events.push_back(Event::Quarantined { fid, from, kept });
            }
            Err(e) => {
                self.events.push_back(Event::StoreFailed(format!("quarantining {fid} from {from}: {e}")));
            }
        }
        self.roll_back(fid);
        if let Some(state) = self.feeds.get_mut(&fid) {
            if let Some(front) = self.store.frontier(&fid) {
                if front.seq <= keep.seq {
                    state.audited = front.seq;
                    state.audited_prev = front.prev;
                }
            }
        }
    }

    fn audit_failed(&mut self, e: StoreError) -> bool {
        self.events.push_back(Event::StoreFailed(format!("audit: {e}")));
        false
    }
}
