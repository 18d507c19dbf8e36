//! `spub-mio`: the tinySSB pub. A drop-in for the reference `spub.py`: same options, same data
//! directory format; plus UDP, multicast and KISS faces.

use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tinyssb::node::{Admission, Role};
use tinyssb::store::fs::Durability;
use tinyssb_drivers::relay::{run, RelayConfig};

const HELP: &str = "\
spub-mio: a tinySSB pub (drop-in for spub.py)

usage: spub-mio [-d DATAPATH] [-role in|inout|out] [-v] [uri_or_port] [options]

  uri_or_port          a number: serve websockets on that port (e.g. 8080);
                       a ws:// URL: connect to that pub (reconnects with backoff);
                       nothing: connect to ws://127.0.0.1:8080 (as spub.py does),
                       unless --connect, --udp, --mc or --kiss gives another face
  -d, --data DATAPATH  data directory, created if missing (default ./data);
                       the same format as spub.py's: one directory per feed
  -role, --role ROLE   in: only fetch; out: only serve; inout: both (default inout)
  -v, --verbose        trace every packet (same as --log-level trace)

options beyond spub.py:
  --bind ADDR          address the websocket server listens on (default 0.0.0.0)
  --connect URL        also connect to this ws:// URL (repeatable)
  --udp LOCAL,PEER     UDP unicast face, e.g. 0.0.0.0:5001,192.0.2.7:5001 (no CRC)
  --mc GROUP:PORT      UDP multicast face with CRC32 trailer (e.g. 224.1.1.1:5000)
  --kiss DEVICE[@BAUD] KISS framing on a serial device (default 115200 baud)
  --max-conns N        most websocket clients at once (default 1024)
  --fsync POLICY       'every' (fsync each write) or 'batched' (default: at most
                       once a second; entries that reached the log survive a crash)
  --summary SECS       seconds between summary log lines (default 60)
  --log-level LEVEL    error, warn, info (default), debug or trace;
                       RUST_LOG overrides it
  -h, --help           this text

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
        Some(t) if t.starts_with("ws://") => cfg.connect.insert(0, t),
        Some(t) => return Err(format!("'{t}' is neither a port number nor a ws:// URL")),
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

    #[test]
    fn default_client_only_without_another_face() {
        assert_eq!(connects(&[]), ["ws://127.0.0.1:8080"]);
        assert_eq!(connects(&["-d", "x", "-role", "in"]), ["ws://127.0.0.1:8080"]);
        assert!(connects(&["--udp", "127.0.0.1:5001,127.0.0.1:5002"]).is_empty());
        assert!(connects(&["--kiss", "/dev/ttyUSB0"]).is_empty());
        assert!(connects(&["--mc", "224.1.1.1:5000"]).is_empty());
        assert_eq!(connects(&["--connect", "ws://h:1"]), ["ws://h:1"]);
        assert_eq!(connects(&["ws://h:2", "--connect", "ws://h:1"]), ["ws://h:2", "ws://h:1"]);
        assert!(connects(&["8080", "--udp", "127.0.0.1:5001,127.0.0.1:5002"]).is_empty());
    }
}
