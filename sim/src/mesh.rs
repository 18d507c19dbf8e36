//! A mesh of pubs at scale: [`MeshNet`] runs N [`Mesh`] state machines (no replication engines)
//! over a virtual network, deterministically from one seed.
//!
//! This module owns the abstract model the mesh needs and nothing more:
//!
//! - **Pubs** reachable at `ws://p<i>`, started, killed and restarted. A restart builds a new
//!   [`Mesh`] and replays what the pub had on disk: every mesh-feed entry it held (its own
//!   included), then every data feed id (the GOset is modelled as global knowledge).
//! - **Faces.** [`Action::Dial`] connects after a latency if the target is alive and on the same
//!   side of a partition, else fails after [`MeshNet::dial_timeout`]. Connection `k` is face
//!   `2k` at the dialler and `2k + 1` at the acceptor. [`Action::HangUp`], a kill and a partition
//!   close both ends.
//! - **Mesh packets** ([`Mesh::poll_transmit`]) travel over their face with a latency, in order.
//! - **Mesh feeds.** [`Action::Publish`] appends to the pub's log and hands the entry back. On
//!   every open face each end gets the other's entries of the mesh feeds it follows, at once
//!   when the face opens and then as they appear (flooding, one latency per hop).
//! - **Data feeds** are a count of entries per pub and feed. Over an open mesh link a pub copies
//!   from the other end the entries of the feeds it holds ([`Mesh::holds`]) that the other end
//!   has more of, reports [`Mesh::handle_stored`], and reports [`Mesh::handle_in_sync`] when a
//!   check finds nothing (once per quiet period).
//! - **Traffic**: mesh maintenance (packets, plus [`ENTRY_BYTES`] per mesh-feed entry per hop)
//!   apart from data ([`ENTRY_BYTES`] per data entry copied), in [`MeshTraffic`].
//!
//! Events sit in one queue keyed by virtual time; per face and direction at most one delivery
//! and one data check are queued at once, so the cost grows with the traffic, not with N².

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};

use tinyssb::ids::FeedId;
use tinyssb::mesh::{hrw, Action, Config, Mesh, PubId};
use tinyssb::node::FaceId;
use tinyssb::time::{Duration, Instant};

use crate::rng::Rng;

/// Bytes one feed entry costs on the wire (a 120-byte tinySSB packet).
pub const ENTRY_BYTES: u64 = 120;

/// Traffic counters of a [`MeshNet`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshTraffic {
    /// Bytes of mesh packets delivered.
    pub packet_bytes: u64,
    /// Mesh packets delivered.
    pub packets: u64,
    /// Bytes of mesh-feed entries copied between pubs.
    pub record_bytes: u64,
    /// Bytes of data-feed entries copied between pubs.
    pub data_bytes: u64,
    /// Mesh records written (announces and down records).
    pub records_written: u64,
    /// Announces written.
    pub announces: u64,
    /// Down records written.
    pub downs: u64,
    /// Dials asked for.
    pub dials: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// Faces opened.
    pub faces_opened: u64,
    /// Times a mesh asked to be woken at or before the instant it was just woken at (a driver
    /// would spin); the simulator then waits a millisecond.
    pub spins: u64,
}

impl MeshTraffic {
    /// Maintenance bytes: mesh packets and mesh-feed entries.
    pub fn maintenance(&self) -> u64 {
        self.packet_bytes + self.record_bytes
    }

