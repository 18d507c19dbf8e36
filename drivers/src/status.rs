//! A snapshot of the pub's state, and its three renderings: Prometheus metrics, JSON and an HTML
//! status page.
//!
//! The pub's loop builds a [`Status`] about once a second ([`StatusBuilder::build`]) and hands it
//! to its faces ([`crate::transport::Transport::set_status`]); the websocket server answers plain HTTP
//! requests from the latest one. A snapshot is immutable once built: each rendering is produced
//! on first use and then reused, so a flood of requests costs at most one rendering per page and
//! second, and serving HTTP never reads the store or the engine.

use std::fmt::Write as _;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tinyssb::node::Node;
use tinyssb::stats::{DropReason, Stats};
use tinyssb::store::Store;

use crate::transport::{Transport, TransportStats};

/// Most peers listed on the HTML page; the rest are counted.
const HTML_PEERS: usize = 500;

/// One feed: how far it is, and what of its sidechains is still missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedStatus {
    /// Its position in the GOset (the feed index used in requests).
    pub index: usize,
    /// The feed id in hex.
    pub fid: String,
    /// Seq of the last entry held.
    pub seq: u32,
    /// Entries whose sidechain is incomplete.
    pub pending_chains: usize,
    /// Chunks already held of those incomplete sidechains.
    pub chunks_received: u64,
    /// Chunks still missing.
    pub chunks_missing: u64,
}

/// One reachable neighbour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The face it is reached through.
    pub face: usize,
    /// That face's kind (`ws-server`, `ws-client`, `udp`, ...).
    pub kind: &'static str,
    /// The face's id for it.
    pub peer: u64,
    /// Its address, where known.
    pub addr: Option<String>,
    /// Seconds since it became reachable, where known.
    pub connected_secs: Option<u64>,
    /// Bytes of packets received from it.
    pub bytes_in: u64,
    /// Bytes of packets sent to it.
    pub bytes_out: u64,
    /// Its static public key (hex) if the link to it is secure.
    pub secure_key: Option<String>,
}

/// One face.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceStatus {
    /// Its index in the pub.
    pub index: usize,
    /// Its kind.
    pub kind: &'static str,
    /// What it is bound or connected to.
    pub name: String,
    /// Neighbours reachable through it.
    pub peers: usize,
    /// Its counters.
    pub stats: TransportStats,
}

/// The pub's state at one moment.
#[derive(Debug)]
pub struct Status {
    /// When the snapshot was taken, in seconds since the Unix epoch.
    pub taken_unix: u64,
    /// Seconds since the pub started.
    pub uptime_secs: u64,
    /// The node's role (`in`, `out`, `inout`).
    pub role: String,
    /// Feeds in GOset order.
    pub feeds: Vec<FeedStatus>,
    /// Faces in index order.
    pub faces: Vec<FaceStatus>,
    /// Reachable neighbours of all faces.
    pub peers: Vec<PeerStatus>,
    /// The engine's counters.
    pub engine: Stats,
    /// Bytes of output the engine holds for all faces.
    pub queued_bytes: usize,
    /// The limit of that.
    pub queued_limit: usize,
    /// Entries stored per second since the previous snapshot.
    pub entries_per_sec: f64,
    /// Chunks stored per second since the previous snapshot.
    pub chunks_per_sec: f64,
    /// The pub's part in a mesh of pubs, if it takes part in one.
    pub mesh: Option<MeshStatus>,
    metrics: OnceLock<String>,
    json: OnceLock<String>,
    html: OnceLock<String>,
}

/// The pub's part in a mesh of pubs (see [`crate::mesh`]).
#[derive(Clone, Debug, Default)]
pub struct MeshStatus {
    /// The pub's id (its mesh feed).
    pub pub_id: String,
    /// The URL it announces, if it is a member.
    pub url: Option<String>,
    /// Live pubs, this one included.
    pub live: usize,
    /// Pubs known, live or not.
    pub known: usize,
    /// Pubs at the other end of mesh links.
    pub linked: usize,
    /// Data feeds this pub holds.
    pub held: usize,
    /// The mesh's counters.
    pub stats: tinyssb::mesh::MeshStats,
    /// Bytes the mesh cost this pub so far: mesh packets in and out, and the entries of mesh
    /// feeds it received (120 bytes each).
    pub maintenance_bytes: u64,
    /// Bytes of data feed entries and chunks it received (120 bytes each).
    pub data_bytes: u64,
}

