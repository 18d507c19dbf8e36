//! Mesh records: what a pub writes into its own *mesh feed*, a plain tinySSB feed whose id is
//! the pub's id. Each record is one entry's content, signed like any entry, so announcements
//! replicate over every face and peers that know nothing of meshes just see another feed.
//!
//! Layout (all records start with the four bytes `tsm1`):
//!
//! | record | bytes |
//! |---|---|
//! | announce | `tsm1` `A` len(1) url(len) |
//! | down | `tsm1` `D` pub-id(32) seq(4, big-endian) |
//!
//! A plain48 entry pads its content with zeros to 48 bytes; decoding ignores what follows a
//! record. An announce with a URL of up to 42 bytes fits a plain48 entry; longer ones (up to
//! 255 bytes) travel as chain20 entries.

use crate::ids::FeedId;

/// The first four bytes of every mesh record.
pub const MAGIC: &[u8; 4] = b"tsm1";
/// Longest URL an announcement carries.
pub const MAX_URL: usize = 255;

/// One mesh record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The author is a member of the mesh, reachable at `url` (a `ws://` or `wss://` URL).
    /// A later announce (higher seq) replaces an earlier one.
    Announce {
        /// Where other pubs dial the author.
        url: String,
    },
    /// The author could not reach `pub_id` since that pub's announce number `seq`: the pub
    /// counts as gone until it announces again with a higher seq.
    Down {
        /// The pub that was found gone.
        pub_id: FeedId,
        /// The seq of that pub's latest announce the author knew.
        seq: u32,
    },
}

/// Why bytes are not a mesh record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// No `tsm1` prefix: an ordinary entry.
    NotMesh,
    /// The prefix is there but the record is cut short or unknown.
    Malformed,
}

impl Record {
    /// The record's bytes; `None` if the URL is longer than [`MAX_URL`].
    pub fn encode(&self) -> Option<Vec<u8>> {
        let mut out = MAGIC.to_vec();
        match self {
            Record::Announce { url } => {
                out.push(b'A');
                out.push(u8::try_from(url.len()).ok()?);
                out.extend_from_slice(url.as_bytes());
            }
            Record::Down { pub_id, seq } => {
                out.push(b'D');
                out.extend_from_slice(&pub_id.0);
                out.extend_from_slice(&seq.to_be_bytes());
            }
        }
        Some(out)
    }

    /// Reads a record from an entry's content (trailing padding is ignored).
    pub fn decode(content: &[u8]) -> Result<Record, RecordError> {
        let rest = content.strip_prefix(MAGIC.as_slice()).ok_or(RecordError::NotMesh)?;
        match rest.split_first() {
            Some((b'A', rest)) => {
                let (len, rest) = rest.split_first().ok_or(RecordError::Malformed)?;
                let url = rest.get(..usize::from(*len)).ok_or(RecordError::Malformed)?;
                let url = core::str::from_utf8(url).map_err(|_| RecordError::Malformed)?;
                if url.is_empty() {
                    return Err(RecordError::Malformed);
                }
                Ok(Record::Announce { url: url.to_owned() })
            }
            Some((b'D', rest)) => {
                let id = rest.get(..32).ok_or(RecordError::Malformed)?;
                let seq = rest.get(32..36).ok_or(RecordError::Malformed)?;
                let mut pub_id = [0u8; 32];
                pub_id.copy_from_slice(id);
                let mut s = [0u8; 4];
                s.copy_from_slice(seq);
                Ok(Record::Down { pub_id: FeedId(pub_id), seq: u32::from_be_bytes(s) })
            }
            _ => Err(RecordError::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    #[test]
    fn known_bytes() {
        let a = Record::Announce { url: "ws://10.0.0.1:8080".into() };
        let bytes = a.encode().unwrap_or_default();
        assert_eq!(&bytes[..6], b"tsm1A\x12");
        assert_eq!(&bytes[6..], b"ws://10.0.0.1:8080");
        let d = Record::Down { pub_id: FeedId([7; 32]), seq: 0x0102_0304 };
        let bytes = d.encode().unwrap_or_default();
        assert_eq!(bytes.len(), 41);
        assert_eq!(&bytes[37..], &[1, 2, 3, 4]);
    }

    #[test]
    fn padding_is_ignored_and_plain_entries_are_not_records() {
        let mut padded = Record::Announce { url: "ws://a".into() }.encode().unwrap_or_default();
        padded.resize(48, 0);
        assert_eq!(Record::decode(&padded), Ok(Record::Announce { url: "ws://a".into() }));
        assert_eq!(Record::decode(b"hello world"), Err(RecordError::NotMesh));
        assert_eq!(Record::decode(b"tsm1A\x09ws://"), Err(RecordError::Malformed));
        assert_eq!(Record::decode(b"tsm1X"), Err(RecordError::Malformed));
        assert_eq!(Record::decode(b"tsm1A\x00"), Err(RecordError::Malformed));
    }

    quickcheck! {
        fn decode_is_total(bytes: Vec<u8>) -> bool {
            let _ = Record::decode(&bytes);
            let mut prefixed = MAGIC.to_vec();
            prefixed.extend_from_slice(&bytes);
            let _ = Record::decode(&prefixed);
            true
        }

        fn round_trip(url: String, id: Vec<u8>, seq: u32) -> bool {
            let mut pub_id = [0u8; 32];
            for (d, s) in pub_id.iter_mut().zip(id) { *d = s; }
            let down = Record::Down { pub_id: FeedId(pub_id), seq };
            let ok_down = down.encode().map(|b| Record::decode(&b)) == Some(Ok(down));
            let ann = Record::Announce { url: url.clone() };
            let ok_ann = match ann.encode() {
                Some(b) => url.is_empty() || Record::decode(&b) == Ok(ann),
                None => url.len() > MAX_URL,
            };
            ok_down && ok_ann
        }
    }
}
