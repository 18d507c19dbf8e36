//! The replication engine: a pure state machine that does everything a tinySSB
//! pub does except I/O.
//!
//! # Call order
//!
//! Methods come in four kinds: getters (`&self`), inputs (`handle_*`),
//! commands (`follow`, `publish`, `drop_feed`, `expire_feeds`) and outputs (`poll_*`). After any input or
//! command, a driver drains the outputs in this order, then sleeps until the
//! deadline or the next packet, whichever comes first:
//!
//! 1. [`Node::poll_transmit`] until `None`: packets to send, each to one face;
//! 2. [`Node::poll_event`] until `None`: what happened (feeds, entries, drops);
//! 3. [`Node::poll_timeout`]: when to call [`Node::handle_timeout`] next.
//!
//! With [`Config::external_verify`], also drain [`Node::poll_verify`] (before or after the
//! events) and hand each job's verdict back with [`Node::handle_verified`] whenever it is ready,
//! then drain the outputs again.
//!
//! `poll_*` methods only hand out what the inputs produced; they never touch the store.
//!
//! Feed a burst of packets (everything one read returned) before calling
//! [`Node::handle_timeout`]: incoming entries are accepted by their DMX, and their signatures
//! are verified as a batch when the batch is full or when the timers run (the batch makes
//! [`Node::poll_timeout`] due at once). Only then do they reach the store and emit events.
//!
//! # External verification
//!
//! Signature checks are most of a receiving node's work. With [`Config::external_verify`] the
//! node does not check a full or due batch itself: it hands it out as a [`VerifyJob`] (owned
//! messages, signatures and keys) through [`Node::poll_verify`], and the driver runs
//! [`VerifyJob::verify`] (or its own equivalent) on any thread and returns the [`Verdict`] with
//! [`Node::handle_verified`]. Meanwhile the batch's entries stay tentative: their feeds' next
//! entries and their sidechain chunks are still accepted. Jobs are committed in the order they
//! were issued, whatever order their verdicts arrive in, with exactly the rules of the in-line
//! check, so the store ends up the same. While jobs are out, a partial batch waits to fill up
//! (or for the last verdict) instead of making [`Node::poll_timeout`] due. At most
//! [`Config::max_verify_jobs`] jobs are out at once; past that bound the node checks further
//! batches itself (the caller slows down, which pushes back on peers) and queues them behind the
//! jobs out, and with four times that many queued it settles everything itself, as
//! [`Node::into_store`], [`Node::follow`] and a GOset change that may evict a feed do. [`Node::store_mut`] waits for nothing in this mode: entries in jobs
//! are not in the store until their verdict is back. A verdict for a job the node already
//! settled itself is ignored.
//!
//! # Backpressure
//!
//! Output is bounded per face and in total ([`Config::max_queued_per_face`],
//! [`Config::max_queued_total`]). A packet counts against both from the moment the node queues
//! it until the driver reports it written with [`Node::handle_flushed`] (or lost with
//! [`Node::handle_send_dropped`]). Replies to requests are produced only while there is room, so
//! a driver must report what it wrote, or the face stalls once its budget is spent.
//!
//! ```
//! use tinyssb::node::{Config, FaceId, FaceKind, Node};
//! use tinyssb::store::mem::MemStore;
//! use tinyssb::time::Instant;
//!
//! let mut node = Node::new(Config::default(), MemStore::default(), Instant(0));
//! let face = FaceId(1);
//! node.handle_face_up(Instant(0), face, FaceKind::Reliable);
//! let mut now = Instant(0);
//! for _ in 0..3 {
//!     // A real driver would read packets here and call node.handle_packet(now, face, &bytes).
//!     while let Some(tx) = node.poll_transmit() {
//!         let _ = (tx.face, tx.packet.as_slice()); // socket.send(...)
//!         node.handle_flushed(now, tx.face, tx.packet.len()); // once the OS took the bytes
//!     }
//!     while let Some(_event) = node.poll_event() {}
//!     match node.poll_timeout() {
//!         Some(deadline) => now = deadline.max(now), // sleep until then
//!         None => break,
//!     }
//!     node.handle_timeout(now);
//! }
//! ```

