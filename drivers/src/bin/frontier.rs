//! `frontier`: inspects a pub's data directory — feeds, entries, content and statistics.

// The clap types' doc comments are the --help text, written for a terminal, not Markdown.
#![allow(clippy::doc_markdown)]
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser};
use serde_json::{json, Value as Json};
use tinyssb::store::fs::FsStore;
use tinyssb::store::Store;
use tinyssb::Seq;
use tinyssb_drivers::cli;
use tinyssb_drivers::inspect::{self, DirStats};

const ABOUT: &str = "\
Shows the feeds of a tinySSB data directory (one directory per feed, named by
its 64-hex feed id, holding log.bin and frontier.bin), each entry's content and
a statistics block in the reference frontier.py's format.";

const AFTER: &str = "\
Examples:
  frontier -d /srv/pub -s         statistics only
  frontier -d /srv/pub -raw       every entry's available content in hex
  frontier -d /srv/pub --json     everything, for scripts

frontier.py's command lines are accepted as its argparse accepts them: -stat,
-raw and their prefixes (-st, -r), -d DIR, -dDIR and -d=DIR.

The directory is only read: nothing in it is created, written, locked or
repaired, so frontier works on a read-only directory and next to a running
pub. A damaged feed is shown as the pub would repair it (a torn log tail
ignored, a stale frontier.bin re-derived from the log) and the damage is
reported on stderr, as is every skipped directory entry.";

/// frontier.py's single-dash long options and the options they mean here.
const LEGACY: &[cli::Legacy] = &[("stat", "stats"), ("raw", "raw"), ("help", "help")];

#[derive(Parser, Debug)]
#[command(name = "frontier", version, about = ABOUT, after_help = AFTER, args_override_self = true, infer_long_args = true)]
struct Args {
    /// Data directory
    #[arg(
        short = 'd',
        long = "data",
        value_name = "DATAPATH",
        default_value = "./data",
        allow_negative_numbers = true
    )]
    data: PathBuf,
    /// Statistics only (frontier.py: -stat, older versions: -s)
    #[arg(short = 's', long = "stats", alias = "stat")]
    stats_only: bool,
    /// Each entry as '#SEQ AVAILABLE/LENGTH HEX': its available content in hex, as frontier.py -raw
    #[arg(long)]
    raw: bool,
    /// Machine-readable output (includes both digests)
    #[arg(long)]
    json: bool,
    /// Also print digest_full and digest_logical, the content digests defined by the
    /// interoperability vectors
    #[arg(long)]
    digests: bool,
}

/// Parses the command line (without the program name) as frontier.py and this tool accept it.
fn parse(args: impl IntoIterator<Item = impl Into<OsString>>) -> Result<Args, clap::Error> {
    let cmd = Args::command();
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let argv = cli::normalise(args, &cmd, LEGACY)
        .map_err(|e| Args::command().error(clap::error::ErrorKind::UnknownArgument, e))?;
    let matches = cmd.try_get_matches_from(std::iter::once(OsString::from("frontier")).chain(argv))?;
    Args::from_arg_matches(&matches)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => return cli::usage_exit("frontier", &e),
    };
    match run(&args) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("frontier: writing the output: {e}");
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
    // Feeds dropped with a tombstone (`tinyssb-feed drop`, `spub-mio --expire-after`); listed
    // only when there are some, so output for other directories is as before.
    let mut dropped = store.tombstones();
    dropped.sort();
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
        if !dropped.is_empty() {
            o["dropped"] = dropped.iter().map(|f| Json::from(f.to_hex())).collect();
        }
        return Ok(format!("{o:#}\n"));
    }
    let mut text = String::new();
    if !args.stats_only {
        text.push_str(&feeds_text(&mut store, args.raw)?);
        text.push('\n');
    }
    text.push_str(&stats.render());
    if let Some((full, logical)) = digests {
        text.push_str(&format!("- digest_full: {full}\n- digest_logical: {logical}\n"));
    }
    for fid in &dropped {
        text.push_str(&format!("- dropped (tombstone): {fid}\n"));
    }
    Ok(text)
}

fn feeds_text(store: &mut FsStore, raw: bool) -> Result<String, String> {
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
                Ok(Some((_, c))) if raw => text.push_str(&raw_line(s, &c)),
                Ok(Some((_, c))) => text.push_str(&format!("  .{s} {}\n", inspect::render_content(&c))),
                Ok(None) => text.push_str(&format!("  .{s} (missing)\n")),
                Err(e) => text.push_str(&format!("  .{s} (unreadable: {e})\n")),
            }
        }
    }
    Ok(text)
}

/// One entry as frontier.py -raw shows it: `#seq` in a 10-column field, `available/length`
/// right-aligned in the next 13, then the available content bytes in hex.
fn raw_line(seq: u32, c: &inspect::Content) -> String {
    let sizes = format!("{}/{}", c.bytes.len(), c.len);
    format!("  #{seq:<7}{sizes:>12} {}\n", tinyssb::ids::to_hex(&c.bytes))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// (data, stats only, raw) after parsing.
    fn flags(args: &[&str]) -> (String, bool, bool) {
        let a = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        (a.data.display().to_string(), a.stats_only, a.raw)
    }

    /// Forms Python's argparse accepts for frontier.py (-d, -stat, -raw; older: -d, -s).
    #[test]
    fn frontier_py_command_lines() {
        let d = |s: &str, st: bool, r: bool| (s.to_owned(), st, r);
        assert_eq!(flags(&[]), d("./data", false, false));
        for stat in ["-s", "-st", "-sta", "-stat", "--stats", "--stat", "--st"] {
            assert_eq!(flags(&[stat]), d("./data", true, false), "{stat}");
        }
        for raw in ["-r", "-ra", "-raw", "--raw"] {
            assert_eq!(flags(&[raw]), d("./data", false, true), "{raw}");
        }
        assert_eq!(flags(&["-stat", "-raw"]), d("./data", true, true));
        assert_eq!(flags(&["-d=X", "-r"]), d("X", false, true));
        assert_eq!(flags(&["-dX", "-s"]), d("X", true, false));
        assert_eq!(flags(&["-d", "X", "-d", "Y"]), d("Y", false, false));
        // The older frontier.py had -s as a one-letter flag: -sd DIR is -s -d DIR there.
        assert_eq!(flags(&["-sd", "X"]), d("X", true, false));
        for bad in [&["-rs"][..], &["-s=1"], &["-raw=1"], &["-d"], &["-x"], &["extra"]] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn raw_lines_line_up_as_in_frontier_py() {
        let c =
            inspect::Content { type_byte: 0, len: 48, bytes: vec![0xab; 2], chunks_total: 0, chunks: vec![] };
        assert_eq!(raw_line(7, &c), "  #7              2/48 abab\n");
        assert_eq!(raw_line(1234567, &c).find("abab"), Some(23));
    }
}
