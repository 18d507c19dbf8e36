//! Websocket server side: arbitrary bytes as the incoming stream of one connection, read
//! as the websocket faces read it and with the same limits (`WsConfig::tungstenite`), either
//! from the HTTP upgrade request on or, with the handshake skipped, as frames alone.
#![no_main]

use std::io::{self, Read, Write};

use libfuzzer_sys::fuzz_target;
use tinyssb_drivers::ws::WsConfig;
use tungstenite::handshake::HandshakeError;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role};
use tungstenite::{Message, WebSocket};

/// An in-memory connection: reads hand out the input a few bytes at a time, then
/// would block; writes are kept (up to a bound, then they would block too).
struct Pipe<'a> {
    input: &'a [u8],
    step: usize,
    output: Vec<u8>,
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.input.is_empty() {
            return Err(would_block());
        }
        let n = buf.len().min(self.step).min(self.input.len());
        let (head, rest) = self.input.split_at(n);
        buf[..n].copy_from_slice(head);
        self.input = rest;
        Ok(n)
    }
}

impl Write for Pipe<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = (64 * 1024usize).saturating_sub(self.output.len());
        if room == 0 {
            return Err(would_block());
        }
        let n = buf.len().min(room);
        self.output.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn is_would_block(e: &tungstenite::Error) -> bool {
    matches!(e, tungstenite::Error::Io(io) if io.kind() == io::ErrorKind::WouldBlock)
}

/// Reads messages the way the websocket faces do until the input runs out or the
/// connection fails; answers every packet so that the write path runs too.
fn serve(ws: &mut WebSocket<Pipe<'_>>, cfg: &WsConfig) {
    for _ in 0..10_000 {
        match ws.read() {
            Ok(Message::Binary(data)) => {
                if !data.is_empty() && data.len() <= cfg.max_packet {
                    match ws.write(Message::binary(data.to_vec())) {
                        Ok(()) | Err(tungstenite::Error::WriteBufferFull(_)) => {}
                        Err(e) if is_would_block(&e) => {}
                        Err(_) => return,
                    }
                }
            }
            Ok(Message::Text(_)) => {
                let frame = CloseFrame { code: CloseCode::Unsupported, reason: "binary only".into() };
                let _ = ws.close(Some(frame));
                let _ = ws.flush();
                return;
            }
            Ok(_) => {
                let _ = ws.flush();
            }
            Err(_) => return,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else { return };
    let cfg = WsConfig::default();
    let pipe = Pipe { input, step: usize::from(mode >> 1) + 1, output: Vec::new() };
    if mode & 1 == 1 {
        let mut ws = WebSocket::from_raw_socket(pipe, Role::Server, Some(cfg.tungstenite()));
        serve(&mut ws, &cfg);
        return;
    }
    let mut attempt = tungstenite::accept_with_config(pipe, Some(cfg.tungstenite()));
    for _ in 0..10_000 {
        match attempt {
            Ok(mut ws) => {
                serve(&mut ws, &cfg);
                return;
            }
            Err(HandshakeError::Interrupted(mid)) => {
                if mid.get_ref().get_ref().input.is_empty() {
                    return;
                }
                attempt = mid.handshake();
            }
            Err(HandshakeError::Failure(_)) => return,
        }
    }
});
