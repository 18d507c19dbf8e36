//! The classic demo with real processes, over each transport: publish with `tinyssb-feed` into
//! A's data directory, let `spub-mio` A and B replicate, and read the feed back from B.
mod procs;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};
use procs::{
    assert_read_back, assert_same_dirs, free_port, free_udp_port, publish_demo, same_logs, tcp_taken,
    udp_taken, utf8, wait_until, Pub, PATIENCE,
};
use tinyssb_drivers::serial::{open_pty, SerialPort};

/// Which pub starts first, and how the test sees that it is ready for the other.
enum Start {
    AFirst(Box<dyn Fn() -> bool>),
    BFirst(Box<dyn Fn() -> bool>),
}

/// Publishes into A, starts both pubs with their transport arguments, waits until B holds A's
/// logs byte for byte, stops both, then compares the directories and reads the feed back.
fn demo(long: usize, args_a: &[&str], args_b: &[&str], start: Start) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let published = publish_demo(tmp.path(), &a, long);
    let (pub_a, pub_b) = match start {
        Start::AFirst(ready) => {
            let pub_a = Pub::spawn(&a, args_a);
            assert!(wait_until(PATIENCE, ready), "A did not come up");
            (pub_a, Pub::spawn(&b, args_b))
        }
        Start::BFirst(ready) => {
            let pub_b = Pub::spawn(&b, args_b);
            assert!(wait_until(PATIENCE, ready), "B did not come up");
            (Pub::spawn(&a, args_a), pub_b)
        }
    };
    let started = Instant::now();
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up with A");
    println!("replicated {} entries in {:?}", published.contents.len(), started.elapsed());
    assert!(pub_b.stop(), "B did not exit 0 on SIGTERM");
    assert!(pub_a.stop(), "A did not exit 0 on SIGTERM");
    assert_same_dirs(&a, &b);
    assert_read_back(&b, &published);
}

#[test]
fn demo_over_websockets() {
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}");
    let ready = Start::AFirst(Box::new(move || tcp_taken(port)));
    demo(3000, &["--bind", "127.0.0.1", &port.to_string()], &[&url], ready);
}

#[test]
fn demo_over_udp_unicast() {
    let (pa, pb) = (free_udp_port(), free_udp_port());
    let (to_a, to_b) = (format!("127.0.0.1:{pa}"), format!("127.0.0.1:{pb}"));
    // B (empty) first: A's greeting must not be lost, or B has to wait for A's next GOset
    // round (15 s), having no claim of its own to prompt A with.
    let ready = Start::BFirst(Box::new(move || udp_taken(pb)));
    demo(1500, &["--udp", &format!("{to_a},{to_b}")], &["--udp", &format!("{to_b},{to_a}")], ready);
}

/// A null modem between two pseudo-terminal masters: a thread copies whatever one side's slave
/// writes to the other side, until dropped.
struct NullModem {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NullModem {
    fn new(mut x: SerialPort, mut y: SerialPort) -> NullModem {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut poll = Poll::new().expect("poll");
            poll.registry().register(&mut x, Token(0), Interest::READABLE).expect("register");
            poll.registry().register(&mut y, Token(1), Interest::READABLE).expect("register");
            let mut events = Events::with_capacity(8);
            let (mut x_to_y, mut y_to_x) = (Vec::new(), Vec::new());
            while !flag.load(Ordering::Relaxed) {
                // Short timeout: also retries output the other side could not take yet.
                let _ = poll.poll(&mut events, Some(Duration::from_millis(10)));
                pump(&mut x, &mut x_to_y);
                pump(&mut y, &mut y_to_x);
                drain(&mut y, &mut x_to_y);
                drain(&mut x, &mut y_to_x);
            }
        });
        NullModem { stop, thread: Some(thread) }
    }
}

/// Reads everything `port` has into `buf` (errors such as EIO before the slave opens are "nothing").
fn pump(port: &mut SerialPort, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = port.read(&mut chunk) {
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Writes as much of `buf` to `port` as it takes.
fn drain(port: &mut SerialPort, buf: &mut Vec<u8>) {
    while !buf.is_empty() {
        match port.write(buf) {
            Ok(n @ 1..) => {
                buf.drain(..n);
            }
            _ => break,
        }
    }
}

impl Drop for NullModem {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn demo_over_kiss_pty_pair() {
    let (m1, s1) = open_pty().expect("pty 1");
    let (m2, s2) = open_pty().expect("pty 2");
    let _modem = NullModem::new(m1, m2);
    // open_pty made both slaves raw (termios set on a master applies to its slave), so bytes
    // that reach a slave before its pub opens it wait there unmangled.
    demo(1500, &["--kiss", utf8(&s1)], &["--kiss", utf8(&s2)], Start::AFirst(Box::new(|| true)));
}
