//! `spub-mio`: the tinySSB pub. A drop-in for the reference `spub.py`: same options, same data
//! directory format; plus UDP, multicast and KISS faces.

// The clap types' doc comments are the --help text, written for a terminal, not Markdown.
#![allow(clippy::doc_markdown)]

use std::ffi::OsString;
use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeSet;

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use tinyssb::node::{Admission, Role};
use tinyssb::store::fs::Durability;
use tinyssb::FeedId;
use tinyssb_drivers::cli::{self, LogFormat};
use tinyssb_drivers::mesh::MeshOptions;
use tinyssb_drivers::pub_loop::{run, PubConfig, SecureOptions};
use tinyssb_drivers::ws::NOISE_SCHEME_PREFIX;

const EXAMPLES: &str = "\
Examples:
  spub-mio 8080                                  serve websockets on port 8080, data in ./data
  spub-mio -d /srv/pub ws://pub.example.org:8080 connect to another pub
  spub-mio 8080 --mc 224.1.1.1:5000              also speak UDP multicast
  spub-mio 8080 --kiss /dev/ttyUSB0@115200       also bridge to LoRa over serial KISS
  spub-mio --udp 0.0.0.0:5001,192.0.2.7:5001     UDP only, no websocket
  spub-mio -vd /srv/pub -role=out 8080           spub.py's spellings work too
  spub-mio 8080 --secure                         also offer secure (Noise) links
  spub-mio -d b 8081 --connect noise+ws://127.0.0.1:8080
                                                 dial a pub over a secure link
  spub-mio -d p2 8082 --announce ws://10.0.0.2:8082 --join ws://10.0.0.1:8080
                                                 join a mesh of pubs through one of them

spub.py's command lines are accepted as its argparse accepts them: -role, its
prefixes (-r, -ro) and -role=VALUE; -d DIR, -dDIR and -d=DIR; combined flags
such as -vd DIR. Stop with SIGINT or SIGTERM: the pub persists the store and
exits 0.

The websocket port also answers plain HTTP GET: / (a status page that refreshes
itself), /status.json, /metrics (Prometheus) and /healthz.";

/// spub.py's single-dash long options and the options they mean here.
const LEGACY: &[cli::Legacy] = &[("role", "role"), ("help", "help")];

/// The batched policy: the pub's loop syncs the store when a burst settles and at least once a
/// second; the write count only bounds
/// what a burst can leave unsynced (65536 writes, about 7.5 MiB).
const BATCHED: Durability = Durability::Batched { every: 65_536 };

/// The log filter `-v` adds: every packet (target `packet`) and the pub's own debug notes,
/// but not the trace output of the libraries underneath.
const VERBOSE: &str = "tinyssb_drivers=debug,packet=trace";

/// A tinySSB pub (drop-in for spub.py): relays feeds between websocket clients and servers,
/// UDP, multicast and LoRa (KISS) faces, storing them in spub.py's data directory format.
#[derive(Parser, Debug)]
#[command(name = "spub-mio", version, after_help = EXAMPLES, args_override_self = true, infer_long_args = true)]
struct Cli {
    /// A port number: serve websockets on it. A ws:// or wss:// URL: connect to that pub
    /// (reconnects with backoff; wss:// trusts the built-in Mozilla root certificates;
    /// noise+ws:// and noise+wss:// ask for a secure link). Nothing: connect to ws://127.0.0.1:8080 as spub.py does, unless --connect,
    /// --udp, --mc or --kiss gives another face
    #[arg(value_name = "URI_OR_PORT", allow_negative_numbers = true)]
    uri_or_port: Option<String>,

