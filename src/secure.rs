//! Secure links (cargo feature `secure`): the handshake and transport state machines that make
//! one link between two peers authenticated and encrypted, sans-IO like the rest of the crate.
//!
//! This module owns the Noise protocol instance of tinySSB's secure links
//! ([`NOISE_PARAMS`], the XX pattern over X25519, ChaCha20-Poly1305 and BLAKE2s, through the
//! `snow` crate), the static key of a node ([`StaticKey`]), the optional binding of that key to
//! an ed25519 feed key ([`FeedBinding`]), which peers a node accepts ([`Trust`]), the
//! handshake ([`Handshake`]) and the transport that follows it ([`Link`]). It owns no framing:
//! a driver carries each handshake message and each sealed packet in one message of an ordered,
//! reliable transport (one websocket binary message), and negotiates *whether* a link is secure
//! outside of it (the websocket subprotocol [`SUBPROTOCOL`]); SPEC.md, section "Secure links",
//! describes the bytes.
//!
//! Nothing here reads a clock, a socket or the operating system's randomness: the 32 bytes the
//! handshake needs for its ephemeral key are passed in ([`Handshake::new`]), so a fixed value
//! gives a reproducible handshake (the known-answer test does exactly that).
//!
//! Identity: a node's static key is an X25519 key of its own, not derived from a feed key. A
//! node that has a feed (the tinySSB app, a user) may prove that it speaks for that feed by
//! sending a [`FeedBinding`] (the feed's ed25519 signature over the static public key) inside
//! the encrypted handshake; a pub without a feed sends an empty payload. Peers are trusted (or
//! not) by their static public key.

use core::cell::Cell;
use core::fmt;
use std::collections::BTreeSet;
use std::sync::Arc;

use snow::params::{DHChoice, NoiseParams};
use snow::resolvers::{CryptoResolver, DefaultResolver};
use snow::types::{Cipher, Dh, Hash, Random};

use crate::crypto::{self, Keypair};
use crate::ids::FeedId;

/// The Noise protocol name of a secure link.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// The prologue both sides mix into the handshake: a peer speaking another version (or
/// another protocol over Noise XX) fails the handshake instead of talking past us.
pub const PROLOGUE: &[u8] = b"tinyssb-noise-v1";

/// The websocket subprotocol (`Sec-WebSocket-Protocol`) that selects a secure link.
pub const SUBPROTOCOL: &str = "tinyssb-noise";

/// Bytes of an X25519 key, public or secret.
pub const KEY_LEN: usize = 32;

/// Bytes the AEAD tag adds to every encrypted message.
pub const TAG_LEN: usize = 16;

/// Largest packet a [`Link`] seals: the faces' packet limit (tinySSB packets are at most 120).
pub const MAX_PACKET: usize = 128;

/// Largest transport message: [`MAX_PACKET`] plus the tag.
pub const MAX_SEALED: usize = MAX_PACKET + TAG_LEN;

/// Largest handshake message we send or accept (the second XX message with a binding is 192
/// bytes).
pub const MAX_HANDSHAKE_MESSAGE: usize = 256;

/// The domain separation in front of the static key in a [`FeedBinding`] signature.
pub const BINDING_CONTEXT: &[u8] = b"tinyssb-noise-v1 static key";

/// Bytes of an encoded [`FeedBinding`]: feed id and signature.
pub const BINDING_LEN: usize = 32 + 64;

/// Why a secure handshake or a transport message failed. Every error ends the link: the driver
/// closes the connection (the underlying transport is ordered and reliable, so an error means
/// tampering, a replay, a bug, or a peer we do not want).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecureError {
    /// `snow` could not build the handshake (it names what); a bug or a broken build.
    Setup(String),
    /// A message longer than the protocol allows; nothing was decrypted.
    TooLong(usize),
    /// An empty packet or handshake message where one with content is due.
    Empty,
    /// A handshake message arrived when it was our turn to write, or after the handshake.
    OutOfTurn,
    /// A message failed to authenticate (tampered, replayed, reordered, or under another key).
    Decrypt,
    /// The peer's handshake payload is neither empty nor a [`FeedBinding`].
    BadPayload,
    /// The peer's [`FeedBinding`] is not a valid signature over its static key.
    BadBinding,
    /// The peer's static key is not in our [`Trust`] list (its public key).
    Untrusted([u8; KEY_LEN]),
    /// The handshake is not finished (or its last message not yet taken for sending).
    NotFinished,
    /// A direction of the link used up its nonces (2^64 - 1 messages).
    Exhausted,
}

