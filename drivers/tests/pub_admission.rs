//! `spub-mio`'s admission flags: a bad id list stops it at start-up with the file and line, and
//! fake feed ids sent over (spoofable) UDP get no directory in the data directory.
mod procs;

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use procs::{feeds, free_udp_port, utf8, wait_until, Pub, PATIENCE, SPUB};

#[test]
fn a_bad_id_list_is_a_start_up_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("deny.txt");
    std::fs::write(&list, format!("# blocked\n{}\n0123 nonsense\n", "ab".repeat(32))).unwrap();
    let (p, q) = (free_udp_port(), free_udp_port());
    let out = Command::new(SPUB)
        .arg("-d")
        .arg(dir.path().join("data"))
        .args(["--udp", &format!("127.0.0.1:{p},127.0.0.1:{q}"), "--deny", utf8(&list)])
        .stdin(Stdio::null())
        .output()
        .expect("run spub-mio");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("deny.txt:3:") && err.contains("0123 nonsense"), "{err}");
}

#[test]
fn fake_ids_over_udp_get_no_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    me.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mine = me.local_addr().unwrap();
    let port = free_udp_port();
    let pubp = Pub::spawn(&data, &["--udp", &format!("127.0.0.1:{port},{mine}"), "--max-feeds", "50"]);
    let goset_dmx = [0x61, 0x3d, 0xfa, 0x70, 0xc4, 0x7a, 0xba];
    let mut largest = 0u8;
    let learned = wait_until(PATIENCE, || {
        for i in 0..80u32 {
            let mut pkt = goset_dmx.to_vec();
            pkt.push(b'n');
            let mut id = [0x5cu8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            pkt.extend_from_slice(&id);
            let _ = me.send_to(&pkt, ("127.0.0.1", port));
        }
        // The pub's full claims show how many ids it holds.
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = me.recv_from(&mut buf) {
            if n == 105 && buf[..7] == goset_dmx && buf[7] == b'c' {
                largest = largest.max(buf[104]);
            }
        }
        largest >= 80
    });
    assert!(learned, "the pub took the ids into its GOset (largest claim {largest})");
    assert!(pubp.stop(), "clean exit");
    assert!(feeds(&data).is_empty(), "no directory for fake ids: {:?}", feeds(&data));
}
