//! UDP faces: unicast to one configured peer address, or multicast on a group
//! (the reference uses 224.1.1.1:5000). One datagram carries one packet,
//! optionally followed by the CRC32 trailer of [`crate::crc`].

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket as StdUdpSocket};

use mio::event::Event;
use mio::net::UdpSocket;
use mio::{Interest, Registry};
use rustix::net::{sockopt, AddressFamily, SocketType};

use crate::crc;
use crate::transport::{
    self, Backlog, Dest, PeerId, Transport, TransportEvent, TransportStats, MAX_TRANSPORT_PACKET,
};

/// The multicast group and port of the reference implementations.
pub const DEFAULT_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(224, 1, 1, 1), 5000);

/// The single (possibly broadcast) neighbour of a UDP face.
pub const UDP_PEER: PeerId = PeerId(0);

/// Settings of a [`UdpTransport`].
#[derive(Debug, Clone, Copy)]
pub struct UdpConfig {
    /// Append / require the CRC32 trailer (the ESP32 firmware and the Android
    /// app do on multicast; the Python pub does not).
    pub crc: bool,
    /// Largest packet accepted or sent (without trailer).
    pub max_packet: usize,
    /// Bound of the output queue in datagrams.
    pub max_queue: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig { crc: true, max_packet: MAX_TRANSPORT_PACKET, max_queue: 256 }
    }
}

/// A UDP face (unicast or multicast).
#[derive(Debug)]
pub struct UdpTransport {
    index: usize,
    cfg: UdpConfig,
    /// Socket we receive on (and, for unicast, send from).
    rx: UdpSocket,
    /// Separate sending socket for multicast, so our own echoes can be told apart.
    tx: Option<UdpSocket>,
    dest: SocketAddr,
    /// Source address of our own multicast datagrams, once known.
    own_addr: Option<SocketAddr>,
    last_sent: Vec<u8>,
    queue: VecDeque<Vec<u8>>,
    backlog: Backlog,
    writable_interest: bool,
    announced: bool,
    stats: TransportStats,
}

const RX_TOKEN: usize = 0;
const TX_TOKEN: usize = 1;

impl UdpTransport {
    /// A face bound to `bind` that sends every packet to `peer` and accepts
    /// datagrams from anyone. Uses token range `index`.
    pub fn unicast(
        index: usize,
        bind: SocketAddr,
        peer: SocketAddr,
        cfg: UdpConfig,
    ) -> io::Result<UdpTransport> {
        let rx = UdpSocket::bind(bind)?;
        Ok(UdpTransport::build(index, cfg, rx, None, peer, None))
    }

    /// A face that joins `group` on the interface with address `iface`
    /// (`0.0.0.0`: the kernel's choice), receives on the group's port (shared
    /// with other processes via `SO_REUSEADDR`) and sends from its own socket.
    /// Multicast loopback is on, so pubs on one host hear each other; the
    /// face discards its own datagrams.
    pub fn multicast(
        index: usize,
        group: SocketAddrV4,
        iface: Ipv4Addr,
        cfg: UdpConfig,
    ) -> io::Result<UdpTransport> {
        let fd = rustix::net::socket(AddressFamily::INET, SocketType::DGRAM, None)?;
        sockopt::set_socket_reuseaddr(&fd, true)?;
        rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, group.port()))?;
        let rx = StdUdpSocket::from(fd);
        rx.join_multicast_v4(group.ip(), &iface)?;
        rx.set_nonblocking(true)?;

        let tx = StdUdpSocket::bind(SocketAddrV4::new(iface, 0))?;
        tx.set_multicast_loop_v4(true)?;
        tx.set_multicast_ttl_v4(2)?;
        if !iface.is_unspecified() {
            sockopt::set_ip_multicast_if(&tx, &iface)?;
        }
        tx.set_nonblocking(true)?;
        let own = if iface.is_unspecified() { None } else { Some(tx.local_addr()?) };
        Ok(UdpTransport::build(
            index,
            cfg,
            UdpSocket::from_std(rx),
            Some(UdpSocket::from_std(tx)),
            SocketAddr::V4(group),
            own,
        ))
    }

    fn build(
        index: usize,
        cfg: UdpConfig,
        rx: UdpSocket,
        tx: Option<UdpSocket>,
        dest: SocketAddr,
        own_addr: Option<SocketAddr>,
    ) -> UdpTransport {
        UdpTransport {
            index,
            cfg,
            rx,
            tx,
            dest,
            own_addr,
            last_sent: Vec::new(),
            queue: VecDeque::new(),
            writable_interest: false,
            announced: false,
            stats: TransportStats::default(),
            backlog: Backlog::default(),
        }
    }

    /// The address this face receives on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.rx.local_addr()
    }

    fn tx_socket(&self) -> &UdpSocket {
        self.tx.as_ref().unwrap_or(&self.rx)
    }

    fn tx_token(&self) -> usize {
        if self.tx.is_some() {
            TX_TOKEN
        } else {
            RX_TOKEN
        }
    }

    /// Whether a multicast datagram from `src` is our own echo, learning our
    /// source address from the first echo of what we last sent.
    fn is_own(&mut self, src: SocketAddr, data: &[u8]) -> bool {
        let Some(tx) = &self.tx else { return false };
        if let Some(own) = self.own_addr {
            return src == own;
        }
        let ours = tx.local_addr().is_ok_and(|a| a.port() == src.port()) && data == self.last_sent;
        if ours {
            self.own_addr = Some(src);
        }
        ours
    }

    fn receive(&mut self, out: &mut Vec<TransportEvent>) {
        let mut buf = [0u8; 2048];
        loop {
            let (n, src) = match self.rx.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if transport::interrupted(&e) => continue,
                Err(e) => {
                    if !transport::would_block(&e) {
                        log::debug!("udp face {}: receive error {e}", self.index);
                    }
                    break;
                }
            };
            let data = &buf[..n];
            if self.is_own(src, data) {
                continue;
            }
            let pkt = if self.cfg.crc {
                match crc::strip(data) {
                    Some(p) => p,
                    None => {
                        self.stats.drop_bad_crc += 1;
                        continue;
                    }
                }
            } else {
                data
            };
            if pkt.is_empty() || pkt.len() > self.cfg.max_packet {
                self.stats.drop_size_in += 1;
                continue;
            }
            self.stats.packets_in += 1;
            self.stats.bytes_in += pkt.len() as u64;
            out.push(TransportEvent::Packet(UDP_PEER, pkt.to_vec()));
        }
    }

    fn set_interest(&mut self, registry: &Registry) {
        let want = !self.queue.is_empty();
        if want == self.writable_interest {
            return;
        }
        let token = transport::token(self.index, self.tx_token());
        let base = if self.tx.is_some() { None } else { Some(Interest::READABLE) };
        let res = match (base, want) {
            (Some(r), true) => registry.reregister(&mut self.rx, token, r | Interest::WRITABLE),
            (Some(r), false) => registry.reregister(&mut self.rx, token, r),
            (None, true) => match &mut self.tx {
                Some(tx) => registry.register(tx, token, Interest::WRITABLE),
                None => Ok(()),
            },
            (None, false) => match &mut self.tx {
                Some(tx) => registry.deregister(tx),
                None => Ok(()),
            },
        };
        match res {
            Ok(()) => self.writable_interest = want,
            Err(e) => log::warn!("udp face {}: (re)register failed: {e}", self.index),
        }
    }
}

