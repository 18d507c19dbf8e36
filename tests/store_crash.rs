//! `FsStore` recovery: torn logs, interrupted frontier updates, foreign directory entries.

mod store_util;

use std::path::{Path, PathBuf};

use store_util::{snapshot, Author, Authored, Snapshot};
use tinyssb::store::fs::{Durability, FsConfig, FsStore, OpenNote};
use tinyssb::store::mem::MemStore;
use tinyssb::store::{chunk_slots, record_len, Store};
use tinyssb::{FeedId, Seq};

/// One step of the scenario: append entry `i`, or write the next chunk of entry `i`.
#[derive(Clone, Copy, Debug)]
enum Step {
    Append(usize),
    Chunk(usize),
}

struct Scenario {
    fid: FeedId,
    entries: Vec<Authored>,
    steps: Vec<Step>,
}

fn scenario() -> Scenario {
    let mut a = Author::new(7);
    let content = |n: usize| (0..n).map(|i| i as u8).collect::<Vec<u8>>();
    let entries = vec![
        a.next(None),
        a.next(Some(&content(300))),
        a.next(None),
        a.next(Some(&content(250))),
        a.next(Some(&content(150))),
        a.next(None),
        a.next(Some(&content(120))),
    ];
    use Step::*;
    let steps = vec![
        Append(0),
        Append(1),
        Chunk(1),
        Chunk(1),
        Chunk(1),
        Append(2),
        Append(3),
        Chunk(3),
        Append(4),
        Chunk(3),
        Append(5),
        Append(6),
        Chunk(6),
    ];
    Scenario { fid: a.fid(), entries, steps }
}

/// Applies the first `n` steps to any store; entries beyond `keep` entries are left out.
fn apply<S: Store>(sc: &Scenario, store: &mut S, n: usize, keep: usize, mut after: impl FnMut(&mut S)) {
    store.add_feed(sc.fid).unwrap();
    let mut written = vec![0u32; sc.entries.len()];
    for step in &sc.steps[..n] {
        match *step {
            Step::Append(i) if i < keep => {
                store.append_entry(&sc.fid, &sc.entries[i].entry, sc.entries[i].msg_id).unwrap();
            }
            Step::Chunk(i) if i < keep => {
                let k = written[i];
                store.write_chunk(&sc.fid, Seq(i as u32 + 1), k, &sc.entries[i].chunks[k as usize]).unwrap();
                written[i] += 1;
            }
            _ => {}
        }
        after(store);
    }
}

fn expected(sc: &Scenario, n: usize, keep: usize) -> Snapshot {
    let mut mem = MemStore::new();
    apply(sc, &mut mem, n, keep, |_| {});
    snapshot(&mut mem)
}

fn paths(root: &Path, fid: &FeedId) -> (PathBuf, PathBuf, PathBuf) {
    let d = root.join(fid.to_hex());
    (d.join("log.bin"), d.join("frontier.bin"), d.join("frontier.tmp"))
}

/// Writes the whole scenario with fsync on every write; returns the frontier.bin after each step.
fn write_all(sc: &Scenario, root: &Path) -> Vec<Vec<u8>> {
    let mut fronts = Vec::new();
    let mut store = FsStore::open(root, FsConfig::default()).unwrap();
    let (_, front, _) = paths(root, &sc.fid);
    apply(sc, &mut store, sc.steps.len(), usize::MAX, |_| fronts.push(std::fs::read(&front).unwrap()));
    fronts
}

fn reopen(root: &Path) -> FsStore {
    FsStore::open(root, FsConfig::default()).unwrap()
}

