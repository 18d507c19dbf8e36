//! GOset packets: the CLAIM and NOVELTY messages nodes exchange to agree on their set of feed ids.
//!
//! Every GOset packet starts with the constant [`goset_dmx`], followed by a one-byte type:
//!
//! ```text
//! CLAIM (105 bytes):
//!  0       7   8                40                72                104     105
//!  +-------+---+----------------+-----------------+-----------------+-------+
//!  |  DMX  |'c'|   lo (32 B)    |    hi (32 B)    |   xor (32 B)    | count |
//!  +-------+---+----------------+-----------------+-----------------+-------+
//!
//! NOVELTY (40 bytes):
//!  0       7   8                40
//!  +-------+---+----------------+
//!  |  DMX  |'n'|   key (32 B)   |
//!  +-------+---+----------------+
//! ```
//! Any other length or type byte is rejected; the set logic lives in [`crate::goset`].
//!
//! # The wide format (an extension)
//!
//! A claim's count is one byte, so the classic format cannot describe a set of more than 255
//! keys. Between nodes of this implementation the same two messages also travel in a *wide*
//! format: the DMX is [`wide_dmx`] instead, and a claim's count is four bytes, big-endian
//! (108-byte packets). Deployed peers do not know that DMX and drop such packets unread, which
//! is how a node finds out that a peer speaks it: see [`crate::goset::peer`].

use core::fmt;

use crate::ids::{Dmx, FeedId};

/// The ASCII string whose SHA-256 prefix is the GOset DMX (no `PFX`).
pub const GOSET_DMX_INPUT: &[u8] = b"tinySSB-0.1 GOset 1";
/// Type byte of a CLAIM.
pub const CLAIM_TYPE: u8 = b'c';
/// Type byte of a NOVELTY.
pub const NOVELTY_TYPE: u8 = b'n';
/// Length of a CLAIM after the DMX.
pub const CLAIM_LEN: usize = 98;
/// Length of a NOVELTY after the DMX.
pub const NOVELTY_LEN: usize = 33;
/// The ASCII string whose SHA-256 prefix is the wide-format GOset DMX (an extension).
pub const WIDE_DMX_INPUT: &[u8] = b"tinyssb-rs GOset wide 1";
/// Length of a wide-format CLAIM after the DMX (a four-byte count).
pub const WIDE_CLAIM_LEN: usize = 101;

/// The two encodings of GOset messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// The deployed format: [`goset_dmx`], one-byte counts (sets of at most 255 keys).
    Classic,
    /// The extension between nodes of this implementation: [`wide_dmx`], four-byte counts.
    Wide,
}

impl Format {
    /// The DMX packets of this format start with.
    pub fn dmx(self) -> Dmx {
        match self {
            Format::Classic => goset_dmx(),
            Format::Wide => wide_dmx(),
        }
    }

    fn claim_len(self) -> usize {
        match self {
            Format::Classic => CLAIM_LEN,
            Format::Wide => WIDE_CLAIM_LEN,
        }
    }
}

/// The DMX every GOset packet starts with: `H("tinySSB-0.1 GOset 1")[0..7]`.
pub fn goset_dmx() -> Dmx {
    // Every incoming packet is compared with it: a constant, checked against the hash in tests.
    Dmx([0x61, 0x3d, 0xfa, 0x70, 0xc4, 0x7a, 0xba])
}

/// The DMX of wide-format GOset packets: `H("tinyssb-rs GOset wide 1")[0..7]`.
pub fn wide_dmx() -> Dmx {
    Dmx([0xc7, 0xce, 0xbe, 0x52, 0x12, 0x1a, 0x46])
}

/// A claim about a span of a sorted key set: its first and last key, the XOR of all its keys and
/// how many keys it holds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Claim {
    /// The smallest key of the span.
    pub lo: FeedId,
    /// The largest key of the span.
    pub hi: FeedId,
    /// The XOR of every key in the span.
    pub xor: [u8; 32],
    /// The number of keys in the span (at most 255 in the classic format).
    pub count: u32,
}

/// A decoded GOset message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum GosetMsg {
    /// "I hold `count` keys from `lo` to `hi` whose XOR is `xor`."
    Claim(Claim),
    /// "Here is a key you may not have."
    Novelty(FeedId),
}

