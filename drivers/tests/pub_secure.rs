//! Two `spub-mio` processes replicate over a secure link (Noise inside the websocket, each
//! trusting only the other's key) while a plain client of the same pub keeps replicating;
//! a pub that requires secure links refuses plain clients; a key file is created once.
mod procs;

use std::io::{Read, Write};
use std::path::Path;

use procs::{copy_dir, free_port, same_logs, utf8, vectors, wait_until, Pub, PATIENCE};
use tinyssb::ids::to_hex;
use tinyssb::secure::StaticKey;
use tinyssb_drivers::noise::{read_key, write_key};

/// Writes a key file with secret `[b; 32]` and returns the key.
fn key_file(path: &Path, b: u8) -> StaticKey {
    let key = StaticKey::from_secret([b; 32]).expect("key");
    write_key(path, &key).expect("write key");
    key
}

fn log(data: &Path) -> String {
    std::fs::read_to_string(data.with_extension("log")).unwrap_or_default()
}

#[test]
fn two_pubs_replicate_over_a_secure_link_next_to_a_plain_client() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    copy_dir(&vectors(), &a);
    let (ka, kb) = (tmp.path().join("a.key"), tmp.path().join("b.key"));
    let (key_a, key_b) = (key_file(&ka, 1), key_file(&kb, 2));
    let (ta, tb) = (tmp.path().join("a.trust"), tmp.path().join("b.trust"));
    std::fs::write(&ta, format!("# pub b\n{}\n", to_hex(&key_b.public()))).unwrap();
    std::fs::write(&tb, format!("{}  # pub a\n", to_hex(&key_a.public()))).unwrap();

    let port = free_port();
    let (port_s, url) = (port.to_string(), format!("noise+ws://127.0.0.1:{port}"));
    let server =
        Pub::spawn(&a, &["--bind", "127.0.0.1", &port_s, "--secure-key", utf8(&ka), "--trust", utf8(&ta)]);
    let secure = Pub::spawn(&b, &["--connect", &url, "--secure-key", utf8(&kb), "--trust", utf8(&tb)]);
    let plain = Pub::spawn(&c, &[&format!("ws://127.0.0.1:{port}")]);

    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up over the secure link");
    assert!(wait_until(PATIENCE, || same_logs(&a, &c)), "the plain client did not catch up");
    assert!(wait_until(PATIENCE, || log(&a).contains(&to_hex(&key_b.public()))), "{}", log(&a));
    assert!(log(&b).contains(&format!(
        "secure link with peer 127.0.0.1:{port}: static key {}",
        to_hex(&key_a.public())
    )));
    assert!(log(&a).contains("plain clients served"));
    // The status page names the secure peer's key; the plain client has none.
    let status = || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.write_all(b"GET /status.json HTTP/1.1\r\nHost: x\r\n\r\n").expect("request");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    let key = format!("\"secure_key\":\"{}\"", to_hex(&key_b.public()));
    assert!(wait_until(PATIENCE, || status().contains(&key)), "{}", status());
    assert!(wait_until(PATIENCE, || status().contains("\"secure_key\":null")), "{}", status());
    assert!(plain.stop() && secure.stop() && server.stop(), "a pub did not exit 0 on SIGTERM");
}

#[test]
fn a_pub_requiring_secure_links_refuses_plain_clients_and_creates_its_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    copy_dir(&vectors(), &a);
    let port = free_port();
    let port_s = port.to_string();
    // No key files: each pub creates DATA/.secure_key.
    let server = Pub::spawn(&a, &["--bind", "127.0.0.1", &port_s, "--require-secure"]);
    let secure = Pub::spawn(&b, &[&format!("noise+ws://127.0.0.1:{port}")]);
    let plain = Pub::spawn(&c, &[&format!("ws://127.0.0.1:{port}")]);
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not catch up over the secure link");
    let created = read_key(&a.join(".secure_key")).expect("key file").expect("created");
    assert!(read_key(&b.join(".secure_key")).expect("key file").is_some());
    assert!(log(&a).contains(&to_hex(&created.public())), "the pub logs its public key");
    assert!(log(&a).contains("plain clients refused"));
    // The plain client is refused at the websocket handshake, again and again.
    assert!(wait_until(PATIENCE, || log(&c).contains("403")), "{}", log(&c));
    assert!(!same_logs(&a, &c));
    assert!(plain.stop() && secure.stop() && server.stop(), "a pub did not exit 0 on SIGTERM");
    // A restart keeps the key.
    let again = Pub::spawn(&a, &["--bind", "127.0.0.1", &port_s, "--require-secure"]);
    assert!(wait_until(PATIENCE, || log(&a).contains("static key")));
    assert_eq!(read_key(&a.join(".secure_key")).unwrap(), Some(created));
    assert!(again.stop());
}
