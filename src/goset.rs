//! The GOset: the grow-only set of feed ids a node replicates, and the claim protocol that lets
//! neighbours agree on it.
//!
//! Keys are kept sorted; a key's position is its feed index in WANT and CHNK requests. The set's
//! `state` is the XOR of all keys and names the request DMX values. Nodes compare sets by sending
//! [`Claim`]s over spans of their sorted keys; a node whose view of a span differs either asks
//! (sends its own claim over that span) or helps (sends claims over the two halves of the span's
//! inside, or a NOVELTY for a single key), so the peers bisect their way down to the missing keys.
//!
//! This module owns the set and that logic; it does no I/O and reads no clock. Messages come in
//! through [`GoSet::handle_at`]; the periodic round's messages come out of [`GoSet::round`], which
//! the node calls on its own round timer (every 15 s in deployed peers).
//!
//! # Admission
//!
//! A key learned from the network is only *unconfirmed*: it sits in the set (WANT requests address
//! feeds by position, so it must, while its first entry is fetched) but holds no permanent slot.
//! The owner confirms it ([`GoSet::confirm`]) once a valid signed entry of the feed arrived.
//! Unconfirmed keys expire `unconfirmed_ttl` after they were first learned ([`GoSet::expire`]),
//! and when the set is full a new key evicts the oldest unconfirmed one. A key that expired or
//! was evicted is not learned again from the network for `quarantine`: otherwise two nodes that
//! dropped it at slightly different times would teach it back to each other for ever.

use std::collections::VecDeque;

use crate::ids::FeedId;
use crate::time::{Duration, Instant};
use crate::wire::goset::{Claim, GosetMsg};

/// Default maximum number of keys (the reference's limit).
pub const DEFAULT_CAP: usize = 100;
/// Largest possible cap: a claim's count is one byte.
pub const MAX_CAP: usize = 255;
/// Time between two periodic rounds (the reference's 15 s).
pub const ROUND: Duration = Duration::from_secs(15);
/// Most claims kept pending at any time.
pub const MAX_PENDING: usize = 20;
/// Most claims kept pending after a round (room for new ones, as in the reference).
const RETAIN_AFTER_ROUND: usize = MAX_PENDING - 5;
/// Most queued novelties.
const MAX_NOVELTIES: usize = 20;
/// Pending claims a round may ask about.
const ASK_PER_ROUND: usize = 1;
/// Pending claims a round may help with.
const HELP_PER_ROUND: usize = 3;
/// Novelties a node may send per round.
const NOVELTY_PER_ROUND: usize = 1;
/// Default number of immediate replies per round.
pub const DEFAULT_REPLY_BUDGET: usize = 512;
/// Default lifetime of an unconfirmed key (10 minutes).
pub const DEFAULT_UNCONFIRMED_TTL: Duration = Duration::from_secs(600);
/// Most removed keys remembered for the quarantine (oldest forgotten first).
const MAX_QUARANTINE: usize = 4 * MAX_CAP;

/// Tunables of a [`GoSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Maximum number of keys; clamped to [`MAX_CAP`].
    pub cap: usize,
    /// Most packets sent in immediate reaction to received claims between two rounds.
    pub reply_budget: usize,
    /// How long a key learned from the network stays without being confirmed.
    pub unconfirmed_ttl: Duration,
    /// How long a key that expired or was evicted is not learned again from the network.
    pub quarantine: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            cap: DEFAULT_CAP,
            reply_budget: DEFAULT_REPLY_BUDGET,
            unconfirmed_ttl: DEFAULT_UNCONFIRMED_TTL,
            quarantine: DEFAULT_UNCONFIRMED_TTL,
        }
    }
}

/// What handling one received message did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Keys newly added to the set, in the order they were learned. Non-empty means the state changed.
    pub learned: Vec<FeedId>,
    /// Messages to send now (replies to the claim, and novelties announcing learned keys).
    pub send: Vec<GosetMsg>,
    /// Unconfirmed keys evicted to make room for learned ones. Non-empty means the state changed.
    pub evicted: Vec<FeedId>,
    /// New keys the admission filter refused (not added).
    pub refused: Vec<FeedId>,
}

