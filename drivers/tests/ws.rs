//! Websocket server and client faces on 127.0.0.1.
mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{packets, Harness};
use tinyssb_drivers::transport::{Dest, PeerId, Transport, TransportEvent, PEER_ID_BITS};
use tinyssb_drivers::ws::{
    raise_fd_limit, Backoff, CertificateDer, ClientState, WsClient, WsConfig, WsServer,
};
use tungstenite::Message;

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn ups(evs: &[(usize, TransportEvent)], face: usize) -> usize {
    evs.iter().filter(|(i, e)| *i == face && matches!(e, TransportEvent::Up(_))).count()
}

fn downs(evs: &[(usize, TransportEvent)], face: usize) -> usize {
    evs.iter().filter(|(i, e)| *i == face && matches!(e, TransportEvent::Down(_))).count()
}

#[test]
fn client_and_server_exchange_and_misbehaving_peers_are_cut_off() {
    let mut server = WsServer::bind(0, any_port(), WsConfig::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let url = format!("ws://{addr}/tinyssb");
    let mut client = WsClient::new(1, &url, WsConfig::default(), Backoff::default()).unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    client.register(h.poll.registry()).unwrap();

    h.run_until(&mut [&mut server, &mut client], Duration::from_secs(5), |evs| {
        ups(evs, 0) == 1 && ups(evs, 1) == 1
    });
    assert_eq!(client.state(), ClientState::Open);
    let server_peer = server.peers()[0];

    for i in 0..100u8 {
        client.send(Dest::All, &[i; 120]);
        server.send(Dest::Peer(server_peer), &[i, i]);
    }
    let evs = h.run_until(&mut [&mut server, &mut client], Duration::from_secs(5), |evs| {
        packets(evs, 0).len() == 100 && packets(evs, 1).len() == 100
    });
    assert_eq!(packets(&evs, 0), (0..100u8).map(|i| vec![i; 120]).collect::<Vec<_>>());
    assert_eq!(packets(&evs, 1), (0..100u8).map(|i| vec![i, i]).collect::<Vec<_>>());

    // A second (blocking) client that sends an oversized binary message, a
    // ping and then text; and a third that sends garbage instead of HTTP.
    let rogue_url = url.clone();
    let rogue = std::thread::spawn(move || {
        let (mut ws, _) = tungstenite::client(rogue_url.as_str(), TcpStream::connect(addr).unwrap()).unwrap();
        ws.send(Message::binary(vec![7u8; 500])).unwrap();
        ws.send(Message::Ping(vec![1, 2].into())).unwrap();
        ws.send(Message::text("hello")).unwrap();
        ws.get_mut().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut saw_pong = false;
        while let Ok(m) = ws.read() {
            saw_pong |= matches!(m, Message::Pong(_));
        }
        saw_pong
    });
    let mut garbage = TcpStream::connect(addr).unwrap();
    garbage.write_all(b"\x00\x01 not http at all\r\n\r\n").unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while (server.stats().closed_protocol < 2 || !rogue.is_finished()) && Instant::now() < deadline {
        h.turn(&mut [&mut server, &mut client]);
    }
    assert_eq!(server.stats().closed_protocol, 2, "{:?}", server.stats());
    assert_eq!(server.stats().drop_size_in, 1);
    // The rogue got a pong before being cut off.
    assert!(rogue.join().unwrap());

    // The well-behaved client is unaffected.
    client.send(Dest::All, b"still here");
    let evs = h.run_until(&mut [&mut server, &mut client], Duration::from_secs(5), |evs| {
        !packets(evs, 0).is_empty()
    });
    assert_eq!(packets(&evs, 0), vec![b"still here".to_vec()]);
    assert_eq!(server.peers(), vec![server_peer]);
}

#[test]
fn client_reconnects_with_backoff() {
    // Reserve a port, release it, and let the client fail against it first.
    let port = std::net::TcpListener::bind(any_port()).unwrap().local_addr().unwrap().port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let backoff = Backoff { initial: Duration::from_millis(5), max: Duration::from_millis(40) };
    let mut client = WsClient::new(0, &format!("ws://{addr}/"), WsConfig::default(), backoff).unwrap();
    let mut h = Harness::new();
    client.register(h.poll.registry()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.stats().closed_io < 3 && Instant::now() < deadline {
        h.turn(&mut [&mut client]);
    }
    assert!(client.stats().closed_io >= 3);
    assert!(client.state() != ClientState::Open);

    let mut server = WsServer::bind(1, addr, WsConfig::default()).unwrap();
    server.register(h.poll.registry()).unwrap();
    let evs = h.run_until(&mut [&mut client, &mut server], Duration::from_secs(5), |evs| {
        ups(evs, 0) == 1 && ups(evs, 1) == 1
    });
    assert_eq!(client.state(), ClientState::Open);
    assert_eq!(client.next_reconnect(), None);
    assert_eq!(downs(&evs, 0), 0);

    // Losing the server brings the client back to waiting with a deadline.
    drop(server);
    h.run_until(&mut [&mut client], Duration::from_secs(5), |evs| downs(evs, 0) == 1);
    assert_eq!(client.state(), ClientState::Waiting);
    assert!(client.next_reconnect().is_some());
}

#[test]
fn five_hundred_concurrent_clients() {
    const N: usize = 500;
    let limit = raise_fd_limit(4 * N as u64);
    assert!(limit >= 2 * N as u64 + 64, "cannot open enough files: limit {limit}");
    // All clients share 127.0.0.1.
    let cfg = WsConfig { max_per_ip: 0, ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();

    let start = Instant::now();
    let clients = std::thread::spawn(move || {
        let url = format!("ws://{addr}/");
        let mut socks: Vec<_> = (0..N)
            .map(|_| tungstenite::client(url.as_str(), TcpStream::connect(addr).unwrap()).unwrap().0)
            .collect();
        for (i, ws) in socks.iter_mut().enumerate() {
            ws.send(Message::binary((i as u32).to_be_bytes().to_vec())).unwrap();
        }
        for (i, ws) in socks.iter_mut().enumerate() {
            ws.get_mut().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            match ws.read().unwrap() {
                Message::Binary(b) => assert_eq!(&b[..], &(i as u32).to_be_bytes()),
                m => panic!("unexpected {m:?}"),
            }
        }
        for ws in socks.iter_mut() {
            ws.close(None).unwrap();
        }
        // Drain until the server acknowledges each close.
        for ws in socks.iter_mut() {
            while ws.read().is_ok() {}
        }
    });

    let mut echoed = 0;
    let mut down = 0;
    let mut max_open = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while (echoed < N || down < N) && Instant::now() < deadline {
        for (_, ev) in h.turn(&mut [&mut server]) {
            match ev {
                TransportEvent::Packet(peer, p) => {
                    server.send(Dest::Peer(peer), &p);
                    echoed += 1;
                }
                TransportEvent::Down(_) => down += 1,
                TransportEvent::Up(_) | TransportEvent::Flushed(..) | TransportEvent::SendDropped(..) => {}
            }
        }
        max_open = max_open.max(server.peers().len());
    }
    clients.join().unwrap();
    let took = start.elapsed();
    println!("{N} websocket clients: connect + echo + close in {took:?}; max open at once {max_open}");
    assert_eq!(echoed, N);
    assert_eq!(down, N);
    assert_eq!(max_open, N);
    assert_eq!(server.stats().packets_in, N as u64);
    assert_eq!(server.stats().packets_out, N as u64);
    assert_eq!(server.connection_count(), 0);
}

#[test]
fn slow_reader_hits_the_write_bound_and_stays_connected() {
    let cfg = WsConfig { max_write_buffer: 8 * 1024, ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    let (go, wait) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let (mut ws, _) =
            tungstenite::client(format!("ws://{addr}/").as_str(), TcpStream::connect(addr).unwrap()).unwrap();
        // Read nothing until told to, then count what arrives.
        wait.recv().unwrap();
        ws.get_mut().set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        let mut n = 0u64;
        while let Ok(Message::Binary(_)) = ws.read() {
            n += 1;
        }
        n
    });
    h.run_until(&mut [&mut server], Duration::from_secs(5), |evs| ups(evs, 0) == 1);
    let peer = server.peers()[0];
    let (mut flushed, mut dropped) = (0usize, 0usize);
    let mut tally = |evs: Vec<(usize, TransportEvent)>| {
        for (_, ev) in evs {
            match ev {
                TransportEvent::Flushed(p, n) if p == peer => flushed += n,
                TransportEvent::SendDropped(p, n) if p == peer => dropped += n,
                _ => {}
            }
        }
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.stats().drop_queue_full == 0 && Instant::now() < deadline {
        for _ in 0..1000 {
            server.send(Dest::Peer(peer), &[0xAB; 120]);
        }
        tally(h.turn(&mut [&mut server]));
    }
    let stats = *server.stats();
    assert!(stats.drop_queue_full > 0, "{stats:?}");
    assert_eq!(server.peers(), vec![peer]);
    go.send(()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !reader.is_finished() && Instant::now() < deadline {
        tally(h.turn(&mut [&mut server]));
    }
    // Everything not dropped was delivered, and the face reported both to its user.
    assert_eq!(reader.join().unwrap(), stats.packets_out);
    assert_eq!(dropped as u64, stats.drop_queue_full * 120, "drops are reported, not lost silently");
    assert_eq!(flushed as u64, stats.packets_out * 120, "written bytes are reported");
}

#[test]
fn a_client_that_never_finishes_the_handshake_is_cut_off() {
    let cfg = WsConfig { handshake_timeout: Duration::from_millis(200), ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    // Connects, sends half a request line, then goes quiet.
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.write_all(b"GET / HT").unwrap();
    let started = Instant::now();
    let mut seen = false;
    while started.elapsed() < Duration::from_secs(10) {
        h.turn(&mut [&mut server]);
        seen |= server.connection_count() == 1;
        if seen && server.connection_count() == 0 {
            break;
        }
    }
    assert!(seen, "the silent client was accepted");
    assert_eq!(server.connection_count(), 0, "the silent client still holds a slot");
    assert!(started.elapsed() >= Duration::from_millis(200), "cut off before its time");
    assert_eq!(server.stats().closed_protocol, 1);
    silent.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 16];
    assert!(matches!(std::io::Read::read(&mut silent, &mut buf), Ok(0) | Err(_)), "the socket is closed");
}

fn blocking_client(addr: SocketAddr) -> tungstenite::WebSocket<TcpStream> {
    tungstenite::client(format!("ws://{addr}/").as_str(), TcpStream::connect(addr).unwrap()).unwrap().0
}

#[test]
fn silent_connections_cannot_lock_out_an_honest_client() {
    const SILENT: usize = 1024;
    let limit = raise_fd_limit(4 * SILENT as u64);
    assert!(limit >= 2 * SILENT as u64 + 64, "cannot open enough files: limit {limit}");
    let cfg = WsConfig { max_conns: SILENT, max_per_ip: 0, ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();

    // Fill every slot with handshaken connections that never send a packet.
    let filler = std::thread::spawn(move || (0..SILENT).map(|_| blocking_client(addr)).collect::<Vec<_>>());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !filler.is_finished() && Instant::now() < deadline {
        h.turn(&mut [&mut server]);
    }
    let mut silent = filler.join().unwrap();
    assert_eq!(server.connection_count(), SILENT);

    // An honest client still gets in and is answered.
    let honest = std::thread::spawn(move || {
        let mut ws = blocking_client(addr);
        ws.send(Message::binary(b"claim".to_vec())).unwrap();
        ws.get_mut().set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        loop {
            match ws.read() {
                Ok(Message::Binary(b)) => return (b.to_vec(), ws),
                Ok(_) => {}
                Err(e) => panic!("honest client: {e}"),
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !honest.is_finished() && Instant::now() < deadline {
        for (_, ev) in h.turn(&mut [&mut server]) {
            if let TransportEvent::Packet(peer, p) = ev {
                server.send(Dest::Peer(peer), &p);
            }
        }
    }
    let (answer, _still_connected) = honest.join().unwrap();
    assert_eq!(answer, b"claim");
    assert_eq!(server.stats().evicted, 1, "{:?}", server.stats());
    assert_eq!(server.stats().refused, 0);
    assert_eq!(server.connection_count(), SILENT);

    // The victim was the oldest silent connection; it is told so and closed.
    let first = silent.first_mut().unwrap();
    first.get_mut().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut code = None;
    loop {
        match first.read() {
            Ok(Message::Close(frame)) => code = frame.map(|f| f.code),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(tungstenite::protocol::frame::coding::CloseCode::Again));
}

#[test]
fn connections_that_send_no_valid_packet_are_cut_after_the_idle_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(300);
    let cfg = WsConfig { idle_timeout: TIMEOUT, ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    let url = format!("ws://{}/", server.local_addr().unwrap());
    // Neither client reconnects within the test.
    let backoff = Backoff { initial: Duration::from_secs(600), max: Duration::from_secs(600) };
    let mut talker = WsClient::new(1, &url, WsConfig::default(), backoff).unwrap();
    let mut mute = WsClient::new(2, &url, WsConfig::default(), backoff).unwrap();
    let mut h = Harness::new();
    // The server accepts (and starts timing) both connections after this moment.
    let up = Instant::now();
    server.register(h.poll.registry()).unwrap();
    talker.register(h.poll.registry()).unwrap();
    mute.register(h.poll.registry()).unwrap();
    h.run_until(&mut [&mut server, &mut talker, &mut mute], Duration::from_secs(5), |evs| {
        ups(evs, 0) == 2 && ups(evs, 1) == 1 && ups(evs, 2) == 1
    });

    // The talker sends a packet every loop turn (at most 20 ms apart), which the engine (here:
    // the test) accepts; the mute one sends packets the engine drops as invalid.
    let mut mute_down = None;
    while up.elapsed() < 3 * TIMEOUT {
        talker.send(Dest::All, b"claim");
        mute.send(Dest::All, b"junk");
        let evs = h.turn(&mut [&mut server, &mut talker, &mut mute]);
        for (face, ev) in &evs {
            if let (0, TransportEvent::Packet(peer, bytes)) = (face, ev) {
                if bytes == b"claim" {
                    server.note_valid(*peer);
                }
            }
        }
        if downs(&evs, 2) == 1 {
            mute_down = Some(up.elapsed());
        }
        assert_eq!(downs(&evs, 1), 0, "the talker was cut");
    }
    let after = mute_down.expect("the mute client is still connected");
    assert!(after >= TIMEOUT, "cut after {after:?}, before the timeout");
    assert_eq!(server.stats().closed_idle, 1, "{:?}", server.stats());
    assert_eq!(server.connection_count(), 1);
    assert_eq!(talker.state(), ClientState::Open);
}

#[test]
fn one_address_gets_at_most_max_per_ip_connections() {
    let cfg = WsConfig { max_per_ip: 3, ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    let mut socks: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().refused_per_ip < 2 && Instant::now() < deadline {
        h.turn(&mut [&mut server]);
    }
    assert_eq!(server.stats().refused_per_ip, 2, "{:?}", server.stats());
    assert_eq!(server.connection_count(), 3);

    // A connection that ends makes room for the next one from the same address.
    drop(socks.remove(0));
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connection_count() != 2 && Instant::now() < deadline {
        h.turn(&mut [&mut server]);
    }
    assert_eq!(server.connection_count(), 2);
    socks.push(TcpStream::connect(addr).unwrap());
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connection_count() != 3 && Instant::now() < deadline {
        h.turn(&mut [&mut server]);
    }
    assert_eq!(server.connection_count(), 3);
    assert_eq!(server.stats().refused_per_ip, 2);
}

#[test]
fn peer_ids_stay_distinct_and_addressable_past_old_bit_limits() {
    for first in [(1u64 << 16) - 2, (1 << 24) - 2, (1 << 40) - 2, (1 << PEER_ID_BITS) - 3] {
        let mut server = WsServer::bind(0, any_port(), WsConfig::default()).unwrap();
        server.start_peer_ids_at(first);
        let addr = server.local_addr().unwrap();
        let mut h = Harness::new();
        server.register(h.poll.registry()).unwrap();
        let clients = std::thread::spawn(move || (0..4).map(|_| blocking_client(addr)).collect::<Vec<_>>());
        let evs = h.run_until(&mut [&mut server], Duration::from_secs(10), |evs| ups(evs, 0) == 4);
        let mut clients = clients.join().unwrap();
        let mut ids: Vec<PeerId> = evs
            .iter()
            .filter_map(|(_, e)| match e {
                TransportEvent::Up(p) => Some(*p),
                _ => None,
            })
            .collect();
        assert!(ids.iter().all(|p| p.0 >= 1 && p.0 < 1 << PEER_ID_BITS), "{ids:?}");
        // Each id reaches its own connection: send every client its id.
        for p in &ids {
            server.send(Dest::Peer(*p), &p.0.to_be_bytes());
        }
        h.turn(&mut [&mut server]);
        let mut got = Vec::new();
        for ws in &mut clients {
            ws.get_mut().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            match ws.read().unwrap() {
                Message::Binary(b) => got.push(PeerId(u64::from_be_bytes(b.as_ref().try_into().unwrap()))),
                m => panic!("unexpected {m:?}"),
            }
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 4, "ids collide from {first}");
        got.sort();
        assert_eq!(got, ids);
        assert_eq!(server.stats().drop_no_peer, 0);
    }
}

/// Set in the child process that runs [`out_of_descriptors_child`] under a low file limit.
const FD_CHILD: &str = "TINYSSB_WS_FD_CHILD";

#[test]
fn running_out_of_file_descriptors_pauses_accepting_then_resumes() {
    // The file limit is per process, so the scenario runs in a child process of its own.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "out_of_descriptors_child", "--test-threads=1"])
        .env(FD_CHILD, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

/// Does nothing unless started by [`running_out_of_file_descriptors_pauses_accepting_then_resumes`].
#[test]
fn out_of_descriptors_child() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    if std::env::var_os(FD_CHILD).is_none() {
        return;
    }
    let cfg = WsConfig { accept_pause: Duration::from_millis(100), ..WsConfig::default() };
    let mut server = WsServer::bind(0, any_port(), cfg).unwrap();
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();

    // Room for two client sockets and little else; the rest is taken by a hog.
    let in_use = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let mut lim = getrlimit(Resource::Nofile);
    lim.current = Some(in_use + 4);
    setrlimit(Resource::Nofile, lim).unwrap();
    // The kernel completes both connections; they wait in the listener's backlog.
    let _clients: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let mut hog = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        hog.push(f);
    }

    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().accept_paused == 0 && Instant::now() < deadline {
        h.turn(&mut [&mut server]);
    }
    assert!(server.stats().accept_paused >= 1, "{:?}", server.stats());
    assert!(!server.accepting());
    assert_eq!(server.connection_count(), 0);

    // Descriptors come back: accepting resumes by itself and takes the waiting connections.
    drop(hog);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connection_count() < 2 && Instant::now() < deadline {
        h.turn(&mut [&mut server]);
    }
    assert_eq!(server.connection_count(), 2, "{:?}", server.stats());
    assert!(server.accepting());
}

#[test]
fn fast_writers_are_read_in_bounded_slices_and_in_turn() {
    const MSGS: usize = 2000;
    let mut server = WsServer::bind(0, any_port(), WsConfig::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    // Two clients write everything at once (about 200 KB each), then wait for the server to hang up.
    let writers: Vec<_> = (0..2u8)
        .map(|k| {
            std::thread::spawn(move || {
                let stream = TcpStream::connect(addr).unwrap();
                let (mut ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).unwrap();
                for _ in 0..MSGS {
                    ws.write(Message::binary(vec![k; 100])).unwrap();
                }
                ws.flush().unwrap();
                ws.get_mut().set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                while ws.read().is_ok() {}
            })
        })
        .collect();
    let mut total = [0usize; 2];
    let mut largest_slice = 0;
    let end = Instant::now() + Duration::from_secs(10);
    while total != [MSGS; 2] && Instant::now() < end {
        let mut slice = [0usize; 2];
        for (_, e) in server_turn(&mut h, &mut server) {
            if let TransportEvent::Packet(_, p) = e {
                slice[usize::from(p[0])] += 1;
            }
        }
        largest_slice = largest_slice.max(slice[0]).max(slice[1]);
        total[0] += slice[0];
        total[1] += slice[1];
    }
    assert_eq!(total, [MSGS; 2], "not every packet arrived");
    // A readiness event reads at most 64 messages from a connection, and so does the deadline
    // pass that follows in the same turn; the rest waits for the next turn. (Before, one event
    // read until the socket was empty, which a fast writer can keep from ever happening.)
    assert!(largest_slice <= 128, "{largest_slice} packets from one connection in one turn");
    drop(server);
    for w in writers {
        w.join().unwrap();
    }
}

fn server_turn(h: &mut Harness, server: &mut WsServer) -> Vec<(usize, TransportEvent)> {
    h.turn(&mut [server])
}

/// A blocking HTTP/1.1 exchange in `parts` (written with pauses between them); the whole answer.
fn http_exchange(addr: SocketAddr, parts: &[&[u8]]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        s.write_all(part).unwrap();
    }
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut s, &mut answer).unwrap();
    answer
}

#[test]
fn plain_http_is_answered_on_the_websocket_port_next_to_websocket_peers() {
    let mut server = WsServer::bind(0, any_port(), WsConfig::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let url = format!("ws://{addr}/");
    let mut client = WsClient::new(1, &url, WsConfig::default(), Backoff::default()).unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    client.register(h.poll.registry()).unwrap();
    h.run_until(&mut [&mut server, &mut client], Duration::from_secs(5), |evs| ups(evs, 0) == 1);

    // Without a status snapshot (no relay) only /healthz has an answer. The second request
    // sends its head in pieces, the last of them an upgrade-free header line.
    let http = std::thread::spawn(move || {
        [
            http_exchange(addr, &[b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"]),
            http_exchange(addr, &[b"GET /heal", b"thz HTTP/1.1\r\nHost: x\r\n", b"Accept: */*\r\n\r\n"]),
            http_exchange(addr, &[b"GET /metrics HTTP/1.1\r\n\r\n"]),
            http_exchange(addr, &[b"DELETE / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody"]),
        ]
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !http.is_finished() && Instant::now() < deadline {
        h.turn(&mut [&mut server, &mut client]);
    }
    let [whole, pieces, metrics, delete] = http.join().unwrap();
    assert!(whole.starts_with("HTTP/1.1 200 OK\r\n") && whole.ends_with("\r\n\r\nok\n"), "{whole}");
    assert_eq!(pieces, whole);
    assert!(metrics.starts_with("HTTP/1.1 503 "), "{metrics}");
    assert!(delete.starts_with("HTTP/1.1 405 "), "{delete}");

    // The HTTP clients are gone without counting as protocol breaches or peers.
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.connection_count() > 1 && Instant::now() < deadline {
        h.turn(&mut [&mut server, &mut client]);
    }
    assert_eq!(server.connection_count(), 1);
    assert_eq!(server.stats().http_requests, 4);
    assert_eq!(server.stats().closed_protocol, 0, "{:?}", server.stats());
    let peer = server.peers()[0];
    let info = server.peer_info();
    assert_eq!((info.len(), info[0].peer), (1, peer));

    // The websocket peer is unaffected.
    client.send(Dest::All, b"after http");
    server.send(Dest::Peer(peer), b"back");
    let evs = h.run_until(&mut [&mut server, &mut client], Duration::from_secs(5), |evs| {
        !packets(evs, 0).is_empty() && !packets(evs, 1).is_empty()
    });
    assert_eq!(packets(&evs, 0), vec![b"after http".to_vec()]);
    assert_eq!(packets(&evs, 1), vec![b"back".to_vec()]);
    assert_eq!(server.peer_info()[0].bytes_in, 10);
}

#[test]
fn faces_name_their_peers_by_socket_address() {
    let mut server = WsServer::bind(0, any_port(), WsConfig::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let mut client =
        WsClient::new(1, &format!("ws://{addr}/"), WsConfig::default(), Backoff::default()).unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    client.register(h.poll.registry()).unwrap();
    h.run_until(&mut [&mut server, &mut client], Duration::from_secs(5), |evs| {
        ups(evs, 0) == 1 && ups(evs, 1) == 1
    });
    let (sp, cp) = (server.peers()[0], client.peers()[0]);
    assert_eq!(client.peer_addr(cp), Some(addr.to_string()));
    let seen = server.peer_addr(sp).expect("the server knows its client's address");
    assert!(seen.starts_with("127.0.0.1:") && seen != addr.to_string(), "{seen}");
    assert_eq!(server.peer_addr(PeerId(sp.0 + 99)), None);
}

/// A blocking TLS websocket echo server on 127.0.0.1 with a certificate for 127.0.0.1 made
/// up for this run (self-signed, so no public root vouches for it). Returns its address and
/// the certificate. Every binary message is sent back; the server lives until the process ends.
fn tls_echo_server() -> (SocketAddr, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())
        .unwrap();
    let cfg = Arc::new(cfg);
    let listener = std::net::TcpListener::bind(any_port()).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let cfg = Arc::clone(&cfg);
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(cfg) else { return };
                let Ok(mut ws) = tungstenite::accept(rustls::StreamOwned::new(conn, sock)) else { return };
                while let Ok(m) = ws.read() {
                    if m.is_binary() && ws.send(m).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, cert)
}

#[test]
fn wss_client_exchanges_packets_with_a_tls_server_it_trusts() {
    let (addr, cert) = tls_echo_server();
    let url = format!("wss://{addr}/tinyssb");
    let backoff = Backoff { initial: Duration::from_millis(50), max: Duration::from_millis(200) };
    // Trusting only the built-in public roots, this client must refuse the server.
    let mut stranger = WsClient::new(0, &url, WsConfig::default(), backoff).unwrap();
    let mut client = WsClient::new(1, &url, WsConfig::default(), backoff).unwrap();
    client.trust_roots(&[cert]).unwrap();
    let mut h = Harness::new();
    stranger.register(h.poll.registry()).unwrap();
    client.register(h.poll.registry()).unwrap();
    let mut evs =
        h.run_until(&mut [&mut stranger, &mut client], Duration::from_secs(10), |evs| ups(evs, 1) == 1);
    assert_eq!(client.state(), ClientState::Open);

    // Packets of every size, more than fit in one TLS record, all echoed in order.
    let sent: Vec<Vec<u8>> = (0..200u32).map(|i| vec![i as u8; 1 + (i as usize * 7) % 120]).collect();
    for p in &sent {
        client.send(Dest::All, p);
    }
    evs.extend(h.run_until(&mut [&mut stranger, &mut client], Duration::from_secs(10), |evs| {
        packets(evs, 1).len() == sent.len()
    }));
    assert_eq!(packets(&evs, 1), sent);
    assert_eq!(downs(&evs, 1), 0);

    let deadline = Instant::now() + Duration::from_secs(5);
    while stranger.stats().closed_protocol == 0 && Instant::now() < deadline {
        evs.extend(h.turn(&mut [&mut stranger, &mut client]));
    }
    assert!(stranger.stats().closed_protocol >= 1, "{:?}", stranger.stats());
    assert_eq!(ups(&evs, 0), 0);
    assert_ne!(stranger.state(), ClientState::Open);
}

#[test]
fn client_urls_are_ws_or_wss() {
    let new = |url: &str| WsClient::new(0, url, WsConfig::default(), Backoff::default()).map(|_| ());
    assert_eq!(new("ws://127.0.0.1:8080/"), Ok(()));
    assert_eq!(new("wss://pub.example.org/"), Ok(()));
    assert!(new("http://127.0.0.1:8080/").is_err());
    assert!(new("wss:///nohost").is_err());
}

#[test]
fn wss_client_against_a_plain_server_fails_and_retries_without_hanging() {
    let mut server = WsServer::bind(0, any_port(), WsConfig::default()).unwrap();
    let url = format!("wss://{}/", server.local_addr().unwrap());
    let backoff = Backoff { initial: Duration::from_millis(20), max: Duration::from_millis(80) };
    let mut client = WsClient::new(1, &url, WsConfig::default(), backoff).unwrap();
    let mut h = Harness::new();
    server.register(h.poll.registry()).unwrap();
    client.register(h.poll.registry()).unwrap();
    let mut evs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let failures = |c: &WsClient| c.stats().closed_io + c.stats().closed_protocol;
    while failures(&client) < 3 && Instant::now() < deadline {
        evs.extend(h.turn(&mut [&mut server, &mut client]));
    }
    // The server takes the TLS hello for a broken HTTP request; the client sees no websocket.
    assert!(failures(&client) >= 3, "{:?}", client.stats());
    assert!(server.stats().closed_protocol >= 1, "{:?}", server.stats());
    assert_eq!(ups(&evs, 0) + ups(&evs, 1), 0);
}
