//! Plain HTTP on the pub's websocket port: health, metrics and the status page, served by a real
//! `spub-mio` while another pub replicates from it over a websocket on the same port. The
//! browser test (ignored by default; `.ci/run` runs it) loads the page in headless Chromium.
mod procs;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use procs::{copy_dir, free_port, same_logs, tcp_taken, utf8, vectors, wait_until, Pub, PATIENCE};

/// One HTTP/1.1 exchange on a fresh connection: status code, head, body.
fn request(port: u16, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read answer (the pub closes after it)");
    let text = String::from_utf8(raw).expect("utf-8 answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status code");
    (code, head.to_string(), body.to_string())
}

fn get(port: u16, path: &str) -> (u16, String, String) {
    request(port, "GET", path)
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// (feed id, seq, missing chunks) of each feed in `data`, from `frontier --json`.
fn expected_feeds(data: &Path) -> Vec<(String, u64, u64)> {
    let out = Command::new(env!("CARGO_BIN_EXE_frontier"))
        .args(["-d", utf8(data), "--json"])
        .output()
        .expect("run frontier");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let feeds = v["feeds"].as_array().expect("feeds").iter();
    feeds
        .map(|f| {
            let missing =
                f["pending"].as_array().map_or(0, |p| p.iter().filter_map(|c| c["remaining"].as_u64()).sum());
            (f["fid"].as_str().unwrap_or_default().to_string(), f["max_seq"].as_u64().unwrap_or(0), missing)
        })
        .collect()
}

#[test]
fn health_metrics_and_status_page_share_the_port_with_websockets() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    copy_dir(&vectors(), &a);
    let want = expected_feeds(&a);
    let port = free_port();
    let _pub_a = Pub::spawn(&a, &["--bind", "127.0.0.1", &port.to_string()]);
    assert!(wait_until(PATIENCE, || tcp_taken(port)), "A did not come up");
    // A websocket peer on the same port, replicating while HTTP requests come and go.
    let pub_b = Pub::spawn(&b, &[&format!("ws://127.0.0.1:{port}")]);

    let (code, head, body) = get(port, "/healthz");
    assert_eq!((code, body.as_str()), (200, "ok\n"), "{head}");
    assert!(head.contains("Content-Type: text/plain"), "{head}");
    assert!(head.contains("Connection: close"), "{head}");

    // The snapshot is refreshed once a second: wait until it shows B.
    let mut metrics = String::new();
    let connected = wait_until(PATIENCE, || {
        let (code, head, body) = get(port, "/metrics");
        assert_eq!(code, 200);
        assert!(head.contains("Content-Type: text/plain; version=0.0.4"), "{head}");
        metrics = body;
        metric(&metrics, "tinyssb_connections{kind=\"ws-server\"}") == Some(1.0)
    });
    assert!(connected, "B never showed up in the metrics:\n{metrics}");
    assert!(wait_until(PATIENCE, || same_logs(&a, &b)), "B did not replicate over the shared port");
    assert!(pub_b.stop(), "B did not exit 0");

    let entries: u64 = want.iter().map(|(_, seq, _)| seq).sum();
    let missing: u64 = want.iter().map(|(_, _, m)| m).sum();
    assert_eq!(metric(&metrics, "tinyssb_feeds"), Some(want.len() as f64), "{metrics}");
    assert_eq!(metric(&metrics, "tinyssb_entries"), Some(entries as f64), "{metrics}");
    assert_eq!(metric(&metrics, "tinyssb_chunks_missing"), Some(missing as f64), "{metrics}");
    assert_eq!(metric(&metrics, "tinyssb_up"), Some(1.0));
    assert!(metric(&metrics, "tinyssb_packets_received_total").is_some_and(|n| n > 0.0), "{metrics}");
    assert_eq!(metric(&metrics, "tinyssb_packets_dropped_total{reason=\"bad-signature\"}"), Some(0.0));
    assert!(metrics.contains("# TYPE tinyssb_entries_served_total counter\n"), "{metrics}");
    assert!(metric(&metrics, "tinyssb_queued_output_bytes").is_some(), "{metrics}");
    // HTTP exchanges are not counted as websocket protocol breaches.
    let protocol = "tinyssb_face_closed_total{face=\"0\",kind=\"ws-server\",reason=\"protocol\"}";
    assert_eq!(metric(&metrics, protocol), Some(0.0), "{metrics}");
    let http = "tinyssb_face_events_total{face=\"0\",kind=\"ws-server\",event=\"http-request\"}";
    assert!(metric(&metrics, http).is_some_and(|n| n >= 2.0), "{metrics}");

    let (code, head, page) = get(port, "/");
    assert_eq!(code, 200);
    assert!(head.contains("Content-Type: text/html"), "{head}");
    assert!(page.contains("http-equiv=\"refresh\""));
    for (fid, seq, missing) in &want {
        let row = page
            .lines()
            .find(|l| l.contains(fid.as_str()))
            .unwrap_or_else(|| panic!("{fid} not on the page"));
        assert!(row.contains(&format!("<td class=\"n seq\">{seq}</td>")), "{row}");
        assert!(row.contains(&format!("<td class=\"n missing\">{missing}</td>")), "{row}");
    }

    let (code, _, json) = get(port, "/status.json");
    assert_eq!(code, 200);
    let v: serde_json::Value = serde_json::from_str(&json).expect("status.json");
    assert_eq!(v["totals"]["feeds"], want.len());

    let (code, head, body) = request(port, "HEAD", "/healthz");
    assert_eq!(code, 200);
    assert!(head.contains("Content-Length: 3") && body.is_empty(), "{head}");
    assert_eq!(get(port, "/nowhere").0, 404);
    let (code, head, _) = request(port, "POST", "/metrics");
    assert_eq!(code, 405);
    assert!(head.contains("Allow: GET, HEAD"), "{head}");
}