/// How our set compares with a peer's claim over the same span.
struct Mismatch {
    lo: usize,
    hi: usize,
    ours: usize,
    theirs: usize,
}

/// What one peer may still be sent in immediate answers to its claims before the next round:
/// a packet budget, and the claims already answered (with our state at the time: the same
/// claim reaching the same state is not answered twice).
#[derive(Clone, Debug, Default)]
pub struct Replies {
    left: usize,
    answered: Vec<(Claim, [u8; 32])>,
}

impl Replies {
    /// A fresh budget of `budget` packets.
    pub fn new(budget: usize) -> Replies {
        Replies { left: budget, answered: Vec::new() }
    }
}

/// A grow-only set of feed ids with its claim bookkeeping.
#[derive(Clone, Debug)]
pub struct GoSet {
    keys: Vec<FeedId>,
    /// `prefix[i]` is the XOR of `keys[..i]`; one longer than `keys`.
    prefix: Vec<[u8; 32]>,
    config: Config,
    pending: Vec<Claim>,
    novelties: VecDeque<FeedId>,
    novelty_credit: usize,
    /// The reply budget of [`GoSet::handle`] and [`GoSet::handle_at`] (one budget for all peers);
    /// [`GoSet::handle_from`] takes the peer's own.
    replies: Replies,
    largest_span: u8,
    /// Unconfirmed keys with the time they were first learned, oldest first.
    unconfirmed: Vec<(FeedId, Instant)>,
    /// Keys removed unconfirmed, with the time of removal, oldest first.
    quarantined: VecDeque<(FeedId, Instant)>,
    /// The latest time handed in (for [`GoSet::handle`], which takes none).
    clock: Instant,
}

impl Default for GoSet {
    fn default() -> GoSet {
        GoSet::new(Config::default())
    }
}

fn xor_into(acc: &mut [u8; 32], key: &[u8; 32]) {
    for (a, k) in acc.iter_mut().zip(key) {
        *a ^= k;
    }
}

impl GoSet {
    /// An empty set.
    pub fn new(config: Config) -> GoSet {
        let config = Config { cap: config.cap.min(MAX_CAP), ..config };
        GoSet {
            keys: Vec::new(),
            prefix: vec![[0; 32]],
            config,
            pending: Vec::new(),
            novelties: VecDeque::new(),
            novelty_credit: NOVELTY_PER_ROUND,
            replies: Replies::new(config.reply_budget),
            largest_span: 0,
            unconfirmed: Vec::new(),
            quarantined: VecDeque::new(),
            clock: Instant(0),
        }
    }

