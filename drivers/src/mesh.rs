//! The pub's part in a mesh of pubs ([`tinyssb::mesh`]): the mesh key, replaying the mesh
//! feeds at start, and carrying the mesh's actions out on the engine. Opening and closing
//! links is left to the pub loop, which owns the transports ([`LinkOp`]).

use std::io;
use std::path::{Path, PathBuf};

use tinyssb::crypto::Keypair;
use tinyssb::mesh::record::Record;
use tinyssb::mesh::{Action, Config, Mesh, PubId};
use tinyssb::node::{Event, FaceId, Node};
use tinyssb::store::fs::FsStore;
use tinyssb::store::Store;
use tinyssb::time::Instant;
use tinyssb::{FeedId, Seq};

/// The file in the data directory that holds the key of the pub's mesh feed.
pub const KEY_FILE: &str = ".mesh_key";

/// How the pub takes part in a mesh.
#[derive(Clone, Debug)]
pub struct MeshOptions {
    /// URLs of pubs to dial until the first mesh link is up.
    pub join: Vec<String>,
    /// The URL other pubs dial to reach this one; without it the pub links to the mesh but is
    /// not a member (it holds every feed and no feed is placed on it).
    pub announce: Option<String>,
    /// Links, replicas and timing.
    pub config: Config,
}

/// What the pub loop does for the mesh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkOp {
    /// Dial this URL once; report [`MeshGlue::on_dialed`] or [`MeshGlue::on_dial_failed`].
    Dial(String),
    /// Close this face (one the pub dialled for the mesh).
    HangUp(FaceId),
}

/// The mesh state machine with the pub's mesh key.
pub struct MeshGlue {
    mesh: Mesh,
    key: Keypair,
    /// The number of live pubs last logged.
    live_logged: usize,
    /// Entries of other pubs' mesh feeds received.
    mesh_entries: u64,
    /// Entries and chunks of data feeds received.
    data_items: u64,
}

impl MeshGlue {
    /// Loads (or creates) the mesh key in `data`, turns placement on in `node`, and replays
    /// what the store knows of the mesh.
    pub fn open(
        data: &Path,
        opts: &MeshOptions,
        node: &mut Node<FsStore>,
        now: Instant,
    ) -> io::Result<MeshGlue> {
        let path: PathBuf = data.join(KEY_FILE);
        let created = !path.exists();
        let key = crate::keyfile::load_or_create(&path)?;
        let me = key.feed_id();
        if created {
            log::info!("mesh: created key {} for pub id {me}", path.display());
        }
        let mesh = Mesh::new(opts.config.clone(), me, opts.announce.clone(), opts.join.clone(), now);
        let mut glue = MeshGlue { mesh, key, live_logged: 0, mesh_entries: 0, data_items: 0 };
        node.use_placement();
        node.set_held(me, true);
        let mut fids = node.store().feeds();
        fids.sort();
        // Mesh feeds first, so that the live pubs are known when the data feeds are placed;
        // a data feed with entries here is then offered to its holders (they may lack it).
        let mut pubs = 0;
        let mut data = Vec::new();
        for fid in fids {
            let Some(last) = node.store().frontier(&fid).map(|f| f.seq.0) else { continue };
            if glue.replay(node, now, fid, last) {
                pubs += 1;
            } else if last > 0 {
                data.push(fid);
            }
        }
        let feeds = data.len();
        for fid in data {
            glue.mesh.handle_stored(now, fid);
        }
        for fid in node.goset().keys().to_vec() {
            glue.mesh.handle_feed(now, fid);
        }
        log::info!(
            "mesh: pub id {me}, {} ({pubs} pubs known, {} live; {feeds} feeds)",
            match &opts.announce {
                Some(url) => format!("announced at {url}"),
                None => "not a member (no --announce)".to_owned(),
            },
            glue.mesh.live().count()
        );
        Ok(glue)
    }