    /// Data directory, created if missing; spub.py's format (one directory per feed). One
    /// writer at a time: the pub locks DATAPATH/.tinyssb.lock
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATAPATH",
        default_value = "./data",
        allow_negative_numbers = true
    )]
    data: PathBuf,

    /// in: only fetch; out: only serve; inout: both. spub.py spells it -role
    #[arg(long, value_enum, default_value_t = RoleArg::Inout)]
    role: RoleArg,

    /// Trace every packet (and the pub's debug notes); adds to --log-level
    #[arg(short = 'v', long)]
    verbose: bool,

    /// Address the websocket server listens on
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0")]
    bind: String,

    /// Also connect to this ws://, wss://, noise+ws:// or noise+wss:// URL (repeatable). The
    /// noise+ forms run a secure link (Noise XX) inside the websocket and fail against a pub
    /// that does not offer one
    #[arg(long, value_name = "URL", value_parser = parse_ws_url)]
    connect: Vec<String>,

    /// UDP unicast face without CRC, e.g. 0.0.0.0:5001,192.0.2.7:5001 (repeatable)
    #[arg(long, value_name = "LOCAL,PEER", value_parser = parse_udp)]
    udp: Vec<(SocketAddr, SocketAddr)>,

    /// UDP multicast face with CRC32 trailer, e.g. 224.1.1.1:5000 (repeatable)
    #[arg(long, value_name = "GROUP:PORT")]
    mc: Vec<SocketAddrV4>,

    /// KISS framing on a serial device, default 115200 baud (repeatable)
    #[arg(long, value_name = "DEVICE[@BAUD]", value_parser = parse_kiss)]
    kiss: Vec<(PathBuf, u32)>,

    /// Most websocket clients at once; when full, a newcomer evicts the client idle longest
    #[arg(long, value_name = "N", default_value_t = 1024)]
    max_conns: usize,

    /// Close websocket clients that send no valid packet for SECS seconds (0: never). Peers
    /// holding any feed send a GOset claim at least every 15 s
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    idle_timeout: u64,

    /// Most websocket clients from one address, an IPv6 /64 counting as one (0: no limit).
    /// Behind a reverse proxy all clients share its address: raise it
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_per_ip: usize,

    /// every: fsync each write; batched: group commit when a burst settles, at least once a
    /// second under load (entries that reached the log
    /// survive a crash)
    #[arg(long, value_name = "POLICY", value_enum, default_value_t = Fsync::Batched)]
    fsync: Fsync,

    /// Seconds between summary log lines (totals and rates); 0 counts as 1
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    summary: u64,

    /// error, warn, info, debug, trace or off; or a list of TARGET=LEVEL (RUST_LOG overrides it)
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = cli::parse_log_level)]
    log_level: String,

    /// text: for people; json: one object per line (ts, level, target, msg)
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// Threads that check signatures beside the main loop (0: the loop checks them itself)
    /// [default: the number of cores]
    #[arg(long, value_name = "N")]
    verify_threads: Option<usize>,

    /// Most bytes of output queued for one connection (queued in the pub or in its socket
    /// buffer); answers to a peer that reads slowly wait for room. Bytes, or with K, M or G
    #[arg(long, value_name = "BYTES", default_value = "256K", value_parser = parse_size,
          help_heading = "Access and limits")]
    max_queue_per_conn: u64,

    /// Most bytes of output queued for all connections together
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size,
          help_heading = "Access and limits")]
    max_queue_total: u64,

    /// Only replicate the feed ids listed in FILE (64 hex digits per line; blank lines and
    /// '#' comments allowed); refused ids and entries are counted as drops, never stored
    #[arg(long, value_name = "FILE", help_heading = "Access and limits")]
    allow: Option<PathBuf>,

    /// Never replicate the feed ids listed in FILE (same format; wins over --allow; repeatable)
    #[arg(long, value_name = "FILE", help_heading = "Access and limits")]
    deny: Vec<PathBuf>,

    /// Most feeds the pub stores; the first entry of a further feed is refused [default: no
    /// limit but --goset-cap]
    #[arg(long, value_name = "N", help_heading = "Access and limits")]
    max_feeds: Option<usize>,

    /// Most feed ids the pub's GOset holds, stored or only learned (pubs of this kind exchange
    /// all of them; older peers get at most 100 each). A full set drops the oldest id still
    /// waiting for its first entry to make room
    #[arg(long, value_name = "N", default_value_t = tinyssb::node::DEFAULT_GOSET_CAP,
          value_parser = clap::value_parser!(usize), help_heading = "Access and limits")]
    goset_cap: usize,

    /// Most bytes one feed's log.bin may take; an entry beyond it is refused [default: the
    /// format's limit, 4294967295]
    #[arg(long, value_name = "BYTES", value_parser = parse_size, help_heading = "Access and limits")]
    max_feed_bytes: Option<u64>,

    /// Largest content a chain20 entry may announce; a longer one is refused
    #[arg(long, value_name = "BYTES", default_value = "16M", value_parser = parse_size,
          help_heading = "Access and limits")]
    max_sidechain_bytes: u64,

    /// How long a feed id learned from a peer may wait for its first valid entry before it
    /// leaves the GOset (it gets a directory only once such an entry arrives)
    #[arg(long, value_name = "SECS", default_value_t = 600, help_heading = "Access and limits")]
    unconfirmed_ttl: u64,

    /// How long an id that left the GOset unconfirmed is not learned again from peers
    #[arg(long, value_name = "SECS", default_value_t = 1200, help_heading = "Access and limits")]
    quarantine: u64,

    /// Drop feeds with no new entry for DAYS days (fractions allowed): each is moved to
    /// DATAPATH/.dropped/ and tombstoned, so peers cannot bring it back; checked hourly.
    /// 'tinyssb-feed undrop' takes a feed back [default: never]
    #[arg(long, value_name = "DAYS", value_parser = parse_days, help_heading = "Access and limits")]
    expire_after: Option<Duration>,

    /// Offer secure links (Noise XX: authenticated, encrypted) to websocket clients that ask for
    /// them (subprotocol tinyssb-noise); plain clients are served as before. Implied by the
    /// other options of this section and by a noise+ URL
    #[arg(long, help_heading = "Secure links")]
    secure: bool,

    /// The pub's static key for secure links: created with mode 0600 if missing, and its
    /// public half logged at start (peers put it in their --trust files)
    /// [default: DATAPATH/.secure_key]
    #[arg(long, value_name = "FILE", help_heading = "Secure links")]
    secure_key: Option<PathBuf>,

    /// Refuse websocket clients that do not ask for a secure link (HTTP 403) and plain ws://
    /// or wss:// URLs. UDP, multicast and KISS links are plain, so they cannot be combined
    /// with it
    #[arg(long, help_heading = "Secure links")]
    require_secure: bool,

    /// Complete secure handshakes only with the peer static keys listed in FILE (64 hex digits
    /// per line; blank lines and '#' comments allowed); other peers are refused after the
    /// handshake [default: any peer]
    #[arg(long, value_name = "FILE", help_heading = "Secure links")]
    trust: Option<PathBuf>,

    /// Join a mesh of pubs through the pub at this ws:// URL (repeatable): it is dialled until
    /// a first mesh link is up, then the pub finds the others itself (SPEC section 13)
    #[arg(long, value_name = "URL", value_parser = parse_ws_url, help_heading = "Mesh of pubs")]
    join: Vec<String>,
    /// Be a member of the mesh, reachable by other pubs at this ws:// URL (it goes into a signed
    /// announce in the pub's mesh feed). Without it a pub with --join links to the mesh and
    /// holds every feed, but no feed is placed on it
    #[arg(long, value_name = "URL", value_parser = parse_ws_url, help_heading = "Mesh of pubs")]
    announce: Option<String>,
    /// Pubs that hold each feed
    #[arg(long, value_name = "N", default_value_t = 3, help_heading = "Mesh of pubs")]
    replicas: usize,
    /// Links to other pubs this pub dials and keeps
    #[arg(long, value_name = "N", default_value_t = 6, help_heading = "Mesh of pubs")]
    mesh_links: usize,
    /// Most pubs the mesh keeps track of; ids beyond are ignored (and counted). Ids that never
    /// announce are forgotten after 10 minutes
    #[arg(long, value_name = "N", default_value_t = 4096, help_heading = "Mesh of pubs")]
    mesh_max_pubs: usize,
}

