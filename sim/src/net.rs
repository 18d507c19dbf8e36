//! The simulated network: nodes, links, the event queue and virtual time.
//!
//! [`Sim`] owns the engines ([`Node`] over a [`MemStore`]) and the links between them. Virtual
//! time jumps to the next event (a packet arriving, a wire becoming free, a node's timer), so
//! an hour of protocol runs in milliseconds. Partitions are links brought down and up again
//! ([`Sim::set_link`], [`Sim::partition`], [`Sim::heal`]); restarts are nodes stopped and started
//! again from their store ([`Sim::stop`]/[`Sim::restart`], [`Sim::halt`]/[`Sim::start`]).
//! Every random choice comes from the seed ([`crate::rng`]), so a run replays exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tinyssb::node::{Config, Event, FaceId, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::time::{Duration, Instant};

use crate::corpus::{contents, converged, FeedBytes};
use crate::link::{Link, LinkSpec};
use crate::rng::Rng;

/// The stream of [`Rng::derive`] that link `id` draws from.
pub(crate) fn link_stream(id: usize) -> u64 {
    id as u64
}

/// A packet on its way to a node.
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
    /// When it arrived.
    pub at: Instant,
    /// The node it arrived at.
    pub to: usize,
    /// The link (and face id) it came over.
    pub link: usize,
    /// The packet.
    pub bytes: Vec<u8>,
}

/// The simulated network.
pub struct Sim {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// The engines, by node index; `None` while a node is stopped.
    pub nodes: Vec<Option<Node<MemStore>>>,
    /// Each node's configuration, used again when it restarts.
    pub configs: Vec<Config>,
    /// Each node's name (from the [`Scenario`](crate::Scenario), else `n<index>`).
    pub names: Vec<String>,
    /// Stores of nodes stopped with [`Sim::halt`], kept for [`Sim::start`].
    parked: Vec<Option<MemStore>>,
    /// Nodes that read nothing from their links ([`Sim::stall`]).
    stalled: Vec<bool>,
    links: Vec<Link>,
    /// Virtual time.
    pub now: Instant,
    /// The scenario's own randomness (corpora, pauses); links and adversaries have their own.
    pub rng: Rng,
    queue: BinaryHeap<Reverse<InFlight>>,
    flushes: BinaryHeap<Reverse<Flushed>>,
    order: u64,
    /// Every event each node reported, in order.
    pub events: Vec<Vec<Event>>,
    /// Every delivered packet, in order.
    pub trace: Vec<TraceItem>,
    /// Packets handed to links.
    pub sent: u64,
    /// Packets that arrived.
    pub delivered: u64,
    /// Bytes each node handed to its links.
    pub bytes_sent: Vec<u64>,
    /// Nodes with `Config::external_verify` get their verification jobs answered at once, in
    /// the order issued; with this set, the jobs issued since the last answers go newest first.
    pub reverse_verdicts: bool,
}

