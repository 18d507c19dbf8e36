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
//!
//! The module is split by concern: `conn.rs` is one connection (the opening handshakes,
//! websocket and Noise, and message framing), `server.rs` the listener with its connection
//! limits, and `client.rs` the dialling side with its reconnect backoff and TLS.

mod client;
mod conn;
mod server;

pub use client::{Backoff, BadRoot, BadUrl, ClientState, WsClient, NOISE_SCHEME_PREFIX};
pub use conn::WsSecure;
pub use server::{raise_fd_limit, WsServer};

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

use crate::http::{self, Sniffed};
use crate::status::Status;
use crate::transport::{
    self, Backlog, Dest, PeerId, PeerInfo, Transport, TransportEvent, TransportStats, MAX_TRANSPORT_PACKET,
    PEER_ID_BITS, TOKENS_PER_FACE,
};

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
    /// reported as [`TransportEvent::SendDropped`]). Larger than the engine's per-face output budget,
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
    /// face's user vouches for packets with [`Transport::note_valid`]; garbage does not count); a
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
            max_packet: MAX_TRANSPORT_PACKET,
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
    /// Closed by us on request (a mesh link no longer needed); not counted as a close.
    Local,
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
    matches!(e, tungstenite::Error::Io(io) if transport::would_block(io))
}
fn count_close(stats: &mut TransportStats, why: Close) {
    match why {
        Close::Protocol => stats.closed_protocol += 1,
        Close::Io => stats.closed_io += 1,
        Close::Idle => stats.closed_idle += 1,
        Close::Evicted => stats.evicted += 1,
        Close::Http | Close::Local => {}
    }
}
