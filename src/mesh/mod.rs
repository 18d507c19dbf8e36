//! A self-organising mesh of pubs: membership, links and feed placement, as a sans-IO state
//! machine beside the replication engine ([`crate::node`]).
//!
//! # Model
//!
//! - **Pubs.** A pub's id is the id of its *mesh feed*, an ordinary feed in which it writes
//!   [`record::Record`]s: an *announce* (its URL) when it starts, and a *down* record naming a
//!   pub it could not reach. A pub is *live* while its latest announce is newer than every down
//!   record naming it. A pub that finds itself named answers with a new announce.
//! - **Discovery.** Pubs greet each other on every mesh link with a hello packet
//!   ([`packet::MeshPacket`]) and pass on the ids of the pubs they know. Every pub replicates every
//!   mesh feed, so announces and down records reach every pub over the ordinary replication.
//! - **Links.** Each pub keeps links to the [`Config::links`] live pubs of highest rendezvous
//!   weight for its own id ([`hrw`]). When a link drops, the pub dials its peer again at once;
//!   after [`Config::probe_attempts`] failed dials it writes a down record, and the next pub in
//!   its ranking takes the place. Links to pubs that dialled us are the dialler's to keep.
//!   Every [`Config::recheck_interval`] a pub also dials one pub it believes down (so that the
//!   sides of a healed partition meet again) and probes one live pub it has no link with (so
//!   that a pub that died unwatched is found).
//! - **Placement.** Each feed is held by the [`Config::replicas`] live pubs of highest
//!   rendezvous weight for the feed id. A pub asks its links only for the feeds it holds
//!   ([`Action::Hold`]); when it starts holding a feed, or stores a new entry of one, it opens
//!   short *sessions* to the feed's other holders it has no link with, so the copies meet.
//!   Sessions end when both sides report they are in sync. Every [`Config::repair_interval`]
//!   all co-holders are visited again. A feed a client asks for is held for
//!   [`Config::cache_ttl`] too, and fetched from its holders.
//!
//! # Driving it
//!
//! Inputs are `handle_*` calls with the current time; outputs are [`Mesh::poll_action`],
//! [`Mesh::poll_transmit`] (mesh packets for one face) and [`Mesh::poll_timeout`]. Before the first
//! [`Mesh::handle_timeout`], replay every stored entry of the pub's known mesh feeds with
//! [`Mesh::handle_record`] (in any order), so a restarted pub knows the mesh as it left it.
//! Every entry the pub itself appends on an [`Action::Publish`] must be handed back the same way.

pub mod hrw;
pub mod packet;
pub mod record;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::ids::FeedId;
use crate::node::FaceId;
use crate::time::{Duration, Instant};
use packet::{MeshPacket, IDS_PER_PACKET};
use record::{Record, RecordError};

/// A pub's id: the id of its mesh feed.
pub type PubId = FeedId;

/// How often the mesh looks at its links, sessions and dials when nothing else is due.
pub const TICK: Duration = Duration::from_millis(1000);

/// Mesh settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Links a pub dials and keeps (to the pubs of highest weight for its id).
    pub links: usize,
    /// Pubs that hold each feed.
    pub replicas: usize,
    /// Time between two dials of the same pub.
    pub retry: Duration,
    /// Failed dials in a row after which a live pub is declared down.
    pub probe_attempts: u32,
    /// Longest wait between two dials of a seed URL.
    pub max_backoff: Duration,
    /// Delay before a new entry sends the pub to a feed's other holders (bursts go together).
    pub push_delay: Duration,
    /// A session stays open at least this long.
    pub linger: Duration,
    /// A session is closed after this long whatever its state.
    pub session_limit: Duration,
    /// Sessions open at once.
    pub max_sessions: usize,
    /// Every co-holder is visited this often, to repair what a lost session missed.
    pub repair_interval: Duration,
    /// A feed a client asked for is held this long after the last ask.
    pub cache_ttl: Duration,
    /// Most pubs the mesh keeps track of (ids beyond are ignored and counted).
    pub max_pubs: usize,
    /// A pub that has not announced this long after it was learned is forgotten (made-up ids
    /// leave the table; a real pub is learned again when its announce arrives).
    pub unannounced_ttl: Duration,
    /// Least time between two announces of this pub.
    pub refute_gap: Duration,
    /// How long a pub waits for the announce of a pub it learned of before it places feeds
    /// without it.
    pub settle: Duration,
    /// Every this often the pub dials one pub it believes down (in turn), in case it is back
    /// or was only cut off: after a partition heals, that dial is what lets the two sides'
    /// records (and refutations) meet again.
    pub recheck_interval: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            links: 6,
            replicas: 3,
            retry: Duration::from_millis(1000),
            probe_attempts: 3,
            max_backoff: Duration::from_secs(30),
            push_delay: Duration::from_millis(500),
            linger: Duration::from_secs(3),
            session_limit: Duration::from_secs(60),
            max_sessions: 4,
            repair_interval: Duration::from_secs(600),
            cache_ttl: Duration::from_secs(3600),
            max_pubs: 4096,
            refute_gap: Duration::from_secs(5),
            unannounced_ttl: Duration::from_secs(600),
            settle: Duration::from_secs(10),
            recheck_interval: Duration::from_secs(60),
        }
    }
}

