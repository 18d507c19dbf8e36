//! The pub's event loop: one single-threaded mio loop that joins the engine, the faces and the
//! data directory.
//!
//! Each turn: wait for readiness (at most until the engine's or a face's next deadline), hand
//! every face event to the engine, run due timers, move the engine's transmits into the faces,
//! flush the faces once (batched writes), then log the engine's events. The store is synced
//! (group commit) as soon as a burst settles (no readiness for 10 ms), but with at least three
//! times the last sync's duration between syncs (so a catch-up, which settles at every reply
//! round trip, spends at most a quarter of its time in fsync), at least once a second under
//! steady load, and on shutdown.
//!
//! With `verify_threads` above zero, signature checks run on a [`VerifyPool`]: the loop pumps the
//! engine's verification jobs to it right after the inputs of a turn and takes verdicts back
//! there too; a worker that finishes wakes the loop.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use tinyssb::node::{Admission, Config as NodeConfig, Event, FaceId, FaceKind, Node, Role};
use tinyssb::secure::{SecureConfig, StaticKey, Trust, KEY_LEN};
use tinyssb::stats::DropReason;
use tinyssb::store::fs::{Durability, FsConfig, FsStore};
use tinyssb::store::{Store, StoreError};

use crate::kiss::{KissConfig, KissTransport};
use crate::mesh::{LinkOp, MeshGlue, MeshOptions};
use crate::serial::SerialPort;
use crate::status::{FaceView, StatusBuilder};
use crate::transport::{face_of, Dest, PeerId, Transport, TransportEvent, PEER_ID_BITS};
use crate::udp::{UdpConfig, UdpTransport};
use crate::verify::VerifyPool;
use crate::ws::{Backoff, WsClient, WsConfig, WsSecure, WsServer};

/// Everything the pub needs to start.
#[derive(Debug, Clone)]
pub struct PubConfig {
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
    /// Most feed ids in the pub's whole GOset (see `tinyssb::node::Config::goset_cap`).
    pub goset_cap: usize,
    /// Most bytes of output queued for one connection (see `tinyssb::node::Config`).
    pub max_queue_per_conn: usize,
    /// Most bytes of output queued for all connections together.
    pub max_queue_total: usize,
    /// Threads that check signatures beside the loop; 0 checks them in the loop itself.
    pub verify_threads: usize,
    /// Feeds with no new entry for this long are dropped (tombstoned); `None`: never.
    pub expire_after: Option<Duration>,
    /// Secure websocket links; `None`: plain links only.
    pub secure: Option<SecureOptions>,
    /// Taking part in a mesh of pubs; `None`: links are only those configured.
    pub mesh: Option<MeshOptions>,
}

/// Secure links of the websocket faces (see [`crate::ws`]): the server offers them, `noise+`
/// URLs ask for them.
#[derive(Debug, Clone)]
pub struct SecureOptions {
    /// The static key file; created (mode 0600) if missing, once the data directory is open.
    pub key_file: PathBuf,
    /// Refuse plain websocket clients.
    pub require: bool,
    /// Only these peer static keys complete a handshake; `None`: any.
    pub trust: Option<BTreeSet<[u8; KEY_LEN]>>,
}

/// A burst counts as settled when no readiness event came for this long; then the store syncs.
const SETTLED: Duration = Duration::from_millis(10);

/// A settled burst syncs only once the loop has run this many times as long as the last sync
/// took since it ended, so fsyncs take at most a quarter of the loop's time. During a catch-up
/// every reply round trip lets the burst settle, and a sync per round trip (20 feeds: 60 fsyncs)
/// slowed a 20 × 100 catch-up on a virtio disk ten-fold.
const SYNC_SPACING: u32 = 3;

/// Entries and chunks stored so far: when it changes, the store has something to sync.
fn stored_count(node: &Node<FsStore>) -> u64 {
    let st = node.stats();
    st.entries_in + st.chunks_in
}

/// Rounds of transmit-and-flush per loop turn before readiness is polled again.
const MAX_TRANSMIT_ROUNDS: usize = 64;

