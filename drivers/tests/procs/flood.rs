//! Rogue websocket clients that flood a pub with valid WANT requests as fast as they can, and
//! read its replies quickly, slowly or not at all. The websocket is spoken by hand (handshake,
//! masked binary frames) so that every byte either way is counted.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tinyssb::node::{Config, Node};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::time::Instant;
use tinyssb::wire::goset::{Format, GosetMsg};
use tinyssb::wire::request::{RequestVector, WantVector};
use tinyssb::Seq;

/// A WANT packet asking a pub that holds the feeds of `store` for every feed from seq 1, in the
/// request DMX of its whole set (the one a peer of its kind uses, see [`hello_packet`]).
pub fn want_packet(store: &MemStore) -> Vec<u8> {
    let feeds = store.feeds().len();
    let node = Node::new(Config::default(), store.clone(), Instant(0));
    WantVector::fitting(0, (0..feeds).map(|_| Seq(1))).to_packet(&node.want_dmx())
}

/// The wide-format GOset claim over the feeds of `store`: sent first, it makes the pub treat
/// the connection as a peer of its kind that agrees on the whole set, so [`want_packet`]'s
/// requests are understood at once.
pub fn hello_packet(store: &MemStore) -> Vec<u8> {
    let node = Node::new(Config::default(), store.clone(), Instant(0));
    let claim = node.goset().full_claim().expect("a populated store");
    GosetMsg::Claim(claim).to_packet_as(Format::Wide).expect("a wide claim always encodes")
}

/// How a rogue client treats what the pub sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Never reads: the pub's output to it can only pile up.
    Never,
    /// Reads 512 bytes every 100 ms (5 KiB/s).
    Slow,
    /// Reads everything as fast as it arrives.
    Fast,
}

/// Bytes on the wire, websocket framing included (the HTTP handshake is not counted).
#[derive(Debug, Default)]
pub struct Counts {
    pub sent: AtomicU64,
    pub received: AtomicU64,
}

/// A running flood: `conns` rogue clients, each writing WANT frames in a loop.
pub struct Flood {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<io::Result<()>>>,
    pub counts: Arc<Counts>,
}

/// One masked binary websocket frame (client to server) carrying `payload` (at most 125 bytes).
fn frame(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    assert!(payload.len() <= 125);
    let mut f = vec![0x82, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Opens a websocket to 127.0.0.1:`port`; returns the stream and the bytes the pub sent after
/// its handshake response (already its first packets).
fn handshake(port: u16, reading: Reading) -> io::Result<(TcpStream, usize)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    // Small kernel buffers: loopback would otherwise take megabytes of requests per connection
    // that the pub never reads (the counts would overstate the flood), and megabytes of replies
    // that a rogue never reads (the pub's own output bound would hardly be reached).
    rustix::net::sockopt::set_socket_send_buffer_size(&s, 64 * 1024)?;
    if reading != Reading::Fast {
        rustix::net::sockopt::set_socket_recv_buffer_size(&s, 16 * 1024)?;
    }
    let req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed during handshake"));
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    if !got.starts_with(b"HTTP/1.1 101") {
        return Err(io::Error::other(String::from_utf8_lossy(&got).into_owned()));
    }
    Ok((s, got.len() - end))
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted)
}

/// Reads from `s` as `reading` says until `stop` is set or the pub closes the connection.
fn read_loop(mut s: TcpStream, reading: Reading, stop: &AtomicBool, counts: &Counts) -> io::Result<()> {
    let (chunk, pause) = match reading {
        Reading::Never => return Ok(()),
        Reading::Slow => (512, Duration::from_millis(100)),
        Reading::Fast => (64 * 1024, Duration::ZERO),
    };
    s.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut buf = vec![0u8; chunk];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                counts.received.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) if timed_out(&e) => {}
            Err(e) => return Err(e),
        }
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
    Ok(())
}

/// One rogue: writes `hello` once, then `frames` over and over until `stop`, reading as
/// `reading` says.
fn rogue(
    port: u16,
    hello: &[u8],
    frames: &[u8],
    reading: Reading,
    stop: &Arc<AtomicBool>,
    counts: &Arc<Counts>,
) -> io::Result<()> {
    let (mut s, early) = handshake(port, reading)?;
    counts.received.fetch_add(early as u64, Ordering::Relaxed);
    let reader = {
        let (r, stop, counts) = (s.try_clone()?, Arc::clone(stop), Arc::clone(counts));
        std::thread::spawn(move || read_loop(r, reading, &stop, &counts))
    };
    s.write_all(hello)?;
    counts.sent.fetch_add(hello.len() as u64, Ordering::Relaxed);
    s.set_write_timeout(Some(Duration::from_millis(50)))?;
    let mut at = 0;
    let mut result = Ok(());
    while !stop.load(Ordering::Relaxed) {
        match s.write(&frames[at..]) {
            Ok(0) => break,
            Ok(n) => {
                counts.sent.fetch_add(n as u64, Ordering::Relaxed);
                at = (at + n) % frames.len();
            }
            Err(e) if timed_out(&e) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = s.shutdown(Shutdown::Both);
    let read = reader.join().unwrap_or_else(|_| Err(io::Error::other("reader panicked")));
    result.and(read)
}

impl Flood {
    /// Starts `conns` rogue clients against 127.0.0.1:`port`, each sending `hello` (a GOset
    /// claim) once and then `packet` (a WANT) in websocket frames as fast as it can; client `i`
    /// reads as `reading(i)` says.
    pub fn start(
        port: u16,
        hello: &[u8],
        packet: &[u8],
        conns: usize,
        reading: impl Fn(usize) -> Reading,
    ) -> Flood {
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counts::default());
        let hello = Arc::new(frame(hello, [0x3c, 0xc3, 0x5a, 0xa5]));
        let one = frame(packet, [0x5a, 0xa5, 0x3c, 0xc3]);
        let frames: Arc<Vec<u8>> = Arc::new(one.repeat(256));
        let threads = (0..conns)
            .map(|i| {
                let (stop, counts, frames, how) =
                    (Arc::clone(&stop), Arc::clone(&counts), Arc::clone(&frames), reading(i));
                let hello = Arc::clone(&hello);
                std::thread::spawn(move || rogue(port, &hello, &frames, how, &stop, &counts))
            })
            .collect();
        Flood { stop, threads, counts }
    }

    /// (bytes sent, bytes received) so far, by all rogue clients together.
    pub fn bytes(&self) -> (u64, u64) {
        (self.counts.sent.load(Ordering::Relaxed), self.counts.received.load(Ordering::Relaxed))
    }

    /// Stops every rogue client and closes its connection; returns (bytes sent, bytes received)
    /// and how many clients failed (could not connect, or lost their connection).
    pub fn stop(self) -> (u64, u64, usize) {
        self.stop.store(true, Ordering::Relaxed);
        let failed = self
            .threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|_| Err(io::Error::other("rogue panicked"))))
            .filter(|r| {
                if let Err(e) = r {
                    eprintln!("rogue client: {e}");
                }
                r.is_err()
            })
            .count();
        (self.counts.sent.load(Ordering::Relaxed), self.counts.received.load(Ordering::Relaxed), failed)
    }
}
