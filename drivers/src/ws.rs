//! Websocket faces over mio and tungstenite, non-blocking throughout: a
//! server accepting many clients ([`WsServer`]) and a client to one URL that
//! reconnects with exponential backoff ([`WsClient`]). One binary message
//! carries one tinySSB packet; a text message, an oversized message or broken
//! framing closes only the offending connection.

use std::io;
use std::mem;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{ClientHandshake, Request};
use tungstenite::handshake::server::{NoCallback, ServerHandshake};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use crate::face::{self, Dest, Face, FaceEvent, FaceStats, PeerId, MAX_PACKET, TOKENS_PER_FACE};

/// Settings shared by websocket server and client.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    /// Largest packet accepted or sent; longer binary messages (up to
    /// `max_message`) are dropped and counted, the connection stays.
    pub max_packet: usize,
    /// Largest websocket message or frame at all; more closes the connection.
    pub max_message: usize,
    /// Per-connection bound of buffered output in bytes; beyond it packets are dropped.
    pub max_write_buffer: usize,
    /// Per-connection read buffer in bytes.
    pub read_buffer: usize,
    /// Server only: connections beyond this many are refused.
    pub max_conns: usize,
    /// Server only: a client that has not completed the websocket handshake this long after
    /// connecting is cut off (it would hold a connection slot).
    pub handshake_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_packet: MAX_PACKET,
            max_message: 1024,
            max_write_buffer: 32 * 1024,
            read_buffer: 4 * 1024,
            max_conns: 4096,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl WsConfig {
    /// The tungstenite settings every connection of the faces uses: read and write buffer
    /// sizes and the message and frame limits derived from this config. Public so that tests
    /// and fuzz targets can drive a [`WebSocket`] exactly as the faces do.
    pub fn tungstenite(&self) -> WebSocketConfig {
        // Queue up to 2 KiB before writing eagerly; `flush` writes the rest.
        let eager = 2048.min(self.max_write_buffer / 2);
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            .write_buffer_size(eager)
            .max_write_buffer_size(self.max_write_buffer)
            .max_message_size(Some(self.max_message))
            .max_frame_size(Some(self.max_message))
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    /// The peer broke the protocol (text, oversize, bad framing, bad handshake).
    Protocol,
    /// Closed by the peer or lost to an I/O error.
    Io,
}

fn classify(e: &tungstenite::Error) -> Close {
    match e {
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Io(_) => Close::Io,
        _ => Close::Protocol,
    }
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if face::would_block(io))
}

/// Where a connection is in its life.
enum Stage {
    /// Client: TCP connect in progress.
    Connecting(TcpStream, Box<Request>),
    /// Client: websocket handshake in progress.
    ClientHs(MidHandshake<ClientHandshake<TcpStream>>),
    /// Server: websocket handshake in progress.
    ServerHs(MidHandshake<ServerHandshake<TcpStream, NoCallback>>),
    /// Exchanging messages.
    Open(WebSocket<TcpStream>),
    /// Transitional placeholder; a connection left here is dead.
    Gone,
}

/// One websocket connection, either role.
struct Conn {
    peer: PeerId,
    token: Token,
    stage: Stage,
    /// Current registration includes WRITABLE.
    writable_interest: bool,
    /// Output may be waiting in tungstenite's write buffer.
    pending: bool,
}

impl Conn {
    fn is_open(&self) -> bool {
        matches!(self.stage, Stage::Open(_))
    }

    /// Resumes whatever is in progress after readiness: TCP connect,
    /// handshake, then reading until the socket would block and flushing.
    fn drive(
        &mut self,
        registry: &Registry,
        cfg: &WsConfig,
        stats: &mut FaceStats,
        out: &mut Vec<FaceEvent>,
    ) -> Result<(), Close> {
        if !self.is_open() {
            if !self.advance_handshake(cfg)? {
                return Ok(());
            }
            out.push(FaceEvent::Up(self.peer));
        }
        self.read_all(cfg, stats, out)?;
        self.flush(registry)
    }

