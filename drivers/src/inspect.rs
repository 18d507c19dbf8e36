//! Read-side helpers shared by the `frontier` and `tinyssb-feed` tools: opening a data
//! directory read-only and reporting what was found, what an entry's available content is and
//! how to show it to a person, the directory's statistics and its two cross-implementation
//! digests, and dates for people. The chat format is in [`crate::chat`].

use std::path::Path;

use serde_json::{json, Value as Json};
use tinyssb::crypto::sha256;
use tinyssb::ids::to_hex;
use tinyssb::store::fs::{FsConfig, FsStore, OpenNote};
use tinyssb::store::{chunk_slots, Store, StoreError};
use tinyssb::wire::bipf::{self, Value};
use tinyssb::wire::entry::{Chain20, Entry, EntryType};
use tinyssb::{FeedId, Seq};

use crate::chat::tav_from_value;

/// Opens an existing data directory read-only and reports what it found on stderr.
///
/// Nothing is created, written, repaired or locked ([`FsStore::open_read_only`]): damaged
/// feeds are shown as a repair would leave them and reported, the files stay as they are.
pub fn open_existing(root: &Path) -> Result<FsStore, String> {
    if !root.is_dir() {
        return Err(format!("data directory {} does not exist", root.display()));
    }
    let store =
        FsStore::open_read_only(root, FsConfig::default()).map_err(|e| format!("{}: {e}", root.display()))?;
    for note in store.open_report() {
        eprintln!("note: {}", describe_found(note));
    }
    Ok(store)
}

/// Prints what opening the store for writing skipped or repaired, one line each, on stderr.
pub fn report_notes(notes: &[OpenNote]) {
    for note in notes {
        eprintln!("note: {}", describe_note(note));
    }
}

/// Describes what a read-only open found and left alone (a writing open would repair it).
fn describe_found(note: &OpenNote) -> String {
    match note {
        OpenNote::RemovedTemp(fid) => format!("feed {fid}: leftover frontier.tmp (ignored)"),
        OpenNote::CreatedLog(fid) => format!("feed {fid}: log.bin is missing (read as empty)"),
        OpenNote::RebuiltFrontier(fid) => {
            format!("feed {fid}: frontier.bin is missing or damaged (derived from the log)")
        }
        OpenNote::TruncatedLog { fid, from, to } => {
            format!("feed {fid}: log.bin has {from} bytes, of which {to} are valid (the rest is ignored)")
        }
        OpenNote::RecoveredEntries { fid, count } => {
            format!("feed {fid}: {count} entries in log.bin beyond frontier.bin (shown)")
        }
        OpenNote::RecoveredChunks { fid, seq, count } => {
            format!("feed {fid}: {count} chunks of seq {} beyond frontier.bin (shown)", seq.0)
        }
        other => describe_note(other),
    }
}

/// Describes what opening the store for writing skipped or repaired.
pub fn describe_note(note: &OpenNote) -> String {
    match note {
        OpenNote::Skipped { path, reason } => format!("skipped {}: {reason}", path.display()),
        OpenNote::RemovedTemp(fid) => format!("feed {fid}: removed leftover frontier.tmp"),
        OpenNote::CreatedLog(fid) => format!("feed {fid}: created missing log.bin"),
        OpenNote::RebuiltFrontier(fid) => format!("feed {fid}: rebuilt frontier.bin from the log"),
        OpenNote::RecoveredEntries { fid, count } => format!("feed {fid}: recovered {count} entries"),
        OpenNote::RecoveredChunks { fid, seq, count } => {
            format!("feed {fid}: recovered {count} chunks of seq {}", seq.0)
        }
        OpenNote::TruncatedLog { fid, from, to } => {
            format!("feed {fid}: truncated log.bin from {from} to {to} bytes")
        }
        OpenNote::Failed { path, error } => format!("could not open {}: {error}", path.display()),
    }
}

/// The feeds of a store in ascending fid order (the reference's feed index order).
pub fn sorted_feeds(store: &FsStore) -> Vec<FeedId> {
    let mut fids = store.feeds();
    fids.sort();
    fids
}

/// What a store holds of one entry's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Content {
    /// The entry's type byte.
    pub type_byte: u8,
    /// Announced content length (48 for plain48).
    pub len: u64,
    /// The content bytes available: everything for a complete entry, a prefix otherwise.
    pub bytes: Vec<u8>,
    /// Sidechain chunks announced.
    pub chunks_total: u32,
    /// The sidechain chunks held, in order.
    pub chunks: Vec<tinyssb::wire::chunk::Chunk>,
}

impl Content {
    /// All content is available.
    pub fn is_complete(&self) -> bool {
        self.bytes.len() as u64 == self.len
    }