    /// Feeds the stored entries of `fid` to the mesh if it is a mesh feed; true if it is.
    fn replay(&mut self, node: &mut Node<FsStore>, now: Instant, fid: FeedId, last: u32) -> bool {
        if last == 0 {
            return self.mesh.is_pub(&fid);
        }
        for seq in 1..=last {
            let Some(content) = content(node, &fid, Seq(seq)) else { continue };
            if !self.mesh.handle_record(now, fid, seq, &content) && seq == 1 {
                return false;
            }
        }
        true
    }

    /// The mesh state machine.
    pub fn mesh(&self) -> &Mesh {
        &self.mesh
    }

    /// A mesh dial connected as `face`.
    pub fn on_dialed(&mut self, now: Instant, face: FaceId, url: &str) {
        log::debug!("mesh: dialled {url}");
        self.mesh.handle_dialed(now, face, url);
    }

    /// A mesh dial failed.
    pub fn on_dial_failed(&mut self, now: Instant, url: &str) {
        log::debug!("mesh: cannot reach {url}");
        self.mesh.handle_dial_failed(now, url);
    }

    /// A face went down.
    pub fn on_face_down(&mut self, now: Instant, face: FaceId) {
        if let Some(p) = self.mesh.pub_on(face) {
            log::info!("mesh: link to pub {p} down");
        }
        self.mesh.handle_face_down(now, face);
    }

    /// Takes a packet if it is a mesh packet; false if it is for the engine. A hello marks the
    /// face as a pub link in the engine at once, before the packets behind it reach the engine.
    pub fn on_packet(&mut self, node: &mut Node<FsStore>, now: Instant, face: FaceId, bytes: &[u8]) -> bool {
        if !tinyssb::mesh::packet::MeshPacket::is_mesh(bytes) {
            return false;
        }
        self.mesh.handle_packet(now, face, bytes);
        if self.mesh.pub_on(face).is_some() {
            node.set_pub_link(face, true);
        }
        true
    }

    /// Hands the mesh what it needs of an engine event.
    pub fn on_event(&mut self, node: &mut Node<FsStore>, now: Instant, event: &Event) {
        match event {
            Event::EntryStored { fid, seq } | Event::ChainComplete { fid, seq } => {
                if matches!(event, Event::EntryStored { .. }) && *fid != self.mesh.pub_id() {
                    if self.mesh.is_pub(fid) {
                        self.mesh_entries += 1;
                    } else {
                        self.data_items += 1;
                    }
                }
                if self.mesh.is_pub(fid) {
                    if let Some(content) = content(node, fid, *seq) {
                        self.record(now, *fid, seq.0, &content);
                    }
                } else {
                    self.mesh.handle_stored(now, *fid);
                }
            }
            Event::FeedAdded(fid) | Event::FeedLearned(fid) => self.mesh.handle_feed(now, *fid),
            Event::FeedForgotten(fid) | Event::FeedDropped { fid, .. } => self.mesh.handle_forgot(fid),
            Event::PeerInSync(face) => self.mesh.handle_in_sync(now, *face),
            Event::Asked { fid, .. } => {
                log::debug!("mesh: a client asked for {fid}; fetching it from its holders");
                self.mesh.handle_asked(now, *fid);
            }
            _ => {}
        }
    }

    fn record(&mut self, now: Instant, author: PubId, seq: u32, content: &[u8]) {
        if !self.mesh.handle_record(now, author, seq, content) {
            return;
        }
        match Record::decode(content) {
            Ok(Record::Announce { url }) if author != self.mesh.pub_id() => {
                log::info!("mesh: pub {author} announces {url} (#{seq})");
            }
            Ok(Record::Down { pub_id, .. }) if author != self.mesh.pub_id() => {
                log::info!("mesh: pub {author} reports pub {pub_id} down");
            }
            _ => {}
        }
        self.log_live();
    }

