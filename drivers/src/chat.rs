//! The text-and-voice ("TAV") public chat of the tinySSB app and of simplechat: encoding and
//! decoding a message body, message references, the chat's tips, and reading every chat message
//! of a data directory (see `SPEC.md`, "Application formats").

use std::path::Path;

use tinyssb::store::fs::{FsConfig, FsStore};
use tinyssb::store::{Store, StoreError};
use tinyssb::wire::bipf::{self, Value};
use tinyssb::{FeedId, MsgId, Seq};

use crate::inspect::{read_content, sorted_feeds};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::render_bipf;
    use tinyssb::MsgId;

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
}
