//! The listening side: accepting connections, per-address and total limits, evicting the
//! longest idle, pausing on descriptor shortage, and HTTP requests on the same port.

#[allow(clippy::wildcard_imports)]
use super::*;

#[allow(clippy::wildcard_imports)]
use super::conn::*;

/// The key of the per-address limit: IPv4 addresses (also when mapped into IPv6) as they
/// are, IPv6 addresses cut to their /64, since one host commonly holds a whole /64.
fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let [a, b, c, d, ..] = v6.segments();
            IpAddr::V6(Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Whether an accept error means the process or system is out of file descriptors
/// (or of memory for sockets): worth waiting for, not worth spinning on.
fn out_of_fds(e: &io::Error) -> bool {
    use rustix::io::Errno;
    [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

/// Token 0 of a server face is its listener; connection `slot` uses token `slot + 1`.
const LISTENER: usize = 0;

/// A websocket server face: accepts clients on one listening socket; each client is a peer.
///
/// It defends its slots against clients that hold them without taking part: a connection
/// that sends no valid packet for [`WsConfig::idle_timeout`] is closed, one source address gets at
/// most [`WsConfig::max_per_ip`] connections, and at [`WsConfig::max_conns`] a newcomer
/// evicts the connection idle longest, so silent connections cannot lock honest peers out.
/// When the process runs out of file descriptors it stops accepting for
/// [`WsConfig::accept_pause`] and then tries again.
pub struct WsServer {
    index: usize,
    cfg: WsConfig,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// The slot of each connection.
    by_peer: HashMap<PeerId, usize>,
    /// Every connection by the time of its last packet, oldest first.
    idle: BTreeSet<(Instant, PeerId)>,
    /// Connections per source address (see [`ip_key`]).
    per_ip: HashMap<IpAddr, usize>,
    /// Slots that may have output to flush or a failure to report.
    dirty: Vec<usize>,
    /// Connections to close at the next flush; by id, since a slot may change hands before.
    broken: Vec<(PeerId, Close)>,
    /// The id of the next connection.
    next_peer: u64,
    open: usize,
    /// Connections still handshaking, oldest first, with the moment they must be open by.
    handshakes: VecDeque<(Instant, usize, PeerId)>,
    /// Accepting is paused (the listener deregistered) until then.
    paused_until: Option<Instant>,
    /// Open connections that stopped reading at [`MAX_READ_PER_TURN`], with when they did:
    /// they are read again at that deadline (at once), after every other face had its turn.
    unread: Vec<(Instant, usize, PeerId)>,
    /// The pub's latest state, for plain HTTP requests.
    status: Option<Arc<Status>>,
    /// Room for peeking at request heads and discarding input.
    scratch: Vec<u8>,
    /// Secure links offered (or required), if set.
    secure: Option<WsSecure>,
    stats: TransportStats,
}

impl WsServer {
    /// Listens on `addr` (any path is accepted); uses token range `index`.
    pub fn bind(index: usize, addr: SocketAddr, cfg: WsConfig) -> io::Result<WsServer> {
        Ok(WsServer {
            index,
            cfg,
            listener: TcpListener::bind(addr)?,
            conns: Vec::new(),
            free: Vec::new(),
            by_peer: HashMap::new(),
            idle: BTreeSet::new(),
            per_ip: HashMap::new(),
            dirty: Vec::new(),
            broken: Vec::new(),
            next_peer: 1,
            open: 0,
            handshakes: VecDeque::new(),
            paused_until: None,
            unread: Vec::new(),
            status: None,
            scratch: vec![0; http::MAX_HEAD],
            secure: None,
            stats: TransportStats::default(),
        })
    }

    /// Offers secure links (the [`SUBPROTOCOL`]) to the clients accepted from now on, and with
    /// `require` refuses the others.
    pub fn set_secure(&mut self, secure: WsSecure) {
        self.secure = Some(secure);
    }

    /// The address actually listened on (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Number of connections, open or still handshaking.
    pub fn connection_count(&self) -> usize {
        self.open
    }

    /// Whether the listener is taking connections (false while paused for lack of file
    /// descriptors).
    pub fn accepting(&self) -> bool {
        self.paused_until.is_none()
    }

    /// Numbers the following connections from `first` on (at least 1; ids wrap below
    /// `2^PEER_ID_BITS`). For tests that need a pub which has served many connections.
    pub fn start_peer_ids_at(&mut self, first: u64) {
        self.next_peer = first.clamp(1, (1 << PEER_ID_BITS) - 1);
    }

    fn new_peer_id(&mut self) -> PeerId {
        loop {
            let id = PeerId(self.next_peer);
            self.next_peer = if self.next_peer + 1 < 1 << PEER_ID_BITS { self.next_peer + 1 } else { 1 };
            if !self.by_peer.contains_key(&id) {
                return id;
            }
        }
    }

    fn slot_of(&self, peer: PeerId) -> Option<usize> {
        self.by_peer.get(&peer).copied()
    }

    /// A free slot, evicting the longest idle connection if all are taken.
    fn take_slot(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) -> Option<usize> {
        if let Some(slot) = self.free.pop() {
            return Some(slot);
        }
        if self.conns.len() < self.cfg.max_conns.min(TOKENS_PER_FACE - 1) {
            self.conns.push(None);
            return Some(self.conns.len() - 1);
        }
        let (_, victim) = *self.idle.first()?;
        let slot = self.slot_of(victim)?;
        self.close(registry, slot, Close::Evicted, out);
        self.free.pop()
    }

    /// Stops reacting to the listener for a while; [`Transport::on_deadline`] resumes.
    fn pause_accepting(&mut self, registry: &Registry, e: &io::Error) {
        self.stats.accept_paused += 1;
        let n = self.stats.accept_paused;
        let kind = if out_of_fds(e) { "out of file descriptors" } else { "unexpected error" };
        let pause = self.cfg.accept_pause;
        // A shortage can last: warn on the first pause and then about once a minute.
        if n == 1 || n.is_multiple_of(240) {
            log::warn!(
                "ws face {}: accept failed, {kind} ({e}); pausing for {pause:?} ({n} pauses so far)",
                self.index
            );
        } else {
            log::debug!("ws face {}: accept failed, {kind} ({e}); pausing for {pause:?}", self.index);
        }
        // If this fails the listener stays registered; its events are ignored while paused.
        let _ = registry.deregister(&mut self.listener);
        self.paused_until = Some(Instant::now() + self.cfg.accept_pause);
    }

    fn accept_all(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) {
        if !self.accepting() {
            return;
        }
        loop {
            let (mut stream, from) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if transport::interrupted(&e) || e.kind() == io::ErrorKind::ConnectionAborted => {
                    continue
                }
                Err(e) if transport::would_block(&e) => return,
                Err(e) => {
                    // Out of descriptors, or something unexpected: try again later, never give up.
                    self.pause_accepting(registry, &e);
                    return;
                }
            };
            let ip = ip_key(from.ip());
            let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
            if self.cfg.max_per_ip > 0 && from_ip >= self.cfg.max_per_ip {
                self.stats.refused_per_ip += 1;
                continue;
            }
            let Some(slot) = self.take_slot(registry, out) else {
                self.stats.refused += 1;
                continue;
            };
            let token = transport::token(self.index, slot + 1);
            if let Err(e) = registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
                log::warn!("ws face {}: register failed: {e}", self.index);
                self.free.push(slot);
                continue;
            }
            if let Err(e) = stream.set_nodelay(true) {
                log::debug!("ws: set_nodelay: {e}");
            }
            // The request head arrives later; registering reports it if it is already there.
            let peer = self.new_peer_id();
            let now = Instant::now();
            self.handshakes.push_back((now + self.cfg.handshake_timeout, slot, peer));
            let conn = Conn {
                peer,
                token,
                stage: Stage::Sniff(stream),
                writable_interest: true,
                pending: false,
                backlog: Backlog::default(),
                last_rx: now,
                ip: Some(ip),
                unread: false,
                addr: Some(from),
                since: now,
                bytes_in: 0,
                bytes_out: 0,
                noise: match &self.secure {
                    Some(sec) => Noise::Offered(Arc::clone(&sec.noise), Arc::default(), sec.require),
                    None => Noise::Plain,
                },
            };
            if let Some(place) = self.conns.get_mut(slot) {
                *place = Some(conn);
            }
            self.by_peer.insert(peer, slot);
            self.idle.insert((now, peer));
            *self.per_ip.entry(ip).or_insert(0) += 1;
            self.open += 1;
        }
    }

    /// Advances connection `slot` (handshake, reading, flushing); notes it if input is left.
    fn drive(&mut self, registry: &Registry, slot: usize, out: &mut Vec<TransportEvent>) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        let was_unread = conn.unread;
        match conn.drive(registry, &self.cfg, &mut self.stats, out) {
            Ok(()) if conn.unread && !was_unread => self.unread.push((Instant::now(), slot, conn.peer)),
            Ok(()) => {}
            Err(why) => self.close(registry, slot, why, out),
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize, why: Close, out: &mut Vec<TransportEvent>) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else { return };
        match why {
            Close::Idle => {
                log::debug!("ws face {}: {} idle too long, closing", self.index, conn.who());
                conn.goodbye(CloseCode::Away, "idle");
            }
            Close::Evicted => {
                log::debug!("ws face {}: full, evicting {} (idle longest)", self.index, conn.who());
                conn.goodbye(CloseCode::Again, "full");
            }
            Close::Protocol | Close::Io | Close::Http | Close::Local => {}
        }
        conn.deregister(registry);
        count_close(&mut self.stats, why);
        if conn.is_open() {
            out.push(TransportEvent::Down(conn.peer));
        }
        self.by_peer.remove(&conn.peer);
        self.idle.remove(&(conn.last_rx, conn.peer));
        if let Some(ip) = conn.ip {
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
        self.free.push(slot);
        self.open -= 1;
    }

    /// When the longest idle connection is due to be cut.
    fn idle_deadline(&self) -> Option<Instant> {
        if self.cfg.idle_timeout.is_zero() {
            return None;
        }
        self.idle.first().and_then(|(t, _)| t.checked_add(self.cfg.idle_timeout))
    }
}

impl Transport for WsServer {
    fn register(&mut self, registry: &Registry) -> io::Result<()> {
        registry.register(&mut self.listener, transport::token(self.index, LISTENER), Interest::READABLE)
    }

    fn on_ready(&mut self, registry: &Registry, event: &Event, out: &mut Vec<TransportEvent>) {
        let local = transport::local_of(event.token());
        if local == LISTENER {
            self.accept_all(registry, out);
            return;
        }
        let slot = local - 1;
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        let served = conn.serve_http(&mut self.scratch, self.status.as_deref(), &mut self.stats, self.index);
        let http = conn.is_http();
        match served {
            Err(why) => self.close(registry, slot, why, out),
            Ok(()) if !http => self.drive(registry, slot, out),
            Ok(()) => {}
        }
    }

    fn kind_name(&self) -> &'static str {
        "ws-server"
    }

    fn peer_info(&self) -> Vec<PeerInfo> {
        self.conns.iter().flatten().filter(|c| c.is_open()).map(Conn::info).collect()
    }

    fn set_status(&mut self, status: &Arc<Status>) {
        self.status = Some(Arc::clone(status));
    }

    fn note_valid(&mut self, peer: PeerId) {
        let Some(conn) = self.slot_of(peer).and_then(|slot| self.conns.get_mut(slot)?.as_mut()) else {
            return;
        };
        let now = Instant::now();
        self.idle.remove(&(conn.last_rx, conn.peer));
        conn.last_rx = now;
        self.idle.insert((now, conn.peer));
    }

    fn send(&mut self, dest: Dest, pkt: &[u8]) {
        if pkt.is_empty() || pkt.len() > self.cfg.max_packet {
            self.stats.drop_size_out += 1;
            return;
        }
        match dest {
            Dest::Peer(peer) => {
                let Some(slot) = self.slot_of(peer) else {
                    self.stats.drop_no_peer += 1;
                    return;
                };
                if let Some(Some(conn)) = self.conns.get_mut(slot) {
                    match conn.send(pkt, &mut self.stats) {
                        Ok(()) => self.dirty.push(slot),
                        Err(why) => self.broken.push((peer, why)),
                    }
                }
            }
            Dest::All => {
                for (slot, conn) in self.conns.iter_mut().enumerate() {
                    let Some(conn) = conn.as_mut().filter(|c| c.is_open()) else { continue };
                    match conn.send(pkt, &mut self.stats) {
                        Ok(()) => self.dirty.push(slot),
                        Err(why) => self.broken.push((conn.peer, why)),
                    }
                }
            }
        }
    }

    fn flush(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) {
        let mut dirty = mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty.drain(..) {
            let Some(Some(conn)) = self.conns.get_mut(slot) else { continue };
            if let Err(why) = conn.flush(registry, out) {
                self.broken.push((conn.peer, why));
            }
        }
        self.dirty = dirty;
        for (peer, why) in mem::take(&mut self.broken) {
            if let Some(slot) = self.slot_of(peer) {
                self.close(registry, slot, why, out);
            }
        }
    }

    fn peers(&self) -> Vec<PeerId> {
        self.conns.iter().flatten().filter(|c| c.is_open()).map(|c| c.peer).collect()
    }

    fn peer_addr(&self, peer: PeerId) -> Option<String> {
        let conn = self.conns.get(self.slot_of(peer)?)?.as_ref()?;
        conn.addr.map(|a| a.to_string())
    }

    fn stats(&self) -> &TransportStats {
        &self.stats
    }

    fn next_deadline(&self) -> Option<Instant> {
        let handshake = self.handshakes.front().map(|(at, _, _)| *at);
        let unread = self.unread.iter().map(|(at, _, _)| *at).min();
        [handshake, self.idle_deadline(), self.paused_until, unread].into_iter().flatten().min()
    }

    fn on_deadline(&mut self, registry: &Registry, now: Instant, out: &mut Vec<TransportEvent>) {
        while let Some(&(at, slot, peer)) = self.handshakes.front() {
            if at > now {
                break;
            }
            self.handshakes.pop_front();
            let stalled = match self.conns.get(slot) {
                Some(Some(c)) if c.peer == peer && !c.is_open() => {
                    // A plain HTTP client that does not read its answer is no protocol breach.
                    Some(if matches!(c.stage, Stage::HttpReply(..) | Stage::Linger(..)) {
                        Close::Http
                    } else {
                        Close::Protocol
                    })
                }
                _ => None,
            };
            if let Some(why) = stalled {
                self.close(registry, slot, why, out);
            }
        }
        while self.idle_deadline().is_some_and(|due| due <= now) {
            let Some((_, peer)) = self.idle.pop_first() else { break };
            if let Some(slot) = self.slot_of(peer) {
                self.close(registry, slot, Close::Idle, out);
            }
        }
        if self.paused_until.is_some_and(|until| until <= now) {
            self.paused_until = None;
            match registry.register(
                &mut self.listener,
                transport::token(self.index, LISTENER),
                Interest::READABLE,
            ) {
                // Connections may have queued up meanwhile; no new readiness edge announces them.
                Ok(()) => self.accept_all(registry, out),
                Err(e) => self.pause_accepting(registry, &e),
            }
        }
        for (_, slot, peer) in mem::take(&mut self.unread) {
            let Some(Some(conn)) = self.conns.get_mut(slot) else { continue };
            if conn.peer == peer && conn.unread {
                conn.unread = false;
                self.drive(registry, slot, out);
            }
        }
    }
}
/// Raises this process's soft limit on open files towards `want` (bounded by
/// the hard limit) and returns the resulting soft limit. A pub serving many
/// websocket clients needs one descriptor per client.
pub fn raise_fd_limit(want: u64) -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    let current = lim.current.unwrap_or(u64::MAX);
    if current >= want {
        return current;
    }
    let target = lim.maximum.map_or(want, |max| want.min(max));
    lim.current = Some(target);
    match setrlimit(Resource::Nofile, lim) {
        Ok(()) => target,
        Err(_) => current,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_address_limit_groups_ipv6_by_its_64_prefix() {
        let key = |s: &str| ip_key(s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)));
        assert_eq!(key("192.0.2.7"), key("::ffff:192.0.2.7"));
        assert_ne!(key("192.0.2.7"), key("192.0.2.8"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }

    #[test]
    fn only_descriptor_shortage_counts_as_out_of_fds() {
        let errno = |e: rustix::io::Errno| io::Error::from_raw_os_error(e.raw_os_error());
        assert!(out_of_fds(&errno(rustix::io::Errno::MFILE)));
        assert!(out_of_fds(&errno(rustix::io::Errno::NFILE)));
        assert!(!out_of_fds(&errno(rustix::io::Errno::CONNABORTED)));
        assert!(!out_of_fds(&io::Error::other("x")));
    }
}
