//! The 120-byte sidechain chunk: 100 content bytes and the hash pointer to the next chunk.
//!
//! ```text
//!  0                                           100                  120
//!  +--------------------------------------------+--------------------+
//!  |           content (100 bytes)              | next ptr (20 bytes) |
//!  +--------------------------------------------+--------------------+
//! ```
//! A chunk is addressed by its hash: the first 20 bytes of SHA-256 over all 120 bytes.

use crate::crypto::sha256_prefix;
use crate::ids::HashPtr;

/// Length of a chunk packet.
pub const CHUNK_LEN: usize = 120;
/// Content bytes carried by one chunk.
pub const CHUNK_CONTENT: usize = 100;

/// A 120-byte sidechain chunk.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Chunk(pub [u8; CHUNK_LEN]);

impl core::fmt::Debug for Chunk {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Chunk(hash={}, next={})", self.hash(), self.next())
    }
}

/// Why a chunk packet was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The packet is not exactly 120 bytes.
    Length(usize),
    /// The chunk's hash is not the one the chain expects.
    Hash,
}

impl core::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChunkError::Length(n) => write!(f, "chunk must be 120 bytes, got {n}"),
            ChunkError::Hash => f.write_str("chunk hash does not match the sidechain"),
        }
    }
}

impl std::error::Error for ChunkError {}

impl Chunk {
    /// Copies a chunk out of a packet of exactly 120 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Chunk, ChunkError> {
        <[u8; CHUNK_LEN]>::try_from(bytes).map(Chunk).map_err(|_| ChunkError::Length(bytes.len()))
    }

    /// Builds a chunk from up to 100 content bytes (zero-padded) and the next pointer.
    pub fn new(content: &[u8], next: &HashPtr) -> Chunk {
        let mut c = [0u8; CHUNK_LEN];
        let n = content.len().min(CHUNK_CONTENT);
        c[..n].copy_from_slice(&content[..n]);
        c[CHUNK_CONTENT..].copy_from_slice(&next.0);
        Chunk(c)
    }

    /// The 100 content bytes.
    pub fn content(&self) -> &[u8] {
        &self.0[..CHUNK_CONTENT]
    }

    /// The pointer to the next chunk; [`HashPtr::NULL`] for the last one.
    pub fn next(&self) -> HashPtr {
        let mut p = [0u8; 20];
        p.copy_from_slice(&self.0[CHUNK_CONTENT..]);
        HashPtr(p)
    }

    /// This chunk's own hash: the first 20 bytes of SHA-256 over its 120 bytes.
    pub fn hash(&self) -> HashPtr {
        HashPtr(sha256_prefix(&[&self.0]))
    }
}
