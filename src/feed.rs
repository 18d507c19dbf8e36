//! Feed authoring and content reassembly.
//!
//! This module owns the step from content to signed packets and back:
//! [`author_plain48`] and [`author_chain20`] build the next entry of a feed
//! (and, for chain20, its sidechain), [`reassemble`] recovers an entry's
//! content from its chunks, and [`ChainCursor`] checks a sidechain one chunk
//! at a time as chunks arrive from the network.
//!
//! Checking an entry's signature is [`Entry::verify`]'s job; everything here
//! works on entries that are already known to be genuine.

use crate::crypto::Keypair;
use crate::ids::{HashPtr, MsgId};
use crate::store::Frontier;
use crate::wire::chunk::{Chunk, CHUNK_CONTENT};
use crate::wire::entry::{Chain20, Entry, EntryType, CHAIN20_HEAD, PAYLOAD_LEN};
use crate::wire::varint;

/// A freshly authored entry with everything the author has to store or send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authored {
    /// The signed 120-byte entry.
    pub entry: Entry,
    /// The entry's message id (the `prev` of the entry after it).
    pub msg_id: MsgId,
    /// The sidechain, chunk 0 first; empty for plain48 and for short chain20 content.
    pub chunks: Vec<Chunk>,
    /// The feed's frontier after this entry: its seq and its msg id.
    pub frontier: Frontier,
}

/// Why an entry could not be authored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthorError {
    /// A plain48 payload longer than 48 bytes (the length given).
    PayloadTooLong(usize),
    /// The feed already holds `u32::MAX` entries.
    SeqOverflow,
}

impl core::fmt::Display for AuthorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            AuthorError::PayloadTooLong(n) => write!(f, "plain48 payload is {n} bytes, at most 48 fit"),
            AuthorError::SeqOverflow => f.write_str("feed has reached the largest sequence number"),
        }
    }
}

impl std::error::Error for AuthorError {}

/// Signs the next entry after `at` and wraps it with its msg id, chunks and new frontier.
fn finish(
    key: &Keypair,
    at: &Frontier,
    ty: EntryType,
    payload: &[u8; PAYLOAD_LEN],
    chunks: Vec<Chunk>,
) -> Result<Authored, AuthorError> {
    let seq = at.seq.next().ok_or(AuthorError::SeqOverflow)?;
    let entry = Entry::sign(key, seq, &at.prev, ty.byte(), payload);
    let msg_id = entry.msg_id(&key.feed_id(), seq, &at.prev);
    Ok(Authored { entry, msg_id, chunks, frontier: Frontier { seq, prev: msg_id } })
}

/// Authors a plain48 entry: `payload` (at most 48 bytes) zero-padded to 48 bytes.
///
/// The payload length is not recorded; a reader always gets all 48 bytes back.
pub fn author_plain48(key: &Keypair, at: &Frontier, payload: &[u8]) -> Result<Authored, AuthorError> {
    let mut p = [0u8; PAYLOAD_LEN];
    p.get_mut(..payload.len()).ok_or(AuthorError::PayloadTooLong(payload.len()))?.copy_from_slice(payload);
    finish(key, at, EntryType::Plain48, &p, Vec::new())
}

/// Authors a chain20 entry for `content` of any length, with its sidechain.
///
/// The payload is `varint(len) ‖ head ‖ zeros up to 28 ‖ hash of chunk 0 (or zeros)`;
/// the rest of the content goes into 100-byte chunks, built last to first so that
/// each can carry its successor's hash.
pub fn author_chain20(key: &Keypair, at: &Frontier, content: &[u8]) -> Result<Authored, AuthorError> {
    let mut payload = [0u8; PAYLOAD_LEN];
    let mut len = Vec::with_capacity(varint::MAX_LEN);
    varint::encode(content.len() as u64, &mut len);
    let room = CHAIN20_HEAD - len.len();
    let (head, rest) = content.split_at(content.len().min(room));
    payload[..len.len()].copy_from_slice(&len);
    payload[len.len()..len.len() + head.len()].copy_from_slice(head);

    let pieces: Vec<&[u8]> = rest.chunks(CHUNK_CONTENT).collect();
    let mut chunks = vec![Chunk([0; crate::wire::chunk::CHUNK_LEN]); pieces.len()];
    let mut next = HashPtr::NULL;
    for (slot, piece) in chunks.iter_mut().zip(&pieces).rev() {
        *slot = Chunk::new(piece, &next);
        next = slot.hash();
    }
    payload[CHAIN20_HEAD..].copy_from_slice(&next.0);
    finish(key, at, EntryType::Chain20, &payload, chunks)
}

