//! Model test: random operation sequences give the same observable results on `FsStore` and
//! `MemStore`, including across clean reopens and crashes (a store that is never dropped).

mod store_util;

use quickcheck::{Arbitrary, Gen, QuickCheck};
use store_util::{snapshot, Author, Authored};
use tinyssb::store::fs::{Durability, FsConfig, FsStore};
use tinyssb::store::mem::MemStore;
use tinyssb::store::{Store, StoreError};
use tinyssb::Seq;

const FEEDS: u8 = 3;
const LENGTHS: [usize; 7] = [0, 10, 27, 29, 150, 250, 420];

#[derive(Clone, Debug)]
enum Op {
    AddFeed(u8),
    Append(u8, Option<u8>),
    Chunk(u8, u8),
    WrongChunk(u8, u8),
    Replay(u8),
    Sync,
    Reopen,
    Crash,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        let f = u8::arbitrary(g) % FEEDS;
        match u8::arbitrary(g) % 16 {
            0..=1 => Op::AddFeed(f),
            2..=6 => Op::Append(f, Option::<u8>::arbitrary(g)),
            7..=10 => Op::Chunk(f, u8::arbitrary(g)),
            11 => Op::WrongChunk(f, u8::arbitrary(g)),
            12 => Op::Replay(f),
            13 => Op::Sync,
            14 => Op::Reopen,
            _ => Op::Crash,
        }
    }
}

fn kind(r: Result<(), StoreError>) -> Result<(), &'static str> {
    r.map_err(|e| match e {
        StoreError::UnknownFeed => "unknown",
        StoreError::OutOfOrder => "order",
        StoreError::LogFull => "full",
        StoreError::Io(_)
        | StoreError::Corrupt(_)
        | StoreError::Locked { .. }
        | StoreError::ReadOnly
        | StoreError::Tombstoned => "io",
    })
}

fn run(ops: Vec<Op>, cfg: u8) -> bool {
    let tmp = tempfile::tempdir().unwrap();
    let config = FsConfig {
        durability: if cfg & 1 == 0 {
            Durability::Batched { every: 7 }
        } else {
            Durability::Batched { every: 1000 }
        },
        max_open_files: usize::from(cfg % 3) + 1,
    };
    let mut fs = FsStore::open(tmp.path(), config).unwrap();
    let mut mem = MemStore::new();
    let mut authors: Vec<Author> = (0..FEEDS).map(|i| Author::new(i + 1)).collect();
    let mut written: Vec<Vec<Authored>> = vec![Vec::new(); FEEDS as usize];
    for op in ops {
        match op {
            Op::AddFeed(f) => {
                let fid = authors[f as usize].fid();
                assert_eq!(fs.add_feed(fid).unwrap(), mem.add_feed(fid).unwrap());
            }
            Op::Append(f, len) => {
                let a = &mut authors[f as usize];
                let mut next = a.clone();
                let content: Option<Vec<u8>> = len.map(|l| vec![l; LENGTHS[usize::from(l) % LENGTHS.len()]]);
                let e = next.next(content.as_deref());
                let r1 = kind(fs.append_entry(&a.fid(), &e.entry, e.msg_id));
                let r2 = kind(mem.append_entry(&a.fid(), &e.entry, e.msg_id));
                assert_eq!(r1, r2);
                if r1.is_ok() {
                    *a = next;
                    written[f as usize].push(e);
                }
            }
            Op::Chunk(f, pick) | Op::WrongChunk(f, pick) => {
                let fid = authors[f as usize].fid();
                let pend = mem.pending_chains(&fid);
                assert_eq!(pend, fs.pending_chains(&fid));
                if pend.is_empty() {
                    continue;
                }
                let p = pend[usize::from(pick) % pend.len()];
                let chunks = &written[f as usize][p.seq.0 as usize - 1].chunks;
                let (nr, chunk) = match op {
                    Op::Chunk(..) => (p.next_chunk, chunks[p.next_chunk as usize]),
                    _ if pick % 2 == 0 => (p.next_chunk + 1, chunks[p.next_chunk as usize]),
                    _ => (p.next_chunk, chunks[(p.next_chunk as usize + 1) % chunks.len()]),
                };
                let r1 = kind(fs.write_chunk(&fid, p.seq, nr, &chunk));
                assert_eq!(r1, kind(mem.write_chunk(&fid, p.seq, nr, &chunk)));
                assert_eq!(r1.is_ok(), matches!(op, Op::Chunk(..)) || (pick % 2 == 1 && chunks.len() == 1));
            }
            Op::Replay(f) => {
                // Re-appending the last entry is out of order on both.
                let fid = authors[f as usize].fid();
                if let Some(e) = written[f as usize].last() {
                    assert_eq!(kind(fs.append_entry(&fid, &e.entry, e.msg_id)), Err("order"));
                    assert_eq!(kind(mem.append_entry(&fid, &e.entry, e.msg_id)), Err("order"));
                }
                assert_eq!(fs.read_entry(&fid, Seq(0)).unwrap(), None);
            }
            Op::Sync => fs.sync().unwrap(),
            Op::Reopen => {
                drop(fs);
                fs = FsStore::open(tmp.path(), config).unwrap();
                assert_eq!(fs.open_report(), &[]);
            }
            Op::Crash => {
                fs.abandon();
                fs = FsStore::open(tmp.path(), config).unwrap();
            }
        }
    }
    let s = snapshot(&mut fs);
    assert_eq!(s, snapshot(&mut mem));
    drop(fs);
    let mut fs = FsStore::open(tmp.path(), config).unwrap();
    assert_eq!(fs.open_report(), &[]);
    snapshot(&mut fs) == s
}

#[test]
fn fs_store_behaves_like_mem_store() {
    QuickCheck::new().tests(150).quickcheck(run as fn(Vec<Op>, u8) -> bool);
}
