//! Command-line support shared by the binaries: the reference tools' option spellings in
//! front of clap, the log level check and the log set-up.
//!
//! # Why argv is rewritten before clap sees it
//!
//! The Python reference tools (`spub.py`, `frontier.py`) parse their options with argparse
//! and long option names that start with a single dash (`-role`, `-stat`, `-raw`). Operators'
//! scripts call them in every form argparse accepts, and clap cannot express some of those:
//!
//! * a single-dash long option, or any unambiguous prefix of it: `-role`, `-rol`, `-r`;
//! * the same with its value after `=`: `-role=in`, `-ro=in` (Python 3.12 and later);
//! * one-letter options in a cluster, the last one taking the rest or the next argument as its
//!   value: `-vd DIR`, `-vdDIR`, `-d=DIR`, `-vd=DIR` (clap handles these natively; for the
//!   last one Python 3.11 keeps the `=` in the value, 3.12 and later drop it, as clap does);
//! * a value that looks like a negative number after an option, or as the positional: `-d -1`
//!   (the binaries set clap's `allow_negative_numbers` on those arguments).
//!
//! [`normalise`] rewrites only the first two forms, into clap's `--role` and `--role=in`, and
//! leaves everything else to clap. It walks argv as argparse does: a value given to an
//! option is never rewritten, nor is anything after `--`. A one-letter option keeps its
//! meaning when it is written alone (`-s` stays `-s`, as argparse prefers an exact match),
//! and an argument that is the prefix of two single-dash long options is an error, as in
//! argparse. Where argparse would find both a one-letter option with an attached value and a
//! long option by prefix, and so call the argument ambiguous, the long option wins: this
//! lets the newer frontier.py's `-st` (for `-stat`) work next to the older `-s`. Double-dash options are clap's own; clap also accepts their unambiguous
//! prefixes (`--he` for `--help`), as argparse does.

use std::ffi::OsString;
use std::io::Write;

/// A single-dash long option of a reference tool: its name without the dash, and the long
/// name of the clap option it means.
pub type Legacy = (&'static str, &'static str);

/// Rewrites the reference tool's single-dash long options in `args` (without the program
/// name) into the double-dash options of `cmd`. See the module documentation for the rules.
pub fn normalise(
    args: Vec<OsString>,
    cmd: &clap::Command,
    legacy: &[Legacy],
) -> Result<Vec<OsString>, String> {
    // Building adds clap's own options (-h, --help, -V, --version).
    let mut cmd = cmd.clone();
    cmd.build();
    let cmd = &cmd;
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter();
    // The next argument is the value of the option before it.
    let mut value_next = false;
    while let Some(arg) = args.next() {
        let Some(s) = arg.to_str().map(str::to_owned) else {
            out.push(arg);
            value_next = false;
            continue;
        };
        if value_next {
            value_next = false;
            out.push(arg);
            continue;
        }
        if s == "--" {
            out.push(arg);
            out.extend(args.by_ref());
            break;
        }
        if let Some(long) = s.strip_prefix("--") {
            value_next = !long.contains('=') && long_takes_value(cmd, long);
            out.push(arg);
            continue;
        }
        let Some(body) = s.strip_prefix('-').filter(|b| !b.is_empty() && !is_negative_number(b)) else {
            out.push(arg);
            continue;
        };
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let lone_short =
            name.chars().count() == 1 && short(cmd, name.chars().next().unwrap_or('-')).is_some();
        if !lone_short {
            if let Some(long) = legacy_match(name, legacy)? {
                match value {
                    Some(v) => out.push(format!("--{long}={v}").into()),
                    None => {
                        out.push(format!("--{long}").into());
                        value_next = long_takes_value(cmd, long);
                    }
                }
                continue;
            }
        }
        // A cluster of one-letter options: the first that takes a value ends it, and takes
        // the next argument when nothing of the cluster is left.
        for (i, c) in body.char_indices() {
            match short(cmd, c) {
                Some(true) => {
                    value_next = body.len() == i + c.len_utf8();
                    break;
                }
                Some(false) => {}
                None => break,
            }
        }
        out.push(arg);
    }
    Ok(out)
}

