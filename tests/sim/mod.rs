//! A deterministic network simulator for the engine: N nodes joined by virtual links with
//! latency, jitter (reordering), loss, bandwidth and partitions. Virtual time jumps to the
//! next event; one seed drives every random choice and is printed so a failure can be replayed.
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tinyssb::crypto::Keypair;
use tinyssb::node::{Config, Event, FaceId, FaceKind, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::{Duration, Instant};
use tinyssb::FeedId;

/// SplitMix64: a tiny, well-distributed PRNG for the simulator (not for the engine).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// The seed for a scenario: `SIM_SEED` from the environment, else the scenario's default.
pub fn seed(default: u64) -> u64 {
    let seed = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    println!("simulation seed: {seed} (replay with SIM_SEED={seed})");
    seed
}

/// Properties of one direction-symmetric link.
#[derive(Clone, Copy, Debug)]
pub struct LinkSpec {
    pub latency: Duration,
    /// Extra random delay in 0..=jitter ms per packet: packets can overtake each other.
    pub jitter: Duration,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Serialisation time per packet (models bandwidth); zero for unlimited.
    pub per_packet: Duration,
    pub kind: FaceKind,
}

impl LinkSpec {
    pub fn reliable(latency_ms: u64) -> LinkSpec {
        LinkSpec {
            latency: Duration(latency_ms),
            jitter: Duration::ZERO,
            loss: 0.0,
            per_packet: Duration::ZERO,
            kind: FaceKind::Reliable,
        }
    }
    pub fn lossy(latency_ms: u64, loss: f64) -> LinkSpec {
        LinkSpec {
            jitter: Duration(latency_ms),
            loss,
            kind: FaceKind::Broadcast,
            ..LinkSpec::reliable(latency_ms)
        }
    }
}

struct Link {
    a: usize,
    b: usize,
    spec: LinkSpec,
    up: bool,
    /// When each direction's wire is free again (bandwidth model): [a→b, b→a].
    busy_until: [Instant; 2],
    /// A secure link's transport at each end, [a's, b's]: packets travel sealed.
    #[cfg(feature = "secure")]
    secure: Option<[tinyssb::secure::Link; 2]>,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    order: u64,
    to: usize,
    link: usize,
    bytes: Vec<u8>,
}

/// A packet that leaves its sender's driver at `at` (links with limited bandwidth).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Flushed {
    at: Instant,
    order: u64,
    node: usize,
    link: usize,
    len: usize,
}

/// One delivered packet, for trace comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceItem {
    pub at: Instant,
    pub to: usize,
    pub link: usize,
    pub bytes: Vec<u8>,
}

/// The simulated network.
pub struct Sim {
    pub nodes: Vec<Option<Node<MemStore>>>,
    pub configs: Vec<Config>,
    links: Vec<Link>,
    pub now: Instant,
    pub rng: Rng,
    queue: BinaryHeap<Reverse<InFlight>>,
    flushes: BinaryHeap<Reverse<Flushed>>,
    order: u64,
    pub events: Vec<Vec<Event>>,
    pub trace: Vec<TraceItem>,
    /// Packets handed to links, and packets that arrived.
    pub sent: u64,
    pub delivered: u64,
    /// Bytes each node handed to its links.
    pub bytes_sent: Vec<u64>,
}

impl Sim {
    pub fn new(seed: u64) -> Sim {
        Sim {
            nodes: Vec::new(),
            configs: Vec::new(),
            links: Vec::new(),
            now: Instant(0),
            rng: Rng::new(seed),
            queue: BinaryHeap::new(),
            flushes: BinaryHeap::new(),
            order: 0,
            events: Vec::new(),
            trace: Vec::new(),
            sent: 0,
            delivered: 0,
            bytes_sent: Vec::new(),
        }
    }

    /// Adds a node over `store`; returns its index.
    pub fn add_node(&mut self, cfg: Config, store: MemStore) -> usize {
        self.nodes.push(Some(Node::new(cfg.clone(), store, self.now)));
        self.configs.push(cfg);
        self.events.push(Vec::new());
        self.bytes_sent.push(0);
        self.nodes.len() - 1
    }

