//! The optional CRC32 trailer some tinySSB links put after each packet:
//! `pkt ‖ u32be(crc32(pkt))`, with the IEEE 802.3 / zlib CRC32.

/// Length of the trailer in bytes.
pub const CRC_LEN: usize = 4;

/// Appends the big-endian CRC32 of `pkt` to `out` after a copy of `pkt`.
pub fn append(pkt: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(pkt);
    out.extend_from_slice(&crc32fast::hash(pkt).to_be_bytes());
}

/// The frame for `pkt` on a link: the packet, followed by its trailer when `with_crc` is set.
pub fn frame(pkt: &[u8], with_crc: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(pkt.len() + CRC_LEN);
    if with_crc {
        append(pkt, &mut out);
    } else {
        out.extend_from_slice(pkt);
    }
    out
}

/// Splits `frame` into its packet if the trailer matches, `None` otherwise
/// (also when `frame` is too short to hold a trailer).
pub fn strip(frame: &[u8]) -> Option<&[u8]> {
    let split = frame.len().checked_sub(CRC_LEN)?;
    let (pkt, trailer) = frame.split_at(split);
    (trailer == crc32fast::hash(pkt).to_be_bytes()).then_some(pkt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // CRC32("123456789") = 0xcbf43926, the standard check value.
        let mut out = Vec::new();
        append(b"123456789", &mut out);
        assert_eq!(&out[9..], &[0xcb, 0xf4, 0x39, 0x26]);
        assert_eq!(strip(&out), Some(&b"123456789"[..]));
    }

    #[test]
    fn rejects_damage_and_short_frames() {
        let mut out = Vec::new();
        append(b"hello", &mut out);
        out[0] ^= 1;
        assert_eq!(strip(&out), None);
        assert_eq!(strip(&[1, 2, 3]), None);
        assert_eq!(strip(&[0, 0, 0, 0]), Some(&[][..]));
    }

    quickcheck::quickcheck! {
        fn roundtrip(pkt: Vec<u8>) -> bool {
            let mut out = Vec::new();
            append(&pkt, &mut out);
            strip(&out) == Some(&pkt[..])
        }
    }
}
