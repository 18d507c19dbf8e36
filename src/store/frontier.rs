//! The `frontier.bin` file of a feed directory: a BIPF dict with the feed's end and its
//! pending sidechains, in the reference's key order `pend_sc`, `max_seq`, `max_pos`, `prev`.

use std::collections::BTreeMap;

use crate::ids::{HashPtr, MsgId};
use crate::wire::bipf::{self, Value};

/// One pending sidechain as `frontier.bin` records it (`pend_sc[seq]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Pend {
    /// Chunks received so far (= index of the next one).
    pub received: u32,
    /// Chunks still missing.
    pub remaining: u32,
    /// Hash the next chunk must have.
    pub next_hash: HashPtr,
    /// Byte offset in `log.bin` of the next chunk's slot.
    pub slot_pos: u64,
}

/// The decoded content of `frontier.bin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct FrontierFile {
    /// Pending sidechains by seq.
    pub pend: BTreeMap<u32, Pend>,
    /// Number of entries.
    pub max_seq: u32,
    /// Length of `log.bin` the frontier accounts for.
    pub max_pos: u64,
    /// Msg id of the last entry, or the genesis prev.
    pub prev: MsgId,
}

fn key(s: &str) -> Value {
    Value::Str(s.to_owned())
}

fn int(n: u64) -> Value {
    Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

impl FrontierFile {
    /// The `frontier.bin` bytes.
    pub fn encode(&self) -> Vec<u8> {
        let pend = self
            .pend
            .iter()
            .map(|(seq, p)| {
                let v = Value::List(vec![
                    int(p.received.into()),
                    int(p.remaining.into()),
                    Value::Bytes(p.next_hash.0.to_vec()),
                    int(p.slot_pos),
                ]);
                (int((*seq).into()), v)
            })
            .collect();
        bipf::encode(&Value::Dict(vec![
            (key("pend_sc"), Value::Dict(pend)),
            (key("max_seq"), int(self.max_seq.into())),
            (key("max_pos"), int(self.max_pos)),
            (key("prev"), Value::Bytes(self.prev.0.to_vec())),
        ]))
    }

    /// Decodes `frontier.bin`; `None` if it is not a well-formed frontier (keys may come in any order).
    pub fn decode(bytes: &[u8]) -> Option<FrontierFile> {
        let Ok(Value::Dict(pairs)) = bipf::decode(bytes) else { return None };
        let field = |name: &str| {
            pairs.iter().find_map(|(k, v)| match k {
                Value::Str(s) if s == name => Some(v),
                _ => None,
            })
        };
        let Some(Value::Dict(pend_pairs)) = field("pend_sc") else { return None };
        let mut pend = BTreeMap::new();
        for (k, v) in pend_pairs {
            let seq = as_u32(k)?;
            let Value::List(items) = v else { return None };
            let [received, remaining, Value::Bytes(hash), slot_pos] = items.as_slice() else { return None };
            let p = Pend {
                received: as_u32(received)?,
                remaining: as_u32(remaining)?,
                next_hash: HashPtr::from_slice(hash).ok()?,
                slot_pos: as_u32(slot_pos)?.into(),
            };
            pend.insert(seq, p);
        }
        let Some(Value::Bytes(prev)) = field("prev") else { return None };
        Some(FrontierFile {
            pend,
            max_seq: as_u32(field("max_seq")?)?,
            max_pos: as_u32(field("max_pos")?)?.into(),
            prev: MsgId::from_slice(prev).ok()?,
        })
    }
}

fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Int(n) => u32::try_from(*n).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_frontier_states() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/bipf.json")).unwrap_or_default();
        let states = v["frontier_states"].as_array().cloned().unwrap_or_default();
        assert_eq!(states.len(), 4);
        for s in states {
            let bytes = crate::ids::from_hex(s["bipf"].as_str().unwrap_or("")).unwrap_or_default();
            let f = FrontierFile::decode(&bytes).unwrap_or_else(|| panic!("{}", s["desc"]));
            let plain = &s["state_plain"];
            assert_eq!(Some(u64::from(f.max_seq)), plain["max_seq"].as_u64());
            assert_eq!(Some(f.max_pos), plain["max_pos"].as_u64());
            assert_eq!(Some(f.prev.to_hex().as_str()), plain["prev"].as_str());
            assert_eq!(f.pend.len(), plain["pend_sc"].as_object().map_or(0, serde_json::Map::len));
            assert_eq!(f.encode(), bytes);
        }
        assert_eq!(FrontierFile::decode(b"\x05"), None);
        assert_eq!(FrontierFile::decode(b""), None);
    }
}
