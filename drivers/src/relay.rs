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

use crate::face::{face_of, Dest, Face, FaceEvent, PeerId};
use crate::kiss::{KissConfig, KissFace};
use crate::serial::SerialPort;
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
    /// fsync policy of the data directory.
    pub durability: Durability,
    /// Interval of the one-line summary in the log.
    pub summary_every: Duration,
    /// Access lists and limits handed to the engine.
    pub admission: Admission,
}

/// A face as the relay holds it, with the engine's view of its kind.
struct Slot {
    face: Box<dyn Face>,
    kind: FaceKind,
    name: String,
}

/// The engine's face id for neighbour `peer` of face `index`.
fn engine_face(index: usize, peer: PeerId) -> FaceId {
    FaceId(((index as u64) << 40) | (peer.0 & ((1 << 40) - 1)))
}

fn split_face(id: FaceId) -> (usize, PeerId) {
    ((id.0 >> 40) as usize, PeerId(id.0 & ((1 << 40) - 1)))
}

fn build_faces(cfg: &RelayConfig) -> io::Result<Vec<Slot>> {
    let mut slots: Vec<Slot> = Vec::new();
    let ws = WsConfig { max_conns: cfg.max_conns, ..WsConfig::default() };
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

    let mut events = Events::with_capacity(1024);
    let mut face_events: Vec<FaceEvent> = Vec::new();
    let mut last_sync = Instant::now();
    let mut last_summary = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // How long to sleep: until the engine's deadline, a face's deadline, or a second.
        let mut wait = Duration::from_secs(1);
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
                let kind = s.kind;
                deliver_one(&mut node, kind, index, &mut face_events, clock());
            }
        }
        let real_now = Instant::now();
        for (index, s) in slots.iter_mut().enumerate() {
            if s.face.next_deadline().is_some_and(|d| d <= real_now) {
                face_events.clear();
                s.face.on_deadline(poll.registry(), real_now, &mut face_events);
                let kind = s.kind;
                deliver_one(&mut node, kind, index, &mut face_events, clock());
            }
        }
        let now = clock();
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        // Transmit, flush, and feed what flushing reports (faces coming up) back in, twice at most.
        for _ in 0..2 {
            while let Some(tx) = node.poll_transmit() {
                let (index, peer) = split_face(tx.face);
                if let Some(s) = slots.get_mut(index) {
                    log::trace!("tx {} {}", s.name, tinyssb::ids::to_hex(tx.packet.as_slice()));
                    s.face.send(Dest::Peer(peer), tx.packet.as_slice());
                }
            }
            let mut more = false;
            for (index, s) in slots.iter_mut().enumerate() {
                face_events.clear();
                s.face.flush(poll.registry(), &mut face_events);
                more |= !face_events.is_empty();
                let kind = s.kind;
                deliver_one(&mut node, kind, index, &mut face_events, clock());
            }
            if !more {
                break;
            }
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

fn deliver_one(
    node: &mut Node<FsStore>,
    kind: FaceKind,
    index: usize,
    events: &mut Vec<FaceEvent>,
    now: tinyssb::time::Instant,
) {
    for ev in events.drain(..) {
        match ev {
            FaceEvent::Up(peer) => {
                log::info!("face {index}: {peer} up");
                node.handle_face_up(now, engine_face(index, peer), kind);
            }
            FaceEvent::Down(peer) => {
                log::info!("face {index}: {peer} down");
                node.handle_face_down(now, engine_face(index, peer));
            }
            FaceEvent::Packet(peer, bytes) => {
                log::trace!("rx face {index} {peer} {}", tinyssb::ids::to_hex(&bytes));
                node.handle_packet(now, engine_face(index, peer), &bytes);
            }
        }
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
