//! Websocket faces over mio and tungstenite, non-blocking throughout: a
//! server accepting many clients ([`WsServer`]) and a client to one `ws://` or `wss://` URL
//! that reconnects with exponential backoff ([`WsClient`]). One binary message
//! carries one tinySSB packet; a text message, an oversized message or broken
//! framing closes only the offending connection.
//!
//! The server also answers plain HTTP requests on the same port (status page, metrics, health;
//! see [`crate::http`]): it peeks at each new connection's request head, leaves websocket upgrade
//! requests to tungstenite, and answers any other request itself and closes the connection.
//!
//! A `wss://` client speaks TLS through rustls (with the *ring* crypto provider) inside the same
//! non-blocking loop: the TLS handshake advances whenever the socket is ready, like the
//! websocket handshake on top of it. Servers are trusted by the Mozilla root certificates built
//! into the binary (`webpki-roots`), plus any roots given to [`WsClient::trust_roots`]; the
//! system certificate store is not read. The server face has no TLS of its own: a reverse
//! proxy terminates it (see the README).
//!
//! Secure links (issue #14, [`tinyssb::secure`]): a connection whose opening handshake selects
//! the websocket subprotocol [`SUBPROTOCOL`] (`tinyssb-noise`) runs a Noise XX handshake in its
//! first three binary messages (the client initiates) and then carries every packet sealed,
//! one transport message per websocket message. The face reports such a peer up only once its
//! side of that handshake succeeded (a server after the client's last message; a client once it
//! sent that message, learning of a refusal by the close that follows). A server offers secure links when given [`WsSecure`]
//! ([`WsServer::set_secure`]) and keeps serving plain clients unless told to refuse them; a
//! client asks for one when its URL is `noise+ws://` or `noise+wss://`
//! ([`WsClient::set_secure`]). Old peers never see any of this: a plain client sends no
//! subprotocol and a plain server answers none.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::mem;
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{ClientHandshake, Request};
use tungstenite::handshake::server::{
    Callback, ErrorResponse, Request as ServerRequest, Response as ServerResponse, ServerHandshake,
};
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, WebSocket};

pub use rustls::pki_types::CertificateDer;
use tinyssb::secure::{Handshake, Link, SecureConfig, Side, MAX_SEALED, SUBPROTOCOL};

use crate::face::{
    self, Backlog, Dest, Face, FaceEvent, FaceStats, PeerId, PeerInfo, MAX_FACE_PACKET, PEER_ID_BITS,
    TOKENS_PER_FACE,
};
use crate::http::{self, Sniffed};
use crate::status::Status;

/// Most messages read from one connection per readiness event or deadline. A peer that writes
/// faster than the pub can read would otherwise keep it reading that one connection forever,
/// buffering every packet before the engine sees any and starving everyone else.
const MAX_READ_PER_TURN: usize = 64;

/// Settings shared by websocket server and client.
#[derive(Debug, Clone, Copy)]
pub struct WsConfig {
    /// Largest packet accepted or sent; longer binary messages (up to
    /// `max_message`) are dropped and counted, the connection stays.
    pub max_packet: usize,
    /// Largest websocket message or frame at all; more closes the connection.
    pub max_message: usize,
    /// Per-connection bound of buffered output in bytes; beyond it packets are dropped (and
    /// reported as [`FaceEvent::SendDropped`]). Larger than the engine's per-face output budget,
    /// so that an engine that respects its budget never loses a packet here.
    pub max_write_buffer: usize,
    /// Per-connection read buffer in bytes.
    pub read_buffer: usize,
    /// Server only: most connections at once. A newcomer beyond it evicts the connection
    /// that has been idle longest (see [`WsConfig::idle_timeout`]); only a limit of 0 refuses.
    pub max_conns: usize,
    /// Server only: a client that has not completed the websocket handshake this long after
    /// connecting is cut off (it would hold a connection slot). A plain HTTP request must be
    /// sent and its answer read within the same time.
    pub handshake_timeout: Duration,
    /// Server only: a connection that has sent no valid packet for this long is closed (the
    /// face's user vouches for packets with [`Face::note_valid`]; garbage does not count); a
    /// handshaking connection is idle since its accept.
    /// Peers holding any feed send a GOset claim at least every 15 s. Zero: never.
    pub idle_timeout: Duration,
    /// Server only: most connections from one source address (an IPv6 client's whole /64
    /// counts as one address); more are refused. Zero: no limit. Behind a reverse proxy
    /// every client has the proxy's address.
    pub max_per_ip: usize,
    /// Server only: how long accepting pauses when the process is out of file descriptors.
    pub accept_pause: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_packet: MAX_FACE_PACKET,
            max_message: 1024,
            max_write_buffer: 512 * 1024,
            read_buffer: 4 * 1024,
            max_conns: 4096,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_per_ip: 64,
            accept_pause: Duration::from_millis(250),
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
    /// Closed by us: no packet for [`WsConfig::idle_timeout`].
    Idle,
    /// Closed by us to make room for a newcomer.
    Evicted,
    /// A plain HTTP exchange ended (answered, or given up on); not a peer, not counted as a close.
    Http,
}

