//! Test data and what stores hold: keys, populated stores, partial and damaged copies, and
//! comparisons between stores (contents, counts, convergence).

use tinyssb::crypto::Keypair;
use tinyssb::node::{Config, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Instant;
use tinyssb::wire::entry::Entry;
use tinyssb::{FeedId, Seq};

use crate::net::Sim;
use crate::rng::Rng;

/// One feed's bytes: its id, entries and chunks, in order.
pub type FeedBytes = (FeedId, Vec<[u8; 120]>, Vec<[u8; 120]>);

/// What a store holds, for comparing stores: every feed's entries and chunks.
pub fn contents(store: &mut MemStore) -> Vec<FeedBytes> {
    let mut fids = store.feeds();
    fids.sort();
    let mut out = Vec::new();
    for fid in fids {
        let max = store.frontier(&fid).map_or(0, |f| f.seq.0);
        let mut entries = Vec::new();
        let mut chunks = Vec::new();
        for s in 1..=max {
            let seq = Seq(s);
            if let Ok(Some(e)) = store.read_entry(&fid, seq) {
                entries.push(e.0);
            }
            let mut nr = 0;
            while let Ok(Some(c)) = store.read_chunk(&fid, seq, nr) {
                chunks.push(c.0);
                nr += 1;
            }
        }
        out.push((fid, entries, chunks));
    }
    out
}

/// A compact summary of a store: (feeds, entries, chunks).
pub fn counts(store: &mut MemStore) -> (usize, usize, usize) {
    let c = contents(store);
    (c.len(), c.iter().map(|x| x.1.len()).sum(), c.iter().map(|x| x.2.len()).sum())
}

/// A key pair from a small number.
pub fn key(i: u64) -> Keypair {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_le_bytes());
    seed[8] = 0x5a;
    Keypair::from_seed(&seed)
}

/// The shape of a populated store: how many feeds of how many entries, with how many
/// sidechains (see [`populated_store`], which this describes argument by argument).
#[derive(Clone, Copy, Debug)]
pub struct Corpus {
    /// The key number ([`key`]) of the first feed; the others follow.
    pub first_key: u64,
    /// How many feeds.
    pub feeds: u64,
    /// How many entries each.
    pub entries: u32,
    /// About this many percent of the entries carry a sidechain.
    pub chain_pct: u64,
    /// The longest sidechain content, in bytes (at least 49).
    pub max_chain: usize,
}

impl Corpus {
    /// `feeds` feeds of `entries` entries each, keys from 0, no sidechains.
    pub fn new(feeds: u64, entries: u32) -> Corpus {
        Corpus { first_key: 0, feeds, entries, chain_pct: 0, max_chain: 100 }
    }

    /// This corpus with about `pct` percent of entries carrying sidechains of up to `max` bytes.
    #[must_use]
    pub fn chains(self, pct: u64, max: usize) -> Corpus {
        Corpus { chain_pct: pct, max_chain: max, ..self }
    }

    /// This corpus with its feeds' keys numbered from `first`.
    #[must_use]
    pub fn keys_from(self, first: u64) -> Corpus {
        Corpus { first_key: first, ..self }
    }

    /// Builds the store, drawing its content from `rng`.
    pub fn build(&self, rng: &mut Rng) -> MemStore {
        populated_store(rng, self.first_key, self.feeds, self.entries, self.chain_pct, self.max_chain)
    }
}

/// Builds a store holding `feeds` feeds of `entries` entries each; about `chain_pct` percent of
/// the entries carry sidechains of up to `max_chain` bytes. Content is derived from `rng`.
pub fn populated_store(
    rng: &mut Rng,
    first_key: u64,
    feeds: u64,
    entries: u32,
    chain_pct: u64,
    max_chain: usize,
) -> MemStore {
    let mut node = Node::new(Config::default(), MemStore::default(), Instant(0));
    for f in 0..feeds {
        let k = key(first_key + f);
        for _ in 0..entries {
            let len = if rng.below(100) < chain_pct {
                49 + usize::try_from(rng.below(max_chain as u64 - 48)).expect("small")
            } else {
                usize::try_from(rng.below(49)).expect("small")
            };
            let content = rng.bytes(len);
            node.publish(Instant(0), &k, &content).expect("publish");
        }
    }
    node.into_store()
}

/// True if every running node holds the same feeds at the same frontiers with no pending chains
/// (cheap: reads frontiers only). Compare [`contents`] once at the end for the bytes.
pub fn converged(sim: &Sim, nodes: &[usize]) -> bool {
    let mut first = None;
    for &i in nodes {
        let Some(n) = sim.nodes[i].as_ref() else { return false };
        let store = n.store();
        let mut fids = store.feeds();
        fids.sort();
        let mut view = Vec::with_capacity(fids.len());
        for fid in fids {
            if !store.pending_chains(&fid).is_empty() {
                return false;
            }
            view.push((fid, store.frontier(&fid)));
        }
        match &first {
            None => first = Some(view),
            Some(f) if *f == view => {}
            Some(_) => return false,
        }
    }
    true
}

/// A new store holding, for feed number `i` of `master` (in sorted order), the first
/// `keep(i)` entries with their chunks (`None` leaves the feed out).
pub fn copy_prefix(master: &mut MemStore, keep: impl Fn(usize) -> Option<u32>) -> MemStore {
    copy_altered(master, keep, |_, _, _| {})
}

/// As [`copy_prefix`], but `alter(i, seq, entry)` may change the bytes stored for an entry
/// while the store keeps its true msg id (as a bad disk would leave it: the frontier intact).
pub fn copy_altered(
    master: &mut MemStore,
    keep: impl Fn(usize) -> Option<u32>,
    mut alter: impl FnMut(usize, u32, &mut Entry),
) -> MemStore {
    let mut out = MemStore::default();
    for (i, (fid, entries, _)) in contents(master).into_iter().enumerate() {
        let Some(n) = keep(i) else { continue };
        out.add_feed(fid).expect("add");
        let mut prev = fid.genesis_prev();
        for (s, raw) in (1..=n).zip(entries) {
            let seq = Seq(s);
            let e = Entry(raw);
            let id = e.msg_id(&fid, seq, &prev);
            let mut stored = e;
            alter(i, s, &mut stored);
            out.append_entry(&fid, &stored, id).expect("append");
            let mut nr = 0;
            while let Ok(Some(c)) = master.read_chunk(&fid, seq, nr) {
                out.write_chunk(&fid, seq, nr, &c).expect("chunk");
                nr += 1;
            }
            prev = id;
        }
    }
    out
}

/// A store that knows `keys` (by [`key`] number) as feeds, with no entries.
pub fn store_with_feeds(keys: impl IntoIterator<Item = u64>) -> MemStore {
    let mut s = MemStore::default();
    for k in keys {
        s.add_feed(key(k).feed_id()).expect("add");
    }
    s
}

/// Every feed id in `store`, sorted.
pub fn sorted_feeds(store: &MemStore) -> Vec<FeedId> {
    let mut f = store.feeds();
    f.sort();
    f
}