/// What the mesh asks its driver to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a link to `url`; report [`Mesh::handle_dialed`] or [`Mesh::handle_dial_failed`].
    Dial {
        /// The URL to dial.
        url: String,
    },
    /// Close a link this pub dialled (a finished session, a probe, a link no longer wanted).
    HangUp(FaceId),
    /// Append this record to the pub's own mesh feed, then hand the entry back to
    /// [`Mesh::handle_record`].
    Publish(Record),
    /// Replicate this pub's mesh feed (every pub holds every mesh feed). The id is not vouched
    /// for yet: the driver should let it expire unless the feed's entries arrive.
    Follow(PubId),
    /// This face links two pubs: the engine asks it only for held feeds.
    PubLink {
        /// The face.
        face: FaceId,
        /// The pub at its other end (all zeros for a pub that is not a member).
        pub_id: PubId,
    },
    /// Start or stop holding a data feed: asking the pub's links for its entries.
    Hold {
        /// The feed.
        fid: FeedId,
        /// Whether it is held now.
        held: bool,
    },
}

/// Counters of the mesh's own work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeshStats {
    /// Mesh records read.
    pub records: u64,
    /// Mesh packets received.
    pub packets_in: u64,
    /// Bytes of mesh packets received.
    pub bytes_in: u64,
    /// Mesh packets queued.
    pub packets_out: u64,
    /// Bytes of mesh packets queued.
    pub bytes_out: u64,
    /// Dials asked for.
    pub dials: u64,
    /// Dials that failed.
    pub dial_failures: u64,
    /// Announces this pub wrote.
    pub announces: u64,
    /// Down records this pub wrote.
    pub downs: u64,
    /// Sessions opened.
    pub sessions: u64,
    /// Pub ids ignored because the table was full ([`Config::max_pubs`]).
    pub pubs_refused: u64,
    /// Pubs forgotten because they never announced ([`Config::unannounced_ttl`]).
    pub pubs_expired: u64,
}

#[derive(Clone, Debug, Default)]
struct PubInfo {
    url: Option<String>,
    announced: u32,
    down: u32,
    /// Down records this pub wrote about it (each needs twice the failed dials of the last).
    downs_by_me: u32,
    /// When this pub first heard of it.
    learned: Instant,
}

impl PubInfo {
    fn live(&self) -> bool {
        self.url.is_some() && self.announced > self.down
    }
}

#[derive(Clone, Debug)]
struct Link {
    pub_id: Option<PubId>,
    /// The URL this pub dialled for the link; `None` for links the peer dialled, and for ours
    /// once we hung them up.
    url: Option<String>,
    /// This pub dialled the link.
    dialed: bool,
    up: Instant,
    greeted: bool,
    session: bool,
    in_sync: bool,
    peer_in_sync: bool,
    /// This pub hung it up: its going down is no news.
    hung_up: bool,
}

#[derive(Clone, Debug, Default)]
struct Dialing {
    failures: u32,
    next_try: Instant,
    in_flight: bool,
}

/// The mesh state machine of one pub.
pub struct Mesh {
    cfg: Config,
    me: PubId,
    url: Option<String>,
    seeds: Vec<String>,
    pubs: HashMap<PubId, PubInfo>,
    live: BTreeSet<PubId>,
    url_pub: HashMap<String, PubId>,
    links: BTreeMap<FaceId, Link>,
    dialing: HashMap<String, Dialing>,
    probes: BTreeSet<PubId>,
    feeds: HashMap<FeedId, Vec<PubId>>,
    held: HashSet<FeedId>,
    /// Data feeds this pub stored entries of (held or not).
    stored: HashSet<FeedId>,
    cached: HashMap<FeedId, Instant>,
    dirty: BTreeMap<PubId, Instant>,
    sessions: BTreeSet<PubId>,
    next_tick: Instant,
    next_repair: Instant,
    /// Every pub known has announced (or was waited for long enough): see [`Config::settle`].
    settled: bool,
    next_recheck: Instant,
    /// The last pub believed down that was dialled again ([`Config::recheck_interval`]).
    recheck_after: PubId,
    /// The last live pub without a link that was probed ([`Config::recheck_interval`]).
    audit_after: PubId,
    last_announce: Option<Instant>,
    actions: VecDeque<Action>,
    transmits: VecDeque<(FaceId, Vec<u8>)>,
    stats: MeshStats,
}