/// A face as the pub loop holds it, with the engine's view of its kind.
struct Slot {
    face: Box<dyn Transport>,
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

/// The websocket settings of every websocket face.
fn ws_config(cfg: &PubConfig) -> WsConfig {
    WsConfig {
        max_conns: cfg.max_conns,
        idle_timeout: cfg.idle_timeout,
        max_per_ip: cfg.max_per_ip,
        ..WsConfig::default()
    }
}

fn build_faces(cfg: &PubConfig, secure: Option<&WsSecure>) -> io::Result<Vec<Slot>> {
    let mut slots: Vec<Slot> = Vec::new();
    let ws = ws_config(cfg);
    if let Some(addr) = cfg.listen {
        let mut face = WsServer::bind(slots.len(), addr, ws)
            .map_err(|e| context(&e, &format!("websocket server: cannot listen on {addr}")))?;
        if let Some(sec) = secure {
            face.set_secure(sec.clone());
        }
        slots.push(Slot {
            face: Box::new(face),
            kind: FaceKind::Reliable,
            name: format!("ws server {addr}"),
        });
    }
    for url in &cfg.connect {
        let mut face = WsClient::new(slots.len(), url, ws, Backoff::default()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("'{url}' is not a ws://HOST[:PORT][/PATH] URL"),
            )
        })?;
        match secure {
            Some(sec) => face.set_secure(Arc::clone(&sec.noise)),
            None if face.wants_secure() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("'{url}' needs secure links on"),
                ))
            }
            None => {}
        }
        slots.push(Slot { face: Box::new(face), kind: FaceKind::Reliable, name: format!("ws client {url}") });
    }
    for (bind, peer) in &cfg.udp {
        let face = UdpTransport::unicast(
            slots.len(),
            *bind,
            *peer,
            UdpConfig { crc: false, ..UdpConfig::default() },
        )
        .map_err(|e| context(&e, &format!("udp: cannot bind {bind}")))?;
        slots.push(Slot {
            face: Box::new(face),
            kind: FaceKind::Broadcast,
            name: format!("udp {bind}->{peer}"),
        });
    }
    for group in &cfg.multicast {
        let face = UdpTransport::multicast(slots.len(), *group, Ipv4Addr::UNSPECIFIED, UdpConfig::default())
            .map_err(|e| context(&e, &format!("udp multicast: cannot join {group}")))?;
        slots.push(Slot {
            face: Box::new(face),
            kind: FaceKind::Broadcast,
            name: format!("udp multicast {group}"),
        });
    }
    for (path, baud) in &cfg.kiss {
        let port = SerialPort::open(path, *baud).map_err(|e| {
            context(&e, &format!("kiss: cannot open serial device {} at {baud} baud", path.display()))
        })?;
        let face = KissTransport::new(port, slots.len(), KissConfig::default());
        slots.push(Slot {
            face: Box::new(face),
            kind: FaceKind::Broadcast,
            name: format!("kiss {}", path.display()),
        });
    }
    Ok(slots)
}

/// The secure-link settings of `opts`: the key from its file, or a new key (returned too, to
/// be written once the data directory is open, so that a failed start leaves nothing behind).
fn secure_setup(opts: &SecureOptions) -> io::Result<(WsSecure, Option<StaticKey>)> {
    let (key, new_key) = match crate::noise::read_key(&opts.key_file)? {
        Some(key) => (key, None),
        None => {
            let key = crate::noise::generate_key()?;
            (key.clone(), Some(key))
        }
    };
    let trust = opts.trust.clone().map_or(Trust::Any, Trust::Only);
    let noise = Arc::new(SecureConfig { trust, ..SecureConfig::new(key) });
    Ok((WsSecure { noise, require: opts.require }, new_key))
}

