//! Plain HTTP on the websocket port: telling an upgrade request from an ordinary request by its
//! head, and answering the ordinary ones (`/healthz`, `/metrics`, `/status.json`, `/`).
//!
//! The websocket server face ([`crate::ws::WsServer`]) peeks at the head of each new connection
//! without consuming it. A head asking for `Upgrade: websocket` is left in the socket for
//! tungstenite; any other request is read, answered with one response from [`answer`] and the
//! connection closed (HTTP/1.1 with `Connection: close`, no keep-alive). Everything here works on
//! bytes already in memory: it never touches a socket.

use crate::status::Status;

/// Longest request head (request line and headers) read; a longer one closes the connection.
pub const MAX_HEAD: usize = 8 * 1024;

/// What the first bytes of a connection are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// Not enough bytes yet to tell (and fewer than [`MAX_HEAD`]).
    Incomplete,
    /// Not HTTP, or a head longer than [`MAX_HEAD`]: close the connection.
    Bad,
    /// A websocket upgrade request: leave the bytes to the websocket handshake.
    Upgrade,
    /// An ordinary HTTP request whose head is the first `head_len` bytes.
    Plain {
        /// Bytes of the head, up to and including the empty line.
        head_len: usize,
        /// The request.
        request: Request,
    },
}

/// An ordinary HTTP request, as far as the responder cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`GET`, `HEAD`, ...).
    pub method: String,
    /// The path without query string.
    pub path: String,
}

/// Classifies the bytes a connection has sent so far (`buf` holds at most [`MAX_HEAD`] of them).
pub fn sniff(buf: &[u8]) -> Sniffed {
    // A request line starts with a method: upper-case letters. Anything else is not HTTP, and is
    // rejected on its first byte rather than after waiting for a whole head.
    let method_len = buf.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if method_len == 0 && !buf.is_empty() || method_len > 16 {
        return Sniffed::Bad;
    }
    if method_len < buf.len() && buf.get(method_len) != Some(&b' ') {
        return Sniffed::Bad;
    }
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() >= MAX_HEAD { Sniffed::Bad } else { Sniffed::Incomplete };
    };
    let head_len = end + 4;
    let Ok(head) = std::str::from_utf8(&buf[..end]) else { return Sniffed::Bad };
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Sniffed::Bad;
    };
    if !version.starts_with("HTTP/1.") {
        return Sniffed::Bad;
    }
    let mut upgrade = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { return Sniffed::Bad };
        if name.trim().eq_ignore_ascii_case("upgrade") {
            upgrade |= value.split(',').any(|v| v.trim().eq_ignore_ascii_case("websocket"));
        }
    }
    if upgrade {
        return Sniffed::Upgrade;
    }
    // Origin form ("/path?query") or absolute form ("http://host/path").
    let path = match target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) {
        Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    Sniffed::Plain { head_len, request: Request { method: method.to_string(), path: path.to_string() } }
}

/// The whole response to `req` (status line, headers, body). `status` is the pub's latest
/// snapshot, if one was handed to the face; without it only `/healthz` is served.
pub fn answer(req: &Request, status: Option<&Status>) -> Vec<u8> {
    let head_only = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => return response(405, "text/plain; charset=utf-8", b"method not allowed\n", false),
    };
    const TEXT: &str = "text/plain; charset=utf-8";
    match (req.path.as_str(), status) {
        ("/healthz", _) => response(200, TEXT, b"ok\n", head_only),
        ("/metrics" | "/status.json" | "/", None) => response(503, TEXT, b"no status yet\n", head_only),
        ("/metrics", Some(s)) => {
            response(200, "text/plain; version=0.0.4; charset=utf-8", s.metrics().as_bytes(), head_only)
        }
        ("/status.json", Some(s)) => response(200, "application/json", s.json().as_bytes(), head_only),
        ("/", Some(s)) => response(200, "text/html; charset=utf-8", s.html().as_bytes(), head_only),
        _ => response(404, TEXT, b"not found\n", head_only),
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// An HTTP/1.1 response that closes the connection; the body is left out for `HEAD`.
fn response(code: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let allow = if code == 405 { "Allow: GET, HEAD\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        reason(code),
        body.len()
    );
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(buf: &[u8]) -> Request {
        match sniff(buf) {
            Sniffed::Plain { head_len, request } => {
                assert_eq!(head_len, buf.len());
                request
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn upgrade_requests_are_told_from_plain_ones() {
        let ws = b"GET /tinyssb HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\
                   Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        assert_eq!(sniff(ws), Sniffed::Upgrade);
        let req = plain(b"GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/metrics"));
        assert_eq!(plain(b"HEAD http://h:1/healthz HTTP/1.0\r\n\r\n").path, "/healthz");
        assert_eq!(plain(b"GET http://h:1 HTTP/1.1\r\n\r\n").path, "/");
    }

    #[test]
    fn partial_heads_wait_and_garbage_is_refused_early() {
        assert_eq!(sniff(b""), Sniffed::Incomplete);
        assert_eq!(sniff(b"GE"), Sniffed::Incomplete);
        assert_eq!(sniff(b"GET / HT"), Sniffed::Incomplete);
        assert_eq!(sniff(b"\x00\xffGARBAGE\r\n\r\n"), Sniffed::Bad);
        assert_eq!(sniff(b"get / HTTP/1.1\r\n\r\n"), Sniffed::Bad);
        assert_eq!(sniff(b"GET / SPDY/3\r\n\r\n"), Sniffed::Bad);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\nno colon\r\n\r\n"), Sniffed::Bad);
        let mut long = b"GET / HTTP/1.1\r\nX: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        assert_eq!(sniff(&long), Sniffed::Bad);
    }

    #[test]
    fn responses_follow_method_and_path() {
        let req = |m: &str, p: &str| Request { method: m.into(), path: p.into() };
        let text = |v: Vec<u8>| String::from_utf8(v).unwrap_or_default();
        let ok = text(answer(&req("GET", "/healthz"), None));
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n") && ok.ends_with("\r\n\r\nok\n"), "{ok}");
        let head = text(answer(&req("HEAD", "/healthz"), None));
        assert!(head.contains("Content-Length: 3\r\n") && head.ends_with("\r\n\r\n"), "{head}");
        assert!(text(answer(&req("GET", "/nope"), None)).starts_with("HTTP/1.1 404 "));
        let post = text(answer(&req("POST", "/healthz"), None));
        assert!(post.starts_with("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD\r\n"), "{post}");
        assert!(text(answer(&req("GET", "/metrics"), None)).starts_with("HTTP/1.1 503 "));
    }
}