fn classify(e: &tungstenite::Error) -> Close {
    match e {
        // rustls reports a failed TLS handshake or a bad record through `Read`/`Write` as
        // invalid data; a plain TCP socket never does.
        tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::InvalidData => Close::Protocol,
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Io(_) => Close::Io,
        _ => Close::Protocol,
    }
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if face::would_block(io))
}

/// The byte stream under a websocket: the TCP socket itself, or (client only) TLS over it.
///
/// The TLS state (about 1 KiB) is boxed, so that plain connections, which are all of the
/// server's, stay as small as they were without TLS (tungstenite's own `MaybeTlsStream` holds
/// it inline and would make every server connection 1 KiB larger).
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket, to (de)register it with the poller.
    fn socket(&mut self) -> &mut TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(tls) => &mut tls.sock,
        }
    }
}

// A TLS stream over a non-blocking socket reports `WouldBlock` whenever the socket does and
// the TLS layer has nothing buffered to return; the TLS handshake advances within these calls.
impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(tls) => tls.flush(),
        }
    }
}

/// Where a connection is in its life.
enum Stage {
    /// Client: TCP connect in progress; the TLS settings for a `wss://` URL.
    Connecting(TcpStream, Box<Request>, Option<Arc<rustls::ClientConfig>>),
    /// Client: TLS and websocket handshakes in progress.
    ClientHs(MidHandshake<ClientHandshake<Stream>>),
    /// Server: waiting for the request head, which is peeked at (not consumed) to tell a
    /// websocket upgrade from a plain HTTP request.
    Sniff(TcpStream),
    /// Server: an upgrade request waits in the socket for tungstenite's handshake.
    Upgrade(TcpStream),
    /// Server: writing the answer to a plain HTTP request (the bytes, and how many are written).
    HttpReply(TcpStream, Vec<u8>, usize),
    /// Server: answer written and our side shut down; what the client still sends is read and
    /// discarded (up to [`MAX_LINGER`] bytes) until it closes, so that closing with unread input
    /// does not reset the connection before the client has read the answer.
    Linger(TcpStream, usize),
    /// Server: websocket handshake in progress.
    ServerHs(MidHandshake<ServerHandshake<Stream, Negotiate>>),
    /// Exchanging messages.
    Open(WebSocket<Stream>),
    /// Transitional placeholder; a connection left here is dead.
    Gone,
}

/// Secure-link settings of a websocket face: the node's Noise key and trust list, and whether
/// plain websocket clients are refused (server only).
#[derive(Clone, Debug)]
pub struct WsSecure {
    /// Key, optional feed binding and trusted peers.
    pub noise: Arc<SecureConfig>,
    /// Server: answer a websocket opening handshake that does not ask for [`SUBPROTOCOL`] with
    /// HTTP 403 instead of serving a plain link.
    pub require: bool,
}

/// The server's part of subprotocol negotiation, run by tungstenite on the client's request:
/// if secure links are on (`chosen` is set), selects [`SUBPROTOCOL`] when the client offers it
/// and notes that in `chosen`, and refuses a plain client if secure links are required.
struct Negotiate {
    chosen: Option<Arc<AtomicBool>>,
    require: bool,
}

impl Callback for Negotiate {
    fn on_request(
        self,
        request: &ServerRequest,
        mut response: ServerResponse,
    ) -> Result<ServerResponse, ErrorResponse> {
        let asked = request
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim() == SUBPROTOCOL);
        match &self.chosen {
            Some(chosen) if asked => {
                response
                    .headers_mut()
                    .insert("Sec-WebSocket-Protocol", SUBPROTOCOL.parse().map_err(|_| refuse())?);
                chosen.store(true, Ordering::Relaxed);
                return Ok(response);
            }
            _ => {}
        }
        if self.require {
            return Err(refuse());
        }
        Ok(response)
    }
}

/// The answer to a plain client of a server that requires secure links.
fn refuse() -> ErrorResponse {
    let mut resp =
        ErrorResponse::new(Some(format!("secure link required: Sec-WebSocket-Protocol: {SUBPROTOCOL}\n")));
    *resp.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
    resp
}