    pub fn node(&self, i: usize) -> &Node<MemStore> {
        self.nodes[i].as_ref().expect("node is running")
    }

    pub fn node_mut(&mut self, i: usize) -> &mut Node<MemStore> {
        self.nodes[i].as_mut().expect("node is running")
    }

    /// Joins nodes `a` and `b`; the link is up at once. Returns the link index (also the face id).
    pub fn link(&mut self, a: usize, b: usize, spec: LinkSpec) -> usize {
        let id = self.links.len();
        self.links.push(Link {
            a,
            b,
            spec,
            up: false,
            busy_until: [self.now; 2],
            #[cfg(feature = "secure")]
            secure: None,
        });
        self.set_link(id, true);
        id
    }

    /// Joins nodes `a` and `b` by a secure link: `ends` are the transports of a finished
    /// handshake, `a`'s first. Packets travel (and are traced) sealed; the link must be
    /// reliable and without jitter, as Noise's nonces need the order kept.
    #[cfg(feature = "secure")]
    pub fn secure_link(
        &mut self,
        a: usize,
        b: usize,
        spec: LinkSpec,
        ends: [tinyssb::secure::Link; 2],
    ) -> usize {
        assert!(spec.loss == 0.0 && spec.jitter == Duration::ZERO, "a secure link needs order");
        let id = self.link(a, b, spec);
        self.links[id].secure = Some(ends);
        id
    }

    /// Brings a link up or down (a partition), telling both ends.
    pub fn set_link(&mut self, id: usize, up: bool) {
        let (a, b, kind, was) = {
            let l = &self.links[id];
            (l.a, l.b, l.spec.kind, l.up)
        };
        if was == up {
            return;
        }
        self.links[id].up = up;
        let now = self.now;
        for n in [a, b] {
            if let Some(node) = self.nodes[n].as_mut() {
                if up {
                    node.handle_face_up(now, FaceId(id as u64), kind);
                } else {
                    node.handle_face_down(now, FaceId(id as u64));
                }
            }
        }
    }

    /// Stops node `i` (its links go down for it) and returns its store.
    pub fn stop(&mut self, i: usize) -> MemStore {
        let node = self.nodes[i].take().expect("node is running");
        node.into_store()
    }

    /// Starts node `i` again over `store`, with its links that are up.
    pub fn restart(&mut self, i: usize, store: MemStore) {
        let node = Node::new(self.configs[i].clone(), store, self.now);
        self.nodes[i] = Some(node);
        let now = self.now;
        for (id, l) in self.links.iter().enumerate() {
            if l.up && (l.a == i || l.b == i) {
                if let Some(n) = self.nodes[i].as_mut() {
                    n.handle_face_up(now, FaceId(id as u64), l.spec.kind);
                }
            }
        }
    }

    /// Injects a raw packet into node `to` as if it arrived on link `link`.
    pub fn inject(&mut self, to: usize, link: usize, bytes: &[u8]) {
        let now = self.now;
        if let Some(n) = self.nodes[to].as_mut() {
            n.handle_packet(now, FaceId(link as u64), bytes);
        }
    }