    /// Returns whether the connection just became open.
    fn advance_handshake(&mut self, cfg: &WsConfig) -> Result<bool, Close> {
        let opened = match mem::replace(&mut self.stage, Stage::Gone) {
            Stage::Connecting(stream, request) => {
                if stream.take_error().map_err(|_| Close::Io)?.is_some() {
                    return Err(Close::Io);
                }
                match stream.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected || face::would_block(&e) => {
                        self.stage = Stage::Connecting(stream, request);
                        return Ok(false);
                    }
                    Err(_) => return Err(Close::Io),
                }
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("ws: set_nodelay: {e}");
                }
                match tungstenite::client::client_with_config(*request, stream, Some(cfg.tungstenite())) {
                    Ok((ws, _)) => ws,
                    Err(HandshakeError::Interrupted(mid)) => {
                        self.stage = Stage::ClientHs(mid);
                        return Ok(false);
                    }
                    Err(HandshakeError::Failure(e)) => return Err(classify(&e)),
                }
            }
            Stage::ClientHs(mid) => match mid.handshake() {
                Ok((ws, _)) => ws,
                Err(HandshakeError::Interrupted(mid)) => {
                    self.stage = Stage::ClientHs(mid);
                    return Ok(false);
                }
                Err(HandshakeError::Failure(e)) => return Err(classify(&e)),
            },
            Stage::ServerHs(mid) => match mid.handshake() {
                Ok(ws) => ws,
                Err(HandshakeError::Interrupted(mid)) => {
                    self.stage = Stage::ServerHs(mid);
                    return Ok(false);
                }
                // A client that is not speaking websocket at all.
                Err(HandshakeError::Failure(e)) => {
                    return Err(if classify(&e) == Close::Io { Close::Io } else { Close::Protocol })
                }
            },
            Stage::Open(ws) => {
                self.stage = Stage::Open(ws);
                return Ok(false);
            }
            Stage::Gone => return Err(Close::Io),
        };
        self.stage = Stage::Open(opened);
        Ok(true)
    }

    fn read_all(
        &mut self,
        cfg: &WsConfig,
        stats: &mut FaceStats,
        out: &mut Vec<FaceEvent>,
    ) -> Result<(), Close> {
        let Stage::Open(ws) = &mut self.stage else { return Ok(()) };
        loop {
            match ws.read() {
                Ok(Message::Binary(data)) => {
                    if data.is_empty() || data.len() > cfg.max_packet {
                        stats.drop_size_in += 1;
                    } else {
                        stats.packets_in += 1;
                        out.push(FaceEvent::Packet(self.peer, data.to_vec()));
                    }
                }
                Ok(Message::Text(_)) => {
                    let frame = CloseFrame { code: CloseCode::Unsupported, reason: "binary only".into() };
                    // Best effort: the connection is dropped right after.
                    let _ = ws.close(Some(frame));
                    let _ = ws.flush();
                    return Err(Close::Protocol);
                }
                // Pings are answered and closes acknowledged by tungstenite itself.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_)) => {
                    self.pending = true;
                }
                Err(e) if is_would_block(&e) => return Ok(()),
                Err(e) => return Err(classify(&e)),
            }
        }
    }

    /// Writes buffered output and sets the interest from what is left.
    fn flush(&mut self, registry: &Registry) -> Result<(), Close> {
        let Stage::Open(ws) = &mut self.stage else { return Ok(()) };
        if self.pending {
            match ws.flush() {
                Ok(()) => self.pending = false,
                Err(e) if is_would_block(&e) => {}
                Err(e) => return Err(classify(&e)),
            }
        }
        if self.pending != self.writable_interest {
            let interest =
                if self.pending { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(ws.get_mut(), self.token, interest).map_err(|_| Close::Io)?;
            self.writable_interest = self.pending;
        }
        Ok(())
    }

    /// Queues one packet; `Err` means the connection is broken.
    fn send(&mut self, pkt: &[u8], stats: &mut FaceStats) -> Result<(), Close> {
        let Stage::Open(ws) = &mut self.stage else {
            stats.drop_no_peer += 1;
            return Ok(());
        };
        match ws.write(Message::binary(pkt.to_vec())) {
            Ok(()) => {}
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                stats.drop_queue_full += 1;
                return Ok(());
            }
            Err(e) if is_would_block(&e) => {}
            Err(e) => return Err(classify(&e)),
        }
        stats.packets_out += 1;
        self.pending = true;
        Ok(())
    }

    fn deregister(&mut self, registry: &Registry) {
        let stream = match &mut self.stage {
            Stage::Connecting(s, _) => s,
            Stage::ClientHs(mid) => mid.get_mut().get_mut(),
            Stage::ServerHs(mid) => mid.get_mut().get_mut(),
            Stage::Open(ws) => ws.get_mut(),
            Stage::Gone => return,
        };
        // Closing the socket removes it from the poller anyway.
        let _ = registry.deregister(stream);
    }
}