/// `e` with `what` failed in front of its own message, keeping its kind.
fn context(e: &io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Opens (creating if needed) the data directory. If opening fails, whatever this call
/// created is removed again, so a failed start leaves nothing behind.
fn open_store(cfg: &PubConfig) -> io::Result<FsStore> {
    let data = &cfg.data;
    // The outermost directory of the path that does not exist yet.
    let created = data.ancestors().take_while(|a| !a.as_os_str().is_empty() && !a.exists()).last();
    let created = created.map(Path::to_path_buf);
    let opened = FsStore::open(data, FsConfig { durability: cfg.durability, ..FsConfig::default() });
    opened.map_err(|e| {
        if !data.is_dir() {
            // Creating it failed: there is nothing to remove, and nothing to call read-only.
            if let StoreError::Io(e) = e {
                return context(&e, &format!("cannot create data directory {}", data.display()));
            }
            return store_error(data, e);
        }
        if let Some(dir) = &created {
            if let Err(rm) = std::fs::remove_dir_all(dir) {
                log::warn!("could not remove {} again: {rm}", dir.display());
            }
        }
        store_error(data, e)
    })
}

/// Says what went wrong with the data directory and what to do about it.
fn store_error(data: &Path, e: StoreError) -> io::Error {
    let dir = data.display();
    match e {
        StoreError::Io(e)
            if matches!(e.kind(), io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem) =>
        {
            io::Error::new(
                e.kind(),
                format!(
                    "data directory {dir} is not writable ({e}): the pub stores what it receives there; \
                     give its user write access, or inspect the directory read-only with 'frontier -d {dir}'"
                ),
            )
        }
        StoreError::Io(e) => io::Error::new(e.kind(), format!("data directory {dir}: {e}")),
        e @ StoreError::Locked { .. } => io::Error::other(e.to_string()),
        e => io::Error::other(format!("data directory {dir}: {e}")),
    }
}

/// Tells the engine how long each feed has been without a new entry, from `log.bin`'s
/// modification time, so that `expire_after` counts from the last entry, not from the start.
fn seed_idle_times(node: &mut Node<FsStore>, now: tinyssb::time::Instant) {
    let wall = std::time::SystemTime::now();
    let times: Vec<_> = node.goset().keys().iter().map(|f| (*f, node.store().log_modified(f))).collect();
    for (fid, modified) in times {
        if let Some(idle) = modified.and_then(|m| wall.duration_since(m).ok()) {
            node.set_feed_idle(now, &fid, idle.into());
        }
    }
}

/// The role as the command line spells it.
fn role_name(role: Role) -> &'static str {
    match role {
        Role::In => "in",
        Role::Out => "out",
        Role::InOut => "inout",
    }
}

