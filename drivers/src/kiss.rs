//! KISS framing (FEND-delimited frames with FESC byte stuffing, no command
//! byte) as a pure incremental codec, and [`KissTransport`], a face that speaks it
//! over a [`SerialPort`].

use std::fmt;
use std::io::{Read, Write};

use mio::event::{Event, Source};
use mio::{Interest, Registry};

use crate::crc;
use crate::serial::SerialPort;
use crate::transport::{
    self, Backlog, Dest, PeerId, Transport, TransportEvent, TransportStats, MAX_TRANSPORT_PACKET,
};

/// Frame delimiter.
pub const FEND: u8 = 0xC0;
/// Escape byte.
pub const FESC: u8 = 0xDB;
/// Escaped form of FEND (after FESC).
pub const TFEND: u8 = 0xDC;
/// Escaped form of FESC (after FESC).
pub const TFESC: u8 = 0xDD;

/// Why the decoder threw a frame away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KissError {
    /// The frame grew past the decoder's limit.
    TooLong,
    /// FESC was followed by something other than TFEND or TFESC.
    BadEscape,
}

impl fmt::Display for KissError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KissError::TooLong => f.write_str("KISS frame longer than the limit"),
            KissError::BadEscape => f.write_str("invalid KISS escape sequence"),
        }
    }
}

impl std::error::Error for KissError {}

/// Appends the KISS encoding of `frame` (`FEND ‖ stuffed(frame) ‖ FEND`) to `out`.
pub fn encode(frame: &[u8], out: &mut Vec<u8>) {
    out.push(FEND);
    for &b in frame {
        match b {
            FEND => out.extend_from_slice(&[FESC, TFEND]),
            FESC => out.extend_from_slice(&[FESC, TFESC]),
            _ => out.push(b),
        }
    }
    out.push(FEND);
}

/// Incremental KISS decoder with a bounded frame buffer. Bytes before the
/// first FEND are treated like a frame (and delivered if well-formed), empty
/// frames (`FEND FEND`) are skipped, and every FEND resynchronises.
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: Vec<u8>,
    max: usize,
    escaped: bool,
    error: Option<KissError>,
}

impl Decoder {
    /// A decoder that rejects frames longer than `max` bytes (after unstuffing).
    pub fn new(max: usize) -> Decoder {
        Decoder { buf: Vec::with_capacity(max), max, escaped: false, error: None }
    }

    /// Feeds one byte; returns a finished frame (or why it was rejected) when
    /// `byte` closes a non-empty one.
    pub fn push(&mut self, byte: u8) -> Option<Result<Vec<u8>, KissError>> {
        if byte == FEND {
            let error = self.error.take().or(self.escaped.then_some(KissError::BadEscape));
            self.escaped = false;
            let frame = std::mem::replace(&mut self.buf, Vec::with_capacity(self.max));
            return match error {
                Some(e) => Some(Err(e)),
                None if frame.is_empty() => None,
                None => Some(Ok(frame)),
            };
        }
        if self.error.is_some() {
            return None;
        }
        let b = if self.escaped {
            self.escaped = false;
            match byte {
                TFEND => FEND,
                TFESC => FESC,
                _ => {
                    self.error = Some(KissError::BadEscape);
                    return None;
                }
            }
        } else if byte == FESC {
            self.escaped = true;
            return None;
        } else {
            byte
        };
        if self.buf.len() >= self.max {
            self.error = Some(KissError::TooLong);
            self.buf.clear();
        } else {
            self.buf.push(b);
        }
        None
    }
}

/// Settings of a [`KissTransport`].
#[derive(Debug, Clone, Copy)]
pub struct KissConfig {
    /// Append / require the CRC32 trailer inside each frame (the ESP32
    /// firmware's Bluetooth serial link does; the Python pub's KISS face does not).
    pub crc: bool,
    /// Largest packet accepted or sent (without trailer).
    pub max_packet: usize,
    /// Bound of the encoded output buffer in bytes.
    pub max_out_bytes: usize,
}

impl Default for KissConfig {
    fn default() -> Self {
        KissConfig { crc: false, max_packet: MAX_TRANSPORT_PACKET, max_out_bytes: 16 * 1024 }
    }
}

/// The one neighbour at the other end of a serial line.
pub const SERIAL_PEER: PeerId = PeerId(0);

/// A point-to-point face: KISS frames over a serial device.
#[derive(Debug)]
pub struct KissTransport {
    port: SerialPort,
    index: usize,
    cfg: KissConfig,
    decoder: Decoder,
    out: Vec<u8>,
    backlog: Backlog,
    writable_interest: bool,
    announced: bool,
    stats: TransportStats,
}

impl KissTransport {
    /// A face over `port` that will use token range `index` (see [`transport::face_of`]).
    pub fn new(port: SerialPort, index: usize, cfg: KissConfig) -> KissTransport {
        let max_frame = cfg.max_packet + if cfg.crc { crc::CRC_LEN } else { 0 };
        KissTransport {
            port,
            index,
            cfg,
            decoder: Decoder::new(max_frame),
            out: Vec::new(),
            writable_interest: false,
            announced: false,
            stats: TransportStats::default(),
            backlog: Backlog::default(),
        }
    }

