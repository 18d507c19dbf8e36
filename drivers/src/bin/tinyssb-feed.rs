//! `tinyssb-feed`: creates keys, appends to an own feed, reads feeds, posts and lists public chat.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;
use tinyssb::crypto::Keypair;
use tinyssb::feed::{author_chain20, author_plain48};
use tinyssb::ids::{from_hex, to_hex};
use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::{Store, StoreError};
use tinyssb::wire::entry::PAYLOAD_LEN;
use tinyssb::{FeedId, Seq};
use tinyssb_drivers::inspect;

const HELP: &str = "\
Usage: tinyssb-feed <COMMAND> [OPTIONS]

Commands:
  keygen [-o FILE]                          create a key file (default ./tinyssb-key.json),
                                            print its feed id
  publish -d DATA -k KEYFILE [--chain] [TEXT | -]
                                            append TEXT (or stdin with -) to the own feed:
                                            up to 48 bytes as plain48 (zero-padded), longer
                                            or with --chain as chain20; prints 'fid seq'
  read -d DATA FID [--from N] [--json]      print the feed's entries from seq N (default 1)
  chat post -d DATA -k KEYFILE TEXT         post a public chat message as the tinySSB app does:
                                            a chain20 entry [\"TAV\", [tips], TEXT, null,
                                            unix-seconds] (BIPF; tips: the chat's latest posts)
  chat list -d DATA                         list the public chat messages of all feeds by time
                                            (app and simplechat forms; voice as [voice, N bytes])

The key file is JSON: {\"seed\": \"<64 hex: 32-byte ed25519 secret seed>\",
\"fid\": \"<64 hex: feed id = public key>\"}, created with mode 0600; only the seed
is needed to load it. DATA is a pub data directory (one directory per feed, named
by its feed id); publish and chat post create it if needed. They refuse a
directory that a running pub (or another writer) has open, since two writers
would damage it: publish into a separate directory and let the pub replicate
from it, or stop the pub first. read and chat list only read: they work next
to a running pub and change nothing, not even a damaged feed.
";

fn main() -> ExitCode {
    let mut parser = lexopt::Parser::from_env();
    match run(&mut parser) {
        Ok(Some(text)) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("tinyssb-feed: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Ok(None) => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(e)) => {
            eprintln!("tinyssb-feed: {e}\nTry 'tinyssb-feed --help'.");
            ExitCode::from(2)
        }
        Err(Failure::Run(e)) => {
            eprintln!("tinyssb-feed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Exit 2 for a bad command line, 1 for anything that went wrong while doing the work.
enum Failure {
    Usage(String),
    Run(String),
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Self {
        Failure::Usage(e.to_string())
    }
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure::Run(e.to_string())
}

/// Options shared by the subcommands; each subcommand checks which it needs.
#[derive(Default)]
struct Opts {
    data: Option<PathBuf>,
    key: Option<PathBuf>,
    out: Option<PathBuf>,
    from: Option<u32>,
    chain: bool,
    json: bool,
    positional: Vec<OsString>,
}

fn parse_opts(parser: &mut lexopt::Parser, allowed: &str) -> Result<Option<Opts>, Failure> {
    use lexopt::prelude::*;
    let mut o = Opts::default();
    while let Some(arg) = parser.next()? {
        let name = match &arg {
            Short(c) => c.to_string(),
            Long(l) => (*l).to_owned(),
            Value(_) => String::new(),
        };
        if !name.is_empty() && name != "h" && name != "help" && !allowed.split(' ').any(|a| a == name) {
            return Err(arg.unexpected().into());
        }
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Short('d') | Long("data") => o.data = Some(parser.value()?.into()),
            Short('k') | Long("key") => o.key = Some(parser.value()?.into()),
            Short('o') | Long("out") => o.out = Some(parser.value()?.into()),
            Long("from") => o.from = Some(parser.value()?.parse()?),
            Long("chain") => o.chain = true,
            Long("json") => o.json = true,
            Value(v) => o.positional.push(v),
            _ => return Err(arg.unexpected().into()),
        }
    }
    Ok(Some(o))
}

fn run(parser: &mut lexopt::Parser) -> Result<Option<String>, Failure> {
    use lexopt::prelude::*;
    let cmd = match parser.next()? {
        Some(Value(v)) => v.string()?,
        Some(Short('h') | Long("help")) => return Ok(None),
        Some(other) => return Err(other.unexpected().into()),
        None => return Err(Failure::Usage("missing command (keygen, publish, read, chat)".to_owned())),
    };
    let (cmd, allowed) = match cmd.as_str() {
        "keygen" => ("keygen", "o out"),
        "publish" => ("publish", "d data k key chain"),
        "read" => ("read", "d data from json"),
        "chat" => match parser.next()? {
            Some(Value(v)) if v == "post" => ("chat post", "d data k key"),
            Some(Value(v)) if v == "list" => ("chat list", "d data"),
            Some(Short('h') | Long("help")) => return Ok(None),
            _ => return Err(Failure::Usage("chat needs a subcommand: post or list".to_owned())),
        },
        other => return Err(Failure::Usage(format!("unknown command '{other}'"))),
    };
    let Some(o) = parse_opts(parser, allowed)? else { return Ok(None) };
    match cmd {
        "keygen" => {
            no_positional(&o, 0)?;
            keygen(o.out.as_deref().unwrap_or(Path::new("tinyssb-key.json"))).map(Some)
        }
        "publish" => {
            no_positional(&o, 1)?;
            let content = match o.positional.first() {
                Some(t) if t == "-" => {
                    let mut buf = Vec::new();
                    std::io::stdin().read_to_end(&mut buf).map_err(fail)?;
                    buf
                }
                Some(t) => t.clone().into_string().map_err(|_| fail("TEXT is not valid UTF-8"))?.into_bytes(),
                None => return Err(Failure::Usage("publish needs TEXT or - (stdin)".to_owned())),
            };
            let key = load_key(need(&o.key, "-k KEYFILE")?)?;
            publish(need(&o.data, "-d DATA")?, &key, &content, o.chain).map(Some)
        }
        "read" => {
            no_positional(&o, 1)?;
            let fid = o.positional.first().ok_or_else(|| Failure::Usage("read needs a FID".to_owned()))?;
            let fid = fid.to_str().and_then(|s| FeedId::from_hex(s).ok());
            let fid = fid.ok_or_else(|| Failure::Usage("FID must be 64 hex digits".to_owned()))?;
            read(need(&o.data, "-d DATA")?, &fid, o.from.unwrap_or(1), o.json).map(Some)
        }
        "chat post" => {
            no_positional(&o, 1)?;
            let text =
                o.positional.first().ok_or_else(|| Failure::Usage("chat post needs TEXT".to_owned()))?;
            let text = text.to_str().ok_or_else(|| fail("TEXT is not valid UTF-8"))?;
            let key = load_key(need(&o.key, "-k KEYFILE")?)?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(fail)?;
            let secs = i64::try_from(now.as_secs()).map_err(fail)?;
            let data = need(&o.data, "-d DATA")?;
            let tips = inspect::chat_tips_in(data).map_err(fail)?;
            publish(data, &key, &inspect::tav_encode(&tips, Some(text), None, secs), true).map(Some)
        }
        _ => {
            no_positional(&o, 0)?;
            chat_list(need(&o.data, "-d DATA")?).map(Some)
        }
    }
}

fn need<'a>(v: &'a Option<PathBuf>, what: &str) -> Result<&'a Path, Failure> {
    v.as_deref().ok_or_else(|| Failure::Usage(format!("missing {what}")))
}

fn no_positional(o: &Opts, max: usize) -> Result<(), Failure> {
    match o.positional.get(max) {
        Some(extra) => Err(Failure::Usage(format!("unexpected argument '{}'", extra.to_string_lossy()))),
        None => Ok(()),
    }
}

fn keygen(path: &Path) -> Result<String, Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut seed = [0u8; 32];
    getrandom(&mut seed).map_err(|e| fail(format!("no randomness: {e}")))?;
    let key = Keypair::from_seed(&seed);
    let body = json!({ "seed": to_hex(&seed), "fid": key.feed_id().to_hex() });
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| fail(format!("{}: {e}", path.display())))?;
    f.write_all(format!("{body:#}\n").as_bytes()).and_then(|()| f.sync_all()).map_err(fail)?;
    Ok(format!("{}\n", key.feed_id()))
}

/// Fills `buf` from the operating system's random source.
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

fn load_key(path: &Path) -> Result<Keypair, Failure> {
    let what = |e: &dyn std::fmt::Display| fail(format!("key file {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| what(&e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| what(&e))?;
    let seed = v.get("seed").and_then(|s| s.as_str()).ok_or_else(|| what(&"no \"seed\" string"))?;
    let seed: [u8; 32] = from_hex(seed)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| what(&"seed is not 64 hex digits"))?;
    let key = Keypair::from_seed(&seed);
    if let Some(fid) = v.get("fid").and_then(|s| s.as_str()) {
        if fid != key.feed_id().to_hex() {
            return Err(what(&"fid does not match the seed"));
        }
    }
    Ok(key)
}

/// Appends one entry (and its sidechain) to the key's feed through the store.
fn publish(data: &Path, key: &Keypair, content: &[u8], chain: bool) -> Result<String, Failure> {
    let mut store = FsStore::open(data, FsConfig::default()).map_err(|e| match e {
        StoreError::Locked { .. } => {
            fail(format!("{e}; stop the pub first, or publish into another directory and let it replicate"))
        }
        e => fail(e),
    })?;
    inspect::report_notes(store.open_report());
    let fid = key.feed_id();
    store.add_feed(fid).map_err(fail)?;
    let at = store.frontier(&fid).ok_or_else(|| fail("feed vanished"))?;
    let authored = if chain || content.len() > PAYLOAD_LEN {
        author_chain20(key, &at, content)
    } else {
        author_plain48(key, &at, content)
    }
    .map_err(fail)?;
    let seq = authored.frontier.seq;
    store.append_entry(&fid, &authored.entry, authored.msg_id).map_err(fail)?;
    for (nr, chunk) in (0u32..).zip(&authored.chunks) {
        store.write_chunk(&fid, seq, nr, chunk).map_err(fail)?;
    }
    store.sync().map_err(fail)?;
    Ok(format!("{fid} {}\n", seq.0))
}

fn read(data: &Path, fid: &FeedId, from: u32, json: bool) -> Result<String, Failure> {
    let mut store = inspect::open_existing(data).map_err(fail)?;
    let front =
        store.frontier(fid).ok_or_else(|| fail(format!("feed {fid} is not in {}", data.display())))?;
    let mut lines = String::new();
    let mut items = Vec::new();
    for s in from.max(1)..=front.seq.0 {
        let Some((_, c)) = inspect::read_content(&mut store, fid, Seq(s)).map_err(fail)? else { continue };
        if json {
            items.push(inspect::content_json(Seq(s), &c));
        } else {
            lines.push_str(&format!("{s} {} {}\n", c.type_name(), inspect::render_content(&c)));
        }
    }
    Ok(if json { format!("{:#}\n", serde_json::Value::Array(items)) } else { lines })
}

fn chat_list(data: &Path) -> Result<String, Failure> {
    let mut store = inspect::open_existing(data).map_err(fail)?;
    let mut out = String::new();
    for m in inspect::tav_messages(&mut store).map_err(fail)? {
        let author = m.author.to_hex();
        let short = author.get(..8).unwrap_or(&author);
        out.push_str(&format!(
            "{} UTC  {short}  {}\n",
            inspect::utc(m.body.time),
            inspect::describe_tav(&m.body)
        ));
    }
    Ok(out)
}