/// Why an entry's content could not be recovered, or a chunk did not fit its sidechain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainError {
    /// The entry's type byte is not one this crate understands.
    UnknownType(u8),
    /// The chain20 length varint is malformed.
    Header,
    /// The content is too large for this machine's address space.
    TooLong(u64),
    /// The number of chunks given is not the number the entry announces.
    Count {
        /// Chunks the entry announces.
        expected: u64,
        /// Chunks given.
        got: u64,
    },
    /// Chunk `index` (0-based) does not have the hash the chain expects.
    Hash {
        /// Index of the offending chunk.
        index: u64,
    },
    /// A chunk was offered to a sidechain that is already complete.
    Complete,
}

impl core::fmt::Display for ChainError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChainError::UnknownType(t) => write!(f, "unknown entry type {t}"),
            ChainError::Header => f.write_str("malformed chain20 length"),
            ChainError::TooLong(n) => write!(f, "content of {n} bytes is too large"),
            ChainError::Count { expected, got } => {
                write!(f, "sidechain has {expected} chunks, {got} given")
            }
            ChainError::Hash { index } => write!(f, "sidechain chunk {index} does not match its hash"),
            ChainError::Complete => f.write_str("sidechain is already complete"),
        }
    }
}

impl std::error::Error for ChainError {}

/// Checks a sidechain chunk by chunk: which chunk comes next, how many are left, and its hash.
///
/// The state is small and `Copy`, so a store can persist it (it matches the
/// reference's pending-sidechain record) and resume with [`ChainCursor::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainCursor {
    next_index: u64,
    remaining: u64,
    expected: HashPtr,
}

impl ChainCursor {
    /// Resumes a check: chunk `next_index` is expected next, `remaining` chunks are missing,
    /// and the next one must hash to `expected`.
    pub fn new(next_index: u64, remaining: u64, expected: HashPtr) -> ChainCursor {
        ChainCursor { next_index, remaining, expected }
    }

    /// The start of the sidechain a chain20 payload announces: its chunk count and first hash.
    pub fn from_payload(payload: &[u8]) -> Result<ChainCursor, ChainError> {
        let c = Chain20::parse(payload).ok_or(ChainError::Header)?;
        Ok(ChainCursor::new(0, c.chunk_count(), c.first))
    }

    /// The start of an entry's sidechain; a plain48 entry has an empty (complete) one.
    pub fn from_entry(entry: &Entry) -> Result<ChainCursor, ChainError> {
        match entry.entry_type() {
            Some(EntryType::Plain48) => Ok(ChainCursor::new(0, 0, HashPtr::NULL)),
            Some(EntryType::Chain20) => ChainCursor::from_payload(entry.payload()),
            None => Err(ChainError::UnknownType(entry.type_byte())),
        }
    }

    /// Index of the chunk expected next (= chunks accepted so far, counted from the start).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Chunks still missing.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The hash the next chunk must have (meaningless once complete).
    pub fn expected(&self) -> HashPtr {
        self.expected
    }

    /// True once every chunk has been accepted.
    pub fn is_complete(&self) -> bool {
        self.remaining == 0
    }

    /// Checks `chunk` against the expected hash and returns the state after it.
    pub fn accept(&self, chunk: &Chunk) -> Result<ChainCursor, ChainError> {
        if self.is_complete() {
            return Err(ChainError::Complete);
        }
        if chunk.hash() != self.expected {
            return Err(ChainError::Hash { index: self.next_index });
        }
        Ok(ChainCursor {
            next_index: self.next_index.saturating_add(1),
            remaining: self.remaining - 1,
            expected: chunk.next(),
        })
    }
}