impl fmt::Display for SecureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecureError::Setup(why) => write!(f, "noise setup failed: {why}"),
            SecureError::TooLong(n) => write!(f, "message of {n} bytes is too long"),
            SecureError::Empty => write!(f, "empty message"),
            SecureError::OutOfTurn => write!(f, "handshake message out of turn"),
            SecureError::Decrypt => write!(f, "message failed to authenticate"),
            SecureError::BadPayload => write!(f, "handshake payload is neither empty nor a feed binding"),
            SecureError::BadBinding => write!(f, "feed binding does not sign the peer's static key"),
            SecureError::Untrusted(k) => {
                write!(f, "peer static key {} is not trusted", crate::ids::to_hex(k))
            }
            SecureError::NotFinished => write!(f, "handshake not finished"),
            SecureError::Exhausted => write!(f, "the link used up its nonces"),
        }
    }
}

impl std::error::Error for SecureError {}

fn setup(e: &snow::Error) -> SecureError {
    SecureError::Setup(e.to_string())
}

fn params() -> Result<NoiseParams, SecureError> {
    NOISE_PARAMS.parse().map_err(|e| setup(&e))
}

/// A node's long-term X25519 key pair.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticKey {
    secret: [u8; KEY_LEN],
    public: [u8; KEY_LEN],
}

impl fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticKey({})", crate::ids::to_hex(&self.public))
    }
}

impl StaticKey {
    /// The key pair of a 32-byte secret (any 32 bytes; X25519 clamps them). The caller draws
    /// the secret from a good source of randomness once and keeps it.
    pub fn from_secret(secret: [u8; KEY_LEN]) -> Result<StaticKey, SecureError> {
        let mut dh = DefaultResolver
            .resolve_dh(&DHChoice::Curve25519)
            .ok_or_else(|| SecureError::Setup("no X25519".into()))?;
        dh.set(&secret);
        let mut public = [0u8; KEY_LEN];
        public.copy_from_slice(dh.pubkey().get(..KEY_LEN).ok_or_else(|| SecureError::Setup("key".into()))?);
        Ok(StaticKey { secret, public })
    }

    /// The secret half, to store it.
    pub fn secret(&self) -> [u8; KEY_LEN] {
        self.secret
    }

    /// The public half: what peers put in their trust lists.
    pub fn public(&self) -> [u8; KEY_LEN] {
        self.public
    }
}

/// A feed's statement that a static key speaks for it: the feed id and the feed's ed25519
/// signature over [`BINDING_CONTEXT`] ‖ the static public key. Sent encrypted inside the
/// handshake, so only the peer learns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedBinding {
    /// The feed that vouches.
    pub feed: FeedId,
    /// Its signature over [`BINDING_CONTEXT`] ‖ static public key.
    pub signature: [u8; 64],
}

impl FeedBinding {
    /// The binding of `static_public` by the feed of `keypair`.
    pub fn sign(keypair: &Keypair, static_public: &[u8; KEY_LEN]) -> FeedBinding {
        let msg = [BINDING_CONTEXT, static_public.as_slice()].concat();
        FeedBinding { feed: keypair.feed_id(), signature: keypair.sign(&msg) }
    }

    /// Whether the signature is the feed's over `static_public`.
    pub fn verify(&self, static_public: &[u8; KEY_LEN]) -> bool {
        let msg = [BINDING_CONTEXT, static_public.as_slice()].concat();
        crypto::verify(&self.feed, &msg, &self.signature)
    }