mod admission;
mod audit;
mod batch;
mod face;
mod gossip;
mod ingest;
mod output;
mod pacer;
mod placement;
mod requests;
mod retire;
mod serve;
mod timers;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::crypto::{Keypair, PublicKey};
use crate::goset::GoSet;
use crate::ids::{Dmx, FeedId, HashPtr, MsgId, Seq};
use crate::stats::{DropReason, Stats};
use crate::store::{Frontier, Store, StoreError};
use crate::time::{Duration, Instant};
use crate::wire::packet::Packet;
use crate::wire::request::{chnk_dmx, want_dmx};

pub use admission::{Admission, DEFAULT_MAX_SIDECHAIN_BYTES};
pub use batch::{Verdict, VerifyItem, VerifyJob};
use face::Face;
pub use pacer::PacerConfig;
pub use placement::SKIP_SEQ;
use timers::Timer;

/// Identifies a face: one link to one peer (a websocket connection) or one broadcast medium
/// (a UDP multicast group, a LoRa radio). Chosen by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaceId(pub u64);

/// How a face behaves, which decides how much is sent per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaceKind {
    /// Lossy, slow or shared (LoRa, UDP multicast): a few packets per request, as the reference does.
    Broadcast,
    /// Reliable point-to-point (websocket, TCP): large pipelined replies.
    Reliable,
}

/// What a node does with feeds, as in the reference pub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Ingest only: request and store, never serve.
    In,
    /// Serve only: answer requests, never ingest.
    Out,
    /// Both.
    InOut,
}

impl Role {
    /// True if this role requests and stores entries.
    pub fn ingests(self) -> bool {
        matches!(self, Role::In | Role::InOut)
    }

    /// True if this role answers WANT and CHNK requests.
    pub fn serves(self) -> bool {
        matches!(self, Role::Out | Role::InOut)
    }
}

/// Default cap of the node's whole GOset (see [`Config::goset_cap`]). Adding an id costs time
/// linear in the set's size, which bounds what a flood of fake ids can cost.
pub const DEFAULT_GOSET_CAP: usize = 16_384;

/// Engine settings. `Default` gives values compatible with deployed peers.
#[derive(Clone, Debug)]
pub struct Config {
    /// What the node does.
    pub role: Role,
    /// Largest number of feed ids in the node's whole GOset. Peers of our kind exchange it in
    /// the wide format; deployed peers see a classic set of at most `peer_set_cap` ids instead
    /// (see [`crate::goset::peer`]).
    pub goset_cap: usize,
    /// Largest classic set kept towards one deployed peer (they stop at 100; at most 255).
    pub peer_set_cap: usize,
    /// Greet reliable faces in the wide GOset format and keep a classic set per deployed peer
    /// (on by default). Off, the node behaves like a deployed peer: one classic set of at most
    /// `goset_cap` (≤ 255) ids on every face, and wide packets are dropped unread.
    pub wide_goset: bool,
    /// Period of the GOset round (the reference uses 15 s).
    pub goset_interval: Duration,
    /// Request timing on reliable faces.
    pub reliable_pacer: PacerConfig,
    /// Request timing on broadcast faces.
    pub broadcast_pacer: PacerConfig,
    /// Packets sent in answer to one request on a reliable face.
    pub reliable_budget: usize,
    /// Packets sent in answer to one request on a broadcast face (the reference sends 3).
    pub broadcast_budget: usize,
    /// How long a reliable face's peer must repeat a request for something already sent
    /// (without asking for anything newer) before it is sent again.
    pub resend_window: Duration,
    /// Bytes of output one face may hold at once: queued in the node or held by the driver.
    pub max_queued_per_face: usize,
    /// Bytes of output all faces together may hold at once.
    pub max_queued_total: usize,
    /// Which feed ids are admitted, how long unconfirmed ids live, and per-feed size limits.
    pub admission: Admission,
    /// Hand batches of signatures out through [`Node::poll_verify`] instead of checking them
    /// in-line (see the module docs). Default false.
    pub external_verify: bool,
    /// With `external_verify`, the most jobs out at once (each at most 64 entries; the chunks held
    /// for their entries are bounded by 1024 per job). Past it the node checks further batches
    /// itself, and settles everything itself with four times as many batches waiting. Default 16.
    pub max_verify_jobs: usize,
    /// If set, a confirmed feed with no new entry for this long is dropped (see
    /// [`Node::expire_feeds`]), checked every `expire_after` but at most once an hour.
    /// Default: never.
    pub expire_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            role: Role::InOut,
            goset_cap: DEFAULT_GOSET_CAP,
            peer_set_cap: crate::goset::DEFAULT_CAP,
            wide_goset: true,
            goset_interval: crate::goset::ROUND,
            reliable_pacer: PacerConfig {
                initial: Duration::from_secs(4),
                floor: Duration::from_millis(250),
                cap: Duration::from_secs(30),
                live_cap: Duration::from_secs(3),
                live_for: Duration::from_secs(600),
                follow_up: Duration::ZERO,
            },
            broadcast_pacer: PacerConfig {
                initial: Duration::from_secs(4),
                floor: Duration::from_secs(1),
                cap: Duration::from_secs(60),
                live_cap: Duration::from_secs(60),
                live_for: Duration::ZERO,
                follow_up: Duration::from_millis(250),
            },
            reliable_budget: 256,
            broadcast_budget: 3,
            resend_window: Duration::from_secs(5),
            max_queued_per_face: 256 * 1024,
            max_queued_total: 64 * 1024 * 1024,
            admission: Admission::default(),
            external_verify: false,
            max_verify_jobs: 16,
            expire_after: None,
        }
    }
}

