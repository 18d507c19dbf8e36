//! Secure websocket links (issue #14): subprotocol negotiation, the Noise handshake inside the
//! websocket, sealed packets, refusals; plain clients keep working next to secure ones.
mod common;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{packets, Harness};
use tinyssb::secure::{SecureConfig, StaticKey, Trust, SUBPROTOCOL};
use tinyssb_drivers::transport::{Dest, Transport, TransportEvent};
use tinyssb_drivers::ws::{Backoff, ClientState, WsClient, WsConfig, WsSecure, WsServer};
use tungstenite::client::IntoClientRequest;
use tungstenite::Message;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn ups(evs: &[(usize, TransportEvent)], face: usize) -> usize {
    evs.iter().filter(|(i, e)| *i == face && matches!(e, TransportEvent::Up(_))).count()
}

fn key(b: u8) -> StaticKey {
    StaticKey::from_secret([b; 32]).unwrap()
}

fn noise(b: u8, trust: Trust) -> Arc<SecureConfig> {
    Arc::new(SecureConfig { trust, ..SecureConfig::new(key(b)) })
}

fn server(require: bool, trust: Trust) -> WsServer {
    server_at(0, require, trust)
}

/// A secure server using token range `index` (its position in the harness's face list).
fn server_at(index: usize, require: bool, trust: Trust) -> WsServer {
    let mut s = WsServer::bind(index, any_port(), WsConfig::default()).unwrap();
    s.set_secure(WsSecure { noise: noise(1, trust), require });
    s
}

fn fast() -> Backoff {
    Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(80) }
}

fn client(index: usize, url: &str, b: u8, trust: Trust) -> WsClient {
    let mut c = WsClient::new(index, url, WsConfig::default(), fast()).unwrap();
    c.set_secure(noise(b, trust));
    c
}

#[test]
fn secure_and_plain_clients_exchange_with_one_server() {
    let mut server = server(false, Trust::Any);
    let addr = server.local_addr().unwrap();
    let mut secure = client(1, &format!("noise+ws://{addr}/"), 2, Trust::Any);
    assert!(secure.wants_secure());
    let mut plain = WsClient::new(2, &format!("ws://{addr}/"), WsConfig::default(), fast()).unwrap();
    let mut h = Harness::new();
    for f in [&mut server as &mut dyn Transport, &mut secure, &mut plain] {
        f.register(h.poll.registry()).unwrap();
    }
    let faces: &mut [&mut dyn Transport] = &mut [&mut server, &mut secure, &mut plain];
    h.run_until(faces, Duration::from_secs(5), |evs| {
        ups(evs, 0) == 2 && ups(evs, 1) == 1 && ups(evs, 2) == 1
    });
    assert_eq!(secure.state(), ClientState::Open);

    for i in 0..50u8 {
        secure.send(Dest::All, &[i; 120]);
        plain.send(Dest::All, &[i; 3]);
    }
    server.send(Dest::All, b"to everyone");
    let faces: &mut [&mut dyn Transport] = &mut [&mut server, &mut secure, &mut plain];
    let evs = h.run_until(faces, Duration::from_secs(5), |evs| {
        packets(evs, 0).len() == 100 && packets(evs, 1).len() == 1 && packets(evs, 2).len() == 1
    });
    let got: BTreeSet<Vec<u8>> = packets(&evs, 0).into_iter().collect();
    for i in 0..50u8 {
        assert!(got.contains(&vec![i; 120]) && got.contains(&vec![i; 3]), "packet {i}");
    }
    assert_eq!(packets(&evs, 1), [b"to everyone".to_vec()]);
    assert_eq!(packets(&evs, 2), [b"to everyone".to_vec()]);
    // Byte counts are packet bytes, not sealed bytes: the engine paces by them.
    assert_eq!(secure.stats().bytes_out, 50 * 120);
}