    /// The [`BINDING_LEN`] bytes: feed id ‖ signature.
    pub fn encode(&self) -> [u8; BINDING_LEN] {
        let mut out = [0u8; BINDING_LEN];
        let (fid, sig) = out.split_at_mut(32);
        fid.copy_from_slice(&self.feed.0);
        sig.copy_from_slice(&self.signature);
        out
    }

    /// Reads [`FeedBinding::encode`]'s bytes (checks the length only, not the signature).
    pub fn decode(bytes: &[u8]) -> Result<FeedBinding, SecureError> {
        let (fid, sig) = bytes.split_first_chunk::<32>().ok_or(SecureError::BadPayload)?;
        let sig: &[u8; 64] = sig.try_into().map_err(|_| SecureError::BadPayload)?;
        Ok(FeedBinding { feed: FeedId(*fid), signature: *sig })
    }
}

/// Which peers a node completes a handshake with, by their static public key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Trust {
    /// Any peer that completes the handshake (the link is encrypted and the peer's key known,
    /// but anyone may connect).
    #[default]
    Any,
    /// Only these keys; the handshake fails with [`SecureError::Untrusted`] for others.
    Only(BTreeSet<[u8; KEY_LEN]>),
}

impl Trust {
    /// Whether `key` may complete a handshake.
    pub fn allows(&self, key: &[u8; KEY_LEN]) -> bool {
        match self {
            Trust::Any => true,
            Trust::Only(keys) => keys.contains(key),
        }
    }
}

/// A node's secure-link settings: its key, the optional binding it sends, whom it trusts.
#[derive(Clone, Debug)]
pub struct SecureConfig {
    /// The node's static key.
    pub key: StaticKey,
    /// Sent in the handshake if set; it must bind `key` (see [`FeedBinding::sign`]).
    pub binding: Option<FeedBinding>,
    /// Which peers are accepted.
    pub trust: Trust,
}

impl SecureConfig {
    /// Settings with `key`, no binding, trusting any peer.
    pub fn new(key: StaticKey) -> SecureConfig {
        SecureConfig { key, binding: None, trust: Trust::Any }
    }
}

/// Which end of the link: the initiator writes the first handshake message (on websockets, the
/// side that connected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Writes messages 1 and 3.
    Initiator,
    /// Writes message 2.
    Responder,
}

/// What a finished handshake learned about the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The peer's static public key (authenticated by the handshake).
    pub static_key: [u8; KEY_LEN],
    /// The feed that vouched for that key, if the peer sent a (valid) binding.
    pub feed: Option<FeedId>,
}

/// Hands `snow` the caller's entropy, once: the ephemeral key of one handshake is drawn from
/// it. A second draw (there is none in XX) fails instead of repeating bytes.
struct Entropy(Cell<Option<[u8; 32]>>);

struct OneShot(Option<[u8; 32]>);

impl Random for OneShot {
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), snow::Error> {
        let bytes = self.0.take().ok_or(snow::Error::Rng)?;
        let src = bytes.get(..dest.len()).ok_or(snow::Error::Rng)?;
        dest.copy_from_slice(src);
        Ok(())
    }
}

impl CryptoResolver for Entropy {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(OneShot(self.0.take())))
    }

    fn resolve_dh(&self, choice: &DHChoice) -> Option<Box<dyn Dh>> {
        DefaultResolver.resolve_dh(choice)
    }

    fn resolve_hash(&self, choice: &snow::params::HashChoice) -> Option<Box<dyn Hash>> {
        DefaultResolver.resolve_hash(choice)
    }

    fn resolve_cipher(&self, choice: &snow::params::CipherChoice) -> Option<Box<dyn Cipher>> {
        DefaultResolver.resolve_cipher(choice)
    }
}

