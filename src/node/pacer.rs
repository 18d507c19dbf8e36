//! The adaptive request timer of one face: when to send the next WANT (or CHNK).
//!
//! The interval starts at [`PacerConfig::initial`]. A reply that makes progress
//! pulls the interval toward the measured reply time (never below the floor)
//! and schedules an immediate follow-up request; a round without progress
//! backs the interval off by ×1.5 up to a cap: [`PacerConfig::live_cap`] while
//! the peer made progress within [`PacerConfig::live_for`] (a live chat gets
//! its new messages fetched quickly), [`PacerConfig::cap`] once it has been
//! quiet longer (an idle link costs little).

use crate::time::{Duration, Instant};

/// Bounds and starting point of a pacer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacerConfig {
    /// Interval before anything was measured.
    pub initial: Duration,
    /// Smallest interval.
    pub floor: Duration,
    /// Largest interval while idle.
    pub cap: Duration,
    /// Largest interval while the peer is live (made progress within `live_for`).
    pub live_cap: Duration,
    /// How long after its last progress a peer counts as live.
    pub live_for: Duration,
    /// Delay of the follow-up request after progress.
    pub follow_up: Duration,
}

/// The request timer of one face.
#[derive(Clone, Debug)]
pub struct Pacer {
    cfg: PacerConfig,
    interval: Duration,
    next: Instant,
    sent_at: Option<Instant>,
    progressed: bool,
    last_progress: Option<Instant>,
}

impl Pacer {
    /// A pacer whose first request is due at `now`.
    pub fn new(cfg: PacerConfig, now: Instant) -> Pacer {
        Pacer { cfg, interval: cfg.initial, next: now, sent_at: None, progressed: false, last_progress: None }
    }

    /// When the next request is due.
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// The current interval.
    #[cfg(test)]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// True if a request is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.next <= now
    }

    /// A request was sent at `now`. Returns true if the previous request went unanswered
    /// (no progress since it was sent), i.e. the peer looks idle; the interval then backs off.
    pub fn on_sent(&mut self, now: Instant) -> bool {
        let idle = self.sent_at.is_some() && !self.progressed;
        if idle {
            let live = self.last_progress.is_some_and(|t| now.saturating_since(t) < self.cfg.live_for);
            let cap = if live { self.cfg.live_cap.min(self.cfg.cap) } else { self.cfg.cap };
            let grown = self.interval.as_millis().saturating_mul(3) / 2;
            self.interval = Duration(grown.min(cap.as_millis()).max(self.cfg.floor.as_millis()));
        }
        self.sent_at = Some(now);
        self.progressed = false;
        self.next = now + self.interval;
        idle
    }

    /// Something asked for arrived at `now`: measure, smooth, and schedule a follow-up.
    pub fn on_progress(&mut self, now: Instant) {
        if let Some(sent) = self.sent_at {
            if !self.progressed {
                let measured = now.saturating_since(sent).as_millis();
                let smoothed = (self.interval.as_millis() * 3 + measured) / 4;
                self.interval =
                    Duration(smoothed.max(self.cfg.floor.as_millis()).min(self.cfg.cap.as_millis()));
            }
        }
        self.progressed = true;
        self.last_progress = Some(now);
        let follow = now + self.cfg.follow_up;
        if follow < self.next {
            self.next = follow;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PacerConfig {
        PacerConfig {
            initial: Duration::from_secs(4),
            floor: Duration::from_millis(100),
            cap: Duration::from_secs(30),
            live_cap: Duration::from_secs(3),
            live_for: Duration::from_secs(600),
            follow_up: Duration::ZERO,
        }
    }

    #[test]
    fn idle_backs_off_to_cap() {
        let mut p = Pacer::new(cfg(), Instant(0));
        let mut now = Instant(0);
        for _ in 0..20 {
            assert!(p.is_due(now));
            p.on_sent(now);
            now = p.deadline();
        }
        assert_eq!(p.interval(), Duration::from_secs(30));
    }

    #[test]
    fn a_live_peer_is_asked_often_until_it_goes_quiet() {
        let mut p = Pacer::new(cfg(), Instant(0));
        p.on_sent(Instant(0));
        p.on_progress(Instant(50));
        let mut now = Instant(50);
        for _ in 0..20 {
            p.on_sent(now);
            now = p.deadline();
        }
        assert_eq!(p.interval(), Duration::from_secs(3), "live: capped at live_cap");
        while now < Instant(700_000) {
            p.on_sent(now);
            now = p.deadline();
        }
        assert_eq!(p.interval(), Duration::from_secs(30), "quiet for live_for: back to the idle cap");
    }

    #[test]
    fn progress_smooths_and_follows_up() {
        let mut p = Pacer::new(cfg(), Instant(0));
        p.on_sent(Instant(0));
        p.on_progress(Instant(40));
        assert_eq!(p.deadline(), Instant(40));
        assert_eq!(p.interval(), Duration(3010));
        for i in 0..40u64 {
            let t = Instant(1000 + i * 100);
            p.on_sent(t);
            p.on_progress(t + Duration(10));
        }
        assert_eq!(p.interval(), Duration(100));
    }

    #[test]
    fn deadline_never_repeats_without_send() {
        let mut p = Pacer::new(cfg(), Instant(0));
        p.on_sent(Instant(0));
        let d = p.deadline();
        p.on_sent(d);
        assert!(p.deadline() > d);
    }
}