    /// The counters accumulated since `earlier`.
    pub fn since(&self, earlier: &MeshTraffic) -> MeshTraffic {
        MeshTraffic {
            packet_bytes: self.packet_bytes - earlier.packet_bytes,
            packets: self.packets - earlier.packets,
            record_bytes: self.record_bytes - earlier.record_bytes,
            data_bytes: self.data_bytes - earlier.data_bytes,
            records_written: self.records_written - earlier.records_written,
            announces: self.announces - earlier.announces,
            downs: self.downs - earlier.downs,
            dials: self.dials - earlier.dials,
            dial_failures: self.dial_failures - earlier.dial_failures,
            faces_opened: self.faces_opened - earlier.faces_opened,
            spins: self.spins - earlier.spins,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Timer {
        p: u32,
        inc: u32,
    },
    Dialed {
        p: u32,
        inc: u32,
        to: u32,
    },
    DialFailed {
        p: u32,
        inc: u32,
        to: u32,
    },
    /// Deliver queued packets and mesh-feed entries to end `to` of connection `conn`.
    Flush {
        conn: u32,
        to: u8,
    },
    /// End `end` of connection `conn` looks for data entries to copy from the other end.
    Data {
        conn: u32,
        end: u8,
    },
}

/// What flows towards one end of a connection.
#[derive(Default)]
struct Dir {
    packets: Vec<Vec<u8>>,
    /// Authors whose mesh-feed entries the sender may have more of.
    authors: Vec<u32>,
    /// Compare every author (the face just opened).
    all_authors: bool,
    flush_queued: bool,
    data_queued: bool,
    /// This end reported in sync and copied nothing since.
    in_sync: bool,
    /// This end's mesh identified the link (its engine replicates held feeds over it).
    pub_link: bool,
}

struct Conn {
    /// The dialler, then the acceptor.
    ends: [u32; 2],
    open: bool,
    /// `dirs[d]`: what flows towards end `d`.
    dirs: [Dir; 2],
}

struct Pub {
    id: PubId,
    url: String,
    seeds: Vec<String>,
    mesh: Option<Mesh>,
    /// Bumped on every kill and start: events of an earlier life are dropped.
    inc: u32,
    conns: Vec<u32>,
    /// Mesh-feed entries held, by author index (a prefix of the author's log).
    known: Vec<u32>,
    follows: Vec<bool>,
    /// Data entries held, per feed index.
    data: HashMap<u32, u32>,
    timer_at: Option<Instant>,
}

/// A live set and the holders of every feed (by index) over it.
type Placement = (BTreeSet<PubId>, Vec<Vec<usize>>);

/// A simulated mesh of pubs; see the [module docs](self).
pub struct MeshNet {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// The network's randomness (latencies); tests draw from their own.
    pub rng: Rng,
    /// Virtual time.
    pub now: Instant,
    /// Settings of every pub's mesh.
    pub cfg: Config,
    /// Shortest one-way latency.
    pub latency: Duration,
    /// Added to the latency, uniform in `0..jitter`.
    pub jitter: Duration,
    /// How long a dial to a dead or unreachable pub takes to fail.
    pub dial_timeout: Duration,
    /// Traffic so far.
    pub traffic: MeshTraffic,
    pubs: Vec<Pub>,
    by_id: HashMap<PubId, u32>,
    /// Each pub's id, by index.
    pubs_ids: Vec<PubId>,
    by_url: HashMap<String, u32>,
    /// Every mesh feed's entries, by author index.
    logs: Vec<Vec<Vec<u8>>>,
    /// Data feeds and their entry counts (what clients wrote).
    feeds: Vec<(FeedId, u32)>,
    feed_index: HashMap<FeedId, u32>,
    conns: Vec<Conn>,
    /// Side of each pub while partitioned.
    side: Vec<bool>,
    partitioned: bool,
    queue: BinaryHeap<Reverse<(Instant, u64, Ev)>>,
    order: u64,
    /// The placement of every feed over the last live set asked about (checks repeat it).
    placement: RefCell<Option<Placement>>,
}

fn face_of(conn: u32, end: u8) -> FaceId {
    FaceId(u64::from(conn) * 2 + u64::from(end))
}

fn conn_of(face: FaceId) -> (u32, u8) {
    (u32::try_from(face.0 / 2).unwrap_or(u32::MAX), u8::from(face.0 % 2 == 1))
}

fn ix(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl MeshNet {
    /// An empty network at time zero; every pub runs `cfg`.
    pub fn new(seed: u64, cfg: Config) -> MeshNet {
        MeshNet {
            seed,
            rng: Rng::derive(seed, 0x6d65_7368),
            now: Instant(0),
            cfg,
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(40),
            dial_timeout: Duration::from_secs(3),
            traffic: MeshTraffic::default(),
            pubs: Vec::new(),
            by_id: HashMap::new(),
            pubs_ids: Vec::new(),
            by_url: HashMap::new(),
            logs: Vec::new(),
            feeds: Vec::new(),
            feed_index: HashMap::new(),
            conns: Vec::new(),
            side: Vec::new(),
            partitioned: false,
            queue: BinaryHeap::new(),
            order: 0,
            placement: RefCell::new(None),
        }
    }

    // ---- building ----

    /// Adds pub number `len()`, reachable at `ws://p<i>`, that will dial `seeds` (pub indices)
    /// to join; it is not running until [`MeshNet::start`].
    pub fn add_pub(&mut self, seeds: &[usize]) -> usize {
        let i = self.pubs.len();
        let mut b = [0u8; 32];
        let mut r = Rng::derive(self.seed, 0x7075_6200_0000 + i as u64);
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&r.next_u64().to_le_bytes());
        }
        let id = FeedId(b);
        let url = format!("ws://p{i}");
        self.by_id.insert(id, ix(i));
        self.pubs_ids.push(id);
        self.by_url.insert(url.clone(), ix(i));
        self.pubs.push(Pub {
            id,
            url,
            seeds: seeds.iter().map(|s| format!("ws://p{s}")).collect(),
            mesh: None,
            inc: 0,
            conns: Vec::new(),
            known: Vec::new(),
            follows: Vec::new(),
            data: HashMap::new(),
            timer_at: None,
        });
        self.logs.push(Vec::new());
        self.side.push(false);
        i
    }

    /// Starts pub `i`, or restarts it from what it stored: its mesh replays every mesh-feed entry
    /// the pub held and learns every data feed. Does nothing if it is running.
    pub fn start(&mut self, i: usize) {
        if self.pubs[i].mesh.is_some() {
            return;
        }
        let now = self.now;
        let p = &mut self.pubs[i];
        p.inc += 1;
        p.timer_at = None;
        let mut mesh = Mesh::new(self.cfg.clone(), p.id, Some(p.url.clone()), p.seeds.clone(), now);
        let own = self.logs[i].len();
        if p.known.len() <= i {
            p.known.resize(i + 1, 0);
        }
        p.known[i] = ix(own);
        for (a, n) in p.known.iter().enumerate() {
            let author = self.pubs_ids[a];
            for (s, content) in self.logs[a].iter().take(*n as usize).enumerate() {
                mesh.handle_record(now, author, ix(s + 1), content);
            }
        }
        for (fid, _) in &self.feeds {
            mesh.handle_feed(now, *fid);
        }
        self.pubs[i].mesh = Some(mesh);
        self.set_follow(i, i);
        self.pump(i);
    }

    /// Stops pub `i` at once (its faces close); it keeps what it stored.
    pub fn kill(&mut self, i: usize) {
        if self.pubs[i].mesh.take().is_none() {
            return;
        }
        self.pubs[i].inc += 1;
        self.pubs[i].timer_at = None;
        for c in self.pubs[i].conns.clone() {
            self.close(c);
        }
    }

    /// A client creates a data feed at pub `at` with `entries` entries; every running pub learns
    /// its id.
    pub fn create_feed(&mut self, at: usize, entries: u32) -> FeedId {
        let mut b = [0u8; 32];
        for c in b.chunks_mut(8) {
            c.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let fid = FeedId(b);
        let f = ix(self.feeds.len());
        self.feeds.push((fid, 0));
        self.feed_index.insert(fid, f);
        let now = self.now;
        for i in 0..self.pubs.len() {
            if let Some(m) = self.pubs[i].mesh.as_mut() {
                m.handle_feed(now, fid);
                self.pump(i);
            }
        }
        self.append(at, fid, entries);
        fid
    }

    /// A client appends `n` entries to `fid` at pub `at` (which should be running: a stopped
    /// pub stores them, as if written before it stopped).
    ///
    /// # Panics
    ///
    /// If `fid` was not made by [`MeshNet::create_feed`].
    pub fn append(&mut self, at: usize, fid: FeedId, n: u32) {
        let f = self.feed_index[&fid];
        let total = &mut self.feeds[f as usize].1;
        *total += n;
        let total = *total;
        self.pubs[at].data.insert(f, total);
        let now = self.now;
        if let Some(m) = self.pubs[at].mesh.as_mut() {
            m.handle_stored(now, fid);
        }
        self.pump(at);
        self.data_grew(at);
    }

    /// Splits the network: pubs in `side` on one side, the others on the other. Faces across
    /// close; dials across fail.
    pub fn partition(&mut self, side: &[usize]) {
        self.side.iter_mut().for_each(|s| *s = false);
        for i in side {
            self.side[*i] = true;
        }
        self.partitioned = true;
        for c in 0..self.conns.len() {
            let [a, b] = self.conns[c].ends;
            if self.conns[c].open && self.cut(a as usize, b as usize) {
                self.close(ix(c));
            }
        }
    }

    /// Ends the partition.
    pub fn heal(&mut self) {
        self.partitioned = false;
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        self.partitioned && self.side[a] != self.side[b]
    }

    // ---- running ----

    /// Runs every event up to `t`, then sets the clock to `t`.
    pub fn run_until(&mut self, t: Instant) {
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > t {
                break;
            }
            let Some(Reverse((at, _, ev))) = self.queue.pop() else { break };
            self.now = self.now.max(at);
            self.dispatch(ev);
        }
        self.now = self.now.max(t);
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Runs in steps of `step` until `done` holds (checked after each step) or `limit` passed;
    /// returns the time it took, or `None` on the limit.
    pub fn run_until_true(
        &mut self,
        limit: Duration,
        step: Duration,
        mut done: impl FnMut(&MeshNet) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        let end = start + limit;
        loop {
            if done(self) {
                return Some(self.now.saturating_since(start));
            }
            if self.now >= end {
                return None;
            }
            self.run_until((self.now + step).min(end));
        }
    }

    fn push(&mut self, at: Instant, ev: Ev) {
        self.order += 1;
        self.queue.push(Reverse((at, self.order, ev)));
    }

    fn delay(&mut self) -> Duration {
        Duration(self.latency.0 + self.rng.below(self.jitter.0.max(1)))
    }

    fn dispatch(&mut self, ev: Ev) {
        let now = self.now;
        match ev {
            Ev::Timer { p, inc } => {
                let i = p as usize;
                if self.pubs[i].inc != inc || self.pubs[i].timer_at != Some(now) {
                    return;
                }
                self.pubs[i].timer_at = None;
                if let Some(m) = self.pubs[i].mesh.as_mut() {
                    m.handle_timeout(now);
                }
                self.pump_woken(i, true);
            }
            Ev::Dialed { p, inc, to } => {
                let (i, t) = (p as usize, to as usize);
                if self.pubs[i].inc != inc || self.pubs[i].mesh.is_none() {
                    return;
                }
                if self.pubs[t].mesh.is_none() || self.cut(i, t) {
                    let at = now + self.dial_timeout;
                    self.push(at, Ev::DialFailed { p, inc, to });
                    return;
                }
                let c = ix(self.conns.len());
                self.conns.push(Conn { ends: [p, to], open: true, dirs: [Dir::default(), Dir::default()] });
                self.pubs[i].conns.push(c);
                self.pubs[t].conns.push(c);
                self.traffic.faces_opened += 1;
                let url = self.pubs[t].url.clone();
                if let Some(m) = self.pubs[i].mesh.as_mut() {
                    m.handle_dialed(now, face_of(c, 0), &url);
                }
                for d in 0..2u8 {
                    self.conns[c as usize].dirs[d as usize].all_authors = true;
                    self.queue_flush(c, d);
                }
                self.pump(i);
            }
            Ev::DialFailed { p, inc, to } => {
                let i = p as usize;
                if self.pubs[i].inc != inc {
                    return;
                }
                self.traffic.dial_failures += 1;
                let url = self.pubs[to as usize].url.clone();
                if let Some(m) = self.pubs[i].mesh.as_mut() {
                    m.handle_dial_failed(now, &url);
                }
                self.pump(i);
            }
            Ev::Flush { conn, to } => self.flush(conn, to),
            Ev::Data { conn, end } => self.data_check(conn, end),
        }
    }

    /// Carries out what pub `i`'s mesh asked for, until it asks for nothing more.
    fn pump(&mut self, i: usize) {
        self.pump_woken(i, false);
    }

    /// [`MeshNet::pump`]; `woken` if the mesh was just given its timeout.
    fn pump_woken(&mut self, i: usize, woken: bool) {
        let now = self.now;
        loop {
            let Some(m) = self.pubs[i].mesh.as_mut() else { return };
            let transmits: Vec<(FaceId, Vec<u8>)> = std::iter::from_fn(|| m.poll_transmit()).collect();
            let action = m.poll_action();
            let idle = transmits.is_empty() && action.is_none();
            for (face, bytes) in transmits {
                let (c, end) = conn_of(face);
                if let Some(conn) = self.conns.get_mut(c as usize) {
                    if conn.open && conn.ends[end as usize] as usize == i {
                        conn.dirs[1 - end as usize].packets.push(bytes);
                        self.queue_flush(c, 1 - end);
                    }
                }
            }
            if let Some(a) = action {
                self.act(i, a);
            }
            if idle {
                break;
            }
        }
        let Some(m) = self.pubs[i].mesh.as_ref() else { return };
        let mut t = m.poll_timeout().max(now);
        if woken && t <= now {
            // The mesh wants to be woken again at once: a driver would spin. Wait a little.
            self.traffic.spins += 1;
            t = now + Duration(1);
        }
        if self.pubs[i].timer_at.is_none_or(|at| t < at) {
            self.pubs[i].timer_at = Some(t);
            let inc = self.pubs[i].inc;
            self.push(t, Ev::Timer { p: ix(i), inc });
        }
    }

    fn act(&mut self, i: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Dial { url } => {
                self.traffic.dials += 1;
                let inc = self.pubs[i].inc;
                let Some(t) = self.by_url.get(&url).copied() else { return };
                let d = Duration(self.delay().0 + self.delay().0);
                self.push(now + d, Ev::Dialed { p: ix(i), inc, to: t });
            }
            Action::HangUp(face) => {
                let (c, end) = conn_of(face);
                if self.conns.get(c as usize).is_some_and(|k| k.open && k.ends[end as usize] as usize == i) {
                    self.close(c);
                }
            }
            Action::Publish(rec) => {
                let Some(content) = rec.encode() else { return };
                self.traffic.records_written += 1;
                match rec {
                    tinyssb::mesh::record::Record::Announce { .. } => self.traffic.announces += 1,
                    tinyssb::mesh::record::Record::Down { .. } => self.traffic.downs += 1,
                }
                self.logs[i].push(content.clone());
                let seq = ix(self.logs[i].len());
                let p = &mut self.pubs[i];
                if p.known.len() <= i {
                    p.known.resize(i + 1, 0);
                }
                p.known[i] = seq;
                let id = p.id;
                if let Some(m) = p.mesh.as_mut() {
                    m.handle_record(now, id, seq, &content);
                }
                self.mesh_grew(i, ix(i), None);
            }
            Action::Follow(pid) => {
                if let Some(a) = self.by_id.get(&pid).copied() {
                    self.set_follow(i, a as usize);
                }
            }
            Action::PubLink { face, .. } => {
                let (c, end) = conn_of(face);
                if let Some(conn) = self.conns.get_mut(c as usize) {
                    if conn.open {
                        conn.dirs[end as usize].pub_link = true;
                        self.queue_data(c, end);
                    }
                }
            }
            Action::Hold { .. } => {
                for c in self.pubs[i].conns.clone() {
                    let end = u8::from(self.conns[c as usize].ends[1] as usize == i);
                    self.queue_data(c, end);
                }
            }
        }
    }

    fn set_follow(&mut self, i: usize, a: usize) {
        let p = &mut self.pubs[i];
        if p.follows.len() <= a {
            p.follows.resize(a + 1, false);
        }
        if p.follows[a] {
            return;
        }
        p.follows[a] = true;
        // Ask every open face for the author's entries.
        for c in self.pubs[i].conns.clone() {
            let end = u8::from(self.conns[c as usize].ends[1] as usize == i);
            self.conns[c as usize].dirs[end as usize].authors.push(ix(a));
            self.queue_flush(c, end);
        }
    }

    /// Pub `i` has new entries of author `a`'s mesh feed: they flow on over its faces.
    fn mesh_grew(&mut self, i: usize, a: u32, except: Option<u32>) {
        for c in self.pubs[i].conns.clone() {
            if Some(c) == except {
                continue;
            }
            let end = u8::from(self.conns[c as usize].ends[1] as usize == i);
            self.conns[c as usize].dirs[1 - end as usize].authors.push(a);
            self.queue_flush(c, 1 - end);
        }
    }

    /// Pub `i` has more data entries: the other ends of its faces look again.
    fn data_grew(&mut self, i: usize) {
        for c in self.pubs[i].conns.clone() {
            let end = u8::from(self.conns[c as usize].ends[1] as usize == i);
            self.queue_data(c, 1 - end);
        }
    }

    fn queue_flush(&mut self, c: u32, to: u8) {
        let dir = &mut self.conns[c as usize].dirs[to as usize];
        if dir.flush_queued {
            return;
        }
        dir.flush_queued = true;
        let at = self.now + self.delay();
        self.push(at, Ev::Flush { conn: c, to });
    }

    fn queue_data(&mut self, c: u32, end: u8) {
        let dir = &mut self.conns[c as usize].dirs[end as usize];
        if dir.data_queued || !dir.pub_link {
            return;
        }
        dir.data_queued = true;
        let at = self.now + self.delay();
        self.push(at, Ev::Data { conn: c, end });
    }

    fn close(&mut self, c: u32) {
        let conn = &mut self.conns[c as usize];
        if !conn.open {
            return;
        }
        conn.open = false;
        conn.dirs = [Dir::default(), Dir::default()];
        let now = self.now;
        for end in 0..2u8 {
            let i = self.conns[c as usize].ends[end as usize] as usize;
            self.pubs[i].conns.retain(|k| *k != c);
            if let Some(m) = self.pubs[i].mesh.as_mut() {
                m.handle_face_down(now, face_of(c, end));
                self.pump(i);
            }
        }
    }

    fn flush(&mut self, c: u32, to: u8) {
        let now = self.now;
        let conn = &mut self.conns[c as usize];
        if !conn.open {
            return;
        }
        let dir = &mut conn.dirs[to as usize];
        dir.flush_queued = false;
        let packets = std::mem::take(&mut dir.packets);
        let mut authors = std::mem::take(&mut dir.authors);
        let all = std::mem::take(&mut dir.all_authors);
        let r = conn.ends[to as usize] as usize;
        let s = conn.ends[1 - to as usize] as usize;
        let face = face_of(c, to);
        if all {
            authors = (0..ix(self.pubs[s].known.len())).collect();
        } else {
            authors.sort_unstable();
            authors.dedup();
        }
        for a in authors {
            let au = a as usize;
            if !self.pubs[r].follows.get(au).copied().unwrap_or(false) {
                continue;
            }
            let upto = self.pubs[s].known.get(au).copied().unwrap_or(0);
            let have = self.pubs[r].known.get(au).copied().unwrap_or(0);
            if upto <= have {
                continue;
            }
            self.traffic.record_bytes += u64::from(upto - have) * ENTRY_BYTES;
            let rp = &mut self.pubs[r];
            if rp.known.len() <= au {
                rp.known.resize(au + 1, 0);
            }
            rp.known[au] = upto;
            let author = self.pubs[au].id;
            if let Some(m) = self.pubs[r].mesh.as_mut() {
                for seq in have + 1..=upto {
                    m.handle_record(now, author, seq, &self.logs[au][seq as usize - 1]);
                }
            }
            self.mesh_grew(r, a, Some(c));
        }
        // The mesh queues what it answers, so one pump after the batch does for all.
        for bytes in packets {
            self.traffic.packets += 1;
            self.traffic.packet_bytes += bytes.len() as u64;
            if let Some(m) = self.pubs[r].mesh.as_mut() {
                m.handle_packet(now, face, &bytes);
            }
        }
        self.pump(r);
    }

    fn data_check(&mut self, c: u32, end: u8) {
        let now = self.now;
        let conn = &mut self.conns[c as usize];
        if !conn.open {
            return;
        }
        conn.dirs[end as usize].data_queued = false;
        let r = conn.ends[end as usize] as usize;
        let s = conn.ends[1 - end as usize] as usize;
        let Some(m) = self.pubs[r].mesh.as_ref() else { return };
        let mut copied = Vec::new();
        for (f, n) in &self.pubs[s].data {
            let have = self.pubs[r].data.get(f).copied().unwrap_or(0);
            if *n > have && m.holds(&self.feeds[*f as usize].0) {
                copied.push((*f, *n, have));
            }
        }
        copied.sort_unstable();
        let face = face_of(c, end);
        if copied.is_empty() {
            let dir = &mut self.conns[c as usize].dirs[end as usize];
            if !dir.in_sync {
                dir.in_sync = true;
                if let Some(m) = self.pubs[r].mesh.as_mut() {
                    m.handle_in_sync(now, face);
                }
                self.pump(r);
            }
            return;
        }
        self.conns[c as usize].dirs[end as usize].in_sync = false;
        for (f, n, have) in copied {
            self.traffic.data_bytes += u64::from(n - have) * ENTRY_BYTES;
            self.pubs[r].data.insert(f, n);
            let fid = self.feeds[f as usize].0;
            if let Some(m) = self.pubs[r].mesh.as_mut() {
                m.handle_stored(now, fid);
            }
        }
        self.pump(r);
        self.data_grew(r);
        if self.conns[c as usize].open {
            // Look again: nothing more means in sync.
            self.queue_data(c, end);
        }
    }

    // ---- looking ----

    /// Pubs added so far (running or not).
    pub fn len(&self) -> usize {
        self.pubs.len()
    }

    /// True if no pub was added.
    pub fn is_empty(&self) -> bool {
        self.pubs.is_empty()
    }

    /// True if pub `i` is running.
    pub fn is_alive(&self, i: usize) -> bool {
        self.pubs[i].mesh.is_some()
    }

    /// The running pubs.
    pub fn alive(&self) -> Vec<usize> {
        (0..self.pubs.len()).filter(|i| self.is_alive(*i)).collect()
    }

    /// Pub `i`'s id.
    pub fn pub_id(&self, i: usize) -> PubId {
        self.pubs[i].id
    }

    /// Pub `i`'s URL.
    pub fn url(&self, i: usize) -> &str {
        &self.pubs[i].url
    }

    /// Pub `i`'s mesh, if it is running.
    pub fn mesh(&self, i: usize) -> Option<&Mesh> {
        self.pubs[i].mesh.as_ref()
    }

    /// The data feeds and how many entries clients wrote to each.
    pub fn feeds(&self) -> &[(FeedId, u32)] {
        &self.feeds
    }

    /// Entries of `fid` pub `i` stores.
    pub fn stored(&self, i: usize, fid: &FeedId) -> u32 {
        self.feed_index.get(fid).and_then(|f| self.pubs[i].data.get(f)).copied().unwrap_or(0)
    }

    /// Open faces that pub `i` dialled.
    pub fn dialled(&self, i: usize) -> usize {
        self.pubs[i]
            .conns
            .iter()
            .filter(|c| self.conns[**c as usize].ends[0] as usize == i && self.conns[**c as usize].open)
            .count()
    }

    /// Open faces that pub `i` dialled, with the pub at the other end.
    pub fn dialled_faces(&self, i: usize) -> Vec<(FaceId, usize)> {
        self.pubs[i]
            .conns
            .iter()
            .map(|c| &self.conns[*c as usize])
            .zip(self.pubs[i].conns.iter())
            .filter(|(k, _)| k.open && k.ends[0] as usize == i)
            .map(|(k, c)| (face_of(*c, 0), k.ends[1] as usize))
            .collect()
    }

    /// The ids of the running pubs among `group`.
    pub fn live_ids(&self, group: &[usize]) -> BTreeSet<PubId> {
        group.iter().filter(|i| self.is_alive(**i)).map(|i| self.pubs[*i].id).collect()
    }

    /// The running pubs in `group` whose view of the live pubs is not exactly the running pubs
    /// of `group`.
    pub fn membership_wrong(&self, group: &[usize]) -> Vec<usize> {
        let truth = self.live_ids(group);
        group
            .iter()
            .copied()
            .filter(|i| {
                self.mesh(*i)
                    .is_some_and(|m| m.live().count() != truth.len() || !truth.iter().all(|p| m.is_live(p)))
            })
            .collect()
    }

    /// Running pubs in `group` missing a link they want.
    pub fn links_missing(&self, group: &[usize]) -> Vec<usize> {
        group
            .iter()
            .copied()
            .filter(|i| {
                self.mesh(*i).is_some_and(|m| {
                    let linked: BTreeSet<PubId> = m.linked().map(|(_, p)| p).collect();
                    m.desired_links().iter().any(|p| !linked.contains(p))
                })
            })
            .collect()
    }

    /// The holders of `fid` among the running pubs of `group` (by rendezvous weight).
    pub fn true_holders(&self, fid: &FeedId, live: &BTreeSet<PubId>) -> Vec<usize> {
        hrw::top(fid, live, self.cfg.replicas).iter().map(|p| self.by_id[p] as usize).collect()
    }

    /// The holders of every feed (by index) among `live`.
    fn placement(&self, live: &BTreeSet<PubId>) -> std::cell::Ref<'_, [Vec<usize>]> {
        let fresh =
            self.placement.borrow().as_ref().is_some_and(|(l, h)| l == live && h.len() == self.feeds.len());
        if !fresh {
            let holders = self.feeds.iter().map(|(fid, _)| self.true_holders(fid, live)).collect();
            *self.placement.borrow_mut() = Some((live.clone(), holders));
        }
        std::cell::Ref::map(self.placement.borrow(), |p| p.as_ref().map_or(&[][..], |(_, h)| &h[..]))
    }

