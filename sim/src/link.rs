//! Link models: what a virtual link does to the packets it carries.
//!
//! A [`LinkSpec`] describes both directions of a link: propagation delay ([`latency`]), random
//! extra delay that lets packets overtake each other ([`jitter`], i.e. reordering), loss,
//! bandwidth (a fixed serialisation time per packet and/or a byte rate) and the kind of face
//! the nodes see. Whether a link is up (partitions) and when each direction's wire is free
//! again is state of the [`Sim`](crate::Sim); the random choices come from the link's own
//! [`Rng`] stream.
//!
//! [`latency`]: LinkSpec::latency
//! [`jitter`]: LinkSpec::jitter

use tinyssb::node::FaceKind;
use tinyssb::time::{Duration, Instant};

use crate::rng::Rng;

/// Properties of one link, the same in both directions.
#[derive(Clone, Copy, Debug)]
pub struct LinkSpec {
    /// Propagation delay of every packet.
    pub latency: Duration,
    /// Extra random delay in 0..=jitter ms per packet: packets can overtake each other.
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Serialisation time per packet (models bandwidth in packets); zero for none.
    pub per_packet: Duration,
    /// Bandwidth in bytes per second (adds `len / rate` of serialisation time, rounded up to
    /// whole milliseconds); zero for unlimited.
    pub bytes_per_sec: u64,
    /// The kind of face both ends see.
    pub kind: FaceKind,
}

impl LinkSpec {
    /// A reliable, ordered link (like a websocket) with a fixed latency and unlimited bandwidth.
    pub fn reliable(latency_ms: u64) -> LinkSpec {
        LinkSpec {
            latency: Duration(latency_ms),
            jitter: Duration::ZERO,
            loss: 0.0,
            per_packet: Duration::ZERO,
            bytes_per_sec: 0,
            kind: FaceKind::Reliable,
        }
    }

    /// A broadcast-style link (like LoRa) that loses packets with probability `loss` and
    /// delays each by `latency_ms` plus up to as much again, so packets are reordered.
    pub fn lossy(latency_ms: u64, loss: f64) -> LinkSpec {
        LinkSpec {
            jitter: Duration(latency_ms),
            loss,
            kind: FaceKind::Broadcast,
            ..LinkSpec::reliable(latency_ms)
        }
    }

    /// This link, losing packets with probability `loss`.
    #[must_use]
    pub fn with_loss(self, loss: f64) -> LinkSpec {
        LinkSpec { loss, ..self }
    }

    /// This link, delaying each packet by up to `jitter_ms` more at random (reordering).
    #[must_use]
    pub fn with_jitter(self, jitter_ms: u64) -> LinkSpec {
        LinkSpec { jitter: Duration(jitter_ms), ..self }
    }

    /// This link, taking `ms` of wire time per packet in each direction.
    #[must_use]
    pub fn with_per_packet(self, ms: u64) -> LinkSpec {
        LinkSpec { per_packet: Duration(ms), ..self }
    }

    /// This link, carrying at most `bytes_per_sec` bytes a second in each direction.
    #[must_use]
    pub fn with_bandwidth(self, bytes_per_sec: u64) -> LinkSpec {
        LinkSpec { bytes_per_sec, ..self }
    }

    /// How long a packet of `len` bytes occupies the wire.
    pub fn wire_time(&self, len: usize) -> Duration {
        let by_rate = match self.bytes_per_sec {
            0 => 0,
            rate => (len as u64 * 1000).div_ceil(rate),
        };
        Duration(self.per_packet.0 + by_rate)
    }
}

/// A link between two nodes, as the simulator keeps it.
pub(crate) struct Link {
    /// One end (node index).
    pub a: usize,
    /// The other end.
    pub b: usize,
    /// How the link treats packets.
    pub spec: LinkSpec,
    /// False while the link is partitioned.
    pub up: bool,
    /// When each direction's wire is free again (bandwidth model): [a→b, b→a].
    pub busy_until: [Instant; 2],
    /// This link's own random stream (loss and jitter).
    pub rng: Rng,
    /// Bytes handed to the link in each direction: [a→b, b→a].
    pub bytes: [u64; 2],
    /// A secure link's transport at each end, [a's, b's]: packets travel sealed.
    pub secure: Option<Box<[tinyssb::secure::Link; 2]>>,
}

impl Link {
    /// The far end and direction index of a packet that `from` sends.
    pub fn towards(&self, from: usize) -> (usize, usize) {
        if self.a == from {
            (self.b, 0)
        } else {
            (self.a, 1)
        }
    }

    /// True if node `i` is one end of this link.
    pub fn touches(&self, i: usize) -> bool {
        self.a == i || self.b == i
    }
}
