//! `frontier`: inspects a pub's data directory — feeds, entries, content and statistics.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{json, Value as Json};
use tinyssb::store::fs::FsStore;
use tinyssb::store::Store;
use tinyssb::Seq;
use tinyssb_drivers::inspect::{self, DirStats};

const HELP: &str = "\
Usage: frontier [-d DATAPATH] [-s] [--json] [--digests]

Shows the feeds of a tinySSB data directory (one directory per feed, named by
its 64-hex feed id, holding log.bin and frontier.bin), each entry's content and
a statistics block in the reference frontier.py's format.

Options:
  -d, --data DATAPATH  data directory (default ./data)
  -s, --stats          statistics only
      --json           machine-readable output (includes both digests)
      --digests        also print digest_full and digest_logical, the
                       content digests defined by the interoperability vectors
  -h, --help           this text

The directory is only read: nothing in it is created, written, locked or
repaired, so frontier works on a read-only directory and next to a running
pub. A damaged feed is shown as the pub would repair it (a torn log tail
ignored, a stale frontier.bin re-derived from the log) and the damage is
reported on stderr, as is every skipped directory entry.
";

struct Args {
    data: PathBuf,
    stats_only: bool,
    json: bool,
    digests: bool,
}

fn parse_args() -> Result<Option<Args>, lexopt::Error> {
    use lexopt::prelude::*;
    let mut args = Args { data: PathBuf::from("./data"), stats_only: false, json: false, digests: false };
    let mut parser = lexopt::Parser::from_env();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('d') | Long("data") => args.data = parser.value()?.into(),
            Short('s') | Long("stats") => args.stats_only = true,
            Long("json") => args.json = true,
            Long("digests") => args.digests = true,
            Short('h') | Long("help") => return Ok(None),
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(Some(args))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("frontier: {e}\nTry 'frontier --help'.");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("frontier: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("frontier: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<String, String> {
    let mut store = inspect::open_existing(&args.data)?;
    let stats = DirStats::gather(&mut store).map_err(|e| e.to_string())?;
    let want_digests = args.json || args.digests;
    let digests =
        if want_digests { Some(inspect::digests(&mut store).map_err(|e| e.to_string())?) } else { None };
    if args.json {
        let mut o = json!({ "stats": stats.to_json() });
        if let Some((full, logical)) = &digests {
            o["digest_full"] = Json::from(full.as_str());
            o["digest_logical"] = Json::from(logical.as_str());
        }
        if !args.stats_only {
            o["feeds"] = feeds_json(&mut store)?;
        }
        return Ok(format!("{o:#}\n"));
    }
    let mut text = String::new();
    if !args.stats_only {
        text.push_str(&feeds_text(&mut store)?);
        text.push('\n');
    }
    text.push_str(&stats.render());
    if let Some((full, logical)) = digests {
        text.push_str(&format!("- digest_full: {full}\n- digest_logical: {logical}\n"));
    }
    Ok(text)
}

fn feeds_text(store: &mut FsStore) -> Result<String, String> {
    let mut text = String::new();
    for (i, fid) in inspect::sorted_feeds(store).iter().enumerate() {
        let Some(front) = store.frontier(fid) else { continue };
        text.push_str(&format!("* key {i}  {fid}\n  max_seq = {}, prev = {}\n", front.seq.0, front.prev));
        let pending = store.pending_chains(fid);
        if !pending.is_empty() {
            let items: Vec<String> = pending
                .iter()
                .map(|p| {
                    format!(
                        "{}: {}/{}",
                        p.seq.0,
                        p.next_chunk,
                        u64::from(p.next_chunk) + u64::from(p.remaining)
                    )
                })
                .collect();
            text.push_str(&format!("  pending chunks = {{{}}}\n", items.join(", ")));
        }
        if front.seq.0 > 0 {
            text.push_str("  content:\n");
        }
        for s in 1..=front.seq.0 {
            match inspect::read_content(store, fid, Seq(s)) {
                Ok(Some((_, c))) => text.push_str(&format!("  .{s} {}\n", inspect::render_content(&c))),
                Ok(None) => text.push_str(&format!("  .{s} (missing)\n")),
                Err(e) => text.push_str(&format!("  .{s} (unreadable: {e})\n")),
            }
        }
    }
    Ok(text)
}

fn feeds_json(store: &mut FsStore) -> Result<Json, String> {
    let mut feeds = Vec::new();
    for (i, fid) in inspect::sorted_feeds(store).iter().enumerate() {
        let Some(front) = store.frontier(fid) else { continue };
        let pending: Vec<Json> = store
            .pending_chains(fid)
            .iter()
            .map(|p| json!({ "seq": p.seq.0, "next_chunk": p.next_chunk, "remaining": p.remaining }))
            .collect();
        let mut entries = Vec::new();
        for s in 1..=front.seq.0 {
            if let Some((_, c)) = inspect::read_content(store, fid, Seq(s)).map_err(|e| e.to_string())? {
                entries.push(inspect::content_json(Seq(s), &c));
            }
        }
        feeds.push(json!({
            "index": i,
            "fid": fid.to_hex(),
            "max_seq": front.seq.0,
            "prev": front.prev.to_hex(),
            "pending": pending,
            "entries": entries,
        }));
    }
    Ok(Json::Array(feeds))
}