impl Transport for UdpTransport {
    fn register(&mut self, registry: &Registry) -> io::Result<()> {
        registry.register(&mut self.rx, transport::token(self.index, RX_TOKEN), Interest::READABLE)
    }

    fn on_ready(&mut self, registry: &Registry, event: &Event, out: &mut Vec<TransportEvent>) {
        if transport::local_of(event.token()) == RX_TOKEN && event.is_readable() {
            self.receive(out);
        }
        if event.is_writable() {
            self.flush(registry, out);
        }
    }

    fn send(&mut self, _dest: Dest, pkt: &[u8]) {
        if pkt.is_empty() || pkt.len() > self.cfg.max_packet {
            self.stats.drop_size_out += 1;
            return;
        }
        if self.queue.len() >= self.cfg.max_queue {
            self.stats.drop_queue_full += 1;
            self.backlog.dropped += pkt.len();
            return;
        }
        self.backlog.unflushed += pkt.len();
        self.queue.push_back(crc::frame(pkt, self.cfg.crc));
    }

    fn flush(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) {
        if !self.announced {
            self.announced = true;
            out.push(TransportEvent::Up(UDP_PEER));
        }
        while let Some(dgram) = self.queue.front() {
            match self.tx_socket().send_to(dgram, self.dest) {
                Ok(_) => {
                    self.stats.packets_out += 1;
                    let trailer = if self.cfg.crc { crc::CRC_LEN } else { 0 };
                    self.stats.bytes_out += dgram.len().saturating_sub(trailer) as u64;
                    if let Some(d) = self.queue.pop_front() {
                        self.last_sent = d;
                    }
                }
                Err(e) if transport::interrupted(&e) => continue,
                Err(e) if transport::would_block(&e) => break,
                Err(e) => {
                    // Unreachable network and the like: this datagram is lost.
                    log::debug!("udp face {}: send error {e}", self.index);
                    self.stats.drop_no_peer += 1;
                    self.queue.pop_front();
                }
            }
        }
        // A datagram handed to the OS is gone for good (sent or lost on the way), so the face
        // reports its output written once the queue is empty.
        self.backlog.report(UDP_PEER, self.queue.is_empty(), out);
        self.set_interest(registry);
    }

    fn peers(&self) -> Vec<PeerId> {
        vec![UDP_PEER]
    }

    fn peer_addr(&self, _peer: PeerId) -> Option<String> {
        Some(self.dest.to_string())
    }

    fn stats(&self) -> &TransportStats {
        &self.stats
    }

    fn kind_name(&self) -> &'static str {
        if self.tx.is_some() {
            "multicast"
        } else {
            "udp"
        }
    }
}
