//! Inputs that once crashed a fuzz target (fuzz/), replayed byte for byte through the same
//! steps as the target, so that the normal test suite keeps them fixed. Each lives in
//! `tests/fuzz_inputs/<target>/`; `fuzz/run-all` also starts the fuzzers from them.

use std::path::{Path, PathBuf};
use std::process::Command;

use tinyssb::ids::{FeedId, Seq};
use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::{chunk_slots, feed_stats, Store};
use tinyssb_drivers::inspect;

const FRONTIER: &str = env!("CARGO_BIN_EXE_frontier");

/// The feed directory name the `store` target writes its files under.
const STORE_FID: &str = "51dbf1a50b6913c124ac6e9d2912a5ade39b109b00a91911da0294a84b67dd8a";

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fuzz_inputs").join(target);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

/// The `store` target's input: `u16le(n) ‖ frontier.bin (n bytes) ‖ log.bin`, as a data directory.
fn store_datadir(data: &[u8]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let (len, rest) = data.split_first_chunk::<2>().expect("a store input has a length prefix");
    let (frontier, log) = rest.split_at(usize::from(u16::from_le_bytes(*len)).min(rest.len()));
    let dir = tmp.path().join(STORE_FID);
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("frontier.bin"), frontier).unwrap();
    std::fs::write(dir.join("log.bin"), log).unwrap();
    tmp
}

#[test]
fn store_inputs_open_and_inspect_without_panicking() {
    for (path, data) in inputs("store") {
        let tmp = store_datadir(&data);
        let mut store = FsStore::open(tmp.path(), FsConfig::default()).unwrap();
        let fid = FeedId::from_hex(STORE_FID).unwrap();
        let front = store.frontier(&fid).unwrap();
        for s in 1..=front.seq.0 {
            let entry = store.read_entry(&fid, Seq(s)).unwrap().unwrap();
            for nr in 0..u32::try_from(chunk_slots(&entry)).unwrap_or(u32::MAX) {
                if store.read_chunk(&fid, Seq(s), nr).unwrap().is_none() {
                    break;
                }
            }
        }
        let stats = feed_stats(&mut store, &fid).unwrap().unwrap();
        assert_eq!(stats.entries, front.seq.0, "{}", path.display());
        inspect::digests(&mut store).unwrap();
        drop(store);

        // The same directory through the frontier binary, which used to panic on it.
        let dir = tmp.path().to_str().unwrap();
        for args in [&["-d", dir, "-s"][..], &["-d", dir], &["-d", dir, "--json"]] {
            let out = Command::new(FRONTIER).args(args).output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{} {args:?}: {stderr}", path.display());
        }
    }
}
