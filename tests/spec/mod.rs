//! Reads the byte examples out of SPEC.md (the `hex KIND [NAME]` blocks described in its
//! notation section), for `tests/spec_examples.rs` and `drivers/tests/spec_examples.rs`.

#![allow(dead_code)] // each of the two tests uses a different part

use std::fmt::Write as _;

/// A fenced block tagged `hex KIND [NAME]`.
#[derive(Debug)]
pub struct Block {
    /// Line of the opening fence in SPEC.md (1-based).
    pub line: usize,
    /// The kind, the word after `hex`.
    pub kind: String,
    /// Everything after the kind, or "".
    pub name: String,
    /// The non-empty lines of the block.
    pub lines: Vec<Line>,
}

/// One non-empty line of a block, split at its `#` comment.
#[derive(Debug)]
pub struct Line {
    /// Line number in SPEC.md (1-based).
    pub line: usize,
    /// The text before the comment, trimmed.
    pub text: String,
    /// The comment without `#`, trimmed ("" without one).
    pub comment: String,
}

/// The fields of a byte-string block: each line's label and bytes, in order.
pub type Fields = Vec<(String, Vec<u8>)>;

/// How an equation relates its value to its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `VALUE = HEX`: VALUE is written as exactly HEX, and HEX is read as VALUE.
    Both,
    /// `VALUE <- HEX`: HEX is read as VALUE.
    Reads,
    /// `error <- HEX`: HEX is rejected.
    Rejects,
}

/// One `VALUE op HEX` line.
#[derive(Debug)]
pub struct Equation {
    /// Line number in SPEC.md.
    pub line: usize,
    /// The left-hand side (empty for [`Op::Rejects`]).
    pub value: String,
    /// The relation.
    pub op: Op,
    /// The right-hand side, decoded.
    pub bytes: Vec<u8>,
}

/// SPEC.md's text; `root` is the directory holding it.
pub fn read_spec(root: &str) -> String {
    std::fs::read_to_string(format!("{root}/SPEC.md")).expect("read SPEC.md")
}

/// All `hex` blocks of `spec`, and the problems found on the way: fenced blocks without a tag
/// and inline code spans that look like byte examples outside a block.
pub fn parse(spec: &str) -> (Vec<Block>, Vec<String>) {
    let mut blocks = Vec::new();
    let mut problems = Vec::new();
    let mut open: Option<(usize, String)> = None;
    let mut body: Vec<Line> = Vec::new();
    for (i, raw) in spec.lines().enumerate() {
        let n = i + 1;
        let trimmed = raw.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            match open.take() {
                None => {
                    if info.trim().is_empty() {
                        problems.push(format!("SPEC.md:{n}: fenced block without a tag (use text or hex)"));
                    }
                    open = Some((n, info.trim().to_string()));
                    body.clear();
                }
                Some((start, tag)) => {
                    let mut words = tag.splitn(3, ' ');
                    if words.next() == Some("hex") {
                        let kind = words.next().unwrap_or("").to_string();
                        let name = words.next().unwrap_or("").trim().to_string();
                        blocks.push(Block { line: start, kind, name, lines: std::mem::take(&mut body) });
                    }
                }
            }
            continue;
        }
        if open.is_some() {
            let (text, comment) = match trimmed.split_once('#') {
                Some((t, c)) => (t.trim(), c.trim()),
                None => (trimmed, ""),
            };
            if !text.is_empty() || !comment.is_empty() {
                body.push(Line { line: n, text: text.to_string(), comment: comment.to_string() });
            }
        } else {
            for span in code_spans(raw) {
                if looks_like_bytes(span) {
                    problems.push(format!(
                        "SPEC.md:{n}: inline byte example `{span}`: put it in a hex block so it is checked"
                    ));
                }
            }
        }
    }
    if let Some((start, _)) = open {
        problems.push(format!("SPEC.md:{start}: fenced block never closed"));
    }
    (blocks, problems)
}