/// A packet to send on one face.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The face to send on.
    pub face: FaceId,
    /// The packet.
    pub packet: Packet,
}

/// Something that happened inside the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A feed was added to the store: its first valid entry arrived, or it was followed or
    /// published to. (Ids merely learned through the GOset are not reported.)
    FeedAdded(FeedId),
    /// An unconfirmed feed id left the GOset (it expired, or was evicted to make room).
    FeedForgotten(FeedId),
    /// A feed id entered the GOset from a peer (before any of its entries arrived).
    FeedLearned(FeedId),
    /// With placement on, a peer that is not a pub link asked for a feed this node does not
    /// hold and has nothing of. Reported once per feed until it is held.
    Asked {
        /// Who asked.
        face: FaceId,
        /// The feed.
        fid: FeedId,
    },
    /// A feed was dropped ([`Node::drop_feed`], or expired by [`Config::expire_after`]): it left
    /// the GOset and the store, and has a tombstone, so it is refused from now on.
    FeedDropped {
        /// The feed.
        fid: FeedId,
        /// Where the store kept the feed's data, if it kept it.
        kept: Option<std::path::PathBuf>,
        /// How long the feed had been without a new entry, if it expired.
        idle: Option<Duration>,
    },
    /// A feed id or a verified entry was refused by the admission rules (access lists, limits);
    /// nothing of it was stored. Also counted under `reason`.
    Refused {
        /// Where it came from.
        face: FaceId,
        /// The feed.
        fid: FeedId,
        /// Which rule refused it.
        reason: DropReason,
    },
    /// An entry was verified and stored.
    EntryStored {
        /// The feed.
        fid: FeedId,
        /// The entry's seq.
        seq: Seq,
    },
    /// The last chunk of an entry's sidechain was stored.
    ChainComplete {
        /// The feed.
        fid: FeedId,
        /// The chain20 entry's seq.
        seq: Seq,
    },
    /// A request to this face brought nothing new: the peer has nothing more for us right now.
    PeerInSync(FaceId),
    /// An incoming packet was dropped.
    Dropped {
        /// Where it came from.
        face: FaceId,
        /// Why.
        reason: DropReason,
    },
    /// The store failed; the engine goes on, but what failed was not stored.
    StoreFailed(String),
    /// A stored entry failed its audit before it was served (a damaged disk): it and every
    /// entry after it were taken out of the feed, and will be fetched again from peers.
    Quarantined {
        /// The feed.
        fid: FeedId,
        /// The first entry taken out.
        from: Seq,
        /// Where the store kept the removed bytes, if it kept them.
        kept: Option<std::path::PathBuf>,
    },
}

