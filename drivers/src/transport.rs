//! The uniform shape shared by every transport: peer ids, events, destinations, mio token
//! allocation and per-transport counters.
//!
//! Names: a *transport* is a socket or device with its peers (the websocket server, a websocket
//! client, UDP, a KISS serial line; the reference calls these "faces"). In the engine a *face*
//! ([`tinyssb::node::FaceId`]) is one link to one peer: the pub's loop numbers each (transport,
//! peer) pair as one engine face.
//!
//! A transport owns one or more mio sources. The main loop registers it once, hands
//! it every mio event whose token falls into the transport's token range
//! ([`face_of`]), queues packets with [`Transport::send`] and calls [`Transport::flush`]
//! once per loop turn so that queued output is written in batches. All queues
//! are bounded: when one is full the packet is dropped and counted in
//! [`TransportStats`], never buffered without limit.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use mio::event::Event;
use mio::{Registry, Token};

/// Default limit on the packets a face accepts or emits, counted after any CRC trailer is
/// removed. Deliberately looser than the protocol's [`tinyssb::wire::MAX_PACKET`] (120): the
/// slack tolerates peers that append a few bytes of their own, and the engine, not the face,
/// drops what is not a valid tinySSB packet (counted, without closing the connection).
pub const MAX_TRANSPORT_PACKET: usize = 128;

/// Number of mio tokens reserved for each face (face `i` owns
/// `i * TOKENS_PER_FACE .. (i + 1) * TOKENS_PER_FACE`).
pub const TOKENS_PER_FACE: usize = 1 << 24;

/// The face index a mio token belongs to.
pub fn face_of(token: Token) -> usize {
    token.0 / TOKENS_PER_FACE
}

/// The `local`-th token of face `face`.
pub(crate) fn token(face: usize, local: usize) -> Token {
    Token(face * TOKENS_PER_FACE + local)
}

/// The face-local part of a token.
pub(crate) fn local_of(token: Token) -> usize {
    token.0 % TOKENS_PER_FACE
}

/// Peer ids fit in this many bits, so the main loop can pack a face index
/// above them into one engine face id (see [`PeerId`]).
pub const PEER_ID_BITS: u32 = 48;

/// A neighbour as seen by one face. Ids are unique within a face for its whole
/// lifetime: a new connection never reuses the id of a closed one. Every face
/// keeps its ids below `2^PEER_ID_BITS`; a face that numbers connections from
/// a counter gets `2^48` of them, more than any process lives to accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// Something a face reports to the main loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportEvent {
    /// A neighbour became reachable (connection established, face opened).
    Up(PeerId),
    /// A neighbour went away; its id is never used again.
    Down(PeerId),
    /// A packet (at most [`MAX_TRANSPORT_PACKET`] bytes, trailers removed) arrived from a neighbour.
    Packet(PeerId, Vec<u8>),
    /// This many bytes of packets given to [`Transport::send`] for a neighbour were written to the
    /// operating system (trailers and framing not counted): the engine may send more.
    Flushed(PeerId, usize),
    /// This many bytes of packets given to [`Transport::send`] for a neighbour were dropped instead
    /// (a full queue, a write error).
    SendDropped(PeerId, usize),
}

/// Bytes of packets a face took for one neighbour and has not yet reported written or dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Backlog {
    /// Taken by `send`, not yet written.
    pub unflushed: usize,
    /// Dropped since the last report.
    pub dropped: usize,
}

impl Backlog {
    /// Reports the drops, and the unflushed bytes as written when `all_written` holds.
    pub fn report(&mut self, peer: PeerId, all_written: bool, out: &mut Vec<TransportEvent>) {
        if self.dropped > 0 {
            out.push(TransportEvent::SendDropped(peer, std::mem::take(&mut self.dropped)));
        }
        if all_written && self.unflushed > 0 {
            out.push(TransportEvent::Flushed(peer, std::mem::take(&mut self.unflushed)));
        }
    }
}

/// Where [`Transport::send`] delivers a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// One neighbour.
    Peer(PeerId),
    /// Every neighbour of the face (a broadcast face has just one).
    All,
}

/// Counters kept by every face. They only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Packets handed to the main loop.
    pub packets_in: u64,
    /// Packets handed to the operating system (or to a connection's write buffer).
    pub packets_out: u64,
    /// Received packets dropped because they were empty or longer than the face allows.
    pub drop_size_in: u64,
    /// Packets given to `send` dropped because they were empty or too long.
    pub drop_size_out: u64,
    /// Received packets dropped because their CRC32 trailer did not match.
    pub drop_bad_crc: u64,
    /// Outgoing packets dropped because a bounded queue was full.
    pub drop_queue_full: u64,
    /// Outgoing packets dropped because the destination peer is unknown or not ready.
    pub drop_no_peer: u64,
    /// Received frames dropped because the framing was broken (bad KISS escape).
    pub drop_framing: u64,
    /// Connections closed because the peer broke the protocol (text frame, oversize, garbage).
    pub closed_protocol: u64,
    /// Connections lost to I/O errors or closed by the peer.
    pub closed_io: u64,
    /// Incoming connections refused because the face was at its connection limit.
    pub refused: u64,
    /// Incoming connections refused because their source address had too many already.
    pub refused_per_ip: u64,
    /// Connections closed to make room for a newcomer (the longest idle one goes).
    pub evicted: u64,
    /// Connections closed because they sent no packet for too long.
    pub closed_idle: u64,
    /// Times accepting was paused because the process ran out of file descriptors.
    pub accept_paused: u64,
    /// Bytes of packets handed to the main loop (framing and trailers not counted).
    pub bytes_in: u64,
    /// Bytes of packets handed to the operating system (framing and trailers not counted).
    pub bytes_out: u64,
    /// Plain HTTP requests answered (a websocket server's status pages).
    pub http_requests: u64,
}