#[test]
fn a_plain_observer_sees_only_sealed_messages() {
    // A hand-made secure client: negotiates the subprotocol and then sees the server's Noise
    // message 2 and sealed packets, never the packet bytes.
    let mut server = server(false, Trust::Any);
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    let probe = std::thread::spawn(move || {
        let mut req = format!("ws://{addr}/").into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", SUBPROTOCOL.parse().unwrap());
        let (mut ws, resp) = tungstenite::client(req, TcpStream::connect(addr).unwrap()).unwrap();
        assert_eq!(resp.headers()["Sec-WebSocket-Protocol"], SUBPROTOCOL);
        // Not a valid message 1: the server ends the link without a word in clear.
        ws.send(Message::binary(vec![0u8; 31])).unwrap();
        let mut seen = Vec::new();
        while let Ok(m) = ws.read() {
            seen.push(m);
        }
        seen
    });
    let end = Instant::now() + Duration::from_secs(5);
    while !probe.is_finished() && Instant::now() < end {
        h.turn(&mut [&mut server]);
    }
    let seen = probe.join().unwrap();
    assert!(seen.iter().all(|m| !m.is_binary()), "{seen:?}");
    assert!(server.stats().closed_protocol >= 1);
}

#[test]
fn require_secure_refuses_plain_clients_with_403() {
    let mut server = server(true, Trust::Any);
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    // The status code the plain client got, if it was refused.
    let plain = std::thread::spawn(move || {
        match tungstenite::client(format!("ws://{addr}/").as_str(), TcpStream::connect(addr).unwrap()) {
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(resp))) => Some(resp.status()),
            _ => None,
        }
    });
    let end = Instant::now() + Duration::from_secs(5);
    while !plain.is_finished() && Instant::now() < end {
        h.turn(&mut [&mut server]);
    }
    assert_eq!(plain.join().unwrap().map(|s| s.as_u16()), Some(403), "plain client was not refused");
    // A secure client still gets in.
    let mut secure = client(1, &format!("noise+ws://{addr}/"), 2, Trust::Any);
    secure.register(h.poll.registry()).unwrap();
    h.run_until(&mut [&mut server, &mut secure], Duration::from_secs(5), |evs| {
        ups(evs, 0) == 1 && ups(evs, 1) == 1
    });
}

#[test]
fn untrusted_keys_are_refused_both_ways() {
    let only = |b: u8| Trust::Only(BTreeSet::from([key(b).public()]));
    // The server trusts only key 9: the client (key 2) is refused after the handshake.
    let mut server1 = server(false, only(9));
    let url1 = format!("noise+ws://{}/", server1.local_addr().unwrap());
    let mut refused = client(1, &url1, 2, Trust::Any);
    // This client trusts only key 9: it refuses the server (key 1) before revealing its key.
    let mut server2 = server_at(2, false, Trust::Any);
    let url2 = format!("noise+ws://{}/", server2.local_addr().unwrap());
    let mut refusing = client(3, &url2, 2, only(9));
    let mut h = Harness::new();
    for f in [&mut server1 as &mut dyn Transport, &mut refused, &mut server2, &mut refusing] {
        f.register(h.poll.registry()).unwrap();
    }
    let mut evs = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while (server1.stats().closed_protocol < 2 || refusing.stats().closed_protocol < 2)
        && Instant::now() < end
    {
        evs.extend(h.turn(&mut [&mut server1, &mut refused, &mut server2, &mut refusing]));
    }
    assert!(server1.stats().closed_protocol >= 2, "{:?}", server1.stats());
    assert!(refusing.stats().closed_protocol >= 2, "{:?}", refusing.stats());
    // The refusing side never reports the peer up. (An XX initiator is done once it sent
    // message 3, so the refused client is up until the server's verdict closes its link.)
    assert_eq!(ups(&evs, 0) + ups(&evs, 2) + ups(&evs, 3), 0, "{evs:?}");

    // With each other's keys listed, the same pair connects.
    let mut server3 = server(false, only(2));
    let url3 = format!("noise+ws://{}/", server3.local_addr().unwrap());
    let mut trusted = client(1, &url3, 2, only(1));
    let mut h = Harness::new();
    server3.register(h.poll.registry()).unwrap();
    trusted.register(h.poll.registry()).unwrap();
    h.run_until(&mut [&mut server3, &mut trusted], Duration::from_secs(5), |evs| {
        ups(evs, 0) == 1 && ups(evs, 1) == 1
    });
}

#[test]
fn a_secure_client_against_a_plain_server_fails_and_retries() {
    let mut plain_server = WsServer::bind(0, any_port(), WsConfig::default()).unwrap();
    let url = format!("noise+ws://{}/", plain_server.local_addr().unwrap());
    let mut c = client(1, &url, 2, Trust::Any);
    let mut h = Harness::new();
    plain_server.register(h.poll.registry()).unwrap();
    c.register(h.poll.registry()).unwrap();
    let mut evs = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while c.stats().closed_protocol < 3 && Instant::now() < end {
        evs.extend(h.turn(&mut [&mut plain_server, &mut c]));
    }
    assert!(c.stats().closed_protocol >= 3, "{:?}", c.stats());
    assert_eq!(ups(&evs, 1), 0);
}

