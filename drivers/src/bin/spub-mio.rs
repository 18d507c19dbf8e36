//! `spub-mio`: the tinySSB pub. A drop-in for the reference `spub.py`: same options, same data
//! directory format; plus UDP, multicast and KISS faces.

use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeSet;

use tinyssb::node::{Admission, Role};
use tinyssb::store::fs::Durability;
use tinyssb::FeedId;
use tinyssb_drivers::relay::{run, RelayConfig};

const HELP: &str = "\
spub-mio: a tinySSB pub (drop-in for spub.py)

usage: spub-mio [-d DATAPATH] [-role in|inout|out] [-v] [uri_or_port] [options]

  uri_or_port          a number: serve websockets on that port (e.g. 8080);
                       a ws:// or wss:// URL: connect to that pub (reconnects with
                       backoff; wss:// trusts the built-in Mozilla root certificates);
                       nothing: connect to ws://127.0.0.1:8080 (as spub.py does),
                       unless --connect, --udp, --mc or --kiss gives another face
  -d, --data DATAPATH  data directory, created if missing (default ./data);
                       the same format as spub.py's: one directory per feed.
                       One writer at a time: the pub locks DATAPATH/.tinyssb.lock
                       and exits with an error if another pub or tool holds it
  -role, --role ROLE   in: only fetch; out: only serve; inout: both (default inout)
  -v, --verbose        trace every packet (same as --log-level trace)

options beyond spub.py:
  --bind ADDR          address the websocket server listens on (default 0.0.0.0)
  --connect URL        also connect to this ws:// or wss:// URL (repeatable)
  --udp LOCAL,PEER     UDP unicast face, e.g. 0.0.0.0:5001,192.0.2.7:5001 (no CRC)
  --mc GROUP:PORT      UDP multicast face with CRC32 trailer (e.g. 224.1.1.1:5000)
  --kiss DEVICE[@BAUD] KISS framing on a serial device (default 115200 baud)
  --max-conns N        most websocket clients at once (default 1024); when full,
                       a newcomer evicts the client that has been idle longest
  --idle-timeout SECS  close websocket clients that send no valid packet for SECS
                       seconds (default 60; 0: never). Peers holding any feed
                       send a GOset claim at least every 15 s
  --max-per-ip N       most websocket clients from one address, an IPv6 /64
                       counting as one (default 64; 0: no limit). Behind a
                       reverse proxy all clients share its address: raise it
  --fsync POLICY       'every' (fsync each write) or 'batched' (default: at most
                       once a second; entries that reached the log survive a crash)
  --summary SECS       seconds between summary log lines (default 60)
  --log-level LEVEL    error, warn, info (default), debug or trace;
                       RUST_LOG overrides it
  -h, --help           this text

