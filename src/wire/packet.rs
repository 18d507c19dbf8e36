//! [`Packet`]: an owned tinySSB packet of at most 120 bytes, stored inline (no allocation).

use crate::wire::MAX_PACKET;

/// [`MAX_PACKET`] as the `u8` a packet keeps its length in; the assertion makes the cast exact.
#[allow(clippy::cast_possible_truncation)]
const FULL_LEN: u8 = {
    assert!(MAX_PACKET <= 255);
    MAX_PACKET as u8
};

/// An owned packet of at most [`MAX_PACKET`] bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    len: u8,
    buf: [u8; MAX_PACKET],
}

impl Packet {
    /// Copies `bytes` into a packet; `None` if longer than [`MAX_PACKET`].
    pub fn new(bytes: &[u8]) -> Option<Packet> {
        let mut buf = [0u8; MAX_PACKET];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Packet { len: u8::try_from(bytes.len()).ok()?, buf })
    }

    /// A packet of exactly [`MAX_PACKET`] bytes (an entry or a chunk).
    pub fn full(buf: [u8; MAX_PACKET]) -> Packet {
        Packet { len: FULL_LEN, buf }
    }

    /// Concatenates `head` and `body` into a packet; `None` if the result is too long.
    pub fn concat(head: &[u8], body: &[u8]) -> Option<Packet> {
        let mut buf = [0u8; MAX_PACKET];
        let total = head.len().checked_add(body.len())?;
        buf.get_mut(..head.len())?.copy_from_slice(head);
        buf.get_mut(head.len()..total)?.copy_from_slice(body);
        Some(Packet { len: u8::try_from(total).ok()?, buf })
    }

    /// The packet's bytes.
    pub fn as_slice(&self) -> &[u8] {
        self.buf.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The packet's length.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for an empty packet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl AsRef<[u8]> for Packet {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl core::fmt::Debug for Packet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Packet({})", crate::ids::to_hex(self.as_slice()))
    }
}