/// One neighbour as a face sees it, for status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The neighbour.
    pub peer: PeerId,
    /// Its address, where the face has one.
    pub addr: Option<SocketAddr>,
    /// When it became reachable, where the face knows.
    pub since: Option<Instant>,
    /// Bytes of packets received from it.
    pub bytes_in: u64,
    /// Bytes of packets sent to it.
    pub bytes_out: u64,
    /// Its static public key, if the link to it is secure (Noise).
    pub secure_key: Option<[u8; 32]>,
}

impl PeerInfo {
    /// A neighbour the face knows nothing more about.
    pub fn bare(peer: PeerId) -> PeerInfo {
        PeerInfo { peer, addr: None, since: None, bytes_in: 0, bytes_out: 0, secure_key: None }
    }
}

/// A transport driven by mio readiness events.
pub trait Transport {
    /// Registers the face's sources with `registry`. Called once, before any
    /// other method; a face may report [`TransportEvent::Up`] for static
    /// neighbours on the first [`Transport::flush`].
    fn register(&mut self, registry: &Registry) -> io::Result<()>;

    /// Handles one readiness event whose token belongs to this face,
    /// appending what happened to `out`.
    fn on_ready(&mut self, registry: &Registry, event: &Event, out: &mut Vec<TransportEvent>);

    /// Queues `pkt` for `dest`. Never blocks; drops and counts on overflow. What becomes of
    /// it is reported by a later [`Transport::flush`] or [`Transport::on_ready`] as
    /// [`TransportEvent::Flushed`] or [`TransportEvent::SendDropped`] (for `Dest::Peer` sends).
    fn send(&mut self, dest: Dest, pkt: &[u8]);

    /// Writes queued output until the OS would block and sets each source's
    /// interest accordingly (WRITABLE only while output is pending).
    fn flush(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>);

    /// The neighbours currently reachable through this face.
    fn peers(&self) -> Vec<PeerId>;

    /// This face's counters.
    fn stats(&self) -> &TransportStats;

    /// What sort of face this is, for status pages and metric labels (`ws-server`, `udp`, ...).
    fn kind_name(&self) -> &'static str {
        "other"
    }

    /// The neighbours currently reachable, with what the face knows about each.
    fn peer_info(&self) -> Vec<PeerInfo> {
        self.peers().into_iter().map(PeerInfo::bare).collect()
    }

    /// The main loop's latest snapshot of the pub's state, for faces that answer status
    /// requests (a websocket server serves it over plain HTTP). Called about once a second.
    fn set_status(&mut self, _status: &Arc<crate::status::Status>) {}

    /// Where `peer` is, for logs: the remote socket address of a connection or the address
    /// datagrams go to. `None` when the face has no such address or `peer` is gone.
    fn peer_addr(&self, _peer: PeerId) -> Option<String> {
        None
    }

    /// The engine accepted a packet from `peer` (it was not dropped as invalid): the peer is
    /// alive as far as an idle cut is concerned. Packets the engine drops do not count.
    fn note_valid(&mut self, _peer: PeerId) {}

    /// The next moment [`Transport::on_deadline`] wants to run, if any.
    fn next_deadline(&self) -> Option<Instant> {
        None
    }

    /// Runs timer-driven work (e.g. reconnecting) that is due at `now`.
    fn on_deadline(&mut self, _registry: &Registry, _now: Instant, _out: &mut Vec<TransportEvent>) {}

    /// Closes the transport's connections on request (reported as down in `out`); transports
    /// that cannot do that ignore it.
    fn hang_up(&mut self, _registry: &Registry, _out: &mut Vec<TransportEvent>) {}

    /// For a transport that dials once: `Some(opened)` once its connection is over for good
    /// (`opened` says whether it ever came up); `None` while it lives.
    fn ended(&self) -> Option<bool> {
        None
    }
}

/// Whether an I/O error only means "try again when ready".
pub(crate) fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

/// Whether an I/O error is a transient interruption worth retrying at once.
pub(crate) fn interrupted(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_map_back_to_their_face() {
        let t = token(3, 17);
        assert_eq!(face_of(t), 3);
        assert_eq!(local_of(t), 17);
        assert_eq!(face_of(token(0, TOKENS_PER_FACE - 1)), 0);
    }
}
