//! `tinyssb-feed`: creates keys, appends to an own feed, reads feeds, posts and lists public chat.

// The clap types' doc comments are the --help text, written for a terminal, not Markdown.
#![allow(clippy::doc_markdown)]
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;

use tinyssb::crypto::Keypair;
use tinyssb::feed::{author_chain20, author_plain48};

use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::{Store, StoreError};
use tinyssb::wire::entry::PAYLOAD_LEN;
use tinyssb::{FeedId, Seq};
use tinyssb_drivers::{chat, cli, inspect, keyfile};

const AFTER: &str = "\
Examples:
  tinyssb-feed keygen -o me.json
  tinyssb-feed publish -d alice -k me.json 'hello world'
  echo hello | tinyssb-feed publish -d alice -k me.json -
  tinyssb-feed read -d alice FID --from 2 --json
  tinyssb-feed chat post -d alice -k me.json 'hi all'
  tinyssb-feed chat list -d alice
  tinyssb-feed drop -d /srv/pub FID
  tinyssb-feed undrop -d /srv/pub FID --restore

The key file is JSON: {\"seed\": \"<64 hex: 32-byte ed25519 secret seed>\",
\"fid\": \"<64 hex: feed id = public key>\"}, created with mode 0600; only the seed
is needed to load it. DATA is a pub data directory (one directory per feed, named
by its feed id); publish and chat post create it if needed. They refuse a
directory that a running pub (or another writer) has open, since two writers
would damage it: publish into a separate directory and let the pub replicate
from it, or stop the pub first. read and chat list only read: they work next
to a running pub and change nothing, not even a damaged feed. drop and undrop
change DATA, so they too refuse it while a pub runs. drop keeps the feed's data
in DATA/.dropped (delete it there to free the space) and records a tombstone in
DATA/.tombstones: a pub on DATA then refuses the feed from every peer until
undrop removes the tombstone.";

/// Creates keys, appends to your own tinySSB feed, reads feeds, posts and lists public chat.
#[derive(Parser, Debug)]
#[command(name = "tinyssb-feed", version, after_help = AFTER, args_override_self = true, infer_long_args = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a key file and print its feed id
    Keygen {
        /// Where to write the key (it must not exist yet)
        #[arg(short = 'o', long = "out", value_name = "FILE", default_value = "tinyssb-key.json")]
        out: PathBuf,
    },
    /// Append TEXT (or stdin with -) to your feed; prints 'fid seq'. Up to 48 bytes go into a
    /// plain48 entry (zero-padded), longer content or --chain into a chain20 entry
    Publish {
        #[command(flatten)]
        data: Data,
        #[command(flatten)]
        key: Key,
        /// Always use a chain20 entry with a sidechain
        #[arg(long)]
        chain: bool,
        /// The content, or - to read it from stdin (after --, text may start with -)
        #[arg(value_name = "TEXT | -")]
        text: OsString,
    },
    /// Print a feed's entries
    Read {
        #[command(flatten)]
        data: Data,
        /// The feed id, 64 hex digits
        #[arg(value_name = "FID", value_parser = parse_fid)]
        fid: FeedId,
        /// First entry to show
        #[arg(long, value_name = "N", default_value_t = 1)]
        from: u32,
        /// Machine-readable output
        #[arg(long)]
        json: bool,
    },
    /// Public chat: Text-And-Voice messages as the tinySSB app shows them
    #[command(subcommand)]
    Chat(Chat),
    /// Remove a feed from DATA: its directory moves to DATA/.dropped/FID-N and its id gets a
    /// tombstone in DATA/.tombstones, so pubs on DATA refuse it from peers until undrop
    Drop {
        #[command(flatten)]
        data: Data,
        /// The feed id, 64 hex digits (a feed DATA does not hold gets a tombstone too)
        #[arg(value_name = "FID", value_parser = parse_fid)]
        fid: FeedId,
    },
    /// Remove a feed's tombstone so that pubs on DATA take it from peers again
    Undrop {
        #[command(flatten)]
        data: Data,
        /// The feed id, 64 hex digits
        #[arg(value_name = "FID", value_parser = parse_fid)]
        fid: FeedId,
        /// Also move the most recently dropped copy of the feed back from DATA/.dropped
        #[arg(long)]
        restore: bool,
    },
}

#[derive(Subcommand, Debug)]
enum Chat {
    /// Post a message as the tinySSB app does: a chain20 entry ["TAV", TIPS, TEXT, null,
    /// unix-seconds] (BIPF; TIPS: a list of the chat's latest posts)
    Post {
        #[command(flatten)]
        data: Data,
        #[command(flatten)]
        key: Key,
        /// The message
        #[arg(value_name = "TEXT")]
        text: OsString,
    },
    /// List the public chat messages of all feeds by time (app and simplechat forms; voice
    /// posts as [voice, N bytes])
    List {
        #[command(flatten)]
        data: Data,
    },
}

