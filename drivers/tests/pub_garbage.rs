//! A running `spub-mio` under attack: rogue websocket clients send garbage, oversized and text
//! frames, broken framing, or no websocket at all. Each rogue connection is closed (or, for
//! well-framed garbage packets, survives them harmlessly), the pub stays up, and honest peers
//! (a raw websocket client and two pubs) are served and replicate byte-identical throughout.
mod procs;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use procs::{
    assert_read_back, assert_same_dirs, copy_dir, free_port, noise, publish_demo, same_logs, tcp_taken,
    vectors, wait_until, Pub, PATIENCE,
};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Error, Message, WebSocket};

type Ws = WebSocket<TcpStream>;

/// A rogue client: its outcome, `Err` with what went wrong.
type Rogue = fn(u16) -> Result<(), String>;

fn connect(port: u16) -> Ws {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (ws, _) = tungstenite::client(format!("ws://127.0.0.1:{port}/"), stream).expect("handshake");
    ws
}

fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Reads until the pub ends the connection, returning the close code it sent, if any; fails if
/// the connection is still open after `PATIENCE`.
fn until_closed(ws: &mut Ws) -> Result<Option<CloseCode>, String> {
    let end = Instant::now() + PATIENCE;
    ws.get_mut().set_read_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    let mut code = None;
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Close(frame)) => code = frame.map(|f| f.code),
            Ok(_) => {}
            Err(Error::Io(e)) if timed_out(&e) => break,
            Err(_) => return Ok(code),
        }
    }
    Err("the pub left the connection open".into())
}

/// Sends a ping and reads (skipping the pub's own packets) until the pong comes back.
fn ping_pong(ws: &mut Ws) -> Result<(), String> {
    ws.send(Message::Ping(vec![1, 2, 3].into())).map_err(|e| format!("ping: {e}"))?;
    ws.get_mut().set_read_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        match ws.read() {
            Ok(Message::Pong(p)) if p.as_ref() == [1, 2, 3] => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("waiting for pong: {e}")),
        }
    }
    Err("no pong".into())
}

/// Well-framed binary messages of random bytes (1 to 1024 bytes: invalid packets, and packets
/// too long for tinySSB) are dropped, not fatal: a ping still gets its pong. A text frame then
/// closes the connection with 1003 (unsupported data).
fn garbage_packets_then_text(port: u16) -> Result<(), String> {
    let mut ws = connect(port);
    for i in 0..300u64 {
        let len = 1 + noise(i, 2).iter().map(|&b| usize::from(b)).sum::<usize>() * 2;
        ws.send(Message::binary(noise(1000 + i, len.min(1024)))).map_err(|e| format!("frame {i}: {e}"))?;
    }
    ping_pong(&mut ws)?;
    ws.send(Message::text("hello, pub")).map_err(|e| format!("text: {e}"))?;
    match until_closed(&mut ws)? {
        Some(CloseCode::Unsupported) => Ok(()),
        other => Err(format!("closed with {other:?}, expected 1003")),
    }
}

/// One 64 KiB binary message: far beyond the pub's message limit, so it hangs up (the write
/// itself may already fail when it does).
fn oversized(port: u16) -> Result<(), String> {
    let mut ws = connect(port);
    let _ = ws.send(Message::binary(noise(2, 64 * 1024)));
    until_closed(&mut ws).map(drop)
}

/// A websocket handshake followed by bytes that are no websocket framing (RSV bits set, then
/// noise).
fn broken_framing(port: u16) -> Result<(), String> {
    let mut ws = connect(port);
    let mut bytes = vec![0xF2, 0x85];
    bytes.extend(noise(3, 4096));
    let _ = ws.get_mut().write_all(&bytes);
    until_closed(&mut ws).map(drop)
}

/// No websocket at all: binary noise instead of an HTTP upgrade request.
fn not_websocket(port: u16) -> Result<(), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let mut bytes = b"\x00\xffGARBAGE\r\n\r\n".to_vec();
    bytes.extend(noise(4, 4096));
    let _ = s.write_all(&bytes);
    s.set_read_timeout(Some(PATIENCE)).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1024];
    let end = Instant::now() + PATIENCE;
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) if timed_out(&e) => break,
            Err(_) => return Ok(()), // reset: closed with our bytes unread
        }
    }
    Err("the pub kept a non-websocket connection open".into())
}

#[test]
fn rogue_clients_are_cut_off_and_honest_peers_still_replicate() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    copy_dir(&vectors(), &a);
    let published = publish_demo(tmp.path(), &a, 2000);
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let mut pub_a = Pub::spawn(&a, &["--bind", "127.0.0.1", &port.to_string()]);
    assert!(wait_until(PATIENCE, || tcp_taken(port)), "A did not come up");

    let mut honest = connect(port);
    let started = Instant::now();
    let pub_b = Pub::spawn(&b, &[&url]);
    let rogues: Vec<(&str, Rogue)> = vec![
        ("garbage packets, then text", garbage_packets_then_text),
        ("oversized message", oversized),
        ("broken framing", broken_framing),
        ("not websocket", not_websocket),
    ];
    let threads: Vec<_> =
        rogues.into_iter().map(|(name, f)| (name, std::thread::spawn(move || f(port)))).collect();
    for (name, t) in threads {
        let outcome = t.join().unwrap_or_else(|_| Err("rogue thread panicked".into()));
        assert_eq!(outcome, Ok(()), "rogue client: {name}");
    }
    println!("rogues done in {:?}", started.elapsed());
    assert!(pub_a.alive(), "the pub died");
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up with A");
    println!("B replicated in {:?}", started.elapsed());
    ping_pong(&mut honest).expect("the honest raw client was cut off");

    // A pub with a feed of its own connecting after the attack: A, B and C all end up with the
    // union. (C brings a feed so that its GOset claims differ from B's earlier ones: a second
    // empty pub would wait for A's next GOset round, see pub_e2e.rs.)
    let keys = tmp.path().join("c-author");
    std::fs::create_dir(&keys).expect("mkdir");
    let own = publish_demo(&keys, &c, 300);
    let pub_c = Pub::spawn(&c, &[&url]);
    assert!(wait_until(PATIENCE, || same_logs(&a, &c)), "C and A did not converge");
    let all_same = || same_logs(&a, &c) && same_logs(&a, &b);
    assert!(wait_until(PATIENCE, all_same), "A, B and C did not converge");
    println!("all replicated in {:?}", started.elapsed());
    let _ = honest.close(None);
    assert!(pub_c.stop(), "C did not exit 0");
    assert!(pub_b.stop(), "B did not exit 0");
    assert!(pub_a.stop(), "A did not exit 0 after the attack");
    assert_same_dirs(&a, &b);
    assert_same_dirs(&a, &c);
    assert_read_back(&c, &published);
    assert_read_back(&b, &own);
}
