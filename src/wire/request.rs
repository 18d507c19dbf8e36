//! The request layer: the DMX values WANT and CHNK requests are sent on, and
//! the typed request vectors they carry.
//!
//! A request packet is `dmx ‖ BIPF(vector)`. The two DMX values depend only on
//! the GOset state (the XOR of all known feed ids), so peers that agree on the
//! set of feeds listen on the same values. A WANT vector
//! `[offset, seq_0, seq_1, ..]` asks for entry `seq_i` of the feed with index
//! `(offset + i) mod n`; a CHNK vector `[[feed_index, seq, chunk_nr], ..]`
//! asks for sidechain chunks. Decoding is strict: any value that is not a
//! non-negative integer in range, and any byte after the vector, is an error.

use super::bipf::{self, BipfError, Value};
use super::{varint, MAX_PACKET, PFX};
use crate::crypto::sha256_prefix;
use crate::ids::{Dmx, Seq};
use core::fmt;

/// The largest BIPF body a request packet can carry: 120 bytes minus the 7-byte DMX.
pub const MAX_BODY: usize = MAX_PACKET - Dmx::LEN;

/// The DMX WANT requests are sent on: `H(PFX ‖ "want" ‖ state)[0..7]`.
pub fn want_dmx(state: &[u8; 32]) -> Dmx {
    Dmx(sha256_prefix(&[PFX, b"want", state]))
}

/// The DMX CHNK requests are sent on: `H(PFX ‖ "blob" ‖ state)[0..7]`.
pub fn chnk_dmx(state: &[u8; 32]) -> Dmx {
    Dmx(sha256_prefix(&[PFX, b"blob", state]))
}

/// Why a request body could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The body is not valid BIPF.
    Bipf(BipfError),
    /// The body holds this many bytes after the vector.
    TrailingBytes(usize),
    /// The vector is not a list.
    NotAList,
    /// A WANT vector is empty: it has no offset.
    MissingOffset,
    /// The element at this index (of the outer list) is not an integer.
    NotAnInt {
        /// Index in the outer list.
        index: usize,
    },
    /// The element at this index holds a number that is negative, zero where a seq is due, or above `u32::MAX`.
    OutOfRange {
        /// Index in the outer list.
        index: usize,
        /// The number found.
        value: i64,
    },
    /// The CHNK element at this index is not a list of exactly three integers.
    NotATriple {
        /// Index in the outer list.
        index: usize,
    },
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Bipf(e) => write!(f, "request body: {e}"),
            RequestError::TrailingBytes(n) => write!(f, "{n} bytes after the request vector"),
            RequestError::NotAList => f.write_str("request vector is not a list"),
            RequestError::MissingOffset => f.write_str("WANT vector without offset"),
            RequestError::NotAnInt { index } => write!(f, "request element {index} is not an integer"),
            RequestError::OutOfRange { index, value } => {
                write!(f, "request element {index} out of range: {value}")
            }
            RequestError::NotATriple { index } => {
                write!(f, "CHNK element {index} is not [feed_index, seq, chunk_nr]")
            }
        }
    }
}

impl std::error::Error for RequestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RequestError::Bipf(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BipfError> for RequestError {
    fn from(e: BipfError) -> Self {
        RequestError::Bipf(e)
    }
}

/// A WANT request: entry `seqs[i]` of the feed with index `(offset + i) mod n`, for `n` known feeds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WantVector {
    /// Feed index that `seqs[0]` refers to; the reference rotates it between rounds.
    pub offset: u32,
    /// The next wanted seq of consecutive feeds (in GOset key order, wrapping), each at least 1.
    pub seqs: Vec<Seq>,
}

/// One CHNK element: chunks from `chunk` on of the sidechain of entry `seq` of feed `feed_index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkRequest {
    /// Index of the feed in the GOset key order.
    pub feed_index: u32,
    /// The entry whose sidechain is meant (at least 1).
    pub seq: Seq,
    /// The first chunk wanted, counting from 0 (the number of chunks already held).
    pub chunk: u32,
}