access and limits (refused ids and entries are counted as drops, never stored):
  --allow FILE         only replicate the feed ids listed in FILE (64 hex digits
                       per line; blank lines and '#' comments are allowed)
  --deny FILE          never replicate the feed ids listed in FILE (same format;
                       wins over --allow)
  --max-feeds N        most feeds the pub stores; the first entry of a further
                       feed is refused (default: no limit but the GOset's 100)
  --max-feed-bytes N   most bytes one feed's log.bin may take; an entry beyond
                       it is refused (default 4294967295, the format's limit)
  --max-sidechain-bytes N
                       largest content a chain20 entry may announce; a longer
                       one is refused (default 16M)
  --unconfirmed-ttl SECS
                       how long a feed id learned from a peer may wait for its
                       first valid entry before it leaves the GOset (default 600)
  --quarantine SECS    how long an id that left the GOset unconfirmed is not
                       learned again from peers (default 1200)
  Sizes are bytes, or a number with a K, M or G suffix (powers of 1024).
  A feed id learned from a peer gets a directory only once a valid signed
  entry of it arrives.

Stop with SIGINT or SIGTERM: the pub stops, persists the store and exits 0.
";

/// The batched policy: the relay syncs the store once a second; the write count only bounds
/// what a burst can leave unsynced (65536 writes, about 7.5 MiB).
const BATCHED: Durability = Durability::Batched { every: 65_536 };

struct Args {
    cfg: RelayConfig,
    log_level: String,
}

fn parse(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut cfg = RelayConfig {
        data: PathBuf::from("./data"),
        role: Role::InOut,
        listen: None,
        connect: Vec::new(),
        udp: Vec::new(),
        multicast: Vec::new(),
        kiss: Vec::new(),
        max_conns: 1024,
        idle_timeout: Duration::from_secs(60),
        max_per_ip: 64,
        durability: BATCHED,
        summary_every: Duration::from_secs(60),
        admission: Admission::default(),
    };
    let mut log_level = "info".to_string();
    let mut bind = "0.0.0.0".to_string();
    let mut target: Option<String> = None;
    let value = |it: &mut dyn Iterator<Item = String>, flag: &str| {
        it.next().ok_or_else(|| format!("{flag} needs a value"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-h" | "--help" | "-help" => return Ok(None),
            "-d" | "--data" | "-data" => cfg.data = PathBuf::from(value(&mut it, &arg)?),
            "-role" | "--role" => {
                cfg.role = match value(&mut it, &arg)?.as_str() {
                    "in" => Role::In,
                    "out" => Role::Out,
                    "inout" => Role::InOut,
                    other => return Err(format!("unknown role '{other}' (in, out or inout)")),
                }
            }
            "-v" | "--verbose" => log_level = "trace".into(),
            "--bind" => bind = value(&mut it, &arg)?,
            "--connect" => cfg.connect.push(value(&mut it, &arg)?),
            "--udp" => {
                let v = value(&mut it, &arg)?;
                let (l, p) = v.split_once(',').ok_or("--udp takes LOCAL,PEER")?;
                cfg.udp.push((resolve(l)?, resolve(p)?));
            }
            "--mc" => {
                let v = value(&mut it, &arg)?;
                cfg.multicast.push(v.parse::<SocketAddrV4>().map_err(|e| format!("--mc {v}: {e}"))?);
            }
            "--kiss" => {
                let v = value(&mut it, &arg)?;
                let (dev, baud) = match v.split_once('@') {
                    Some((d, b)) => (d.to_string(), b.parse().map_err(|_| format!("bad baud rate in {v}"))?),
                    None => (v.clone(), 115_200),
                };
                cfg.kiss.push((PathBuf::from(dev), baud));
            }
            "--max-conns" => {
                cfg.max_conns = value(&mut it, &arg)?.parse().map_err(|_| "--max-conns takes a number")?
            }
            "--idle-timeout" => {
                let secs: u64 = value(&mut it, &arg)?.parse().map_err(|_| "--idle-timeout takes seconds")?;
                cfg.idle_timeout = Duration::from_secs(secs);
            }
            "--max-per-ip" => {
                cfg.max_per_ip = value(&mut it, &arg)?.parse().map_err(|_| "--max-per-ip takes a number")?
            }
            "--fsync" => {
                cfg.durability = match value(&mut it, &arg)?.as_str() {
                    "every" => Durability::EveryWrite,
                    "batched" => BATCHED,
                    other => return Err(format!("unknown fsync policy '{other}' (every or batched)")),
                }
            }
            "--summary" => {
                let secs: u64 = value(&mut it, &arg)?.parse().map_err(|_| "--summary takes seconds")?;
                cfg.summary_every = Duration::from_secs(secs.max(1));
            }
            "--log-level" => log_level = value(&mut it, &arg)?,
            "--allow" => cfg.admission.allow = Some(read_id_file(&value(&mut it, &arg)?, &arg)?),
            "--deny" => cfg.admission.deny.extend(read_id_file(&value(&mut it, &arg)?, &arg)?),
            "--max-feeds" => {
                let v = value(&mut it, &arg)?;
                cfg.admission.max_feeds =
                    v.parse().map_err(|_| format!("--max-feeds takes a number, not '{v}'"))?
            }
            "--max-feed-bytes" => cfg.admission.max_feed_bytes = parse_size(&value(&mut it, &arg)?, &arg)?,
            "--max-sidechain-bytes" => {
                cfg.admission.max_sidechain_bytes = parse_size(&value(&mut it, &arg)?, &arg)?
            }
            "--unconfirmed-ttl" => {
                let v = value(&mut it, &arg)?;
                let secs: u64 =
                    v.parse().map_err(|_| format!("--unconfirmed-ttl takes seconds, not '{v}'"))?;
                cfg.admission.unconfirmed_ttl = tinyssb::time::Duration::from_secs(secs.max(1));
            }
            "--quarantine" => {
                let v = value(&mut it, &arg)?;
                let secs: u64 = v.parse().map_err(|_| format!("--quarantine takes seconds, not '{v}'"))?;
                cfg.admission.quarantine = tinyssb::time::Duration::from_secs(secs);
            }
            s if s.starts_with('-') => return Err(format!("unknown option '{s}' (see --help)")),
            _ if target.is_none() => target = Some(arg),
            _ => return Err(format!("unexpected argument '{arg}' (see --help)")),
        }
    }
    match target {
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            let port: u16 = t.parse().map_err(|_| format!("bad port {t}"))?;
            cfg.listen = Some(resolve(&format!("{bind}:{port}"))?);
        }
        Some(t) if t.starts_with("ws://") || t.starts_with("wss://") => cfg.connect.insert(0, t),
        Some(t) => return Err(format!("'{t}' is neither a port number nor a ws:// or wss:// URL")),
        // spub.py's default, kept unless the options already name a face (e.g. UDP only).
        None if cfg.connect.is_empty()
            && cfg.udp.is_empty()
            && cfg.multicast.is_empty()
            && cfg.kiss.is_empty() =>
        {
            cfg.connect.push("ws://127.0.0.1:8080".into())
        }
        None => {}
    }
    Ok(Some(Args { cfg, log_level }))
}

/// A byte count: digits, optionally followed by K, M or G (powers of 1024).
fn parse_size(v: &str, flag: &str) -> Result<u64, String> {
    let bad = || format!("{flag} takes a byte count such as 1048576, 512K, 16M or 2G, not '{v}'");
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
fn read_id_file(path: &str, flag: &str) -> Result<BTreeSet<FeedId>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{flag} {path}: {e}"))?;
    parse_ids(&text).map_err(|(line, why)| format!("{flag} {path}:{line}: {why}"))
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

fn resolve(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| format!("bad address '{s}'"))
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("spub-mio: {e}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::new()
        .parse_filters(&args.log_level)
        .parse_env("RUST_LOG")
        .format_timestamp_millis()
        .init();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, Arc::clone(&stop)) {
            eprintln!("spub-mio: cannot handle signal {sig}: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(&args.cfg, &stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            eprintln!("spub-mio: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connects(args: &[&str]) -> Vec<String> {
        let args = parse(args.iter().map(|s| s.to_string())).unwrap().unwrap();
        args.cfg.connect
    }

    fn parsed(args: &[&str]) -> Result<Args, String> {
        parse(args.iter().map(|s| s.to_string())).map(|a| a.expect("not --help"))
    }

    #[test]
    fn sizes_take_plain_bytes_and_suffixes() {
        assert_eq!(parse_size("1000", "-x"), Ok(1000));
        assert_eq!(parse_size("512K", "-x"), Ok(512 * 1024));
        assert_eq!(parse_size("16m", "-x"), Ok(16 << 20));
        assert_eq!(parse_size("2G", "-x"), Ok(2 << 30));
        for bad in ["", "K", "12T", "-1", "1.5M", "99999999999999999999", "20000000000G"] {
            assert!(parse_size(bad, "-x").is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_reach_the_engine_config() {
        let a =
            parsed(&["--max-feeds", "7", "--max-feed-bytes", "1M", "--max-sidechain-bytes", "4096"]).unwrap();
        assert_eq!(a.cfg.admission.max_feeds, 7);
        assert_eq!(a.cfg.admission.max_feed_bytes, 1 << 20);
        assert_eq!(a.cfg.admission.max_sidechain_bytes, 4096);
        let t = parsed(&["--unconfirmed-ttl", "30", "--quarantine", "0"]).unwrap().cfg.admission;
        assert_eq!((t.unconfirmed_ttl.0, t.quarantine.0), (30_000, 0));
        let d = parsed(&[]).unwrap().cfg.admission;
        assert_eq!(d, Admission::default());
        assert_eq!(d.max_sidechain_bytes, 16 << 20);
        assert!(parsed(&["--max-feeds", "many"]).is_err());
        assert!(parsed(&["--max-sidechain-bytes"]).is_err());
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
        let cfg = parsed(&["--allow", good.to_str().unwrap()]).unwrap().cfg;
        assert_eq!(cfg.admission.allow.map(|s| s.len()), Some(2));
        let e = parsed(&["--deny", bad.to_str().unwrap()]).err().unwrap();
        assert!(e.contains("deny.txt:2:") && e.contains("not-an-id"), "{e}");
        let e = parsed(&["--allow", "/nonexistent/list"]).err().unwrap();
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
        let cfg = |args: &[&str]| parse(args.iter().map(|s| s.to_string())).unwrap().unwrap().cfg;
        let d = cfg(&["8080"]);
        assert_eq!((d.idle_timeout, d.max_per_ip), (Duration::from_secs(60), 64));
        let c = cfg(&["8080", "--idle-timeout", "5", "--max-per-ip", "0"]);
        assert_eq!((c.idle_timeout, c.max_per_ip), (Duration::from_secs(5), 0));
        assert!(parse(["--idle-timeout", "soon"].iter().map(|s| s.to_string())).is_err());
        assert!(parse(["--max-per-ip", "-1"].iter().map(|s| s.to_string())).is_err());
    }
}