fn count_close(stats: &mut FaceStats, why: Close) {
    match why {
        Close::Protocol => stats.closed_protocol += 1,
        Close::Io => stats.closed_io += 1,
    }
}

/// Token 0 of a server face is its listener; connection `slot` uses token `slot + 1`.
const LISTENER: usize = 0;

/// A websocket server face: accepts any number of clients (up to
/// [`WsConfig::max_conns`]) on one listening socket; each client is a peer.
pub struct WsServer {
    index: usize,
    cfg: WsConfig,
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    /// Slots that may have output to flush or a failure to report.
    dirty: Vec<usize>,
    broken: Vec<(usize, Close)>,
    serial: u64,
    open: usize,
    /// Connections still handshaking, oldest first, with the moment they must be open by.
    handshakes: std::collections::VecDeque<(Instant, usize, PeerId)>,
    stats: FaceStats,
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
            dirty: Vec::new(),
            broken: Vec::new(),
            serial: 0,
            open: 0,
            handshakes: std::collections::VecDeque::new(),
            stats: FaceStats::default(),
        })
    }

    /// The address actually listened on (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Number of connections, open or still handshaking.
    pub fn connection_count(&self) -> usize {
        self.open
    }

    fn slot_of(&self, peer: PeerId) -> Option<usize> {
        let slot = usize::try_from(peer.0 % (TOKENS_PER_FACE as u64)).ok()?;
        self.conns.get(slot)?.as_ref().filter(|c| c.peer == peer).map(|_| slot)
    }

    fn accept_all(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) {
        loop {
            let mut stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if face::interrupted(&e) => continue,
                Err(e) => {
                    if !face::would_block(&e) {
                        log::warn!("ws face {}: accept failed: {e}", self.index);
                    }
                    return;
                }
            };
            let slot = match self.free.pop() {
                Some(s) => s,
                None if self.conns.len() < self.cfg.max_conns.min(TOKENS_PER_FACE - 1) => {
                    self.conns.push(None);
                    self.conns.len() - 1
                }
                None => {
                    self.stats.refused += 1;
                    continue;
                }
            };
            let token = face::token(self.index, slot + 1);
            if let Err(e) = registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE) {
                log::warn!("ws face {}: register failed: {e}", self.index);
                self.free.push(slot);
                continue;
            }
            if let Err(e) = stream.set_nodelay(true) {
                log::debug!("ws: set_nodelay: {e}");
            }
            self.serial += 1;
            let peer = PeerId((self.serial << 24) | slot as u64);
            let stage = match tungstenite::accept_with_config(stream, Some(self.cfg.tungstenite())) {
                Ok(ws) => Stage::Open(ws),
                Err(HandshakeError::Interrupted(mid)) => Stage::ServerHs(mid),
                Err(HandshakeError::Failure(e)) => {
                    count_close(&mut self.stats, classify(&e));
                    self.free.push(slot);
                    continue;
                }
            };
            let opened = matches!(stage, Stage::Open(_));
            if !opened {
                self.handshakes.push_back((Instant::now() + self.cfg.handshake_timeout, slot, peer));
            }
            let mut conn = Conn { peer, token, stage, writable_interest: true, pending: false };
            if opened {
                out.push(FaceEvent::Up(peer));
                conn.pending = true;
            }
            self.conns[slot] = Some(conn);
            self.open += 1;
            if opened {
                self.dirty.push(slot);
            }
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize, why: Close, out: &mut Vec<FaceEvent>) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else { return };
        conn.deregister(registry);
        count_close(&mut self.stats, why);
        if conn.is_open() {
            out.push(FaceEvent::Down(conn.peer));
        }
        self.free.push(slot);
        self.open -= 1;
    }
}