/// The content of an entry: the 48 payload bytes for plain48, or for chain20 the
/// head in the entry followed by the chunks, each checked against the hash chain.
///
/// `chunks` must be exactly the sidechain the entry announces (none for plain48).
pub fn reassemble(entry: &Entry, chunks: &[Chunk]) -> Result<Vec<u8>, ChainError> {
    let got = chunks.len() as u64;
    let header = match entry.entry_type() {
        Some(EntryType::Plain48) if got == 0 => return Ok(entry.payload().to_vec()),
        Some(EntryType::Plain48) => return Err(ChainError::Count { expected: 0, got }),
        Some(EntryType::Chain20) => Chain20::parse(entry.payload()).ok_or(ChainError::Header)?,
        None => return Err(ChainError::UnknownType(entry.type_byte())),
    };
    let expected = header.chunk_count();
    if expected != got {
        return Err(ChainError::Count { expected, got });
    }
    // The count matched, so the length is bounded by the chunks actually given.
    let len = usize::try_from(header.content_len).map_err(|_| ChainError::TooLong(header.content_len))?;
    let mut content = Vec::with_capacity(len);
    let start = header.varint_len;
    content.extend_from_slice(entry.payload().get(start..start + header.head_len()).unwrap_or_default());
    let mut cursor = ChainCursor::new(0, expected, header.first);
    for chunk in chunks {
        cursor = cursor.accept(chunk)?;
        let take = (len - content.len()).min(CHUNK_CONTENT);
        content.extend_from_slice(chunk.content().get(..take).unwrap_or_default());
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Seq;

    fn genesis(key: &Keypair) -> Frontier {
        Frontier { seq: Seq(0), prev: key.feed_id().genesis_prev() }
    }

    #[test]
    fn plain48_pads_and_refuses_long_payloads() {
        let key = Keypair::from_seed(&[7; 32]);
        let a = author_plain48(&key, &genesis(&key), b"hi").unwrap();
        assert_eq!(&a.entry.payload()[..2], b"hi");
        assert!(a.entry.payload()[2..].iter().all(|&b| b == 0));
        assert_eq!(a.frontier, Frontier { seq: Seq(1), prev: a.msg_id });
        assert_eq!(reassemble(&a.entry, &[]).unwrap().len(), 48);
        assert_eq!(author_plain48(&key, &genesis(&key), &[0; 49]), Err(AuthorError::PayloadTooLong(49)));
    }

    #[test]
    fn seq_overflow_is_an_error() {
        let key = Keypair::from_seed(&[7; 32]);
        let end = Frontier { seq: Seq(u32::MAX), prev: MsgId::default() };
        assert_eq!(author_chain20(&key, &end, b"x"), Err(AuthorError::SeqOverflow));
    }

    #[test]
    fn cursor_walks_the_chain_and_rejects_surplus() {
        let key = Keypair::from_seed(&[7; 32]);
        let a = author_chain20(&key, &genesis(&key), &[5; 300]).unwrap();
        assert_eq!(a.chunks.len(), 3);
        let mut c = ChainCursor::from_entry(&a.entry).unwrap();
        assert_eq!((c.next_index(), c.remaining(), c.expected()), (0, 3, a.chunks[0].hash()));
        assert_eq!(c.accept(&a.chunks[1]), Err(ChainError::Hash { index: 0 }));
        for chunk in &a.chunks {
            c = c.accept(chunk).unwrap();
        }
        assert!(c.is_complete());
        assert_eq!(c.accept(&a.chunks[0]), Err(ChainError::Complete));
    }

    #[test]
    fn reassemble_rejects_wrong_counts_and_types() {
        let key = Keypair::from_seed(&[7; 32]);
        let a = author_chain20(&key, &genesis(&key), &[5; 300]).unwrap();
        assert_eq!(reassemble(&a.entry, &a.chunks[..2]), Err(ChainError::Count { expected: 3, got: 2 }));
        let mut odd = a.entry;
        odd.0[7] = 9;
        assert_eq!(reassemble(&odd, &[]), Err(ChainError::UnknownType(9)));
        let mut bad = a.entry;
        bad.0[8..36].fill(0xff);
        assert_eq!(reassemble(&bad, &[]), Err(ChainError::Header));
        // A huge announced length with no chunks fails on the count, without allocating.
        let mut huge = a.entry;
        huge.0[8..18].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert!(matches!(reassemble(&huge, &[]), Err(ChainError::Count { got: 0, .. })));
    }
}