impl Mesh {
    /// The mesh of the pub `me`. With `url` it is a member reachable there; without, it only
    /// links to the mesh (and holds every feed). `seeds` are dialled until a first link is up.
    pub fn new(cfg: Config, me: PubId, url: Option<String>, seeds: Vec<String>, now: Instant) -> Mesh {
        Mesh {
            next_repair: now + cfg.repair_interval,
            next_recheck: now + cfg.recheck_interval,
            recheck_after: FeedId([0; 32]),
            audit_after: me,
            cfg,
            me,
            url,
            seeds,
            pubs: HashMap::new(),
            live: BTreeSet::new(),
            url_pub: HashMap::new(),
            links: BTreeMap::new(),
            dialing: HashMap::new(),
            probes: BTreeSet::new(),
            feeds: HashMap::new(),
            held: HashSet::new(),
            stored: HashSet::new(),
            cached: HashMap::new(),
            dirty: BTreeMap::new(),
            sessions: BTreeSet::new(),
            next_tick: now,
            settled: true,
            last_announce: None,
            actions: VecDeque::new(),
            transmits: VecDeque::new(),
            stats: MeshStats::default(),
        }
    }

    // ---- getters ----

    /// This pub's id.
    pub fn pub_id(&self) -> PubId {
        self.me
    }