    /// A short name of the entry type.
    pub fn type_name(&self) -> String {
        match EntryType::from_byte(self.type_byte) {
            Some(EntryType::Plain48) => "plain48".to_owned(),
            Some(EntryType::Chain20) => "chain20".to_owned(),
            None => format!("type{}", self.type_byte),
        }
    }
}

/// Reads entry `seq` and whatever part of its content the store holds.
pub fn read_content(
    store: &mut FsStore,
    fid: &FeedId,
    seq: Seq,
) -> Result<Option<(Entry, Content)>, StoreError> {
    let Some(entry) = store.read_entry(fid, seq)? else { return Ok(None) };
    let total = u32::try_from(chunk_slots(&entry)).unwrap_or(u32::MAX);
    let mut chunks = Vec::new();
    for nr in 0..total {
        match store.read_chunk(fid, seq, nr)? {
            Some(c) => chunks.push(c),
            None => break,
        }
    }
    let chain = Chain20::parse(entry.payload()).filter(|_| entry.entry_type() == Some(EntryType::Chain20));
    let (len, bytes) = match chain {
        None => (entry.payload().len() as u64, entry.payload().to_vec()),
        Some(c) => {
            let head = entry.payload().get(c.varint_len..c.varint_len + c.head_len()).unwrap_or_default();
            let mut v = head.to_vec();
            chunks.iter().for_each(|ch| v.extend_from_slice(ch.content()));
            v.truncate(usize::try_from(c.content_len).unwrap_or(usize::MAX));
            (c.content_len, v)
        }
    };
    let content = Content { type_byte: entry.type_byte(), len, bytes, chunks_total: total, chunks };
    Ok(Some((entry, content)))
}

/// Decodes content as BIPF when it plausibly is BIPF: one value, followed by nothing but
/// zero padding, with no control characters inside its strings.
pub fn as_bipf(bytes: &[u8]) -> Option<Value> {
    let (v, used) = bipf::decode_prefix(bytes).ok()?;
    let rest_zero = bytes.get(used..).is_some_and(|r| r.iter().all(|&b| b == 0));
    (rest_zero && clean_strings(&v)).then_some(v)
}

fn clean_strings(v: &Value) -> bool {
    match v {
        Value::Str(s) => !s.chars().any(char::is_control),
        Value::List(items) => items.iter().all(clean_strings),
        Value::Dict(pairs) => pairs.iter().all(|(k, v)| clean_strings(k) && clean_strings(v)),
        _ => true,
    }
}