/// The text inside each pair of backticks on a line.
fn code_spans(line: &str) -> impl Iterator<Item = &str> {
    line.split('`').skip(1).step_by(2)
}

/// Whether an inline code span is an encoding rather than a name or a single byte: two or more
/// groups of hex digits (`0a 7f`), or one group of three bytes or more (`613dfa`).
fn looks_like_bytes(span: &str) -> bool {
    let groups: Vec<&str> = span.split_whitespace().collect();
    let hex = |g: &str| {
        g.len().is_multiple_of(2) && g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    !groups.is_empty() && groups.iter().all(|g| hex(g)) && (groups.len() >= 2 || span.len() >= 6)
}

/// Decodes hex bytes grouped freely by spaces; `XX*N` is `N` bytes `XX`.
pub fn hex(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for group in text.split_whitespace() {
        if let Some((byte, count)) = group.split_once('*') {
            let byte = u8::from_str_radix(byte, 16).map_err(|_| format!("bad byte in {group:?}"))?;
            let count: usize = count.parse().map_err(|_| format!("bad count in {group:?}"))?;
            out.extend(std::iter::repeat_n(byte, count));
            continue;
        }
        if !group.len().is_multiple_of(2) {
            return Err(format!("odd number of hex digits in {group:?}"));
        }
        for i in (0..group.len()).step_by(2) {
            let pair = group.get(i..i + 2).ok_or_else(|| format!("not hex: {group:?}"))?;
            out.push(u8::from_str_radix(pair, 16).map_err(|_| format!("not hex: {group:?}"))?);
        }
    }
    Ok(out)
}

/// Lowercase hex of `bytes`, for messages.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

impl Block {
    /// Where the block is, for messages.
    pub fn at(&self) -> String {
        format!("SPEC.md:{} (hex {} {})", self.line, self.kind, self.name)
    }

    /// The block read as equations.
    pub fn equations(&self) -> Result<Vec<Equation>, String> {
        self.lines
            .iter()
            .map(|l| {
                let (value, op, rhs) = if let Some((v, h)) = l.text.rsplit_once(" <- ") {
                    let v = v.trim();
                    if v == "error" {
                        (String::new(), Op::Rejects, h)
                    } else {
                        (v.to_string(), Op::Reads, h)
                    }
                } else if let Some((v, h)) = l.text.rsplit_once(" = ") {
                    (v.trim().to_string(), Op::Both, h)
                } else {
                    return Err(format!("SPEC.md:{}: not an equation: {:?}", l.line, l.text));
                };
                let bytes = hex(rhs).map_err(|e| format!("SPEC.md:{}: {e}", l.line))?;
                Ok(Equation { line: l.line, value, op, bytes })
            })
            .collect()
    }

    /// The block read as one byte string, with the field each line's bytes belong to (the first
    /// word of its comment, lowercased, without a trailing colon).
    pub fn fields(&self) -> Result<(Vec<u8>, Fields), String> {
        let mut all = Vec::new();
        let mut fields = Vec::new();
        for l in &self.lines {
            let bytes = hex(&l.text).map_err(|e| format!("SPEC.md:{}: {e}", l.line))?;
            let label = l.comment.split_whitespace().next().unwrap_or("");
            let label = label.trim_end_matches(':').to_lowercase();
            all.extend_from_slice(&bytes);
            fields.push((label, bytes));
        }
        Ok((all, fields))
    }
}

/// The concatenated bytes of every line labelled `label`, or `None` if there is none.
pub fn field(fields: &[(String, Vec<u8>)], label: &str) -> Option<Vec<u8>> {
    let parts: Vec<&Vec<u8>> = fields.iter().filter(|(l, _)| l == label).map(|(_, b)| b).collect();
    (!parts.is_empty()).then(|| parts.into_iter().flatten().copied().collect())
}
