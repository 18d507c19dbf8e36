//! The adaptive request timer of one face: when to send the next WANT (or CHNK).
//!
//! The interval starts at [`PacerConfig::initial`]. A reply that makes progress
//! pulls the interval toward the measured reply time (never below the floor)
//! and schedules an immediate follow-up request; a round without progress
//! backs the interval off by ×1.5 up to the cap.

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
}

impl Pacer {
    /// A pacer whose first request is due at `now`.
    pub fn new(cfg: PacerConfig, now: Instant) -> Pacer {
        Pacer { cfg, interval: cfg.initial, next: now, sent_at: None, progressed: false }
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
            let grown = self.interval.as_millis().saturating_mul(3) / 2;
            self.interval = Duration(grown.min(self.cfg.cap.as_millis()).max(self.cfg.floor.as_millis()));
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