#[test]
fn every_cut_of_the_log_tail_recovers_a_prefix() {
    let sc = scenario();
    let tmp = tempfile::tempdir().unwrap();
    let master = tmp.path().join("master");
    let fronts = write_all(&sc, &master);
    let (log, _, _) = paths(&master, &sc.fid);
    let full = std::fs::read(&log).unwrap();
    let ends: Vec<u64> = sc
        .entries
        .iter()
        .scan(0u64, |pos, e| {
            *pos += record_len(chunk_slots(&e.entry));
            Some(*pos)
        })
        .collect();
    assert_eq!(*ends.last().unwrap(), full.len() as u64);
    let from = ends[ends.len() - 3] as usize;
    let root = tmp.path().join("cut");
    for cut in from..=full.len() {
        let _ = std::fs::remove_dir_all(&root);
        store_util::copy_dir(&master, &root);
        let (log, front, _) = paths(&root, &sc.fid);
        std::fs::write(&log, &full[..cut]).unwrap();
        // Either the final frontier (now pointing past the end) or the one of an earlier step.
        // (The second case is sampled: every 8th cut and the bytes around record boundaries.)
        let near_boundary = ends.iter().any(|&e| (cut as u64).abs_diff(e) <= 4);
        let olds: &[&Vec<u8>] = if cut % 8 == 0 || near_boundary {
            &[fronts.last().unwrap(), &fronts[fronts.len() / 2]]
        } else {
            &[fronts.last().unwrap()]
        };
        for f in olds.iter().copied() {
            std::fs::write(&front, f).unwrap();
            let mut store = reopen(&root);
            let keep = ends.iter().filter(|&&e| e <= cut as u64).count();
            assert_eq!(snapshot(&mut store), expected(&sc, sc.steps.len(), keep), "cut at {cut}");
            assert_eq!(std::fs::metadata(&log).unwrap().len(), if keep == 0 { 0 } else { ends[keep - 1] });
            drop(store);
            // The repair is persistent: the next open has nothing to report.
            assert_eq!(reopen(&root).open_report(), &[], "cut at {cut}");
        }
    }
}

#[test]
fn interrupted_frontier_updates_lose_nothing_that_reached_the_log() {
    let sc = scenario();
    let tmp = tempfile::tempdir().unwrap();
    let master = tmp.path().join("master");
    let fronts = write_all(&sc, &master);
    let want = expected(&sc, sc.steps.len(), usize::MAX);
    let newest = fronts.last().unwrap().clone();
    let root = tmp.path().join("r");
    // (frontier.bin content or None, frontier.tmp content or None)
    type Case = (Option<Vec<u8>>, Option<Vec<u8>>);
    let cases: Vec<Case> = vec![
        (Some(fronts[fronts.len() - 2].clone()), Some(newest.clone())), // tmp written, not renamed
        (Some(fronts[fronts.len() - 2].clone()), Some(newest[..newest.len() / 2].to_vec())), // tmp torn
        (Some(fronts[fronts.len() - 2].clone()), Some(Vec::new())),     // tmp created, empty
        (None, Some(newest.clone())),                                   // frontier.bin lost
        (None, None),                                                   // no frontier at all
        (Some(newest[..newest.len() - 3].to_vec()), None),              // frontier.bin torn
        (Some(vec![0xff; 40]), None),                                   // frontier.bin garbage
        (Some(fronts[0].clone()), None),                                // very old frontier
    ];
    for (i, (front_bytes, tmp_bytes)) in cases.into_iter().enumerate() {
        let _ = std::fs::remove_dir_all(&root);
        store_util::copy_dir(&master, &root);
        let (_, front, tmpf) = paths(&root, &sc.fid);
        match front_bytes {
            Some(b) => std::fs::write(&front, b).unwrap(),
            None => std::fs::remove_file(&front).unwrap(),
        }
        if let Some(b) = tmp_bytes {
            std::fs::write(&tmpf, b).unwrap();
        }
        let mut store = reopen(&root);
        assert!(!store.open_report().is_empty(), "case {i}");
        assert_eq!(snapshot(&mut store), want, "case {i}");
        drop(store);
        assert!(!tmpf.exists());
        assert_eq!(std::fs::read(&front).unwrap(), newest, "case {i}");
        assert_eq!(reopen(&root).open_report(), &[], "case {i}");
    }
}

