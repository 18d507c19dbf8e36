//! KISS face over a pseudo-terminal pair, both directions.
mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::{packets, Harness};
use tinyssb_drivers::kiss::{self, KissConfig, KissTransport};
use tinyssb_drivers::serial::{open_pty, SerialPort};
use tinyssb_drivers::transport::{Dest, Transport};

#[test]
fn kiss_over_pty_both_directions() {
    let (master, slave_path) = open_pty().unwrap();
    let slave = SerialPort::open(&slave_path, 115_200).unwrap();
    let cfg = KissConfig { crc: true, ..KissConfig::default() };
    let mut a = KissTransport::new(master, 0, cfg);
    let mut b = KissTransport::new(slave, 1, cfg);
    let mut h = Harness::new();
    a.register(h.poll.registry()).unwrap();
    b.register(h.poll.registry()).unwrap();

    let to_b: Vec<Vec<u8>> = (0..50u8).map(|i| vec![0xC0, i, 0xDB, 0xDC, 0xDD, i]).collect();
    let to_a: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; 1 + i as usize]).collect();
    for p in &to_b {
        a.send(Dest::All, p);
    }
    for p in &to_a {
        b.send(Dest::All, p);
    }
    let evs = h.run_until(&mut [&mut a, &mut b], Duration::from_secs(5), |evs| {
        packets(evs, 0).len() == to_a.len() && packets(evs, 1).len() == to_b.len()
    });
    assert_eq!(packets(&evs, 1), to_b);
    assert_eq!(packets(&evs, 0), to_a);
    assert_eq!(a.stats().packets_out, 50);
    assert_eq!(b.stats().packets_in, 50);
    assert_eq!(b.stats().drop_bad_crc, 0);
}

#[test]
fn bad_crc_and_garbage_are_counted_not_delivered() {
    let (mut master, slave_path) = open_pty().unwrap();
    let slave = SerialPort::open(&slave_path, 9600).unwrap();
    let mut b = KissTransport::new(slave, 0, KissConfig { crc: true, ..KissConfig::default() });
    let mut h = Harness::new();
    b.register(h.poll.registry()).unwrap();

    let mut wire = vec![1, 2, 3]; // noise before the first delimiter
    kiss::encode(&[9, 9, 9, 9, 9, 9], &mut wire); // no valid trailer
    wire.extend_from_slice(&[kiss::FEND, 7, kiss::FESC, 1, kiss::FEND]); // bad escape
    let mut good = Vec::new();
    tinyssb_drivers::crc::append(b"ok", &mut good);
    kiss::encode(&good, &mut wire);
    master.write_all(&wire).unwrap();

    let evs = h.run_until(&mut [&mut b], Duration::from_secs(5), |evs| !packets(evs, 0).is_empty());
    assert_eq!(packets(&evs, 0), vec![b"ok".to_vec()]);
    // The leading noise "1 2 3" is too short for a trailer: a CRC failure too.
    assert_eq!(b.stats().drop_bad_crc, 2);
    assert_eq!(b.stats().drop_framing, 1);

    // And the face's output reaches the raw master side.
    b.send(Dest::All, b"hi");
    h.turn(&mut [&mut b]);
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    for _ in 0..500 {
        match master.read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if got.len() >= 8 {
                    break;
                }
                h.turn(&mut [&mut b]);
            }
            Err(e) => panic!("{e}"),
        }
    }
    let mut expect = Vec::new();
    let mut framed = Vec::new();
    tinyssb_drivers::crc::append(b"hi", &mut framed);
    kiss::encode(&framed, &mut expect);
    assert_eq!(got, expect);
}
