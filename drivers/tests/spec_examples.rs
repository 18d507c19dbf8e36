//! The transport byte examples of SPEC.md (`hex crc32` and `hex kiss` blocks) checked against
//! the drivers' code; `tests/spec_examples.rs` in the core crate checks all other kinds.

#[path = "../../tests/spec/mod.rs"]
mod spec;

use spec::{to_hex, Block, Op};
use tinyssb_drivers::{crc, kiss};

#[test]
fn transport_examples_match_the_code() {
    let text = spec::read_spec(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let (blocks, _) = spec::parse(&text); // the core's test reports the parse problems
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for block in &blocks {
        let result = match block.kind.as_str() {
            "crc32" => check_crc32(block),
            "kiss" => check_kiss(block),
            _ => continue,
        };
        seen.push(block.kind.clone());
        if let Err(e) = result {
            problems.push(format!("{}: {e}", block.at()));
        }
    }
    assert!(problems.is_empty(), "SPEC.md examples out of date:\n{}", problems.join("\n"));
    for kind in ["crc32", "kiss"] {
        assert!(seen.iter().any(|k| k == kind), "no hex {kind} block found in SPEC.md");
    }
}

/// `"PACKET" = FRAME`: the packet (a JSON string) with its trailer is FRAME.
fn check_crc32(block: &Block) -> Result<(), String> {
    for eq in block.equations()? {
        let pkt: String = serde_json::from_str(&eq.value).map_err(|e| format!("line {}: {e}", eq.line))?;
        let frame = crc::frame(pkt.as_bytes(), true);
        if eq.op != Op::Both || frame != eq.bytes {
            return Err(format!("line {}: the code frames it as {}", eq.line, to_hex(&frame)));
        }
        if crc::strip(&eq.bytes) != Some(pkt.as_bytes()) {
            return Err(format!("line {}: the trailer does not check", eq.line));
        }
    }
    Ok(())
}

/// Every frame a decoder delivers for `line`.
fn kiss_decode(line: &[u8]) -> Vec<Result<Vec<u8>, kiss::KissError>> {
    let mut decoder = kiss::Decoder::new(1024);
    line.iter().filter_map(|&b| decoder.push(b)).collect()
}

/// `FRAME = LINE` (FRAME as hex is sent as LINE) or `error <- LINE` (LINE delivers no frame).
fn check_kiss(block: &Block) -> Result<(), String> {
    for eq in block.equations()? {
        let decoded = kiss_decode(&eq.bytes);
        if eq.op == Op::Rejects {
            if decoded.iter().any(Result::is_ok) {
                return Err(format!("line {}: a frame was delivered: {decoded:?}", eq.line));
            }
            continue;
        }
        let frame = spec::hex(&eq.value).map_err(|e| format!("line {}: {e}", eq.line))?;
        if decoded != vec![Ok(frame.clone())] {
            return Err(format!("line {}: reads as {decoded:?}", eq.line));
        }
        if eq.op == Op::Both {
            let mut out = Vec::new();
            kiss::encode(&frame, &mut out);
            if out != eq.bytes {
                return Err(format!("line {}: the code sends {}", eq.line, to_hex(&out)));
            }
        }
    }
    Ok(())
}