/// Runs the pub until `stop` is set (by a signal handler). Returns after persisting the store.
pub fn run(cfg: &PubConfig, stop: &Arc<AtomicBool>) -> io::Result<()> {
    let start = Instant::now();
    let clock = || tinyssb::time::Instant(u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX));

    // Sockets and devices first: a bad address or a missing device must fail the start
    // before the data directory is created.
    crate::ws::raise_fd_limit(cfg.max_conns as u64 + 64);
    let mut poll = Poll::new()?;
    let (secure, new_key) = match &cfg.secure {
        Some(opts) => {
            let (sec, new_key) = secure_setup(opts)?;
            (Some(sec), new_key)
        }
        None => (None, None),
    };
    let mut slots = build_faces(cfg, secure.as_ref())?;
    let store = open_store(cfg)?;
    if let (Some(opts), Some(sec)) = (&cfg.secure, &secure) {
        if let Some(key) = new_key {
            crate::noise::write_key(&opts.key_file, &key)
                .map_err(|e| context(&e, &format!("cannot write secure key {}", opts.key_file.display())))?;
            log::info!("secure links: created key {}", opts.key_file.display());
        }
        let trust = match &sec.noise.trust {
            Trust::Any => "any peer".to_string(),
            Trust::Only(keys) => format!("{} trusted keys", keys.len()),
        };
        log::info!(
            "secure links: static key {} ({}), {trust}, plain clients {}",
            tinyssb::ids::to_hex(&sec.noise.key.public()),
            opts.key_file.display(),
            if opts.require { "refused" } else { "served" }
        );
    }
    for note in store.open_report() {
        log::warn!("data directory {}: {}", cfg.data.display(), crate::inspect::describe_note(note));
    }
    let node_cfg = NodeConfig {
        role: cfg.role,
        admission: cfg.admission.clone(),
        goset_cap: cfg.goset_cap,
        max_queued_per_face: cfg.max_queue_per_conn,
        max_queued_total: cfg.max_queue_total,
        expire_after: cfg.expire_after.map(Into::into),
        external_verify: cfg.verify_threads > 0,
        ..NodeConfig::default()
    };
    let mut node = Node::new(node_cfg, store, clock());
    if cfg.expire_after.is_some() {
        seed_idle_times(&mut node, clock());
    }
    let mut mesh = match &cfg.mesh {
        Some(opts) => Some(MeshLinks {
            glue: MeshGlue::open(&cfg.data, opts, &mut node, clock())?,
            urls: HashMap::new(),
            free: Vec::new(),
            ws: ws_config(cfg),
        }),
        None => None,
    };
    let mut pool = match cfg.verify_threads {
        0 => None,
        n => Some(VerifyPool::new(n, poll.registry()).map_err(|e| context(&e, "signature workers"))?),
    };
    log::info!(
        "spub-mio {}: data {}, role {}, {} feeds",
        env!("CARGO_PKG_VERSION"),
        cfg.data.display(),
        role_name(cfg.role),
        node.goset().len()
    );
    for (index, s) in slots.iter_mut().enumerate() {
        s.face.register(poll.registry()).map_err(|e| context(&e, &format!("{}: cannot register", s.name)))?;
        log::info!("face {index}: {}", s.name);
    }

    // The websocket server answers status requests from a snapshot refreshed once a second.
    let mut status = cfg.listen.is_some().then(StatusBuilder::default);
    publish_status(&mut status, &node, &mut slots, mesh.as_ref());
    let mut last_status = Instant::now();

    let mut events = Events::with_capacity(1024);
    let mut face_events: Vec<TransportEvent> = Vec::new();
    let mut peers = Peers::default();
    let mut totals = Totals::new(&mut node);
    // Group commit: what was stored since the last sync becomes durable (log fsynced, frontier
    // files replaced) as soon as a burst settles, and at least once a second under steady load.
    let mut stored = stored_count(&node);
    let mut unsynced_since: Option<Instant> = None;
    // When the last sync ended and how long it took.
    let (mut synced_at, mut sync_took) = (Instant::now(), Duration::ZERO);
    let mut last_summary = Instant::now();
    // Set when the last turn stopped moving output before it was done: poll without sleeping.
    let mut spin = false;
    while !stop.load(Ordering::Relaxed) {
        // How long to sleep: until the engine's deadline, a face's deadline, or a second.
        let mut wait = if spin { Duration::ZERO } else { Duration::from_secs(1) };
        if unsynced_since.is_some() {
            wait = wait.min(SETTLED);
        }
        if let Some(t) = node.poll_timeout() {
            wait = wait.min(Duration::from_millis(t.0.saturating_sub(clock().0)));
        }
        if let Some(m) = &mesh {
            wait = wait.min(Duration::from_millis(m.glue.timeout().0.saturating_sub(clock().0)));
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
        let settled = events.is_empty();
        for ev in events.iter() {
            let index = face_of(ev.token());
            if let Some(s) = slots.get_mut(index) {
                face_events.clear();
                s.face.on_ready(poll.registry(), ev, &mut face_events);
                deliver_one(&mut node, s, index, &mut face_events, clock(), &mut peers, &mut mesh);
            }
        }
        let real_now = Instant::now();
        for (index, s) in slots.iter_mut().enumerate() {
            if s.face.next_deadline().is_some_and(|d| d <= real_now) {
                face_events.clear();
                s.face.on_deadline(poll.registry(), real_now, &mut face_events);
                deliver_one(&mut node, s, index, &mut face_events, clock(), &mut peers, &mut mesh);
            }
        }
        let now = clock();
        if node.poll_timeout().is_some_and(|t| t <= now) {
            node.handle_timeout(now);
        }
        if let Some(pool) = &mut pool {
            pool.pump(&mut node, now);
        }
        if let Some(m) = &mut mesh {
            m.run(&mut node, &mut slots, &poll, now, &mut peers);
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
                        log::trace!(target: "packet", "tx {} {}", peers.name(tx.face, &s.name), brief(tx.packet.as_slice()));
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
                deliver_one(&mut node, s, index, &mut face_events, clock(), &mut peers, &mut mesh);
            }
            if !sent && !reported {
                break;
            }
            spin = round + 1 == MAX_TRANSMIT_ROUNDS;
        }
        while let Some(event) = node.poll_event() {
            log_event(&event, &peers);
            if let Some(m) = &mut mesh {
                m.glue.on_event(&mut node, clock(), &event);
            }
        }
        let now_stored = stored_count(&node);
        if now_stored != stored {
            stored = now_stored;
            unsynced_since.get_or_insert_with(Instant::now);
        }
        let spaced = synced_at.elapsed() >= sync_took * SYNC_SPACING;
        if unsynced_since.is_some_and(|t| (settled && spaced) || t.elapsed() >= Duration::from_secs(1)) {
            let started = Instant::now();
            if let Err(e) = node.store_mut().sync() {
                log::error!("data directory {}: sync failed: {e}", cfg.data.display());
            }
            (synced_at, sync_took) = (Instant::now(), started.elapsed());
            unsynced_since = None;
        }
        if last_status.elapsed() >= Duration::from_secs(1) {
            publish_status(&mut status, &node, &mut slots, mesh.as_ref());
            last_status = Instant::now();
        }
        if last_summary.elapsed() >= cfg.summary_every {
            log_summary(&mut node, &slots, &mut totals);
            last_summary = Instant::now();
        }
    }
    log::info!("spub-mio: stopping, persisting the store");
    if let Some(pool) = &mut pool {
        pool.finish(&mut node, clock(), Duration::from_secs(5));
    }
    node.store_mut().sync().map_err(|e| {
        io::Error::other(format!("data directory {}: final sync failed: {e}", cfg.data.display()))
    })?;
    log_summary(&mut node, &slots, &mut totals);
    Ok(())
}