/// A CHNK request: a list of [`ChunkRequest`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChnkVector {
    /// The chunk requests in order.
    pub requests: Vec<ChunkRequest>,
}

impl WantVector {
    /// An empty WANT vector starting at `offset`.
    pub fn new(offset: u32) -> Self {
        WantVector { offset, seqs: Vec::new() }
    }

    /// Builds a vector from `offset` and as many of `seqs` as fit in one packet, in order.
    pub fn fitting(offset: u32, seqs: impl IntoIterator<Item = Seq>) -> Self {
        let mut v = WantVector::new(offset);
        for s in seqs {
            if !v.try_push(s) {
                break;
            }
        }
        v
    }

    /// The feed index element `i` of `seqs` refers to among `n_keys` feeds (`None` if `n_keys` is 0).
    pub fn feed_index(&self, i: usize, n_keys: usize) -> Option<usize> {
        let offset = usize::try_from(self.offset).ok()?;
        offset.checked_rem(n_keys)?.checked_add(i.checked_rem(n_keys)?).map(|x| x % n_keys)
    }

    /// Appends `seq` if the encoded vector stays within [`MAX_BODY`]; returns whether it did.
    pub fn try_push(&mut self, seq: Seq) -> bool {
        let body = self.seqs.iter().fold(int_len(self.offset), |acc, s| acc + int_len(s.0));
        let fits = fits(body, int_len(seq.0));
        if fits {
            self.seqs.push(seq);
        }
        fits
    }

    /// Decodes a request body (the packet without its DMX).
    pub fn decode(body: &[u8]) -> Result<Self, RequestError> {
        let items = raw_list(body)?;
        let (first, rest) = items.split_first().ok_or(RequestError::MissingOffset)?;
        let offset = number(*first, 0, 0)?;
        let seqs =
            rest.iter().enumerate().map(|(i, v)| number(*v, i + 1, 1).map(Seq)).collect::<Result<_, _>>()?;
        Ok(WantVector { offset, seqs })
    }
}

impl ChunkRequest {
    /// The element as a BIPF value: `[feed_index, seq, chunk]`.
    pub fn to_value(&self) -> Value {
        Value::List(vec![int(self.feed_index), int(self.seq.0), int(self.chunk)])
    }

    /// Length of the element's encoding (a list of three integers), without building it.
    fn encoded_len(&self) -> usize {
        let body = int_len(self.feed_index) + int_len(self.seq.0) + int_len(self.chunk);
        varint::encoded_len((body as u64) << 3) + body
    }

    /// Reads element `index` of a CHNK vector.
    fn from_raw(v: (u8, &[u8]), index: usize) -> Result<Self, RequestError> {
        let triple = if v.0 == LIST { raw_items(v.1).ok() } else { None };
        match triple.as_deref() {
            Some(&[f, s, c]) => Ok(ChunkRequest {
                feed_index: number(f, index, 0)?,
                seq: Seq(number(s, index, 1)?),
                chunk: number(c, index, 0)?,
            }),
            _ => Err(RequestError::NotATriple { index }),
        }
    }
}

impl ChnkVector {
    /// Builds a vector from as many of `requests` as fit in one packet, in order.
    pub fn fitting(requests: impl IntoIterator<Item = ChunkRequest>) -> Self {
        let mut v = ChnkVector::default();
        for r in requests {
            if !v.try_push(r) {
                break;
            }
        }
        v
    }

    /// Appends `request` if the encoded vector stays within [`MAX_BODY`]; returns whether it did.
    pub fn try_push(&mut self, request: ChunkRequest) -> bool {
        let body = self.requests.iter().map(ChunkRequest::encoded_len).sum();
        let fits = fits(body, request.encoded_len());
        if fits {
            self.requests.push(request);
        }
        fits
    }