/// The handshake of one link, as a state machine: feed it the peer's handshake messages
/// ([`Handshake::handle_message`]), send what [`Handshake::poll_transmit`] returns, in order,
/// and once [`Handshake::is_finished`] turn it into a [`Link`].
///
/// The initiator's first message is ready at once. The initiator learns and checks the
/// responder's static key from message 2, before it reveals its own in message 3; the responder
/// learns and checks the initiator's from message 3.
pub struct Handshake {
    hs: Box<snow::HandshakeState>,
    cfg: Arc<SecureConfig>,
    out: Option<Vec<u8>>,
    peer: Option<PeerIdentity>,
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("initiator", &self.hs.is_initiator())
            .field("finished", &self.hs.is_handshake_finished())
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Handshake {
    /// Starts a handshake on `side` with `cfg`; `entropy` must be 32 fresh random bytes (they
    /// become the ephemeral secret key). An initiator's first message is ready to send.
    pub fn new(side: Side, cfg: Arc<SecureConfig>, entropy: [u8; 32]) -> Result<Handshake, SecureError> {
        let resolver = Box::new(Entropy(Cell::new(Some(entropy))));
        let builder = snow::Builder::with_resolver(params()?, resolver)
            .local_private_key(&cfg.key.secret)
            .and_then(|b| b.prologue(PROLOGUE))
            .map_err(|e| setup(&e))?;
        let hs = match side {
            Side::Initiator => builder.build_initiator(),
            Side::Responder => builder.build_responder(),
        }
        .map_err(|e| setup(&e))?;
        let mut me = Handshake { hs: Box::new(hs), cfg, out: None, peer: None };
        if side == Side::Initiator {
            me.write(&[])?;
        }
        Ok(me)
    }

    /// Writes our next handshake message with `payload` into the outbox.
    fn write(&mut self, payload: &[u8]) -> Result<(), SecureError> {
        let mut buf = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = self.hs.write_message(payload, &mut buf).map_err(|e| setup(&e))?;
        buf.truncate(n);
        self.out = Some(buf);
        Ok(())
    }

    /// Our identity payload for messages 2 and 3: the binding, or nothing.
    fn payload(&self) -> Vec<u8> {
        self.cfg.binding.as_ref().map(|b| b.encode().to_vec()).unwrap_or_default()
    }

    /// The next handshake message to send, if any. Send each before reading further.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.take()
    }

    /// Takes one handshake message from the peer. An error ends the handshake (and the link).
    pub fn handle_message(&mut self, msg: &[u8]) -> Result<(), SecureError> {
        if msg.is_empty() {
            return Err(SecureError::Empty);
        }
        if msg.len() > MAX_HANDSHAKE_MESSAGE {
            return Err(SecureError::TooLong(msg.len()));
        }
        if self.hs.is_handshake_finished() || self.hs.is_my_turn() || self.out.is_some() {
            return Err(SecureError::OutOfTurn);
        }
        let mut payload = vec![0u8; MAX_HANDSHAKE_MESSAGE];
        let n = self.hs.read_message(msg, &mut payload).map_err(|_| SecureError::Decrypt)?;
        let payload = payload.get(..n).unwrap_or_default();
        match self.hs.get_remote_static() {
            // Message 1 (responder reading): only an ephemeral key, and no payload.
            None if payload.is_empty() => {}
            None => return Err(SecureError::BadPayload),
            Some(remote) => {
                let key: [u8; KEY_LEN] = remote.try_into().map_err(|_| SecureError::Decrypt)?;
                let feed = match payload.len() {
                    0 => None,
                    BINDING_LEN => {
                        let binding = FeedBinding::decode(payload)?;
                        if !binding.verify(&key) {
                            return Err(SecureError::BadBinding);
                        }
                        Some(binding.feed)
                    }
                    _ => return Err(SecureError::BadPayload),
                };
                if !self.cfg.trust.allows(&key) {
                    return Err(SecureError::Untrusted(key));
                }
                self.peer = Some(PeerIdentity { static_key: key, feed });
            }
        }
        if !self.hs.is_handshake_finished() {
            let payload = self.payload();
            self.write(&payload)?;
        }
        Ok(())
    }

    /// Whether the handshake is complete and its last message (if ours) taken for sending.
    pub fn is_finished(&self) -> bool {
        self.hs.is_handshake_finished() && self.out.is_none()
    }