/// The neighbours that are up, by engine face id: how logs name them, and since when.
#[derive(Default)]
struct Peers(HashMap<FaceId, (String, String, Instant)>);

impl Peers {
    /// `face name, peer address` for a neighbour that is up, else the face's name alone.
    fn name(&self, id: FaceId, face_name: &str) -> String {
        match self.0.get(&id) {
            Some((who, _, _)) => who.clone(),
            None => face_name.to_owned(),
        }
    }
}

/// A packet for a trace line: its length and its first 32 bytes in hex.
fn brief(pkt: &[u8]) -> String {
    let head = tinyssb::ids::to_hex(pkt.get(..32).unwrap_or(pkt));
    let more = if pkt.len() > 32 { ".." } else { "" };
    format!("{}B {head}{more}", pkt.len())
}

/// Hands one face's events to the node. A packet the node did not drop counts as the peer's
/// sign of life for the face's idle cut: garbage does not keep a connection open.
fn deliver_one(
    node: &mut Node<FsStore>,
    slot: &mut Slot,
    index: usize,
    events: &mut Vec<TransportEvent>,
    now: tinyssb::time::Instant,
    peers: &mut Peers,
    mesh: &mut Option<MeshLinks>,
) {
    for ev in events.drain(..) {
        match ev {
            TransportEvent::Up(peer) => {
                let id = engine_face(index, peer);
                let addr = slot.face.peer_addr(peer);
                let who = match &addr {
                    Some(addr) if matches!(slot.kind, FaceKind::Reliable) => {
                        format!("{}, peer {addr}", slot.name)
                    }
                    _ => slot.name.clone(),
                };
                let addr = addr.unwrap_or_default();
                log::info!(face = slot.name.as_str(), peer = addr.as_str(), event = "up"; "{who}: up");
                peers.0.insert(id, (who, addr, Instant::now()));
                node.handle_face_up(now, id, slot.kind);
                if let Some(m) = mesh {
                    if let Some(url) = m.urls.get(&index) {
                        node.set_pub_link(id, true);
                        m.glue.on_dialed(now, id, url);
                    }
                }
            }
            TransportEvent::Down(peer) => {
                let id = engine_face(index, peer);
                match peers.0.remove(&id) {
                    Some((who, addr, since)) => {
                        let (up_for, secs) = (human(since.elapsed()), since.elapsed().as_secs_f64());
                        log::info!(
                            face = slot.name.as_str(), peer = addr.as_str(), event = "down", secs;
                            "{who}: down after {up_for}"
                        )
                    }
                    None => log::info!(face = slot.name.as_str(), event = "down"; "{}: down", slot.name),
                }
                node.handle_face_down(now, id);
                if let Some(m) = mesh {
                    m.glue.on_face_down(now, id);
                }
            }
            TransportEvent::Packet(peer, bytes) => {
                let id = engine_face(index, peer);
                log::trace!(target: "packet", "rx {} {}", peers.name(id, &slot.name), brief(&bytes));
                if let Some(m) = mesh {
                    if m.glue.on_packet(node, now, id, &bytes) {
                        slot.face.note_valid(peer);
                        continue;
                    }
                }
                let dropped = node.stats().dropped_total();
                node.handle_packet(now, id, &bytes);
                if node.stats().dropped_total() == dropped {
                    slot.face.note_valid(peer);
                }
            }
            TransportEvent::Flushed(peer, bytes) => node.handle_flushed(now, engine_face(index, peer), bytes),
            TransportEvent::SendDropped(peer, bytes) => {
                let id = engine_face(index, peer);
                log::debug!("{}: {bytes} bytes of output dropped", peers.name(id, &slot.name));
                node.handle_send_dropped(now, id, bytes);
            }
        }
    }
}

