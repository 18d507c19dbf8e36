//! The mesh's own packets, exchanged only on links between mesh pubs: who is at the other end
//! of a link, and which pubs exist. They carry no authority: a pub id learned here only makes
//! the receiver replicate that pub's mesh feed, whose signed announce is what counts.
//!
//! Every packet is `DMX(7) kind(1) ids(32 each)`, at most 103 bytes:
//!
//! | kind | ids | meaning |
//! |---|---|---|
//! | `H` | 1 | hello: the sender's pub id (or all zeros if it is not a member) |
//! | `P` | 1–3 | pubs: ids of pubs the sender knows |
//! | `S` | 1 | synced: the sender (this id) got everything it wanted over this link |
//!
//! The DMX is the first seven bytes of `SHA-256("tinyssb-rs mesh 1")`, which no feed entry or
//! request of a deployed peer uses.

use crate::ids::FeedId;

/// The DMX of mesh packets.
pub const MESH_DMX: [u8; 7] = [0xcd, 0x61, 0xeb, 0x2b, 0x10, 0xad, 0xec];
/// Most pub ids in one `P` packet.
pub const IDS_PER_PACKET: usize = 3;

/// One mesh packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeshPacket {
    /// The sender's pub id.
    Hello(FeedId),
    /// Pub ids the sender knows (1 to [`IDS_PER_PACKET`]).
    Pubs(Vec<FeedId>),
    /// The sender (this id) has nothing more to fetch over this link for now.
    Synced(FeedId),
}

impl MeshPacket {
    /// The packet's bytes, DMX included.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MESH_DMX.to_vec();
        match self {
            MeshPacket::Hello(id) => {
                out.push(b'H');
                out.extend_from_slice(&id.0);
            }
            MeshPacket::Synced(id) => {
                out.push(b'S');
                out.extend_from_slice(&id.0);
            }
            MeshPacket::Pubs(ids) => {
                out.push(b'P');
                for id in ids.iter().take(IDS_PER_PACKET) {
                    out.extend_from_slice(&id.0);
                }
            }
        }
        out
    }

    /// True if `bytes` starts with the mesh DMX (whether or not the rest is valid).
    pub fn is_mesh(bytes: &[u8]) -> bool {
        bytes.starts_with(&MESH_DMX)
    }

    /// Reads a mesh packet; `None` if it is not one or is malformed.
    pub fn decode(bytes: &[u8]) -> Option<MeshPacket> {
        let rest = bytes.strip_prefix(MESH_DMX.as_slice())?;
        let (kind, ids) = rest.split_first()?;
        if ids.is_empty() || ids.len() % 32 != 0 {
            return None;
        }
        let ids: Vec<FeedId> = ids
            .chunks_exact(32)
            .map(|c| {
                let mut b = [0u8; 32];
                b.copy_from_slice(c);
                FeedId(b)
            })
            .collect();
        match kind {
            b'H' if ids.len() == 1 => ids.into_iter().next().map(MeshPacket::Hello),
            b'S' if ids.len() == 1 => ids.into_iter().next().map(MeshPacket::Synced),
            b'P' if ids.len() <= IDS_PER_PACKET => Some(MeshPacket::Pubs(ids)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    #[test]
    fn dmx_is_the_hash_prefix() {
        let h = crate::crypto::sha256(&[b"tinyssb-rs mesh 1"]);
        assert_eq!(h[..7], MESH_DMX);
    }

    #[test]
    fn sizes_fit_a_packet() {
        let p = MeshPacket::Pubs(vec![FeedId([1; 32]); 3]).encode();
        assert_eq!(p.len(), 7 + 1 + 96);
        assert!(p.len() <= crate::wire::MAX_PACKET);
        assert_eq!(MeshPacket::decode(&p), Some(MeshPacket::Pubs(vec![FeedId([1; 32]); 3])));
        let h = MeshPacket::Hello(FeedId([2; 32])).encode();
        assert_eq!(MeshPacket::decode(&h), Some(MeshPacket::Hello(FeedId([2; 32]))));
    }

    quickcheck! {
        fn decode_is_total(bytes: Vec<u8>) -> bool {
            let mut p = MESH_DMX.to_vec();
            p.extend_from_slice(&bytes);
            MeshPacket::decode(&p).is_none_or(|m| m.encode() == p)
        }
    }
}