/// A positive number of days, fractions allowed, as a duration.
fn parse_days(s: &str) -> Result<Duration, String> {
    let days: f64 = s.parse().map_err(|_| format!("'{s}' is not a number of days"))?;
    if !days.is_finite() || days <= 0.0 || days > 100_000.0 {
        return Err(format!("'{s}' is not a number of days between 0 (excluded) and 100000"));
    }
    Ok(Duration::from_secs_f64(days * 86_400.0))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RoleArg {
    In,
    Inout,
    Out,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Fsync {
    Every,
    Batched,
}

/// What `main` needs: the pub loop's configuration and the logger's.
struct Args {
    cfg: PubConfig,
    log_filter: String,
    log_format: LogFormat,
}

/// Parses the command line (without the program name) as spub.py and this pub accept it.
fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Args, clap::Error> {
    let cmd = Cli::command();
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let argv = cli::normalise(args, &cmd, LEGACY)
        .map_err(|e| Cli::command().error(clap::error::ErrorKind::UnknownArgument, e))?;
    let matches = cmd.try_get_matches_from(std::iter::once(OsString::from("spub-mio")).chain(argv))?;
    let c = Cli::from_arg_matches(&matches)?;
    let invalid = |msg: String| Cli::command().error(clap::error::ErrorKind::ValueValidation, msg);
    let admission = admission(&c).map_err(invalid)?;
    let mut cfg = PubConfig {
        data: c.data,
        role: match c.role {
            RoleArg::In => Role::In,
            RoleArg::Out => Role::Out,
            RoleArg::Inout => Role::InOut,
        },
        listen: None,
        connect: c.connect,
        udp: c.udp,
        multicast: c.mc,
        kiss: c.kiss,
        max_conns: c.max_conns,
        idle_timeout: Duration::from_secs(c.idle_timeout),
        max_per_ip: c.max_per_ip,
        durability: match c.fsync {
            Fsync::Every => Durability::EveryWrite,
            Fsync::Batched => BATCHED,
        },
        summary_every: Duration::from_secs(c.summary.max(1)),
        max_queue_per_conn: usize::try_from(c.max_queue_per_conn).unwrap_or(usize::MAX),
        max_queue_total: usize::try_from(c.max_queue_total).unwrap_or(usize::MAX),
        verify_threads: c
            .verify_threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)),
        admission,
        goset_cap: c.goset_cap.max(1),
        expire_after: c.expire_after,
        secure: None,
        mesh: mesh_options(c.join, c.announce, c.replicas, c.mesh_links, c.mesh_max_pubs).map_err(invalid)?,
    };
    match c.uri_or_port {
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            let port: u16 = t.parse().map_err(|_| invalid(format!("port {t} is out of range (1-65535)")))?;
            cfg.listen = Some(resolve(&format!("{}:{port}", bracket(&c.bind))).map_err(invalid)?);
        }
        Some(t)
            if ["ws://", "wss://"]
                .iter()
                .any(|s| t.strip_prefix(NOISE_SCHEME_PREFIX).unwrap_or(&t).starts_with(s)) =>
        {
            cfg.connect.insert(0, parse_ws_url(&t).map_err(invalid)?)
        }
        Some(t) => return Err(invalid(format!("'{t}' is neither a port number nor a ws:// or wss:// URL"))),
        // spub.py's default, kept unless the options already name a face (e.g. UDP only).
        None if cfg.connect.is_empty()
            && cfg.mesh.is_none()
            && cfg.udp.is_empty()
            && cfg.multicast.is_empty()
            && cfg.kiss.is_empty() =>
        {
            cfg.connect.push("ws://127.0.0.1:8080".into())
        }
        None => {}
    }
    cfg.secure = secure_options(c.secure, c.secure_key, c.require_secure, c.trust.as_deref(), &cfg)
        .map_err(invalid)?;
    let log_filter = if c.verbose { format!("{},{VERBOSE}", c.log_level) } else { c.log_level };
    Ok(Args { cfg, log_filter, log_format: c.log_format })
}