    fn deliver(&mut self, frame: Result<Vec<u8>, KissError>, out: &mut Vec<TransportEvent>) {
        let frame = match frame {
            Ok(f) => f,
            Err(KissError::TooLong) => {
                self.stats.drop_size_in += 1;
                return;
            }
            Err(KissError::BadEscape) => {
                self.stats.drop_framing += 1;
                return;
            }
        };
        let pkt = if self.cfg.crc {
            match crc::strip(&frame) {
                Some(p) => p.to_vec(),
                None => {
                    self.stats.drop_bad_crc += 1;
                    return;
                }
            }
        } else {
            frame
        };
        if pkt.is_empty() {
            self.stats.drop_size_in += 1;
            return;
        }
        self.stats.packets_in += 1;
        self.stats.bytes_in += pkt.len() as u64;
        out.push(TransportEvent::Packet(SERIAL_PEER, pkt));
    }
}

impl Transport for KissTransport {
    fn register(&mut self, registry: &Registry) -> std::io::Result<()> {
        registry.register(&mut self.port, transport::token(self.index, 0), Interest::READABLE)
    }

    fn on_ready(&mut self, registry: &Registry, event: &Event, out: &mut Vec<TransportEvent>) {
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            let mut buf = [0u8; 512];
            loop {
                match self.port.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        for &b in &buf[..n] {
                            if let Some(frame) = self.decoder.push(b) {
                                self.deliver(frame, out);
                            }
                        }
                    }
                    Err(e) if transport::interrupted(&e) => continue,
                    Err(e) => {
                        if !transport::would_block(&e) {
                            log::debug!("kiss face {}: read error {e}", self.index);
                        }
                        break;
                    }
                }
            }
        }
        if event.is_writable() {
            self.flush(registry, out);
        }
    }

    fn send(&mut self, _dest: Dest, pkt: &[u8]) {
        if pkt.is_empty() || pkt.len() > self.cfg.max_packet {
            self.stats.drop_size_out += 1;
            return;
        }
        let frame = crc::frame(pkt, self.cfg.crc);
        // Worst case every byte is stuffed, plus two delimiters.
        if self.out.len() + 2 * frame.len() + 2 > self.cfg.max_out_bytes {
            self.stats.drop_queue_full += 1;
            self.backlog.dropped += pkt.len();
            return;
        }
        self.backlog.unflushed += pkt.len();
        encode(&frame, &mut self.out);
        self.stats.packets_out += 1;
        self.stats.bytes_out += pkt.len() as u64;
    }

    fn flush(&mut self, registry: &Registry, out: &mut Vec<TransportEvent>) {
        if !self.announced {
            self.announced = true;
            out.push(TransportEvent::Up(SERIAL_PEER));
        }
        while !self.out.is_empty() {
            match self.port.write(&self.out) {
                Ok(0) => break,
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if transport::interrupted(&e) => continue,
                Err(e) => {
                    if !transport::would_block(&e) {
                        log::debug!("kiss face {}: write error {e}, dropping output", self.index);
                        self.out.clear();
                        self.backlog.dropped += std::mem::take(&mut self.backlog.unflushed);
                    }
                    break;
                }
            }
        }
        self.backlog.report(SERIAL_PEER, self.out.is_empty(), out);
        let want = !self.out.is_empty();
        if want != self.writable_interest {
            let interest = if want { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
            match self.port.reregister(registry, transport::token(self.index, 0), interest) {
                Ok(()) => self.writable_interest = want,
                Err(e) => log::warn!("kiss face {}: reregister failed: {e}", self.index),
            }
        }
    }

    fn peers(&self) -> Vec<PeerId> {
        vec![SERIAL_PEER]
    }

    fn stats(&self) -> &TransportStats {
        &self.stats
    }

    fn kind_name(&self) -> &'static str {
        "kiss"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(d: &mut Decoder, bytes: &[u8]) -> Vec<Result<Vec<u8>, KissError>> {
        bytes.iter().filter_map(|&b| d.push(b)).collect()
    }

    #[test]
    fn stuffing() {
        let mut out = Vec::new();
        encode(&[1, FEND, FESC, 2], &mut out);
        assert_eq!(out, [FEND, 1, FESC, TFEND, FESC, TFESC, 2, FEND]);
        let mut d = Decoder::new(10);
        assert_eq!(decode_all(&mut d, &out), vec![Ok(vec![1, FEND, FESC, 2])]);
    }

    #[test]
    fn errors_and_resync() {
        let mut d = Decoder::new(3);
        let input = [FEND, FEND, 1, 2, 3, 4, FEND, 5, FESC, 9, 6, FEND, 7, FESC, FEND, 8, FEND];
        assert_eq!(
            decode_all(&mut d, &input),
            vec![Err(KissError::TooLong), Err(KissError::BadEscape), Err(KissError::BadEscape), Ok(vec![8])]
        );
    }

    quickcheck::quickcheck! {
        fn roundtrip(frames: Vec<Vec<u8>>) -> bool {
            let frames: Vec<Vec<u8>> = frames.into_iter().filter(|f| !f.is_empty()).collect();
            let mut wire = Vec::new();
            for f in &frames {
                encode(f, &mut wire);
            }
            let max = frames.iter().map(Vec::len).max().unwrap_or(0);
            let mut d = Decoder::new(max);
            let got: Vec<Vec<u8>> = decode_all(&mut d, &wire).into_iter().map(Result::unwrap).collect();
            got == frames
        }

        fn arbitrary_bytes_stay_bounded(bytes: Vec<u8>, max: u8) -> bool {
            let mut d = Decoder::new(max as usize);
            decode_all(&mut d, &bytes).into_iter().all(|r| r.map_or(true, |f| !f.is_empty() && f.len() <= max as usize))
        }
    }
}
