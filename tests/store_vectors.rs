//! `FsStore` against the reference's files: the sample data directory and feed.json's log.

mod store_util;

use std::path::Path;

use store_util::{hex, sample_datadir, snapshot, vector};
use tinyssb::crypto::sha256;
use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::{chunk_slots, feed_stats, Store};
use tinyssb::wire::chunk::Chunk;
use tinyssb::wire::entry::{Chain20, Entry};
use tinyssb::{FeedId, MsgId, Seq};

fn file_sha(path: &Path) -> String {
    tinyssb::ids::to_hex(&sha256(&[&std::fs::read(path).unwrap()]))
}

/// Reads `digest_full` and `digest_logical` (see tests/vectors/README.md) through the store.
fn digests(store: &mut FsStore) -> (String, String) {
    let mut full = b"tinyssb-interop/full/v1".to_vec();
    let mut logical = b"tinyssb-interop/logical/v1".to_vec();
    let mut fids = store.feeds();
    fids.sort();
    for fid in fids {
        let max = store.frontier(&fid).unwrap().seq.0;
        for d in [&mut full, &mut logical] {
            d.push(b'F');
            d.extend_from_slice(&fid.0);
            d.extend_from_slice(&max.to_be_bytes());
        }
        for s in 1..=max {
            let e = store.read_entry(&fid, Seq(s)).unwrap().unwrap();
            let total = chunk_slots(&e) as u32;
            let chunks: Vec<Chunk> =
                (0..total).map_while(|k| store.read_chunk(&fid, Seq(s), k).unwrap()).collect();
            full.push(b'E');
            full.extend_from_slice(&s.to_be_bytes());
            full.extend_from_slice(&e.0);
            full.extend_from_slice(&total.to_be_bytes());
            full.extend_from_slice(&(chunks.len() as u32).to_be_bytes());
            chunks.iter().for_each(|c| full.extend_from_slice(&c.0));
            let content: Vec<u8> = match Chain20::parse(e.payload()).filter(|_| e.type_byte() == 1) {
                None => e.payload().to_vec(),
                Some(c) => {
                    let mut v = e.payload()[c.varint_len..c.varint_len + c.head_len()].to_vec();
                    chunks.iter().for_each(|ch| v.extend_from_slice(ch.content()));
                    v.truncate(c.content_len as usize);
                    v
                }
            };
            let len = Chain20::parse(e.payload())
                .filter(|_| e.type_byte() == 1)
                .map_or(48, |c| c.content_len as u32);
            logical.push(b'E');
            logical.extend_from_slice(&s.to_be_bytes());
            logical.push(e.type_byte());
            logical.extend_from_slice(&len.to_be_bytes());
            logical.extend_from_slice(&(content.len() as u32).to_be_bytes());
            logical.extend_from_slice(&content);
        }
    }
    (tinyssb::ids::to_hex(&sha256(&[&full])), tinyssb::ids::to_hex(&sha256(&[&logical])))
}

#[test]
fn sample_datadir_reads_back() {
    let tmp = sample_datadir();
    let root = tmp.path().join("data");
    let v = vector("datadir.json");
    let mut store = FsStore::open(&root, FsConfig::default()).unwrap();
    assert_eq!(store.open_report(), &[]);
    assert_eq!(store.feeds().len(), 2);
    let (mut entries, mut avail, mut missing, mut pending) = (0, 0, 0, 0);
    for feed in v["feeds"].as_object().unwrap().values() {
        let fid = FeedId::from_hex(feed["fid"].as_str().unwrap()).unwrap();
        let fr = &feed["frontier"];
        let front = store.frontier(&fid).unwrap();
        assert_eq!(u64::from(front.seq.0), fr["max_seq"].as_u64().unwrap());
        assert_eq!(front.prev, MsgId::from_hex(fr["prev"].as_str().unwrap()).unwrap());
        let pend = store.pending_chains(&fid);
        let want = fr["pend_sc"].as_object().unwrap();
        assert_eq!(pend.len(), want.len());
        for p in &pend {
            let w = want[&p.seq.0.to_string()].as_array().unwrap();
            assert_eq!(u64::from(p.next_chunk), w[0].as_u64().unwrap());
            assert_eq!(u64::from(p.remaining), w[1].as_u64().unwrap());
            assert_eq!(p.next_hash.to_hex(), w[2].as_str().unwrap());
        }
        for (i, e) in feed["entries"].as_array().unwrap().iter().enumerate() {
            let entry = store.read_entry(&fid, Seq(i as u32 + 1)).unwrap().unwrap();
            let want_type = if e["type"] == "chain20" { 1 } else { 0 };
            assert_eq!(entry.type_byte(), want_type);
        }
        let stats = feed_stats(&mut store, &fid).unwrap().unwrap();
        entries += u64::from(stats.entries);
        avail += stats.chunks_available;
        missing += stats.chunks_missing;
        pending += stats.pending_chains as u64;
        // Opening must leave the reference's files untouched.
        for (name, sha) in feed["files"].as_object().unwrap() {
            assert_eq!(file_sha(&root.join(fid.to_hex()).join(name)), sha.as_str().unwrap(), "{name}");
        }
    }
    let rs = &v["refstats"];
    assert_eq!(entries, rs["entries"].as_u64().unwrap());
    assert_eq!(avail, rs["chunks_available"].as_u64().unwrap());
    assert_eq!(missing, rs["chunks_missing"].as_u64().unwrap());
    assert_eq!(pending, rs["pending_chains"].as_u64().unwrap());
    let (full, logical) = digests(&mut store);
    assert_eq!(full, rs["digest_full"].as_str().unwrap());
    assert_eq!(logical, rs["digest_logical"].as_str().unwrap());
}