    /// Decodes a request body (the packet without its DMX).
    pub fn decode(body: &[u8]) -> Result<Self, RequestError> {
        let requests = raw_list(body)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| ChunkRequest::from_raw(v, i))
            .collect::<Result<_, _>>()?;
        Ok(ChnkVector { requests })
    }
}

/// What WANT and CHNK vectors share: a BIPF value, and the body and packet built from it.
pub trait RequestVector {
    /// The vector as a BIPF value.
    fn to_value(&self) -> Value;

    /// Length of [`RequestVector::encode`]'s output.
    fn encoded_len(&self) -> usize {
        bipf::encoded_len(&self.to_value())
    }

    /// The BIPF body of the request.
    fn encode(&self) -> Vec<u8> {
        bipf::encode(&self.to_value())
    }

    /// The request packet `dmx ‖ body`.
    fn to_packet(&self, dmx: &Dmx) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_PACKET);
        out.extend_from_slice(dmx.as_bytes());
        bipf::encode_into(&self.to_value(), &mut out);
        out
    }
}

impl RequestVector for WantVector {
    /// The vector as a BIPF value: `[offset, seq_0, ..]`.
    fn to_value(&self) -> Value {
        let mut items = Vec::with_capacity(self.seqs.len() + 1);
        items.push(int(self.offset));
        items.extend(self.seqs.iter().map(|s| int(s.0)));
        Value::List(items)
    }
}

impl RequestVector for ChnkVector {
    /// The vector as a BIPF value: `[[feed_index, seq, chunk], ..]`.
    fn to_value(&self) -> Value {
        Value::List(self.requests.iter().map(ChunkRequest::to_value).collect())
    }
}

/// A `u32` as a BIPF integer value.
fn int(n: u32) -> Value {
    Value::Int(i64::from(n))
}

/// Length of a `u32`'s encoding as a BIPF integer.
fn int_len(n: u32) -> usize {
    bipf::encoded_len(&int(n))
}

/// Whether a list whose elements take `body` bytes still fits in [`MAX_BODY`] with an element of
/// `item` bytes appended.
fn fits(body: usize, item: usize) -> bool {
    let body = body + item;
    varint::encoded_len((body as u64) << 3) + body <= MAX_BODY
}

/// BIPF type codes of the values a request holds.
const INT: u8 = 2;
const LIST: u8 = 4;

/// Splits `body`, which must be exactly one BIPF list, into its elements' (type, body) pairs.
fn raw_list(body: &[u8]) -> Result<Vec<(u8, &[u8])>, RequestError> {
    let (ty, inner, used) = bipf::frame(body)?;
    if used != body.len() {
        return Err(RequestError::TrailingBytes(body.len() - used));
    }
    if ty != LIST {
        return Err(RequestError::NotAList);
    }
    raw_items(inner)
}

/// Splits the body of a list into its elements' (type, body) pairs.
fn raw_items(mut inner: &[u8]) -> Result<Vec<(u8, &[u8])>, RequestError> {
    let mut items = Vec::new();
    while !inner.is_empty() {
        let (ty, item, used) = bipf::frame(inner)?;
        items.push((ty, item));
        inner = inner.get(used..).unwrap_or_default();
    }
    Ok(items)
}