/// The secure-link state of a connection.
enum Noise {
    /// A plain link.
    Plain,
    /// Server, websocket handshake in progress: secure links are offered (and required, if
    /// the flag is set); `chosen` says whether the client took the offer.
    Offered(Arc<SecureConfig>, Arc<AtomicBool>, bool),
    /// Client, websocket handshake in progress: starts the Noise handshake once it is open.
    Wanted(Arc<SecureConfig>),
    /// The Noise handshake is running in the websocket's first messages.
    Handshake(Box<Handshake>),
    /// Packets travel sealed.
    Link(Box<Link>),
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
    /// Packet bytes queued since the write buffer was last empty, and drops to report.
    backlog: Backlog,
    /// When the last packet arrived (the accept or connect before the first).
    last_rx: Instant,
    /// Server only: the source address as counted by the per-address limit.
    ip: Option<IpAddr>,
    /// Reading stopped at [`MAX_READ_PER_TURN`]: more input may wait (in the socket or in
    /// tungstenite's buffer) although no readiness event will say so.
    unread: bool,
    /// The other end's address, where known.
    addr: Option<SocketAddr>,
    /// When the connection opened (accepted or connected before that).
    since: Instant,
    /// Bytes of packets received and sent.
    bytes_in: u64,
    bytes_out: u64,
    /// Plain or secure, and how far a secure link got.
    noise: Noise,
}

/// Most bytes read and discarded from a client after its HTTP answer was written.
const MAX_LINGER: usize = 64 * 1024;

impl Conn {
    /// The connection for logs: the remote address when known, else the peer id.
    fn who(&self) -> String {
        self.addr.map_or_else(|| self.peer.to_string(), |a| format!("peer {a}"))
    }

    /// Whether packets flow: the websocket is open and a secure link's handshake is done.
    fn is_open(&self) -> bool {
        matches!(self.stage, Stage::Open(_)) && !matches!(self.noise, Noise::Handshake(_))
    }

    /// Whether the websocket itself is open (a secure link may still be handshaking).
    fn ws_open(&self) -> bool {
        matches!(self.stage, Stage::Open(_))
    }

    /// Whether this is a plain HTTP exchange rather than a (would-be) websocket.
    fn is_http(&self) -> bool {
        matches!(self.stage, Stage::Sniff(_) | Stage::HttpReply(..) | Stage::Linger(..))
    }

    fn info(&self) -> PeerInfo {
        PeerInfo {
            peer: self.peer,
            addr: self.addr,
            since: Some(self.since),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            secure_key: match &self.noise {
                Noise::Link(link) => Some(link.peer().static_key),
                _ => None,
            },
        }
    }