/// The mesh settings; `None` without `--join` and `--announce`.
fn mesh_options(
    join: Vec<String>,
    announce: Option<String>,
    replicas: usize,
    links: usize,
    max_pubs: usize,
) -> Result<Option<MeshOptions>, String> {
    if join.is_empty() && announce.is_none() {
        return Ok(None);
    }
    if let Some(url) = &announce {
        if url.len() > tinyssb::mesh::record::MAX_URL {
            return Err(format!("--announce {url}: longer than {} bytes", tinyssb::mesh::record::MAX_URL));
        }
        if url.starts_with(NOISE_SCHEME_PREFIX) {
            return Err(format!("--announce {url}: mesh links are plain ws:// or wss:// for now"));
        }
    }
    if !(1..=16).contains(&replicas) || !(1..=64).contains(&links) {
        return Err("--replicas must be 1 to 16 and --mesh-links 1 to 64".into());
    }
    if max_pubs == 0 {
        return Err("--mesh-max-pubs must be at least 1".into());
    }
    let config = tinyssb::mesh::Config { replicas, links, max_pubs, ..tinyssb::mesh::Config::default() };
    Ok(Some(MeshOptions { join, announce, config }))
}

/// The secure-link settings from the options of that section and the URLs (reads the trust
/// list); `None` if nothing asks for secure links.
fn secure_options(
    secure: bool,
    key_file: Option<PathBuf>,
    require: bool,
    trust: Option<&std::path::Path>,
    cfg: &PubConfig,
) -> Result<Option<SecureOptions>, String> {
    let noise_url = cfg.connect.iter().any(|u| u.starts_with(NOISE_SCHEME_PREFIX));
    if !(secure || key_file.is_some() || require || trust.is_some() || noise_url) {
        return Ok(None);
    }
    if require {
        if let Some(url) = cfg.connect.iter().find(|u| !u.starts_with(NOISE_SCHEME_PREFIX)) {
            return Err(format!("--require-secure: '{url}' is a plain link; use noise+{url}"));
        }
        if !(cfg.udp.is_empty() && cfg.multicast.is_empty() && cfg.kiss.is_empty()) {
            return Err("--require-secure: UDP, multicast and KISS links are plain".to_owned());
        }
    }
    let trust = trust.map(tinyssb_drivers::noise::read_trust).transpose()?;
    let key_file = key_file.unwrap_or_else(|| cfg.data.join(".secure_key"));
    Ok(Some(SecureOptions { key_file, require, trust }))
}

