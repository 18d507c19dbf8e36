//! Malicious peers as first-class scenario members.
//!
//! An [`Adversary`] is a node of the [`Sim`] that never runs an engine: it owns a face into one
//! honest node (its target) and sends whatever its script says, from its own random stream.
//! [`Attack`] names what the hardening work defends against: garbage of every length, forged and
//! impostor entries, absurd GOset claims and requests, fake-id floods, valid requests repeated
//! without end, and replays of what the target has already received. Add one with
//! [`Scenario::attacker`](crate::Scenario::attacker) (or [`Sim::add_attacker`]) and get it with
//! [`Sim::adversary`].

use tinyssb::node::{Config, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::store::{Frontier, Store};
use tinyssb::time::Duration;
use tinyssb::wire::entry::entry_dmx;
use tinyssb::wire::goset::{Claim, Format, GosetMsg};
use tinyssb::wire::request::{ChnkVector, ChunkRequest, RequestVector, WantVector};
use tinyssb::{FeedId, Seq};

use crate::corpus::key;
use crate::link::LinkSpec;
use crate::net::Sim;
use crate::rng::Rng;

/// Adversaries draw from streams far from the links' (which are numbered from 0).
const ADVERSARY_STREAM: u64 = 1 << 48;

/// Packet lengths that exercise every length check: empty, shorter than a DMX, around an entry's
/// 120 bytes, and far over any packet.
pub const GARBAGE_LENGTHS: [usize; 12] = [0, 1, 6, 7, 8, 40, 105, 119, 120, 121, 500, 4096];

/// One thing an adversary sends its target.
#[derive(Clone, Debug)]
pub enum Attack {
    /// Random bytes, one packet of each length.
    Garbage(Vec<usize>),
    /// For each feed, the entry the target expects next (its DMX is right), with random bytes
    /// for everything else: a bad signature.
    ForgedEntries(Vec<FeedId>),
    /// A validly signed entry of the feed of [`key`]`(key)`, chained onto `victim`'s genesis: an
    /// entry by the wrong key for a feed the attacker does not own.
    Impostor {
        /// The attacker's key number.
        key: u64,
        /// The feed whose genesis the entry claims to follow.
        victim: FeedId,
    },
    /// GOset claims with absurd counts, reversed spans and zero keys.
    AbsurdClaims,
    /// Requests with absurd offsets, indices, seqs and chunk numbers, on the target's current
    /// request DMXs.
    AbsurdRequests,
    /// Fake feed ids, in pairs as two-key claims and an odd one out as a novelty.
    FakeIds(Vec<FeedId>),
    /// A valid WANT for entry `seq` of the first `feeds` feeds, on the target's current DMX.
    Want {
        /// How many of the target's feeds.
        feeds: usize,
        /// Which entry of each.
        seq: u32,
    },
    /// Every packet the target has received so far, again, in order.
    Replay,
}

/// A malicious peer: a face into `target` over `link`, with no engine behind it.
#[derive(Clone, Debug)]
pub struct Adversary {
    /// The attacker's own node index (never running).
    pub node: usize,
    /// The honest node it attacks.
    pub target: usize,
    /// The link between them (the target's face id for the attacker).
    pub link: usize,
    /// The attacker's own random stream.
    pub rng: Rng,
    /// Packets sent so far.
    pub sent: u64,
}

impl Sim {
    /// Adds an attacker called `name` with a link to `target`; the attacker never runs an
    /// engine. Returns its node index; [`Sim::adversary`] gives its handle.
    pub fn add_attacker(&mut self, name: impl Into<String>, target: usize, spec: LinkSpec) -> usize {
        let m = self.add_offline(name, Config::default(), MemStore::default());
        self.link(m, target, spec);
        m
    }

    /// The handle of attacker `node` (its first link names its target). Its random stream is
    /// derived from the seed and its node index, so it is the same every time.
    pub fn adversary(&self, node: usize) -> Adversary {
        let link = (0..self.link_count()).find(|&l| {
            let (a, b) = self.ends(l);
            a == node || b == node
        });
        let link = link.expect("an attacker has a link");
        let (a, b) = self.ends(link);
        let target = if a == node { b } else { a };
        Adversary { node, target, link, rng: Rng::derive(self.seed, ADVERSARY_STREAM + node as u64), sent: 0 }
    }
}

impl Adversary {
    /// `n` random feed ids that no honest node holds.
    pub fn fake_ids(&mut self, n: usize) -> Vec<FeedId> {
        (0..n)
            .map(|_| {
                let mut id = [0u8; 32];
                id.iter_mut().for_each(|b| *b = self.rng.byte());
                FeedId(id)
            })
            .collect()
    }

    /// Hands `bytes` to the target at once, on the attacker's face.
    pub fn send(&mut self, sim: &mut Sim, bytes: &[u8]) {
        self.sent += 1;
        sim.inject(self.target, self.link, bytes);
    }

    /// Greets the target in the wide GOset format with its own whole set, as a peer of its
    /// kind would, so that the requests that follow are understood.
    fn greet_wide(&mut self, sim: &mut Sim) {
        if let Some(hello) = wide_hello(sim.node(self.target)) {
            self.send(sim, &hello);
        }
    }

    /// Makes the attacker stop reading (`true`): what its target sends it stays queued in the
    /// target's driver, as with a client that never reads its socket ([`Sim::stall`]).
    pub fn stop_reading(&self, sim: &mut Sim, on: bool) {
        sim.stall(self.node, on);
    }

    /// Bytes the target has handed to the link towards the attacker.
    pub fn bytes_from_target(&self, sim: &Sim) -> u64 {
        let (first, second) = sim.link_bytes(self.link);
        if sim.ends(self.link).0 == self.target {
            first
        } else {
            second
        }
    }

    /// Sends what `attack` says.
    pub fn perform(&mut self, sim: &mut Sim, attack: &Attack) {
        let t = self.target;
        match attack {
            Attack::Garbage(lens) => {
                for &len in lens {
                    let junk = self.rng.bytes(len);
                    self.send(sim, &junk);
                }
            }
            Attack::ForgedEntries(feeds) => {
                for fid in feeds {
                    let (next, prev) = match sim.node(t).store().frontier(fid) {
                        Some(f) => (Seq(f.seq.0 + 1), f.prev),
                        None => (Seq(1), fid.genesis_prev()),
                    };
                    let mut forged = [0u8; 120];
                    forged[..7].copy_from_slice(&entry_dmx(fid, next, &prev).0);
                    forged[7..].iter_mut().for_each(|x| *x = self.rng.byte());
                    self.send(sim, &forged);
                }
            }
            Attack::Impostor { key: k, victim } => {
                let at = Frontier { seq: Seq(0), prev: victim.genesis_prev() };
                let fake = tinyssb::feed::author_plain48(&key(*k), &at, b"evil").expect("author");
                self.send(sim, &fake.entry.0);
            }
            Attack::AbsurdClaims => {
                let spans =
                    [([0u8; 32], [0xff; 32], 255u32), ([0xff; 32], [0; 32], 3), ([7; 32], [7; 32], 0)];
                for (lo, hi, count) in spans {
                    let xor = [self.rng.byte(); 32];
                    let claim = GosetMsg::Claim(Claim { lo: FeedId(lo), hi: FeedId(hi), xor, count });
                    self.send(sim, &claim.to_packet().expect("a claim fits"));
                }
            }
            Attack::AbsurdRequests => {
                self.greet_wide(sim);
                let mut want = WantVector::new(u32::MAX);
                for _ in 0..40 {
                    want.try_push(Seq(u32::MAX));
                }
                let p = want.to_packet(&sim.node(t).want_dmx());
                self.send(sim, &p);
                let chnk = ChnkVector::fitting((0..20).map(|i| ChunkRequest {
                    feed_index: 1000 + i,
                    seq: Seq(1),
                    chunk: u32::MAX,
                }));
                let p = chnk.to_packet(&sim.node(t).chnk_dmx());
                self.send(sim, &p);
            }
            Attack::FakeIds(ids) => {
                for p in fake_id_packets(ids) {
                    self.send(sim, &p);
                }
            }
            Attack::Want { feeds, seq } => {
                self.greet_wide(sim);
                let p = want_packet(sim.node(t), *feeds, *seq);
                self.send(sim, &p);
            }
            Attack::Replay => {
                let seen: Vec<Vec<u8>> =
                    sim.trace.iter().filter(|p| p.to == t).map(|p| p.bytes.clone()).collect();
                for p in seen {
                    self.send(sim, &p);
                }
            }
        }
    }

    /// Runs `rounds` rounds of the script: every attack in order, then `every` of virtual time
    /// for the honest nodes.
    pub fn script(&mut self, sim: &mut Sim, rounds: u64, every: Duration, attacks: &[Attack]) {
        for _ in 0..rounds {
            for a in attacks {
                self.perform(sim, a);
            }
            sim.run_for(every);
        }
    }
}

/// The packets of a fake-id flood: pairs of `ids` as two-key claims (with the right XOR, so
/// they look consistent), an odd one out as a novelty.
pub fn fake_id_packets(ids: &[FeedId]) -> Vec<Vec<u8>> {
    ids.chunks(2)
        .map(|pair| match pair {
            [a, b] => {
                let (lo, hi) = if a < b { (*a, *b) } else { (*b, *a) };
                let mut xor = lo.0;
                for (x, y) in xor.iter_mut().zip(hi.0) {
                    *x ^= y;
                }
                GosetMsg::Claim(Claim { lo, hi, xor, count: 2 }).to_packet()
            }
            [a, ..] => GosetMsg::Novelty(*a).to_packet(),
            [] => unreachable!("chunks are never empty"),
        })
        .map(|p| p.expect("a GOset message fits"))
        .collect()
}

/// The wide-format claim over `node`'s whole set: sent on a face, it makes the node treat the
/// face as a peer of its kind that agrees on that set, so requests on the node's whole-set DMX
/// ([`want_packet`]) are understood. `None` for an empty set.
pub fn wide_hello(node: &Node<MemStore>) -> Option<Vec<u8>> {
    GosetMsg::Claim(node.goset().full_claim()?).to_packet_as(Format::Wide)
}

/// A WANT packet for `node` asking for entry `seq` of its first `feeds` feeds.
pub fn want_packet(node: &Node<MemStore>, feeds: usize, seq: u32) -> Vec<u8> {
    let w = WantVector::fitting(0, (0..feeds).map(|_| Seq(seq)));
    let mut p = node.want_dmx().0.to_vec();
    p.extend_from_slice(&w.encode());
    p
}
