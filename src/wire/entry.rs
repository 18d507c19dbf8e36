//! The 120-byte log entry and its derived values: name, DMX, message id, signature check.
//!
//! ```text
//!  0       7   8                                  56                               120
//!  +-------+---+----------------------------------+--------------------------------+
//!  |  DMX  | T |        payload (48 bytes)        |   ed25519 signature (64 bytes)  |
//!  +-------+---+----------------------------------+--------------------------------+
//! ```
//! The name `PFX ‖ fid ‖ u32be(seq) ‖ prev` (66 bytes) is never sent; both sides rebuild it.

use crate::crypto::{sha256_prefix, PublicKey};
use crate::ids::{Dmx, FeedId, MsgId, Seq};
use crate::wire::PFX;

/// Length of an entry packet.
pub const ENTRY_LEN: usize = 120;
/// Length of an entry's payload.
pub const PAYLOAD_LEN: usize = 48;
/// Length of an entry's name.
pub const NAME_LEN: usize = 66;

/// The entry types this crate understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryType {
    /// Type 0: 48 bytes of content in the payload.
    Plain48,
    /// Type 1: content length, content head and a pointer to a sidechain of chunks.
    Chain20,
}

impl EntryType {
    /// The type byte on the wire.
    pub fn byte(self) -> u8 {
        match self {
            EntryType::Plain48 => 0,
            EntryType::Chain20 => 1,
        }
    }

    /// The type for a wire type byte, if known.
    pub fn from_byte(b: u8) -> Option<EntryType> {
        match b {
            0 => Some(EntryType::Plain48),
            1 => Some(EntryType::Chain20),
            _ => None,
        }
    }
}

/// Why an entry packet was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryError {
    /// The packet is not exactly 120 bytes.
    Length(usize),
    /// The DMX does not match the expected next entry of the feed.
    Dmx,
    /// The feed id is not a valid ed25519 public key.
    BadKey,
    /// The signature does not verify.
    Signature,
}

impl core::fmt::Display for EntryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EntryError::Length(n) => write!(f, "entry must be 120 bytes, got {n}"),
            EntryError::Dmx => f.write_str("entry DMX does not match the feed's next entry"),
            EntryError::BadKey => f.write_str("feed id is not a valid ed25519 key"),
            EntryError::Signature => f.write_str("entry signature does not verify"),
        }
    }
}

impl std::error::Error for EntryError {}

/// The name of entry `seq` of feed `fid` whose predecessor has id `prev`.
pub fn entry_name(fid: &FeedId, seq: Seq, prev: &MsgId) -> [u8; NAME_LEN] {
    let mut name = [0u8; NAME_LEN];
    name[..10].copy_from_slice(PFX);
    name[10..42].copy_from_slice(&fid.0);
    name[42..46].copy_from_slice(&seq.0.to_be_bytes());
    name[46..66].copy_from_slice(&prev.0);
    name
}

/// The DMX of entry `seq` of feed `fid`: what a receiver expects the packet to start with.
pub fn entry_dmx(fid: &FeedId, seq: Seq, prev: &MsgId) -> Dmx {
    Dmx(sha256_prefix(&[&entry_name(fid, seq, prev)]))
}

/// A 120-byte entry packet. Holding one says nothing about its validity; see [`Entry::verify`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Entry(pub [u8; ENTRY_LEN]);

impl core::fmt::Debug for Entry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Entry(dmx={}, type={})", self.dmx(), self.type_byte())
    }
}

