//! Secure links (`tinyssb::secure`): the Noise XX handshake with fixed keys and entropy
//! (known answers), tampering, replay and untrusted keys, and feed bindings.

use std::collections::BTreeSet;
use std::sync::Arc;

use tinyssb::crypto::Keypair;
use tinyssb::ids::{from_hex, to_hex};
use tinyssb::secure::{
    FeedBinding, Handshake, Link, SecureConfig, SecureError, Side, StaticKey, Trust, BINDING_LEN, TAG_LEN,
};

/// A finished handshake: its three messages and both transports; or the first error, with
/// `true` if the initiator raised it.
type Outcome = Result<(Vec<Vec<u8>>, Link, Link), (bool, SecureError)>;

fn key(byte: u8) -> StaticKey {
    StaticKey::from_secret([byte; 32]).expect("key")
}

fn cfg(byte: u8) -> Arc<SecureConfig> {
    Arc::new(SecureConfig::new(key(byte)))
}

/// Runs a handshake between `i` and `r` to its end, returning the three messages and both
/// transports, or the first error (and which side raised it: true for the initiator).
fn handshake(mut i: Handshake, mut r: Handshake) -> Outcome {
    let mut msgs = Vec::new();
    for turn in 0..3 {
        let (from, to, to_is_initiator) =
            if turn % 2 == 0 { (&mut i, &mut r, false) } else { (&mut r, &mut i, true) };
        let msg = from.poll_transmit().expect("a message is due");
        to.handle_message(&msg).map_err(|e| (to_is_initiator, e))?;
        msgs.push(msg);
    }
    assert!(i.poll_transmit().is_none() && r.poll_transmit().is_none());
    assert_eq!(i.handshake_hash(), r.handshake_hash(), "both sides agree on the session");
    let li = i.into_link().expect("initiator done");
    let lr = r.into_link().expect("responder done");
    Ok((msgs, li, lr))
}

fn pair(ci: Arc<SecureConfig>, cr: Arc<SecureConfig>) -> Outcome {
    let i = Handshake::new(Side::Initiator, ci, [0x11; 32]).expect("initiator");
    let r = Handshake::new(Side::Responder, cr, [0x22; 32]).expect("responder");
    handshake(i, r)
}