    /// Moves every queued transmit onto the links.
    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            let now = self.now;
            while let Some(tx) = self.nodes[i].as_mut().and_then(tinyssb::node::Node::poll_transmit) {
                self.sent += 1;
                self.bytes_sent[i] += tx.packet.len() as u64;
                let id = tx.face.0 as usize;
                let Some(link) = self.links.get_mut(id) else { continue };
                if !link.up {
                    continue;
                }
                let (to, dir) = if link.a == i { (link.b, 0) } else { (link.a, 1) };
                let spec = link.spec;
                let start = link.busy_until[dir].max(self.now);
                link.busy_until[dir] = start + spec.per_packet;
                // The sender's driver holds the packet until the wire has taken it.
                if spec.per_packet == Duration::ZERO {
                    if let Some(n) = self.nodes[i].as_mut() {
                        n.handle_flushed(now, tx.face, tx.packet.len());
                    }
                } else {
                    self.order += 1;
                    let flush = Flushed {
                        at: start + spec.per_packet,
                        order: self.order,
                        node: i,
                        link: id,
                        len: tx.packet.len(),
                    };
                    self.flushes.push(Reverse(flush));
                }
                if self.rng.chance(spec.loss) {
                    continue;
                }
                let jitter = if spec.jitter.0 > 0 { self.rng.below(spec.jitter.0 + 1) } else { 0 };
                let at = start + spec.per_packet + spec.latency + Duration(jitter);
                #[allow(unused_mut)]
                let mut bytes = tx.packet.as_slice().to_vec();
                #[cfg(feature = "secure")]
                if let Some(ends) = self.links[id].secure.as_mut() {
                    bytes = ends[dir].seal(&bytes).expect("seal");
                }
                self.order += 1;
                self.queue.push(Reverse(InFlight { at, order: self.order, to, link: id, bytes }));
            }
            while let Some(node) = self.nodes[i].as_mut() {
                match node.poll_event() {
                    Some(e) => self.events[i].push(e),
                    None => break,
                }
            }
        }
    }

    /// The next instant anything happens.
    fn next_time(&self) -> Option<Instant> {
        let mut next = self.queue.peek().map(|Reverse(p)| p.at);
        if let Some(Reverse(f)) = self.flushes.peek() {
            next = Some(next.map_or(f.at, |x| x.min(f.at)));
        }
        for n in self.nodes.iter().flatten() {
            if let Some(t) = n.poll_timeout() {
                next = Some(next.map_or(t, |x| x.min(t)));
            }
        }
        next
    }

    /// Runs one step: jump to the next instant, deliver what arrives, fire due timers.
    /// Returns false when nothing is left to happen or the step would pass `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        self.collect();
        let Some(next) = self.next_time() else { return false };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        while self.flushes.peek().is_some_and(|Reverse(f)| f.at <= self.now) {
            let Some(Reverse(f)) = self.flushes.pop() else { break };
            let now = self.now;
            if let Some(n) = self.nodes[f.node].as_mut() {
                n.handle_flushed(now, FaceId(f.link as u64), f.len);
            }
        }
        while let Some(Reverse(p)) = self.queue.peek() {
            if p.at > self.now {
                break;
            }
            let Some(Reverse(p)) = self.queue.pop() else { break };
            if !self.links[p.link].up {
                continue;
            }
            let now = self.now;
            #[allow(unused_mut)]
            let mut packet = p.bytes.clone();
            #[cfg(feature = "secure")]
            {
                let end = usize::from(self.links[p.link].a != p.to);
                if let Some(ends) = self.links[p.link].secure.as_mut() {
                    packet = ends[end].open(&p.bytes).expect("open");
                }
            }
            if let Some(n) = self.nodes[p.to].as_mut() {
                self.delivered += 1;
                n.handle_packet(now, FaceId(p.link as u64), &packet);
                self.trace.push(TraceItem { at: now, to: p.to, link: p.link, bytes: p.bytes });
            }
        }
        let now = self.now;
        for n in self.nodes.iter_mut().flatten() {
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
        }
        self.collect();
        true
    }

    /// Runs until `done` holds (checked after every step) or virtual time passes `limit`.
    /// Returns the virtual time at which `done` first held.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> Option<Instant> {
        let end = self.now + limit;
        loop {
            if done(self) {
                return Some(self.now);
            }
            if !self.step(end) {
                return if done(self) { Some(self.now) } else { None };
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.step(end) {}
        self.now = self.now.max(end);
    }
}

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
            let seq = tinyssb::Seq(s);
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
                49 + rng.below(max_chain as u64 - 48) as usize
            } else {
                rng.below(49) as usize
            };
            let content: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
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
    mut alter: impl FnMut(usize, u32, &mut tinyssb::wire::entry::Entry),
) -> MemStore {
    let mut out = MemStore::default();
    for (i, (fid, entries, _)) in contents(master).into_iter().enumerate() {
        let Some(n) = keep(i) else { continue };
        out.add_feed(fid).expect("add");
        let mut prev = fid.genesis_prev();
        for (s, raw) in (1..=n).zip(entries) {
            let seq = tinyssb::Seq(s);
            let e = tinyssb::wire::entry::Entry(raw);
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