impl Entry {
    /// Copies an entry out of a packet of exactly 120 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Entry, EntryError> {
        <[u8; ENTRY_LEN]>::try_from(bytes).map(Entry).map_err(|_| EntryError::Length(bytes.len()))
    }

    /// Signs a new entry: `seq` of `fid` after `prev`, with the given type byte and payload.
    pub fn sign(
        key: &crate::crypto::Keypair,
        seq: Seq,
        prev: &MsgId,
        type_byte: u8,
        payload: &[u8; PAYLOAD_LEN],
    ) -> Entry {
        let fid = key.feed_id();
        let name = entry_name(&fid, seq, prev);
        let mut wire = [0u8; ENTRY_LEN];
        wire[..7].copy_from_slice(&sha256_prefix::<7>(&[&name]));
        wire[7] = type_byte;
        wire[8..56].copy_from_slice(payload);
        let mut signed = [0u8; NAME_LEN + 56];
        signed[..NAME_LEN].copy_from_slice(&name);
        signed[NAME_LEN..].copy_from_slice(&wire[..56]);
        wire[56..].copy_from_slice(&key.sign(&signed));
        Entry(wire)
    }

    /// The DMX (first 7 bytes).
    pub fn dmx(&self) -> Dmx {
        let mut d = [0u8; 7];
        d.copy_from_slice(&self.0[..7]);
        Dmx(d)
    }

    /// The type byte.
    pub fn type_byte(&self) -> u8 {
        self.0[7]
    }

    /// The entry type, if known.
    pub fn entry_type(&self) -> Option<EntryType> {
        EntryType::from_byte(self.type_byte())
    }

    /// The 48-byte payload.
    pub fn payload(&self) -> &[u8] {
        &self.0[8..56]
    }

    /// The 64-byte signature.
    pub fn signature(&self) -> [u8; 64] {
        let mut s = [0u8; 64];
        s.copy_from_slice(&self.0[56..]);
        s
    }

    /// The signed message: `name ‖ wire[0..56]` (122 bytes).
    pub fn signed_message(&self, fid: &FeedId, seq: Seq, prev: &MsgId) -> [u8; NAME_LEN + 56] {
        let mut m = [0u8; NAME_LEN + 56];
        m[..NAME_LEN].copy_from_slice(&entry_name(fid, seq, prev));
        m[NAME_LEN..].copy_from_slice(&self.0[..56]);
        m
    }

    /// The message id: first 20 bytes of SHA-256(name ‖ wire). The next entry's `prev`.
    pub fn msg_id(&self, fid: &FeedId, seq: Seq, prev: &MsgId) -> MsgId {
        MsgId(sha256_prefix(&[&entry_name(fid, seq, prev), &self.0]))
    }

    /// Checks that this is entry `seq` of `fid` after `prev`: DMX first, then the signature.
    pub fn verify(&self, key: &PublicKey, fid: &FeedId, seq: Seq, prev: &MsgId) -> Result<(), EntryError> {
        if self.dmx() != entry_dmx(fid, seq, prev) {
            return Err(EntryError::Dmx);
        }
        if !key.verify(&self.signed_message(fid, seq, prev), &self.signature()) {
            return Err(EntryError::Signature);
        }
        Ok(())
    }
}

/// Bytes of a chain20 payload before the 20-byte pointer: varint length plus content head.
pub const CHAIN20_HEAD: usize = 28;

/// The decoded payload of a chain20 entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain20 {
    /// Total content length in bytes.
    pub content_len: u64,
    /// Bytes used by the length varint (`s`); the entry holds `min(len, 28 - s)` content bytes.
    pub varint_len: usize,
    /// Hash of the first chunk, or [`HashPtr::NULL`](crate::ids::HashPtr::NULL) if the content
    /// fits in the entry.
    pub first: crate::ids::HashPtr,
}

impl Chain20 {
    /// Parses a chain20 payload; `None` if the length varint is malformed or too long for the payload.
    pub fn parse(payload: &[u8]) -> Option<Chain20> {
        if payload.len() != PAYLOAD_LEN {
            return None;
        }
        let (content_len, varint_len) = crate::wire::varint::decode(payload.get(..CHAIN20_HEAD)?).ok()?;
        let first = crate::ids::HashPtr::from_slice(payload.get(CHAIN20_HEAD..)?).ok()?;
        Some(Chain20 { content_len, varint_len, first })
    }

    /// Content bytes held in the entry itself.
    pub fn head_len(&self) -> usize {
        let room = CHAIN20_HEAD - self.varint_len;
        usize::try_from(self.content_len).map_or(room, |len| len.min(room))
    }

    /// Number of sidechain chunks: `ceil((len - (28 - s)) / 100)`, at least 0.
    pub fn chunk_count(&self) -> u64 {
        let room = (CHAIN20_HEAD - self.varint_len) as u64;
        self.content_len.saturating_sub(room).div_ceil(crate::wire::chunk::CHUNK_CONTENT as u64)
    }
}