/// Hands every face a fresh snapshot of the pub's state, if some face serves status requests.
/// Reads only what the engine and the store hold in memory: no I/O, microseconds per feed.
fn publish_status(
    builder: &mut Option<StatusBuilder>,
    node: &Node<FsStore>,
    slots: &mut [Slot],
    mesh: Option<&MeshLinks>,
) {
    let Some(builder) = builder else { return };
    let views: Vec<FaceView<'_>> = (slots.iter().enumerate())
        .map(|(index, s)| FaceView { index, name: &s.name, face: s.face.as_ref() })
        .collect();
    let mesh = mesh.map(|m| m.glue.status(node.stats().chunks_in));
    let snapshot = Arc::new(builder.build(node, &views, mesh));
    drop(views);
    for s in slots {
        s.face.set_status(&snapshot);
    }
}

/// A duration for people: `850 ms`, `12.5 s`, `3 min 20 s`, `2 h 5 min`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{} ms", d.as_millis()),
        1..=59 => format!("{:.1} s", d.as_secs_f64()),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

fn log_event(event: &Event, peers: &Peers) {
    match event {
        Event::FeedAdded(fid) => log::info!("feed added {fid}"),
        Event::EntryStored { fid, seq } => log::debug!("entry {fid}:{seq} stored"),
        Event::ChainComplete { fid, seq } => log::debug!("sidechain {fid}:{seq} complete"),
        Event::PeerInSync(face) => log::debug!("{}: in sync", peers.name(*face, "a gone peer")),
        Event::Dropped { face, reason } => {
            log::debug!("{}: packet dropped, {}", peers.name(*face, "a gone peer"), reason.name())
        }
        Event::StoreFailed(e) => log::error!("data directory write failed: {e}"),
        Event::Quarantined { fid, from, kept } => match kept {
            Some(path) => log::warn!(
                "feed {fid}: stored entry {from} failed its check (damaged disk?); it and all after it \
                 were moved to {} and will be fetched again",
                path.display()
            ),
            None => log::warn!("feed {fid}: stored entry {from} failed its check; refetching from there"),
        },
        Event::FeedForgotten(fid) => log::debug!("unconfirmed feed id {fid} left the GOset"),
        Event::FeedLearned(fid) => log::debug!("feed id {fid} learned"),
        Event::Asked { face, fid } => {
            log::debug!("{} asked for {fid}, which this pub does not hold", peers.name(*face, "a gone peer"));
        }
        Event::FeedDropped { fid, kept, idle } => {
            let why =
                idle.map_or(String::new(), |d| format!(" after {} without a new entry", human(d.into())));
            let kept = kept.as_ref().map_or(String::new(), |p| format!(", data kept in {}", p.display()));
            log::info!("feed {fid} dropped{why} (tombstoned{kept})")
        }
        Event::Refused { face, fid, reason } => match reason {
            // Ids arrive in GOset packets anyone can send: not worth more than a debug line.
            DropReason::Denied | DropReason::NotAllowed => {
                log::debug!("refused feed {fid} from {}: {}", peers.name(*face, "a gone peer"), reason.name())
            }
            _ => log::info!(
                "refused an entry of feed {fid} from {}: {}",
                peers.name(*face, "a gone peer"),
                reason.name()
            ),
        },
    }
}

/// The counters at the last summary, for the rates in the next one.
struct Totals {
    at: Instant,
    entries: u64,
    packets_in: u64,
    packets_out: u64,
}

impl Totals {
    fn new(node: &mut Node<FsStore>) -> Totals {
        let st = node.stats();
        let (packets_in, packets_out) = (st.packets_in, st.packets_out);
        Totals { at: Instant::now(), entries: entry_count(node), packets_in, packets_out }
    }
}

