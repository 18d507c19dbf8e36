//! Wire formats: every byte layout that crosses a link or lands on disk, with total decoders.

pub mod bipf;
pub mod chunk;
pub mod entry;
pub mod goset;
pub mod packet;
pub mod request;
pub mod varint;

/// The 10-byte protocol prefix `tinyssb-v0` that starts every entry name and request DMX input.
pub const PFX: &[u8; 10] = b"tinyssb-v0";

/// The maximum size of any tinySSB packet (the protocol's limit; the drivers' faces accept a
/// little more and leave the rest to the engine).
pub const MAX_PACKET: usize = 120;