    /// The keys in ascending byte order.
    pub fn keys(&self) -> &[FeedId] {
        &self.keys
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if the set holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The maximum number of keys.
    pub fn cap(&self) -> usize {
        self.config.cap
    }

    /// The position of `key` in [`GoSet::keys`] (its feed index), if present.
    pub fn index_of(&self, key: &FeedId) -> Option<usize> {
        self.keys.binary_search(key).ok()
    }

    /// True if `key` is in the set.
    pub fn contains(&self, key: &FeedId) -> bool {
        self.index_of(key).is_some()
    }

    /// The XOR of all keys; 32 zero bytes for the empty set.
    pub fn state(&self) -> [u8; 32] {
        self.prefix.last().copied().unwrap_or([0; 32])
    }

    /// Claims kept for the next round, in arrival order.
    pub fn pending(&self) -> &[Claim] {
        &self.pending
    }

    /// Adds a confirmed key; false if it is already present, is all zeros, or the set is full.
    /// Evicts nothing (see [`GoSet::add_confirmed`]).
    pub fn add(&mut self, key: FeedId) -> bool {
        if key.0 == [0; 32] || self.keys.len() >= self.config.cap {
            return false;
        }
        let Err(pos) = self.keys.binary_search(&key) else { return false };
        self.keys.insert(pos, key);
        self.rebuild_prefix(pos);
        true
    }

    /// Adds `key` as unconfirmed, learned at `now`; false if it is present, all zeros, or the set is full.
    pub fn add_unconfirmed(&mut self, key: FeedId, now: Instant) -> bool {
        if !self.add(key) {
            return false;
        }
        self.unconfirmed.push((key, now));
        true
    }

    /// Makes `key` a confirmed member: confirms it if present, else adds it, evicting the oldest
    /// unconfirmed key if the set is full. `Ok(Some(evicted))` names the evicted key; `Err(())` if
    /// the key is all zeros or the set is full of confirmed keys.
    #[allow(clippy::result_unit_err)]
    pub fn add_confirmed(&mut self, key: FeedId) -> Result<Option<FeedId>, ()> {
        if self.contains(&key) {
            self.confirm(&key);
            return Ok(None);
        }
        if key.0 == [0; 32] {
            return Err(());
        }
        let evicted = if self.keys.len() >= self.config.cap { self.evict_oldest() } else { None };
        if self.add(key) {
            Ok(evicted)
        } else {
            Err(())
        }
    }

    /// Marks `key` as confirmed (it stays until the process ends); false if it is not in the set
    /// or already confirmed.
    pub fn confirm(&mut self, key: &FeedId) -> bool {
        let before = self.unconfirmed.len();
        self.unconfirmed.retain(|(k, _)| k != key);
        before != self.unconfirmed.len()
    }

    /// True if `key` is in the set and confirmed.
    pub fn is_confirmed(&self, key: &FeedId) -> bool {
        self.contains(key) && !self.unconfirmed.iter().any(|(k, _)| k == key)
    }

    /// Unconfirmed keys with the time each was learned, oldest first.
    pub fn unconfirmed(&self) -> &[(FeedId, Instant)] {
        &self.unconfirmed
    }

    /// Number of confirmed keys.
    pub fn confirmed_len(&self) -> usize {
        self.keys.len().saturating_sub(self.unconfirmed.len())
    }

    /// True if `key` was removed unconfirmed less than the quarantine ago (as of the last time seen).
    pub fn is_quarantined(&self, key: &FeedId) -> bool {
        let now = self.clock;
        let q = self.config.quarantine;
        self.quarantined.iter().any(|(k, at)| k == key && now.saturating_since(*at) < q)
    }

    /// When the oldest unconfirmed key expires, if there is one.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.unconfirmed.iter().map(|(_, at)| *at + self.config.unconfirmed_ttl).min()
    }

    /// Removes the unconfirmed keys learned `unconfirmed_ttl` or longer before `now`; returns them.
    pub fn expire(&mut self, now: Instant) -> Vec<FeedId> {
        self.clock = self.clock.max(now);
        let ttl = self.config.unconfirmed_ttl;
        let old: Vec<FeedId> = self
            .unconfirmed
            .iter()
            .filter(|(_, at)| now.saturating_since(*at) >= ttl)
            .map(|(k, _)| *k)
            .collect();
        for k in &old {
            self.remove_unconfirmed(k);
        }
        old
    }

    /// Takes `key` out of the set, confirmed or not, because its owner dropped the feed; false if
    /// it was not in the set. Unlike expiry it does not quarantine the key: the owner refuses the
    /// key from then on by its own rules (a tombstone), for as long as it keeps them.
    pub fn remove(&mut self, key: &FeedId) -> bool {
        let Ok(pos) = self.keys.binary_search(key) else { return false };
        self.keys.remove(pos);
        self.rebuild_prefix(pos);
        self.unconfirmed.retain(|(k, _)| k != key);
        self.novelties.retain(|k| k != key);
        true
    }

    /// Evicts the oldest unconfirmed key; `None` if every key is confirmed.
    fn evict_oldest(&mut self) -> Option<FeedId> {
        let (key, _) = self.unconfirmed.iter().min_by_key(|(_, at)| *at).copied()?;
        self.remove_unconfirmed(&key);
        Some(key)
    }

    /// Takes an unconfirmed key out of the set (and the novelty queue) and quarantines it.
    fn remove_unconfirmed(&mut self, key: &FeedId) {
        self.unconfirmed.retain(|(k, _)| k != key);
        if let Ok(pos) = self.keys.binary_search(key) {
            self.keys.remove(pos);
            self.rebuild_prefix(pos);
        }
        self.novelties.retain(|k| k != key);
        if self.quarantined.len() >= MAX_QUARANTINE {
            self.quarantined.pop_front();
        }
        self.quarantined.push_back((*key, self.clock));
    }

