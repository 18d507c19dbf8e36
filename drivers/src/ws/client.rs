//! The dialling side: one `ws://`, `wss://` or `noise+` URL, TLS through rustls, and
//! reconnecting with exponential backoff.

#[allow(clippy::wildcard_imports)]
use super::*;

#[allow(clippy::wildcard_imports)]
use super::conn::*;

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
/// calls [`Transport::on_deadline`] at [`Transport::next_deadline`]). With `noise+` in front of the
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
    stats: TransportStats,
    /// Dial once: no reconnect after the connection ends or fails (see [`WsClient::one_shot`]).
    one_shot: bool,
    /// A one-shot client whose connection ended; whether it ever opened.
    ended: Option<bool>,
    /// The current connection opened.
    opened: bool,
}

impl WsClient {
    /// A client for `url` using token range `index`. Nothing happens before
    /// [`Transport::register`], which starts the first connection attempt.
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
            stats: TransportStats::default(),
            one_shot: false,
            ended: None,
            opened: false,
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

    /// Makes this client dial once (a mesh link): after a failed attempt or a closed connection
    /// it stays closed, and [`Transport::ended`] says how it went.
    pub fn one_shot(mut self) -> WsClient {
        self.one_shot = true;
        self
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
        let token = transport::token(self.index, CLIENT_CONN);
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
        if self.one_shot {
            self.ended = Some(self.opened);
            return;
        }
        self.next_reconnect = Some(now + self.delay);
        self.delay = (self.delay * 2).min(self.backoff.max);
    }

    fn drive(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) {
        let Some(conn) = &mut self.conn else { return };
        let was_open = conn.is_open();
        match conn.drive(registry, &self.cfg, &mut self.stats, out) {
            Ok(()) => {
                if !was_open && conn.is_open() {
                    self.delay = self.backoff.initial;
                    self.opened = true;
                }
                self.unread_since = match (conn.unread, self.unread_since) {
                    (false, _) => None,
                    (true, since) => since.or_else(|| Some(Instant::now())),
                };
            }
            Err(why) => self.close(registry, why, out),
        }
    }

    fn close(&mut self, registry: &Registry, why: Close, out: &mut Vec<TransportEvent>) {
        self.unread_since = None;
        if let Some(mut conn) = self.conn.take() {
            conn.deregister(registry);
            count_close(&mut self.stats, why);
            if conn.is_open() {
                out.push(TransportEvent::Down(conn.peer));
            }
        }
        self.schedule(Instant::now());
    }
}

impl Transport for WsClient {
    fn register(&mut self, registry: &Registry) -> io::Result<()> {
        self.try_connect(registry, Instant::now());
        Ok(())
    }

    fn on_ready(&mut self, registry: &Registry, _event: &Event, out: &mut Vec<TransportEvent>) {
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

    fn flush(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) {
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

    fn stats(&self) -> &TransportStats {
        &self.stats
    }

    fn next_deadline(&self) -> Option<Instant> {
        match (self.next_reconnect, self.unread_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn ended(&self) -> Option<bool> {
        self.ended
    }

    fn hang_up(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) {
        self.close(registry, Close::Local, out);
    }

    fn on_deadline(&mut self, registry: &Registry, now: Instant, out: &mut Vec<TransportEvent>) {
        if self.conn.is_none() && self.next_reconnect.is_some_and(|t| t <= now) {
            self.try_connect(registry, now);
        }
        if self.unread_since.is_some_and(|t| t <= now) {
            self.unread_since = None;
            self.drive(registry, out);
        }
    }
}