/// The clap long option that `name` (a single-dash option without its dash) names: an exact
/// legacy name, or the prefix of exactly one.
fn legacy_match(name: &str, legacy: &[Legacy]) -> Result<Option<&'static str>, String> {
    if let Some((_, long)) = legacy.iter().find(|(py, _)| *py == name) {
        return Ok(Some(long));
    }
    let hits: Vec<&Legacy> = legacy.iter().filter(|(py, _)| py.starts_with(name)).collect();
    match hits.as_slice() {
        [] => Ok(None),
        [(_, long)] => Ok(Some(long)),
        many => {
            let names: Vec<String> = many.iter().map(|(py, _)| format!("-{py}")).collect();
            Err(format!("ambiguous option: -{name} could match {}", names.join(", ")))
        }
    }
}

/// Whether `cmd` has the one-letter option `c`, and if so whether it takes a value.
fn short(cmd: &clap::Command, c: char) -> Option<bool> {
    let arg = cmd.get_arguments().find(|a| a.get_short() == Some(c))?;
    Some(arg.get_action().takes_values())
}

/// Whether the double-dash option `long` (or the one option it is a prefix of) takes a value.
fn long_takes_value(cmd: &clap::Command, long: &str) -> bool {
    let names = |a: &clap::Arg| {
        let mut v: Vec<String> = a.get_long().map(str::to_owned).into_iter().collect();
        v.extend(a.get_all_aliases().unwrap_or_default().into_iter().map(str::to_owned));
        v
    };
    let exact = cmd.get_arguments().find(|a| names(a).iter().any(|n| n == long));
    let arg = exact.or_else(|| {
        let mut hits = cmd.get_arguments().filter(|a| names(a).iter().any(|n| n.starts_with(long)));
        let first = hits.next();
        if hits.next().is_some() {
            None
        } else {
            first
        }
    });
    arg.is_some_and(|a| a.get_action().takes_values())
}

/// argparse's test for an argument that is a negative number (and so a value, not an option).
fn is_negative_number(body: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(body)
        || body
            .split_once('.')
            .is_some_and(|(int, frac)| int.bytes().all(|b| b.is_ascii_digit()) && digits(frac))
}

/// Checks a `--log-level` value: a level (`off`, `error`, `warn`, `info`, `debug`, `trace`),
/// or a comma-separated list of levels and `TARGET=LEVEL` directives as `RUST_LOG` takes them.
/// An unknown level is an error rather than a filter that silently matches nothing.
pub fn parse_log_level(spec: &str) -> Result<String, String> {
    if spec.trim().is_empty() {
        return Err("empty log level".to_owned());
    }
    for directive in spec.split(',') {
        let level = directive.rsplit_once('=').map_or(directive, |(_, l)| l).trim();
        if level.parse::<log::LevelFilter>().is_err() {
            return Err(format!("unknown log level '{level}' (off, error, warn, info, debug or trace)"));
        }
    }
    Ok(spec.to_owned())
}

/// Ends the program after a command line that did not lead to work: prints help or the version
/// on stdout (exit 0), or the error on stderr after `prog: ` (exit 2).
pub fn usage_exit(prog: &str, e: &clap::Error) -> std::process::ExitCode {
    if e.exit_code() == 0 {
        let _ = e.print();
        return std::process::ExitCode::SUCCESS;
    }
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // Help on stderr, because something is missing: no "prog: " in front of it.
        let _ = e.print();
    } else {
        eprint!("{prog}: {e}");
    }
    std::process::ExitCode::from(2)
}

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Timestamp, level, target and message on one line, for people.
    Text,
    /// One JSON object per line (ts, level, target, msg and the line's fields), for log
    /// collectors.
    Json,
}

/// Installs the logger: `filter` (checked by [`parse_log_level`]), overridden by `RUST_LOG`
/// when that is set, written in `format` to stderr.
pub fn init_logging(filter: &str, format: LogFormat) {
    let mut b = env_logger::Builder::new();
    b.parse_filters(filter).parse_env("RUST_LOG").format_timestamp_millis();
    if format == LogFormat::Json {
        b.format(|buf, record| {
            let mut line = serde_json::Map::new();
            line.insert("ts".into(), buf.timestamp_millis().to_string().into());
            line.insert("level".into(), record.level().as_str().into());
            line.insert("target".into(), record.target().into());
            line.insert("msg".into(), record.args().to_string().into());
            // Structured fields of the record (`log::info!(peer = addr; "...")`), if any.
            let _ = record.key_values().visit(&mut Fields(&mut line));
            writeln!(buf, "{}", serde_json::Value::Object(line))
        });
    }
    b.init();
}