#[test]
fn sample_datadir_rewritten_through_fsstore_is_identical() {
    let tmp = sample_datadir();
    let v = vector("datadir.json");
    let mut src = FsStore::open(tmp.path().join("data"), FsConfig::default()).unwrap();
    let out = tmp.path().join("out");
    let mut dst = FsStore::open(&out, FsConfig::default()).unwrap();
    let mut fids = src.feeds();
    fids.sort();
    for fid in fids {
        assert!(dst.add_feed(fid).unwrap());
        let max = src.frontier(&fid).unwrap().seq.0;
        let mut prev = fid.genesis_prev();
        for s in 1..=max {
            let e = src.read_entry(&fid, Seq(s)).unwrap().unwrap();
            let id = e.msg_id(&fid, Seq(s), &prev);
            dst.append_entry(&fid, &e, id).unwrap();
            prev = id;
            let mut k = 0;
            while let Some(c) = src.read_chunk(&fid, Seq(s), k).unwrap() {
                dst.write_chunk(&fid, Seq(s), k, &c).unwrap();
                k += 1;
            }
        }
    }
    for feed in v["feeds"].as_object().unwrap().values() {
        let dir = out.join(feed["fid"].as_str().unwrap());
        for (name, sha) in feed["files"].as_object().unwrap() {
            assert_eq!(file_sha(&dir.join(name)), sha.as_str().unwrap(), "{name}");
        }
        assert!(!dir.join("frontier.tmp").exists());
    }
    assert_eq!(snapshot(&mut src), snapshot(&mut dst));
}

#[test]
fn feed_json_written_through_fsstore_is_identical() {
    let v = vector("feed.json");
    let fid = FeedId::from_hex(v["fid"].as_str().unwrap()).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(fid.to_hex());
    let mut store = FsStore::open(tmp.path(), FsConfig::default()).unwrap();
    assert!(store.add_feed(fid).unwrap());
    assert!(!store.add_feed(fid).unwrap());
    assert_eq!(
        std::fs::read(dir.join("frontier.bin")).unwrap(),
        hex(v["genesis_frontier_bin"].as_str().unwrap())
    );
    assert_eq!(std::fs::read(dir.join("log.bin")).unwrap(), b"");
    for e in v["entries"].as_array().unwrap() {
        let entry = Entry::from_slice(&hex(e["wire"].as_str().unwrap())).unwrap();
        let id = MsgId::from_hex(e["msg_id"].as_str().unwrap()).unwrap();
        let seq = Seq(e["seq"].as_u64().unwrap() as u32);
        store.append_entry(&fid, &entry, id).unwrap();
        for (k, c) in e["chunks"].as_array().unwrap().iter().enumerate() {
            let chunk = Chunk::from_slice(&hex(c.as_str().unwrap())).unwrap();
            store.write_chunk(&fid, seq, k as u32, &chunk).unwrap();
        }
        assert_eq!(
            std::fs::metadata(dir.join("log.bin")).unwrap().len(),
            e["log_offset"].as_u64().unwrap() + e["record_len"].as_u64().unwrap()
        );
    }
    let log = hex(v["log_bin"].as_str().unwrap());
    let frontier = hex(v["frontier_bin"].as_str().unwrap());
    assert_eq!(std::fs::read(dir.join("log.bin")).unwrap(), log);
    assert_eq!(std::fs::read(dir.join("frontier.bin")).unwrap(), frontier);
    let before = snapshot(&mut store);
    drop(store);
    let mut store = FsStore::open(tmp.path(), FsConfig::default()).unwrap();
    assert_eq!(store.open_report(), &[]);
    assert_eq!(snapshot(&mut store), before);
    for e in v["entries"].as_array().unwrap() {
        let seq = Seq(e["seq"].as_u64().unwrap() as u32);
        let entry = store.read_entry(&fid, seq).unwrap().unwrap();
        assert_eq!(tinyssb::ids::to_hex(&entry.0), e["wire"].as_str().unwrap());
        for (k, c) in e["chunks"].as_array().unwrap().iter().enumerate() {
            let chunk = store.read_chunk(&fid, seq, k as u32).unwrap().unwrap();
            assert_eq!(tinyssb::ids::to_hex(&chunk.0), c.as_str().unwrap());
        }
    }
    assert_eq!(std::fs::read(dir.join("log.bin")).unwrap(), log);
    assert_eq!(std::fs::read(dir.join("frontier.bin")).unwrap(), frontier);
}

#[test]
fn frontier_states_round_trip_through_open() {
    // Each reference-encoded frontier state of bipf.json that fits an empty log is accepted
    // verbatim: the genesis state leaves frontier.bin byte-identical after open.
    let v = vector("bipf.json");
    let state = &v["frontier_states"][0];
    let fid = FeedId::from_hex("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(fid.to_hex());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("log.bin"), b"").unwrap();
    let bytes = hex(state["bipf"].as_str().unwrap());
    std::fs::write(dir.join("frontier.bin"), &bytes).unwrap();
    let store = FsStore::open(tmp.path(), FsConfig::default()).unwrap();
    assert_eq!(store.open_report(), &[]);
    assert_eq!(std::fs::read(dir.join("frontier.bin")).unwrap(), bytes);
}