/// The engine's admission rules from the access and limit options (reads the id lists).
fn admission(c: &Cli) -> Result<Admission, String> {
    let mut adm = Admission::default();
    if let Some(path) = &c.allow {
        adm.allow = Some(read_id_file(path, "--allow")?);
    }
    for path in &c.deny {
        adm.deny.extend(read_id_file(path, "--deny")?);
    }
    if let Some(n) = c.max_feeds {
        adm.max_feeds = n;
    }
    if let Some(n) = c.max_feed_bytes {
        adm.max_feed_bytes = n;
    }
    adm.max_sidechain_bytes = c.max_sidechain_bytes;
    adm.unconfirmed_ttl = tinyssb::time::Duration::from_secs(c.unconfirmed_ttl.max(1));
    adm.quarantine = tinyssb::time::Duration::from_secs(c.quarantine);
    Ok(adm)
}

/// A byte count: digits, optionally followed by K, M or G (powers of 1024).
fn parse_size(v: &str) -> Result<u64, String> {
    let bad = || format!("expected a byte count such as 1048576, 512K, 16M or 2G, not '{v}'");
    let t = v.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (t.get(..i).unwrap_or(""), Some(c.to_ascii_uppercase())),
        _ => (t, None),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale: u64 = match unit {
        None => 1,
        Some('K') => 1 << 10,
        Some('M') => 1 << 20,
        Some('G') => 1 << 30,
        Some(_) => return Err(bad()),
    };
    n.checked_mul(scale).ok_or_else(bad)
}

/// Reads a list of feed ids: one 64-digit hex id per line; blank lines and everything after a
/// '#' are ignored. Errors name the file and the line.
fn read_id_file(path: &std::path::Path, flag: &str) -> Result<BTreeSet<FeedId>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{flag} {}: {e}", path.display()))?;
    parse_ids(&text).map_err(|(line, why)| format!("{flag} {}:{line}: {why}", path.display()))
}

/// Parses the body of an id list; an error gives the 1-based line number and what is wrong.
fn parse_ids(text: &str) -> Result<BTreeSet<FeedId>, (usize, String)> {
    let mut ids = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let id = line.split('#').next().unwrap_or("").trim();
        if id.is_empty() {
            continue;
        }
        let fid =
            FeedId::from_hex(id).map_err(|_| (n + 1, format!("'{id}' is not a feed id (64 hex digits)")))?;
        ids.insert(fid);
    }
    Ok(ids)
}

/// An IPv6 literal in brackets, so a port can follow it.
fn bracket(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

fn resolve(s: &str) -> Result<SocketAddr, String> {
    match s.to_socket_addrs() {
        Ok(mut a) => a.next().ok_or_else(|| format!("address '{s}' resolves to nothing")),
        Err(e) => Err(format!("bad address '{s}': {e}")),
    }
}

fn parse_ws_url(v: &str) -> Result<String, String> {
    let plain = v.strip_prefix(NOISE_SCHEME_PREFIX).unwrap_or(v);
    let rest = plain.strip_prefix("ws://").or_else(|| plain.strip_prefix("wss://"));
    let host = rest.map(|rest| rest.split(['/', ':']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() => Ok(v.to_owned()),
        _ => Err("expected ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH] (noise+ in front for a secure link)"
            .to_owned()),
    }
}

fn parse_udp(v: &str) -> Result<(SocketAddr, SocketAddr), String> {
    let (l, p) = v.split_once(',').ok_or("expected LOCAL,PEER (two addresses with ports)")?;
    Ok((resolve(l)?, resolve(p)?))
}

fn parse_kiss(v: &str) -> Result<(PathBuf, u32), String> {
    match v.split_once('@') {
        Some((dev, baud)) => {
            Ok((PathBuf::from(dev), baud.parse().map_err(|_| format!("bad baud rate '{baud}'"))?))
        }
        None => Ok((PathBuf::from(v), 115_200)),
    }
}

fn main() -> ExitCode {
    let args = match parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => return cli::usage_exit("spub-mio", &e),
    };
    cli::init_logging(&args.log_filter, args.log_format);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            report(&format!("cannot handle signal {sig}: {e}"));
            return ExitCode::FAILURE;
        }
    }
    match run(&args.cfg, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e.to_string());
            ExitCode::FAILURE
        }
    }
}