fn entry_count(node: &Node<FsStore>) -> u64 {
    let store = node.store();
    store.feeds().iter().filter_map(|f| store.frontier(f)).map(|f| u64::from(f.seq.0)).sum()
}

/// One line: totals, and rates since the last summary.
fn log_summary(node: &mut Node<FsStore>, slots: &[Slot], last: &mut Totals) {
    let now = Totals::new(node);
    let secs = now.at.duration_since(last.at).as_secs_f64().max(0.001);
    let rate = |new: u64, old: u64| new.saturating_sub(old) as f64 / secs;
    let st = node.stats();
    let peers: usize = slots.iter().map(|s| s.face.peers().len()).sum();
    let feeds = node.store().feeds().len();
    let unconfirmed = node.goset().unconfirmed_len();
    let (entries_per_s, in_per_s, out_per_s) = (
        rate(now.entries, last.entries),
        rate(now.packets_in, last.packets_in),
        rate(now.packets_out, last.packets_out),
    );
    let (chunks_in, dropped) = (st.chunks_in, st.dropped_total());
    let reasons: Vec<String> = DropReason::ALL
        .iter()
        .filter(|r| st.dropped(**r) > 0)
        .map(|r| format!("{} {}", r.name(), st.dropped(*r)))
        .collect();
    let why = if reasons.is_empty() { String::new() } else { format!(" ({})", reasons.join(", ")) };
    log::info!(
        feeds, unconfirmed, entries = now.entries, entries_per_s, chunks_in, peers, packets_in = now.packets_in,
        packets_in_per_s = in_per_s, packets_out = now.packets_out, packets_out_per_s = out_per_s, dropped;
        "summary: {feeds} feeds (+{unconfirmed} unconfirmed ids), {} entries ({entries_per_s:.1}/s), \
         {chunks_in} chunks in, {peers} peers, packets in {} ({in_per_s:.1}/s) out {} ({out_per_s:.1}/s), \
         dropped {dropped}{why}",
        now.entries,
        now.packets_in,
        now.packets_out,
    );
    *last = now;
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

    #[test]
    fn durations_and_packets_read_well() {
        assert_eq!(human(Duration::from_millis(850)), "850 ms");
        assert_eq!(human(Duration::from_millis(12_500)), "12.5 s");
        assert_eq!(human(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(human(Duration::from_secs(7500)), "2 h 5 min");
        assert_eq!(brief(&[1, 2]), "2B 0102");
        assert_eq!(brief(&[0xab; 40]), format!("40B {}..", "ab".repeat(32)));
    }

    #[test]
    fn data_directory_errors_name_the_directory() {
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        let e = store_error(Path::new("/srv/pub"), StoreError::Io(denied));
        assert!(e.to_string().starts_with("data directory /srv/pub is not writable"), "{e}");
        assert!(e.to_string().contains("frontier -d /srv/pub"), "{e}");
        let e = store_error(Path::new("/srv/pub"), StoreError::Corrupt("x".into()));
        assert!(e.to_string().starts_with("data directory /srv/pub: "), "{e}");
    }

    #[test]
    fn a_failed_start_removes_the_directories_it_created() {
        let tmp = tempfile::tempdir().unwrap();
        // A file where the data directory's parent should be: opening fails after nothing
        // was created, and the file stays.
        std::fs::write(tmp.path().join("file"), b"x").unwrap();
        let mut cfg = PubConfig {
            data: tmp.path().join("file/data"),
            role: Role::InOut,
            listen: None,
            connect: vec![],
            udp: vec![],
            multicast: vec![],
            kiss: vec![],
            max_conns: 1,
            idle_timeout: Duration::ZERO,
            max_per_ip: 0,
            durability: Durability::EveryWrite,
            summary_every: Duration::from_secs(60),
            admission: Admission::default(),
            goset_cap: tinyssb::node::DEFAULT_GOSET_CAP,
            max_queue_per_conn: 1 << 18,
            max_queue_total: 1 << 26,
            verify_threads: 0,
            expire_after: None,
            secure: None,
            mesh: None,
        };
        let Err(e) = open_store(&cfg) else { panic!("a data directory below a file opened") };
        assert!(e.to_string().starts_with("cannot create data directory "), "{e}");
        assert!(tmp.path().join("file").is_file());
        cfg.data = tmp.path().join("a/b/data");
        drop(open_store(&cfg).unwrap());
        assert!(cfg.data.is_dir());
    }
}

/// The pub loop's side of the mesh: the state machine, and which slots are mesh dials.
struct MeshLinks {
    glue: MeshGlue,
    /// Slot index → URL of the mesh dial it holds.
    urls: HashMap<usize, String>,
    /// Slots of finished mesh dials, reused by the next ones (their faces are down).
    free: Vec<usize>,
    ws: WsConfig,
}

impl MeshLinks {
    /// One turn of the mesh: ended dials, timers, actions, and its packets into the faces.
    fn run(
        &mut self,
        node: &mut Node<FsStore>,
        slots: &mut Vec<Slot>,
        poll: &Poll,
        now: tinyssb::time::Instant,
        peers: &mut Peers,
    ) {
        let ended: Vec<(usize, bool)> =
            (self.urls.keys()).filter_map(|i| Some((*i, slots.get(*i)?.face.ended()?))).collect();
        for (index, opened) in ended {
            if let Some(url) = self.urls.remove(&index) {
                if !opened {
                    self.glue.on_dial_failed(now, &url);
                }
            }
            self.vacate(slots, index);
        }
        if now >= self.glue.timeout() {
            self.glue.on_timeout(now);
        }
        for op in self.glue.step(node, now) {
            match op {
                LinkOp::Dial(url) => self.dial(slots, poll, now, url),
                LinkOp::HangUp(face) => {
                    let (index, _) = split_face(face);
                    let Some(slot) = slots.get_mut(index) else { continue };
                    if !self.urls.contains_key(&index) {
                        continue;
                    }
                    let mut events = Vec::new();
                    slot.face.hang_up(poll.registry(), &mut events);
                    deliver_one(node, slot, index, &mut events, now, peers, &mut None);
                    self.glue.on_face_down(now, face);
                }
            }
        }
        while let Some((face, bytes)) = self.glue.poll_transmit() {
            let (index, peer) = split_face(face);
            if let Some(s) = slots.get_mut(index) {
                s.face.send(Dest::Peer(peer), &bytes);
            }
        }
    }

    fn dial(&mut self, slots: &mut Vec<Slot>, poll: &Poll, now: tinyssb::time::Instant, url: String) {
        let index = self.free.pop().unwrap_or(slots.len());
        let client = match WsClient::new(index, &url, self.ws, Backoff::default()) {
            Ok(c) => c.one_shot(),
            Err(_) => {
                log::warn!("mesh: '{url}' is not a ws:// URL");
                self.free.push(index);
                return self.glue.on_dial_failed(now, &url);
            }
        };
        let mut slot =
            Slot { face: Box::new(client), kind: FaceKind::Reliable, name: format!("mesh link {url}") };
        if let Err(e) = slot.face.register(poll.registry()) {
            log::warn!("mesh: cannot dial {url}: {e}");
            self.free.push(index);
            return self.glue.on_dial_failed(now, &url);
        }
        match slots.get_mut(index) {
            Some(s) => *s = slot,
            None => slots.push(slot),
        }
        self.urls.insert(index, url);
    }

    /// Puts an inert transport in a finished dial's slot and lists the slot as free.
    fn vacate(&mut self, slots: &mut [Slot], index: usize) {
        if let Some(s) = slots.get_mut(index) {
            *s = Slot { face: Box::new(Vacant::default()), kind: FaceKind::Reliable, name: "vacant".into() };
            self.free.push(index);
        }
    }
}

/// The transport in the slot of a finished mesh dial until a new dial takes it.
#[derive(Default)]
struct Vacant {
    stats: crate::transport::TransportStats,
}

impl Transport for Vacant {
    fn register(&mut self, _registry: &mio::Registry) -> io::Result<()> {
        Ok(())
    }

    fn on_ready(
        &mut self,
        _registry: &mio::Registry,
        _event: &mio::event::Event,
        _out: &mut Vec<TransportEvent>,
    ) {
    }

    fn send(&mut self, _dest: Dest, _pkt: &[u8]) {
        self.stats.drop_no_peer += 1;
    }

    fn flush(&mut self, _registry: &mio::Registry, _out: &mut Vec<TransportEvent>) {}

    fn peers(&self) -> Vec<PeerId> {
        Vec::new()
    }

    fn stats(&self) -> &crate::transport::TransportStats {
        &self.stats
    }
}
