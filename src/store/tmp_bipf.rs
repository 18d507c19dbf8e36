//! TEMPORARY stand-in for `crate::wire::bipf` (same API subset) until that module lands on main.
//! Delete this file and switch `frontier.rs` to `crate::wire::bipf` after merging main.

/// A BIPF value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// UTF-8 string.
    Str(String),
    /// Byte string.
    Bytes(Vec<u8>),
    /// Signed integer.
    Int(i64),
    /// List.
    List(Vec<Value>),
    /// Dict with pairs in encoding order.
    Dict(Vec<(Value, Value)>),
}

/// Decoding failure.
#[derive(Debug)]
pub struct BipfError;

fn put(tag_type: u64, body: &[u8], out: &mut Vec<u8>) {
    crate::wire::varint::encode(((body.len() as u64) << 3) | tag_type, out);
    out.extend_from_slice(body);
}

/// Encodes a value.
pub fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(v, &mut out);
    out
}

/// Appends a value's encoding.
pub fn encode_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => put(0, s.as_bytes(), out),
        Value::Bytes(b) => put(1, b, out),
        Value::Int(n) => {
            let m = if *n >= 0 { *n as u64 } else { (-(*n + 1)) as u64 };
            let bits = 64 - m.leading_zeros() as usize;
            let len = 1 + bits / 8;
            put(2, &n.to_le_bytes()[..len], out)
        }
        Value::List(items) => {
            let mut body = Vec::new();
            items.iter().for_each(|i| encode_into(i, &mut body));
            put(4, &body, out)
        }
        Value::Dict(pairs) => {
            let mut body = Vec::new();
            for (k, v) in pairs {
                encode_into(k, &mut body);
                encode_into(v, &mut body);
            }
            put(5, &body, out)
        }
    }
}

/// Decodes one value at the start of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, BipfError> {
    decode_prefix(bytes).map(|(v, _)| v)
}

/// Decodes one value, returning it and the bytes it used.
pub fn decode_prefix(bytes: &[u8]) -> Result<(Value, usize), BipfError> {
    dec(bytes, 0)
}

fn dec(bytes: &[u8], depth: u32) -> Result<(Value, usize), BipfError> {
    if depth > 8 {
        return Err(BipfError);
    }
    let (tag, n) = crate::wire::varint::decode(bytes).map_err(|_| BipfError)?;
    let len = usize::try_from(tag >> 3).map_err(|_| BipfError)?;
    let body = bytes.get(n..n.checked_add(len).ok_or(BipfError)?).ok_or(BipfError)?;
    let v = match tag & 7 {
        0 => Value::Str(String::from_utf8(body.to_vec()).map_err(|_| BipfError)?),
        1 => Value::Bytes(body.to_vec()),
        2 => {
            if body.is_empty() || body.len() > 8 {
                return Err(BipfError);
            }
            let fill = if body[body.len() - 1] & 0x80 != 0 { 0xff } else { 0 };
            let mut b = [fill; 8];
            b[..body.len()].copy_from_slice(body);
            Value::Int(i64::from_le_bytes(b))
        }
        4 | 5 => {
            let mut items = Vec::new();
            let mut rest = body;
            while !rest.is_empty() {
                let (v, used) = dec(rest, depth + 1)?;
                items.push(v);
                rest = rest.get(used..).ok_or(BipfError)?;
            }
            if tag & 7 == 4 {
                Value::List(items)
            } else {
                let mut pairs = Vec::new();
                let mut it = items.into_iter();
                while let Some(k) = it.next() {
                    pairs.push((k, it.next().ok_or(BipfError)?));
                }
                Value::Dict(pairs)
            }
        }
        _ => return Err(BipfError),
    };
    Ok((v, n + len))
}