/// Why a GOset packet was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GosetError {
    /// The packet does not start with the GOset DMX (or is shorter than a DMX).
    Dmx,
    /// The body is empty.
    Empty,
    /// The type byte is neither `c` nor `n`.
    UnknownType(u8),
    /// The body length does not fit its type byte.
    Length {
        /// The type byte.
        typ: u8,
        /// The body length (after the DMX) that was received.
        actual: usize,
    },
}

impl fmt::Display for GosetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GosetError::Dmx => f.write_str("packet does not carry the GOset DMX"),
            GosetError::Empty => f.write_str("empty GOset message"),
            GosetError::UnknownType(t) => write!(f, "unknown GOset message type 0x{t:02x}"),
            GosetError::Length { typ, actual } => {
                let expected = if *typ == CLAIM_TYPE { "98 (101 wide)" } else { "33" };
                write!(f, "GOset message '{}' must be {expected} bytes, got {actual}", char::from(*typ))
            }
        }
    }
}

impl std::error::Error for GosetError {}

fn key_at(body: &[u8], at: usize) -> FeedId {
    let mut k = [0u8; 32];
    if let Some(src) = body.get(at..at + 32) {
        k.copy_from_slice(src);
    }
    FeedId(k)
}

impl GosetMsg {
    /// Decodes a classic message body (the bytes after the DMX).
    pub fn decode(body: &[u8]) -> Result<GosetMsg, GosetError> {
        GosetMsg::decode_as(Format::Classic, body)
    }

    /// Decodes a message body in `format`.
    pub fn decode_as(format: Format, body: &[u8]) -> Result<GosetMsg, GosetError> {
        let (&typ, _) = body.split_first().ok_or(GosetError::Empty)?;
        let expected = match typ {
            CLAIM_TYPE => format.claim_len(),
            NOVELTY_TYPE => NOVELTY_LEN,
            other => return Err(GosetError::UnknownType(other)),
        };
        if body.len() != expected {
            return Err(GosetError::Length { typ, actual: body.len() });
        }
        if typ == NOVELTY_TYPE {
            return Ok(GosetMsg::Novelty(key_at(body, 1)));
        }
        let count = match format {
            Format::Classic => body.get(97).copied().map_or(0, u32::from),
            Format::Wide => body.get(97..101).and_then(|b| b.try_into().ok()).map_or(0, u32::from_be_bytes),
        };
        Ok(GosetMsg::Claim(Claim {
            lo: key_at(body, 1),
            hi: key_at(body, 33),
            xor: key_at(body, 65).0,
            count,
        }))
    }

    /// Decodes a whole classic packet, checking that it starts with [`goset_dmx`].
    pub fn from_packet(packet: &[u8]) -> Result<GosetMsg, GosetError> {
        GosetMsg::from_packet_as(Format::Classic, packet)
    }

    /// Decodes a whole packet in `format`, checking its DMX.
    pub fn from_packet_as(format: Format, packet: &[u8]) -> Result<GosetMsg, GosetError> {
        match packet.split_at_checked(Dmx::LEN) {
            Some((dmx, body)) if dmx == format.dmx().0 => GosetMsg::decode_as(format, body),
            _ => Err(GosetError::Dmx),
        }
    }

