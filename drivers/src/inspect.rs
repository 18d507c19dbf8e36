//! Read-side helpers shared by the `frontier` and `tinyssb-feed` tools: what an entry's
//! available content is, how to show it to a person, the data directory's statistics and
//! its two cross-implementation digests, and reading the text-and-voice ("TAV") chat.

use std::path::Path;

use serde_json::{json, Value as Json};
use tinyssb::crypto::sha256;
use tinyssb::ids::to_hex;
use tinyssb::store::fs::{FsConfig, FsStore, OpenNote};
use tinyssb::store::{chunk_slots, Store, StoreError};
use tinyssb::wire::bipf::{self, Value};
use tinyssb::wire::entry::{Chain20, Entry, EntryType};
use tinyssb::{FeedId, MsgId, Seq};

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

/// The body of a public text-and-voice chat message, in either of its two forms (see
/// `SPEC.md`, "Application formats"):
///
/// * the tinySSB app's `["TAV", [tips], text|null, voice|null, unix-seconds]`, where `tips`
///   are the message ids (standard base64 of the 20 bytes) of the chat's latest posts;
/// * simplechat's older `["TAV", text|null, voice|null, unix-seconds]`, which has no tips.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TavBody {
    /// The message ids this post follows (empty for the simplechat form).
    pub tips: Vec<String>,
    /// The text, if any.
    pub text: Option<String>,
    /// The voice recording (codec2 bytes), if any.
    pub voice: Option<Vec<u8>>,
    /// Unix time in seconds, as the author claims it.
    pub time: i64,
    /// Which of the two forms the body was written in.
    pub app_form: bool,
}

/// A public chat message found in a data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tav {
    /// Author feed.
    pub author: FeedId,
    /// Seq of the entry.
    pub seq: Seq,
    /// The entry's message id, as other posts name it in their tips.
    pub msg_ref: String,
    /// What the message says.
    pub body: TavBody,
}

/// Most message ids [`chat_tips`] puts into a new post's tips.
pub const MAX_TIPS: usize = 16;

/// Encodes a public chat message in the app's five-element form.
pub fn tav_encode(tips: &[String], text: Option<&str>, voice: Option<&[u8]>, unix_secs: i64) -> Vec<u8> {
    bipf::encode(&Value::List(vec![
        Value::from("TAV"),
        Value::List(tips.iter().map(|t| Value::from(t.as_str())).collect()),
        text.map_or(Value::None, Value::from),
        voice.map_or(Value::None, |v| Value::Bytes(v.to_vec())),
        Value::Int(unix_secs),
    ]))
}

/// Interprets a decoded value as a TAV message of either form.
pub fn tav_from_value(v: &Value) -> Option<TavBody> {
    let items = v.as_list()?;
    if items.first()?.as_str()? != "TAV" {
        return None;
    }
    let text = |v: &Value| v.as_str().map(str::to_owned);
    let voice = |v: &Value| match v {
        Value::Bytes(b) => Some(b.clone()),
        _ => None,
    };
    let time = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        // Not written by any known client, but harmless to accept: whole seconds, saturating.
        #[allow(clippy::cast_possible_truncation)]
        Value::Double(d) if d.is_finite() => Some(d.trunc() as i64),
        _ => None,
    };
    match items.get(1)? {
        Value::List(tips) => Some(TavBody {
            tips: tips.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
            text: text(items.get(2)?),
            voice: voice(items.get(3)?),
            time: time(items.get(4)?)?,
            app_form: true,
        }),
        first => Some(TavBody {
            tips: Vec::new(),
            text: text(first),
            voice: voice(items.get(2)?),
            time: time(items.get(3)?)?,
            app_form: false,
        }),
    }
}

/// Interprets complete content as a TAV message; trailing bytes after the first value are ignored.
pub fn tav_decode(bytes: &[u8]) -> Option<TavBody> {
    tav_from_value(&bipf::decode_prefix(bytes).ok()?.0)
}