/// A face as the builder sees it.
pub struct FaceView<'a> {
    /// Its index in the pub.
    pub index: usize,
    /// What it is bound or connected to.
    pub name: &'a str,
    /// The face.
    pub face: &'a dyn Transport,
}

/// Builds snapshots, remembering the previous one's counters for rates.
#[derive(Debug)]
pub struct StatusBuilder {
    started: Instant,
    last: Option<(Instant, u64, u64)>,
}

impl Default for StatusBuilder {
    fn default() -> Self {
        StatusBuilder { started: Instant::now(), last: None }
    }
}

impl StatusBuilder {
    /// A snapshot of `node` and `faces`. Reads only what the engine and store hold in memory.
    pub fn build<S: Store>(
        &mut self,
        node: &Node<S>,
        faces: &[FaceView<'_>],
        mesh: Option<MeshStatus>,
    ) -> Status {
        let now = Instant::now();
        let taken_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let store = node.store();
        let feeds = (node.goset().keys().iter().enumerate())
            .map(|(index, fid)| {
                let pending = store.pending_chains(fid);
                FeedStatus {
                    index,
                    fid: fid.to_string(),
                    seq: store.frontier(fid).map_or(0, |f| f.seq.0),
                    pending_chains: pending.len(),
                    chunks_received: pending.iter().map(|p| u64::from(p.next_chunk)).sum(),
                    chunks_missing: pending.iter().map(|p| u64::from(p.remaining)).sum(),
                }
            })
            .collect();
        let mut peers = Vec::new();
        let mut face_list = Vec::new();
        for v in faces {
            let kind = v.face.kind_name();
            let info = v.face.peer_info();
            face_list.push(FaceStatus {
                index: v.index,
                kind,
                name: v.name.to_string(),
                peers: info.len(),
                stats: *v.face.stats(),
            });
            peers.extend(info.into_iter().map(|p| PeerStatus {
                face: v.index,
                kind,
                peer: p.peer.0,
                addr: p.addr.map(|a| a.to_string()),
                connected_secs: p.since.map(|t| now.saturating_duration_since(t).as_secs()),
                bytes_in: p.bytes_in,
                bytes_out: p.bytes_out,
                secure_key: p.secure_key.map(|k| tinyssb::ids::to_hex(&k)),
            }));
        }
        let engine = node.stats().clone();
        let (entries_per_sec, chunks_per_sec) = match self.last {
            Some((then, entries, chunks)) if now > then => {
                let secs = now.duration_since(then).as_secs_f64();
                (
                    engine.entries_in.saturating_sub(entries) as f64 / secs,
                    engine.chunks_in.saturating_sub(chunks) as f64 / secs,
                )
            }
            _ => (0.0, 0.0),
        };
        self.last = Some((now, engine.entries_in, engine.chunks_in));
        Status {
            taken_unix,
            uptime_secs: now.duration_since(self.started).as_secs(),
            role: format!("{:?}", node.config().role).to_lowercase(),
            feeds,
            faces: face_list,
            peers,
            engine,
            queued_bytes: node.queued_bytes(),
            queued_limit: node.config().max_queued_total,
            entries_per_sec,
            chunks_per_sec,
            mesh,
            metrics: OnceLock::new(),
            json: OnceLock::new(),
            html: OnceLock::new(),
        }
    }
}

impl Status {
    /// Entries held in all feeds.
    pub fn entries(&self) -> u64 {
        self.feeds.iter().map(|f| u64::from(f.seq)).sum()
    }

