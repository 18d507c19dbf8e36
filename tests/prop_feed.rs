//! Properties of feed authoring: round trips, and that any flipped bit is caught exactly where it is.

// quickcheck hands each property its inputs by value.
#![allow(clippy::needless_pass_by_value)]

use quickcheck::{Arbitrary, Gen, QuickCheck};
use tinyssb::crypto::{Keypair, PublicKey};
use tinyssb::feed::{author_chain20, author_plain48, reassemble, Authored, ChainCursor, ChainError};
use tinyssb::store::Frontier;
use tinyssb::wire::entry::EntryError;
use tinyssb::{MsgId, Seq};

/// Content lengths up to 64 KiB, half the time one of the layout's boundary cases.
#[derive(Clone, Debug)]
struct Len(usize);

const BOUNDARIES: &[usize] =
    &[0, 1, 26, 27, 28, 29, 48, 100, 126, 127, 128, 129, 227, 16382, 16383, 16384, 16385, 65535, 65536];

impl Arbitrary for Len {
    fn arbitrary(g: &mut Gen) -> Len {
        if bool::arbitrary(g) {
            Len(*g.choose(BOUNDARIES).unwrap_or(&0))
        } else {
            Len(usize::arbitrary(g) % (65536 + 1))
        }
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Len>> {
        Box::new(self.0.shrink().map(Len))
    }
}

/// A feed position to author at: any key, any seq below the maximum, any prev.
#[derive(Clone, Debug)]
struct At {
    seed: [u8; 32],
    frontier: Frontier,
}

impl Arbitrary for At {
    fn arbitrary(g: &mut Gen) -> At {
        let mut seed = [0u8; 32];
        seed.iter_mut().for_each(|b| *b = u8::arbitrary(g));
        let mut prev = [0u8; 20];
        prev.iter_mut().for_each(|b| *b = u8::arbitrary(g));
        let seq = Seq(u32::arbitrary(g) % u32::MAX);
        At { seed, frontier: Frontier { seq, prev: MsgId(prev) } }
    }
}

fn content(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt)).collect()
}

fn chain(at: &At, len: usize) -> (Keypair, Vec<u8>, Authored) {
    let key = Keypair::from_seed(&at.seed);
    let data = content(len, at.seed[0]);
    let authored = author_chain20(&key, &at.frontier, &data).unwrap();
    (key, data, authored)
}

fn qc(tests: u64) -> QuickCheck {
    QuickCheck::new().tests(tests)
}

#[test]
fn chain20_round_trips() {
    fn prop(at: At, len: Len) -> bool {
        let (_, data, a) = chain(&at, len.0);
        let mut cursor = ChainCursor::from_entry(&a.entry).unwrap();
        for c in &a.chunks {
            cursor = cursor.accept(c).unwrap();
        }
        cursor.is_complete()
            && cursor.remaining() == 0
            && a.frontier.seq.0 == at.frontier.seq.0 + 1
            && a.frontier.prev == a.msg_id
            && reassemble(&a.entry, &a.chunks) == Ok(data)
    }
    qc(60).quickcheck(prop as fn(At, Len) -> bool);
}

#[test]
fn plain48_round_trips() {
    fn prop(at: At, len: Len) -> bool {
        let key = Keypair::from_seed(&at.seed);
        let data = content(len.0 % 49, at.seed[1]);
        let a = author_plain48(&key, &at.frontier, &data).unwrap();
        let mut padded = data.clone();
        padded.resize(48, 0);
        a.chunks.is_empty() && reassemble(&a.entry, &[]) == Ok(padded)
    }
    qc(100).quickcheck(prop as fn(At, Len) -> bool);
}

#[test]
fn any_flipped_entry_bit_fails_verify() {
    fn prop(at: At, len: u16, bit: u16) -> bool {
        let (key, _, a) = chain(&at, usize::from(len % 400));
        let fid = key.feed_id();
        let pk = PublicKey::from_feed_id(&fid).unwrap();
        let (seq, prev) = (a.frontier.seq, at.frontier.prev);
        let mut bad = a.entry;
        let bit = usize::from(bit) % (120 * 8);
        bad.0[bit / 8] ^= 1 << (bit % 8);
        let expected = if bit < 7 * 8 { EntryError::Dmx } else { EntryError::Signature };
        a.entry.verify(&pk, &fid, seq, &prev).is_ok() && bad.verify(&pk, &fid, seq, &prev) == Err(expected)
    }
    qc(200).quickcheck(prop as fn(At, u16, u16) -> bool);
}

#[test]
fn flipped_chunk_bit_breaks_the_chain_at_that_chunk() {
    fn prop(at: At, len: Len, k: usize, bit: u16) -> bool {
        // At least one chunk: anything over 27 bytes has a sidechain.
        let (_, _, a) = chain(&at, len.0.max(28));
        let k = k % a.chunks.len();
        let mut chunks = a.chunks.clone();
        let bit = usize::from(bit) % (120 * 8);
        chunks[k].0[bit / 8] ^= 1 << (bit % 8);
        reassemble(&a.entry, &chunks) == Err(ChainError::Hash { index: k as u64 })
    }
    qc(60).quickcheck(prop as fn(At, Len, usize, u16) -> bool);
}
