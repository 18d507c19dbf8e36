//! One websocket connection, server or client side: the opening handshake (websocket, then
//! Noise for a secure link), message framing, and the output a peer has not taken yet.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The byte stream under a websocket: the TCP socket itself, or (client only) TLS over it.
///
/// The TLS state (about 1 KiB) is boxed, so that plain connections, which are all of the
/// server's, stay as small as they were without TLS (tungstenite's own `MaybeTlsStream` holds
/// it inline and would make every server connection 1 KiB larger).
pub(super) enum Stream {
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
pub(super) enum Stage {
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
pub(super) struct Negotiate {
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
pub(super) fn refuse() -> ErrorResponse {
    let mut resp =
        ErrorResponse::new(Some(format!("secure link required: Sec-WebSocket-Protocol: {SUBPROTOCOL}\n")));
    *resp.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
    resp
}

/// The secure-link state of a connection.
pub(super) enum Noise {
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
pub(super) struct Conn {
    pub(super) peer: PeerId,
    pub(super) token: Token,
    pub(super) stage: Stage,
    /// Current registration includes WRITABLE.
    pub(super) writable_interest: bool,
    /// Output may be waiting in tungstenite's write buffer.
    pub(super) pending: bool,
    /// Packet bytes queued since the write buffer was last empty, and drops to report.
    pub(super) backlog: Backlog,
    /// When the last packet arrived (the accept or connect before the first).
    pub(super) last_rx: Instant,
    /// Server only: the source address as counted by the per-address limit.
    pub(super) ip: Option<IpAddr>,
    /// Reading stopped at [`MAX_READ_PER_TURN`]: more input may wait (in the socket or in
    /// tungstenite's buffer) although no readiness event will say so.
    pub(super) unread: bool,
    /// The other end's address, where known.
    pub(super) addr: Option<SocketAddr>,
    /// When the connection opened (accepted or connected before that).
    pub(super) since: Instant,
    /// Bytes of packets received and sent.
    pub(super) bytes_in: u64,
    pub(super) bytes_out: u64,
    /// Plain or secure, and how far a secure link got.
    pub(super) noise: Noise,
}

/// Most bytes read and discarded from a client after its HTTP answer was written.
pub(super) const MAX_LINGER: usize = 64 * 1024;

impl Conn {
    /// The connection for logs: the remote address when known, else the peer id.
    pub(super) fn who(&self) -> String {
        self.addr.map_or_else(|| self.peer.to_string(), |a| format!("peer {a}"))
    }

    /// Whether packets flow: the websocket is open and a secure link's handshake is done.
    pub(super) fn is_open(&self) -> bool {
        matches!(self.stage, Stage::Open(_)) && !matches!(self.noise, Noise::Handshake(_))
    }

    /// Whether the websocket itself is open (a secure link may still be handshaking).
    pub(super) fn ws_open(&self) -> bool {
        matches!(self.stage, Stage::Open(_))
    }

    /// Whether this is a plain HTTP exchange rather than a (would-be) websocket.
    pub(super) fn is_http(&self) -> bool {
        matches!(self.stage, Stage::Sniff(_) | Stage::HttpReply(..) | Stage::Linger(..))
    }

    pub(super) fn info(&self) -> PeerInfo {
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
    pub(super) fn serve_http(
        &mut self,
        scratch: &mut [u8],
        status: Option<&Status>,
        stats: &mut TransportStats,
        index: usize,
    ) -> Result<(), Close> {
        loop {
            match mem::replace(&mut self.stage, Stage::Gone) {
                Stage::Sniff(mut stream) => {
                    let head = scratch.get_mut(..http::MAX_HEAD).ok_or(Close::Io)?;
                    let n = match stream.peek(head) {
                        Ok(0) => return Err(Close::Io),
                        Ok(n) => n,
                        Err(e) if transport::interrupted(&e) => {
                            self.stage = Stage::Sniff(stream);
                            continue;
                        }
                        Err(e) if transport::would_block(&e) => {
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
                                    Err(e) if transport::interrupted(&e) => {}
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
                            Err(e) if transport::interrupted(&e) => {}
                            Err(e) if transport::would_block(&e) => {
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
                        Err(e) if transport::interrupted(&e) => {}
                        Err(e) if transport::would_block(&e) => {
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
    pub(super) fn drive(
        &mut self,
        registry: &Registry,
        cfg: &WsConfig,
        stats: &mut TransportStats,
        out: &mut Vec<TransportEvent>,
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
            out.push(TransportEvent::Up(self.peer));
        }
        self.unread = self.read_all(cfg, stats, out)?;
        self.flush(registry, out)
    }

    /// Right after the websocket opened: begins the Noise handshake of a secure link (the
    /// client writes its first message), or settles on a plain link.
    pub(super) fn start_noise(&mut self) -> Result<(), Close> {
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
    pub(super) fn send_handshake(&mut self) -> Result<(), Close> {
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
    pub(super) fn step_handshake(&mut self, msg: &[u8]) -> Result<(), Close> {
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
    pub(super) fn advance_handshake(&mut self, cfg: &WsConfig) -> Result<bool, Close> {
        let opened = match mem::replace(&mut self.stage, Stage::Gone) {
            Stage::Connecting(stream, request, tls) => {
                if stream.take_error().map_err(|_| Close::Io)?.is_some() {
                    return Err(Close::Io);
                }
                match stream.peer_addr() {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotConnected || transport::would_block(&e) => {
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
    pub(super) fn check_subprotocol(
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
    pub(super) fn client_failed(&self, e: &tungstenite::Error) -> Close {
        let why = classify(e);
        if why == Close::Protocol {
            let to = self.addr.map_or_else(|| "?".to_string(), |a| a.to_string());
            log::info!("ws client: handshake with {to} failed: {e}");
        }
        why
    }

    /// Reads until the socket would block or [`MAX_READ_PER_TURN`] messages were read; returns
    /// true in the second case (more may be waiting).
    pub(super) fn read_all(
        &mut self,
        cfg: &WsConfig,
        stats: &mut TransportStats,
        out: &mut Vec<TransportEvent>,
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
                        out.push(TransportEvent::Packet(self.peer, data));
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
    pub(super) fn flush(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) -> Result<(), Close> {
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
    pub(super) fn send(&mut self, pkt: &[u8], stats: &mut TransportStats) -> Result<(), Close> {
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
    pub(super) fn goodbye(&mut self, code: CloseCode, reason: &'static str) {
        if let Stage::Open(ws) = &mut self.stage {
            let _ = ws.close(Some(CloseFrame { code, reason: reason.into() }));
            let _ = ws.flush();
        }
    }

    pub(super) fn deregister(&mut self, registry: &Registry) {
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
