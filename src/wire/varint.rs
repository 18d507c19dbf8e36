//! Unsigned LEB128 ("protobuf-style") varints: 7 bits per byte, low group first, high bit = more.

/// Longest varint accepted for a `u64` (10 bytes).
pub const MAX_LEN: usize = 10;

/// Why a varint could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// The value does not fit in 64 bits.
    Overflow,
}

impl core::fmt::Display for VarintError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VarintError::Truncated => f.write_str("truncated varint"),
            VarintError::Overflow => f.write_str("varint overflows 64 bits"),
        }
    }
}

impl std::error::Error for VarintError {}

/// Appends the varint encoding of `n` to `out`.
pub fn encode(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n.to_le_bytes()[0] | 0x80); // the low 7 bits, with the continuation bit
        n >>= 7;
    }
    out.push(n.to_le_bytes()[0]);
}

/// The number of bytes [`encode`] writes for `n`.
pub fn encoded_len(n: u64) -> usize {
    let bits = 64 - (n | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Decodes a varint at the start of `bytes`, returning the value and the bytes it used.
pub fn decode(bytes: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut n: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(MAX_LEN) {
        let group = u64::from(b & 0x7f);
        let shift = 7 * i;
        if shift == 63 && group > 1 {
            return Err(VarintError::Overflow);
        }
        n |= group << shift;
        if b & 0x80 == 0 {
            return Ok((n, i + 1));
        }
    }
    if bytes.len() >= MAX_LEN {
        Err(VarintError::Overflow)
    } else {
        Err(VarintError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quickcheck::quickcheck;

    #[test]
    fn known_values() {
        for (n, hex) in [(0u64, vec![0u8]), (127, vec![0x7f]), (128, vec![0x80, 1]), (300, vec![0xac, 0x02])]
        {
            let mut out = Vec::new();
            encode(n, &mut out);
            assert_eq!(out, hex);
            assert_eq!(decode(&out), Ok((n, out.len())));
        }
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xff; 11]), Err(VarintError::Overflow));
        assert_eq!(
            decode(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(VarintError::Overflow)
        );
    }

    quickcheck! {
        fn round_trip(n: u64) -> bool {
            let mut out = Vec::new();
            encode(n, &mut out);
            out.len() == encoded_len(n) && decode(&out) == Ok((n, out.len()))
        }

        fn decode_is_total(bytes: Vec<u8>) -> bool {
            match decode(&bytes) {
                Ok((_, used)) => used >= 1 && used <= bytes.len(),
                Err(_) => true,
            }
        }
    }
}
