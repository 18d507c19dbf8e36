//! SPEC.md must not drift from the code: every byte example in it (a block tagged `hex KIND
//! [NAME]`, see SPEC.md's notation section) is checked here against the implementation, and
//! against the known-answer vectors where the example names one. The transport kinds (`crc32`,
//! `kiss`) live in the drivers and are checked by `drivers/tests/spec_examples.rs`.
//!
//! A kind or name this test does not know is an error, and so is a fenced block without a tag
//! or an inline code span that looks like an encoding: a new example must come with its check.

mod spec;

use serde_json::Value as Json;
use spec::{field, to_hex, Block, Op};
use tinyssb::crypto::PublicKey;
use tinyssb::goset::{Config as GosetConfig, GoSet};
use tinyssb::ids::from_hex;
use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::Store;
use tinyssb::wire::bipf::{self, Value};
use tinyssb::wire::chunk::Chunk;
use tinyssb::wire::entry::{entry_dmx, Chain20, Entry, CHAIN20_HEAD};
use tinyssb::wire::goset::{goset_dmx, wide_dmx, Format, GosetMsg, CLAIM_TYPE, NOVELTY_TYPE};
use tinyssb::wire::request::{chnk_dmx, want_dmx, ChnkVector, ChunkRequest, RequestVector, WantVector};
use tinyssb::wire::varint;
use tinyssb::{FeedId, MsgId, Seq};

/// Kinds checked by the drivers' copy of this test.
const DRIVER_KINDS: &[&str] = &["crc32", "kiss"];

type Check = Result<(), String>;

fn vector(name: &str) -> Json {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn vhex(v: &Json) -> Vec<u8> {
    from_hex(v.as_str().expect("hex string")).expect("hex")
}

/// Fails with `what` unless `got == want`, showing both in hex.
fn same(what: &str, got: &[u8], want: &[u8]) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: the code gives {}, SPEC shows {}", to_hex(got), to_hex(want)))
    }
}

