//! The reference's BIPF variant: a compact, self-delimiting binary encoding of
//! JSON-like values, used for request vectors (WANT/CHNK) and `frontier.bin`.
//!
//! Every value is `varint(tag) ‖ body` with `tag = (len(body) << 3) | type`;
//! the tag varint is the unsigned LEB128 of [`super::varint`]. Integers are
//! written in the fewest little-endian two's-complement bytes that hold them.
//!
//! The decoder is total: it never panics, never recurses deeper than
//! [`MAX_DEPTH`] containers, checks every length against the bytes that
//! remain, and allocates only in proportion to the input. It is lenient where
//! the reference is (wider-than-minimal integers, bytes after the first value)
//! and strict where the reference would misread the input or crash (see
//! [`BipfError`]). A `str` body that is not valid UTF-8 is an error
//! ([`BipfError::InvalidUtf8`]), as in the Python reference; nothing is
//! replaced lossily.

use super::varint;
use core::fmt;

/// Type code of a UTF-8 string.
const T_STR: u8 = 0;
/// Type code of a byte string.
const T_BYTES: u8 = 1;
/// Type code of a signed integer.
const T_INT: u8 = 2;
/// Type code of an IEEE 754 double.
const T_DOUBLE: u8 = 3;
/// Type code of a list.
const T_LIST: u8 = 4;
/// Type code of a dict.
const T_DICT: u8 = 5;
/// Type code shared by none (empty body) and booleans (1-byte body).
const T_BOOLNONE: u8 = 6;

/// The deepest container nesting [`decode`] accepts: a value may sit inside at most this many
/// lists or dicts.
pub const MAX_DEPTH: usize = 32;

/// A decoded BIPF value.
///
/// Dicts keep their pairs in encoding order, duplicates included; lookups with
/// [`Value::get`] return the first match.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A UTF-8 string (type 0).
    Str(String),
    /// A byte string (type 1).
    Bytes(Vec<u8>),
    /// A signed 64-bit integer (type 2).
    Int(i64),
    /// A 64-bit float (type 3).
    Double(f64),
    /// A list of values (type 4).
    List(Vec<Value>),
    /// A dict as ordered key/value pairs (type 5). Keys must not be lists or dicts to decode.
    Dict(Vec<(Value, Value)>),
    /// A boolean (type 6, 1-byte body).
    Bool(bool),
    /// None (type 6, empty body).
    None,
}

