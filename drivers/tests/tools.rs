//! The `frontier` and `tinyssb-feed` binaries, run on a copy of the sample data directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FRONTIER: &str = env!("CARGO_BIN_EXE_frontier");
const FEED: &str = env!("CARGO_BIN_EXE_tinyssb-feed");

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

/// A temporary directory holding a copy of tests/vectors/datadir as `data`.
fn sample() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for feed in std::fs::read_dir(vectors().join("datadir")).unwrap() {
        let feed = feed.unwrap();
        let dst = data.join(feed.file_name());
        std::fs::create_dir_all(&dst).unwrap();
        for f in std::fs::read_dir(feed.path()).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
        }
    }
    (tmp, data)
}

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin).args(args).output().unwrap()
}

fn ok(bin: &str, args: &[&str]) -> String {
    let out = run(bin, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn refstats() -> serde_json::Value {
    let text = std::fs::read_to_string(vectors().join("datadir.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["refstats"].clone()
}

/// Every file under `dir` with its contents, sorted by path.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for feed in std::fs::read_dir(dir).unwrap() {
        for f in std::fs::read_dir(feed.unwrap().path()).unwrap() {
            let p = f.unwrap().path();
            files.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    files.sort();
    files
}

#[test]
fn frontier_stats_match_the_reference() {
    let (_tmp, data) = sample();
    let before = snapshot(&data);
    let out = ok(FRONTIER, &["-d", data.to_str().unwrap(), "-s"]);
    let rs = refstats();
    let want = format!(
        "Stats:\n- {} feeds\n- {} available entries\n- {} available chunks\n- {} missing chunks: 0.2.1ff\n",
        rs["feeds"], rs["entries"], rs["chunks_available"], rs["chunks_missing"]
    );
    assert_eq!(out, want);
    assert_eq!(snapshot(&data), before, "inspection must not modify the data directory");
}

#[test]
fn frontier_json_digests_match_the_reference() {
    let (_tmp, data) = sample();
    let out = ok(FRONTIER, &["-d", data.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rs = refstats();
    assert_eq!(v["digest_full"], rs["digest_full"]);
    assert_eq!(v["digest_logical"], rs["digest_logical"]);
    assert_eq!(v["stats"]["pending_chains"], rs["pending_chains"]);
    assert_eq!(v["feeds"].as_array().unwrap().len(), 2);
    let text = ok(FRONTIER, &["-d", data.to_str().unwrap()]);
    assert!(text.contains(".1 \"hello tinySSB\""), "{text}");
    assert!(text.contains("(incomplete: "), "{text}");
}

#[test]
fn frontier_py_spellings_and_raw_content() {
    let (_tmp, data) = sample();
    let d = data.to_str().unwrap();
    let stats = ok(FRONTIER, &["-d", d, "-s"]);
    assert_eq!(ok(FRONTIER, &[&format!("-d={d}"), "-stat"]), stats);
    assert_eq!(ok(FRONTIER, &[&format!("-d{d}"), "-st"]), stats);
    let raw = ok(FRONTIER, &["-r", "-d", d]);
    assert_eq!(ok(FRONTIER, &["-raw", "-d", d]), raw);
    // Each entry: "#seq", "available/length", the available content in hex (plain48: 48 bytes).
    let hex = tinyssb::ids::to_hex(b"hello tinySSB");
    let line =
        raw.lines().find(|l| l.starts_with("  #1 ") && l.contains(&hex)).unwrap_or_else(|| panic!("{raw}"));
    assert!(line.contains(" 48/48 "), "{line}");
    assert!(raw.ends_with(&stats), "{raw}");
    let out = run(FRONTIER, &["-rs"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("frontier: error: "));
}

#[test]
fn frontier_survives_foreign_directory_content() {
    let (_tmp, data) = sample();
    std::fs::write(data.join("README"), b"not a feed").unwrap();
    std::fs::create_dir(data.join("x".repeat(64))).unwrap();
    let out = run(FRONTIER, &["-d", data.to_str().unwrap(), "-s"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("- 2 feeds"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped"));
}

/// Overwrites the type byte (entry offset 7) of every record in `log`, found through the
/// records' back pointers, leaving `frontier.bin` as it was.
fn corrupt_type_bytes(log: &Path, type_byte: u8) {
    let mut bytes = std::fs::read(log).unwrap();
    let mut end = bytes.len();
    while end >= 4 {
        let start = u32::from_be_bytes(bytes[end - 4..end].try_into().unwrap()) as usize;
        bytes[start + 7] = type_byte;
        end = start;
    }
    std::fs::write(log, bytes).unwrap();
}

/// Regression: a chain20 entry whose type byte was damaged on disk while its pending chain
/// stayed in `frontier.bin` made `feed_stats` subtract more chunks than it had counted.
#[test]
fn frontier_survives_corrupt_type_bytes() {
    for type_byte in [0x00, 0x07, 0xff] {
        let (_tmp, data) = sample();
        for feed in std::fs::read_dir(&data).unwrap() {
            corrupt_type_bytes(&feed.unwrap().path().join("log.bin"), type_byte);
        }
        let d = data.to_str().unwrap();
        for args in [&["-d", d][..], &["-d", d, "-s"], &["-d", d, "--json"]] {
            let out = run(FRONTIER, args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{type_byte:#x} {args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{type_byte:#x} {args:?}: {stderr}");
        }
        let stats = ok(FRONTIER, &["-d", d, "-s"]);
        assert!(stats.contains("- 2 feeds"), "{stats}");
    }
}

#[test]
fn feed_publish_and_read_back_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key.json");
    let data = tmp.path().join("data");
    let (k, d) = (key.to_str().unwrap(), data.to_str().unwrap());
    let fid = ok(FEED, &["keygen", "-o", k]).trim().to_owned();
    assert_eq!(fid.len(), 64);
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let short = "short text";
    let long =
        "a longer text that does not fit into one 48-byte entry, so it goes into a sidechain: ".repeat(3);
    assert_eq!(ok(FEED, &["publish", "-d", d, "-k", k, short]), format!("{fid} 1\n"));
    assert_eq!(ok(FEED, &["publish", "-d", d, "-k", k, &long]), format!("{fid} 2\n"));
    let out = ok(FEED, &["read", "-d", d, &fid, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let content = |i: usize| tinyssb::ids::from_hex(v[i]["content_hex"].as_str().unwrap()).unwrap();
    assert_eq!(v[0]["type"], "plain48");
    let mut padded = short.as_bytes().to_vec();
    padded.resize(48, 0);
    assert_eq!(content(0), padded);
    assert_eq!(v[1]["type"], "chain20");
    assert_eq!(content(1), long.as_bytes());
    let text = ok(FEED, &["read", "-d", d, &fid, "--from", "2"]);
    assert!(text.starts_with("2 chain20 \"a longer text"), "{text}");
    assert_eq!(text.lines().count(), 1);
}

/// Appends `content` as a chain20 entry to the feed of the key with `seed`, as another client would.
fn append_foreign(data: &Path, seed: u8, content: &[u8]) {
    use tinyssb::store::fs::{FsConfig, FsStore};
    use tinyssb::store::Store;
    let key = tinyssb::crypto::Keypair::from_seed(&[seed; 32]);
    let mut store = FsStore::open(data, FsConfig::default()).unwrap();
    store.add_feed(key.feed_id()).unwrap();
    let at = store.frontier(&key.feed_id()).unwrap();
    let a = tinyssb::feed::author_chain20(&key, &at, content).unwrap();
    store.append_entry(&key.feed_id(), &a.entry, a.msg_id).unwrap();
    for (nr, chunk) in (0u32..).zip(&a.chunks) {
        store.write_chunk(&key.feed_id(), a.frontier.seq, nr, chunk).unwrap();
    }
    store.sync().unwrap();
}

#[test]
fn chat_post_then_list() {
    use tinyssb_drivers::{chat, inspect};
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("key.json");
    let data = tmp.path().join("data");
    let (k, d) = (key.to_str().unwrap(), data.to_str().unwrap());
    let fid = ok(FEED, &["keygen", "-o", k]).trim().to_owned();
    ok(FEED, &["chat", "post", "-d", d, "-k", k, "hello from the tests"]);
    let list = ok(FEED, &["chat", "list", "-d", d]);
    assert!(list.contains(&format!("  {}  hello from the tests", &fid[..8])), "{list}");
    // The app's five-element form; the first post of a chat follows nothing.
    let read = ok(FEED, &["read", "-d", d, &fid]);
    assert!(read.starts_with("1 chain20 bipf: [\"TAV\", [], \"hello from the tests\", null, "), "{read}");

    // Posts of other clients: simplechat's four-element form (hand-built BIPF of
    // ["TAV", "old style", null, 1600000000]) and an app voice post without text.
    // Body 4+10+1+5 = 20 bytes: tag 20 << 3 | 4 = 164 = a401; 1600000000 = 0x5f5e1000.
    let simple = tinyssb::ids::from_hex("a40118544156486f6c64207374796c65062200105e5f").unwrap();
    append_foreign(&data, 9, &simple);
    append_foreign(&data, 9, &chat::tav_encode(&[], None, Some(&[7; 300]), 1_600_000_100));

    // A reply follows every post nobody has followed yet: ours and the two foreign chat posts.
    ok(FEED, &["chat", "post", "-d", d, "-k", k, "second"]);
    let mut store = inspect::open_existing(&data).unwrap();
    let msgs = chat::tav_messages(&mut store).unwrap();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    let reply = msgs.iter().find(|m| m.body.text.as_deref() == Some("second")).unwrap();
    let mut others: Vec<&str> = msgs
        .iter()
        .filter(|m| m.seq != reply.seq || m.author != reply.author)
        .map(|m| m.msg_ref.as_str())
        .collect();
    let mut tips: Vec<&str> = reply.body.tips.iter().map(String::as_str).collect();
    others.sort_unstable();
    tips.sort_unstable();
    assert_eq!(tips, others);
    assert!(reply.body.tips.iter().all(|t| t.len() == 28 && t.ends_with('=')), "{:?}", reply.body.tips);
    assert_eq!(chat::chat_tips(&msgs), std::slice::from_ref(&reply.msg_ref));

    let list = ok(FEED, &["chat", "list", "-d", d]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 4, "{list}");
    assert!(lines[0].starts_with("2020-09-13 12:26:40 UTC  ") && lines[0].ends_with("  old style"), "{list}");
    assert!(lines[1].ends_with("  [voice, 300 bytes]"), "{list}");
    assert!(lines[3].ends_with(&format!("  {}  second", &fid[..8])), "{list}");
    let shown = ok(FRONTIER, &["-d", d]);
    assert!(shown.contains("bipf: [\"TAV\", [], null, [voice, 300 bytes], 1600000100]"), "{shown}");
    assert!(shown.contains("bipf: [\"TAV\", \"old style\", null, 1600000000]"), "{shown}");
}

#[test]
fn garbage_arguments_fail_cleanly() {
    let cases: &[(&str, &[&str])] = &[
        (FRONTIER, &["--bogus"]),
        (FRONTIER, &["-d"]),
        (FRONTIER, &["-d", "/nonexistent/tinyssb/data"]),
        (FEED, &[]),
        (FEED, &["frobnicate"]),
        (FEED, &["publish", "-d", "x"]),
        (FEED, &["read", "-d", "x", "nothex"]),
        (FEED, &["read", "-d", "x", "--from", "-3"]),
        (FEED, &["chat"]),
        (FEED, &["chat", "post", "-d", "x", "-k", "/nonexistent/key.json", "hi"]),
        (FEED, &["keygen", "--chain"]),
    ];
    for (bin, args) in cases {
        let out = run(bin, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(!err.is_empty(), "{args:?}: no message");
    }
}