/// Why [`Node::publish`] failed.
#[derive(Debug)]
pub enum PublishError {
    /// The feed cannot be followed (the GOset is full).
    GosetFull,
    /// The feed id is denied, or not on the allow list.
    Refused(DropReason),
    /// The content could not be authored (too long, or the feed reached the largest seq).
    Author(crate::feed::AuthorError),
    /// The store failed.
    Store(StoreError),
}

impl core::fmt::Display for PublishError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PublishError::GosetFull => f.write_str("the GOset is full"),
            PublishError::Refused(r) => write!(f, "feed refused: {}", r.name()),
            PublishError::Author(e) => write!(f, "authoring: {e}"),
            PublishError::Store(e) => write!(f, "store: {e}"),
        }
    }
}

impl std::error::Error for PublishError {}

/// Per-feed replication state: what the next entry must look like.
#[derive(Clone, Debug)]
struct FeedState {
    key: Option<PublicKey>,
    next_seq: Seq,
    prev: MsgId,
    /// Stored entries up to this seq passed the audit (see [`audit`]) and may be served.
    audited: Seq,
    /// Msg id of entry `audited` (the genesis prev for 0).
    audited_prev: MsgId,
}

/// A chunk the engine waits for: where it goes, and how many follow it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChunkSlot {
    fid: FeedId,
    seq: Seq,
    nr: u32,
    remaining: u32,
}