    /// `(pub, feed)` pairs in `group` where the pub's [`Mesh::holds`] disagrees with the
    /// rendezvous placement over the running pubs of `group`.
    pub fn placement_wrong(&self, group: &[usize]) -> Vec<(usize, FeedId)> {
        let live = self.live_ids(group);
        let placement = self.placement(&live);
        let mut wrong = Vec::new();
        for ((fid, _), holders) in self.feeds.iter().zip(placement.iter()) {
            for i in group {
                if let Some(m) = self.mesh(*i) {
                    if m.holds(fid) != holders.contains(i) {
                        wrong.push((*i, *fid));
                    }
                }
            }
        }
        wrong
    }

    /// `(pub, feed)` pairs where a running pub's holders of a feed are not the rendezvous top
    /// over the pubs it sees live (its own view out of step with itself).
    pub fn holders_inconsistent(&self) -> Vec<(usize, FeedId)> {
        let mut out = Vec::new();
        for (i, p) in self.pubs.iter().enumerate() {
            let Some(m) = p.mesh.as_ref() else { continue };
            for (fid, _) in &self.feeds {
                if m.holders(fid) != hrw::top(fid, m.live(), self.cfg.replicas) {
                    out.push((i, *fid));
                }
            }
        }
        out
    }

    /// Feeds whose placement holders among the running pubs of `group` do not all store every
    /// entry (only feeds some running pub of `group` stores in full: the rest cannot be
    /// restored).
    pub fn under_replicated(&self, group: &[usize]) -> Vec<FeedId> {
        self.under_replicated_from(group, false)
    }

