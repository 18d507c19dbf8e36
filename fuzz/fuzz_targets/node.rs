//! The whole engine: a `Node` over `MemStore` driven by a script decoded from the input.
//! Steps deliver raw packets, request and GOset packets behind the node's own DMX values,
//! properly signed entries (authored content or arbitrary type bytes and payloads) and their
//! chunks in any order, face changes and the passage of time; every output is drained.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyssb::crypto::Keypair;
use tinyssb::feed::{author_chain20, author_plain48};
use tinyssb::ids::Seq;
use tinyssb::node::{Config, FaceId, FaceKind, Node, Role};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Frontier;
use tinyssb::time::Instant;
use tinyssb::wire::chunk::Chunk;
use tinyssb::wire::entry::{Entry, PAYLOAD_LEN};
use tinyssb::wire::goset::goset_dmx;
use tinyssb::wire::MAX_PACKET;

#[path = "common/input.rs"]
mod input;
use input::Input;

/// A remote feed the node follows: its key, frontier and everything authored so far.
struct Author {
    key: Keypair,
    at: Frontier,
    log: Vec<(Entry, Vec<Chunk>)>,
}

impl Author {
    fn new(seed: u8) -> Author {
        let key = Keypair::from_seed(&[seed; 32]);
        let at = Frontier { seq: Seq(0), prev: key.feed_id().genesis_prev() };
        Author { key, at, log: Vec::new() }
    }
}

fn drain(node: &mut Node<MemStore>) {
    while let Some(tx) = node.poll_transmit() {
        assert!(!tx.packet.is_empty() && tx.packet.len() <= MAX_PACKET);
    }
    while node.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let role = match input.byte() % 3 {
        0 => Role::InOut,
        1 => Role::In,
        _ => Role::Out,
    };
    let cfg = Config { role, goset_cap: 1 + usize::from(input.byte() % 8), ..Config::default() };
    let mut now = Instant(0);
    let mut node = Node::new(cfg, MemStore::default(), now);
    let mut authors = [Author::new(1), Author::new(2)];
    for a in &authors {
        let _ = node.follow(now, a.key.feed_id());
    }
    let own = Keypair::from_seed(&[3; 32]);
    node.handle_face_up(now, FaceId(1), FaceKind::Reliable);
    node.handle_face_up(now, FaceId(2), FaceKind::Broadcast);
    drain(&mut node);

    for _ in 0..256 {
        if input.0.is_empty() {
            break;
        }
        let op = input.byte();
        let face = FaceId(1 + u64::from(op >> 6));
        let author = &mut authors[usize::from(op >> 5) & 1];
        match op % 12 {
            0 => {
                let n = usize::from(input.byte());
                node.handle_packet(now, face, input.slice(n));
            }
            1 | 2 | 3 => {
                let dmx = match op % 12 {
                    1 => node.want_dmx(),
                    2 => node.chnk_dmx(),
                    _ => goset_dmx(),
                };
                let n = usize::from(input.byte());
                let mut pkt = dmx.0.to_vec();
                pkt.extend_from_slice(input.slice(n));
                node.handle_packet(now, face, &pkt);
            }
            4 => {
                let n = usize::from(input.byte() % (PAYLOAD_LEN as u8 + 1));
                if let Ok(a) = author_plain48(&author.key, &author.at, input.slice(n)) {
                    author.at = a.frontier;
                    author.log.push((a.entry, a.chunks));
                }
            }
            5 => {
                let n = usize::from(u16::from_le_bytes(input.array()) % 2048);
                let mut content = input.slice(n).to_vec();
                content.resize(n, 0x5a);
                if let Ok(a) = author_chain20(&author.key, &author.at, &content) {
                    author.at = a.frontier;
                    author.log.push((a.entry, a.chunks));
                }
            }
            6 => {
                // A correctly signed entry with whatever type byte and payload.
                let (ty, payload) = (input.byte(), input.array::<PAYLOAD_LEN>());
                if let Some(seq) = author.at.seq.next() {
                    let entry = Entry::sign(&author.key, seq, &author.at.prev, ty, &payload);
                    let msg_id = entry.msg_id(&author.key.feed_id(), seq, &author.at.prev);
                    author.at = Frontier { seq, prev: msg_id };
                    author.log.push((entry, Vec::new()));
                }
            }
            7 | 8 => {
                let i = usize::from(input.byte());
                if let Some((entry, chunks)) = author.log.get(i % author.log.len().max(1)) {
                    if op % 12 == 7 {
                        node.handle_packet(now, face, &entry.0);
                    } else if !chunks.is_empty() {
                        let j = usize::from(input.byte()) % chunks.len();
                        node.handle_packet(now, face, &chunks[j].0);
                    }
                }
            }
            9 => {
                now = Instant(now.0 + u64::from(u16::from_le_bytes(input.array())));
                node.handle_timeout(now);
                if let Some(due) = node.poll_timeout() {
                    if due <= now {
                        node.handle_timeout(now);
                    }
                }
            }
            10 => {
                if op & 0x10 == 0 {
                    node.handle_face_down(now, face);
                } else {
                    let kind = if op & 0x20 == 0 { FaceKind::Reliable } else { FaceKind::Broadcast };
                    node.handle_face_up(now, face, kind);
                }
            }
            _ => {
                let n = usize::from(input.byte());
                let content = input.slice(n).to_vec();
                let _ = if op & 0x10 == 0 {
                    node.publish(now, &own, &content)
                } else {
                    node.publish_chain20(now, &own, &content)
                };
            }
        }
        drain(&mut node);
    }
    // Run the timers out for a while with everything that was delivered.
    for _ in 0..8 {
        match node.poll_timeout() {
            Some(due) if due > now => now = due,
            _ => now = Instant(now.0 + 1000),
        }
        node.handle_timeout(now);
        drain(&mut node);
    }
});
