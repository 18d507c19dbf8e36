//! Known-answer tests for the GOset (tests/vectors/goset.json) and convergence properties.

use quickcheck::{quickcheck, TestResult};
use serde_json::Value;
use tinyssb::goset::{Config, GoSet};
use tinyssb::ids::{from_hex, to_hex};
use tinyssb::wire::goset::{goset_dmx, GosetError, GosetMsg};
use tinyssb::FeedId;

fn vectors() -> Value {
    let text = std::fs::read_to_string("tests/vectors/goset.json").unwrap();
    serde_json::from_str(&text).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap()
}

fn keys_of(v: &Value) -> Vec<FeedId> {
    v.as_array().unwrap().iter().map(|k| FeedId::from_hex(s(k)).unwrap()).collect()
}

fn set_of(keys: &[FeedId]) -> GoSet {
    let mut g = GoSet::default();
    for k in keys {
        assert!(g.add(*k));
    }
    g
}

#[test]
fn dmx() {
    let v = vectors();
    let input = from_hex(s(&v["goset_dmx"]["input"])).unwrap();
    assert_eq!(input, tinyssb::wire::goset::GOSET_DMX_INPUT);
    assert_eq!(goset_dmx().to_hex(), s(&v["goset_dmx"]["dmx"]));
}

#[test]
fn states_claims_and_adv() {
    let v = vectors();
    for st in v["states"].as_array().unwrap() {
        let keys = keys_of(&st["keys"]);
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{}", st["label"]);
        let mut g = set_of(&keys);
        assert_eq!(g.keys(), &keys[..]);
        assert_eq!(to_hex(&g.state()), s(&st["state"]));
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(g.index_of(k), Some(i));
        }
        for c in st["claims"].as_array().unwrap() {
            let (lo, hi) = (c["lo"].as_u64().unwrap() as usize, c["hi"].as_u64().unwrap() as usize);
            let claim = g.claim(lo, hi).unwrap();
            assert_eq!(u64::from(claim.count), c["size"].as_u64().unwrap());
            assert_eq!(to_hex(&claim.xor), s(&c["xor"]));
            let msg = GosetMsg::Claim(claim);
            assert_eq!(to_hex(&msg.encode()), s(&c["wire"]));
            assert_eq!(to_hex(&msg.to_packet()), s(&c["packet"]));
            assert_eq!(GosetMsg::from_packet(&from_hex(s(&c["packet"])).unwrap()), Ok(msg));
        }
        let adv: Vec<String> = g.round().iter().map(|m| to_hex(&m.to_packet())).collect();
        let want: Vec<&str> = st["goset_adv"]["packets"].as_array().unwrap().iter().map(s).collect();
        assert_eq!(adv, want, "{}", st["label"]);
        assert_eq!(st["goset_adv"]["next_s"].as_u64(), Some(tinyssb::goset::ROUND.as_millis() / 1000));
    }
}

#[test]
fn novelty() {
    let v = vectors();
    let n = &v["novelty"];
    let msg = GosetMsg::Novelty(FeedId::from_hex(s(&n["key"])).unwrap());
    assert_eq!(to_hex(&msg.encode()), s(&n["wire"]));
    assert_eq!(to_hex(&msg.to_packet()), s(&n["packet"]));
    assert_eq!(GosetMsg::from_packet(&from_hex(s(&n["packet"])).unwrap()), Ok(msg));
}

/// Every rx case: the key set afterwards and the pending claims match the reference. Where we answer
/// at once (the reference waits for its next round), the answer is checked too.
#[test]
fn rx_cases() {
    let v = vectors();
    for case in v["rx_cases"].as_array().unwrap() {
        let desc = s(&case["desc"]);
        let mut g = set_of(&keys_of(&case["keys_before"]));
        let packet = from_hex(s(&case["packet"])).unwrap();
        let outcome = match GosetMsg::from_packet(&packet) {
            Ok(msg) => g.handle(&msg),
            Err(e) => {
                assert!(matches!(e, GosetError::Length { .. }), "{desc}: {e}");
                Default::default()
            }
        };
        assert_eq!(g.keys(), &keys_of(&case["keys_after"])[..], "{desc}");
        let pending: Vec<String> =
            g.pending().iter().map(|c| to_hex(&GosetMsg::Claim(*c).encode())).collect();
        let want: Vec<&str> = case["pending_claims"].as_array().unwrap().iter().map(s).collect();
        assert_eq!(pending, want, "{desc}");
        // Our immediate answer: for the unknown 5-key claim we hold 2 of its keys and ask at once
        // with our own claim over the span; the learned keys are announced with one novelty.
        if g.pending().is_empty() {
            assert!(outcome.send.iter().all(|m| matches!(m, GosetMsg::Novelty(_))), "{desc}");
        } else {
            let ask = GosetMsg::Claim(g.full_claim().unwrap());
            assert!(outcome.send.contains(&ask), "{desc}");
        }
    }
}