/// Reports a fatal error once: in the log when it shows errors (so a JSON log stays JSON),
/// on stderr otherwise.
fn report(msg: &str) {
    if log::log_enabled!(log::Level::Error) {
        log::error!("{msg}");
    } else {
        eprintln!("spub-mio: error: {msg}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(args: &[&str]) -> Args {
        parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn err(args: &[&str]) -> String {
        match parse(args) {
            Ok(_) => panic!("{args:?} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    fn connects(args: &[&str]) -> Vec<String> {
        ok(args).cfg.connect
    }

    /// (data, role, listen port or connect URL, verbose) as spub.py's arguments would set them.
    fn summary(args: &[&str]) -> (String, Role, String, bool) {
        let a = ok(args);
        let target = match a.cfg.listen {
            Some(l) => l.port().to_string(),
            None => a.cfg.connect.first().cloned().unwrap_or_default(),
        };
        (a.cfg.data.display().to_string(), a.cfg.role, target, a.log_filter.contains("packet=trace"))
    }

    #[test]
    fn sizes_take_plain_bytes_and_suffixes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("16m"), Ok(16 << 20));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        for bad in ["", "K", "12T", "-1", "1.5M", "99999999999999999999", "20000000000G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn verify_threads_default_to_the_cores_and_zero_means_in_line() {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        assert_eq!(ok(&[]).cfg.verify_threads, cores);
        assert_eq!(ok(&["--verify-threads", "0"]).cfg.verify_threads, 0);
        assert_eq!(ok(&["--verify-threads=3"]).cfg.verify_threads, 3);
        err(&["--verify-threads", "-1"]);
    }

    #[test]
    fn limits_reach_the_engine_config() {
        let a = ok(&["--max-feeds", "7", "--max-feed-bytes", "1M", "--max-sidechain-bytes", "4096"]);
        assert_eq!(a.cfg.admission.max_feeds, 7);
        assert_eq!(a.cfg.goset_cap, tinyssb::node::DEFAULT_GOSET_CAP);
        assert_eq!(ok(&["--goset-cap", "500"]).cfg.goset_cap, 500);
        err(&["--goset-cap", "many"]);
        assert_eq!(a.cfg.admission.max_feed_bytes, 1 << 20);
        assert_eq!(a.cfg.admission.max_sidechain_bytes, 4096);
        let t = ok(&["--unconfirmed-ttl", "30", "--quarantine", "0"]).cfg.admission;
        assert_eq!((t.unconfirmed_ttl.0, t.quarantine.0), (30_000, 0));
        let d = ok(&[]);
        assert_eq!(d.cfg.admission, Admission::default());
        assert_eq!(d.cfg.admission.max_sidechain_bytes, 16 << 20);
        assert_eq!((d.cfg.max_queue_per_conn, d.cfg.max_queue_total), (256 << 10, 64 << 20));
        let q = ok(&["--max-queue-per-conn", "1M", "--max-queue-total", "1G"]);
        assert_eq!((q.cfg.max_queue_per_conn, q.cfg.max_queue_total), (1 << 20, 1 << 30));
        err(&["--max-feeds", "many"]);
        err(&["--max-sidechain-bytes"]);
    }

    #[test]
    fn expiry_takes_days_and_fractions() {
        assert_eq!(ok(&[]).cfg.expire_after, None);
        assert_eq!(ok(&["--expire-after", "30"]).cfg.expire_after, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(ok(&["--expire-after=0.5"]).cfg.expire_after, Some(Duration::from_secs(43_200)));
        for bad in ["0", "-1", "soon", "inf", "NaN", "1e9"] {
            err(&["--expire-after", bad]);
        }
    }

    #[test]
    fn id_files_allow_comments_and_name_the_bad_line() {
        let a = "aa".repeat(32);
        let b = "0B".repeat(32);
        let text = format!("# friends\n\n{a}\n  {b}  # bob\n");
        let ids = parse_ids(&text).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&FeedId([0xaa; 32])) && ids.contains(&FeedId([0x0b; 32])));
        assert_eq!(parse_ids(&format!("{a}\n\nxyz\n")).unwrap_err().0, 3);
        assert_eq!(parse_ids(&format!("# c\n{}\n", &a[..62])).unwrap_err().0, 2);

        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("allow.txt");
        std::fs::write(&good, &text).unwrap();
        let bad = dir.path().join("deny.txt");
        std::fs::write(&bad, format!("{a}\nnot-an-id\n")).unwrap();
        let cfg = ok(&["--allow", good.to_str().unwrap()]).cfg;
        assert_eq!(cfg.admission.allow.map(|s| s.len()), Some(2));
        let e = err(&["--deny", bad.to_str().unwrap()]);
        assert!(e.contains("deny.txt:2:") && e.contains("not-an-id"), "{e}");
        let e = err(&["--allow", "/nonexistent/list"]);
        assert!(e.contains("/nonexistent/list"), "{e}");
    }

    #[test]
    fn default_client_only_without_another_face() {
        assert_eq!(connects(&[]), ["ws://127.0.0.1:8080"]);
        assert_eq!(connects(&["-d", "x", "-role", "in"]), ["ws://127.0.0.1:8080"]);
        assert!(connects(&["--udp", "127.0.0.1:5001,127.0.0.1:5002"]).is_empty());
        assert!(connects(&["--kiss", "/dev/ttyUSB0"]).is_empty());
        assert!(connects(&["--mc", "224.1.1.1:5000"]).is_empty());
        assert_eq!(connects(&["--connect", "ws://h:1"]), ["ws://h:1"]);
        assert_eq!(connects(&["ws://h:2", "--connect", "ws://h:1"]), ["ws://h:2", "ws://h:1"]);
        assert_eq!(connects(&["wss://h:3/p", "--connect", "wss://h:4"]), ["wss://h:3/p", "wss://h:4"]);
        assert!(connects(&["8080", "--udp", "127.0.0.1:5001,127.0.0.1:5002"]).is_empty());
    }

    #[test]
    fn connection_limits_have_defaults_and_options() {
        let d = ok(&["8080"]).cfg;
        assert_eq!((d.idle_timeout, d.max_per_ip, d.max_conns), (Duration::from_secs(60), 64, 1024));
        let c = ok(&["8080", "--idle-timeout", "5", "--max-per-ip", "0", "--max-conns=7"]).cfg;
        assert_eq!((c.idle_timeout, c.max_per_ip, c.max_conns), (Duration::from_secs(5), 0, 7));
        err(&["--idle-timeout", "soon"]);
        err(&["--max-per-ip", "-1"]);
    }

    /// Every form below is what Python's argparse accepts for spub.py's definitions (checked
    /// against Python 3.11 and the 3.12+ `=` rules), with the values argparse gives them.
    #[test]
    fn spub_py_command_lines() {
        let dflt = || ("./data".to_owned(), Role::InOut, "ws://127.0.0.1:8080".to_owned(), false);
        let with = |d: &str, r: Role, t: &str, v: bool| (d.to_owned(), r, t.to_owned(), v);
        assert_eq!(summary(&[]), dflt());
        assert_eq!(summary(&["-role", "in"]), with("./data", Role::In, "ws://127.0.0.1:8080", false));
        assert_eq!(summary(&["-r", "in", "8080"]), with("./data", Role::In, "8080", false));
        assert_eq!(summary(&["-ro", "out"]).1, Role::Out);
        assert_eq!(summary(&["-rol", "inout"]).1, Role::InOut);
        assert_eq!(summary(&["-role=in"]).1, Role::In);
        assert_eq!(summary(&["-ro=out"]).1, Role::Out);
        assert_eq!(summary(&["--role", "out"]).1, Role::Out);
        assert_eq!(summary(&["-d", "DIR"]).0, "DIR");
        assert_eq!(summary(&["-d=DIR"]).0, "DIR");
        assert_eq!(summary(&["-dDIR"]).0, "DIR");
        assert_eq!(summary(&["-vd", "DIR", "8080"]), with("DIR", Role::InOut, "8080", true));
        assert_eq!(summary(&["-vdDIR"]), with("DIR", Role::InOut, "ws://127.0.0.1:8080", true));
        assert_eq!(summary(&["-vd=DIR"]).0, "DIR");
        assert_eq!(summary(&["-dv"]), with("v", Role::InOut, "ws://127.0.0.1:8080", false));
        // argparse reads -data as -d with the value "ata", then X as the positional.
        assert_eq!(summary(&["-data", "ws://x:1"]), with("ata", Role::InOut, "ws://x:1", false));
        assert_eq!(summary(&["8080", "-v", "-d", "x"]), with("x", Role::InOut, "8080", true));
        assert!(summary(&["-vv"]).3);
        assert_eq!(summary(&["-d", "a", "-d", "b", "-role", "in", "-r", "out"]).0, "b");
        assert_eq!(summary(&["-r", "in", "-r", "out"]).1, Role::Out);
        assert_eq!(summary(&["-d", "-1"]).0, "-1");
        assert_eq!(summary(&["--", "ws://h:9"]).2, "ws://h:9");
    }

    #[test]
    fn what_argparse_refuses_is_refused() {
        err(&["-vr", "in"]);
        err(&["-rolein"]);
        err(&["-role", "bad"]);
        err(&["-role"]);
        err(&["-d"]);
        err(&["-d", "-x"]);
        err(&["a", "b"]);
        err(&["8080", "ws://h:1"]);
        err(&["-x"]);
        err(&["-1"]);
    }

    #[test]
    fn help_and_version_are_not_errors() {
        for args in [&["-h"][..], &["--help"], &["--he"], &["-help"], &["-V"], &["--version"]] {
            let e = parse(args).err().unwrap_or_else(|| panic!("{args:?} parsed"));
            assert_eq!(e.exit_code(), 0, "{args:?}");
        }
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        assert!(err(&["99999"]).contains("out of range"));
        assert!(err(&["--bind", "not an address", "8080"]).contains("not an address"));
        assert!(err(&["--udp", "127.0.0.1:1"]).contains("LOCAL,PEER"));
        assert!(err(&["--kiss", "/dev/x@fast"]).contains("baud"));
        assert!(err(&["--fsync", "never"]).contains("never"));
        assert!(err(&["--summary", "-1"]).contains("-1"));
        assert_eq!(ok(&["--summary", "0"]).cfg.summary_every, Duration::from_secs(1));
        assert_eq!(ok(&["--connect", "wss://h"]).cfg.connect, ["wss://h"]);
        assert!(err(&["--connect", "wss://"]).contains("wss://HOST"));
        assert!(err(&["--connect", "ws://"]).contains("ws://HOST"));
        assert!(err(&["ws://:80"]).contains("ws://HOST"));
        assert!(err(&["--log-level", "loud"]).contains("unknown log level 'loud'"));
        assert!(err(&["--log-format", "xml"]).contains("xml"));
        assert!(err(&["--max", "3"]).contains("--max"));
        assert!(err(&["http://h"]).contains("neither a port"));
    }

    #[test]
    fn secure_links_are_off_unless_asked_for() {
        assert!(ok(&["8080"]).cfg.secure.is_none());
        let s = ok(&["-d", "/srv/pub", "8080", "--secure"]).cfg.secure.expect("on");
        assert_eq!(s.key_file, PathBuf::from("/srv/pub/.secure_key"));
        assert!(!s.require && s.trust.is_none());
        let s = ok(&["noise+ws://h:1", "--secure-key", "/k"]).cfg.secure.expect("on");
        assert_eq!(s.key_file, PathBuf::from("/k"));
        assert!(ok(&["--connect", "noise+wss://h/p"]).cfg.secure.is_some());
        assert_eq!(ok(&["noise+ws://h:1"]).cfg.connect, ["noise+ws://h:1"]);
        assert!(ok(&["8080", "--require-secure"]).cfg.secure.expect("on").require);
        assert!(err(&["8080", "--require-secure", "--connect", "ws://h"]).contains("noise+ws://h"));
        assert!(err(&["8080", "--require-secure", "--mc", "224.1.1.1:5000"]).contains("plain"));
        assert!(err(&["--connect", "noise+ws://"]).contains("ws://HOST"));
        assert!(err(&["8080", "--trust", "/nonexistent/trust"]).contains("--trust /nonexistent/trust"));
    }

    #[test]
    fn options_and_log_settings() {
        let a = ok(&["8080", "--bind", "127.0.0.1", "--fsync", "every", "--summary", "5"]);
        assert_eq!(a.cfg.listen, Some("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(a.cfg.durability, Durability::EveryWrite);
        assert_eq!(a.cfg.summary_every, Duration::from_secs(5));
        assert_eq!(ok(&["8080", "--bind", "::1"]).cfg.listen, Some("[::1]:8080".parse().unwrap()));
        let k = ok(&["--kiss", "/dev/a@9600", "--kiss", "/dev/b"]).cfg.kiss;
        assert_eq!(k, [(PathBuf::from("/dev/a"), 9600), (PathBuf::from("/dev/b"), 115_200)]);
        let a = ok(&["--log-level", "debug", "--log-format", "json"]);
        assert_eq!((a.log_filter.as_str(), a.log_format), ("debug", LogFormat::Json));
        assert_eq!(ok(&["-v"]).log_filter, format!("info,{VERBOSE}"));
    }
}