/// The Chromium binary: `$CHROMIUM`, else `chromium` on the PATH.
fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".to_string())
}

/// Runs headless Chromium on `url` with `extra` arguments; returns its stdout. Bounded in time.
fn run_chromium(profile: &Path, url: &str, extra: &[&str]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}); install it (apt-get install chromium)", chromium()));
    let stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut out);
        }
        out
    });
    let end = Instant::now() + Duration::from_secs(120);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    assert!(status.is_some(), "chromium did not finish within 120 s");
    assert!(status.is_some_and(|s| s.success()), "chromium failed: {status:?}");
    reader.join().expect("reader")
}

#[test]
#[ignore = "needs headless Chromium; .ci/run installs it and runs this test"]
fn browser_renders_the_status_page() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = tmp.path().join("a");
    copy_dir(&vectors(), &a);
    let want = expected_feeds(&a);
    let port = free_port();
    let pub_a = Pub::spawn(&a, &["--bind", "127.0.0.1", &port.to_string()]);
    assert!(wait_until(PATIENCE, || tcp_taken(port)), "the pub did not come up");
    let url = format!("http://127.0.0.1:{port}/");

    let dom = run_chromium(&tmp.path().join("profile"), &url, &["--dump-dom"]);
    assert!(dom.contains("<title>tinySSB pub</title>"), "{dom}");
    assert!(dom.contains(&format!("data-total=\"feeds\">{}<", want.len())), "{dom}");
    let entries: u64 = want.iter().map(|(_, seq, _)| seq).sum();
    assert!(dom.contains(&format!("data-total=\"entries\">{entries}<")), "{dom}");
    for (fid, seq, missing) in &want {
        let row =
            dom.split("<tr").find(|r| r.contains(fid.as_str())).unwrap_or_else(|| panic!("{fid}: {dom}"));
        assert!(row.contains(&format!("<td class=\"n seq\">{seq}</td>")), "{row}");
        assert!(row.contains(&format!("<td class=\"n missing\">{missing}</td>")), "{row}");
    }

    // A screenshot, to check that the page renders (kept where $TINYSSB_SCREENSHOT says).
    let shot = tmp.path().join("status.png");
    let arg = format!("--screenshot={}", shot.display());
    run_chromium(&tmp.path().join("profile2"), &url, &[&arg, "--window-size=1200,800"]);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "{} bytes", png.len());
    if let Ok(keep) = std::env::var("TINYSSB_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("keep screenshot");
    }
    assert!(pub_a.stop(), "the pub did not exit 0");
}
