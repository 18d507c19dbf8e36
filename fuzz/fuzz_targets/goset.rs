//! GOset claims and novelties: decoding arbitrary bodies, and feeding decoded messages
//! (arbitrary ones, and claims built around the set's own keys) to a `GoSet` that talks
//! to a second one, checking the set's invariants after every step.
#![no_main]

use std::collections::VecDeque;

use libfuzzer_sys::fuzz_target;
use tinyssb::goset::{Config, GoSet, MAX_CAP};
use tinyssb::ids::FeedId;
use tinyssb::time::Instant;
use tinyssb::wire::goset::{Claim, GosetMsg, CLAIM_LEN};
use tinyssb::wire::MAX_PACKET;

#[path = "common/input.rs"]
mod input;
use input::Input;

fn check(set: &GoSet) {
    let keys = set.keys();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys sorted and unique");
    assert!(keys.len() <= set.cap() && set.cap() <= MAX_CAP);
    assert!(keys.iter().all(|k| k.0 != [0; 32]));
    if let Some(c) = set.full_claim() {
        assert_eq!(usize::from(c.count), keys.len());
    }
}

fn check_msg(msg: &GosetMsg) {
    let pkt = msg.to_packet();
    assert!(pkt.len() <= MAX_PACKET);
    assert_eq!(GosetMsg::from_packet(&pkt), Ok(*msg));
}

/// Hands `first` to `a`, then ping-pongs replies between `a` and `b` for a bounded number of steps.
fn exchange(a: &mut GoSet, b: &mut GoSet, first: GosetMsg) {
    let mut queue = VecDeque::from([(true, first)]);
    for _ in 0..256 {
        let Some((to_a, msg)) = queue.pop_front() else { break };
        let (dst, reply_to_a) = if to_a { (&mut *a, false) } else { (&mut *b, true) };
        let out = dst.handle(&msg);
        check(dst);
        for k in &out.learned {
            assert!(dst.contains(k));
        }
        for m in out.send {
            check_msg(&m);
            queue.push_back((reply_to_a, m));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let cap = usize::from(input.byte()) + 1;
    let reply_budget = usize::from(input.byte() % 16);
    let config = Config { cap, reply_budget, ..Config::default() };
    let (mut a, mut b) = (GoSet::new(config), GoSet::new(config));
    let mut now = Instant(0);
    for _ in 0..512 {
        if input.0.is_empty() {
            break;
        }
        match input.byte() % 8 {
            0 => {
                let body = input.array::<CLAIM_LEN>();
                if let Ok(m) = GosetMsg::decode(&body) {
                    exchange(&mut a, &mut b, m);
                }
            }
            1 => exchange(&mut a, &mut b, GosetMsg::Novelty(FeedId(input.array()))),
            2 => {
                let n = usize::from(input.byte());
                if let Ok(m) = GosetMsg::decode(input.slice(n)) {
                    check_msg(&m);
                    exchange(&mut a, &mut b, m);
                }
            }
            3 => {
                // Time passes (up to a minute per step): unconfirmed keys may expire.
                now = Instant(now.0 + 1000 * u64::from(input.byte() % 64));
                for g in [&mut a, &mut b] {
                    for k in g.expire(now) {
                        assert!(!g.contains(&k));
                    }
                }
                for m in a.round() {
                    check_msg(&m);
                    exchange(&mut b, &mut a, m);
                }
                for m in b.round() {
                    exchange(&mut a, &mut b, m);
                }
            }
            4 => {
                a.new_peer();
                b.new_peer();
            }
            5 => {
                let key = FeedId(input.array());
                if input.byte() & 1 == 0 {
                    a.add(key)
                } else {
                    b.add(key)
                };
            }
            _ => {
                // A claim about a span of our own keys, with a count and XOR that may lie.
                let (lo, hi) = (usize::from(input.byte()), usize::from(input.byte()));
                let keys = a.keys();
                if keys.is_empty() {
                    continue;
                }
                let lo = keys[lo % keys.len()];
                let hi = keys[hi % keys.len()];
                let claim = match a.claim(0, keys.len() - 1) {
                    Some(c) if input.byte() & 1 == 0 => Claim { lo, hi, ..c },
                    _ => Claim { lo, hi, xor: input.array(), count: input.byte() },
                };
                exchange(&mut a, &mut b, GosetMsg::Claim(claim));
            }
        }
        check(&a);
        check(&b);
    }
});