fn ensure(cond: bool, what: impl FnOnce() -> String) -> Check {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

#[test]
fn every_spec_example_matches_the_code() {
    let text = spec::read_spec(env!("CARGO_MANIFEST_DIR"));
    let (blocks, mut problems) = spec::parse(&text);
    let mut seen = std::collections::BTreeSet::new();
    for block in &blocks {
        let result = match block.kind.as_str() {
            "varint" => check_varint(block),
            "bipf" => check_bipf(block),
            "request-int" => check_request_int(block),
            "dmx" => check_dmx(block),
            "claim" => check_claim(block, Format::Classic),
            "wide-claim" => check_claim(block, Format::Wide),
            "novelty" => check_novelty(block),
            "log" => check_log(block),
            "want" => check_want(block),
            "chnk" => check_chnk(block),
            "entry" => check_entry(block),
            "chunk" => check_chunk(block),
            "frontier" => check_frontier(block),
            "noise" => check_noise(block),
            "mesh-record" => check_mesh_record(block),
            "hrw" => check_hrw(block),
            k if DRIVER_KINDS.contains(&k) => continue,
            other => Err(format!("unknown kind {other:?}: add a check for it")),
        };
        seen.insert(block.kind.as_str());
        if let Err(e) = result {
            problems.push(format!("{}: {e}", block.at()));
        }
    }
    assert!(problems.is_empty(), "SPEC.md examples out of date:\n{}", problems.join("\n"));
    // Guards against the parser silently finding nothing.
    let kinds = [
        "varint",
        "bipf",
        "request-int",
        "dmx",
        "claim",
        "want",
        "chnk",
        "entry",
        "chunk",
        "frontier",
        "noise",
        "mesh-record",
        "hrw",
    ];
    for kind in kinds {
        assert!(seen.contains(kind), "no hex {kind} block found in SPEC.md");
    }
}

/// Every `Type::function` SPEC.md names in code spans must exist in the core's sources (a type
/// of that name declared somewhere, a function of that name defined somewhere), so the text
/// cannot keep pointing at an API that was renamed or never existed. Primitive types are skipped.
#[test]
fn apis_named_in_spec_exist() {
    let text = spec::read_spec(env!("CARGO_MANIFEST_DIR"));
    let mut sources = String::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = dirs.pop() {
        for item in std::fs::read_dir(dir).expect("read src") {
            let path = item.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).expect("read source"));
            }
        }
    }
    let mut missing = Vec::new();
    let mut named = 0;
    for (n, line) in text.lines().enumerate() {
        for span in line.split('`').skip(1).step_by(2) {
            let Some((ty, rest)) = span.split_once("::") else { continue };
            let func: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            let is_ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
            if !is_ident(ty) || !is_ident(&func) || ty.starts_with(|c: char| c.is_lowercase()) {
                continue; // not a path, or a primitive such as i64::MAX
            }
            named += 1;
            let has_type =
                ["struct", "enum", "trait", "type"].iter().any(|k| sources.contains(&format!("{k} {ty}")));
            if !has_type || !sources.contains(&format!("fn {func}(")) {
                missing.push(format!("SPEC.md:{}: `{span}` is not in src/", n + 1));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    assert!(named > 0, "SPEC.md names no Type::function at all: is the scan broken?");
}

/// The secure-link example of SPEC.md section 12: static secrets `01*32` (initiator) and
/// `02*32`, ephemeral entropy `11*32` and `22*32`, empty payloads. Returns the three handshake
/// messages and the initiator's first transport message, sealing `hello`.
fn noise_example() -> Result<Vec<Vec<u8>>, String> {
    use std::sync::Arc;
    use tinyssb::secure::{Handshake, SecureConfig, Side, StaticKey};
    let cfg = |b: u8| StaticKey::from_secret([b; 32]).map(|k| Arc::new(SecureConfig::new(k)));
    let e = |e: tinyssb::secure::SecureError| e.to_string();
    let mut i = Handshake::new(Side::Initiator, cfg(1).map_err(e)?, [0x11; 32]).map_err(e)?;
    let mut r = Handshake::new(Side::Responder, cfg(2).map_err(e)?, [0x22; 32]).map_err(e)?;
    let mut out = Vec::new();
    for turn in 0..3 {
        let (from, to) = if turn % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
        let msg = from.poll_transmit().ok_or("no handshake message due")?;
        to.handle_message(&msg).map_err(e)?;
        out.push(msg);
    }
    out.push(i.into_link().map_err(e)?.seal(b"hello").map_err(e)?);
    Ok(out)
}

/// A `noise` block: one of the example's messages (`msg1`, `msg2`, `msg3`, `transport`), its
/// fields split as SPEC.md section 12 lays them out.
fn check_noise(block: &Block) -> Check {
    let msgs = noise_example()?;
    let (bytes, fields) = block.fields()?;
    let part = |m: &[u8], a: usize, b: usize| m.get(a..b).map(<[u8]>::to_vec).unwrap_or_default();
    let (msg, expected) = match block.name.as_str() {
        "msg1" => (&msgs[0], vec![("e", msgs[0].clone())]),
        "msg2" => {
            let m = &msgs[1];
            (m, vec![("e", part(m, 0, 32)), ("s", part(m, 32, 80)), ("payload", part(m, 80, m.len()))])
        }
        "msg3" => {
            let m = &msgs[2];
            (m, vec![("s", part(m, 0, 48)), ("payload", part(m, 48, m.len()))])
        }
        "transport" => {
            let m = &msgs[3];
            let n = m.len() - 16;
            (m, vec![("ciphertext", part(m, 0, n)), ("tag", part(m, n, m.len()))])
        }
        other => return Err(format!("unknown noise example {other:?} (msg1, msg2, msg3, transport)")),
    };
    same("the message", msg, &bytes)?;
    check_fields(&fields, &expected)
}

/// Runs `check` on every equation of the block and collects the failures with their lines.
fn each<F>(block: &Block, mut check: F) -> Check
where
    F: FnMut(&spec::Equation) -> Check,
{
    let mut errors = Vec::new();
    for eq in block.equations()? {
        if let Err(e) = check(&eq) {
            errors.push(format!("line {}: {e}", eq.line));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

fn check_varint(block: &Block) -> Check {
    each(block, |eq| {
        let decoded = varint::decode(&eq.bytes);
        if eq.op == Op::Rejects {
            return ensure(decoded.is_err(), || format!("{} was accepted: {decoded:?}", to_hex(&eq.bytes)));
        }
        let n: u64 = eq.value.parse().map_err(|_| format!("not a number: {}", eq.value))?;
        ensure(decoded == Ok((n, eq.bytes.len())), || {
            format!("{} reads as {decoded:?}, SPEC says {}", to_hex(&eq.bytes), eq.value)
        })?;
        if eq.op == Op::Both {
            let mut out = Vec::new();
            varint::encode(n, &mut out);
            same(&format!("varint {n}"), &out, &eq.bytes)?;
        }
        Ok(())
    })
}

/// A JSON value as BIPF: integers without a decimal point are integers, `null` is none.
fn json_to_bipf(j: &Json) -> Result<Value, String> {
    Ok(match j {
        Json::Null => Value::None,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_i64(), n.is_f64()) {
            (Some(i), _) => Value::Int(i),
            (None, true) => Value::Double(n.as_f64().unwrap_or_default()),
            _ => return Err(format!("{n} does not fit a BIPF integer")),
        },
        Json::String(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(items.iter().map(json_to_bipf).collect::<Result<_, _>>()?),
        Json::Object(map) => {
            if map.len() > 1 {
                // serde_json sorts keys, which would hide the order SPEC shows.
                return Err("dicts with more than one key cannot be checked".into());
            }
            Value::Dict(
                map.iter()
                    .map(|(k, v)| Ok((Value::Str(k.clone()), json_to_bipf(v)?)))
                    .collect::<Result<_, String>>()?,
            )
        }
    })
}

fn check_bipf(block: &Block) -> Check {
    each(block, |eq| {
        let decoded = bipf::decode(&eq.bytes);
        if eq.op == Op::Rejects {
            return ensure(decoded.is_err(), || format!("{} was accepted: {decoded:?}", to_hex(&eq.bytes)));
        }
        let json: Json = serde_json::from_str(&eq.value).map_err(|e| format!("{}: {e}", eq.value))?;
        let value = json_to_bipf(&json)?;
        ensure(decoded.as_ref() == Ok(&value), || {
            format!("{} reads as {decoded:?}, SPEC says {}", to_hex(&eq.bytes), eq.value)
        })?;
        if eq.op == Op::Both {
            same(&format!("BIPF {}", eq.value), &bipf::encode(&value), &eq.bytes)?;
        }
        Ok(())
    })
}

/// The BIPF list `[items]` around already encoded items.
fn list_of(items: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint::encode(((items.len() as u64) << 3) | 4, &mut out);
    out.extend_from_slice(items);
    out
}

fn check_request_int(block: &Block) -> Check {
    each(block, |eq| {
        // The integer as the offset of a WANT that asks for nothing.
        let read = WantVector::decode(&list_of(&eq.bytes)).map(|w| w.offset);
        if eq.op == Op::Rejects {
            return ensure(read.is_err(), || format!("{} was accepted: {read:?}", to_hex(&eq.bytes)));
        }
        let n: u32 = eq.value.parse().map_err(|_| format!("not a request number: {}", eq.value))?;
        ensure(read == Ok(n), || format!("{} reads as {read:?}, SPEC says {}", to_hex(&eq.bytes), eq.value))?;
        if eq.op == Op::Both {
            let body = WantVector::new(n).encode();
            same(&format!("request number {n}"), &body, &list_of(&eq.bytes))?;
        }
        Ok(())
    })
}

/// The keys of the set labelled `label` in goset.json, as our `GoSet` sorts them.
fn goset_of(label: &str) -> Result<GoSet, String> {
    let v = vector("goset.json");
    let states = v["states"].as_array().expect("states");
    let state = states
        .iter()
        .find(|s| s["label"] == label)
        .ok_or_else(|| format!("goset.json has no state {label:?}"))?;
    let mut set = GoSet::new(GosetConfig::default());
    for k in state["keys"].as_array().expect("keys") {
        set.add(FeedId::from_slice(&vhex(k)).expect("key"));
    }
    Ok(set)
}

/// The goset.json label a `goset.json:LABEL` name refers to.
fn goset_label(block: &Block) -> Result<&str, String> {
    block.name.strip_prefix("goset.json:").ok_or_else(|| "name must be goset.json:LABEL".to_string())
}

fn check_dmx(block: &Block) -> Check {
    let mut known: Vec<(&str, Vec<u8>)> = vec![
        ("goset_dmx", goset_dmx().0.to_vec()),
        ("wide_dmx", wide_dmx().0.to_vec()),
        ("mesh_dmx", tinyssb::mesh::packet::MESH_DMX.to_vec()),
    ];
    if !block.name.is_empty() {
        let state = goset_of(goset_label(block)?)?.state();
        known.push(("state", state.to_vec()));
        known.push(("want_dmx", want_dmx(&state).0.to_vec()));
        known.push(("chnk_dmx", chnk_dmx(&state).0.to_vec()));
    }
    each(block, |eq| {
        ensure(eq.op == Op::Both, || "DMX lines are NAME = HEX".into())?;
        let (_, code) = known
            .iter()
            .find(|(n, _)| *n == eq.value)
            .ok_or_else(|| format!("unknown value {:?} for this block", eq.value))?;
        same(&eq.value, code, &eq.bytes)
    })
}

/// Checks that every labelled field is one of `allowed` and that those present equal the code's.
fn check_fields(fields: &[(String, Vec<u8>)], expected: &[(&str, Vec<u8>)]) -> Check {
    for (label, _) in fields {
        ensure(expected.iter().any(|(l, _)| l == label), || {
            format!(
                "field {label:?} is not one of {:?}",
                expected.iter().map(|(l, _)| *l).collect::<Vec<_>>()
            )
        })?;
    }
    for (label, want) in expected {
        if let Some(shown) = field(fields, label) {
            same(label, want, &shown)?;
        }
    }
    Ok(())
}

fn check_claim(block: &Block, format: Format) -> Check {
    let set = goset_of(goset_label(block)?)?;
    let claim = set.full_claim().ok_or("an empty set has no claim")?;
    let (bytes, fields) = block.fields()?;
    let count = match format {
        Format::Classic => {
            vec![u8::try_from(claim.count).map_err(|_| "a classic claim's count is one byte")?]
        }
        Format::Wide => claim.count.to_be_bytes().to_vec(),
    };
    let packet = GosetMsg::Claim(claim).to_packet_as(format).ok_or("no packet")?;
    same("full claim", &packet, &bytes)?;
    ensure(GosetMsg::from_packet_as(format, &bytes) == Ok(GosetMsg::Claim(claim)), || {
        "does not decode to the claim".into()
    })?;
    check_fields(
        &fields,
        &[
            ("dmx", format.dmx().0.to_vec()),
            ("type", vec![CLAIM_TYPE]),
            ("lo", claim.lo.0.to_vec()),
            ("hi", claim.hi.0.to_vec()),
            ("xor", claim.xor.to_vec()),
            ("count", count),
        ],
    )
}

fn check_novelty(block: &Block) -> Check {
    let set = goset_of(goset_label(block)?)?;
    let key = *set.keys().first().ok_or("an empty set has no key to offer")?;
    let (bytes, fields) = block.fields()?;
    same("novelty", &GosetMsg::Novelty(key).to_packet().ok_or("no classic packet")?, &bytes)?;
    ensure(GosetMsg::from_packet(&bytes) == Ok(GosetMsg::Novelty(key)), || {
        "does not decode to the key".into()
    })?;
    check_fields(
        &fields,
        &[("dmx", goset_dmx().0.to_vec()), ("type", vec![NOVELTY_TYPE]), ("key", key.0.to_vec())],
    )
}

fn check_want(block: &Block) -> Check {
    let label = goset_label(block)?;
    let set = goset_of(label)?;
    let (bytes, _) = block.fields()?;
    // The reference's WANT for the same set (offset 0, nothing stored yet).
    let v = vector("goset.json");
    let state_v =
        v["states"].as_array().expect("states").iter().find(|s| s["label"] == label).expect("state");
    same("reference WANT in goset.json", &vhex(&state_v["want_adv"]["packets"][0]), &bytes)?;
    let dmx = want_dmx(&set.state());
    let ours = WantVector { offset: 0, seqs: vec![Seq(1); set.len()] };
    same("WANT packet", &ours.to_packet(&dmx), &bytes)?;
    let decoded = WantVector::decode(bytes.get(7..).unwrap_or_default());
    ensure(decoded.as_ref() == Ok(&ours), || format!("body reads as {decoded:?}"))
}

fn check_chnk(block: &Block) -> Check {
    let json: Json = serde_json::from_str(&block.name).map_err(|e| format!("name must be JSON: {e}"))?;
    let requests = json
        .as_array()
        .ok_or("name must be a list")?
        .iter()
        .map(|t| {
            let n = |i: usize| t[i].as_u64().and_then(|x| u32::try_from(x).ok()).ok_or("bad triple");
            Ok(ChunkRequest { feed_index: n(0)?, seq: Seq(n(1)?), chunk: n(2)? })
        })
        .collect::<Result<Vec<_>, &str>>()?;
    let ours = ChnkVector { requests };
    let (bytes, _) = block.fields()?;
    same("CHNK body", &ours.encode(), &bytes)?;
    let decoded = ChnkVector::decode(&bytes);
    ensure(decoded.as_ref() == Ok(&ours), || format!("reads as {decoded:?}"))
}

/// Entry `seq` of feed.json: its vector and the feed id.
fn feed_entry(name: &str) -> Result<(Json, FeedId, Seq), String> {
    let seq: u32 =
        name.strip_prefix("feed.json:").and_then(|s| s.parse().ok()).ok_or("name must be feed.json:SEQ")?;
    let v = vector("feed.json");
    let fid = FeedId::from_slice(&vhex(&v["fid"])).expect("fid");
    let e = v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["seq"] == seq)
        .ok_or_else(|| format!("feed.json has no entry {seq}"))?
        .clone();
    Ok((e, fid, Seq(seq)))
}

fn check_entry(block: &Block) -> Check {
    let (vec_entry, fid, seq) = feed_entry(&block.name)?;
    let (bytes, fields) = block.fields()?;
    same("feed.json wire", &vhex(&vec_entry["wire"]), &bytes)?;
    let entry = Entry::from_slice(&bytes).map_err(|e| e.to_string())?;
    let prev = MsgId::from_slice(&vhex(&vec_entry["prev"])).expect("prev");
    let key = PublicKey::from_feed_id(&fid).ok_or("feed id is not a key")?;
    entry.verify(&key, &fid, seq, &prev).map_err(|e| format!("does not verify: {e}"))?;
    same("dmx", entry_dmx(&fid, seq, &prev).as_bytes(), entry.dmx().as_bytes())?;
    let payload = entry.payload();
    let mut expected = vec![
        ("dmx", entry.dmx().0.to_vec()),
        ("type", vec![entry.type_byte()]),
        ("payload", payload.to_vec()),
        ("signature", entry.signature().to_vec()),
    ];
    if let Some(c) = Chain20::parse(payload).filter(|_| entry.type_byte() == 1) {
        let s = c.varint_len;
        let h = c.head_len();
        expected.push(("length", payload[..s].to_vec()));
        expected.push(("content", payload[s..s + h].to_vec()));
        expected.push(("zeros", payload[s + h..CHAIN20_HEAD].to_vec()));
        expected.push(("pointer", c.first.0.to_vec()));
        let mut len = Vec::new();
        varint::encode(c.content_len, &mut len);
        same("length varint", &len, &payload[..s])?;
    }
    check_fields(&fields, &expected)
}

fn check_chunk(block: &Block) -> Check {
    let (vec_entry, _, _) = feed_entry(&block.name)?;
    let (bytes, fields) = block.fields()?;
    same("feed.json chunk 0", &vhex(&vec_entry["chunks"][0]), &bytes)?;
    let chunk = Chunk::from_slice(&bytes).map_err(|e| e.to_string())?;
    let entry = Entry::from_slice(&vhex(&vec_entry["wire"])).expect("entry");
    let pointer = Chain20::parse(entry.payload()).ok_or("not a chain20 entry")?.first;
    ensure(chunk.hash() == pointer, || "the chunk's hash is not the entry's pointer".into())?;
    let n = field(&fields, "content").map_or(0, |c| c.len()).min(chunk.content().len());
    let padding = chunk.content()[n..].to_vec();
    ensure(padding.iter().all(|&b| b == 0), || "the bytes after the content are not zeros".into())?;
    check_fields(
        &fields,
        &[
            ("content", chunk.content()[..n].to_vec()),
            ("padding", padding),
            ("next", chunk.next().0.to_vec()),
        ],
    )
}

/// A data directory holding feed.json's feed with its entries `1..=n` stored, no chunks.
fn feed_dir(n: u32) -> Result<(tempfile::TempDir, std::path::PathBuf), String> {
    let v = vector("feed.json");
    let fid = FeedId::from_slice(&vhex(&v["fid"])).expect("fid");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = FsStore::open(dir.path(), FsConfig::default()).map_err(|e| e.to_string())?;
    store.add_feed(fid).map_err(|e| e.to_string())?;
    for seq in 1..=n {
        let (e, _, _) = feed_entry(&format!("feed.json:{seq}"))?;
        let entry = Entry::from_slice(&vhex(&e["wire"])).map_err(|e| e.to_string())?;
        let msg_id = MsgId::from_slice(&vhex(&e["msg_id"])).expect("msg_id");
        store.append_entry(&fid, &entry, msg_id).map_err(|e| e.to_string())?;
    }
    store.sync().map_err(|e| e.to_string())?;
    let feed = dir.path().join(fid.to_hex());
    Ok((dir, feed))
}

/// The N of a `feed.json:N` name (`feed.json:empty` is 0).
fn stored_count(block: &Block) -> Result<u32, String> {
    match block.name.strip_prefix("feed.json:") {
        Some("empty") => Ok(0),
        Some(n) => n.parse().map_err(|_| "name must be feed.json:N or feed.json:empty".into()),
        None => Err("name must be feed.json:N or feed.json:empty".into()),
    }
}

/// `log.bin` of feed.json's feed after its entries `1..=N` were stored without any chunk.
fn check_log(block: &Block) -> Check {
    let n = stored_count(block)?;
    let (_dir, feed) = feed_dir(n)?;
    let written = std::fs::read(feed.join("log.bin")).map_err(|e| e.to_string())?;
    let (bytes, fields) = block.fields()?;
    same("log.bin", &written, &bytes)?;
    let mut entries = Vec::new();
    let mut backs = Vec::new();
    for seq in 1..=n {
        let (e, _, _) = feed_entry(&format!("feed.json:{seq}"))?;
        entries.extend(vhex(&e["wire"]));
        let start = u32::try_from(e["log_offset"].as_u64().expect("log_offset")).expect("offset");
        backs.extend(start.to_be_bytes());
    }
    check_fields(&fields, &[("entry", entries), ("back", backs)])
}

/// `frontier.bin` of feed.json's feed after its entries `1..=N` were stored without any chunk
/// (name `feed.json:N`; `feed.json:empty` is N = 0).
fn check_frontier(block: &Block) -> Check {
    let n = stored_count(block)?;
    let (_dir, feed) = feed_dir(n)?;
    let written = std::fs::read(feed.join("frontier.bin")).map_err(|e| e.to_string())?;
    let (bytes, _) = block.fields()?;
    same("frontier.bin", &written, &bytes)?;
    if n == 0 {
        let v = vector("feed.json");
        same("feed.json genesis_frontier_bin", &vhex(&v["genesis_frontier_bin"]), &bytes)?;
    }
    Ok(())
}

/// Bytes written as hex, with `XX*N` standing for `N` bytes `XX` (as in the blocks).
fn word_bytes(word: &str) -> Result<Vec<u8>, String> {
    match word.split_once('*') {
        Some((b, n)) => {
            let b = u8::from_str_radix(b, 16).map_err(|e| format!("{word}: {e}"))?;
            let n: usize = n.parse().map_err(|e| format!("{word}: {e}"))?;
            Ok(vec![b; n])
        }
        None => tinyssb::ids::from_hex(word).map_err(|e| format!("{word}: {e}")),
    }
}

/// A `mesh-record` block (section 13.1): `announce URL = HEX`, `down ID SEQ = HEX`, or
/// `error <- HEX`.
fn check_mesh_record(block: &Block) -> Check {
    use tinyssb::mesh::record::{Record, RecordError};
    each(block, |eq| {
        if eq.op == Op::Rejects {
            return ensure(Record::decode(&eq.bytes) == Err(RecordError::Malformed), || {
                format!("{:?} is not rejected", eq.bytes)
            });
        }
        let words: Vec<&str> = eq.value.split_whitespace().collect();
        let rec = match words.as_slice() {
            ["announce", url] => Record::Announce { url: (*url).to_owned() },
            ["down", id, seq] => {
                let id: [u8; 32] = word_bytes(id)?.try_into().map_err(|_| "the id is not 32 bytes")?;
                Record::Down { pub_id: FeedId(id), seq: seq.parse().map_err(|e| format!("{seq}: {e}"))? }
            }
            _ => return Err(format!("not a mesh record: {:?}", eq.value)),
        };
        same(&eq.value, &rec.encode().unwrap_or_default(), &eq.bytes)?;
        ensure(Record::decode(&eq.bytes) == Ok(rec), || format!("{:?} does not read back", eq.value))
    })
}

/// An `hrw` block (section 13.3): `weight C K = W`, C and K the first eight bytes of two ids,
/// W the weight as 8 big-endian bytes.
fn check_hrw(block: &Block) -> Check {
    each(block, |eq| {
        let words: Vec<&str> = eq.value.split_whitespace().collect();
        let ["weight", c, k] = words.as_slice() else { return Err(format!("not a weight: {:?}", eq.value)) };
        let id = |w: &str| -> Result<FeedId, String> {
            let mut b = [0u8; 32];
            let head = word_bytes(w)?;
            ensure(head.len() == 8, || format!("{w} is not 8 bytes"))?;
            b[..8].copy_from_slice(&head);
            Ok(FeedId(b))
        };
        let w = tinyssb::mesh::hrw::weight(&id(c)?, &id(k)?);
        same(&eq.value, &w.to_be_bytes(), &eq.bytes)
    })
}