    /// Sidechain chunks missing in all feeds.
    pub fn chunks_missing(&self) -> u64 {
        self.feeds.iter().map(|f| f.chunks_missing).sum()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn metrics(&self) -> &str {
        self.metrics.get_or_init(|| render_metrics(self))
    }

    /// The snapshot as a JSON document.
    pub fn json(&self) -> &str {
        self.json.get_or_init(|| render_json(self))
    }

    /// The HTML status page.
    pub fn html(&self) -> &str {
        self.html.get_or_init(|| render_html(self))
    }
}

// ---- Prometheus ----

struct Metrics(String);

impl Metrics {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP tinyssb_{name} {help}\n# TYPE tinyssb_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str("tinyssb_");
        self.0.push_str(name);
        if !labels.is_empty() {
            let parts: Vec<String> =
                labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape_label(v))).collect();
            let _ = write!(self.0, "{{{}}}", parts.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render_metrics(s: &Status) -> String {
    let mut m = Metrics(String::with_capacity(8 * 1024));
    let e = &s.engine;
    m.one("up", "gauge", "1 while the pub's loop runs.", 1);
    m.one("uptime_seconds", "gauge", "Seconds since the pub started.", s.uptime_secs);
    m.one("feeds", "gauge", "Feeds in the GOset.", s.feeds.len());
    m.one("entries", "gauge", "Entries held in all feeds.", s.entries());
    m.one("pending_chains", "gauge", "Entries whose sidechain is incomplete.", {
        s.feeds.iter().map(|f| f.pending_chains).sum::<usize>()
    });
    m.one("chunks_missing", "gauge", "Sidechain chunks announced but not held yet.", s.chunks_missing());
    if let Some(mesh) = &s.mesh {
        m.one("mesh_live_pubs", "gauge", "Live pubs of the mesh, this one included.", mesh.live);
        m.one("mesh_linked_pubs", "gauge", "Pubs at the other end of mesh links.", mesh.linked);
        m.one("mesh_held_feeds", "gauge", "Data feeds this pub holds in the mesh.", mesh.held);
        m.one(
            "mesh_maintenance_bytes_total",
            "counter",
            "Bytes the mesh cost: its packets and mesh-feed entries.",
            mesh.maintenance_bytes,
        );
        m.one(
            "mesh_data_bytes_total",
            "counter",
            "Bytes of data entries and chunks received.",
            mesh.data_bytes,
        );
        m.one(
            "mesh_pubs_refused_total",
            "counter",
            "Pub ids ignored because the mesh's table of pubs was full.",
            mesh.stats.pubs_refused,
        );
        m.one(
            "mesh_pubs_expired_total",
            "counter",
            "Pubs forgotten because they never announced.",
            mesh.stats.pubs_expired,
        );
    }

    m.family("connections", "gauge", "Reachable neighbours by face kind.");
    let mut kinds: Vec<&str> = s.faces.iter().map(|f| f.kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    for kind in kinds {
        let n: usize = s.faces.iter().filter(|f| f.kind == kind).map(|f| f.peers).sum();
        m.sample("connections", &[("kind", kind)], n);
    }

    let counters: [(&str, &str, u64); 14] = [
        ("packets_received_total", "Packets handed to the engine.", e.packets_in),
        ("packets_sent_total", "Packets the engine sent.", e.packets_out),
        ("entries_received_total", "Entries verified and stored.", e.entries_in),
        ("chunks_received_total", "Sidechain chunks verified and stored.", e.chunks_in),
        ("entries_served_total", "Entries sent in answer to requests.", e.entries_out),
        ("chunks_served_total", "Chunks sent in answer to requests.", e.chunks_out),
        ("wants_sent_total", "WANT requests sent.", e.wants_out),
        ("chnks_sent_total", "CHNK requests sent.", e.chnks_out),
        ("goset_sent_total", "GOset packets sent.", e.goset_out),
        (
            "output_dropped_total",
            "Control packets not queued because a face's output was full.",
            e.out_dropped,
        ),
        ("send_dropped_total", "Times a face reported output it dropped instead of writing.", e.send_dropped),
        ("entries_audited_total", "Stored entries checked before they were first served.", e.entries_audited),
        ("feeds_quarantined_total", "Feeds whose stored tail failed its check.", e.quarantined),
        ("packets_dropped_total", "Incoming packets dropped, all reasons.", e.dropped_total()),
    ];
    for (name, help, value) in counters {
        if name == "packets_dropped_total" {
            m.family(name, "counter", "Incoming packets dropped, by reason.");
            for r in DropReason::ALL {
                m.sample(name, &[("reason", r.name())], e.dropped(r));
            }
        } else {
            m.one(name, "counter", help, value);
        }
    }
    m.one("queued_output_bytes", "gauge", "Bytes of output the engine holds for all faces.", s.queued_bytes);
    m.one(
        "queued_output_limit_bytes",
        "gauge",
        "Limit of the engine's output for all faces.",
        s.queued_limit,
    );

    /// A family of per-face counters: name, help, and (label value, counter) pairs.
    type Family = (&'static str, &'static str, &'static [(&'static str, fn(&TransportStats) -> u64)]);
    let face_families: [Family; 8] = [
        ("face_packets_received_total", "Packets a face received.", &[("", |f| f.packets_in)]),
        ("face_packets_sent_total", "Packets a face sent.", &[("", |f| f.packets_out)]),
        ("face_bytes_received_total", "Bytes of packets a face received.", &[("", |f| f.bytes_in)]),
        ("face_bytes_sent_total", "Bytes of packets a face sent.", &[("", |f| f.bytes_out)]),
        (
            "face_dropped_total",
            "Packets a face dropped, by reason.",
            &[
                ("size-in", |f| f.drop_size_in),
                ("size-out", |f| f.drop_size_out),
                ("bad-crc", |f| f.drop_bad_crc),
                ("queue-full", |f| f.drop_queue_full),
                ("no-peer", |f| f.drop_no_peer),
                ("framing", |f| f.drop_framing),
            ],
        ),
        (
            "face_closed_total",
            "Connections a face closed or lost, by reason.",
            &[
                ("protocol", |f| f.closed_protocol),
                ("io", |f| f.closed_io),
                ("idle", |f| f.closed_idle),
                ("evicted", |f| f.evicted),
            ],
        ),
        (
            "face_refused_total",
            "Incoming connections refused, by reason.",
            &[("limit", |f| f.refused), ("per-ip", |f| f.refused_per_ip)],
        ),
        (
            "face_events_total",
            "Other face events: accept pauses for lack of descriptors, plain HTTP requests.",
            &[("accept-paused", |f| f.accept_paused), ("http-request", |f| f.http_requests)],
        ),
    ];
    for (name, help, parts) in face_families {
        m.family(name, "counter", help);
        for f in &s.faces {
            let index = f.index.to_string();
            for (reason, get) in parts {
                let mut labels = vec![("face", index.as_str()), ("kind", f.kind)];
                if !reason.is_empty() {
                    let key = if name == "face_events_total" { "event" } else { "reason" };
                    labels.push((key, reason));
                }
                m.sample(name, &labels, get(&f.stats));
            }
        }
    }
    m.0
}

// ---- JSON ----

fn render_json(s: &Status) -> String {
    use serde_json::json;
    let e = &s.engine;
    let dropped: serde_json::Map<String, serde_json::Value> =
        DropReason::ALL.iter().map(|r| (r.name().to_string(), json!(e.dropped(*r)))).collect();
    let doc = json!({
        "taken_unix": s.taken_unix,
        "uptime_secs": s.uptime_secs,
        "role": s.role,
        "totals": {
            "feeds": s.feeds.len(),
            "entries": s.entries(),
            "chunks_missing": s.chunks_missing(),
            "peers": s.peers.len(),
            "packets_in": e.packets_in,
            "packets_out": e.packets_out,
            "entries_in": e.entries_in,
            "chunks_in": e.chunks_in,
            "entries_out": e.entries_out,
            "chunks_out": e.chunks_out,
            "dropped": dropped,
            "queued_bytes": s.queued_bytes,
            "entries_per_sec": s.entries_per_sec,
            "chunks_per_sec": s.chunks_per_sec,
        },
        "mesh": s.mesh.as_ref().map(|m| json!({
            "pub_id": m.pub_id,
            "url": m.url,
            "live_pubs": m.live,
            "known_pubs": m.known,
            "linked_pubs": m.linked,
            "held_feeds": m.held,
            "dials": m.stats.dials,
            "dial_failures": m.stats.dial_failures,
            "sessions": m.stats.sessions,
            "announces": m.stats.announces,
            "downs": m.stats.downs,
            "pubs_refused": m.stats.pubs_refused,
            "pubs_expired": m.stats.pubs_expired,
            "records": m.stats.records,
            "packets_in": m.stats.packets_in,
            "packets_out": m.stats.packets_out,
            "maintenance_bytes": m.maintenance_bytes,
            "data_bytes": m.data_bytes,
        })),
        "feeds": s.feeds.iter().map(|f| json!({
            "index": f.index,
            "fid": f.fid,
            "seq": f.seq,
            "pending_chains": f.pending_chains,
            "chunks_received": f.chunks_received,
            "chunks_missing": f.chunks_missing,
        })).collect::<Vec<_>>(),
        "peers": s.peers.iter().map(|p| json!({
            "face": p.face,
            "kind": p.kind,
            "peer": p.peer,
            "addr": p.addr,
            "connected_secs": p.connected_secs,
            "bytes_in": p.bytes_in,
            "bytes_out": p.bytes_out,
            "secure_key": p.secure_key,
        })).collect::<Vec<_>>(),
        "faces": s.faces.iter().map(|f| json!({
            "index": f.index,
            "kind": f.kind,
            "name": f.name,
            "peers": f.peers,
            "packets_in": f.stats.packets_in,
            "packets_out": f.stats.packets_out,
            "bytes_in": f.stats.bytes_in,
            "bytes_out": f.stats.bytes_out,
            "refused": f.stats.refused + f.stats.refused_per_ip,
            "evicted": f.stats.evicted,
            "closed_idle": f.stats.closed_idle,
        })).collect::<Vec<_>>(),
    });
    let mut text = doc.to_string();
    text.push('\n');
    text
}

// ---- HTML ----

/// `text` with the characters that mean something in HTML (text or attribute) escaped.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A byte count for people: `812 B`, `3.4 KiB`, `1.2 MiB`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS.get(unit).copied().unwrap_or("B"))
}

/// A duration for people: `42 s`, `7 min`, `3 h 5 min`, `2 d 4 h`.
fn human_secs(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86400, s % 86400 / 3600),
    }
}

/// Seconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC` (the calendar of [`crate::inspect::utc`]).
pub fn utc(secs: u64) -> String {
    format!("{} UTC", crate::inspect::utc(i64::try_from(secs).unwrap_or(i64::MAX)))
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\
h1{font-size:1.4em;margin:0 0 .2em}h2{font-size:1.1em;margin:1.4em 0 .4em}\
.sub{color:#666;margin-bottom:1em}\
table{border-collapse:collapse;background:#fff;box-shadow:0 0 0 1px #ddd}\
th,td{padding:.25em .7em;text-align:left;border-bottom:1px solid #eee;vertical-align:top}\
th{background:#f0f0f0;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\
code{font-size:12px}.totals td{min-width:6em}\
progress{width:8em;vertical-align:middle}.ok{color:#2a7}.warn{color:#b60}";

fn render_html(s: &Status) -> String {
    let e = &s.engine;
    let mut h = String::with_capacity(16 * 1024);
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>tinySSB pub</title><style>",
    );
    h.push_str(STYLE);
    h.push_str("</style></head><body>\n<h1>tinySSB pub</h1>\n");
    let _ = writeln!(
        h,
        "<div class=\"sub\">role {} &middot; up {} &middot; as of {} &middot; refreshes every 5 s \
         &middot; <a href=\"/metrics\">metrics</a> &middot; <a href=\"/status.json\">json</a></div>",
        escape_html(&s.role),
        human_secs(s.uptime_secs),
        utc(s.taken_unix)
    );

    if let Some(m) = &s.mesh {
        let _ = writeln!(
            h,
            "<div class=\"sub\" id=\"mesh\">mesh pub {} {} &middot; {} live pubs of {} known &middot; {} linked \
             &middot; holds {} feeds</div>",
            escape_html(&m.pub_id),
            m.url.as_deref().map_or_else(|| "(not a member)".to_owned(), |u| format!("at {}", escape_html(u))),
            m.live,
            m.known,
            m.linked,
            m.held
        );
    }
    h.push_str("<h2>Totals</h2>\n<table class=\"totals\" id=\"totals\"><tr>");
    let totals: [(&str, String); 9] = [
        ("feeds", s.feeds.len().to_string()),
        ("entries", s.entries().to_string()),
        ("chunks missing", s.chunks_missing().to_string()),
        ("peers", s.peers.len().to_string()),
        ("packets in", e.packets_in.to_string()),
        ("packets out", e.packets_out.to_string()),
        ("dropped", e.dropped_total().to_string()),
        ("queued output", human_bytes(s.queued_bytes as u64)),
        ("entries/s", format!("{:.0}", s.entries_per_sec)),
    ];
    for (name, _) in &totals {
        let _ = write!(h, "<th>{}</th>", escape_html(name));
    }
    h.push_str("</tr><tr>");
    for (name, value) in &totals {
        let _ = write!(h, "<td class=\"n\" data-total=\"{}\">{}</td>", escape_html(name), escape_html(value));
    }
    h.push_str("</tr></table>\n");

    let _ = writeln!(h, "<h2>Feeds ({})</h2>", s.feeds.len());
    if s.feeds.is_empty() {
        h.push_str("<p>No feeds yet.</p>\n");
    } else {
        h.push_str(
            "<table id=\"feeds\"><tr><th>#</th><th>feed id</th><th>seq</th>\
             <th>incomplete sidechains</th><th>chunks missing</th><th>sidechain progress</th></tr>\n",
        );
        for f in &s.feeds {
            let progress = if f.chunks_missing == 0 {
                "<span class=\"ok\">complete</span>".to_string()
            } else {
                let total = f.chunks_received + f.chunks_missing;
                format!(
                    "<progress max=\"{total}\" value=\"{}\"></progress> {} / {total}",
                    f.chunks_received, f.chunks_received
                )
            };
            let _ = writeln!(
                h,
                "<tr class=\"feed\"><td class=\"n\">{}</td><td><code class=\"fid\">{}</code></td>\
                 <td class=\"n seq\">{}</td><td class=\"n\">{}</td><td class=\"n missing\">{}</td><td>{progress}</td></tr>",
                f.index,
                escape_html(&f.fid),
                f.seq,
                f.pending_chains,
                f.chunks_missing
            );
        }
        h.push_str("</table>\n");
    }

    let _ = writeln!(h, "<h2>Peers ({})</h2>", s.peers.len());
    if s.peers.is_empty() {
        h.push_str("<p>No peers connected.</p>\n");
    } else {
        h.push_str(
            "<table id=\"peers\"><tr><th>face</th><th>kind</th><th>peer</th><th>address</th>\
             <th>connected</th><th>bytes in</th><th>bytes out</th></tr>\n",
        );
        for p in s.peers.iter().take(HTML_PEERS) {
            let since = p.connected_secs.map_or_else(
                || "&ndash;".to_string(),
                |c| format!("{} ago, since {}", human_secs(c), utc(s.taken_unix.saturating_sub(c))),
            );
            let _ = writeln!(
                h,
                "<tr class=\"peer\"><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td>\
                 <td>{since}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                p.face,
                escape_html(&format!("{}{}", p.kind, if p.secure_key.is_some() { " (secure)" } else { "" })),
                p.peer,
                escape_html(p.addr.as_deref().unwrap_or("-")),
                human_bytes(p.bytes_in),
                human_bytes(p.bytes_out)
            );
        }
        if s.peers.len() > HTML_PEERS {
            let _ = writeln!(
                h,
                "<tr><td colspan=\"7\">&hellip; and {} more</td></tr>",
                s.peers.len() - HTML_PEERS
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str(
        "<h2>Faces</h2>\n<table id=\"faces\"><tr><th>#</th><th>kind</th><th>name</th><th>peers</th>\
         <th>packets in</th><th>packets out</th><th>bytes in</th><th>bytes out</th><th>refused</th>\
         <th>evicted</th><th>closed idle</th><th>HTTP requests</th></tr>\n",
    );
    for f in &s.faces {
        let st = &f.stats;
        let _ = writeln!(
            h,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            f.index,
            escape_html(f.kind),
            escape_html(&f.name),
            f.peers,
            st.packets_in,
            st.packets_out,
            human_bytes(st.bytes_in),
            human_bytes(st.bytes_out),
            st.refused + st.refused_per_ip,
            st.evicted,
            st.closed_idle,
            st.http_requests
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            taken_unix: 1_700_000_000,
            uptime_secs: 3725,
            role: "inout".into(),
            feeds: vec![FeedStatus {
                index: 0,
                fid: "ab<cd>".into(),
                seq: 7,
                pending_chains: 1,
                chunks_received: 3,
                chunks_missing: 5,
            }],
            faces: vec![FaceStatus {
                index: 0,
                kind: "ws-server",
                name: "ws://0.0.0.0:8080 \"x\"".into(),
                peers: 1,
                stats: TransportStats { packets_in: 4, http_requests: 2, ..TransportStats::default() },
            }],
            peers: vec![PeerStatus {
                face: 0,
                kind: "ws-server",
                peer: 3,
                addr: Some("<script>".into()),
                connected_secs: Some(61),
                bytes_in: 2048,
                bytes_out: 5,
                secure_key: Some("ab".repeat(32)),
            }],
            engine: Stats::default(),
            queued_bytes: 120,
            queued_limit: 1 << 20,
            entries_per_sec: 0.0,
            chunks_per_sec: 0.0,
            mesh: None,
            metrics: OnceLock::new(),
            json: OnceLock::new(),
            html: OnceLock::new(),
        }
    }

    #[test]
    fn metrics_are_prometheus_text_with_help_and_type() {
        let s = sample();
        let m = s.metrics();
        assert!(m.contains("# HELP tinyssb_feeds "));
        assert!(m.contains("# TYPE tinyssb_feeds gauge\ntinyssb_feeds 1\n"));
        assert!(m.contains("tinyssb_entries 7\n"));
        assert!(m.contains("tinyssb_chunks_missing 5\n"));
        assert!(m.contains("tinyssb_connections{kind=\"ws-server\"} 1\n"));
        assert!(m.contains("tinyssb_queued_output_bytes 120\n"));
        for r in DropReason::ALL {
            assert!(m.contains(&format!("tinyssb_packets_dropped_total{{reason=\"{}\"}} 0\n", r.name())));
        }
        assert!(
            m.contains("tinyssb_face_events_total{face=\"0\",kind=\"ws-server\",event=\"http-request\"} 2\n")
        );
        // Each family is announced once, and every sample belongs to an announced family.
        let mut typed = std::collections::BTreeSet::new();
        for line in m.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap_or_default();
                assert!(typed.insert(name.to_string()), "{name} announced twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                assert!(typed.contains(name), "{name} has no TYPE line");
                assert!(name.starts_with("tinyssb_"));
            }
        }
    }

    #[test]
    fn html_escapes_what_it_shows() {
        let s = sample();
        let h = s.html();
        assert!(h.contains("ab&lt;cd&gt;"));
        assert!(h.contains("&lt;script&gt;"));
        assert!(h.contains("&quot;x&quot;"));
        assert!(!h.contains("<script>"));
        assert!(h.contains("http-equiv=\"refresh\""));
        assert!(h.contains("1 min ago, since 2023-11-14 22:12:19 UTC"));
        assert!(h.contains("2.0 KiB"));
        let v: serde_json::Value = serde_json::from_str(s.json()).unwrap_or_default();
        assert_eq!(v["feeds"][0]["chunks_missing"], 5);
        assert_eq!(v["peers"][0]["addr"], "<script>");
        assert_eq!(v["peers"][0]["secure_key"], "ab".repeat(32));
        assert!(h.contains("ws-server (secure)"));
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