    /// Logs the number of live pubs when it changed.
    fn log_live(&mut self) {
        let live = self.mesh.live().count();
        if live != self.live_logged {
            self.live_logged = live;
            log::info!("mesh: {live} live pubs");
        }
    }

    /// A snapshot for the status page; `chunks_in` is the engine's count of chunks received.
    pub fn status(&self, chunks_in: u64) -> crate::status::MeshStatus {
        let m = &self.mesh;
        let st = *m.stats();
        crate::status::MeshStatus {
            pub_id: m.pub_id().to_hex(),
            url: m.url().map(str::to_owned),
            live: m.live().count(),
            known: m.known_count(),
            linked: m.linked().map(|(_, p)| p).collect::<std::collections::BTreeSet<_>>().len(),
            held: m.held_count(),
            stats: st,
            maintenance_bytes: st.bytes_in + st.bytes_out + 120 * self.mesh_entries,
            data_bytes: 120 * (self.data_items + chunks_in),
        }
    }

    /// When [`MeshGlue::on_timeout`] is due.
    pub fn timeout(&self) -> Instant {
        self.mesh.poll_timeout()
    }

    /// Runs the mesh's timers.
    pub fn on_timeout(&mut self, now: Instant) {
        self.mesh.handle_timeout(now);
    }

    /// The next mesh packet to send.
    pub fn poll_transmit(&mut self) -> Option<(FaceId, Vec<u8>)> {
        self.mesh.poll_transmit()
    }

    /// Carries out the mesh's actions on `node`; returns the link operations for the loop.
    pub fn step(&mut self, node: &mut Node<FsStore>, now: Instant) -> Vec<LinkOp> {
        let mut ops = Vec::new();
        while let Some(action) = self.mesh.poll_action() {
            match action {
                Action::Dial { url } => ops.push(LinkOp::Dial(url)),
                Action::HangUp(face) => ops.push(LinkOp::HangUp(face)),
                Action::Publish(rec) => self.publish(node, now, &rec),
                Action::Follow(p) => {
                    // Unconfirmed until its first signed entry arrives: an id made up by a peer
                    // leaves no directory behind and expires.
                    node.set_held(p, true);
                    node.learn(now, p);
                    // Its entries may have arrived before the mesh knew it was a pub.
                    if let Some(last) = node.store().frontier(&p).map(|f| f.seq.0) {
                        for seq in 1..=last {
                            if let Some(content) = content(node, &p, Seq(seq)) {
                                self.record(now, p, seq, &content);
                            }
                        }
                    }
                }
                Action::PubLink { face, pub_id } => {
                    log::info!("mesh: link with pub {pub_id} up");
                    node.set_pub_link(face, true);
                }
                Action::Hold { fid, held } => node.set_held(fid, held),
            }
        }
        self.log_live();
        ops
    }

    fn publish(&mut self, node: &mut Node<FsStore>, now: Instant, rec: &Record) {
        let Some(bytes) = rec.encode() else {
            log::warn!("mesh: record too long, not written: {rec:?}");
            return;
        };
        match node.publish(now, &self.key, &bytes) {
            Ok(seq) => {
                match rec {
                    Record::Announce { url } => log::info!("mesh: announced {url} (#{})", seq.0),
                    Record::Down { pub_id, .. } => {
                        log::info!("mesh: pub {pub_id} unreachable, reported down")
                    }
                }
                self.mesh.handle_record(now, self.key.feed_id(), seq.0, &bytes);
            }
            Err(e) => log::error!("mesh: cannot write to the mesh feed: {e}"),
        }
    }
}

/// The whole content of entry `seq` of `fid`, if the store has all of it.
fn content(node: &mut Node<FsStore>, fid: &FeedId, seq: Seq) -> Option<Vec<u8>> {
    match crate::inspect::read_content(node.store_mut(), fid, seq) {
        Ok(Some((_, c))) if c.is_complete() => Some(c.bytes),
        _ => None,
    }
}