    /// Server only: the plain HTTP part of a connection's life, up to the point where it turns
    /// out to be a websocket ([`Stage::Upgrade`]) or its HTTP exchange ends (`Err(Close::Http)`).
    /// `scratch` is at least [`http::MAX_HEAD`] bytes. Never blocks.
    fn serve_http(
        &mut self,
        scratch: &mut [u8],
        status: Option<&Status>,
        stats: &mut FaceStats,
        index: usize,
    ) -> Result<(), Close> {
        loop {
            match mem::replace(&mut self.stage, Stage::Gone) {
                Stage::Sniff(mut stream) => {
                    let head = scratch.get_mut(..http::MAX_HEAD).ok_or(Close::Io)?;
                    let n = match stream.peek(head) {
                        Ok(0) => return Err(Close::Io),
                        Ok(n) => n,
                        Err(e) if face::interrupted(&e) => {
                            self.stage = Stage::Sniff(stream);
                            continue;
                        }
                        Err(e) if face::would_block(&e) => {
                            self.stage = Stage::Sniff(stream);
                            return Ok(());
                        }
                        Err(_) => return Err(Close::Io),
                    };
                    match http::sniff(head.get(..n).unwrap_or_default()) {
                        Sniffed::Incomplete => {
                            self.stage = Stage::Sniff(stream);
                            return Ok(());
                        }
                        Sniffed::Bad => return Err(Close::Protocol),
                        Sniffed::Upgrade => {
                            self.stage = Stage::Upgrade(stream);
                            return Ok(());
                        }
                        Sniffed::Plain { head_len, request } => {
                            // Take the head out of the socket (it is all there: it was peeked).
                            let mut left = head_len;
                            while left > 0 {
                                match stream.read(head.get_mut(..left).unwrap_or_default()) {
                                    Ok(0) => return Err(Close::Io),
                                    Ok(got) => left -= got.min(left),
                                    Err(e) if face::interrupted(&e) => {}
                                    Err(_) => return Err(Close::Io),
                                }
                            }
                            stats.http_requests += 1;
                            log::debug!(
                                "ws face {index}: HTTP {:?} {:?} from {}",
                                request.method,
                                request.path,
                                self.addr.map_or_else(|| "?".to_string(), |a| a.to_string())
                            );
                            self.stage = Stage::HttpReply(stream, http::answer(&request, status), 0);
                        }
                    }
                }
                Stage::HttpReply(mut stream, out, mut pos) => {
                    while pos < out.len() {
                        match stream.write(out.get(pos..).unwrap_or_default()) {
                            Ok(0) => return Err(Close::Http),
                            Ok(n) => pos += n,
                            Err(e) if face::interrupted(&e) => {}
                            Err(e) if face::would_block(&e) => {
                                self.stage = Stage::HttpReply(stream, out, pos);
                                return Ok(());
                            }
                            Err(_) => return Err(Close::Http),
                        }
                    }
                    // The answer is complete: tell the client, then wait for it to close.
                    let _ = stream.shutdown(Shutdown::Write);
                    self.stage = Stage::Linger(stream, 0);
                }
                Stage::Linger(mut stream, mut drained) => loop {
                    match stream.read(scratch) {
                        Ok(0) => return Err(Close::Http),
                        Ok(n) => {
                            drained += n;
                            if drained > MAX_LINGER {
                                return Err(Close::Http);
                            }
                        }
                        Err(e) if face::interrupted(&e) => {}
                        Err(e) if face::would_block(&e) => {
                            self.stage = Stage::Linger(stream, drained);
                            return Ok(());
                        }
                        Err(_) => return Err(Close::Http),
                    }
                },
                other => {
                    self.stage = other;
                    return Ok(());
                }
            }
        }
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
            if !self.ws_open() {
                if !self.advance_handshake(cfg)? {
                    return Ok(());
                }
                self.start_noise()?;
            }
            if matches!(self.noise, Noise::Handshake(_)) {
                // Reading stops right after the handshake's last message, so that packets
                // behind it are reported after the peer is up.
                self.read_all(cfg, stats, out)?;
                if matches!(self.noise, Noise::Handshake(_)) {
                    return self.flush(registry, out);
                }
            }
            self.since = Instant::now();
            out.push(FaceEvent::Up(self.peer));
        }
        self.unread = self.read_all(cfg, stats, out)?;
        self.flush(registry, out)
    }

    /// Right after the websocket opened: begins the Noise handshake of a secure link (the
    /// client writes its first message), or settles on a plain link.
    fn start_noise(&mut self) -> Result<(), Close> {
        let (side, noise) = match mem::replace(&mut self.noise, Noise::Plain) {
            Noise::Offered(noise, chosen, _) if chosen.load(Ordering::Relaxed) => (Side::Responder, noise),
            Noise::Wanted(noise) => (Side::Initiator, noise),
            _ => return Ok(()),
        };
        let seed = crate::noise::random32().map_err(|e| {
            log::warn!("ws: no randomness for a secure handshake: {e}");
            Close::Io
        })?;
        let hs = Handshake::new(side, noise, seed).map_err(|e| {
            log::warn!("ws: secure handshake setup failed: {e}");
            Close::Protocol
        })?;
        self.noise = Noise::Handshake(Box::new(hs));
        self.send_handshake()
    }

    /// Writes the Noise handshake's next message, if one is due.
    fn send_handshake(&mut self) -> Result<(), Close> {
        let (Stage::Open(ws), Noise::Handshake(hs)) = (&mut self.stage, &mut self.noise) else {
            return Ok(());
        };
        if let Some(msg) = hs.poll_transmit() {
            match ws.write(Message::binary(msg)) {
                Ok(()) => {}
                Err(e) if is_would_block(&e) => {}
                Err(e) => return Err(classify(&e)),
            }
            self.pending = true;
        }
        Ok(())
    }

    /// Takes one Noise handshake message; turns the handshake into a link when it is done.
    fn step_handshake(&mut self, msg: &[u8]) -> Result<(), Close> {
        let Noise::Handshake(hs) = &mut self.noise else { return Ok(()) };
        if let Err(e) = hs.handle_message(msg) {
            log::info!("ws: secure handshake with {} failed: {e}", self.who());
            return Err(Close::Protocol);
        }
        self.send_handshake()?;
        let Noise::Handshake(hs) = mem::replace(&mut self.noise, Noise::Plain) else { return Ok(()) };
        if !hs.is_finished() {
            self.noise = Noise::Handshake(hs);
            return Ok(());
        }
        let link = hs.into_link().map_err(|_| Close::Protocol)?;
        let peer = link.peer();
        let feed = peer.feed.map_or_else(String::new, |f| format!(", feed {f}"));
        log::info!(
            "ws: secure link with {}: static key {}{feed}",
            self.who(),
            tinyssb::ids::to_hex(&peer.static_key)
        );
        self.noise = Noise::Link(Box::new(link));
        Ok(())
    }

    /// Returns whether the connection just became open.
    fn advance_handshake(&mut self, cfg: &WsConfig) -> Result<bool, Close> {
        let opened = match mem::replace(&mut self.stage, Stage::Gone) {
            Stage::Connecting(stream, request, tls) => {
                if stream.take_error().map_err(|_| Close::Io)?.is_some() {
                    return Err(Close::Io);
                }
                match stream.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected || face::would_block(&e) => {
                        self.stage = Stage::Connecting(stream, request, tls);
                        return Ok(false);
                    }
                    Err(_) => return Err(Close::Io),
                }
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("ws: set_nodelay: {e}");
                }
                // TLS for wss://: nothing is sent or read yet; the websocket handshake below
                // drives the TLS handshake under it as far as the socket allows.
                let stream = match tls {
                    None => Stream::Plain(stream),
                    Some(tls) => {
                        let host = request.uri().host().unwrap_or_default();
                        let host = host.trim_matches(|c| c == '[' || c == ']').to_string();
                        let name = rustls::pki_types::ServerName::try_from(host).map_err(|e| {
                            log::info!("ws client: no TLS server name in {}: {e}", request.uri());
                            Close::Protocol
                        })?;
                        let conn = rustls::ClientConnection::new(tls, name).map_err(|e| {
                            log::info!("ws client: TLS setup for {} failed: {e}", request.uri());
                            Close::Protocol
                        })?;
                        Stream::Tls(Box::new(rustls::StreamOwned::new(conn, stream)))
                    }
                };
                match tungstenite::client::client_with_config(*request, stream, Some(cfg.tungstenite())) {
                    Ok((ws, resp)) => self.check_subprotocol(ws, &resp)?,
                    Err(HandshakeError::Interrupted(mid)) => {
                        self.stage = Stage::ClientHs(mid);
                        return Ok(false);
                    }
                    Err(HandshakeError::Failure(e)) => return Err(self.client_failed(&e)),
                }
            }
            Stage::ClientHs(mid) => match mid.handshake() {
                Ok((ws, resp)) => self.check_subprotocol(ws, &resp)?,
                Err(HandshakeError::Interrupted(mid)) => {
                    self.stage = Stage::ClientHs(mid);
                    return Ok(false);
                }
                Err(HandshakeError::Failure(e)) => return Err(self.client_failed(&e)),
            },
            Stage::Upgrade(stream) => {
                let negotiate = match &self.noise {
                    Noise::Offered(_, chosen, require) => {
                        Negotiate { chosen: Some(Arc::clone(chosen)), require: *require }
                    }
                    _ => Negotiate { chosen: None, require: false },
                };
                match tungstenite::accept_hdr_with_config(
                    Stream::Plain(stream),
                    negotiate,
                    Some(cfg.tungstenite()),
                ) {
                    Ok(ws) => ws,
                    Err(HandshakeError::Interrupted(mid)) => {
                        self.stage = Stage::ServerHs(mid);
                        return Ok(false);
                    }
                    Err(HandshakeError::Failure(e)) => {
                        return Err(if classify(&e) == Close::Io { Close::Io } else { Close::Protocol })
                    }
                }
            }
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
            stage @ (Stage::Open(_) | Stage::Sniff(_) | Stage::HttpReply(..) | Stage::Linger(..)) => {
                self.stage = stage;
                return Ok(false);
            }
            Stage::Gone => return Err(Close::Io),
        };
        self.stage = Stage::Open(opened);
        Ok(true)
    }

    /// Client: a secure client's websocket is usable only if the server selected
    /// [`SUBPROTOCOL`] (tungstenite already refuses an answer without any subprotocol).
    fn check_subprotocol(
        &self,
        ws: WebSocket<Stream>,
        resp: &tungstenite::handshake::client::Response,
    ) -> Result<WebSocket<Stream>, Close> {
        if !matches!(self.noise, Noise::Wanted(_)) {
            return Ok(ws);
        }
        let chosen = resp.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
        if chosen.map(str::trim) == Some(SUBPROTOCOL) {
            Ok(ws)
        } else {
            log::info!("ws client: {} did not accept a secure link", self.who());
            Err(Close::Protocol)
        }
    }

    /// Client: says why the TLS or websocket handshake failed (a certificate the client does not
    /// trust, a server that is no websocket endpoint), which a reconnecting client would
    /// otherwise repeat silently; it retries at most once a minute after a few failures.
    fn client_failed(&self, e: &tungstenite::Error) -> Close {
        let why = classify(e);
        if why == Close::Protocol {
            let to = self.addr.map_or_else(|| "?".to_string(), |a| a.to_string());
            log::info!("ws client: handshake with {to} failed: {e}");
        }
        why
    }

    /// Reads until the socket would block or [`MAX_READ_PER_TURN`] messages were read; returns
    /// true in the second case (more may be waiting).
    fn read_all(
        &mut self,
        cfg: &WsConfig,
        stats: &mut FaceStats,
        out: &mut Vec<FaceEvent>,
    ) -> Result<bool, Close> {
        for _ in 0..MAX_READ_PER_TURN {
            let Stage::Open(ws) = &mut self.stage else { return Ok(false) };
            match ws.read() {
                Ok(Message::Binary(data)) => {
                    let data = match &mut self.noise {
                        Noise::Handshake(_) => {
                            self.step_handshake(&data)?;
                            if matches!(self.noise, Noise::Handshake(_)) {
                                continue;
                            }
                            // Done: the caller reports the peer up before reading on.
                            return Ok(true);
                        }
                        Noise::Link(link) if !data.is_empty() && data.len() <= MAX_SEALED => {
                            match link.open(&data) {
                                Ok(pkt) => pkt,
                                Err(e) => {
                                    log::info!("ws: secure link with {}: {e}", self.who());
                                    return Err(Close::Protocol);
                                }
                            }
                        }
                        Noise::Link(_) => {
                            stats.drop_size_in += 1;
                            continue;
                        }
                        _ => data.to_vec(),
                    };
                    if data.is_empty() || data.len() > cfg.max_packet {
                        stats.drop_size_in += 1;
                    } else {
                        stats.packets_in += 1;
                        stats.bytes_in += data.len() as u64;
                        self.bytes_in += data.len() as u64;
                        out.push(FaceEvent::Packet(self.peer, data));
                    }
                }
                Ok(Message::Text(_)) => {
                    let Stage::Open(ws) = &mut self.stage else { return Err(Close::Protocol) };
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
                Err(e) if is_would_block(&e) => return Ok(false),
                Err(e) => return Err(classify(&e)),
            }
        }
        Ok(true)
    }

    /// Writes buffered output, reports what was written or dropped, and sets the interest from
    /// what is left.
    fn flush(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) -> Result<(), Close> {
        let Stage::Open(ws) = &mut self.stage else { return Ok(()) };
        if self.pending {
            match ws.flush() {
                Ok(()) => self.pending = false,
                Err(e) if is_would_block(&e) => {}
                Err(e) => return Err(classify(&e)),
            }
        }
        self.backlog.report(self.peer, !self.pending, out);
        if self.pending != self.writable_interest {
            let interest =
                if self.pending { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            registry.reregister(ws.get_mut().socket(), self.token, interest).map_err(|_| Close::Io)?;
            self.writable_interest = self.pending;
        }
        Ok(())
    }

    /// Queues one packet; `Err` means the connection is broken.
    fn send(&mut self, pkt: &[u8], stats: &mut FaceStats) -> Result<(), Close> {
        let (Stage::Open(ws), false) = (&mut self.stage, matches!(self.noise, Noise::Handshake(_))) else {
            stats.drop_no_peer += 1;
            return Ok(());
        };
        let msg = match &mut self.noise {
            Noise::Link(link) => {
                let mut sealed = Vec::with_capacity(MAX_SEALED);
                if link.seal_into(pkt, &mut sealed).is_err() {
                    stats.drop_size_out += 1;
                    return Ok(());
                }
                sealed
            }
            _ => pkt.to_vec(),
        };
        match ws.write(Message::binary(msg)) {
            Ok(()) => {}
            Err(tungstenite::Error::WriteBufferFull(_)) => {
                // Refused unsent: a secure link takes the nonce back, or the peer would fail
                // to open every later message.
                if let Noise::Link(link) = &mut self.noise {
                    link.retract();
                }
                stats.drop_queue_full += 1;
                self.backlog.dropped += pkt.len();
                self.pending = true;
                return Ok(());
            }
            Err(e) if is_would_block(&e) => {}
            Err(e) => return Err(classify(&e)),
        }
        stats.packets_out += 1;
        stats.bytes_out += pkt.len() as u64;
        self.bytes_out += pkt.len() as u64;
        self.backlog.unflushed += pkt.len();
        self.pending = true;
        Ok(())
    }

    /// Best effort: tells an open peer why we are about to drop it.
    fn goodbye(&mut self, code: CloseCode, reason: &'static str) {
        if let Stage::Open(ws) = &mut self.stage {
            let _ = ws.close(Some(CloseFrame { code, reason: reason.into() }));
            let _ = ws.flush();
        }
    }

    fn deregister(&mut self, registry: &Registry) {
        let stream = match &mut self.stage {
            Stage::Connecting(s, ..)
            | Stage::Sniff(s)
            | Stage::Upgrade(s)
            | Stage::HttpReply(s, ..)
            | Stage::Linger(s, _) => s,
            Stage::ClientHs(mid) => mid.get_mut().get_mut().socket(),
            Stage::ServerHs(mid) => mid.get_mut().get_mut().socket(),
            Stage::Open(ws) => ws.get_mut().socket(),
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
        Close::Idle => stats.closed_idle += 1,
        Close::Evicted => stats.evicted += 1,
        Close::Http => {}
    }
}

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
            stats: FaceStats::default(),
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
    fn take_slot(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) -> Option<usize> {
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

    /// Stops reacting to the listener for a while; [`Face::on_deadline`] resumes.
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

    fn accept_all(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) {
        if !self.accepting() {
            return;
        }
        loop {
            let (mut stream, from) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if face::interrupted(&e) || e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) if face::would_block(&e) => return,
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
            let token = face::token(self.index, slot + 1);
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
    fn drive(&mut self, registry: &Registry, slot: usize, out: &mut Vec<FaceEvent>) {
        let Some(Some(conn)) = self.conns.get_mut(slot) else { return };
        let was_unread = conn.unread;
        match conn.drive(registry, &self.cfg, &mut self.stats, out) {
            Ok(()) if conn.unread && !was_unread => self.unread.push((Instant::now(), slot, conn.peer)),
            Ok(()) => {}
            Err(why) => self.close(registry, slot, why, out),
        }
    }

    fn close(&mut self, registry: &Registry, slot: usize, why: Close, out: &mut Vec<FaceEvent>) {
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
            Close::Protocol | Close::Io | Close::Http => {}
        }
        conn.deregister(registry);
        count_close(&mut self.stats, why);
        if conn.is_open() {
            out.push(FaceEvent::Down(conn.peer));
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

    fn flush(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) {
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

    fn stats(&self) -> &FaceStats {
        &self.stats
    }

    fn next_deadline(&self) -> Option<Instant> {
        let handshake = self.handshakes.front().map(|(at, _, _)| *at);
        let unread = self.unread.iter().map(|(at, _, _)| *at).min();
        [handshake, self.idle_deadline(), self.paused_until, unread].into_iter().flatten().min()
    }

    fn on_deadline(&mut self, registry: &Registry, now: Instant, out: &mut Vec<FaceEvent>) {
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
            match registry.register(&mut self.listener, face::token(self.index, LISTENER), Interest::READABLE)
            {
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

/// Error from [`WsClient::new`]: the URL is not a usable `ws://` or `wss://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadUrl(pub String);

impl std::fmt::Display for BadUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a ws://, wss://, noise+ws:// or noise+wss:// URL: {}", self.0)
    }
}

/// Error from [`WsClient::trust_roots`]: a certificate that cannot serve as a trust anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRoot(pub String);

impl std::fmt::Display for BadRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unusable root certificate: {}", self.0)
    }
}

impl std::error::Error for BadRoot {}

/// TLS settings of a client: the *ring* provider, TLS 1.2 and 1.3, and as trust anchors the
/// built-in Mozilla roots plus `extra`.
fn tls_config(extra: &[CertificateDer<'static>]) -> Result<Arc<rustls::ClientConfig>, BadRoot> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra {
        roots.add(cert.clone()).map_err(|e| BadRoot(e.to_string()))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BadRoot(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

impl std::error::Error for BadUrl {}

/// Token of the client's connection within its face range.
const CLIENT_CONN: usize = 1;

/// The URL scheme prefix that asks for a secure link: `noise+ws://` and `noise+wss://`.
pub const NOISE_SCHEME_PREFIX: &str = "noise+";

/// A websocket client face: one connection to one `ws://host:port/path` or
/// `wss://host:port/path` URL, re-established with backoff after failures (the main loop
/// calls [`Face::on_deadline`] at [`Face::next_deadline`]). With `noise+` in front of the
/// scheme the link is secure (see the module documentation and [`WsClient::set_secure`]).
pub struct WsClient {
    index: usize,
    cfg: WsConfig,
    /// The URL as given, for logs.
    url: String,
    /// The websocket URL (without `noise+`).
    target: String,
    /// The URL asks for a secure link.
    wants_secure: bool,
    /// The key and trust list of secure links.
    secure: Option<Arc<SecureConfig>>,
    tls: Arc<rustls::ClientConfig>,
    backoff: Backoff,
    delay: Duration,
    conn: Option<Conn>,
    broken: Option<Close>,
    next_reconnect: Option<Instant>,
    /// When the connection stopped reading at [`MAX_READ_PER_TURN`]; it is read again then.
    unread_since: Option<Instant>,
    serial: u64,
    stats: FaceStats,
}

impl WsClient {
    /// A client for `url` using token range `index`. Nothing happens before
    /// [`Face::register`], which starts the first connection attempt.
    pub fn new(index: usize, url: &str, cfg: WsConfig, backoff: Backoff) -> Result<WsClient, BadUrl> {
        let (target, wants_secure) = match url.strip_prefix(NOISE_SCHEME_PREFIX) {
            Some(rest) => (rest, true),
            None => (url, false),
        };
        let req = target.into_client_request().map_err(|_| BadUrl(url.to_string()))?;
        if !matches!(req.uri().scheme_str(), Some("ws" | "wss")) || req.uri().host().is_none() {
            return Err(BadUrl(url.to_string()));
        }
        Ok(WsClient {
            index,
            cfg,
            url: url.to_string(),
            target: target.to_string(),
            wants_secure,
            secure: None,
            tls: tls_config(&[]).map_err(|e| BadUrl(format!("{url} ({e})")))?,
            backoff,
            delay: backoff.initial,
            conn: None,
            broken: None,
            next_reconnect: None,
            unread_since: None,
            serial: 0,
            stats: FaceStats::default(),
        })
    }

    /// Trusts `roots` (DER certificates) for `wss://`, besides the built-in Mozilla roots: for
    /// a pub with a private or self-signed certificate. Applies from the next connection on.
    pub fn trust_roots(&mut self, roots: &[CertificateDer<'static>]) -> Result<(), BadRoot> {
        self.tls = tls_config(roots)?;
        Ok(())
    }

    /// The key and trust list for a `noise+` URL's secure link; applies from the next
    /// connection on. Without it such a client cannot connect (each attempt fails and is
    /// logged).
    pub fn set_secure(&mut self, noise: Arc<SecureConfig>) {
        self.secure = Some(noise);
    }

    /// Whether the URL asks for a secure link (`noise+ws://`, `noise+wss://`).
    pub fn wants_secure(&self) -> bool {
        self.wants_secure
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
        let mut req = self.target.as_str().into_client_request().map_err(io::Error::other)?;
        let noise = match (self.wants_secure, &self.secure) {
            (false, _) => Noise::Plain,
            (true, Some(noise)) => {
                req.headers_mut()
                    .insert("Sec-WebSocket-Protocol", SUBPROTOCOL.parse().map_err(io::Error::other)?);
                Noise::Wanted(Arc::clone(noise))
            }
            (true, None) => return Err(io::Error::other("a noise+ URL needs a secure key (set_secure)")),
        };
        let host = req.uri().host().unwrap_or_default().trim_matches(|c| c == '[' || c == ']').to_string();
        let secure = req.uri().scheme_str() == Some("wss");
        let port = req.uri().port_u16().unwrap_or(if secure { 443 } else { 80 });
        let tls = secure.then(|| Arc::clone(&self.tls));
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
            stage: Stage::Connecting(stream, Box::new(req), tls),
            writable_interest: true,
            pending: false,
            backlog: Backlog::default(),
            last_rx: Instant::now(),
            ip: None,
            unread: false,
            addr: Some(addr),
            since: Instant::now(),
            bytes_in: 0,
            bytes_out: 0,
            noise,
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

    fn drive(&mut self, registry: &Registry, out: &mut Vec<FaceEvent>) {
        let Some(conn) = &mut self.conn else { return };
        let was_open = conn.is_open();
        match conn.drive(registry, &self.cfg, &mut self.stats, out) {
            Ok(()) => {
                if !was_open && conn.is_open() {
                    self.delay = self.backoff.initial;
                }
                self.unread_since = match (conn.unread, self.unread_since) {
                    (false, _) => None,
                    (true, since) => since.or_else(|| Some(Instant::now())),
                };
            }
            Err(why) => self.close(registry, why, out),
        }
    }

    fn close(&mut self, registry: &Registry, why: Close, out: &mut Vec<FaceEvent>) {
        self.unread_since = None;
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
        self.drive(registry, out);
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
            (None, Some(conn)) => conn.flush(registry, out),
            (None, None) => Ok(()),
        };
        if let Err(why) = result {
            self.close(registry, why, out);
        }
    }

    fn peers(&self) -> Vec<PeerId> {
        self.conn.iter().filter(|c| c.is_open()).map(|c| c.peer).collect()
    }

    fn kind_name(&self) -> &'static str {
        "ws-client"
    }

    fn peer_info(&self) -> Vec<PeerInfo> {
        self.conn.iter().filter(|c| c.is_open()).map(Conn::info).collect()
    }

    fn peer_addr(&self, peer: PeerId) -> Option<String> {
        self.conn.as_ref().filter(|c| c.peer == peer).and_then(|c| c.addr).map(|a| a.to_string())
    }

    fn stats(&self) -> &FaceStats {
        &self.stats
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.next_reconnect, self.unread_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_deadline(&mut self, registry: &Registry, now: Instant, out: &mut Vec<FaceEvent>) {
        if self.conn.is_none() && self.next_reconnect.is_some_and(|t| t <= now) {
            self.try_connect(registry, now);
        }
        if self.unread_since.is_some_and(|t| t <= now) {
            self.unread_since = None;
            self.drive(registry, out);
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