#[test]
fn packets_dropped_at_a_full_write_buffer_do_not_break_a_secure_link() {
    // Two pollers, so the client can be left unread while the server fills its buffer.
    let cfg = WsConfig { max_write_buffer: 8 * 1024, ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    server.set_secure(WsSecure { noise: noise(1, Trust::Any), require: false });
    let url = format!("noise+ws://{}/", server.local_addr().unwrap());
    let mut client = WsClient::new(0, &url, WsConfig::default(), fast()).unwrap();
    client.set_secure(noise(2, Trust::Any));
    let (mut hs, mut hc) = (Harness::new(), Harness::new());
    server.register(hs.poll.registry()).unwrap();
    client.register(hc.poll.registry()).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while (server.peers().is_empty() || client.state() != ClientState::Open) && Instant::now() < end {
        hs.turn(&mut [&mut server]);
        hc.turn(&mut [&mut client]);
    }
    let peer = server.peers()[0];
    let end = Instant::now() + Duration::from_secs(10);
    while server.stats().drop_queue_full == 0 && Instant::now() < end {
        for _ in 0..1000 {
            server.send(Dest::Peer(peer), &[0xAB; 120]);
        }
        hs.turn(&mut [&mut server]);
    }
    assert!(server.stats().drop_queue_full > 0, "{:?}", server.stats());
    // After the drops, a marker packet (again each turn, until the buffer has room for it):
    // it must still open at the client.
    let marker = vec![0xCD; 120];
    let mut seen = false;
    let end = Instant::now() + Duration::from_secs(30);
    while !seen && Instant::now() < end {
        server.send(Dest::Peer(peer), &marker);
        hs.turn(&mut [&mut server]);
        let evs = hc.turn(&mut [&mut client]);
        seen = evs.iter().any(|(_, e)| matches!(e, TransportEvent::Packet(_, p) if *p == marker));
    }
    assert!(seen, "client stats {:?}, server {:?}", client.stats(), server.stats());
    assert_eq!(client.stats().closed_protocol, 0);
    assert_eq!(server.peers(), vec![peer], "the link survived");
}

#[test]
fn a_client_that_stalls_in_the_noise_handshake_is_cut_off() {
    let cfg = WsConfig { handshake_timeout: Duration::from_millis(300), ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    server.set_secure(WsSecure { noise: noise(1, Trust::Any), require: false });
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    // Opens the websocket with the subprotocol, then sends no Noise message at all.
    let staller = std::thread::spawn(move || {
        let mut req = format!("ws://{addr}/").into_client_request().unwrap();
        req.headers_mut().insert("Sec-WebSocket-Protocol", SUBPROTOCOL.parse().unwrap());
        let (mut ws, _) = tungstenite::client(req, TcpStream::connect(addr).unwrap()).unwrap();
        let started = Instant::now();
        while ws.read().is_ok() {}
        started.elapsed()
    });
    let mut evs = Vec::new();
    let end = Instant::now() + Duration::from_secs(10);
    while !staller.is_finished() && Instant::now() < end {
        evs.extend(h.turn(&mut [&mut server]));
    }
    let held = staller.join().unwrap();
    assert!(held < Duration::from_secs(5), "held {held:?}");
    assert_eq!(server.stats().closed_protocol, 1, "{:?}", server.stats());
    assert_eq!(ups(&evs, 0), 0, "never reported up");
    assert_eq!(server.connection_count(), 0);
}

#[test]
fn noise_urls_wrap_ws_and_wss_only() {
    let new =
        |url: &str| WsClient::new(0, url, WsConfig::default(), Backoff::default()).map(|c| c.wants_secure());
    assert_eq!(new("noise+ws://127.0.0.1:8080/"), Ok(true));
    assert_eq!(new("noise+wss://pub.example.org/"), Ok(true));
    assert_eq!(new("ws://127.0.0.1:8080/"), Ok(false));
    assert!(new("noise+http://127.0.0.1/").is_err());
    assert!(new("noise+ws:///nohost").is_err());
}