/// Reads element `index` as an integer in `min..=u32::MAX`.
///
/// Request numbers are never negative, so the body is read as an UNSIGNED little-endian
/// integer: the Android app writes 128..=255 as one byte `0x80..=0xff` (and likewise at
/// every width), which a signed reader would take for a negative number. Minimal signed
/// encodings of non-negative numbers (ours, the Python pub's) read the same either way.
fn number(v: (u8, &[u8]), index: usize, min: u32) -> Result<u32, RequestError> {
    let (ty, body) = v;
    if ty != INT || body.is_empty() {
        return Err(RequestError::NotAnInt { index });
    }
    let mut n: u64 = 0;
    for (i, b) in body.iter().enumerate() {
        if i >= 8 {
            if *b != 0 {
                return Err(RequestError::OutOfRange { index, value: i64::MAX });
            }
            continue;
        }
        n |= u64::from(*b) << (8 * i);
    }
    u32::try_from(n)
        .ok()
        .filter(|&x| x >= min)
        .ok_or(RequestError::OutOfRange { index, value: i64::try_from(n).unwrap_or(i64::MAX) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    fn body(v: &Value) -> Vec<u8> {
        bipf::encode(v)
    }

    fn list(items: Vec<Value>) -> Value {
        Value::List(items)
    }

    #[test]
    fn reads_the_android_apps_unsigned_integers() {
        // [0, 200, 65535] as the app writes it: 200 as one byte c8, 65535 as two bytes ff ff.
        let body = [0x3c, 0x0a, 0x00, 0x0a, 0xc8, 0x12, 0xff, 0xff];
        assert_eq!(WantVector::decode(&body), Ok(WantVector { offset: 0, seqs: vec![Seq(200), Seq(65535)] }));
        // [[1, 130, 0]] with 130 as one byte 82.
        let body = [0x3c, 0x34, 0x0a, 0x01, 0x0a, 0x82, 0x0a, 0x00];
        let req = ChunkRequest { feed_index: 1, seq: Seq(130), chunk: 0 };
        assert_eq!(ChnkVector::decode(&body), Ok(ChnkVector { requests: vec![req] }));
    }

    #[test]
    fn rejects_malformed_vectors() {
        let i = Value::Int;
        let want = |v: Value| WantVector::decode(&body(&v));
        assert_eq!(want(list(vec![])), Err(RequestError::MissingOffset));
        assert_eq!(want(i(0)), Err(RequestError::NotAList));
        // Request numbers are read unsigned: the Android app writes 255 as `0a ff`.
        assert_eq!(want(list(vec![i(-1)])), Ok(WantVector { offset: 255, seqs: vec![] }));
        assert_eq!(want(list(vec![i(0), i(0)])), Err(RequestError::OutOfRange { index: 1, value: 0 }));
        let big = i64::from(u32::MAX) + 1;
        assert_eq!(want(list(vec![i(0), i(big)])), Err(RequestError::OutOfRange { index: 1, value: big }));
        assert_eq!(want(list(vec![i(0), Value::None])), Err(RequestError::NotAnInt { index: 1 }));
        assert_eq!(WantVector::decode(&[0x14, 0x0a, 0x00, 0x00]), Err(RequestError::TrailingBytes(1)));
        assert_eq!(WantVector::decode(&[0x14, 0x0a]), Err(RequestError::Bipf(BipfError::Truncated)));

        let chnk = |v: Value| ChnkVector::decode(&body(&v));
        assert_eq!(chnk(list(vec![i(1)])), Err(RequestError::NotATriple { index: 0 }));
        let triple = list(vec![i(0), i(1), i(0)]);
        assert_eq!(
            chnk(list(vec![triple.clone(), list(vec![i(0), i(1)])])),
            Err(RequestError::NotATriple { index: 1 })
        );
        assert_eq!(
            chnk(list(vec![list(vec![i(0), i(1), i(0), i(0)])])),
            Err(RequestError::NotATriple { index: 0 })
        );
        assert_eq!(
            chnk(list(vec![list(vec![i(0), i(0), i(0)])])),
            Err(RequestError::OutOfRange { index: 0, value: 0 })
        );
        assert_eq!(
            chnk(list(vec![list(vec![i(0), i(1), Value::Str("x".into())])])),
            Err(RequestError::NotAnInt { index: 0 })
        );
        assert_eq!(
            chnk(list(vec![list(vec![i(0), i(1), Value::from("x")])])),
            Err(RequestError::NotAnInt { index: 0 })
        );
        assert_eq!(chnk(triple.clone()), Err(RequestError::NotATriple { index: 0 }));
    }

    #[test]
    fn feed_index_wraps() {
        let w = WantVector { offset: 3, seqs: vec![Seq(1); 4] };
        let idx: Vec<_> = (0..4).map(|i| w.feed_index(i, 5)).collect();
        assert_eq!(idx, vec![Some(3), Some(4), Some(0), Some(1)]);
        assert_eq!(w.feed_index(0, 0), None);
        let w = WantVector { offset: u32::MAX, seqs: vec![] };
        assert_eq!(w.feed_index(usize::MAX, 7), Some(((u32::MAX as usize % 7) + usize::MAX % 7) % 7));
    }

    #[test]
    fn fitting_fills_the_packet() {
        // Seqs of 2^31 take 6 bytes each: (113 - 2 tag - 2 offset) / 6 = 18 fit.
        let w = WantVector::fitting(0, std::iter::repeat(Seq(1 << 31)));
        assert_eq!(w.seqs.len(), 18);
        assert!(w.to_packet(&Dmx([0; 7])).len() <= MAX_PACKET);
        // One-byte seqs: 2-byte elements after a 2-byte tag and a 2-byte offset: 54 seqs, 112 bytes.
        let w = WantVector::fitting(0, std::iter::repeat(Seq(1)));
        assert_eq!(w.seqs.len(), 54);
        assert_eq!(w.encoded_len(), 112);
        let c = ChnkVector::fitting(std::iter::repeat(ChunkRequest { feed_index: 1, seq: Seq(2), chunk: 3 }));
        // Each triple is 7 bytes; 111 / 7 = 15.
        assert_eq!(c.requests.len(), 15);
    }

    fn want_of(offset: u32, seqs: Vec<u32>) -> WantVector {
        WantVector { offset, seqs: seqs.into_iter().map(|s| Seq(s.max(1))).collect() }
    }

    fn chnk_of(items: Vec<(u32, u32, u32)>) -> ChnkVector {
        ChnkVector {
            requests: items
                .into_iter()
                .map(|(f, s, c)| ChunkRequest { feed_index: f, seq: Seq(s.max(1)), chunk: c })
                .collect(),
        }
    }

    quickcheck! {
        fn want_round_trip(offset: u32, seqs: Vec<u32>) -> bool {
            let w = want_of(offset, seqs);
            let b = w.encode();
            b.len() == w.encoded_len() && WantVector::decode(&b) == Ok(w)
        }

        fn chnk_round_trip(items: Vec<(u32, u32, u32)>) -> bool {
            let c = chnk_of(items);
            let b = c.encode();
            b.len() == c.encoded_len() && ChnkVector::decode(&b) == Ok(c)
        }

        fn want_fitting_is_maximal(offset: u32, seqs: Vec<u32>) -> bool {
            let all = want_of(offset, seqs.clone()).seqs;
            let w = WantVector::fitting(offset, all.iter().copied());
            let fits = w.encoded_len() <= MAX_BODY && all.starts_with(&w.seqs);
            match all.get(w.seqs.len()) {
                None => fits,
                Some(&next) => {
                    let mut more = w.clone();
                    more.seqs.push(next);
                    fits && more.encoded_len() > MAX_BODY
                }
            }
        }

        fn chnk_fitting_is_maximal(items: Vec<(u32, u32, u32)>) -> bool {
            let all = chnk_of(items).requests;
            let c = ChnkVector::fitting(all.iter().copied());
            let fits = c.encoded_len() <= MAX_BODY && all.starts_with(&c.requests);
            match all.get(c.requests.len()) {
                None => fits,
                Some(&next) => {
                    let mut more = c.clone();
                    more.requests.push(next);
                    fits && more.encoded_len() > MAX_BODY
                }
            }
        }

        fn decode_is_total(bytes: Vec<u8>) -> bool {
            let _ = WantVector::decode(&bytes);
            let _ = ChnkVector::decode(&bytes);
            true
        }
    }
}