    /// The peer, once its static key was read and accepted.
    pub fn peer(&self) -> Option<&PeerIdentity> {
        self.peer.as_ref()
    }

    /// The Noise handshake hash so far (after the handshake: a value both sides share that
    /// names this session).
    pub fn handshake_hash(&self) -> &[u8] {
        self.hs.get_handshake_hash()
    }

    /// The transport of a finished handshake.
    pub fn into_link(self) -> Result<Link, SecureError> {
        if !self.is_finished() {
            return Err(SecureError::NotFinished);
        }
        let peer = self.peer.ok_or(SecureError::NotFinished)?;
        let ts = self.hs.into_stateless_transport_mode().map_err(|e| setup(&e))?;
        Ok(Link { ts: Box::new(ts), peer, sent: 0, received: 0 })
    }
}

/// The transport of a secure link: seals each outgoing packet into one message and opens each
/// incoming one, with Noise's counter nonces (one counter per direction, from 0), so a
/// replayed, dropped, reordered or altered message fails to open.
///
/// The counters are kept here rather than in `snow` so that a driver whose transport refuses a
/// sealed message (a full write buffer) can take it back ([`Link::retract`]): the next packet
/// then uses the same nonce, and the receiver, which never saw the refused message, stays in
/// step.
pub struct Link {
    ts: Box<snow::StatelessTransportState>,
    peer: PeerIdentity,
    /// Nonce of the next message sealed.
    sent: u64,
    /// Nonce of the next message opened.
    received: u64,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link").field("peer", &self.peer).finish_non_exhaustive()
    }
}

impl Link {
    /// Who is at the other end.
    pub fn peer(&self) -> &PeerIdentity {
        &self.peer
    }

    /// Seals one packet (1..=[`MAX_PACKET`] bytes) into one transport message, appended to
    /// `out` (the packet's length plus [`TAG_LEN`] bytes).
    pub fn seal_into(&mut self, pkt: &[u8], out: &mut Vec<u8>) -> Result<(), SecureError> {
        if pkt.is_empty() {
            return Err(SecureError::Empty);
        }
        if pkt.len() > MAX_PACKET {
            return Err(SecureError::TooLong(pkt.len()));
        }
        // Noise reserves the last nonce; a link never gets there in practice.
        let next = self.sent.checked_add(1).filter(|n| *n < u64::MAX).ok_or(SecureError::Exhausted)?;
        let start = out.len();
        out.resize(start + pkt.len() + TAG_LEN, 0);
        let tail = out.get_mut(start..).unwrap_or_default();
        match self.ts.write_message(self.sent, pkt, tail) {
            Ok(n) => {
                out.truncate(start + n);
                self.sent = next;
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(setup(&e))
            }
        }
    }

    /// Takes back the message sealed last, which must be discarded unsent (its transport
    /// refused it): the next packet is sealed with its nonce. Sealing the same nonce twice is
    /// safe only because the first message never leaves the node.
    pub fn retract(&mut self) {
        self.sent = self.sent.saturating_sub(1);
    }

    /// Seals one packet into a new transport message.
    pub fn seal(&mut self, pkt: &[u8]) -> Result<Vec<u8>, SecureError> {
        let mut out = Vec::with_capacity(pkt.len() + TAG_LEN);
        self.seal_into(pkt, &mut out)?;
        Ok(out)
    }

    /// Opens one transport message into the packet it carries. Any error ends the link.
    pub fn open(&mut self, msg: &[u8]) -> Result<Vec<u8>, SecureError> {
        if msg.len() > MAX_SEALED {
            return Err(SecureError::TooLong(msg.len()));
        }
        if msg.len() <= TAG_LEN {
            return Err(SecureError::Empty);
        }
        let next = self.received.checked_add(1).filter(|n| *n < u64::MAX).ok_or(SecureError::Exhausted)?;
        let mut out = vec![0u8; msg.len()];
        let n = self.ts.read_message(self.received, msg, &mut out).map_err(|_| SecureError::Decrypt)?;
        out.truncate(n);
        self.received = next;
        Ok(out)
    }
}
