//! The pub's event loop: one single-threaded mio loop that joins the engine, the faces and the
//! data directory.
//!
//! Each turn: wait for readiness (at most until the engine's or a face's next deadline), hand
//! every face event to the engine, run due timers, move the engine's transmits into the faces,
//! flush the faces once (batched writes), then log the engine's events. The store is synced at
//! least once a second and on shutdown.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use tinyssb::node::{Admission, Config as NodeConfig, Event, FaceId, FaceKind, Node, Role};
use tinyssb::stats::DropReason;
use tinyssb::store::fs::{Durability, FsConfig, FsStore};
use tinyssb::store::Store;

use crate::face::{face_of, Dest, Face, FaceEvent, PeerId, PEER_ID_BITS};
use crate::kiss::{KissConfig, KissFace};
use crate::serial::SerialPort;
use crate::status::{FaceView, StatusBuilder};
use crate::udp::{UdpConfig, UdpFace};
use crate::ws::{Backoff, WsClient, WsConfig, WsServer};

/// Everything the pub needs to start.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The data directory (created if missing).
    pub data: PathBuf,
    /// What the node does with feeds.
    pub role: Role,
    /// Websocket server address, if any.
    pub listen: Option<SocketAddr>,
    /// Websocket URLs to connect to (reconnecting with backoff).
    pub connect: Vec<String>,
    /// UDP unicast faces: (local bind address, peer address).
    pub udp: Vec<(SocketAddr, SocketAddr)>,
    /// UDP multicast groups (CRC32 trailer on).
    pub multicast: Vec<SocketAddrV4>,
    /// KISS serial devices and their baud rate.
    pub kiss: Vec<(PathBuf, u32)>,
    /// Most websocket connections served at once.
    pub max_conns: usize,
    /// Websocket connections that send no packet this long are closed (zero: never).
    pub idle_timeout: Duration,
    /// Most websocket connections from one source address (zero: no limit).
    pub max_per_ip: usize,
    /// fsync policy of the data directory.
    pub durability: Durability,
    /// Interval of the one-line summary in the log.
    pub summary_every: Duration,
    /// Access lists and limits handed to the engine.
    pub admission: Admission,
}

/// Rounds of transmit-and-flush per loop turn before readiness is polled again.
const MAX_TRANSMIT_ROUNDS: usize = 64;

/// A face as the relay holds it, with the engine's view of its kind.
struct Slot {
    face: Box<dyn Face>,
    kind: FaceKind,
    name: String,
}

/// The low bits of an engine face id hold the peer id, the bits above them the face index.
const PEER_MASK: u64 = (1 << PEER_ID_BITS) - 1;

/// The engine's face id for neighbour `peer` of face `index`. Faces keep peer ids below
/// `2^PEER_ID_BITS` for their whole life, so ids neither collide nor lose bits.
fn engine_face(index: usize, peer: PeerId) -> FaceId {
    debug_assert!(peer.0 <= PEER_MASK, "{peer} does not fit in {PEER_ID_BITS} bits");
    FaceId(((index as u64) << PEER_ID_BITS) | (peer.0 & PEER_MASK))
}

fn split_face(id: FaceId) -> (usize, PeerId) {
    ((id.0 >> PEER_ID_BITS) as usize, PeerId(id.0 & PEER_MASK))
}

fn build_faces(cfg: &RelayConfig) -> io::Result<Vec<Slot>> {
    let mut slots: Vec<Slot> = Vec::new();
    let ws = WsConfig {
        max_conns: cfg.max_conns,
        idle_timeout: cfg.idle_timeout,
        max_per_ip: cfg.max_per_ip,
        ..WsConfig::default()
    };
    if let Some(addr) = cfg.listen {
        let face = WsServer::bind(slots.len(), addr, ws)?;
        slots.push(Slot { face: Box::new(face), kind: FaceKind::Reliable, name: format!("ws://{addr}") });
    }
    for url in &cfg.connect {
        let face = WsClient::new(slots.len(), url, ws, Backoff::default())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        slots.push(Slot { face: Box::new(face), kind: FaceKind::Reliable, name: url.clone() });
    }
    for (bind, peer) in &cfg.udp {
        let face =
            UdpFace::unicast(slots.len(), *bind, *peer, UdpConfig { crc: false, ..UdpConfig::default() })?;
        slots.push(Slot {
            face: Box::new(face),
            kind: FaceKind::Broadcast,
            name: format!("udp {bind}->{peer}"),
        });
    }
    for group in &cfg.multicast {
        let face = UdpFace::multicast(slots.len(), *group, Ipv4Addr::UNSPECIFIED, UdpConfig::default())?;
        slots.push(Slot { face: Box::new(face), kind: FaceKind::Broadcast, name: format!("mc {group}") });
    }
    for (path, baud) in &cfg.kiss {
        let port = SerialPort::open(path, *baud)?;
        let face = KissFace::new(port, slots.len(), KissConfig::default());
        slots.push(Slot {
            face: Box::new(face),
            kind: FaceKind::Broadcast,
            name: format!("kiss {}", path.display()),
        });
    }
    Ok(slots)
}