#[derive(Args, Debug)]
struct Data {
    /// Data directory (one directory per feed)
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: PathBuf,
}

#[derive(Args, Debug)]
struct Key {
    /// Key file made by keygen
    #[arg(short = 'k', long = "key", value_name = "KEYFILE")]
    key: PathBuf,
}

fn parse_fid(s: &str) -> Result<FeedId, String> {
    FeedId::from_hex(s).map_err(|_| "a feed id is 64 hex digits".to_owned())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return cli::usage_exit("tinyssb-feed", &e),
    };
    match run(cli.cmd) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("tinyssb-feed: writing the output: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("tinyssb-feed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What went wrong while doing the work (exit 1; a bad command line exits 2 from clap).
struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail(e: impl std::fmt::Display) -> Failure {
    Failure(e.to_string())
}

fn run(cmd: Cmd) -> Result<String, Failure> {
    match cmd {
        Cmd::Keygen { out } => keygen(&out),
        Cmd::Publish { data, key, chain, text } => {
            let content = if text == "-" {
                let mut buf = Vec::new();
                std::io::stdin().read_to_end(&mut buf).map_err(|e| fail(format!("reading stdin: {e}")))?;
                buf
            } else {
                text.into_string().map_err(|_| fail("TEXT is not valid UTF-8"))?.into_bytes()
            };
            let key = load_key(&key.key)?;
            publish(&data.data, &key, &content, chain)
        }
        Cmd::Read { data, fid, from, json } => read(&data.data, &fid, from, json),
        Cmd::Chat(Chat::Post { data, key, text }) => {
            let text = text.to_str().ok_or_else(|| fail("TEXT is not valid UTF-8"))?;
            let key = load_key(&key.key)?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(fail)?;
            let secs = i64::try_from(now.as_secs()).map_err(fail)?;
            let tips = chat::chat_tips_in(&data.data).map_err(fail)?;
            publish(&data.data, &key, &chat::tav_encode(&tips, Some(text), None, secs), true)
        }
        Cmd::Chat(Chat::List { data }) => chat_list(&data.data),
        Cmd::Drop { data, fid } => drop_feed(&data.data, &fid),
        Cmd::Undrop { data, fid, restore } => undrop(&data.data, &fid, restore),
    }
}

/// Opens an existing data directory for writing, refusing (with advice) one a pub has open.
fn open_for_change(data: &Path) -> Result<FsStore, Failure> {
    if !data.is_dir() {
        return Err(fail(format!("data directory {} does not exist", data.display())));
    }
    let store = FsStore::open(data, FsConfig::default()).map_err(|e| match e {
        StoreError::Locked { .. } => fail(format!(
            "{e}; stop the pub first (a running pub drops quiet feeds itself with --expire-after)"
        )),
        e => fail(format!("data directory {}: {e}", data.display())),
    })?;
    inspect::report_notes(store.open_report());
    Ok(store)
}

fn drop_feed(data: &Path, fid: &FeedId) -> Result<String, Failure> {
    let mut store = open_for_change(data)?;
    let held = store.frontier(fid).is_some();
    let already = store.tombstones().contains(fid);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(fail)?;
    let note =
        format!("dropped {} UTC by tinyssb-feed", inspect::utc(i64::try_from(now.as_secs()).map_err(fail)?));
    let kept = store.drop_feed_noted(fid, &note).map_err(fail)?;
    Ok(match (kept, held, already) {
        (Some(path), _, _) => format!("dropped {fid}: data moved to {}\n", path.display()),
        (None, _, true) => format!("{fid} was already dropped\n"),
        (None, true, false) => format!("dropped {fid}\n"),
        (None, false, false) => format!("{fid} is not in {}; tombstone recorded\n", data.display()),
    })
}

fn undrop(data: &Path, fid: &FeedId, restore: bool) -> Result<String, Failure> {
    let mut store = open_for_change(data)?;
    if !store.remove_tombstone(fid).map_err(fail)? {
        return Err(fail(format!("{fid} has no tombstone in {}", data.display())));
    }
    let mut out = format!("{fid}: tombstone removed; peers can bring the feed back\n");
    let copies = dropped_copies(data, fid);
    let home = data.join(fid.to_hex());
    match copies.last() {
        Some((_, newest)) if restore && home.symlink_metadata().is_err() => {
            drop(store);
            std::fs::rename(newest, &home)
                .map_err(|e| fail(format!("moving {} back: {e}", newest.display())))?;
            out.push_str(&format!("restored {} to {}\n", newest.display(), home.display()));
        }
        Some(_) if restore => {
            return Err(fail(format!(
                "{} exists: not restoring over it (tombstone removed)",
                home.display()
            )));
        }
        Some((_, newest)) => out.push_str(&format!(
            "its dropped data is in {} (use --restore to move it back)\n",
            newest.display()
        )),
        None if restore => {
            return Err(fail(format!("no dropped copy of {fid} to restore (tombstone removed)")))
        }
        None => {}
    }
    Ok(out)
}

/// The copies of `fid` kept in DATA/.dropped, as (number, path), oldest drop first.
fn dropped_copies(data: &Path, fid: &FeedId) -> Vec<(u64, PathBuf)> {
    let prefix = format!("{fid}-");
    let dir = data.join(tinyssb::store::fs::DROPPED_DIR);
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().into_string().ok()?;
                    let n = name.strip_prefix(&prefix)?.parse().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

fn keygen(path: &Path) -> Result<String, Failure> {
    let key = keyfile::create(path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    Ok(format!("{}\n", key.feed_id()))
}

fn load_key(path: &Path) -> Result<Keypair, Failure> {
    keyfile::load(path).map_err(fail)
}

/// Appends one entry (and its sidechain) to the key's feed through the store.
fn publish(data: &Path, key: &Keypair, content: &[u8], chain: bool) -> Result<String, Failure> {
    let mut store = FsStore::open(data, FsConfig::default()).map_err(|e| match e {
        StoreError::Locked { .. } => {
            fail(format!("{e}; stop the pub first, or publish into another directory and let it replicate"))
        }
        e => fail(format!("data directory {}: {e}", data.display())),
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
    for m in chat::tav_messages(&mut store).map_err(fail)? {
        let author = m.author.to_hex();
        let short = author.get(..8).unwrap_or(&author);
        out.push_str(&format!(
            "{} UTC  {short}  {}\n",
            inspect::utc(m.body.time),
            chat::describe_tav(&m.body)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cmd, clap::Error> {
        Cli::try_parse_from(std::iter::once("tinyssb-feed").chain(args.iter().copied())).map(|c| c.cmd)
    }

    #[test]
    fn subcommands_and_their_options() {
        match parse(&["keygen"]).unwrap() {
            Cmd::Keygen { out } => assert_eq!(out, Path::new("tinyssb-key.json")),
            other => panic!("{other:?}"),
        }
        match parse(&["keygen", "-o", "k.json"]).unwrap() {
            Cmd::Keygen { out } => assert_eq!(out, Path::new("k.json")),
            other => panic!("{other:?}"),
        }
        match parse(&["publish", "-dD", "--key=K", "--chain", "-"]).unwrap() {
            Cmd::Publish { data, key, chain, text } => {
                assert_eq!((data.data, key.key, chain, text), ("D".into(), "K".into(), true, "-".into()))
            }
            other => panic!("{other:?}"),
        }
        let fid = "ab".repeat(32);
        match parse(&["read", &fid, "-d", "D", "--from", "3", "--json"]).unwrap() {
            Cmd::Read { data, fid: f, from, json } => {
                assert_eq!((data.data, f.to_hex(), from, json), ("D".into(), fid.clone(), 3, true))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(&["chat", "post", "-d", "D", "-k", "K", "--", "-hi-"]),
            Ok(Cmd::Chat(Chat::Post { .. }))
        ));
        assert!(matches!(parse(&["chat", "list", "-d", "D"]), Ok(Cmd::Chat(Chat::List { .. }))));
        match parse(&["drop", "-d", "D", &fid]).unwrap() {
            Cmd::Drop { data, fid: f } => assert_eq!((data.data, f.to_hex()), ("D".into(), fid.clone())),
            other => panic!("{other:?}"),
        }
        match parse(&["undrop", &fid, "-d", "D", "--restore"]).unwrap() {
            Cmd::Undrop { fid: f, restore, .. } => assert_eq!((f.to_hex(), restore), (fid.clone(), true)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_command_lines() {
        for bad in [
            &[][..],
            &["frobnicate"],
            &["publish", "-d", "D", "TEXT"],
            &["read", "-d", "D", "nothex"],
            &["read", "-d", "D", "--from", "x"],
            &["chat"],
            &["chat", "list"],
            &["keygen", "--chain"],
            &["drop", "-d", "D"],
            &["undrop", "-d", "D", "nothex"],
        ] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad:?} accepted"));
            assert_eq!(e.exit_code(), 2, "{bad:?}");
        }
        assert_eq!(parse(&["--version"]).unwrap_err().exit_code(), 0);
    }
}