    /// The URL this pub announces, if it is a member.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &MeshStats {
        &self.stats
    }

    /// True if `fid` is a pub's mesh feed.
    pub fn is_pub(&self, fid: &FeedId) -> bool {
        self.pubs.contains_key(fid) || *fid == self.me
    }

    /// The live pubs, this one included once its announce is in.
    pub fn live(&self) -> impl Iterator<Item = &PubId> + '_ {
        self.live.iter()
    }

    /// True if `p` is live.
    pub fn is_live(&self, p: &PubId) -> bool {
        self.live.contains(p)
    }

    /// Where `p` said it can be dialled.
    pub fn url_of(&self, p: &PubId) -> Option<&str> {
        self.pubs.get(p).and_then(|i| i.url.as_deref())
    }

    /// True if this pub holds `fid`: it is one of the feed's holders, a client asked for it,
    /// the pub does not announce itself (then it holds everything), or it is a mesh feed.
    pub fn holds(&self, fid: &FeedId) -> bool {
        self.is_pub(fid) || self.held.contains(fid) || self.url.is_none()
    }

    /// The live pubs that hold `fid`, best first (computed if the feed is not known yet).
    pub fn holders(&self, fid: &FeedId) -> Vec<PubId> {
        match self.feeds.get(fid) {
            Some(h) => h.clone(),
            None => hrw::top(fid, &self.live, self.cfg.replicas),
        }
    }

    /// The pubs this pub wants links to.
    pub fn desired_links(&self) -> Vec<PubId> {
        let others = self.live.iter().filter(|p| **p != self.me);
        hrw::top(&self.me, others, self.cfg.links)
    }

    /// Pubs at the other end of this pub's mesh links (greeted ones), with the faces.
    pub fn linked(&self) -> impl Iterator<Item = (FaceId, PubId)> + '_ {
        self.links.iter().filter_map(|(f, l)| l.pub_id.map(|p| (*f, p)))
    }

    /// The pub at the other end of `face`, once it greeted us.
    pub fn pub_on(&self, face: FaceId) -> Option<PubId> {
        self.links.get(&face).and_then(|l| l.pub_id)
    }

    /// Data feeds known to the mesh.
    pub fn feed_count(&self) -> usize {
        self.feeds.len()
    }

    /// Data feeds this pub holds.
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Pubs known (live or not), this one included once it announced.
    pub fn known_count(&self) -> usize {
        self.pubs.len()
    }

    // ---- outputs ----

    /// The next thing for the driver to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next mesh packet to send, and on which face.
    pub fn poll_transmit(&mut self) -> Option<(FaceId, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// When to call [`Mesh::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Instant {
        let dirty = self.dirty.values().min().copied().unwrap_or(self.next_tick);
        self.next_tick.min(dirty)
    }

    // ---- inputs: records and feeds ----

    /// An entry of a feed, by `author` at `seq`; false if its content is not a mesh record.
    pub fn handle_record(&mut self, now: Instant, author: PubId, seq: u32, content: &[u8]) -> bool {
        let rec = match Record::decode(content) {
            Ok(r) => r,
            Err(RecordError::NotMesh | RecordError::Malformed) => return false,
        };
        self.stats.records += 1;
        if !self.learn_pub(now, author) {
            return true;
        }
        match rec {
            Record::Announce { url } => {
                let Some(info) = self.pubs.get_mut(&author) else { return true };
                if seq > info.announced {
                    info.announced = seq;
                    if let Some(old) = info.url.replace(url.clone()) {
                        if old != url {
                            self.url_pub.remove(&old);
                        }
                    }
                    self.url_pub.insert(url.clone(), author);
                    // A pub that announced again gets a fresh start: earlier failed dials no
                    // longer count.
                    if let Some(d) = self.dialing.get_mut(&url) {
                        d.failures = 0;
                    }
                }
                self.refresh_live(now, author);
                self.check_settled(now);
            }
            Record::Down { pub_id, seq: named } => {
                if !self.learn_pub(now, pub_id) {
                    return true;
                }
                if let Some(info) = self.pubs.get_mut(&pub_id) {
                    info.down = info.down.max(named);
                }
                self.refresh_live(now, pub_id);
            }
        }
        true
    }

    /// A data feed is known (learned through the GOset, or stored).
    pub fn handle_feed(&mut self, now: Instant, fid: FeedId) {
        if self.is_pub(&fid) || self.feeds.contains_key(&fid) {
            return;
        }
        let holders = hrw::top(&fid, &self.live, self.cfg.replicas);
        self.feeds.insert(fid, holders);
        self.update_held(now, fid);
    }

    /// A feed left the node's set.
    pub fn handle_forgot(&mut self, fid: &FeedId) {
        self.feeds.remove(fid);
        self.cached.remove(fid);
        self.held.remove(fid);
        self.stored.remove(fid);
    }

    /// A new entry of `fid` was stored: its other holders should get it soon.
    pub fn handle_stored(&mut self, now: Instant, fid: FeedId) {
        if self.is_pub(&fid) {
            return;
        }
        self.handle_feed(now, fid);
        self.stored.insert(fid);
        let at = now + self.cfg.push_delay;
        for p in self.holders(&fid) {
            self.mark(p, at);
        }
    }

    /// A client asked for `fid`, which this pub may not hold: hold it for a while and fetch it.
    pub fn handle_asked(&mut self, now: Instant, fid: FeedId) {
        if self.is_pub(&fid) {
            return;
        }
        self.handle_feed(now, fid);
        let fresh = self.cached.insert(fid, now + self.cfg.cache_ttl).is_none();
        if fresh {
            self.update_held(now, fid);
            for p in self.holders(&fid) {
                self.mark(p, now);
            }
        }
    }

    // ---- inputs: links ----

    /// A dial asked for by [`Action::Dial`] connected as `face`.
    pub fn handle_dialed(&mut self, now: Instant, face: FaceId, url: &str) {
        if let Some(d) = self.dialing.get_mut(url) {
            d.in_flight = false;
            d.failures = 0;
        }
        self.links.insert(
            face,
            Link {
                pub_id: None,
                url: Some(url.to_owned()),
                dialed: true,
                up: now,
                greeted: true,
                session: false,
                in_sync: false,
                peer_in_sync: false,
                hung_up: false,
            },
        );
        self.send(face, &MeshPacket::Hello(self.hello_id()));
    }

    /// A dial to `url` failed (refused, timed out, or the connection broke before it was up).
    pub fn handle_dial_failed(&mut self, now: Instant, url: &str) {
        self.stats.dial_failures += 1;
        let is_seed = self.seeds.iter().any(|s| s == url);
        let d = self.dialing.entry(url.to_owned()).or_default();
        d.in_flight = false;
        d.failures = d.failures.saturating_add(1);
        let shift = d.failures.min(5);
        let backoff = if is_seed && !self.url_pub.contains_key(url) {
            Duration(self.cfg.retry.0.saturating_mul(1 << shift).min(self.cfg.max_backoff.0))
        } else {
            self.cfg.retry
        };
        d.next_try = now + backoff;
        let failures = d.failures;
        let Some(p) = self.url_pub.get(url).copied() else { return };
        let Some(info) = self.pubs.get_mut(&p) else { return };
        let needed = self.cfg.probe_attempts.saturating_mul(1 << info.downs_by_me.min(6));
        if p != self.me && info.live() && failures >= needed {
            info.downs_by_me += 1;
            let seq = info.announced;
            info.down = info.down.max(seq);
            self.stats.downs += 1;
            self.actions.push_back(Action::Publish(Record::Down { pub_id: p, seq }));
            self.probes.remove(&p);
            self.sessions.remove(&p);
            self.dirty.remove(&p);
            self.refresh_live(now, p);
        }
    }

    /// A face went down (any face: those that are not mesh links are ignored).
    pub fn handle_face_down(&mut self, now: Instant, face: FaceId) {
        let Some(link) = self.links.remove(&face) else { return };
        let Some(p) = link.pub_id else { return };
        // A link that broke (not one this pub hung up) is probed if this pub dialled it, or if
        // the peer dialled it because it ranks this pub among its links. A peer's probe or
        // session ends on purpose, and probing it back would make the two dial each other in
        // turn for ever.
        let broke = !link.hung_up && (link.dialed || self.wants_link(&p, &self.me));
        if broke && self.live.contains(&p) && !self.linked_to(&p) {
            self.probes.insert(p);
            self.next_tick = self.next_tick.min(now);
        }
    }

    /// A mesh packet arrived on `face` (any face: a pub that dialled us greets first).
    pub fn handle_packet(&mut self, now: Instant, face: FaceId, bytes: &[u8]) {
        let Some(msg) = MeshPacket::decode(bytes) else { return };
        self.stats.packets_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        match msg {
            MeshPacket::Hello(id) => self.on_hello(now, face, id),
            MeshPacket::Pubs(ids) => {
                if !self.links.get(&face).is_some_and(|l| l.pub_id.is_some() || l.greeted) {
                    return;
                }
                let mut fresh = Vec::new();
                for id in ids {
                    if self.is_pub(&id) || id == FeedId([0; 32]) {
                        continue;
                    }
                    if self.learn_pub(now, id) {
                        fresh.push(id);
                    }
                }
                if !fresh.is_empty() {
                    let faces: Vec<FaceId> = self.links.keys().copied().filter(|f| *f != face).collect();
                    for f in faces {
                        self.send(f, &MeshPacket::Pubs(fresh.clone()));
                    }
                }
            }
            MeshPacket::Synced(_) => {
                if let Some(l) = self.links.get_mut(&face) {
                    l.peer_in_sync = true;
                }
            }
        }
    }

    /// The engine has nothing more to fetch over `face` for now.
    pub fn handle_in_sync(&mut self, _now: Instant, face: FaceId) {
        let Some(l) = self.links.get_mut(&face) else { return };
        l.in_sync = true;
        if l.pub_id.is_some() {
            self.send(face, &MeshPacket::Synced(self.me));
        }
    }

    /// Time passed: dial, probe, open and close sessions, announce.
    pub fn handle_timeout(&mut self, now: Instant) {
        if now < self.poll_timeout() {
            return;
        }
        self.next_tick = now + TICK;
        self.announce_if_needed(now);
        self.forget_unannounced(now);
        self.check_settled(now);
        self.expire_cache(now);
        if now >= self.next_recheck {
            self.next_recheck = now + self.cfg.recheck_interval;
            self.recheck(now);
            self.audit(now);
        }
        if now >= self.next_repair {
            self.next_repair = now + self.cfg.repair_interval;
            let held: Vec<FeedId> = self.held.union(&self.stored).copied().collect();
            for fid in held {
                for p in self.holders(&fid) {
                    self.mark(p, now);
                }
            }
        }
        let desired = self.desired_links();
        for p in &desired {
            if !self.linked_to(p) {
                self.dial_pub(now, *p);
            }
        }
        let probes: Vec<PubId> = self.probes.iter().copied().collect();
        for p in probes {
            if self.linked_to(&p) || !self.live.contains(&p) {
                self.probes.remove(&p);
            } else {
                self.dial_pub(now, p);
            }
        }
        if !self.links.values().any(|l| l.pub_id.is_some()) {
            for url in self.seeds.clone() {
                self.dial(now, &url);
            }
        }
        self.run_sessions(now);
        self.close_finished(now, &desired);
    }

    // ---- internals ----

    fn hello_id(&self) -> PubId {
        if self.url.is_some() {
            self.me
        } else {
            FeedId([0; 32])
        }
    }

    fn send(&mut self, face: FaceId, msg: &MeshPacket) {
        let bytes = msg.encode();
        self.stats.packets_out += 1;
        self.stats.bytes_out += bytes.len() as u64;
        self.transmits.push_back((face, bytes));
    }

    fn linked_to(&self, p: &PubId) -> bool {
        self.links.values().any(|l| l.pub_id.as_ref() == Some(p))
    }

    /// Starts tracking pub `p` (replicating its mesh feed); false if the table is full.
    fn learn_pub(&mut self, now: Instant, p: PubId) -> bool {
        if p == FeedId([0; 32]) {
            return false;
        }
        if self.pubs.contains_key(&p) {
            return true;
        }
        if self.pubs.len() >= self.cfg.max_pubs {
            self.stats.pubs_refused += 1;
            return false;
        }
        self.pubs.insert(p, PubInfo { learned: now, ..PubInfo::default() });
        self.settled = false;
        if self.feeds.remove(&p).is_some() {
            self.held.remove(&p);
        }
        self.actions.push_back(Action::Follow(p));
        self.next_tick = self.next_tick.min(now);
        true
    }

    fn on_hello(&mut self, now: Instant, face: FaceId, id: PubId) {
        let member = id != FeedId([0; 32]);
        let fresh = member && !self.is_pub(&id);
        if member && !self.learn_pub(now, id) {
            return;
        }
        if fresh {
            // A pub met for the first time is passed on, like ids from a pubs packet.
            let faces: Vec<FaceId> = self.links.keys().copied().filter(|f| *f != face).collect();
            for f in faces {
                self.send(f, &MeshPacket::Pubs(vec![id]));
            }
        }
        let link = self.links.entry(face).or_insert(Link {
            pub_id: None,
            url: None,
            dialed: false,
            up: now,
            greeted: false,
            session: false,
            in_sync: false,
            peer_in_sync: false,
            hung_up: false,
        });
        let first = link.pub_id.is_none();
        link.pub_id = Some(id);
        let answer = !link.greeted;
        link.greeted = true;
        let dialed = link.url.is_some();
        if self.sessions.remove(&id) {
            if let Some(l) = self.links.get_mut(&face) {
                l.session = true;
            }
            self.dirty.remove(&id);
            self.stats.sessions += 1;
        }
        if answer {
            self.send(face, &MeshPacket::Hello(self.hello_id()));
        }
        // The whole list of pubs goes to standing links (one of the two ranks the other) and to
        // pubs not known to be live (a joining pub dialling its seed); a session or a probe
        // between pubs that know each other does not need it, and new ids reach every pub
        // anyway, passed on link by link.
        let standing =
            !self.live.contains(&id) || self.wants_link(&self.me, &id) || self.wants_link(&id, &self.me);
        if first {
            self.actions.push_back(Action::PubLink { face, pub_id: id });
        }
        if first && standing {
            let mut known: Vec<PubId> = self.pubs.keys().copied().collect();
            known.push(self.me);
            known.sort();
            if self.url.is_none() {
                known.retain(|p| *p != self.me);
            }
            for chunk in known.chunks(IDS_PER_PACKET) {
                self.send(face, &MeshPacket::Pubs(chunk.to_vec()));
            }
        }
        // Two pubs that want a link with each other and dialled both: the one with the larger id
        // drops its dial. (When only one of them wants the link, the other's dial is a probe or
        // a session, and ends by itself.)
        let twin = self.links.iter().any(|(f, l)| *f != face && l.pub_id == Some(id));
        if member && dialed && twin && self.me > id && self.wants_link(&id, &self.me) {
            if let Some(l) = self.links.get_mut(&face) {
                l.url = None;
                l.hung_up = true;
            }
            self.actions.push_back(Action::HangUp(face));
        }
    }

    /// True if pub `from` ranks `to` among the pubs it links to.
    fn wants_link(&self, from: &PubId, to: &PubId) -> bool {
        let others = self.live.iter().filter(|p| *p != from);
        hrw::top(from, others, self.cfg.links).contains(to)
    }

    /// Probes the next live pub this pub has no link with, in id order after the last one
    /// (starting after its own id, so that pubs spread their probes). A pub that died while no
    /// live pub had a link with it (all its links died with it, or a partition cut them) is
    /// found this way within a few rounds instead of at the next repair visit.
    fn audit(&mut self, now: Instant) {
        let unlinked = |p: &&PubId| **p != self.me && self.live.contains(*p) && !self.linked_to(p);
        let after = self.audit_after;
        let next = self.live.iter().filter(unlinked).find(|p| **p > after);
        let Some(p) = next.or_else(|| self.live.iter().find(unlinked)).copied() else { return };
        self.audit_after = p;
        self.probes.insert(p);
        self.dial_pub(now, p);
    }

    /// Dials the next pub believed down, in id order after the last one.
    fn recheck(&mut self, now: Instant) {
        let down =
            |p: &&PubId| **p != self.me && self.pubs.get(*p).is_some_and(|i| !i.live() && i.url.is_some());
        let after = self.recheck_after;
        let next = self.pubs.keys().filter(down).filter(|p| **p > after).min();
        let Some(p) = next.or_else(|| self.pubs.keys().filter(down).min()).copied() else { return };
        self.recheck_after = p;
        self.dial_pub(now, p);
    }

    fn dial_pub(&mut self, now: Instant, p: PubId) {
        let Some(url) = self.url_of(&p).map(str::to_owned) else { return };
        self.dial(now, &url);
    }

    fn dial(&mut self, now: Instant, url: &str) {
        if self.url.as_deref() == Some(url) {
            return;
        }
        let d = self.dialing.entry(url.to_owned()).or_default();
        if d.in_flight || now < d.next_try {
            return;
        }
        d.in_flight = true;
        d.next_try = now + self.cfg.retry;
        self.stats.dials += 1;
        self.actions.push_back(Action::Dial { url: url.to_owned() });
    }

    fn announce_if_needed(&mut self, now: Instant) {
        let Some(url) = self.url.clone() else { return };
        let current = self.pubs.get(&self.me).is_some_and(|i| i.live() && i.url.as_deref() == Some(&url));
        if current || self.last_announce.is_some_and(|t| now < t + self.cfg.refute_gap) {
            return;
        }
        self.last_announce = Some(now);
        self.stats.announces += 1;
        self.actions.push_back(Action::Publish(Record::Announce { url }));
    }

    /// Re-derives whether `p` is live, and everything that follows from a change.
    fn refresh_live(&mut self, now: Instant, p: PubId) {
        let live = self.pubs.get(&p).is_some_and(PubInfo::live);
        let changed = if live { self.live.insert(p) } else { self.live.remove(&p) };
        if !changed {
            return;
        }
        self.next_tick = self.next_tick.min(now);
        if p == self.me {
            // Becoming a member (or losing membership) changes what this pub holds everywhere.
            let all: Vec<FeedId> = self.feeds.keys().copied().collect();
            for fid in &all {
                let h = hrw::top(fid, &self.live, self.cfg.replicas);
                self.feeds.insert(*fid, h);
            }
            for fid in all {
                self.update_held(now, fid);
            }
            return;
        }
        let r = self.cfg.replicas;
        let mut changed_feeds = Vec::new();
        for (fid, holders) in &mut self.feeds {
            if live {
                let enters =
                    holders.len() < r || holders.last().is_some_and(|last| hrw::outranks(&p, last, fid));
                if enters {
                    let at = holders.partition_point(|h| hrw::outranks(h, &p, fid));
                    holders.insert(at, p);
                    holders.truncate(r);
                    changed_feeds.push(*fid);
                }
            } else if holders.contains(&p) {
                changed_feeds.push(*fid);
            }
        }
        for fid in changed_feeds {
            if !live {
                let h = hrw::top(&fid, &self.live, r);
                self.feeds.insert(fid, h);
            }
            self.update_held(now, fid);
            // A pub that became a holder of a feed this pub holds fetches it from us; one that
            // replaced a lost holder finds us in the list too. Either way it comes to us, but a
            // visit from here makes sure the copies meet even if it cannot dial us. A feed this
            // pub has data of without holding it (what a client brought here) is offered to its
            // new holders the same way: it may be the only copy left.
            let has_data = self.held.contains(&fid) || self.stored.contains(&fid);
            if has_data {
                let at = now + self.cfg.push_delay;
                for h in self.holders(&fid) {
                    if live && h != p {
                        continue;
                    }
                    self.mark(h, at);
                }
            }
        }
    }

    /// Re-derives whether this pub holds `fid`; on a change, tells the driver, and when it
    /// starts holding it, plans visits to the other holders.
    fn update_held(&mut self, now: Instant, fid: FeedId) {
        // A pub that announces holds only its share, even before its announce is in (then it
        // holds nothing yet: the others hold everything until it counts).
        let member = self.url.is_some();
        let holders = self.feeds.get(&fid).cloned().unwrap_or_default();
        let was = self.held.contains(&fid);
        // While pubs it knows of have not announced yet, a pub does not start holding feeds
        // (the holders it sees may not be the final ones: a joining pub would fetch feeds only
        // to drop them a moment later); it keeps what it holds.
        let mine = holders.contains(&self.me) && (self.settled || was);
        let held = !member || self.cached.contains_key(&fid) || mine;
        if held == was {
            return;
        }
        if held {
            self.held.insert(fid);
            if member {
                for p in holders {
                    self.mark(p, now);
                }
            }
        } else {
            self.held.remove(&fid);
        }
        self.actions.push_back(Action::Hold { fid, held });
    }

    /// Forgets the pubs that never announced within [`Config::unannounced_ttl`] of being learned.
    fn forget_unannounced(&mut self, now: Instant) {
        let ttl = self.cfg.unannounced_ttl;
        let me = self.me;
        let before = self.pubs.len();
        self.pubs.retain(|p, i| *p == me || i.announced > 0 || now < i.learned + ttl);
        self.stats.pubs_expired += (before - self.pubs.len()) as u64;
    }

    /// Once every known pub has announced (or had [`Config::settle`] to do so), places the
    /// feeds that waited.
    fn check_settled(&mut self, now: Instant) {
        if self.settled {
            return;
        }
        let settle = self.cfg.settle;
        if !self.pubs.iter().all(|(p, i)| *p == self.me || i.announced > 0 || now >= i.learned + settle) {
            return;
        }
        self.settled = true;
        let all: Vec<FeedId> = self.feeds.keys().copied().collect();
        for fid in all {
            self.update_held(now, fid);
        }
    }

    fn mark(&mut self, p: PubId, at: Instant) {
        if p == self.me || !self.live.contains(&p) {
            return;
        }
        let due = self.dirty.entry(p).or_insert(at);
        *due = (*due).min(at);
    }

    fn expire_cache(&mut self, now: Instant) {
        let gone: Vec<FeedId> = self.cached.iter().filter(|(_, t)| **t <= now).map(|(f, _)| *f).collect();
        for fid in gone {
            self.cached.remove(&fid);
            self.update_held(now, fid);
        }
    }

    /// Visits due co-holders: nothing to do if a link with them is up; otherwise a session.
    fn run_sessions(&mut self, now: Instant) {
        let due: Vec<PubId> = self.dirty.iter().filter(|(_, t)| **t <= now).map(|(p, _)| *p).collect();
        // A visit that cannot happen yet (a dial under way, too many sessions) is looked at
        // again at the next tick, not at once: poll_timeout must not stay in the past.
        let later = now + TICK;
        for t in self.dirty.values_mut() {
            if *t <= now {
                *t = later;
            }
        }
        for p in due {
            if self.linked_to(&p) {
                self.dirty.remove(&p);
                continue;
            }
            if !self.sessions.contains(&p) {
                let open = self.links.values().filter(|l| l.session).count() + self.sessions.len();
                if open >= self.cfg.max_sessions {
                    continue;
                }
                self.sessions.insert(p);
            }
            self.dial_pub(now, p);
        }
        // Sessions whose pub is gone are given up.
        let live = &self.live;
        self.sessions.retain(|p| live.contains(p));
    }

    /// Hangs up links this pub dialled that nothing needs any more.
    fn close_finished(&mut self, now: Instant, desired: &[PubId]) {
        let mut close = Vec::new();
        for (face, l) in &self.links {
            let (Some(p), Some(_)) = (l.pub_id, l.url.as_ref()) else { continue };
            // Links to pubs not known to be live yet (a seed before its announce has arrived)
            // are where the mesh is learned from: they stay for a while.
            if desired.contains(&p) || (!self.live.contains(&p) && now < l.up + self.cfg.session_limit) {
                continue;
            }
            let old = now >= l.up + self.cfg.linger;
            let done = if l.session {
                (old && l.in_sync && l.peer_in_sync) || now >= l.up + self.cfg.session_limit
            } else {
                true
            };
            if done && self.dirty.get(&p).is_none_or(|t| *t > now) {
                close.push(*face);
            }
        }
        for face in close {
            if let Some(l) = self.links.get_mut(&face) {
                // Stays in the table until the driver reports the face down.
                l.url = None;
                l.session = false;
                l.hung_up = true;
            }
            self.actions.push_back(Action::HangUp(face));
        }
    }
}

#[cfg(test)]
mod tests;