/// Runs the pub until `stop` is set (by a signal handler). Returns after persisting the store.
pub fn run(cfg: &RelayConfig, stop: &Arc<AtomicBool>) -> io::Result<()> {
    let start = Instant::now();
    let clock = || tinyssb::time::Instant(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));

    std::fs::create_dir_all(&cfg.data)?;
    let store = FsStore::open(&cfg.data, FsConfig { durability: cfg.durability, ..FsConfig::default() })
        .map_err(|e| io::Error::other(format!("opening {}: {e}", cfg.data.display())))?;
    for note in store.open_report() {
        log::warn!("data directory: {note:?}");
    }
    let node_cfg = NodeConfig { role: cfg.role, admission: cfg.admission.clone(), ..NodeConfig::default() };
    let mut node = Node::new(node_cfg, store, clock());
    log::info!("spub-mio: data {}, role {:?}, {} feeds", cfg.data.display(), cfg.role, node.goset().len());

    crate::ws::raise_fd_limit(cfg.max_conns as u64 + 64);
    let mut poll = Poll::new()?;
    let mut slots = build_faces(cfg)?;
    for (index, s) in slots.iter_mut().enumerate() {
        s.face.register(poll.registry())?;
        log::info!("face {index}: {}", s.name);
    }

    // The websocket server answers status requests from a snapshot refreshed once a second.
    let mut status = cfg.listen.is_some().then(StatusBuilder::default);
    publish_status(&mut status, &node, &mut slots);
    let mut last_status = Instant::now();

    let mut events = Events::with_capacity(1024);
    let mut face_events: Vec<FaceEvent> = Vec::new();
    let mut last_sync = Instant::now();
    let mut last_summary = Instant::now();
    // Set when the last turn stopped moving output before it was done: poll without sleeping.
    let mut spin = false;
    while !stop.load(Ordering::Relaxed) {
        // How long to sleep: until the engine's deadline, a face's deadline, or a second.
        let mut wait = if spin { Duration::ZERO } else { Duration::from_secs(1) };
        if let Some(t) = node.poll_timeout() {
            wait = wait.min(Duration::from_millis(t.0.saturating_sub(clock().0)));
        }
        let real_now = Instant::now();
        for s in &slots {
            if let Some(d) = s.face.next_deadline() {
                wait = wait.min(d.saturating_duration_since(real_now));
            }
        }
        if let Err(e) = poll.poll(&mut events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        for ev in events.iter() {
            let index = face_of(ev.token());
            if let Some(s) = slots.get_mut(index) {
                face_events.clear();
                s.face.on_ready(poll.registry(), ev, &mut face_events);
                deliver_one(&mut node, s, index, &mut face_events, clock());
            }
        }
        let real_now = Instant::now();
        for (index, s) in slots.iter_mut().enumerate() {
            if s.face.next_deadline().is_some_and(|d| d <= real_now) {
                face_events.clear();
                s.face.on_deadline(poll.registry(), real_now, &mut face_events);
                deliver_one(&mut node, s, index, &mut face_events, clock());
            }
        }
        let now = clock();
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        // Transmit, flush, and feed what flushing reports back in (output written makes room
        // for more replies; faces come up), until nothing moves or the turn has done enough.
        spin = false;
        for round in 0..MAX_TRANSMIT_ROUNDS {
            let mut sent = false;
            while let Some(tx) = node.poll_transmit() {
                sent = true;
                let (index, peer) = split_face(tx.face);
                match slots.get_mut(index) {
                    Some(s) => {
                        log::trace!("tx {} {}", s.name, tinyssb::ids::to_hex(tx.packet.as_slice()));
                        s.face.send(Dest::Peer(peer), tx.packet.as_slice());
                    }
                    None => node.handle_send_dropped(clock(), tx.face, tx.packet.len()),
                }
            }
            let mut reported = false;
            for (index, s) in slots.iter_mut().enumerate() {
                face_events.clear();
                s.face.flush(poll.registry(), &mut face_events);
                reported |= !face_events.is_empty();
                deliver_one(&mut node, s, index, &mut face_events, clock());
            }
            if !sent && !reported {
                break;
            }
            spin = round + 1 == MAX_TRANSMIT_ROUNDS;
        }
        while let Some(event) = node.poll_event() {
            log_event(&event);
        }
        if last_sync.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = node.store_mut().sync() {
                log::error!("sync failed: {e}");
            }
            last_sync = Instant::now();
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            publish_status(&mut status, &node, &mut slots);
            last_status = Instant::now();
        }
        if last_summary.elapsed() >= cfg.summary_every {
            log_summary(&mut node, &slots);
            last_summary = Instant::now();
        }
    }
    log::info!("spub-mio: stopping, persisting the store");
    node.store_mut().sync().map_err(|e| io::Error::other(e.to_string()))?;
    log_summary(&mut node, &slots);
    Ok(())
}