#[test]
fn batched_writes_survive_a_crash_before_sync() {
    let sc = scenario();
    let tmp = tempfile::tempdir().unwrap();
    let config = FsConfig { durability: Durability::Batched { every: 1000 }, max_open_files: 1 };
    for n in 0..=sc.steps.len() {
        let root = tmp.path().join(format!("b{n}"));
        let mut store = FsStore::open(&root, config).unwrap();
        apply(&sc, &mut store, n, usize::MAX, |_| {});
        // A crash: the store is never dropped, so nothing is synced and frontier.bin is stale.
        store.abandon();
        let mut store = FsStore::open(&root, config).unwrap();
        assert_eq!(snapshot(&mut store), expected(&sc, n, usize::MAX), "after {n} steps");
        // A feed created since the last sync has no frontier.bin yet (new feeds join the group
        // commit): its frontier is rebuilt from the log, which lost nothing.
        let notes = store.open_report();
        assert!(
            notes.iter().all(|n| matches!(
                n,
                OpenNote::RecoveredEntries { .. }
                    | OpenNote::RecoveredChunks { .. }
                    | OpenNote::RebuiltFrontier(_)
            )),
            "{notes:?}"
        );
    }
}

#[test]
fn foreign_entries_are_skipped_with_a_note() {
    let sc = scenario();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_all(&sc, root);
    std::fs::write(root.join("README"), b"hello").unwrap();
    std::fs::create_dir(root.join("not-a-feed")).unwrap();
    std::fs::create_dir(root.join(sc.fid.to_hex().to_uppercase())).unwrap();
    std::fs::write(root.join("ab".repeat(32)), b"a file named like a feed").unwrap();
    let empty_feed = FeedId([0x11; 32]);
    std::fs::create_dir(root.join(empty_feed.to_hex())).unwrap();
    std::fs::write(root.join(sc.fid.to_hex()).join("notes.txt"), b"foreign").unwrap();
    // Dot files are the pub's own (here a secure-link key): skipped without a note.
    std::fs::write(root.join(".secure_key"), b"{}").unwrap();
    let mut store = reopen(root);
    let skipped = store.open_report().iter().filter(|n| matches!(n, OpenNote::Skipped { .. })).count();
    assert_eq!(skipped, 4, "{:?}", store.open_report());
    assert!(store.open_report().contains(&OpenNote::CreatedLog(empty_feed)));
    let mut feeds = store.feeds();
    feeds.sort();
    let mut want = vec![sc.fid, empty_feed];
    want.sort();
    assert_eq!(feeds, want);
    assert_eq!(store.frontier(&empty_feed).unwrap().seq, Seq(0));
    let full = expected(&sc, sc.steps.len(), usize::MAX);
    let snap = snapshot(&mut store);
    assert_eq!(snap.feeds.iter().find(|f| f.fid == sc.fid), full.feeds.first());
}

/// Regression: the type byte of every entry damaged on disk (a chain20 entry no longer
/// announces chunks) while `frontier.bin` still lists its pending chain; `feed_stats`
/// used to subtract that chain's missing chunks from a count that never included them.
#[test]
fn feed_stats_survive_corrupt_type_bytes() {
    for type_byte in [0x00, 0x02, 0xff] {
        let tmp = store_util::sample_datadir();
        let data = tmp.path().join("data");
        for feed in std::fs::read_dir(&data).unwrap() {
            let log = feed.unwrap().path().join("log.bin");
            let mut bytes = std::fs::read(&log).unwrap();
            let mut end = bytes.len();
            while end >= 4 {
                let start = u32::from_be_bytes(bytes[end - 4..end].try_into().unwrap()) as usize;
                bytes[start + 7] = type_byte;
                end = start;
            }
            std::fs::write(&log, bytes).unwrap();
        }
        let mut store = reopen(&data);
        let mut pending = 0;
        for fid in store.feeds() {
            let stats = tinyssb::store::feed_stats(&mut store, &fid).unwrap().unwrap();
            let chains = store.pending_chains(&fid);
            assert_eq!(stats.pending_chains, chains.len());
            let missing: u64 = chains.iter().map(|p| u64::from(p.remaining)).sum();
            assert_eq!(stats.chunks_missing, missing);
            let held: u64 = chains.iter().map(|p| u64::from(p.next_chunk)).sum();
            assert!(stats.chunks_available >= held);
            pending += chains.len();
        }
        assert!(pending > 0, "the sample's pending chain must survive the damage");
    }
}