    /// Recomputes `prefix` from position `pos` on.
    fn rebuild_prefix(&mut self, pos: usize) {
        self.prefix.truncate(pos + 1);
        for k in self.keys.iter().skip(pos) {
            let mut next = self.prefix.last().copied().unwrap_or([0; 32]);
            xor_into(&mut next, &k.0);
            self.prefix.push(next);
        }
    }

    /// Our claim over `keys[lo..=hi]`; `None` if the indices are out of order or out of range.
    pub fn claim(&self, lo: usize, hi: usize) -> Option<Claim> {
        if lo > hi {
            return None;
        }
        let (first, last) = (self.keys.get(lo)?, self.keys.get(hi)?);
        let mut xor = *self.prefix.get(hi + 1)?;
        xor_into(&mut xor, self.prefix.get(lo)?);
        let count = u8::try_from(hi - lo + 1).ok()?;
        Some(Claim { lo: *first, hi: *last, xor, count })
    }

    /// The claim over all keys, `None` for the empty set.
    pub fn full_claim(&self) -> Option<Claim> {
        self.claim(0, self.keys.len().checked_sub(1)?)
    }

    /// A new peer appeared: answers given so far did not reach it, so the same claims may be
    /// answered again (still within the round's reply budget).
    pub fn new_peer(&mut self) {
        self.replies.answered.clear();
    }

    /// A fresh per-round reply budget for one peer (see [`GoSet::handle_from`]).
    pub fn reply_budget(&self) -> Replies {
        Replies::new(self.config.reply_budget)
    }

    /// Runs one periodic round now: the full claim, one queued novelty, then the pending claims,
    /// smallest first, within the per-round ask and help budgets. Resets the reply budget.
    pub fn round(&mut self) -> Vec<GosetMsg> {
        self.replies = self.reply_budget();
        let mut out: Vec<GosetMsg> = self.full_claim().map(GosetMsg::Claim).into_iter().collect();
        for _ in 0..NOVELTY_PER_ROUND {
            out.extend(self.novelties.pop_front().map(GosetMsg::Novelty));
        }
        self.novelty_credit = NOVELTY_PER_ROUND;

        let mut pending = core::mem::take(&mut self.pending);
        pending.sort_by_key(|c| c.count);
        let (mut asks, mut helps) = (ASK_PER_ROUND, HELP_PER_ROUND);
        for c in pending {
            let Some(m) = self.mismatch(&c) else { continue };
            if m.ours <= m.theirs {
                if asks > 0 {
                    asks -= 1;
                    out.extend(self.claim(m.lo, m.hi).map(GosetMsg::Claim));
                }
                if m.ours < m.theirs {
                    self.pending.push(c);
                    continue;
                }
            }
            if helps > 0 {
                helps -= 1;
                self.help(&m, false, &mut out);
            } else {
                self.pending.push(c);
            }
        }
        self.pending.truncate(RETAIN_AFTER_ROUND);
        out
    }

    /// Handles one received GOset message at the last time seen, admitting every key
    /// (see [`GoSet::handle_at`]).
    pub fn handle(&mut self, msg: &GosetMsg) -> Outcome {
        self.handle_at(self.clock, msg, &mut |_| true)
    }

    /// Handles one received GOset message at `now`: learns keys (as unconfirmed, if `admit`
    /// accepts them) and, for a claim that differs from our view, answers at once (within the
    /// reply budget) and keeps it pending if the peer knows more.
    pub fn handle_at(
        &mut self,
        now: Instant,
        msg: &GosetMsg,
        admit: &mut dyn FnMut(&FeedId) -> bool,
    ) -> Outcome {
        let mut replies = std::mem::take(&mut self.replies);
        let outcome = self.handle_from(now, msg, admit, &mut replies);
        self.replies = replies;
        outcome
    }

