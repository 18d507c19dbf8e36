//! The node's timers in one table: what is due when, ordered by deadline, so the next deadline
//! is found in O(log n) however many faces there are, and `None` when nothing is scheduled.
//!
//! Each timer has at most one deadline; setting it again replaces the old one. The expiry of
//! unconfirmed GOset ids is not in the table: the GOset keeps the learning times of its (at most
//! 255) unconfirmed ids and the node asks it for the earliest.

use std::collections::{BTreeSet, HashMap};

use super::FaceId;
use crate::time::Instant;

/// Something the node must do at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Timer {
    /// Verify and store the entries accepted tentatively (the batch is due as soon as it exists).
    Settle,
    /// The periodic GOset round.
    GosetRound,
    /// A face's next WANT or CHNK request.
    Requests(FaceId),
}

/// Deadlines by timer, and timers by deadline.
#[derive(Clone, Debug, Default)]
pub(super) struct Timers {
    queue: BTreeSet<(Instant, Timer)>,
    armed: HashMap<Timer, Instant>,
}

impl Timers {
    /// Schedules `timer` at `at` (replacing its deadline), or cancels it with `None`.
    pub fn set(&mut self, timer: Timer, at: Option<Instant>) {
        if let Some(old) = self.armed.remove(&timer) {
            self.queue.remove(&(old, timer));
        }
        if let Some(at) = at {
            self.armed.insert(timer, at);
            self.queue.insert((at, timer));
        }
    }

    /// Schedules `timer` at `at` unless it is already due earlier.
    pub fn advance(&mut self, timer: Timer, at: Instant) {
        if self.at(timer).is_none_or(|t| at < t) {
            self.set(timer, Some(at));
        }
    }

    /// When `timer` is due, if it is scheduled.
    pub fn at(&self, timer: Timer) -> Option<Instant> {
        self.armed.get(&timer).copied()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.queue.first().map(|(at, _)| *at)
    }

    /// The timers due at `now`, earliest first.
    pub fn due(&self, now: Instant) -> Vec<Timer> {
        self.queue.iter().take_while(|(at, _)| *at <= now).map(|(_, t)| *t).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_wins_and_resetting_replaces() {
        let mut t = Timers::default();
        assert_eq!(t.next(), None);
        t.set(Timer::GosetRound, Some(Instant(50)));
        t.set(Timer::Requests(FaceId(1)), Some(Instant(20)));
        t.set(Timer::Requests(FaceId(2)), Some(Instant(30)));
        assert_eq!(t.next(), Some(Instant(20)));
        t.set(Timer::Requests(FaceId(1)), Some(Instant(70)));
        assert_eq!(t.next(), Some(Instant(30)));
        assert_eq!(t.due(Instant(50)), vec![Timer::Requests(FaceId(2)), Timer::GosetRound]);
        t.advance(Timer::GosetRound, Instant(60));
        assert_eq!(t.at(Timer::GosetRound), Some(Instant(50)));
        t.advance(Timer::GosetRound, Instant(10));
        assert_eq!(t.next(), Some(Instant(10)));
        for timer in [Timer::GosetRound, Timer::Requests(FaceId(1)), Timer::Requests(FaceId(2))] {
            t.set(timer, None);
        }
        assert_eq!(t.next(), None);
    }
}
