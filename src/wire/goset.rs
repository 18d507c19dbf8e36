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

use core::fmt;

use crate::crypto::sha256_prefix;
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

/// The DMX every GOset packet starts with: `H("tinySSB-0.1 GOset 1")[0..7]`.
pub fn goset_dmx() -> Dmx {
    Dmx(sha256_prefix(&[GOSET_DMX_INPUT]))
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
    /// The number of keys in the span.
    pub count: u8,
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
                let expected = if *typ == CLAIM_TYPE { CLAIM_LEN } else { NOVELTY_LEN };
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
    /// Decodes a message body (the bytes after the DMX).
    pub fn decode(body: &[u8]) -> Result<GosetMsg, GosetError> {
        let (&typ, _) = body.split_first().ok_or(GosetError::Empty)?;
        let expected = match typ {
            CLAIM_TYPE => CLAIM_LEN,
            NOVELTY_TYPE => NOVELTY_LEN,
            other => return Err(GosetError::UnknownType(other)),
        };
        if body.len() != expected {
            return Err(GosetError::Length { typ, actual: body.len() });
        }
        Ok(if typ == NOVELTY_TYPE {
            GosetMsg::Novelty(key_at(body, 1))
        } else {
            GosetMsg::Claim(Claim {
                lo: key_at(body, 1),
                hi: key_at(body, 33),
                xor: key_at(body, 65).0,
                count: body.get(97).copied().unwrap_or(0),
            })
        })
    }

    /// Decodes a whole packet, checking that it starts with [`goset_dmx`].
    pub fn from_packet(packet: &[u8]) -> Result<GosetMsg, GosetError> {
        match packet.split_at_checked(Dmx::LEN) {
            Some((dmx, body)) if dmx == goset_dmx().0 => GosetMsg::decode(body),
            _ => Err(GosetError::Dmx),
        }
    }

    /// Encodes the message body (98 bytes for a claim, 33 for a novelty).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CLAIM_LEN);
        self.encode_into(&mut out);
        out
    }

    /// Encodes the whole packet, DMX included (105 bytes for a claim, 40 for a novelty).
    pub fn to_packet(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(Dmx::LEN + CLAIM_LEN);
        out.extend_from_slice(&goset_dmx().0);
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            GosetMsg::Claim(c) => {
                out.push(CLAIM_TYPE);
                out.extend_from_slice(&c.lo.0);
                out.extend_from_slice(&c.hi.0);
                out.extend_from_slice(&c.xor);
                out.push(c.count);
            }
            GosetMsg::Novelty(key) => {
                out.push(NOVELTY_TYPE);
                out.extend_from_slice(&key.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    fn arb_claim(seed: &[u8], count: u8) -> Claim {
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
            true
        }

        fn claim_round_trip(seed: Vec<u8>, count: u8) -> bool {
            let msg = GosetMsg::Claim(arb_claim(&seed, count));
            let pkt = msg.to_packet();
            pkt.len() == 105 && GosetMsg::from_packet(&pkt) == Ok(msg) && GosetMsg::decode(&msg.encode()) == Ok(msg)
        }

        fn novelty_round_trip(seed: Vec<u8>) -> bool {
            let msg = GosetMsg::Novelty(arb_claim(&seed, 0).lo);
            let pkt = msg.to_packet();
            pkt.len() == 40 && GosetMsg::from_packet(&pkt) == Ok(msg)
        }

        fn wrong_lengths_rejected(seed: Vec<u8>, cut: usize) -> bool {
            let pkt = GosetMsg::Claim(arb_claim(&seed, 3)).to_packet();
            let cut = cut % pkt.len();
            match pkt.get(..cut) {
                Some(short) => GosetMsg::from_packet(short).is_err(),
                None => false,
            }
        }
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