    /// As [`GoSet::handle_at`], answering within `replies`, the budget of the peer the message
    /// came from: one busy peer cannot use up the answers owed to the others.
    pub fn handle_from(
        &mut self,
        now: Instant,
        msg: &GosetMsg,
        admit: &mut dyn FnMut(&FeedId) -> bool,
        replies: &mut Replies,
    ) -> Outcome {
        self.clock = self.clock.max(now);
        let mut outcome = Outcome::default();
        match msg {
            GosetMsg::Novelty(key) => self.learn(*key, admit, &mut outcome),
            GosetMsg::Claim(c) => self.handle_claim(c, admit, replies, &mut outcome),
        }
        if !outcome.learned.is_empty() {
            let keep: Vec<bool> = self.pending.iter().map(|c| self.mismatch(c).is_some()).collect();
            let mut keep = keep.into_iter();
            self.pending.retain(|_| keep.next().unwrap_or(false));
        }
        outcome
    }

    fn handle_claim(
        &mut self,
        c: &Claim,
        admit: &mut dyn FnMut(&FeedId) -> bool,
        budget: &mut Replies,
        outcome: &mut Outcome,
    ) {
        if !self.plausible(c) {
            return;
        }
        self.largest_span = self.largest_span.max(c.count);
        self.learn(c.lo, admit, outcome);
        self.learn(c.hi, admit, outcome);
        // Three keys whose ends are now neighbours here: the middle one is the XOR of all three.
        let adjacent = match (self.index_of(&c.lo), self.index_of(&c.hi)) {
            (Some(lo), Some(hi)) => hi == lo + 1,
            _ => false,
        };
        if adjacent && c.count == 3 {
            let mut middle = c.xor;
            xor_into(&mut middle, &c.lo.0);
            xor_into(&mut middle, &c.hi.0);
            let middle = FeedId(middle);
            if c.lo < middle && middle < c.hi {
                self.learn(middle, admit, outcome);
            }
        }
        let Some(m) = self.mismatch(c) else { return };
        let seen = (*c, self.state());
        if budget.answered.contains(&seen) {
            return;
        }
        // Unlike the round, always show our view of the span: even with more keys than the peer we
        // may lack some of its keys, which only its help (triggered by our claim) can reveal.
        let mut replies: Vec<GosetMsg> = self.claim(m.lo, m.hi).map(GosetMsg::Claim).into_iter().collect();
        if m.ours >= m.theirs {
            self.help(&m, true, &mut replies);
        }
        if m.ours < m.theirs || replies.len() > budget.left {
            self.add_pending(*c);
        }
        if replies.len() <= budget.left {
            budget.left -= replies.len();
            budget.answered.push(seen);
            outcome.send.append(&mut replies);
        }
    }

    /// A claim that could describe a span of some node's set: ordered, non-zero endpoints, and a
    /// count that fits both the endpoints and our cap.
    fn plausible(&self, c: &Claim) -> bool {
        let count = usize::from(c.count);
        let zero = FeedId([0; 32]);
        c.lo != zero
            && c.hi != zero
            && count <= self.config.cap
            && match c.lo.cmp(&c.hi) {
                core::cmp::Ordering::Less => count >= 2,
                core::cmp::Ordering::Equal => count == 1,
                core::cmp::Ordering::Greater => false,
            }
    }

    /// Compares a claim with our view of its span; `None` if it matches or we lack an endpoint.
    fn mismatch(&self, c: &Claim) -> Option<Mismatch> {
        let (lo, hi) = (self.index_of(&c.lo)?, self.index_of(&c.hi)?);
        let ours = self.claim(lo, hi)?;
        (ours.xor != c.xor).then_some(Mismatch {
            lo,
            hi,
            ours: usize::from(ours.count),
            theirs: usize::from(c.count),
        })
    }

