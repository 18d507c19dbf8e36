//! A running `spub-mio` under a flood of valid WANT requests: 20 rogue websocket clients ask for
//! the whole corpus over and over, as fast as they can write, while reading slowly or not at all.
//! The pub's output to each is bounded by the engine's per-face budget, so its memory stays
//! bounded, an honest pub still replicates everything during the flood, and the pub answers
//! afterwards. With rogues that read everything, the pub's replies stay a small multiple of the
//! requests (no amplification).
mod procs;

use tinyssb_sim as sim;

use std::net::TcpStream;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use procs::flood::{hello_packet, want_packet, Flood, Reading};
use procs::{free_port, rss_kib, same_logs, tcp_taken, wait_until, write_datadir, Pub, PATIENCE};
use tinyssb::store::mem::MemStore;
use tinyssb::store::Store;
use tinyssb::Seq;
use tungstenite::Message;

/// Rogue clients.
const ROGUES: usize = 20;
/// Longest the flood may go on while the honest pub syncs.
const FLOOD_LIMIT: Duration = Duration::from_secs(15);
/// A's RSS may not exceed this during the flood: 20 faces × 256 KiB of engine output, the same
/// again in websocket write buffers and socket bookkeeping, and a generous baseline for the
/// process, the store's open files and allocator slack.
const RSS_LIMIT_KIB: u64 = 150 * 1024;
/// Most bytes the rogues may receive per byte they send.
const MAX_AMPLIFICATION: f64 = 20.0;

/// The two tests measure time, memory and bytes of their own pub: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The corpus A serves, written into `dir`: 20 feeds × 25 entries, half of them with sidechains
/// of up to 4 KB (about 700 KB of packets, well beyond one face's 256 KiB output budget). Fewer
/// entries than the benchmark's 20 × 100: B checks every entry's signature, which takes
/// milliseconds in a debug build.
fn corpus(dir: &Path) -> MemStore {
    let mut full = sim::populated_store(&mut sim::Rng::new(11), 0, 20, 10, 60, 8192);
    write_datadir(&mut full, dir);
    full
}

fn serve(dir: &Path) -> (Pub, u16) {
    let port = free_port();
    let a = Pub::spawn(dir, &["--bind", "127.0.0.1", &port.to_string()]);
    assert!(wait_until(PATIENCE, || tcp_taken(port)), "A did not come up");
    (a, port)
}

/// A fresh websocket client gets a pong, and an entry in answer to a WANT.
fn answers(port: u16, want: &[u8], store: &MemStore) -> Result<Duration, String> {
    let started = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    let (mut ws, _) =
        tungstenite::client(format!("ws://127.0.0.1:{port}/"), stream).map_err(|e| e.to_string())?;
    ws.get_mut().set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let firsts: Vec<[u8; 7]> = store
        .feeds()
        .iter()
        .map(|f| *tinyssb::wire::entry::entry_dmx(f, Seq(1), &f.genesis_prev()).as_bytes())
        .collect();
    ws.send(Message::binary(hello_packet(store))).map_err(|e| e.to_string())?;
    ws.send(Message::Ping(vec![7].into())).map_err(|e| e.to_string())?;
    ws.send(Message::binary(want.to_vec())).map_err(|e| e.to_string())?;
    let (mut pong, mut entry) = (false, false);
    while !(pong && entry) {
        match ws.read().map_err(|e| format!("reading: {e}"))? {
            Message::Pong(_) => pong = true,
            Message::Binary(b) => entry |= b.len() >= 7 && firsts.iter().any(|d| b[..7] == d[..]),
            _ => {}
        }
    }
    let _ = ws.close(None);
    Ok(started.elapsed())
}

#[test]
fn want_flood_from_slow_readers_keeps_memory_bounded_and_honest_sync_working() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let store = corpus(&a);
    let want = want_packet(&store);
    let (mut pub_a, port) = serve(&a);
    let rss_before = rss_kib(pub_a.pid());

    // Half the rogues never read, half read 5 KiB/s.
    let flood = Flood::start(port, &hello_packet(&store), &want, ROGUES, |i| {
        if i % 2 == 0 {
            Reading::Never
        } else {
            Reading::Slow
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut peak = rss_kib(pub_a.pid());
    let started = Instant::now();
    let pub_b = Pub::spawn(&b, &[&format!("ws://127.0.0.1:{port}")]);
    let synced = wait_until(FLOOD_LIMIT, || {
        peak = peak.max(rss_kib(pub_a.pid()));
        same_logs(&a, &b)
    });
    let took = started.elapsed();
    // Keep flooding a little after the sync: the flood lasts at least 2 s after B started.
    while started.elapsed() < Duration::from_secs(2) {
        peak = peak.max(rss_kib(pub_a.pid()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let flood_took = started.elapsed() + Duration::from_millis(500);
    let (sent, received, failed) = flood.stop();
    peak = peak.max(rss_kib(pub_a.pid()));
    println!(
        "flood of {ROGUES} slow readers for {flood_took:?}: rogues sent {} KiB, received {} KiB, \
         {failed} lost their connection",
        sent >> 10,
        received >> 10
    );
    println!(
        "A's RSS: {rss_before} KiB before, peak {peak} KiB during the flood (limit {RSS_LIMIT_KIB} KiB)"
    );
    assert!(synced, "B did not sync within {FLOOD_LIMIT:?} under the flood");
    println!("B synced in {took:?} under the flood");
    assert!(pub_a.alive(), "A died under the flood");
    assert!(peak < RSS_LIMIT_KIB, "A's RSS reached {peak} KiB");
    assert!(sent > 1 << 20, "the rogues sent only {sent} bytes: no flood");
    let answered = answers(port, &want, &store).expect("A does not answer after the flood");
    println!("A answered a fresh client in {answered:?} after the flood");
    assert!(pub_b.stop(), "B did not exit 0");
    assert!(pub_a.stop(), "A did not exit 0 after the flood");
}

#[test]
fn want_flood_from_fast_readers_is_not_amplified() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = tmp.path().join("a");
    let store = corpus(&a);
    let want = want_packet(&store);
    let (mut pub_a, port) = serve(&a);
    answers(port, &want, &store).expect("A does not answer before the flood");

    let flood = Flood::start(port, &hello_packet(&store), &want, ROGUES, |_| Reading::Fast);
    std::thread::sleep(Duration::from_secs(3));
    let (sent, received, failed) = flood.stop();
    let ratio = received as f64 / sent.max(1) as f64;
    println!(
        "flood of {ROGUES} fast readers for 3 s: rogues sent {} KiB, received {} KiB: {ratio:.4} bytes \
         out per byte in (limit {MAX_AMPLIFICATION}); {failed} lost their connection",
        sent >> 10,
        received >> 10
    );
    assert!(sent > 1 << 20, "the rogues sent only {sent} bytes: no flood");
    assert!(received > 0, "the rogues received nothing");
    assert!(ratio <= MAX_AMPLIFICATION, "amplification {ratio:.2}");
    assert!(pub_a.alive(), "A died under the flood");
    answers(port, &want, &store).expect("A does not answer after the flood");
    assert!(pub_a.stop(), "A did not exit 0 after the flood");
}