impl Sim {
    /// An empty network at time zero whose random choices all derive from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            seed,
            nodes: Vec::new(),
            configs: Vec::new(),
            names: Vec::new(),
            parked: Vec::new(),
            stalled: Vec::new(),
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
            reverse_verdicts: false,
        }
    }

    /// Adds a running node over `store`; returns its index.
    pub fn add_node(&mut self, cfg: Config, store: MemStore) -> usize {
        let name = format!("n{}", self.nodes.len());
        self.add_named(name, cfg, store)
    }

    /// Adds a running node called `name` over `store`; returns its index.
    pub fn add_named(&mut self, name: impl Into<String>, cfg: Config, store: MemStore) -> usize {
        let i = self.add_offline(name, cfg, store);
        self.start(i);
        i
    }

    /// Adds a node called `name` that is not running yet: [`Sim::start`] starts it over `store`.
    pub fn add_offline(&mut self, name: impl Into<String>, cfg: Config, store: MemStore) -> usize {
        let name = name.into();
        assert!(!self.names.contains(&name), "two nodes called {name}");
        self.nodes.push(None);
        self.parked.push(Some(store));
        self.stalled.push(false);
        self.configs.push(cfg);
        self.names.push(name);
        self.events.push(Vec::new());
        self.bytes_sent.push(0);
        self.nodes.len() - 1
    }

    /// The index of the node called `name`.
    pub fn id(&self, name: &str) -> usize {
        self.names.iter().position(|n| n == name).unwrap_or_else(|| panic!("no node called {name}"))
    }

    /// The indices of the nodes called `names`, in order.
    pub fn ids<const N: usize>(&self, names: [&str; N]) -> [usize; N] {
        names.map(|n| self.id(n))
    }

    /// Node `i`, which must be running.
    pub fn node(&self, i: usize) -> &Node<MemStore> {
        self.nodes[i].as_ref().expect("node is running")
    }

    /// Node `i`, which must be running.
    pub fn node_mut(&mut self, i: usize) -> &mut Node<MemStore> {
        self.nodes[i].as_mut().expect("node is running")
    }

    /// True if node `i` is running.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].is_some()
    }

    /// Joins nodes `a` and `b`; the link is up at once. Returns the link index (also the face
    /// id at both ends). The link draws its random choices from a stream of its own.
    pub fn link(&mut self, a: usize, b: usize, spec: LinkSpec) -> usize {
        let id = self.links.len();
        let rng = Rng::derive(self.seed, link_stream(id));
        let link =
            Link { a, b, spec, up: false, busy_until: [self.now; 2], rng, bytes: [0; 2], secure: None };
        self.links.push(link);
        self.set_link(id, true);
        id
    }

    /// Joins nodes `a` and `b` by a secure link: `ends` are the transports of a finished
    /// handshake, `a`'s first. Packets travel (and are traced) sealed; the link must be
    /// reliable and without jitter, as the transport's nonces need the order kept.
    ///
    /// # Panics
    ///
    /// If `spec` loses or reorders packets.
    pub fn secure_link(
        &mut self,
        a: usize,
        b: usize,
        spec: LinkSpec,
        ends: [tinyssb::secure::Link; 2],
    ) -> usize {
        assert!(spec.loss == 0.0 && spec.jitter == Duration::ZERO, "a secure link needs order");
        let id = self.link(a, b, spec);
        if let Some(link) = self.links.get_mut(id) {
            link.secure = Some(Box::new(ends));
        }
        id
    }

    /// The link between `a` and `b` (the first one, if there are several).
    pub fn link_between(&self, a: usize, b: usize) -> Option<usize> {
        self.links.iter().position(|l| l.touches(a) && l.touches(b))
    }

    /// How many links there are (link ids run from 0).
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    /// The two ends of link `id`.
    pub fn ends(&self, id: usize) -> (usize, usize) {
        (self.links[id].a, self.links[id].b)
    }

    /// What link `id` does to packets.
    pub fn link_spec(&self, id: usize) -> LinkSpec {
        self.links[id].spec
    }

    /// Changes what link `id` does to packets from now on (packets in flight keep their
    /// arrival time). A change of face kind reaches the nodes the next time the link comes up.
    pub fn set_link_spec(&mut self, id: usize, spec: LinkSpec) {
        self.links[id].spec = spec;
    }

    /// True if link `id` is up.
    pub fn link_is_up(&self, id: usize) -> bool {
        self.links[id].up
    }

    /// Brings a link up or down (a partition), telling both ends. Packets in flight on a link
    /// that goes down are lost.
    pub fn set_link(&mut self, id: usize, up: bool) {
        let l = &self.links[id];
        let (a, b, kind) = (l.a, l.b, l.spec.kind);
        if l.up == up {
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

    /// Cuts `side` off from the rest: every link with exactly one end in `side` goes down.
    pub fn partition(&mut self, side: &[usize]) {
        for id in 0..self.links.len() {
            let l = &self.links[id];
            if side.contains(&l.a) != side.contains(&l.b) {
                self.set_link(id, false);
            }
        }
    }

    /// Brings every link up again.
    pub fn heal(&mut self) {
        for id in 0..self.links.len() {
            self.set_link(id, true);
        }
    }

    /// Makes node `i` read nothing from its links (`true`), like a peer whose socket is never
    /// read: what others send it stays in their drivers, never reported written, until the link
    /// goes down. Turning it off again affects later packets only.
    pub fn stall(&mut self, i: usize, on: bool) {
        self.stalled[i] = on;
    }

    /// Bytes handed to link `id` so far, from each end: (from its first node, from its second).
    pub fn link_bytes(&self, id: usize) -> (u64, u64) {
        let [ab, ba] = self.links[id].bytes;
        (ab, ba)
    }

    /// Stops node `i` (its links go down for it) and returns its store.
    pub fn stop(&mut self, i: usize) -> MemStore {
        let node = self.nodes[i].take().expect("node is running");
        node.into_store()
    }

    /// Starts node `i` again over `store`, with its links that are up.
    pub fn restart(&mut self, i: usize, store: MemStore) {
        assert!(self.nodes[i].is_none(), "node {i} is running");
        let now = self.now;
        let mut node = Node::new(self.configs[i].clone(), store, now);
        for (id, l) in self.links.iter().enumerate() {
            if l.up && l.touches(i) {
                node.handle_face_up(now, FaceId(id as u64), l.spec.kind);
            }
        }
        self.nodes[i] = Some(node);
    }

    /// Stops node `i` and keeps its store for [`Sim::start`] (a crash, or a node going away).
    pub fn halt(&mut self, i: usize) {
        let store = self.stop(i);
        self.parked[i] = Some(store);
    }

    /// The store of node `i` while it is halted (or not started yet).
    pub fn parked(&self, i: usize) -> Option<&MemStore> {
        self.parked[i].as_ref()
    }

    /// Starts node `i` over the store it was added with or halted with.
    pub fn start(&mut self, i: usize) {
        let store = self.parked[i].take().expect("node has a parked store");
        self.restart(i, store);
    }

    /// Injects a raw packet into node `to` as if it arrived on link `link` just now.
    pub fn inject(&mut self, to: usize, link: usize, bytes: &[u8]) {
        let now = self.now;
        if let Some(n) = self.nodes[to].as_mut() {
            n.handle_packet(now, FaceId(link as u64), bytes);
        }
    }

    /// Sends a packet from node `from` over link `link`, subject to its latency, jitter, loss and
    /// bandwidth, as if `from`'s engine had sent it (`from` need not be running).
    pub fn send(&mut self, from: usize, link: usize, bytes: &[u8]) {
        self.transmit(from, link, bytes);
    }

    /// Puts one packet of node `i` onto link `id`.
    fn transmit(&mut self, i: usize, id: usize, bytes: &[u8]) {
        self.sent += 1;
        self.bytes_sent[i] += bytes.len() as u64;
        let now = self.now;
        let Some(link) = self.links.get(id) else { return };
        if !link.up {
            return;
        }
        let (to, dir) = link.towards(i);
        let stalled = self.stalled[to];
        let link = &mut self.links[id];
        link.bytes[dir] += bytes.len() as u64;
        if stalled {
            // Never read: the packet stays in the sender's driver and uses no randomness.
            return;
        }
        let spec = link.spec;
        let wire = spec.wire_time(bytes.len());
        let start = link.busy_until[dir].max(now);
        link.busy_until[dir] = start + wire;
        let lost = link.rng.chance(spec.loss);
        let jitter = if spec.jitter.0 > 0 { link.rng.below(spec.jitter.0 + 1) } else { 0 };
        // The sender's driver holds the packet until the wire has taken it.
        if wire == Duration::ZERO {
            if let Some(n) = self.nodes[i].as_mut() {
                n.handle_flushed(now, FaceId(id as u64), bytes.len());
            }
        } else if self.nodes[i].is_some() {
            self.order += 1;
            let flush = Flushed { at: start + wire, order: self.order, node: i, link: id, len: bytes.len() };
            self.flushes.push(Reverse(flush));
        }
        if lost {
            return;
        }
        let at = start + wire + spec.latency + Duration(jitter);
        let bytes = match link.secure.as_mut() {
            Some(ends) => ends[dir].seal(bytes).expect("a packet always seals"),
            None => bytes.to_vec(),
        };
        self.order += 1;
        self.queue.push(Reverse(InFlight { at, order: self.order, to, link: id, bytes }));
    }

    /// Moves every queued transmit onto the links, and every event into [`Sim::events`].
    fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            let now = self.now;
            if let Some(n) = self.nodes[i].as_mut() {
                // Verification jobs (`Config::external_verify`) are answered at once.
                let mut jobs: Vec<_> = std::iter::from_fn(|| n.poll_verify()).collect();
                if self.reverse_verdicts {
                    jobs.reverse();
                }
                for job in jobs {
                    n.handle_verified(now, job.id, job.verify());
                }
            }
            while let Some(tx) = self.nodes[i].as_mut().and_then(Node::poll_transmit) {
                self.transmit(i, tx.face.0 as usize, tx.packet.as_slice());
            }
            while let Some(e) = self.nodes[i].as_mut().and_then(Node::poll_event) {
                self.events[i].push(e);
            }
        }
    }

    /// The next instant anything happens.
    fn next_time(&self) -> Option<Instant> {
        let packets = self.queue.peek().map(|Reverse(p)| p.at);
        let flushes = self.flushes.peek().map(|Reverse(f)| f.at);
        let timers = self.nodes.iter().flatten().filter_map(Node::poll_timeout);
        packets.into_iter().chain(flushes).chain(timers).min()
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
        let now = self.now;
        while self.flushes.peek().is_some_and(|Reverse(f)| f.at <= now) {
            let Some(Reverse(f)) = self.flushes.pop() else { break };
            if let Some(n) = self.nodes[f.node].as_mut() {
                n.handle_flushed(now, FaceId(f.link as u64), f.len);
            }
        }
        while self.queue.peek().is_some_and(|Reverse(p)| p.at <= now) {
            let Some(Reverse(p)) = self.queue.pop() else { break };
            if !self.links[p.link].up {
                continue;
            }
            let link = &mut self.links[p.link];
            let end = usize::from(link.a != p.to);
            let packet = match link.secure.as_mut() {
                Some(ends) => ends[end].open(&p.bytes).expect("a sealed packet in order opens"),
                None => p.bytes.clone(),
            };
            if let Some(n) = self.nodes[p.to].as_mut() {
                self.delivered += 1;
                n.handle_packet(now, FaceId(p.link as u64), &packet);
                self.trace.push(TraceItem { at: now, to: p.to, link: p.link, bytes: p.bytes });
            }
        }
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

    /// Runs until `nodes` have [`converged`], within `limit` of virtual time; panics otherwise,
    /// naming the seed. Returns the virtual time of convergence.
    pub fn converge(&mut self, nodes: &[usize], limit: Duration) -> Instant {
        let seed = self.seed;
        let names: Vec<&str> = nodes.iter().map(|&i| self.names[i].as_str()).collect();
        let what = names.join(", ");
        self.run_until(limit, |s| converged(s, nodes))
            .unwrap_or_else(|| panic!("{what} did not converge within {} ms (seed {seed})", limit.0))
    }

    /// What node `i`'s store holds (the node must be running).
    pub fn contents(&self, i: usize) -> Vec<FeedBytes> {
        contents(&mut self.node(i).store().clone())
    }

    /// Asserts that `nodes` hold the very same feeds, entries and chunks.
    pub fn assert_same_contents(&self, nodes: &[usize]) {
        let Some((&first, rest)) = nodes.split_first() else { return };
        let expected = self.contents(first);
        for &i in rest {
            assert!(
                self.contents(i) == expected,
                "{} and {} hold different bytes (seed {})",
                self.names[first],
                self.names[i],
                self.seed
            );
        }
    }
}