/// Why bytes could not be decoded as BIPF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BipfError {
    /// The input ended inside a tag or a body, or a body runs past its enclosing container.
    Truncated,
    /// The tag varint does not fit in 64 bits.
    TagOverflow,
    /// The tag names the reserved type 7.
    ReservedType,
    /// An integer with an empty body.
    EmptyInt,
    /// An integer wider than 8 bytes whose extra bytes are not sign extension: it does not fit in an `i64`.
    IntOverflow,
    /// A double whose body is not exactly 8 bytes (the length found).
    DoubleLength(usize),
    /// A none/bool whose body is longer than 1 byte (the length found).
    BoolLength(usize),
    /// A bool whose byte is neither 0 nor 1 (the byte found).
    BoolValue(u8),
    /// A string body that is not valid UTF-8.
    InvalidUtf8,
    /// A dict key that is a list or a dict.
    ContainerKey,
    /// A dict body that ends after a key, without its value.
    MissingValue,
    /// Containers nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for BipfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BipfError::Truncated => f.write_str("BIPF value truncated"),
            BipfError::TagOverflow => f.write_str("BIPF tag overflows 64 bits"),
            BipfError::ReservedType => f.write_str("BIPF reserved type 7"),
            BipfError::EmptyInt => f.write_str("BIPF integer with empty body"),
            BipfError::IntOverflow => f.write_str("BIPF integer does not fit in 64 bits"),
            BipfError::DoubleLength(n) => write!(f, "BIPF double of {n} bytes (expected 8)"),
            BipfError::BoolLength(n) => write!(f, "BIPF bool/none of {n} bytes (expected 0 or 1)"),
            BipfError::BoolValue(b) => write!(f, "BIPF bool byte {b:#04x} (expected 0 or 1)"),
            BipfError::InvalidUtf8 => f.write_str("BIPF string is not valid UTF-8"),
            BipfError::ContainerKey => f.write_str("BIPF dict key is a list or dict"),
            BipfError::MissingValue => f.write_str("BIPF dict key without a value"),
            BipfError::TooDeep => write!(f, "BIPF nesting deeper than {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for BipfError {}

impl Value {
    /// The integer, if this is an [`Value::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes, if this is a [`Value::Bytes`].
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The string, if this is a [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::List`].
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The pairs in encoding order, if this is a [`Value::Dict`].
    pub fn as_dict(&self) -> Option<&[(Value, Value)]> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The value of the first pair whose key equals `key`, if this is a dict that has one.
    pub fn get_key(&self, key: &Value) -> Option<&Value> {
        self.as_dict()?.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value under the string key `key`, if this is a dict that has one.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_dict()?.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Bytes(b.to_vec())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

// ---------------------------------------------------------------- encoding

/// Body width of an integer: `1 + bitlen(m) / 8` with `m = n` for `n >= 0`, else `-n - 1`.
fn int_width(n: i64) -> usize {
    // `n ^ (n >> 63)` is `n` for non-negative `n` and `!n = -n - 1` otherwise.
    let m = (n ^ (n >> 63)).cast_unsigned();
    1 + (64 - m.leading_zeros() as usize) / 8
}

/// The tag for a body of `len` bytes of type `ty`.
fn tag(len: usize, ty: u8) -> u64 {
    ((len as u64) << 3) | u64::from(ty)
}

/// Encoded size of a value whose body is `len` bytes.
fn framed(len: usize) -> usize {
    varint::encoded_len(tag(len, 0)) + len
}

/// Measures `v`: returns its encoded length and appends the body length of every container, in
/// pre-order, to `lens`, so that [`write()`] never measures anything twice.
fn measure(v: &Value, lens: &mut Vec<usize>) -> usize {
    let body = match v {
        Value::Str(s) => s.len(),
        Value::Bytes(b) => b.len(),
        Value::Int(n) => int_width(*n),
        Value::Double(_) => 8,
        Value::Bool(_) => 1,
        Value::None => 0,
        Value::List(items) => {
            let slot = lens.len();
            lens.push(0);
            let body = items.iter().map(|x| measure(x, lens)).sum();
            if let Some(s) = lens.get_mut(slot) {
                *s = body;
            }
            body
        }
        Value::Dict(pairs) => {
            let slot = lens.len();
            lens.push(0);
            let body = pairs.iter().map(|(k, x)| measure(k, lens) + measure(x, lens)).sum();
            if let Some(s) = lens.get_mut(slot) {
                *s = body;
            }
            body
        }
    };
    framed(body)
}

/// Writes `v`, taking container body lengths from `lens` in the order [`measure`] produced them.
fn write(v: &Value, lens: &mut core::slice::Iter<'_, usize>, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            varint::encode(tag(s.len(), T_STR), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            varint::encode(tag(b.len(), T_BYTES), out);
            out.extend_from_slice(b);
        }
        Value::Int(n) => {
            let w = int_width(*n);
            varint::encode(tag(w, T_INT), out);
            out.extend(n.to_le_bytes().iter().take(w));
        }
        Value::Double(x) => {
            varint::encode(tag(8, T_DOUBLE), out);
            out.extend_from_slice(&x.to_le_bytes());
        }
        Value::Bool(b) => {
            varint::encode(tag(1, T_BOOLNONE), out);
            out.push(u8::from(*b));
        }
        Value::None => varint::encode(tag(0, T_BOOLNONE), out),
        Value::List(items) => {
            varint::encode(tag(lens.next().copied().unwrap_or(0), T_LIST), out);
            for x in items {
                write(x, lens, out);
            }
        }
        Value::Dict(pairs) => {
            varint::encode(tag(lens.next().copied().unwrap_or(0), T_DICT), out);
            for (k, x) in pairs {
                write(k, lens, out);
                write(x, lens, out);
            }
        }
    }
}

/// The number of bytes [`encode`] produces for `v`.
pub fn encoded_len(v: &Value) -> usize {
    measure(v, &mut Vec::new())
}

/// Appends the BIPF encoding of `v` to `out`.
///
/// Every value encodes; a dict whose key is a list or dict encodes as the
/// reference would, but [`decode`] rejects it.
pub fn encode_into(v: &Value, out: &mut Vec<u8>) {
    let mut lens = Vec::new();
    let total = measure(v, &mut lens);
    out.reserve(total);
    write(v, &mut lens.iter(), out);
}

/// The BIPF encoding of `v`.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

// ---------------------------------------------------------------- decoding

/// Decodes the first value in `bytes`; any bytes after it are ignored, as the reference does.
pub fn decode(bytes: &[u8]) -> Result<Value, BipfError> {
    decode_prefix(bytes).map(|(v, _)| v)
}

/// Decodes the first value in `bytes` and returns it with the number of bytes it occupies.
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), BipfError> {
    decode_at(bytes, 0)
}

/// Splits the value at the start of `bytes` into its type (0..=7), its body and the bytes it
/// takes in all, checking only the framing (for readers that interpret bodies themselves).
pub fn frame(bytes: &[u8]) -> Result<(u8, &[u8], usize), BipfError> {
    let (tag, used) = varint::decode(bytes).map_err(|e| match e {
        varint::VarintError::Truncated => BipfError::Truncated,
        varint::VarintError::Overflow => BipfError::TagOverflow,
    })?;
    let len = usize::try_from(tag >> 3).map_err(|_| BipfError::Truncated)?;
    let end = used.checked_add(len).ok_or(BipfError::Truncated)?;
    let body = bytes.get(used..end).ok_or(BipfError::Truncated)?;
    Ok(((tag & 7) as u8, body, end))
}

/// Decodes one value at the start of `bytes`, `depth` containers deep.
fn decode_at(bytes: &[u8], depth: usize) -> Result<(Value, usize), BipfError> {
    let (ty, body, used) = frame(bytes)?;
    let value = match ty {
        T_STR => Value::Str(core::str::from_utf8(body).map_err(|_| BipfError::InvalidUtf8)?.to_owned()),
        T_BYTES => Value::Bytes(body.to_vec()),
        T_INT => Value::Int(decode_int(body)?),
        T_DOUBLE => {
            let raw = <[u8; 8]>::try_from(body).map_err(|_| BipfError::DoubleLength(body.len()))?;
            Value::Double(f64::from_le_bytes(raw))
        }
        T_LIST => {
            let depth = enter(depth)?;
            let mut items = Vec::new();
            let mut rest = body;
            while !rest.is_empty() {
                let (x, n) = decode_at(rest, depth)?;
                items.push(x);
                rest = rest.get(n..).ok_or(BipfError::Truncated)?;
            }
            Value::List(items)
        }
        T_DICT => {
            let depth = enter(depth)?;
            let mut pairs = Vec::new();
            let mut rest = body;
            while !rest.is_empty() {
                let (k, n) = decode_at(rest, depth)?;
                if matches!(k, Value::List(_) | Value::Dict(_)) {
                    return Err(BipfError::ContainerKey);
                }
                rest = rest.get(n..).ok_or(BipfError::Truncated)?;
                if rest.is_empty() {
                    return Err(BipfError::MissingValue);
                }
                let (x, n) = decode_at(rest, depth)?;
                rest = rest.get(n..).ok_or(BipfError::Truncated)?;
                pairs.push((k, x));
            }
            Value::Dict(pairs)
        }
        T_BOOLNONE => match body {
            [] => Value::None,
            [0] => Value::Bool(false),
            [1] => Value::Bool(true),
            [b] => return Err(BipfError::BoolValue(*b)),
            _ => return Err(BipfError::BoolLength(body.len())),
        },
        _ => return Err(BipfError::ReservedType),
    };
    Ok((value, used))
}

/// The depth inside a container at `depth`, or [`BipfError::TooDeep`].
fn enter(depth: usize) -> Result<usize, BipfError> {
    if depth >= MAX_DEPTH {
        Err(BipfError::TooDeep)
    } else {
        Ok(depth + 1)
    }
}

/// Reads a little-endian two's-complement integer of any width whose value fits in an `i64`.
fn decode_int(body: &[u8]) -> Result<i64, BipfError> {
    if body.is_empty() {
        return Err(BipfError::EmptyInt);
    }
    let (low, high) = body.split_at(body.len().min(8));
    let mut raw = [0u8; 8];
    for (r, b) in raw.iter_mut().zip(low) {
        *r = *b;
    }
    // Move the top byte read into the sign position, then shift back arithmetically.
    let shift = 8 * (8 - low.len());
    let n = (i64::from_le_bytes(raw) << shift) >> shift;
    let fill = if n < 0 { 0xff } else { 0x00 };
    if high.iter().any(|&b| b != fill) {
        return Err(BipfError::IntOverflow);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::{quickcheck, Arbitrary, Gen};

    /// Bounded-depth arbitrary values; dict keys are scalars so that every value decodes.
    fn arb_value(g: &mut Gen, depth: usize) -> Value {
        let kinds = if depth == 0 { 7 } else { 9 };
        match u8::arbitrary(g) % kinds {
            0 => Value::Str(String::arbitrary(g)),
            1 => Value::Bytes(Vec::arbitrary(g)),
            2 => Value::Int(i64::arbitrary(g)),
            3 => Value::Int(i64::from(i16::arbitrary(g))),
            4 => Value::Double(f64::arbitrary(g)),
            5 => Value::Bool(bool::arbitrary(g)),
            6 => Value::None,
            7 => Value::List((0..usize::arbitrary(g) % 5).map(|_| arb_value(g, depth - 1)).collect()),
            _ => Value::Dict(
                (0..usize::arbitrary(g) % 5).map(|_| (arb_value(g, 0), arb_value(g, depth - 1))).collect(),
            ),
        }
    }

    impl Arbitrary for Value {
        fn arbitrary(g: &mut Gen) -> Self {
            arb_value(g, 4)
        }
    }

    fn nested_lists(n: usize) -> Vec<u8> {
        let mut v = Value::List(vec![]);
        for _ in 1..n {
            v = Value::List(vec![v]);
        }
        encode(&v)
    }

    #[test]
    fn depth_cap() {
        assert!(decode(&nested_lists(MAX_DEPTH)).is_ok());
        assert_eq!(decode(&nested_lists(MAX_DEPTH + 1)), Err(BipfError::TooDeep));
    }

    #[test]
    fn int_extremes_and_widths() {
        for n in [i64::MIN, i64::MIN + 1, -1, 0, i64::MAX] {
            assert_eq!(decode(&encode(&Value::Int(n))), Ok(Value::Int(n)));
        }
        assert_eq!(encode(&Value::Int(i64::MIN)), hex("420000000000000080"));
        // Wider than 8 bytes: accepted only as pure sign extension.
        assert_eq!(decode(&hex("4aff ffff ffff ffff ffff")), Ok(Value::Int(-1)));
        assert_eq!(decode(&hex("4a01 0000 0000 0000 0000")), Ok(Value::Int(1)));
        assert_eq!(decode(&hex("4a00 0000 0000 0000 8000")), Err(BipfError::IntOverflow));
        assert_eq!(decode(&hex("4a00")), Err(BipfError::Truncated));
        assert_eq!(decode(&hex("4a00 0000 0000 0000 00ff")), Err(BipfError::IntOverflow));
    }

    #[test]
    fn malformed_inputs() {
        let cases: &[(&str, BipfError)] = &[
            ("", BipfError::Truncated),
            ("80", BipfError::Truncated),
            ("ffffffffffffffffffff01", BipfError::TagOverflow),
            ("07", BipfError::ReservedType),
            ("02", BipfError::EmptyInt),
            ("3b0000000000000000", BipfError::DoubleLength(7)),
            ("160000", BipfError::BoolLength(2)),
            ("0e02", BipfError::BoolValue(2)),
            ("08ff", BipfError::InvalidUtf8),
            ("1102", BipfError::Truncated),
            ("0c0a", BipfError::Truncated),
            ("0c0a00", BipfError::Truncated),
            ("0d04", BipfError::ContainerKey),
            ("150a01", BipfError::MissingValue),
        ];
        for (input, err) in cases {
            assert_eq!(decode(&hex(input)), Err(*err), "input {input}");
        }
    }

    #[test]
    fn non_ascii_string_uses_byte_length() {
        let v = Value::from("é");
        assert_eq!(encode(&v), hex("10c3a9"));
        assert_eq!(decode(&hex("10c3a9")), Ok(v));
    }

    #[test]
    fn accessors() {
        let d = Value::Dict(vec![
            (Value::from("a"), Value::Int(1)),
            (Value::Int(2), Value::from(&b"x"[..])),
            (Value::from("a"), Value::Int(3)),
        ]);
        assert_eq!(d.get("a").and_then(Value::as_int), Some(1));
        assert_eq!(d.get_key(&Value::Int(2)).and_then(Value::as_bytes), Some(&b"x"[..]));
        assert_eq!(d.get("b"), None);
        assert_eq!(Value::Bool(true).as_bool(), Some(true));
        assert_eq!(Value::None.as_list(), None);
    }

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        crate::ids::from_hex(&s).unwrap()
    }

    quickcheck! {
        fn round_trip(v: Value) -> bool {
            // Compare re-encodings so that doubles (NaN included) are compared bitwise.
            let bytes = encode(&v);
            bytes.len() == encoded_len(&v)
                && decode_prefix(&bytes).map(|(w, n)| (encode(&w), n)) == Ok((bytes.clone(), bytes.len()))
        }

        fn decode_is_total(bytes: Vec<u8>) -> bool {
            match decode_prefix(&bytes) {
                Ok((_, used)) => used >= 1 && used <= bytes.len(),
                Err(_) => true,
            }
        }

        fn trailing_bytes_are_ignored(v: Value, tail: Vec<u8>) -> bool {
            let mut bytes = encode(&v);
            let len = bytes.len();
            bytes.extend_from_slice(&tail);
            decode_prefix(&bytes).map(|(w, n)| (encode(&w), n)) == Ok((encode(&v), len))
        }
    }
}