/// Hands one face's events to the node. A packet the node did not drop counts as the peer's
/// sign of life for the face's idle cut: garbage does not keep a connection open.
fn deliver_one(
    node: &mut Node<FsStore>,
    slot: &mut Slot,
    index: usize,
    events: &mut Vec<FaceEvent>,
    now: tinyssb::time::Instant,
) {
    for ev in events.drain(..) {
        match ev {
            FaceEvent::Up(peer) => {
                log::info!("face {index}: {peer} up");
                node.handle_face_up(now, engine_face(index, peer), slot.kind);
            }
            FaceEvent::Down(peer) => {
                log::info!("face {index}: {peer} down");
                node.handle_face_down(now, engine_face(index, peer));
            }
            FaceEvent::Packet(peer, bytes) => {
                log::trace!("rx face {index} {peer} {}", tinyssb::ids::to_hex(&bytes));
                let dropped = node.stats().dropped_total();
                node.handle_packet(now, engine_face(index, peer), &bytes);
                if node.stats().dropped_total() == dropped {
                    slot.face.note_valid(peer);
                }
            }
            FaceEvent::Flushed(peer, bytes) => node.handle_flushed(now, engine_face(index, peer), bytes),
            FaceEvent::SendDropped(peer, bytes) => {
                log::debug!("face {index}: {bytes} bytes to {peer} dropped");
                node.handle_send_dropped(now, engine_face(index, peer), bytes);
            }
        }
    }
}

/// Hands every face a fresh snapshot of the pub's state, if some face serves status requests.
/// Reads only what the engine and the store hold in memory: no I/O, microseconds per feed.
fn publish_status(builder: &mut Option<StatusBuilder>, node: &Node<FsStore>, slots: &mut [Slot]) {
    let Some(builder) = builder else { return };
    let views: Vec<FaceView<'_>> = (slots.iter().enumerate())
        .map(|(index, s)| FaceView { index, name: &s.name, face: s.face.as_ref() })
        .collect();
    let snapshot = Arc::new(builder.build(node, &views));
    drop(views);
    for s in slots {
        s.face.set_status(&snapshot);
    }
}

fn log_event(event: &Event) {
    match event {
        Event::FeedAdded(fid) => log::info!("feed added {fid}"),
        Event::EntryStored { fid, seq } => log::debug!("entry {fid}:{seq} stored"),
        Event::ChainComplete { fid, seq } => log::debug!("sidechain {fid}:{seq} complete"),
        Event::PeerInSync(face) => log::debug!("peer {face:?} in sync"),
        Event::Dropped { face, reason } => log::debug!("dropped packet from {face:?}: {}", reason.name()),
        Event::StoreFailed(e) => log::error!("store: {e}"),
        Event::Quarantined { fid, from, kept } => match kept {
            Some(path) => log::warn!(
                "feed {fid}: stored entry {from} failed its check (damaged disk?); it and all after it \
                 were moved to {} and will be fetched again",
                path.display()
            ),
            None => log::warn!("feed {fid}: stored entry {from} failed its check; refetching from there"),
        },
        Event::FeedForgotten(fid) => log::debug!("unconfirmed feed id {fid} left the GOset"),
        Event::Refused { face, fid, reason } => match reason {
            // Ids arrive in GOset packets anyone can send: not worth more than a debug line.
            DropReason::Denied | DropReason::NotAllowed => {
                log::debug!("refused feed {fid} from {face:?}: {}", reason.name())
            }
            _ => log::info!("refused an entry of feed {fid} from {face:?}: {}", reason.name()),
        },
    }
}

fn log_summary(node: &mut Node<FsStore>, slots: &[Slot]) {
    let fids = node.store().feeds();
    let entries: u64 = fids.iter().filter_map(|f| node.store().frontier(f)).map(|f| u64::from(f.seq.0)).sum();
    let st = node.stats().clone();
    let peers: usize = slots.iter().map(|s| s.face.peers().len()).sum();
    let reasons: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| st.dropped(**r) > 0)
        .map(|r| format!("{} {}", r.name(), st.dropped(*r)))
        .collect();
    let why = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
    log::info!(
        "summary: {} feeds (+{} unconfirmed ids), {} entries, {} chunks in, {} peers, packets in {} out {}, dropped {}{}",
        fids.len(),
        node.goset().unconfirmed().len(),
        entries,
        st.chunks_in,
        peers,
        st.packets_in,
        st.packets_out,
        st.dropped_total(),
        why
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn face_ids_round_trip_for_a_long_lived_pub() {
        // Peer ids a websocket face hands out after 2^16, 2^24 and 2^40 connections, and its last.
        let peers = [1, 1 << 16, (1 << 16) + 1, (1 << 24) + 7, (1 << 40) + 1, PEER_MASK];
        let mut seen = std::collections::BTreeSet::new();
        for index in [0usize, 1, 7, 255] {
            for &p in &peers {
                let id = engine_face(index, PeerId(p));
                assert_eq!(split_face(id), (index, PeerId(p)));
                assert!(seen.insert(id), "{id:?} handed out twice");
            }
        }
    }
}