    /// Encodes the classic message body (98 bytes for a claim, 33 for a novelty); `None` for a
    /// claim whose count does not fit one byte.
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(CLAIM_LEN);
        self.encode_into(Format::Classic, &mut out).then_some(out)
    }

    /// Encodes the whole classic packet, DMX included (105 bytes for a claim, 40 for a
    /// novelty); `None` for a claim whose count does not fit one byte.
    pub fn to_packet(&self) -> Option<Vec<u8>> {
        self.to_packet_as(Format::Classic)
    }

    /// Encodes the whole packet in `format` (a wide claim is 108 bytes); `None` for a classic
    /// claim whose count does not fit one byte.
    pub fn to_packet_as(&self, format: Format) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(Dmx::LEN + WIDE_CLAIM_LEN);
        out.extend_from_slice(&format.dmx().0);
        self.encode_into(format, &mut out).then_some(out)
    }

    /// Appends the body in `format`; false (and nothing appended) if the count does not fit.
    fn encode_into(&self, format: Format, out: &mut Vec<u8>) -> bool {
        match self {
            GosetMsg::Claim(c) => {
                let count = match format {
                    Format::Classic => match u8::try_from(c.count) {
                        Ok(n) => vec![n],
                        Err(_) => return false,
                    },
                    Format::Wide => c.count.to_be_bytes().to_vec(),
                };
                out.push(CLAIM_TYPE);
                out.extend_from_slice(&c.lo.0);
                out.extend_from_slice(&c.hi.0);
                out.extend_from_slice(&c.xor);
                out.extend_from_slice(&count);
            }
            GosetMsg::Novelty(key) => {
                out.push(NOVELTY_TYPE);
                out.extend_from_slice(&key.0);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    fn arb_claim(seed: &[u8], count: u32) -> Claim {
        let byte =
            |i: usize| seed.get(i % seed.len().max(1)).copied().unwrap_or(7).wrapping_add(i.to_le_bytes()[0]);
        Claim {
            lo: FeedId(core::array::from_fn(byte)),
            hi: FeedId(core::array::from_fn(|i| byte(i + 32))),
            xor: core::array::from_fn(|i| byte(i + 64)),
            count,
        }
    }

    quickcheck! {
        fn decode_is_total(body: Vec<u8>) -> bool {
            let _ = GosetMsg::decode(&body);
            let _ = GosetMsg::from_packet(&body);
            let _ = GosetMsg::decode_as(Format::Wide, &body);
            let _ = GosetMsg::from_packet_as(Format::Wide, &body);
            true
        }

        fn claim_round_trip(seed: Vec<u8>, count: u8) -> bool {
            let msg = GosetMsg::Claim(arb_claim(&seed, u32::from(count)));
            let Some(pkt) = msg.to_packet() else { return false };
            pkt.len() == 105
                && GosetMsg::from_packet(&pkt) == Ok(msg)
                && msg.encode().is_some_and(|b| GosetMsg::decode(&b) == Ok(msg))
        }

        fn wide_claim_round_trip(seed: Vec<u8>, count: u32) -> bool {
            let msg = GosetMsg::Claim(arb_claim(&seed, count));
            let Some(pkt) = msg.to_packet_as(Format::Wide) else { return false };
            let classic = msg.to_packet();
            pkt.len() == 108
                && GosetMsg::from_packet_as(Format::Wide, &pkt) == Ok(msg)
                && GosetMsg::from_packet(&pkt) == Err(GosetError::Dmx)
                && classic.is_some() == (count <= 255)
        }

        fn novelty_round_trip(seed: Vec<u8>) -> bool {
            let msg = GosetMsg::Novelty(arb_claim(&seed, 0).lo);
            let Some(pkt) = msg.to_packet() else { return false };
            pkt.len() == 40 && GosetMsg::from_packet(&pkt) == Ok(msg)
        }

        fn wrong_lengths_rejected(seed: Vec<u8>, cut: usize) -> bool {
            let Some(pkt) = GosetMsg::Claim(arb_claim(&seed, 3)).to_packet() else { return false };
            let cut = cut % pkt.len();
            match pkt.get(..cut) {
                Some(short) => GosetMsg::from_packet(short).is_err(),
                None => false,
            }
        }
    }

    #[test]
    fn the_dmx_constants_are_the_hashes_of_their_names() {
        use crate::crypto::sha256_prefix;
        assert_eq!(goset_dmx(), Dmx(sha256_prefix(&[GOSET_DMX_INPUT])));
        assert_eq!(wide_dmx(), Dmx(sha256_prefix(&[WIDE_DMX_INPUT])));
    }

    #[test]
    fn typed_errors() {
        let dmx = goset_dmx().0;
        assert_eq!(GosetMsg::from_packet(&dmx[..3]), Err(GosetError::Dmx));
        assert_eq!(GosetMsg::from_packet(&[0u8; 40]), Err(GosetError::Dmx));
        assert_eq!(GosetMsg::decode(&[]), Err(GosetError::Empty));
        assert_eq!(GosetMsg::decode(b"z"), Err(GosetError::UnknownType(b'z')));
        assert_eq!(GosetMsg::decode(&[b'n'; 34]), Err(GosetError::Length { typ: b'n', actual: 34 }));
        assert!(GosetError::Length { typ: b'c', actual: 3 }.to_string().contains("98"));
    }
}
