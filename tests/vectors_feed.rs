//! Known-answer tests: entry DMX (tests/vectors/dmx.json) and one complete feed
//! authored by the reference (tests/vectors/feed.json), reproduced with our code.

use serde_json::Value;
use tinyssb::crypto::{Keypair, PublicKey};
use tinyssb::feed::{author_chain20, author_plain48, reassemble, ChainCursor};
use tinyssb::ids::from_hex;
use tinyssb::store::Frontier;
use tinyssb::wire::chunk::Chunk;
use tinyssb::wire::entry::{entry_dmx, entry_name, Entry};
use tinyssb::wire::PFX;
use tinyssb::{FeedId, HashPtr, MsgId, Seq};

fn load(name: &str) -> Value {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex(v: &Value) -> Vec<u8> {
    from_hex(v.as_str().unwrap()).unwrap()
}

fn seq(v: &Value) -> Seq {
    Seq(u32::try_from(v.as_u64().unwrap()).unwrap())
}

#[test]
fn dmx_cases() {
    let v = load("dmx.json");
    assert_eq!(hex(&v["prefix"]), PFX);
    let cases = v["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let fid = FeedId::from_slice(&hex(&case["fid"])).unwrap();
        let prev = MsgId::from_slice(&hex(&case["prev"])).unwrap();
        let s = seq(&case["seq"]);
        let desc = case["desc"].as_str().unwrap();
        assert_eq!(entry_name(&fid, s, &prev).to_vec(), hex(&case["name"]), "{desc}");
        assert_eq!(entry_dmx(&fid, s, &prev).0.to_vec(), hex(&case["dmx"]), "{desc}");
    }
}

#[test]
fn feed_is_reproduced_byte_for_byte() {
    let v = load("feed.json");
    let seed: [u8; 32] = hex(&v["seed"]).try_into().unwrap();
    assert_eq!(seed.to_vec(), (0u8..32).collect::<Vec<_>>());
    let key = Keypair::from_seed(&seed);
    let fid = key.feed_id();
    assert_eq!(fid.0.to_vec(), hex(&v["fid"]));
    let pk = PublicKey::from_feed_id(&fid).unwrap();

    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 18);
    let mut at = Frontier { seq: Seq(0), prev: fid.genesis_prev() };
    assert_eq!(at.prev.0.to_vec(), hex(&v["entries"][0]["prev"]));
    let log_bin = hex(&v["log_bin"]);
    let mut log_offset = 0u64;
    for e in entries {
        let s = seq(&e["seq"]);
        let given = hex(&e["content_given"]);
        assert_eq!(given.len() as u64, e["content_len_given"].as_u64().unwrap());
        assert_eq!(hex(&e["prev"]), at.prev.0.to_vec(), "seq {s}: prev chain");

        let authored = match e["type"].as_str().unwrap() {
            // The reference's plain48 writer cuts content to 48 bytes; ours refuses longer payloads.
            "plain48" => author_plain48(&key, &at, &given[..given.len().min(48)]).unwrap(),
            "chain20" => author_chain20(&key, &at, &given).unwrap(),
            other => panic!("unknown type {other}"),
        };
        let entry = authored.entry;
        assert_eq!(authored.frontier.seq, s);
        assert_eq!(entry.0.to_vec(), hex(&e["wire"]), "seq {s}: wire");
        assert_eq!(u64::from(entry.type_byte()), e["type_byte"].as_u64().unwrap());
        assert_eq!(entry_name(&fid, s, &at.prev).to_vec(), hex(&e["name"]));
        assert_eq!(entry.dmx().0.to_vec(), hex(&e["dmx"]));
        assert_eq!(entry_dmx(&fid, s, &at.prev), entry.dmx());
        assert_eq!(entry.payload().to_vec(), hex(&e["payload"]));
        assert_eq!(entry.signed_message(&fid, s, &at.prev).to_vec(), hex(&e["signed_msg"]));
        assert_eq!(entry.signature().to_vec(), hex(&e["signature"]));
        assert_eq!(authored.msg_id.0.to_vec(), hex(&e["msg_id"]));
        assert_eq!(entry.msg_id(&fid, s, &at.prev), authored.msg_id);
        assert_eq!(entry.verify(&pk, &fid, s, &at.prev), Ok(()));

        // The entry as received parses back to the same packet.
        let received = Entry::from_slice(&hex(&e["wire"])).unwrap();
        assert_eq!(received, entry);

        let want_chunks: Vec<Vec<u8>> = e["chunks"].as_array().unwrap().iter().map(hex).collect();
        let want_hashes: Vec<Vec<u8>> = e["chunk_hashes"].as_array().unwrap().iter().map(hex).collect();
        let got_chunks: Vec<Vec<u8>> = authored.chunks.iter().map(|c| c.0.to_vec()).collect();
        assert_eq!(got_chunks, want_chunks, "seq {s}: chunks");
        let got_hashes: Vec<Vec<u8>> = authored.chunks.iter().map(|c| c.hash().0.to_vec()).collect();
        assert_eq!(got_hashes, want_hashes, "seq {s}: chunk hashes");

        let cursor = ChainCursor::from_entry(&entry).unwrap();
        assert_eq!(cursor.remaining(), want_chunks.len() as u64);
        if let Some(first) = want_hashes.first() {
            assert_eq!(cursor.expected().0.to_vec(), *first);
            assert_eq!(entry.0[36..56].to_vec(), *first);
        } else if e["type"] == "chain20" {
            assert_eq!(cursor.expected(), HashPtr::NULL);
        }
        if let Some(lv) = e.get("length_varint") {
            let lv = hex(lv);
            assert_eq!(entry.payload()[..lv.len()].to_vec(), lv);
        }

        // Received chunks reassemble to the content the reference reads back.
        let chunks: Vec<Chunk> = want_chunks.iter().map(|c| Chunk::from_slice(c).unwrap()).collect();
        assert_eq!(reassemble(&received, &chunks).unwrap(), hex(&e["content"]), "seq {s}: content");

        let record_len = 120 + 120 * chunks.len() as u64 + 4;
        assert_eq!(e["log_offset"].as_u64().unwrap(), log_offset, "seq {s}: log offset");
        assert_eq!(e["record_len"].as_u64().unwrap(), record_len);
        let record = &log_bin[log_offset as usize..(log_offset + record_len) as usize];
        assert_eq!(record[..120], entry.0);
        for (k, c) in chunks.iter().enumerate() {
            assert_eq!(record[120 * (k + 1)..120 * (k + 2)], c.0);
        }
        assert_eq!(record[record.len() - 4..], (log_offset as u32).to_be_bytes());
        log_offset += record_len;
        at = authored.frontier;
    }
    assert_eq!(log_offset, log_bin.len() as u64);
    assert_eq!(log_offset, v["frontier"]["max_pos"].as_u64().unwrap());
    assert_eq!(at.prev.0.to_vec(), hex(&v["frontier"]["prev"]));
    assert_eq!(u64::from(at.seq.0), v["frontier"]["max_seq"].as_u64().unwrap());
}
