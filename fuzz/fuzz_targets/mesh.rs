//! The mesh's inputs from the network: mesh records (entry content) and mesh packets. Any
//! bytes either decode or are rejected, what decodes re-encodes to the same bytes, and a mesh
//! state machine fed the bytes as packets on a few faces and as records of a few pubs never
//! panics, and keeps its outputs bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyssb::mesh::packet::{MeshPacket, MESH_DMX};
use tinyssb::mesh::record::Record;
use tinyssb::mesh::{Config, Mesh};
use tinyssb::node::FaceId;
use tinyssb::time::Instant;
use tinyssb::FeedId;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = Record::decode(data) {
        let enc = rec.encode().expect("a decoded record encodes");
        assert_eq!(Record::decode(&enc), Ok(rec));
    }
    if let Some(p) = MeshPacket::decode(data) {
        assert_eq!(p.encode(), data);
    }
    let mut mesh = Mesh::new(
        Config::default(),
        FeedId([1; 32]),
        Some("ws://a".into()),
        vec!["ws://s".into()],
        Instant(0),
    );
    mesh.handle_dialed(Instant(0), FaceId(1), "ws://s");
    for (i, chunk) in data.chunks(41).enumerate() {
        let now = Instant(i as u64 * 700);
        let author = FeedId([chunk.first().copied().unwrap_or(0) % 4 + 2; 32]);
        mesh.handle_record(now, author, i as u32 + 1, chunk);
        let mut pkt = MESH_DMX.to_vec();
        pkt.extend_from_slice(chunk);
        mesh.handle_packet(now, FaceId(i as u64 % 3), &pkt);
        mesh.handle_feed(now, FeedId([chunk.len() as u8; 32]));
        mesh.handle_timeout(now);
        if i % 5 == 4 {
            mesh.handle_face_down(now, FaceId(i as u64 % 3));
        }
        while mesh.poll_action().is_some() {}
        while mesh.poll_transmit().is_some() {}
    }
});