    /// [`MeshNet::under_replicated`], counting only feeds that a running pub of `group` holds
    /// ([`Mesh::holds`]) and stores in full. A full copy only at a pub that does not hold the
    /// feed (the pub a client wrote it to, say) is offered to the holders once, when it is
    /// written: a side of a partition left with only such a copy does not restore the feed.
    pub fn under_replicated_held(&self, group: &[usize]) -> Vec<FeedId> {
        self.under_replicated_from(group, true)
    }

    fn under_replicated_from(&self, group: &[usize], held: bool) -> Vec<FeedId> {
        let live = self.live_ids(group);
        // Full copies per feed in the group first: ranking every feed is dearer.
        let mut copies = vec![0usize; self.feeds.len()];
        let mut source = vec![false; self.feeds.len()];
        for i in group.iter().filter(|i| self.is_alive(**i)) {
            let Some(m) = self.pubs[*i].mesh.as_ref() else { continue };
            for (f, n) in &self.pubs[*i].data {
                let (fid, total) = self.feeds[*f as usize];
                if *n == total {
                    copies[*f as usize] += 1;
                    source[*f as usize] |= !held || m.holds(&fid);
                }
            }
        }
        let want = self.cfg.replicas.min(live.len());
        let placement = self.placement(&live);
        let mut out = Vec::new();
        for (f, (fid, total)) in self.feeds.iter().enumerate() {
            if !source[f] {
                continue;
            }
            if copies[f] < want {
                out.push(*fid);
                continue;
            }
            let holders = &placement[f];
            let f = ix(f);
            let full = |i: &usize| self.is_alive(*i) && self.pubs[*i].data.get(&f) == Some(total);
            if !holders.iter().all(full) {
                out.push(*fid);
            }
        }
        out
    }

    /// The fewest running pubs that store every entry of one feed, over all feeds.
    pub fn min_full_copies(&self) -> usize {
        let mut count = vec![0usize; self.feeds.len()];
        for p in self.pubs.iter().filter(|p| p.mesh.is_some()) {
            for (f, n) in &p.data {
                if *n == self.feeds[*f as usize].1 {
                    count[*f as usize] += 1;
                }
            }
        }
        count.into_iter().min().unwrap_or(usize::MAX)
    }

    /// Feeds no running pub stores in full.
    pub fn lost_feeds(&self) -> usize {
        let mut full = vec![false; self.feeds.len()];
        for p in self.pubs.iter().filter(|p| p.mesh.is_some()) {
            for (f, n) in &p.data {
                if *n == self.feeds[*f as usize].1 {
                    full[*f as usize] = true;
                }
            }
        }
        full.into_iter().filter(|f| !f).count()
    }
}