    /// Offers the inside of our span `m.lo..=m.hi` (its endpoints are known to the peer): a novelty
    /// for one key, one claim for two or three keys, else claims over the two halves. With `dump`,
    /// a peer that knows only the endpoints (count 2) gets the whole inside at once, two keys per claim.
    fn help(&self, m: &Mismatch, dump: bool, out: &mut Vec<GosetMsg>) {
        let (lo, Some(hi)) = (m.lo + 1, m.hi.checked_sub(1)) else { return };
        if lo > hi {
            return;
        }
        if dump && m.theirs <= 2 {
            for pair in (lo..=hi).step_by(2) {
                out.extend(match self.claim(pair, pair + 1) {
                    Some(c) if pair < hi => Some(GosetMsg::Claim(c)),
                    _ => self.keys.get(pair).copied().map(GosetMsg::Novelty),
                });
            }
        } else if lo == hi {
            out.extend(self.keys.get(lo).copied().map(GosetMsg::Novelty));
        } else if hi - lo <= 2 {
            out.extend(self.claim(lo, hi).map(GosetMsg::Claim));
        } else {
            let half = (hi + 1 - lo) / 2;
            out.extend(self.claim(lo, lo + half - 1).map(GosetMsg::Claim));
            out.extend(self.claim(lo + half, hi).map(GosetMsg::Claim));
        }
    }

    /// Adds a key learned from the network as unconfirmed (evicting the oldest unconfirmed key if
    /// the set is full) and announces it with a novelty when we seem up to date. A key already
    /// present keeps its first learning time: hearing it again does not prolong an unconfirmed key.
    fn learn(&mut self, key: FeedId, admit: &mut dyn FnMut(&FeedId) -> bool, outcome: &mut Outcome) {
        if key.0 == [0; 32] || self.contains(&key) || self.is_quarantined(&key) {
            return;
        }
        if !admit(&key) {
            outcome.refused.push(key);
            return;
        }
        if self.keys.len() >= self.config.cap {
            match self.evict_oldest() {
                // A key learned earlier from this same message: it was never there for the caller.
                Some(old) if outcome.learned.contains(&old) => {
                    outcome.learned.retain(|k| *k != old);
                    outcome.send.retain(|m| *m != GosetMsg::Novelty(old));
                }
                Some(old) => outcome.evicted.push(old),
                None => return,
            }
        }
        if !self.add_unconfirmed(key, self.clock) {
            return;
        }
        outcome.learned.push(key);
        if self.keys.len() >= usize::from(self.largest_span) {
            if self.novelty_credit > 0 {
                self.novelty_credit -= 1;
                outcome.send.push(GosetMsg::Novelty(key));
            } else if self.novelties.len() < MAX_NOVELTIES {
                self.novelties.push_back(key);
            }
        }
    }