#[test]
fn absurd_claims_do_not_change_state() {
    let v = vectors();
    let keys = keys_of(&v["states"][4]["keys"]);
    let mut g = set_of(&keys[..2]);
    let good = g.claim(0, 1).unwrap();
    let (a, b) = (keys[3], keys[4]);
    let bad = [
        tinyssb::wire::goset::Claim { count: 0, ..good },
        tinyssb::wire::goset::Claim { lo: b, hi: a, ..good },
        tinyssb::wire::goset::Claim { lo: a, hi: a, count: 2, ..good },
        tinyssb::wire::goset::Claim { lo: a, hi: b, count: 1, ..good },
        tinyssb::wire::goset::Claim { lo: a, hi: b, count: 255, ..good },
        tinyssb::wire::goset::Claim { lo: FeedId([0; 32]), hi: b, ..good },
    ];
    for c in bad {
        let out = g.handle(&GosetMsg::Claim(c));
        assert!(out.learned.is_empty() && out.send.is_empty(), "{c:?}");
        assert_eq!(g.keys(), &keys[..2]);
        assert!(g.pending().is_empty());
    }
    // A span-3 claim whose computed middle is not between lo and hi adds nothing.
    let mut g = set_of(&keys[..2]);
    let c = tinyssb::wire::goset::Claim { count: 3, ..g.claim(0, 1).unwrap() };
    let out = g.handle(&GosetMsg::Claim(c));
    assert!(out.learned.is_empty());
    assert_eq!(g.len(), 2);
}

#[test]
fn pending_is_bounded() {
    let mut g = GoSet::default();
    for i in 0..200u8 {
        let mut lo = [1u8; 32];
        lo[0] = i;
        let mut hi = [0xffu8; 32];
        hi[1] = i;
        let c = tinyssb::wire::goset::Claim { lo: FeedId(lo), hi: FeedId(hi), xor: [i; 32], count: 50 };
        g.handle(&GosetMsg::Claim(c));
        g.handle(&GosetMsg::Claim(c));
        assert!(g.pending().len() <= tinyssb::goset::MAX_PENDING);
    }
    assert_eq!(g.len(), g.cap());
    g.round();
    assert!(g.pending().len() < tinyssb::goset::MAX_PENDING);
}

/// Deterministic pseudo-random keys (splitmix64).
fn keys_from(seed: u64, n: usize) -> Vec<FeedId> {
    let mut x = seed;
    let mut next = move || {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..n)
        .map(|_| {
            let mut k = [0u8; 32];
            for c in k.chunks_mut(8) {
                c.copy_from_slice(&next().to_le_bytes());
            }
            FeedId(k)
        })
        .collect()
}

/// Two sets exchange messages until they agree. One exchange delivers everything each side has
/// queued to the other; when both queues are empty both sides run a periodic round (counted as
/// an exchange too). Returns the number of exchanges and of packets sent, or `None` if they did
/// not agree in `limit` exchanges.
fn converge(a_keys: &[FeedId], b_keys: &[FeedId], limit: usize) -> Option<(usize, usize)> {
    let (mut a, mut b) = (set_of(a_keys), set_of(b_keys));
    let (mut to_b, mut to_a) = (a.round(), b.round());
    let mut packets = 0;
    for exchange in 1..=limit {
        packets += to_a.len() + to_b.len();
        let (mut next_b, mut next_a) = (Vec::new(), Vec::new());
        for m in to_b.drain(..) {
            next_a.extend(b.handle(&GosetMsg::from_packet(&m.to_packet()).unwrap()).send);
        }
        for m in to_a.drain(..) {
            next_b.extend(a.handle(&m).send);
        }
        if a.keys() == b.keys() {
            assert_eq!(a.state(), b.state());
            return Some((exchange, packets));
        }
        if next_a.is_empty() && next_b.is_empty() {
            next_b = a.round();
            next_a = b.round();
        }
        (to_a, to_b) = (next_a, next_b);
    }
    None
}

