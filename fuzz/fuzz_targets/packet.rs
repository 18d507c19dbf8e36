//! Entry and chunk packets: the entry layout, the chain20 payload parse, the sidechain
//! cursor and content reassembly, on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyssb::feed::{reassemble, ChainCursor};
use tinyssb::ids::{FeedId, MsgId, Seq};
use tinyssb::store::{chunk_slots, record_len};
use tinyssb::wire::chunk::{Chunk, CHUNK_LEN};
use tinyssb::wire::entry::{Chain20, Entry, ENTRY_LEN};
use tinyssb::wire::packet::Packet;

fuzz_target!(|data: &[u8]| {
    let _ = Packet::new(data);
    let _ = Chain20::parse(data);
    let _ = Chunk::from_slice(data);
    let Some((head, rest)) = data.split_at_checked(ENTRY_LEN) else {
        let _ = Entry::from_slice(data);
        return;
    };
    let Ok(entry) = Entry::from_slice(head) else { return };
    let _ = (entry.dmx(), entry.entry_type(), entry.signature());
    let slots = chunk_slots(&entry);
    assert!(record_len(slots) >= ENTRY_LEN as u64);
    if let Some(c) = Chain20::parse(entry.payload()) {
        assert!(c.head_len() <= entry.payload().len());
        let _ = c.chunk_count();
    }
    // The rest of the input: a key for a signature check, then chunks.
    if let Some((fid, _)) = rest.split_first_chunk::<32>() {
        let fid = FeedId(*fid);
        if let Some(key) = tinyssb::crypto::PublicKey::from_feed_id(&fid) {
            let _ = entry.verify(&key, &fid, Seq(1), &MsgId([0; 20]));
        }
    }
    let chunks: Vec<Chunk> = rest.chunks_exact(CHUNK_LEN).filter_map(|c| Chunk::from_slice(c).ok()).collect();
    for c in &chunks {
        assert!(c.content().len() <= CHUNK_LEN);
        let _ = (c.next(), c.hash());
    }
    if let Ok(mut cursor) = ChainCursor::from_entry(&entry) {
        for c in &chunks {
            match cursor.accept(c) {
                Ok(next) => cursor = next,
                Err(_) => break,
            }
        }
        let _ = (cursor.next_index(), cursor.remaining(), cursor.is_complete(), cursor.expected());
    }
    if let Ok(content) = reassemble(&entry, &chunks) {
        assert!(content.len() <= ENTRY_LEN + chunks.len() * CHUNK_LEN);
    }
});