/// How a message id is written in the app's tips: standard base64 (with padding) of its bytes.
pub fn msg_ref(mid: &MsgId) -> String {
    base64(&mid.0)
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [group[0], group.get(1).copied().unwrap_or(0), group.get(2).copied().unwrap_or(0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// All complete TAV messages of every feed, sorted by time (then author, seq).
pub fn tav_messages(store: &mut FsStore) -> Result<Vec<Tav>, StoreError> {
    let mut out = Vec::new();
    for fid in sorted_feeds(store) {
        let max = store.frontier(&fid).map_or(0, |f| f.seq.0);
        let mut prev = fid.genesis_prev();
        for s in 1..=max {
            let Some((entry, c)) = read_content(store, &fid, Seq(s))? else { break };
            let mid = entry.msg_id(&fid, Seq(s), &prev);
            prev = mid;
            if !c.is_complete() {
                continue;
            }
            if let Some(body) = tav_decode(&c.bytes) {
                out.push(Tav { author: fid, seq: Seq(s), msg_ref: msg_ref(&mid), body });
            }
        }
    }
    out.sort_by_key(|m| (m.body.time, m.author, m.seq.0));
    Ok(out)
}

/// The tips of the public chat for a new post, as the app computes them: the posts that no
/// other post names among its tips (the ends of the chat's graph), newest last, at most
/// [`MAX_TIPS`] of them (the newest).
pub fn chat_tips(msgs: &[Tav]) -> Vec<String> {
    let named: std::collections::HashSet<&str> =
        msgs.iter().flat_map(|m| m.body.tips.iter().map(String::as_str)).collect();
    // `msgs` is sorted by time, so the newest are at the end.
    let ends: Vec<String> =
        msgs.iter().filter(|m| !named.contains(m.msg_ref.as_str())).map(|m| m.msg_ref.clone()).collect();
    ends.get(ends.len().saturating_sub(MAX_TIPS)..).unwrap_or_default().to_vec()
}

/// The chat tips of the data directory `root` (none if it does not exist yet). The directory
/// is only read, and what opening it finds is not reported (the writer that follows does).
pub fn chat_tips_in(root: &Path) -> Result<Vec<String>, String> {
    if !root.is_dir() {
        return Ok(Vec::new());
    }
    let mut store =
        FsStore::open_read_only(root, FsConfig::default()).map_err(|e| format!("{}: {e}", root.display()))?;
    let msgs = tav_messages(&mut store).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(chat_tips(&msgs))
}

/// One chat message for a person: `[voice, N bytes]` for a recording, then the text.
pub fn describe_tav(body: &TavBody) -> String {
    let voice = body.voice.as_ref().map(|v| format!("[voice, {} bytes]", v.len()));
    match (voice, &body.text) {
        (Some(v), Some(t)) if !t.is_empty() => format!("{v} {t}"),
        (Some(v), _) => v,
        (None, t) => t.clone().unwrap_or_default(),
    }
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

    fn hex(s: &str) -> Vec<u8> {
        tinyssb::ids::from_hex(&s.replace(' ', "")).unwrap()
    }

    // The expected bytes are built by hand from SPEC.md section 2.2: tag = len << 3 | type,
    // "TAV" = 18 544156, 1700000000 = 0x6553f100 = 22 00f15365 (little-endian), none = 06.

    #[test]
    fn tav_app_form_known_bytes() {
        // ["TAV", ["AAAA"], "hi", null, 1700000000]: body 4+6+3+1+5 = 19 bytes, tag 156 = 9c01.
        let bytes = hex("9c01 18544156 2c 2041414141 10 6869 06 2200f15365");
        assert_eq!(tav_encode(&["AAAA".to_owned()], Some("hi"), None, 1_700_000_000), bytes);
        let body = tav_decode(&bytes).unwrap();
        assert_eq!(
            body,
            TavBody {
                tips: vec!["AAAA".to_owned()],
                text: Some("hi".to_owned()),
                voice: None,
                time: 1_700_000_000,
                app_form: true
            }
        );
        assert_eq!(describe_tav(&body), "hi");
        assert_eq!(
            render_bipf(&bipf::decode(&bytes).unwrap()),
            r#"["TAV", ["AAAA"], "hi", null, 1700000000]"#
        );
    }

    #[test]
    fn tav_app_form_voice_without_tips() {
        // ["TAV", [], null, 0x010203, 1700000000]: body 4+1+1+4+5 = 15 bytes, tag 0x7c.
        let bytes = hex("7c 18544156 04 06 19 010203 2200f15365");
        assert_eq!(tav_encode(&[], None, Some(&[1, 2, 3]), 1_700_000_000), bytes);
        let body = tav_decode(&bytes).unwrap();
        assert_eq!(
            (body.app_form, body.text.as_deref(), body.voice.as_deref()),
            (true, None, Some(&[1u8, 2, 3][..]))
        );
        assert_eq!(describe_tav(&body), "[voice, 3 bytes]");
        assert_eq!(
            render_bipf(&bipf::decode(&bytes).unwrap()),
            r#"["TAV", [], null, [voice, 3 bytes], 1700000000]"#
        );
    }

    #[test]
    fn tav_simplechat_form_known_bytes() {
        // ["TAV", "hi", null, 1700000000]: body 4+3+1+5 = 13 bytes, tag 0x6c.
        let text = tav_decode(&hex("6c 18544156 10 6869 06 2200f15365")).unwrap();
        assert_eq!(
            text,
            TavBody {
                tips: vec![],
                text: Some("hi".to_owned()),
                voice: None,
                time: 1_700_000_000,
                app_form: false
            }
        );
        // ["TAV", null, 0x010203, 1700000000]: body 4+1+4+5 = 14 bytes, tag 0x74.
        let bytes = hex("74 18544156 06 19 010203 2200f15365");
        let voice = tav_decode(&bytes).unwrap();
        assert_eq!((voice.text, voice.voice, voice.app_form), (None, Some(vec![1, 2, 3]), false));
        assert_eq!(
            render_bipf(&bipf::decode(&bytes).unwrap()),
            r#"["TAV", null, [voice, 3 bytes], 1700000000]"#
        );
        // Not TAV, or too short: not a chat message.
        assert_eq!(tav_decode(&hex("5c 18544157 06 06 2200f15365")), None);
        assert_eq!(tav_decode(&hex("34 18544156 06 06")), None);
    }

    #[test]
    fn message_refs_are_padded_standard_base64() {
        assert_eq!(msg_ref(&MsgId([0; 20])), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
        assert_eq!(base64(b"tinySSB"), "dGlueVNTQg==");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn tips_are_the_posts_nobody_follows() {
        let post = |seq: u32, time: i64, tips: &[&str]| Tav {
            author: FeedId([7; 32]),
            seq: Seq(seq),
            msg_ref: format!("m{seq}"),
            body: TavBody {
                tips: tips.iter().map(|t| (*t).to_owned()).collect(),
                text: None,
                voice: None,
                time,
                app_form: true,
            },
        };
        assert!(chat_tips(&[]).is_empty());
        let msgs = [post(1, 10, &[]), post(2, 20, &["m1"]), post(3, 30, &["m1"])];
        assert_eq!(chat_tips(&msgs), ["m2", "m3"]);
        let many: Vec<Tav> = (1..=40).map(|i| post(i, i64::from(i), &[])).collect();
        let tips = chat_tips(&many);
        assert_eq!((tips.len(), tips.first().map(String::as_str)), (MAX_TIPS, Some("m25")));
    }

    #[test]
    fn padded_text_is_not_taken_for_bipf() {
        let mut p = b"hello tinySSB".to_vec();
        p.resize(48, 0);
        assert_eq!(as_bipf(&p), None);
        assert_eq!(as_text(&p), Some("hello tinySSB"));
    }
}
