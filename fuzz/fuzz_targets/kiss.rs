//! KISS deframing of an arbitrary serial byte stream, with and without the CRC32 trailer:
//! frames stay within the limit and survive re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tinyssb_drivers::crc;
use tinyssb_drivers::kiss::{encode, Decoder, KissConfig};

fuzz_target!(|data: &[u8]| {
    let cfg = KissConfig::default();
    for max in [cfg.max_packet, cfg.max_packet + crc::CRC_LEN] {
        let mut d = Decoder::new(max);
        let mut frames = Vec::new();
        for &b in data {
            if let Some(Ok(frame)) = d.push(b) {
                assert!(!frame.is_empty() && frame.len() <= max);
                if let Some(pkt) = crc::strip(&frame) {
                    assert!(pkt.len() + crc::CRC_LEN == frame.len());
                }
                frames.push(frame);
            }
        }
        let mut wire = Vec::new();
        frames.iter().for_each(|f| encode(f, &mut wire));
        let mut again = Decoder::new(max);
        let decoded: Vec<Vec<u8>> = wire.iter().filter_map(|&b| again.push(b)).map(|r| r.unwrap()).collect();
        assert_eq!(decoded, frames);
    }
});