    /// Keeps a claim for the next round: no duplicates; when full, a smaller claim evicts the largest.
    fn add_pending(&mut self, c: Claim) {
        if self.pending.contains(&c) {
            return;
        }
        if self.pending.len() < MAX_PENDING {
            self.pending.push(c);
            return;
        }
        let largest = self.pending.iter().enumerate().max_by_key(|(_, p)| p.count).map(|(i, p)| (i, p.count));
        if let Some((i, count)) = largest {
            if c.count < count {
                self.pending.remove(i);
                self.pending.push(c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(i: u8) -> FeedId {
        FeedId([i; 32])
    }

    fn xor_all(keys: &[FeedId]) -> [u8; 32] {
        let mut acc = [0; 32];
        for key in keys {
            xor_into(&mut acc, &key.0);
        }
        acc
    }

    fn small(cap: usize) -> GoSet {
        GoSet::new(Config {
            cap,
            unconfirmed_ttl: Duration::from_secs(10),
            quarantine: Duration::from_secs(20),
            ..Config::default()
        })
    }

    #[test]
    fn removing_a_key_updates_the_state_and_does_not_quarantine_it() {
        let mut g = small(4);
        let all = |g: &mut GoSet, key, at| g.handle_at(Instant(at), &GosetMsg::Novelty(key), &mut |_| true);
        assert!(g.add(k(3)) && g.add(k(6)));
        assert_eq!(all(&mut g, k(8), 1).learned, [k(8)]);
        assert!(g.remove(&k(3)), "a confirmed key");
        assert!(g.remove(&k(8)), "an unconfirmed key");
        assert!(!g.remove(&k(8)));
        assert_eq!(g.keys(), [k(6)]);
        assert_eq!(g.state(), xor_all(g.keys()));
        assert!(g.unconfirmed().is_empty() && g.next_expiry().is_none());
        assert!(!g.is_quarantined(&k(8)), "refusing it again is the owner's business");
        assert_eq!(all(&mut g, k(3), 2).learned, [k(3)]);
    }

    #[test]
    fn a_full_set_evicts_the_oldest_unconfirmed_key_and_keeps_its_state_right() {
        let mut g = small(3);
        assert!(g.add(k(9)));
        let all = |g: &mut GoSet, key, at| g.handle_at(Instant(at), &GosetMsg::Novelty(key), &mut |_| true);
        assert_eq!(all(&mut g, k(5), 1).learned, [k(5)]);
        assert_eq!(all(&mut g, k(2), 2).learned, [k(2)]);
        let out = all(&mut g, k(7), 3);
        assert_eq!((out.learned, out.evicted), (vec![k(7)], vec![k(5)]));
        assert_eq!(g.keys(), [k(2), k(7), k(9)]);
        assert_eq!(g.state(), xor_all(g.keys()));
        assert_eq!(g.full_claim().map(|c| c.xor), Some(g.state()));
        assert!(g.is_quarantined(&k(5)));
        assert!(all(&mut g, k(5), 4).learned.is_empty());
        // Confirmed keys are never evicted; with none unconfirmed a new key is dropped.
        assert!(g.confirm(&k(2)) && g.confirm(&k(7)));
        assert!(all(&mut g, k(1), 5).learned.is_empty());
        assert_eq!(g.add_confirmed(k(1)), Err(()));
        assert_eq!(g.confirmed_len(), 3);
    }

    #[test]
    fn a_key_evicted_by_the_same_message_that_taught_it_is_not_reported_learned() {
        // Found by the goset fuzz target: a claim teaches both its ends to a full set, and the
        // second end evicts the first, which was the oldest unconfirmed key by then.
        let mut g = small(2);
        assert!(g.add(k(9)));
        let novelty = GosetMsg::Novelty(k(5));
        assert_eq!(g.handle_at(Instant(1), &novelty, &mut |_| true).learned, [k(5)]);
        let claim = Claim { lo: k(1), hi: k(8), xor: xor_all(&[k(1), k(8)]), count: 2 };
        let out = g.handle_at(Instant(2), &GosetMsg::Claim(claim), &mut |_| true);
        assert!(out.learned.iter().all(|key| g.contains(key)), "{out:?}");
        assert_eq!((out.learned, out.evicted), (vec![k(8)], vec![k(5)]));
        assert!(!out.send.contains(&GosetMsg::Novelty(k(1))));
        assert_eq!(g.keys(), [k(8), k(9)]);
        assert_eq!(g.state(), xor_all(g.keys()));
    }

    #[test]
    fn expiry_counts_from_the_first_learning_and_quarantines() {
        let mut g = small(10);
        let refuse_odd = &mut |key: &FeedId| key.0[0].is_multiple_of(2);
        let out = g.handle_at(Instant(0), &GosetMsg::Novelty(k(3)), refuse_odd);
        assert_eq!(out.refused, [k(3)]);
        g.handle_at(Instant(0), &GosetMsg::Novelty(k(4)), &mut |_| true);
        g.handle_at(Instant(9_000), &GosetMsg::Novelty(k(4)), &mut |_| true);
        assert_eq!(g.next_expiry(), Some(Instant(10_000)));
        assert!(g.expire(Instant(9_999)).is_empty());
        assert_eq!(g.expire(Instant(10_000)), [k(4)]);
        assert!(g.is_empty() && g.state() == [0; 32]);
        g.handle_at(Instant(29_999), &GosetMsg::Novelty(k(4)), &mut |_| true);
        assert!(!g.contains(&k(4)));
        g.handle_at(Instant(30_000), &GosetMsg::Novelty(k(4)), &mut |_| true);
        assert!(g.contains(&k(4)));
        // A local follow confirms an unconfirmed key in place.
        assert_eq!(g.add_confirmed(k(4)), Ok(None));
        assert!(g.is_confirmed(&k(4)) && g.next_expiry().is_none());
    }
}