#[test]
fn x25519_public_keys_match_rfc_7748() {
    // RFC 7748, section 6.1: Alice's and Bob's key pairs.
    let alice = from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a").unwrap();
    let bob = from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb").unwrap();
    let k = StaticKey::from_secret(alice.try_into().unwrap()).unwrap();
    assert_eq!(to_hex(&k.public()), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    let k = StaticKey::from_secret(bob.try_into().unwrap()).unwrap();
    assert_eq!(to_hex(&k.public()), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
}

/// Fixed static keys and entropy give fixed handshake bytes: the known answers below. Message
/// 1 is the initiator's ephemeral public key in clear (the X25519 public key of its entropy);
/// 2 is e (32) + encrypted s (48) + the empty payload's tag (16); 3 is encrypted s + tag.
#[test]
fn handshake_known_answer() {
    let (msgs, mut li, mut lr) = pair(cfg(1), cfg(2)).expect("handshake");
    let lens: Vec<usize> = msgs.iter().map(Vec::len).collect();
    assert_eq!(lens, [32, 96, 64]);
    assert_eq!(msgs[0], key(0x11).public(), "message 1 is the ephemeral public key");
    assert_eq!(msgs[1][..32], key(0x22).public(), "message 2 starts with the responder's ephemeral");
    let want = [
        include_str!("vectors/secure_msg1.hex"),
        include_str!("vectors/secure_msg2.hex"),
        include_str!("vectors/secure_msg3.hex"),
    ];
    for (n, (got, want)) in msgs.iter().zip(want).enumerate() {
        assert_eq!(to_hex(got), want.trim(), "handshake message {}", n + 1);
    }
    assert_eq!(li.peer().static_key, key(2).public());
    assert_eq!(lr.peer().static_key, key(1).public());
    assert_eq!(li.peer().feed, None);
    let sealed = li.seal(b"hello").unwrap();
    assert_eq!(sealed.len(), 5 + TAG_LEN);
    assert_eq!(to_hex(&sealed), include_str!("vectors/secure_transport1.hex").trim());
    assert_eq!(lr.open(&sealed).unwrap(), b"hello");
    // And back the other way, with the responder's own key.
    let back = lr.seal(&[7u8; 120]).unwrap();
    assert_eq!(back.len(), 136);
    assert_eq!(li.open(&back).unwrap(), [7u8; 120]);
}

#[test]
fn handshakes_with_fresh_entropy_differ() {
    let i = Handshake::new(Side::Initiator, cfg(1), [0x33; 32]).unwrap();
    let r = Handshake::new(Side::Responder, cfg(2), [0x44; 32]).unwrap();
    let (other, mut li, mut lr) = handshake(i, r).unwrap();
    let (fixed, _, _) = pair(cfg(1), cfg(2)).unwrap();
    assert_ne!(other, fixed);
    assert_eq!(lr.open(&li.seal(b"x").unwrap()).unwrap(), b"x");
}

#[test]
fn tampered_transport_messages_are_rejected() {
    let (_, mut li, mut lr) = pair(cfg(1), cfg(2)).unwrap();
    let sealed = li.seal(b"a tinySSB packet").unwrap();
    for i in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        // A fresh receiver for each try: a failed open ends a link in the driver anyway.
        let (_, mut li2, mut lr2) = pair(cfg(1), cfg(2)).unwrap();
        let _ = li2.seal(b"a tinySSB packet").unwrap();
        assert_eq!(lr2.open(&bad), Err(SecureError::Decrypt), "bit flip in byte {i}");
    }
    assert_eq!(lr.open(&sealed[..sealed.len() - 1]), Err(SecureError::Decrypt), "truncated");
    assert_eq!(lr.open(&sealed[..TAG_LEN]), Err(SecureError::Empty));
    assert_eq!(lr.open(&[0u8; 200]), Err(SecureError::TooLong(200)));
    assert_eq!(lr.open(&sealed).unwrap(), b"a tinySSB packet");
}

#[test]
fn replayed_and_reordered_messages_are_rejected() {
    let (_, mut li, mut lr) = pair(cfg(1), cfg(2)).unwrap();
    let one = li.seal(b"one").unwrap();
    let two = li.seal(b"two").unwrap();
    assert_eq!(lr.open(&one).unwrap(), b"one");
    assert_eq!(lr.open(&one), Err(SecureError::Decrypt), "replay");
    assert_eq!(lr.open(&two).unwrap(), b"two");

    let (_, mut li, mut lr) = pair(cfg(1), cfg(2)).unwrap();
    let one = li.seal(b"one").unwrap();
    let two = li.seal(b"two").unwrap();
    assert_eq!(lr.open(&two), Err(SecureError::Decrypt), "reordered");
    drop(one);
    // A message sealed by the receiver's own side does not open either (reflection).
    let (_, mut li, _) = pair(cfg(1), cfg(2)).unwrap();
    let mine = li.seal(b"mine").unwrap();
    assert_eq!(li.open(&mine), Err(SecureError::Decrypt), "reflected");
}

#[test]
fn tampered_handshake_messages_fail() {
    for n in 0..3 {
        for byte in [0usize, 31, 40, 63] {
            let mut i = Handshake::new(Side::Initiator, cfg(1), [0x11; 32]).unwrap();
            let mut r = Handshake::new(Side::Responder, cfg(2), [0x22; 32]).unwrap();
            let mut failed = None;
            for turn in 0..3 {
                let (from, to) = if turn % 2 == 0 { (&mut i, &mut r) } else { (&mut r, &mut i) };
                let mut msg = from.poll_transmit().unwrap();
                if turn == n {
                    let at = byte.min(msg.len() - 1);
                    msg[at] ^= 0x80;
                }
                if let Err(e) = to.handle_message(&msg) {
                    failed = Some(e);
                    break;
                }
            }
            match (n, failed) {
                // Message 1 is an unauthenticated ephemeral key: the flip shows in message 2,
                // which the initiator then fails to decrypt.
                (_, Some(SecureError::Decrypt)) => {}
                (n, other) => panic!("message {} byte {byte}: {other:?}", n + 1),
            }
        }
    }
}

#[test]
fn untrusted_keys_are_refused_by_either_side() {
    let only = |byte: u8| Trust::Only(BTreeSet::from([key(byte).public()]));
    let with_trust =
        |byte: u8, trust: Trust| Arc::new(SecureConfig { trust, ..SecureConfig::new(key(byte)) });

    // The initiator refuses the responder after message 2, before revealing its own key.
    let err = pair(with_trust(1, only(9)), cfg(2)).unwrap_err();
    assert_eq!(err, (true, SecureError::Untrusted(key(2).public())));
    // The responder refuses the initiator after message 3.
    let err = pair(cfg(1), with_trust(2, only(9))).unwrap_err();
    assert_eq!(err, (false, SecureError::Untrusted(key(1).public())));
    // Listed keys pass.
    assert!(pair(with_trust(1, only(2)), with_trust(2, only(1))).is_ok());
}

#[test]
fn out_of_turn_and_oversized_handshake_messages_fail() {
    let mut i = Handshake::new(Side::Initiator, cfg(1), [0x11; 32]).unwrap();
    assert_eq!(i.handle_message(&[0; 32]), Err(SecureError::OutOfTurn), "its message 1 is unsent");
    let mut r = Handshake::new(Side::Responder, cfg(2), [0x22; 32]).unwrap();
    assert_eq!(r.handle_message(&[]), Err(SecureError::Empty));
    assert_eq!(r.handle_message(&[0; 300]), Err(SecureError::TooLong(300)));
    assert_eq!(r.handle_message(&[0; 40]), Err(SecureError::BadPayload), "message 1 carries no payload");
    let r = Handshake::new(Side::Responder, cfg(2), [0x22; 32]).unwrap();
    assert!(matches!(r.into_link(), Err(SecureError::NotFinished)));
}

#[test]
fn a_feed_binding_names_the_feed_and_a_false_one_fails() {
    let feed = Keypair::from_seed(&[5; 32]);
    let k1 = key(1);
    let binding = FeedBinding::sign(&feed, &k1.public());
    assert_eq!(binding.encode().len(), BINDING_LEN);
    assert_eq!(FeedBinding::decode(&binding.encode()).unwrap(), binding);
    let bound = Arc::new(SecureConfig { binding: Some(binding.clone()), ..SecureConfig::new(k1) });
    let (msgs, _, lr) = pair(bound, cfg(2)).unwrap();
    assert_eq!(msgs[2].len(), 48 + BINDING_LEN + TAG_LEN);
    assert_eq!(lr.peer().feed, Some(feed.feed_id()));

    // The same binding presented with another static key does not verify.
    let stolen = Arc::new(SecureConfig { binding: Some(binding), ..SecureConfig::new(key(3)) });
    assert_eq!(pair(cfg(2), stolen).unwrap_err(), (true, SecureError::BadBinding));
}

#[test]
fn a_retracted_message_leaves_the_link_in_step() {
    let (_, mut li, mut lr) = pair(cfg(1), cfg(2)).unwrap();
    assert_eq!(lr.open(&li.seal(b"one").unwrap()).unwrap(), b"one");
    let refused = li.seal(b"refused by a full buffer").unwrap();
    li.retract();
    let two = li.seal(b"two").unwrap();
    assert_eq!(lr.open(&two).unwrap(), b"two");
    // The refused message would have had the same nonce: it no longer opens.
    assert_eq!(lr.open(&refused), Err(SecureError::Decrypt));
}

/// Arbitrary bytes as handshake messages (to both sides, repeatedly, also after a failure) and
/// as transport messages are rejected with an error, never a panic; sealed packets open
/// unchanged. The same steps as the `secure` fuzz target, for the normal test suite.
#[test]
fn arbitrary_bytes_are_rejected_without_panics() {
    #[allow(clippy::needless_pass_by_value)] // quickcheck hands the input over by value
    fn prop(msgs: Vec<Vec<u8>>) -> bool {
        let mut r = Handshake::new(Side::Responder, cfg(2), [4; 32]).unwrap();
        let mut i = Handshake::new(Side::Initiator, cfg(1), [3; 32]).unwrap();
        let _ = i.poll_transmit();
        for m in &msgs {
            if r.handle_message(m).is_ok() {
                let _ = r.poll_transmit();
            }
            let _ = i.handle_message(m);
        }
        let (_, mut li, mut lr) = pair(cfg(1), cfg(2)).unwrap();
        msgs.iter().all(|m| {
            let pkt = &m[..m.len().min(tinyssb::secure::MAX_PACKET)];
            let forged = lr.open(m).is_err();
            let round_trip = match li.seal(pkt) {
                Ok(sealed) => lr.open(&sealed).as_deref() == Ok(pkt),
                Err(_) => pkt.is_empty(),
            };
            forged && round_trip
        })
    }
    quickcheck::QuickCheck::new().tests(40).quickcheck(prop as fn(Vec<Vec<u8>>) -> bool);
}