/// Copies a log record's key-value fields into a JSON object: numbers and booleans as such,
/// anything else as its text.
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let v = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(x) = value.to_f64() {
            x.into()
        } else if let Some(b) = value.to_bool() {
            b.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_owned(), v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd() -> clap::Command {
        use clap::{Arg, ArgAction};
        clap::Command::new("t")
            .arg(Arg::new("data").short('d').long("data"))
            .arg(Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue))
            .arg(Arg::new("stats").short('s').long("stats").alias("stat").action(ArgAction::SetTrue))
            .arg(Arg::new("role").long("role"))
            .arg(Arg::new("raw").long("raw").action(ArgAction::SetTrue))
            .arg(Arg::new("connect").long("connect"))
    }

    const LEGACY: &[Legacy] = &[("role", "role"), ("stat", "stats"), ("raw", "raw"), ("rank", "role")];

    fn norm(args: &[&str]) -> Result<Vec<String>, String> {
        let args = args.iter().map(OsString::from).collect();
        Ok(normalise(args, &cmd(), LEGACY)?.into_iter().map(|s| s.into_string().unwrap()).collect())
    }

    #[test]
    fn single_dash_long_options_and_their_prefixes() {
        assert_eq!(norm(&["-role", "in"]).unwrap(), ["--role", "in"]);
        assert_eq!(norm(&["-rol", "in"]).unwrap(), ["--role", "in"]);
        assert_eq!(norm(&["-role=in"]).unwrap(), ["--role=in"]);
        assert_eq!(norm(&["-rol=in"]).unwrap(), ["--role=in"]);
        assert_eq!(norm(&["-stat"]).unwrap(), ["--stats"]);
        assert_eq!(norm(&["-st", "-raw"]).unwrap(), ["--stats", "--raw"]);
        // "-ra" could be -raw or -rank: argparse calls that ambiguous.
        assert!(norm(&["-ra"]).unwrap_err().contains("ambiguous"));
    }

    #[test]
    fn one_letter_options_keep_their_meaning() {
        assert_eq!(norm(&["-s"]).unwrap(), ["-s"]);
        assert_eq!(norm(&["-vd", "-role"]).unwrap(), ["-vd", "-role"]);
        assert_eq!(norm(&["-vdDIR", "-role", "x"]).unwrap(), ["-vdDIR", "--role", "x"]);
        assert_eq!(norm(&["-d=DIR", "-ro", "x"]).unwrap(), ["-d=DIR", "--role", "x"]);
        assert_eq!(norm(&["-sd", "-stat"]).unwrap(), ["-sd", "-stat"]);
    }

    #[test]
    fn values_and_everything_after_dashdash_stay_as_they_are() {
        assert_eq!(norm(&["-d", "-raw", "-raw"]).unwrap(), ["-d", "-raw", "--raw"]);
        assert_eq!(norm(&["--connect", "-role"]).unwrap(), ["--connect", "-role"]);
        assert_eq!(norm(&["--conn", "-role"]).unwrap(), ["--conn", "-role"]);
        assert_eq!(norm(&["--connect=x", "-role", "y"]).unwrap(), ["--connect=x", "--role", "y"]);
        assert_eq!(norm(&["-role", "-stat"]).unwrap(), ["--role", "-stat"]);
        assert_eq!(norm(&["--", "-role"]).unwrap(), ["--", "-role"]);
        assert_eq!(norm(&["-1", "-2.5", "-"]).unwrap(), ["-1", "-2.5", "-"]);
    }

    #[test]
    fn log_levels() {
        for ok in ["info", "TRACE", "off", "warn,tinyssb_drivers=trace", "tungstenite=off"] {
            assert_eq!(parse_log_level(ok).as_deref(), Ok(ok));
        }
        for bad in ["", "verbose", "info,x=loud", "tinyssb_drivers"] {
            assert!(parse_log_level(bad).is_err(), "{bad}");
        }
    }
}
