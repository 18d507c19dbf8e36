//! UDP faces on loopback: unicast with and without CRC trailer, and multicast.
mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use common::{packets, Harness};
use tinyssb_drivers::transport::{Dest, Transport};
use tinyssb_drivers::udp::{UdpConfig, UdpTransport};

fn lo(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn unicast_pair_with_crc() {
    // Bind b first to learn its port, then a pointing at b, then re-point b at a.
    let probe = UdpSocket::bind(lo(0)).unwrap();
    let a_addr = probe.local_addr().unwrap();
    drop(probe);
    let cfg = UdpConfig::default();
    let mut b = UdpTransport::unicast(1, lo(0), a_addr, cfg).unwrap();
    let mut a = UdpTransport::unicast(0, a_addr, b.local_addr().unwrap(), cfg).unwrap();
    let mut h = Harness::new();
    a.register(h.poll.registry()).unwrap();
    b.register(h.poll.registry()).unwrap();

    let pkts: Vec<Vec<u8>> = (1..=120u8).map(|n| vec![n; n as usize]).collect();
    for p in &pkts {
        a.send(Dest::All, p);
        b.send(Dest::All, p);
    }
    let evs = h.run_until(&mut [&mut a, &mut b], Duration::from_secs(5), |evs| {
        packets(evs, 0).len() == 120 && packets(evs, 1).len() == 120
    });
    assert_eq!(packets(&evs, 0), pkts);
    assert_eq!(packets(&evs, 1), pkts);

    // Raw datagrams: bad CRC and oversize are dropped and counted.
    let raw = UdpSocket::bind(lo(0)).unwrap();
    raw.send_to(&[1, 2, 3, 4, 5, 6, 7, 8], b.local_addr().unwrap()).unwrap();
    let mut big = Vec::new();
    tinyssb_drivers::crc::append(&[0u8; 200], &mut big);
    raw.send_to(&big, b.local_addr().unwrap()).unwrap();
    let mut ok = Vec::new();
    tinyssb_drivers::crc::append(b"end", &mut ok);
    raw.send_to(&ok, b.local_addr().unwrap()).unwrap();
    let evs = h.run_until(&mut [&mut a, &mut b], Duration::from_secs(5), |evs| !packets(evs, 1).is_empty());
    assert_eq!(packets(&evs, 1), vec![b"end".to_vec()]);
    assert_eq!(b.stats().drop_bad_crc, 1);
    assert_eq!(b.stats().drop_size_in, 1);
}

#[test]
fn unicast_without_crc_and_bounded_queue() {
    let cfg = UdpConfig { crc: false, max_queue: 4, ..UdpConfig::default() };
    let raw = UdpSocket::bind(lo(0)).unwrap();
    let mut a = UdpTransport::unicast(0, lo(0), raw.local_addr().unwrap(), cfg).unwrap();
    let mut h = Harness::new();
    a.register(h.poll.registry()).unwrap();
    for i in 0..10u8 {
        a.send(Dest::All, &[i]);
    }
    a.send(Dest::All, &[0u8; 129]);
    assert_eq!(a.stats().drop_queue_full, 6);
    assert_eq!(a.stats().drop_size_out, 1);
    h.turn(&mut [&mut a]);
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 64];
    for i in 0..4u8 {
        let (n, _) = raw.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &[i]);
    }
    raw.send_to(b"plain", a.local_addr().unwrap()).unwrap();
    let evs = h.run_until(&mut [&mut a], Duration::from_secs(5), |evs| !packets(evs, 0).is_empty());
    assert_eq!(packets(&evs, 0), vec![b"plain".to_vec()]);
}

#[test]
fn multicast_on_loopback() {
    let group = SocketAddrV4::new(Ipv4Addr::new(224, 1, 1, 1), 0);
    // Pick a free port for the group so parallel runs do not collide.
    let port = UdpSocket::bind(lo(0)).unwrap().local_addr().unwrap().port();
    let group = SocketAddrV4::new(*group.ip(), port);
    let cfg = UdpConfig::default();
    let made = UdpTransport::multicast(0, group, Ipv4Addr::LOCALHOST, cfg)
        .and_then(|a| Ok((a, UdpTransport::multicast(1, group, Ipv4Addr::LOCALHOST, cfg)?)));
    let (mut a, mut b) = match made {
        Ok(pair) => pair,
        Err(e) => {
            println!("note: skipping multicast test, cannot set up group on loopback: {e}");
            return;
        }
    };
    let mut h = Harness::new();
    a.register(h.poll.registry()).unwrap();
    b.register(h.poll.registry()).unwrap();
    a.send(Dest::All, b"from a");
    b.send(Dest::All, b"from b");
    let mut evs = h.turn(&mut [&mut a, &mut b]);
    if a.stats().drop_no_peer > 0 {
        println!("note: skipping multicast test, no multicast route on loopback");
        return;
    }
    for _ in 0..250 {
        if !packets(&evs, 0).is_empty() && !packets(&evs, 1).is_empty() {
            break;
        }
        evs.extend(h.turn(&mut [&mut a, &mut b]));
    }
    // Each face hears the other and never itself.
    assert_eq!(packets(&evs, 0), vec![b"from b".to_vec()]);
    assert_eq!(packets(&evs, 1), vec![b"from a".to_vec()]);
}
