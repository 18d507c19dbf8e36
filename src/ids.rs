//! Typed identifiers: feed ids, message ids, demultiplexing tags, sequence numbers and hash pointers.

use core::fmt;

/// Error returned when parsing an identifier from hex or from a byte slice of the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// The input had the wrong length.
    Length {
        /// Expected length in bytes.
        expected: usize,
        /// Actual length in bytes.
        actual: usize,
    },
    /// The input contained a character that is not a hex digit.
    NotHex,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdError::Length { expected, actual } => {
                write!(f, "expected {expected} bytes, got {actual}")
            }
            IdError::NotHex => f.write_str("not a hex string"),
        }
    }
}

impl std::error::Error for IdError {}

/// Encodes bytes as lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decodes a hex string (either case) into bytes.
pub fn from_hex(s: &str) -> Result<Vec<u8>, IdError> {
    fn nibble(c: u8) -> Result<u8, IdError> {
        match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(IdError::NotHex),
        }
    }
    let raw = s.as_bytes();
    if !raw.len().is_multiple_of(2) {
        return Err(IdError::NotHex);
    }
    raw.chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Ok(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => Err(IdError::NotHex),
        })
        .collect()
}

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Copies the identifier out of a slice of exactly [`Self::LEN`] bytes.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
                <[u8; $len]>::try_from(bytes).map(Self).map_err(|_| IdError::Length {
                    expected: $len,
                    actual: bytes.len(),
                })
            }

            /// Parses the identifier from hex.
            pub fn from_hex(s: &str) -> Result<Self, IdError> {
                Self::from_slice(&from_hex(s)?)
            }

            /// The identifier as lowercase hex.
            pub fn to_hex(&self) -> String {
                to_hex(&self.0)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}

byte_id!(
    /// A feed id: the feed's 32-byte ed25519 public key.
    FeedId,
    32
);
byte_id!(
    /// A message id: the first 20 bytes of SHA-256 over an entry's name and wire bytes.
    /// It is the `prev` of the next entry.
    MsgId,
    20
);
byte_id!(
    /// A demultiplexing tag: the 7 bytes every packet starts with.
    Dmx,
    7
);
byte_id!(
    /// A 20-byte hash pointer to a sidechain chunk (first 20 bytes of its SHA-256); all zeros ends a chain.
    HashPtr,
    20
);

impl FeedId {
    /// The `prev` of a feed's first entry: the first 20 bytes of the feed id.
    pub fn genesis_prev(&self) -> MsgId {
        let mut prev = [0u8; 20];
        prev.copy_from_slice(&self.0[..20]);
        MsgId(prev)
    }
}

impl HashPtr {
    /// The all-zero pointer that terminates a sidechain.
    pub const NULL: HashPtr = HashPtr([0; 20]);

    /// True for the all-zero pointer that ends a chain.
    pub fn is_null(&self) -> bool {
        self.0 == [0; 20]
    }
}

/// A sequence number within a feed. The first entry is seq 1; seq 0 means "empty feed".
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Seq(pub u32);

impl Seq {
    /// The sequence number after this one, or `None` on overflow.
    pub fn next(self) -> Option<Seq> {
        self.0.checked_add(1).map(Seq)
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let fid = FeedId([0xab; 32]);
        assert_eq!(FeedId::from_hex(&fid.to_hex()), Ok(fid));
        assert_eq!(FeedId::from_hex("ab"), Err(IdError::Length { expected: 32, actual: 1 }));
        assert_eq!(from_hex("zz"), Err(IdError::NotHex));
        assert_eq!(from_hex("abc"), Err(IdError::NotHex));
        assert_eq!(from_hex("é1"), Err(IdError::NotHex));
    }

    #[test]
    fn genesis_prev_is_fid_prefix() {
        let mut raw = [0u8; 32];
        for (b, i) in raw.iter_mut().zip(0u8..) {
            *b = i;
        }
        assert_eq!(FeedId(raw).genesis_prev().0[..], raw[..20]);
    }
}