/// The tinySSB replication engine over a [`Store`].
pub struct Node<S: Store> {
    cfg: Config,
    store: S,
    goset: GoSet,
    feeds: HashMap<FeedId, FeedState>,
    expected_entries: HashMap<Dmx, FeedId>,
    expected_chunks: HashMap<HashPtr, Vec<ChunkSlot>>,
    want_dmx: Dmx,
    chnk_dmx: Dmx,
    faces: BTreeMap<FaceId, Face>,
    timers: timers::Timers,
    batch: batch::Batch,
    /// Faces with queued output, in the order they are polled.
    ring: VecDeque<FaceId>,
    /// Bytes of output held by all faces (see [`output`]).
    out_total: usize,
    /// Faces holding a request for the next entry of a feed (see [`serve`]).
    waiters: HashMap<FeedId, Vec<FaceId>>,
    /// The latest time an input carried.
    clock: Instant,
    /// Per feed, an entry the admission rules refused: its seq, why, and its bytes (admission.rs).
    refused: HashMap<FeedId, (Seq, DropReason, crate::wire::entry::Entry)>,
    /// Feeds dropped from the store: refused like denied ids (see [`retire`]).
    tombstones: BTreeSet<FeedId>,
    /// Per tracked feed, since when it has had no new entry: an instant, plus an idle time the
    /// driver reported as of that instant (see [`retire`]).
    idle: HashMap<FeedId, (Instant, Duration)>,
    /// When [`Config::expire_after`] is checked next.
    expire_due: Option<Instant>,
    /// With placement on ([`Node::use_placement`]), the feeds this node asks pub links for.
    held: Option<HashSet<FeedId>>,
    /// Feeds not held that a client asked for, reported once each (until held).
    asked: HashSet<FeedId>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl<S: Store> Node<S> {
    /// A node over `store`, following every feed the store holds (up to the GOset cap).
    pub fn new(cfg: Config, store: S, now: Instant) -> Node<S> {
        let goset = GoSet::new(crate::goset::Config {
            cap: cfg.goset_cap,
            unconfirmed_ttl: cfg.admission.unconfirmed_ttl,
            quarantine: cfg.admission.quarantine,
            ..crate::goset::Config::default()
        });
        let state = goset.state();
        let mut node = Node {
            goset,
            store,
            feeds: HashMap::new(),
            expected_entries: HashMap::new(),
            expected_chunks: HashMap::new(),
            want_dmx: want_dmx(&state),
            chnk_dmx: chnk_dmx(&state),
            faces: BTreeMap::new(),
            timers: timers::Timers::default(),
            batch: batch::Batch::default(),
            ring: VecDeque::new(),
            out_total: 0,
            waiters: HashMap::new(),
            clock: now,
            refused: HashMap::new(),
            tombstones: BTreeSet::new(),
            idle: HashMap::new(),
            expire_due: cfg.expire_after.map(|_| now),
            held: None,
            asked: HashSet::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            cfg,
        };
        node.tombstones = node.store.tombstones().into_iter().collect();
        node.load_goset(now);
        node.refresh_request_dmx();
        node.timers.set(Timer::GosetRound, Some(now));
        node
    }

    /// Stops the node and hands back its store (with every entry received so far verified; with
    /// external verification the jobs still out are verified here and their verdicts not needed).
    pub fn into_store(mut self) -> S {
        self.settle();
        self.store
    }

    // ---- getters ----

    /// The store. Entries received since the last `poll_*` or `handle_timeout` call may still
    /// await their signature check and are not in it yet.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (for example to `sync` it). Entries awaiting their check are verified
    /// and stored first, except with external verification: then it waits for nothing, and
    /// entries out for verification are not in it yet.
    pub fn store_mut(&mut self) -> &mut S {
        if !self.cfg.external_verify {
            self.settle();
        }
        &mut self.store
    }

    /// The node's whole GOset of feed ids.
    pub fn goset(&self) -> &GoSet {
        &self.goset
    }

    /// The GOset `face`'s requests are addressed in: the whole set on a wide face, the classic
    /// set agreed with the peer otherwise (see [`crate::goset::peer`]); `None` for no such face.
    pub fn face_goset(&self, face: FaceId) -> Option<&GoSet> {
        Some(self.faces.get(&face)?.peer_set().map_or(&self.goset, |p| p.set()))
    }

    /// True if `face`'s peer speaks the wide GOset format; `None` for no such face.
    pub fn face_is_wide(&self, face: FaceId) -> Option<bool> {
        Some(self.faces.get(&face)?.peer_set().is_none())
    }

    /// The feed ids in `face`'s GOset (empty for no such face): a WANT or CHNK feed index
    /// received on the face names one of them.
    fn face_keys(&self, face: FaceId) -> &[FeedId] {
        self.face_goset(face).map_or(&[], GoSet::keys)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Bytes of output held for all faces together: queued in the node or handed to the driver
    /// and not yet reported written or dropped (bounded by [`Config::max_queued_total`]).
    pub fn queued_bytes(&self) -> usize {
        self.out_total
    }

    /// The faces that are up.
    pub fn faces(&self) -> impl Iterator<Item = FaceId> + '_ {
        self.faces.keys().copied()
    }

    /// The DMX of WANT requests over the whole GOset (used on wide faces; changes with the set).
    pub fn want_dmx(&self) -> Dmx {
        self.want_dmx
    }

    /// The DMX of CHNK requests over the whole GOset (used on wide faces; changes with the set).
    pub fn chnk_dmx(&self) -> Dmx {
        self.chnk_dmx
    }

    /// The DMX `face`'s WANT requests use; `None` for no such face.
    pub fn want_dmx_on(&self, face: FaceId) -> Option<Dmx> {
        Some(self.faces.get(&face)?.want_dmx)
    }

    /// The DMX `face`'s CHNK requests use; `None` for no such face.
    pub fn chnk_dmx_on(&self, face: FaceId) -> Option<Dmx> {
        Some(self.faces.get(&face)?.chnk_dmx)
    }

    // ---- inputs ----

    /// A face came up: greet it with a GOset claim and request from it at once.
    pub fn handle_face_up(&mut self, now: Instant, face: FaceId, kind: FaceKind) {
        let pacer = match kind {
            FaceKind::Reliable => self.cfg.reliable_pacer,
            FaceKind::Broadcast => self.cfg.broadcast_pacer,
        };
        let face_state = self.new_face(kind, pacer, now);
        if let Some(at) = face_state.listen_until {
            self.timers.advance(Timer::GosetRound, at);
        }
        self.faces.insert(face, face_state);
        self.rearm(face);
        self.greet(face);
    }

    /// A face went down; everything about it, and its queued output, is forgotten.
    pub fn handle_face_down(&mut self, _now: Instant, face: FaceId) {
        self.discard_output(face);
        self.timers.set(Timer::Requests(face), None);
        if let Some(f) = self.faces.remove(&face) {
            for fid in f.held.keys() {
                if let Some(waiting) = self.waiters.get_mut(fid) {
                    waiting.retain(|w| *w != face);
                    if waiting.is_empty() {
                        self.waiters.remove(fid);
                    }
                }
            }
        }
    }

    /// The driver wrote `bytes` of `face`'s output (packets it took from
    /// [`Node::poll_transmit`]): that room is free again, and replies still owed to the face are
    /// produced into it.
    pub fn handle_flushed(&mut self, now: Instant, face: FaceId, bytes: usize) {
        self.release(now, face, bytes);
    }

    /// The driver dropped `bytes` of `face`'s output instead of writing them. The room is free
    /// again, the loss is counted, and the face forgets what it was sent, so that the peer's next
    /// request is answered in full.
    pub fn handle_send_dropped(&mut self, now: Instant, face: FaceId, bytes: usize) {
        self.stats.send_dropped += 1;
        if let Some(f) = self.faces.get_mut(&face) {
            f.forget_sent();
        }
        self.release(now, face, bytes);
    }

    /// A packet arrived on `face`. Bad packets are counted and dropped, never returned as errors.
    pub fn handle_packet(&mut self, now: Instant, face: FaceId, bytes: &[u8]) {
        self.clock = self.clock.max(now);
        self.stats.packets_in += 1;
        if bytes.len() > crate::wire::MAX_PACKET {
            return self.drop_packet(face, DropReason::BadLength);
        }
        let Some(dmx) = bytes.get(..7).and_then(|d| Dmx::from_slice(d).ok()) else {
            return self.drop_packet(face, DropReason::BadLength);
        };
        let body = bytes.get(7..).unwrap_or(&[]);
        self.note_packet(now, face);
        let requests = self.faces.get(&face).map(|f| (f.want_dmx, f.chnk_dmx));
        if dmx == crate::wire::goset::goset_dmx() {
            self.handle_goset(now, face, crate::wire::goset::Format::Classic, body);
        } else if dmx == crate::wire::goset::wide_dmx() {
            self.handle_goset(now, face, crate::wire::goset::Format::Wide, body);
        } else if requests.is_some_and(|(want, _)| want == dmx) {
            self.serve_want(now, face, body);
        } else if requests.is_some_and(|(_, chnk)| chnk == dmx) {
            self.serve_chnk(now, face, body);
        } else if let Some(fid) = self.expected_entries.get(&dmx).copied() {
            self.ingest_entry(now, face, fid, bytes);
        } else if bytes.len() == crate::wire::chunk::CHUNK_LEN {
            self.ingest_chunk_packet(now, face, bytes);
        } else {
            self.drop_packet(face, DropReason::Unknown);
        }
    }

    /// Time passed: run the timers that are due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        if self.next_expiry().is_some_and(|t| t <= now) {
            // An id about to expire may have its first entry out for verification.
            self.settle();
        }
        self.close_due_batch();
        self.expire_unconfirmed(now);
        self.expire_idle(now);
        for timer in self.timers.due(now) {
            match timer {
                Timer::Settle => {}
                Timer::GosetRound => {
                    self.goset_round(now);
                    self.timers.set(Timer::GosetRound, Some(now + self.cfg.goset_interval));
                    // A face still listening ends its listening phase at a round of its time.
                    if let Some(at) = self.faces.values().filter_map(|f| f.listen_until).min() {
                        self.timers.advance(Timer::GosetRound, at);
                    }
                }
                Timer::Requests(face) => {
                    self.send_requests(now, face);
                    self.rearm(face);
                }
            }
        }
    }

    /// The verdict on the job `job` handed out by [`Node::poll_verify`]. Its entries are stored
    /// (or rejected) as soon as every job issued before it is settled too; ids the node no longer
    /// waits for are ignored.
    pub fn handle_verified(&mut self, now: Instant, job: u64, verdict: Verdict) {
        self.clock = self.clock.max(now);
        self.take_verdict(job, verdict);
    }

    // ---- commands ----

    /// Follows a feed: adds it to the store and the GOset as a confirmed feed (evicting the oldest
    /// unconfirmed id if the set is full). `Ok(false)` if already followed.
    pub fn follow(&mut self, now: Instant, fid: FeedId) -> Result<bool, PublishError> {
        self.clock = self.clock.max(now);
        self.settle();
        if let Some(reason) = self.id_refusal(&fid) {
            return Err(PublishError::Refused(reason));
        }
        if self.goset.is_confirmed(&fid) && self.feeds.contains_key(&fid) {
            return Ok(false);
        }
        let evicted = self.goset.add_confirmed(fid).map_err(|()| PublishError::GosetFull)?;
        if let Some(old) = evicted {
            self.untrack_feed(&old);
        }
        self.store.add_feed(fid).map_err(PublishError::Store)?;
        if !self.feeds.contains_key(&fid) {
            self.track_feed(fid);
        }
        self.events.push_back(Event::FeedAdded(fid));
        self.on_goset_changed(now);
        self.offer_to_peers(now, &[fid]);
        Ok(true)
    }

    /// Adds `fid` to the GOset as an unconfirmed id, as if a peer had named it: it is asked for,
    /// and expires unless an entry arrives within the unconfirmed-id lifetime. Unlike
    /// [`Node::follow`] nothing is created in the store. False if the id is refused, already
    /// in the set, or the set is full of confirmed ids.
    pub fn learn(&mut self, now: Instant, fid: FeedId) -> bool {
        self.clock = self.clock.max(now);
        if self.id_refusal(&fid).is_some() || self.goset.contains(&fid) {
            return false;
        }
        if !self.goset.add_unconfirmed(fid, now) {
            return false;
        }
        if !self.feeds.contains_key(&fid) {
            self.track_feed(fid);
        }
        self.on_goset_changed(now);
        true
    }

    /// Appends `content` to the feed of `key`, following the feed first if needed: plain48
    /// (zero-padded) for up to 48 bytes, chain20 beyond. Returns the new entry's seq.
    pub fn publish(&mut self, now: Instant, key: &Keypair, content: &[u8]) -> Result<Seq, PublishError> {
        if content.len() <= crate::wire::entry::PAYLOAD_LEN {
            self.append_own(now, key, |k, at| crate::feed::author_plain48(k, at, content))
        } else {
            self.append_own(now, key, |k, at| crate::feed::author_chain20(k, at, content))
        }
    }

    /// Appends `content` as a chain20 entry whatever its length (its exact length is recorded,
    /// which plain48 does not do).
    pub fn publish_chain20(
        &mut self,
        now: Instant,
        key: &Keypair,
        content: &[u8],
    ) -> Result<Seq, PublishError> {
        self.append_own(now, key, |k, at| crate::feed::author_chain20(k, at, content))
    }

    fn append_own(
        &mut self,
        now: Instant,
        key: &Keypair,
        author: impl FnOnce(&Keypair, &Frontier) -> Result<crate::feed::Authored, crate::feed::AuthorError>,
    ) -> Result<Seq, PublishError> {
        let fid = key.feed_id();
        self.clock = self.clock.max(now);
        self.follow(now, fid)?;
        let state = self.feeds.get(&fid).cloned().ok_or(PublishError::GosetFull)?;
        let seq = state.next_seq;
        let at = Frontier { seq: Seq(seq.0.saturating_sub(1)), prev: state.prev };
        let authored = author(key, &at).map_err(PublishError::Author)?;
        self.store.append_entry(&fid, &authored.entry, authored.msg_id).map_err(PublishError::Store)?;
        for (nr, chunk) in (0u32..).zip(authored.chunks.iter()) {
            self.store.write_chunk(&fid, seq, nr, chunk).map_err(PublishError::Store)?;
        }
        self.advance_feed(fid, authored.msg_id);
        self.note_verified(fid, seq, authored.msg_id);
        self.events.push_back(Event::EntryStored { fid, seq });
        self.wake_waiters(fid, seq);
        Ok(seq)
    }

    // ---- outputs ----

    /// The next packet to send, if any: faces with output take turns, one packet each.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.next_transmit()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next batch of signatures to check, with [`Config::external_verify`] (never otherwise).
    #[must_use]
    pub fn poll_verify(&mut self) -> Option<VerifyJob> {
        self.batch.next_job()
    }

    /// Jobs handed out (or ready to be) whose verdicts the node still waits for.
    pub fn verify_jobs_outstanding(&self) -> usize {
        self.batch.outstanding()
    }

    /// When [`Node::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // The GOset's unconfirmed-id expiry and the quiet-feed check keep their own deadlines.
        [self.timers.next(), self.next_expiry(), self.expire_due].into_iter().flatten().min()
    }

    // ---- internals shared by the submodules ----

    fn drop_packet(&mut self, face: FaceId, reason: DropReason) {
        self.stats.count_drop(reason);
        self.events.push_back(Event::Dropped { face, reason });
    }

    /// Starts tracking a feed already in the store and the GOset: arms its next entry and pending chunks.
    fn track_feed(&mut self, fid: FeedId) {
        let frontier = self.store.frontier(&fid);
        let (seq, prev) = match frontier {
            Some(f) => (f.seq, f.prev),
            None => (Seq(0), fid.genesis_prev()),
        };
        let Some(next_seq) = seq.next() else { return };
        let state = FeedState {
            key: PublicKey::from_feed_id(&fid),
            next_seq,
            prev,
            audited: Seq(0),
            audited_prev: fid.genesis_prev(),
        };
        self.expected_entries.insert(crate::wire::entry::entry_dmx(&fid, next_seq, &prev), fid);
        self.feeds.insert(fid, state);
        self.idle.entry(fid).or_insert((self.clock, Duration::ZERO));
        for p in self.store.pending_chains(&fid) {
            self.expect_chunk(
                p.next_hash,
                ChunkSlot { fid, seq: p.seq, nr: p.next_chunk, remaining: p.remaining },
            );
        }
    }

    /// Moves a feed's expectation past an entry just stored with id `msg_id`.
    fn advance_feed(&mut self, fid: FeedId, msg_id: MsgId) {
        let Some(state) = self.feeds.get_mut(&fid) else { return };
        self.idle.insert(fid, (self.clock, Duration::ZERO));
        let old = crate::wire::entry::entry_dmx(&fid, state.next_seq, &state.prev);
        self.expected_entries.remove(&old);
        state.prev = msg_id;
        match state.next_seq.next() {
            Some(next) => {
                state.next_seq = next;
                let dmx = crate::wire::entry::entry_dmx(&fid, next, &msg_id);
                self.expected_entries.insert(dmx, fid);
            }
            None => state.next_seq = Seq(u32::MAX),
        }
    }

    /// Entry `seq` of `fid`, just stored, was verified on its way in: it needs no audit if
    /// everything before it passed one.
    fn note_verified(&mut self, fid: FeedId, seq: Seq, msg_id: MsgId) {
        if let Some(state) = self.feeds.get_mut(&fid) {
            if state.audited.next() == Some(seq) {
                state.audited = seq;
                state.audited_prev = msg_id;
            }
        }
    }

    fn expect_chunk(&mut self, hash: HashPtr, slot: ChunkSlot) {
        let slots = self.expected_chunks.entry(hash).or_default();
        if !slots.contains(&slot) {
            slots.push(slot);
        }
    }

    fn refresh_request_dmx(&mut self) {
        let state = self.goset.state();
        self.want_dmx = want_dmx(&state);
        self.chnk_dmx = chnk_dmx(&state);
    }

    /// The whole set changed: wide faces get new request DMX values and ask again soon.
    fn on_goset_changed(&mut self, now: Instant) {
        self.refresh_request_dmx();
        let state = self.goset.state();
        let faces: Vec<FaceId> = self.faces.keys().copied().collect();
        for face in faces {
            let Some(f) = self.faces.get_mut(&face) else { continue };
            if f.peer_set().is_some() {
                continue;
            }
            f.set_state(&state);
            f.on_goset_changed(now);
            self.rearm(face);
        }
    }

    /// Puts `face`'s next request into the timer table (none for a node that does not ingest,
    /// or a face that is gone).
    fn rearm(&mut self, face: FaceId) {
        let at = self.faces.get(&face).filter(|_| self.cfg.role.ingests()).map(Face::deadline);
        self.timers.set(Timer::Requests(face), at);
    }

    fn store_failed(&mut self, face: FaceId, e: StoreError) {
        self.stats.count_drop(DropReason::Store);
        self.events.push_back(Event::Dropped { face, reason: DropReason::Store });
        self.events.push_back(Event::StoreFailed(e.to_string()));
    }
}