fn split(seed: u64, total: usize, only_a: usize, only_b: usize) -> (Vec<FeedId>, Vec<FeedId>) {
    let keys = keys_from(seed, total);
    let shared = total - only_a - only_b;
    let a: Vec<FeedId> = keys[..shared + only_a].to_vec();
    let mut b: Vec<FeedId> = keys[..shared].to_vec();
    b.extend_from_slice(&keys[shared + only_a..]);
    (a, b)
}

#[test]
fn converges_on_20_and_100_keys() {
    let mut report = Vec::new();
    for (total, only_a, only_b, bound) in
        [(20, 10, 10, 8), (100, 50, 50, 40), (100, 100, 0, 6), (100, 5, 5, 30)]
    {
        let mut worst = 0;
        let mut sum = 0;
        let mut packets = 0;
        for seed in 0..20 {
            let (a, b) = split(seed, total, only_a, only_b);
            let (n, p) = converge(&a, &b, bound)
                .unwrap_or_else(|| panic!("{total} keys {only_a}/{only_b} seed {seed}"));
            worst = worst.max(n);
            sum += n;
            packets += p;
        }
        report.push(format!(
            "{total} keys, {only_a} only in A, {only_b} only in B: exchanges worst {worst}, mean {}; packets mean {}",
            sum as f64 / 20.0,
            packets as f64 / 20.0
        ));
    }
    println!("{}", report.join("\n"));
}

quickcheck! {
    fn random_subsets_converge(seed: u64, total: u8, mask: Vec<u8>) -> TestResult {
        let total = usize::from(total % 101);
        let keys = keys_from(seed, total);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, k) in keys.iter().enumerate() {
            match mask.get(i).map_or(0, |m| m % 3) {
                0 => { a.push(*k); b.push(*k); }
                1 => a.push(*k),
                _ => b.push(*k),
            }
        }
        TestResult::from_bool(converge(&a, &b, 40).is_some())
    }
}

#[test]
fn reference_default_config() {
    let g = GoSet::new(Config { cap: 1000, ..Config::default() });
    assert_eq!(g.cap(), 255);
    assert_eq!(GoSet::default().cap(), 100);
}

quickcheck! {
    fn span_xor_matches_naive(seed: u64, n: u8, lo: u8, hi: u8) -> TestResult {
        let keys = keys_from(seed, usize::from(n % 101));
        let g = set_of(&keys);
        let (lo, hi) = (usize::from(lo), usize::from(hi));
        let Some(c) = g.claim(lo, hi) else {
            return TestResult::from_bool(lo > hi || hi >= g.len());
        };
        let mut xor = [0u8; 32];
        for k in &g.keys()[lo..=hi] {
            for (x, b) in xor.iter_mut().zip(k.0) {
                *x ^= b;
            }
        }
        let full = g.full_claim().map(|f| f.xor);
        TestResult::from_bool(
            c.xor == xor && usize::from(c.count) == hi - lo + 1 && full == Some(g.state()) && g.keys().is_sorted(),
        )
    }

    fn handle_never_breaks_invariants(seed: u64, msgs: Vec<(u8, u8, u8, bool)>) -> bool {
        let keys = keys_from(seed, 30);
        let mut g = set_of(&keys[..10]);
        for (i, j, count, novelty) in msgs {
            let (a, b) = (keys[usize::from(i) % 30], keys[usize::from(j) % 30]);
            let msg = if novelty {
                GosetMsg::Novelty(a)
            } else {
                GosetMsg::Claim(tinyssb::wire::goset::Claim { lo: a, hi: b, xor: keys[usize::from(count) % 30].0, count })
            };
            let out = g.handle(&msg);
            if out.send.len() > 600 || g.pending().len() > tinyssb::goset::MAX_PENDING {
                return false;
            }
        }
        let mut state = [0u8; 32];
        for k in g.keys() {
            for (x, b) in state.iter_mut().zip(k.0) {
                *x ^= b;
            }
        }
        g.keys().is_sorted() && g.state() == state && g.len() <= g.cap()
    }
}

#[test]
fn a_round_claims_the_whole_set() {
    let mut g = set_of(&keys_from(1, 3));
    let full = g.full_claim().map(tinyssb::wire::goset::GosetMsg::Claim);
    assert_eq!(g.round().first(), full.as_ref());
}
