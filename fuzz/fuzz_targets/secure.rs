//! Secure links (`tinyssb::secure`): arbitrary bytes as handshake messages to a responder and
//! an initiator, and as transport messages to an established link, are taken or rejected with
//! an error, never a panic; and what a link seals, its peer opens unchanged.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use tinyssb::secure::{Handshake, Link, SecureConfig, Side, StaticKey, MAX_PACKET};

fn cfg(b: u8) -> Arc<SecureConfig> {
    Arc::new(SecureConfig::new(StaticKey::from_secret([b; 32]).expect("key")))
}

/// A finished handshake between fixed keys: (initiator's link, responder's link).
fn links() -> (Link, Link) {
    let mut i = Handshake::new(Side::Initiator, cfg(1), [3; 32]).expect("initiator");
    let mut r = Handshake::new(Side::Responder, cfg(2), [4; 32]).expect("responder");
    for turn in 0..3 {
        let (from, to) = if turn % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
        let msg = from.poll_transmit().expect("message due");
        to.handle_message(&msg).expect("handshake");
    }
    (i.into_link().expect("link"), r.into_link().expect("link"))
}

/// Splits `data` into messages: a length byte, then that many bytes (fewer at the end).
fn messages(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let (msg, tail) = rest.split_at(usize::from(len).min(rest.len()));
        out.push(msg);
        data = tail;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let msgs = messages(data);
    let mut responder = Handshake::new(Side::Responder, cfg(2), [4; 32]).expect("responder");
    let mut initiator = Handshake::new(Side::Initiator, cfg(1), [3; 32]).expect("initiator");
    let _ = initiator.poll_transmit();
    for m in &msgs {
        if responder.handle_message(m).is_ok() {
            let _ = responder.poll_transmit();
        }
        let _ = initiator.handle_message(m);
    }
    let (mut li, mut lr) = links();
    for m in &msgs {
        // A forged message never opens.
        assert!(lr.open(m).is_err());
        let pkt = &m[..m.len().min(MAX_PACKET)];
        match li.seal(pkt) {
            Ok(sealed) => assert_eq!(lr.open(&sealed).as_deref(), Ok(pkt)),
            Err(_) => assert!(pkt.is_empty()),
        }
    }
});