impl Face for WsServer {
    fn register(&mut self, registry: &Registry) -> io::Result<()> {
        registry.register(&mut self.listener, face::token(self.index, LISTENER), Interest::READABLE)
    }

    fn on_ready(&mut self, registry: &Registry, event: &Event, out: &mut Vec<FaceEvent>) {
        let local = face::local_of(event.token());
        if local == LISTENER {
            self.accept_all(registry, out);
            return;
        }
        let slot = local - 1;
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        if let Err(why) = conn.drive(registry, &self.cfg, &mut self.stats, out) {
            self.close(registry, slot, why, out);
        }
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
                        Err(why) => self.broken.push((slot, why)),
                    }
                }
            }
            Dest::All => {
                for (slot, conn) in self.conns.iter_mut().enumerate() {
                    let Some(conn) = conn.as_mut().filter(|c| c.is_open()) else { continue };
                    match conn.send(pkt, &mut self.stats) {
                        Ok(()) => self.dirty.push(slot),
                        Err(why) => self.broken.push((slot, why)),
                    }
                }
            }
        }
    }

    fn flush(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) {
        let mut dirty = mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty.drain(..) {
            let Some(Some(conn)) = self.conns.get_mut(slot) else { continue };
            if let Err(why) = conn.flush(registry) {
                self.broken.push((slot, why));
            }
        }
        self.dirty = dirty;
        for (slot, why) in mem::take(&mut self.broken) {
            self.close(registry, slot, why, out);
        }
    }

    fn peers(&self) -> Vec<PeerId> {
        self.conns.iter().flatten().filter(|c| c.is_open()).map(|c| c.peer).collect()
    }

    fn stats(&self) -> &FaceStats {
        &self.stats
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.handshakes.front().map(|(at, _, _)| *at)
    }

    fn on_deadline(&mut self, registry: &Registry, now: Instant, out: &mut Vec<FaceEvent>) {
        while let Some(&(at, slot, peer)) = self.handshakes.front() {
            if at > now {
                break;
            }
            self.handshakes.pop_front();
            let stalled = matches!(self.conns.get(slot), Some(Some(c)) if c.peer == peer && !c.is_open());
            if stalled {
                self.close(registry, slot, Close::Protocol, out);
            }
        }
    }
}

/// Where a [`WsClient`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Not connected; the next attempt is due at [`WsClient::next_reconnect`].
    Waiting,
    /// TCP connect or websocket handshake in progress.
    Connecting,
    /// Connected; packets flow.
    Open,
}

/// Reconnect timing of a [`WsClient`]: the delay starts at `initial`, doubles
/// after each failed or lost connection up to `max`, and resets once a
/// connection opens.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(60) }
    }
}

/// Error from [`WsClient::new`]: the URL is not a usable `ws://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUrl(pub String);

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a ws:// URL: {}", self.0)
    }
}

impl std::error::Error for BadUrl {}

/// Token of the client's connection within its face range.
const CLIENT_CONN: usize = 1;

/// A websocket client face: one connection to one `ws://host:port/path` URL,
/// re-established with backoff after failures (the main loop calls
/// [`Face::on_deadline`] at [`Face::next_deadline`]).
pub struct WsClient {
    index: usize,
    cfg: WsConfig,
    url: String,
    backoff: Backoff,
    delay: Duration,
    conn: Option<Conn>,
    broken: Option<Close>,
    next_reconnect: Option<Instant>,
    serial: u64,
    stats: FaceStats,
}

impl WsClient {
    /// A client for `url` using token range `index`. Nothing happens before
    /// [`Face::register`], which starts the first connection attempt.
    pub fn new(index: usize, url: &str, cfg: WsConfig, backoff: Backoff) -> Result<WsClient, BadUrl> {
        let req = url.into_client_request().map_err(|_| BadUrl(url.to_string()))?;
        if req.uri().scheme_str() != Some("ws") || req.uri().host().is_none() {
            return Err(BadUrl(url.to_string()));
        }
        Ok(WsClient {
            index,
            cfg,
            url: url.to_string(),
            backoff,
            delay: backoff.initial,
            conn: None,
            broken: None,
            next_reconnect: None,
            serial: 0,
            stats: FaceStats::default(),
        })
    }