/// Renders a BIPF value in JSON-like notation; byte strings are shown as `"0x<hex>"`.
pub fn render_value(v: &Value) -> String {
    match v {
        Value::Str(s) => Json::from(s.as_str()).to_string(),
        Value::Bytes(b) => format!("\"0x{}\"", to_hex(b)),
        Value::Int(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::None => "null".to_owned(),
        Value::List(items) => format!("[{}]", items.iter().map(render_value).collect::<Vec<_>>().join(", ")),
        Value::Dict(pairs) => {
            let inner: Vec<String> =
                pairs.iter().map(|(k, v)| format!("{}: {}", render_value(k), render_value(v))).collect();
            format!("{{{}}}", inner.join(", "))
        }
    }
}

/// Renders a BIPF value like [`render_value`], except that the voice recording of a TAV chat
/// message is shown as `[voice, N bytes]` instead of its bytes.
pub fn render_bipf(v: &Value) -> String {
    let (Some(body), Some(items)) = (tav_from_value(v), v.as_list()) else { return render_value(v) };
    let voice_at = if body.app_form { 3 } else { 2 };
    let parts: Vec<String> = items
        .iter()
        .enumerate()
        .map(|(i, x)| match x {
            Value::Bytes(b) if i == voice_at => format!("[voice, {} bytes]", b.len()),
            x => render_value(x),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

/// Content as printable text with trailing zero padding removed, if it is such text.
pub fn as_text(bytes: &[u8]) -> Option<&str> {
    let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    let s = std::str::from_utf8(bytes.get(..end)?).ok()?;
    (!s.is_empty() && !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t')).then_some(s)
}

/// One line for a person: `bipf: <value>`, a quoted text, or `0x<hex>`, then an
/// `(incomplete ...)` mark if chunks are missing.
pub fn render_content(c: &Content) -> String {
    let body = if let Some(v) = as_bipf(&c.bytes) {
        format!("bipf: {}", render_bipf(&v))
    } else if let Some(t) = as_text(&c.bytes) {
        Json::from(t).to_string()
    } else {
        format!("0x{}", to_hex(&c.bytes))
    };
    if c.is_complete() {
        body
    } else {
        format!(
            "{body} (incomplete: {} of {} bytes, {}/{} chunks)",
            c.bytes.len(),
            c.len,
            c.chunks.len(),
            c.chunks_total
        )
    }
}

/// Machine-readable form of an entry's content.
pub fn content_json(seq: Seq, c: &Content) -> Json {
    let mut o = json!({
        "seq": seq.0,
        "type": c.type_name(),
        "content_len": c.len,
        "available_len": c.bytes.len(),
        "chunks_total": c.chunks_total,
        "chunks_available": c.chunks.len(),
        "complete": c.is_complete(),
        "content_hex": to_hex(&c.bytes),
    });
    if let Some(v) = as_bipf(&c.bytes) {
        o["bipf"] = Json::from(render_bipf(&v));
    } else if let Some(t) = as_text(&c.bytes) {
        o["text"] = Json::from(t);
    }
    o
}

/// Counts over a whole data directory, as the reference's `frontier.py` prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Feeds.
    pub feeds: usize,
    /// Entries (sum of every feed's seq).
    pub entries: u64,
    /// Chunks held.
    pub chunks_available: u64,
    /// Chunks announced but not held.
    pub chunks_missing: u64,
    /// One `(feed index, seq, first missing chunk)` per pending chain.
    pub pending: Vec<(usize, u32, u32)>,
}

impl DirStats {
    /// Gathers the counts of every feed, in fid order.
    pub fn gather(store: &mut FsStore) -> Result<DirStats, StoreError> {
        let mut st = DirStats::default();
        for (i, fid) in sorted_feeds(store).iter().enumerate() {
            let Some(fs) = tinyssb::store::feed_stats(store, fid)? else { continue };
            st.feeds += 1;
            st.entries += u64::from(fs.entries);
            st.chunks_available += fs.chunks_available;
            st.chunks_missing += fs.chunks_missing;
            st.pending.extend(store.pending_chains(fid).iter().map(|p| (i, p.seq.0, p.next_chunk)));
        }
        Ok(st)
    }

    /// The pending chains as `i.s.cff` items, comma separated.
    pub fn missing_list(&self) -> String {
        let items: Vec<String> = self.pending.iter().map(|(i, s, c)| format!("{i}.{s}.{c}ff")).collect();
        items.join(", ")
    }

    /// The reference's stats block (the missing line ends in `: ` when nothing pends).
    pub fn render(&self) -> String {
        format!(
            "Stats:\n- {} feeds\n- {} available entries\n- {} available chunks\n- {} missing chunks: {}\n",
            self.feeds,
            self.entries,
            self.chunks_available,
            self.chunks_missing,
            self.missing_list()
        )
    }

    /// Machine-readable form.
    pub fn to_json(&self) -> Json {
        json!({
            "feeds": self.feeds,
            "entries": self.entries,
            "chunks_available": self.chunks_available,
            "chunks_missing": self.chunks_missing,
            "pending_chains": self.pending.len(),
            "missing": self.missing_list(),
        })
    }
}

/// The `digest_full` and `digest_logical` of the directory, as defined by the
/// interoperability vectors (tests/vectors): lowercase hex SHA-256 each.
pub fn digests(store: &mut FsStore) -> Result<(String, String), StoreError> {
    let mut full = b"tinyssb-interop/full/v1".to_vec();
    let mut logical = b"tinyssb-interop/logical/v1".to_vec();
    for fid in sorted_feeds(store) {
        let max = store.frontier(&fid).map_or(0, |f| f.seq.0);
        for d in [&mut full, &mut logical] {
            d.push(b'F');
            d.extend_from_slice(&fid.0);
            d.extend_from_slice(&max.to_be_bytes());
        }
        for s in 1..=max {
            let Some((entry, c)) = read_content(store, &fid, Seq(s))? else {
                return Err(StoreError::Corrupt(format!("feed {fid} lacks entry {s}")));
            };
            full.push(b'E');
            full.extend_from_slice(&s.to_be_bytes());
            full.extend_from_slice(&entry.0);
            full.extend_from_slice(&c.chunks_total.to_be_bytes());
            full.extend_from_slice(&u32::try_from(c.chunks.len()).unwrap_or(u32::MAX).to_be_bytes());
            c.chunks.iter().for_each(|ch| full.extend_from_slice(&ch.0));
            logical.push(b'E');
            logical.extend_from_slice(&s.to_be_bytes());
            logical.push(c.type_byte);
            logical.extend_from_slice(&(u32::try_from(c.len).unwrap_or(u32::MAX)).to_be_bytes());
            logical.extend_from_slice(&u32::try_from(c.bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
            logical.extend_from_slice(&c.bytes);
        }
    }
    Ok((to_hex(&sha256(&[&full])), to_hex(&sha256(&[&logical]))))
}

/// Formats unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC, proleptic Gregorian calendar).
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (era-based algorithm, 400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", tod / 3600, tod % 3600 / 60, tod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_known_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn padded_text_is_not_taken_for_bipf() {
        let mut p = b"hello tinySSB".to_vec();
        p.resize(48, 0);
        assert_eq!(as_bipf(&p), None);
        assert_eq!(as_text(&p), Some("hello tinySSB"));
    }
}