    /// The connection's state.
    pub fn state(&self) -> ClientState {
        match &self.conn {
            None => ClientState::Waiting,
            Some(c) if c.is_open() => ClientState::Open,
            Some(_) => ClientState::Connecting,
        }
    }

    /// When the next connection attempt is due (only while [`ClientState::Waiting`]).
    pub fn next_reconnect(&self) -> Option<Instant> {
        self.next_reconnect
    }

    fn connect(&mut self, registry: &Registry) -> io::Result<()> {
        let req = self.url.as_str().into_client_request().map_err(io::Error::other)?;
        let host = req.uri().host().unwrap_or_default().trim_matches(|c| c == '[' || c == ']').to_string();
        let port = req.uri().port_u16().unwrap_or(80);
        let addr = (host.as_str(), port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for host"))?;
        let mut stream = TcpStream::connect(addr)?;
        let token = face::token(self.index, CLIENT_CONN);
        registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)?;
        self.serial += 1;
        self.conn = Some(Conn {
            peer: PeerId(self.serial),
            token,
            stage: Stage::Connecting(stream, Box::new(req)),
            writable_interest: true,
            pending: false,
        });
        self.next_reconnect = None;
        Ok(())
    }

    fn try_connect(&mut self, registry: &Registry, now: Instant) {
        if let Err(e) = self.connect(registry) {
            log::debug!("ws client {}: connect to {} failed: {e}", self.index, self.url);
            self.stats.closed_io += 1;
            self.schedule(now);
        }
    }

    fn schedule(&mut self, now: Instant) {
        self.next_reconnect = Some(now + self.delay);
        self.delay = (self.delay * 2).min(self.backoff.max);
    }

    fn close(&mut self, registry: &Registry, why: Close, out: &mut Vec<FaceEvent>) {
        if let Some(mut conn) = self.conn.take() {
            conn.deregister(registry);
            count_close(&mut self.stats, why);
            if conn.is_open() {
                out.push(FaceEvent::Down(conn.peer));
            }
        }
        self.schedule(Instant::now());
    }
}

impl Face for WsClient {
    fn register(&mut self, registry: &Registry) -> io::Result<()> {
        self.try_connect(registry, Instant::now());
        Ok(())
    }

    fn on_ready(&mut self, registry: &Registry, _event: &Event, out: &mut Vec<FaceEvent>) {
        let Some(conn) = &mut self.conn else { return };
        let was_open = conn.is_open();
        match conn.drive(registry, &self.cfg, &mut self.stats, out) {
            Ok(()) => {
                if !was_open && conn.is_open() {
                    self.delay = self.backoff.initial;
                }
            }
            Err(why) => self.close(registry, why, out),
        }
    }

    fn send(&mut self, dest: Dest, pkt: &[u8]) {
        if pkt.is_empty() || pkt.len() > self.cfg.max_packet {
            self.stats.drop_size_out += 1;
            return;
        }
        match &mut self.conn {
            Some(conn) if dest == Dest::All || dest == Dest::Peer(conn.peer) => {
                if let Err(why) = conn.send(pkt, &mut self.stats) {
                    self.broken = Some(why);
                }
            }
            _ => self.stats.drop_no_peer += 1,
        }
    }

    fn flush(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) {
        let result = match (self.broken.take(), &mut self.conn) {
            (Some(why), _) => Err(why),
            (None, Some(conn)) => conn.flush(registry),
            (None, None) => Ok(()),
        };
        if let Err(why) = result {
            self.close(registry, why, out);
        }
    }

    fn peers(&self) -> Vec<PeerId> {
        self.conn.iter().filter(|c| c.is_open()).map(|c| c.peer).collect()
    }

    fn stats(&self) -> &FaceStats {
        &self.stats
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.next_reconnect
    }

    fn on_deadline(&mut self, registry: &Registry, now: Instant, _out: &mut Vec<FaceEvent>) {
        if self.conn.is_none() && self.next_reconnect.is_some_and(|t| t <= now) {
            self.try_connect(registry, now);
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
