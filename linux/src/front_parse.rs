//! The HTTP front's reading and parsing of a child's request head: which
//! protocol the child speaks (its first byte), the head itself (bounded in
//! size and time), and what it asks for: a `CONNECT host:port` tunnel or a
//! plain `http://` request in absolute form. Nothing here touches the
//! upstream; [`crate::front`] acts on the result.

use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};
use std::time::{Duration, Instant};

use crate::body_framing::Framing;
use crate::request_fields::check_head;
use crate::upstream_auth::MAX_HEAD;

/// The protocol a child speaks, told by its first byte: SOCKS5 greetings
/// start with the version, 5; an HTTP request head starts with a method
/// name (a token character). SOCKS4 (version 4) and a TLS handshake (a
/// client that took the proxy URL for `https://`) are named, so that the
/// child is told at once instead of waiting out the bound for a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spoken {
    /// A SOCKS5 greeting.
    Socks5,
    /// An HTTP request head (or something to refuse as one).
    Http,
    /// A SOCKS4 or SOCKS4a request.
    Socks4,
    /// A TLS handshake record.
    Tls,
    /// A first byte no method name starts with.
    Other(u8),
}

/// Tell the protocol from the first byte.
pub fn sniff(first: u8) -> Spoken {
    match first {
        5 => Spoken::Socks5,
        4 => Spoken::Socks4,
        0x16 => Spoken::Tls,
        // RFC 9112 lets a server skip empty lines before a request line.
        b if is_tchar(b) || b == b'\r' || b == b'\n' => Spoken::Http,
        b => Spoken::Other(b),
    }
}

/// RFC 9110's `tchar`, of which a method or header name is made.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Where the child wants to go. A name is passed to the upstream as a name
/// (SOCKS5 address type 3): the sandbox has no DNS, only the proxy can
/// resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name, as written (at most 255 bytes: SOCKS5's bound).
    Name(String),
    /// An IPv4 literal.
    V4(Ipv4Addr),
    /// An IPv6 literal (written `[…]`).
    V6(Ipv6Addr),
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Name(n) => f.write_str(n),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// What the child's request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `CONNECT host:port`: a tunnel.
    Connect {
        /// The target.
        host: Host,
        /// Its port (1–65535).
        port: u16,
    },
    /// `METHOD http://host[:port]/path`: forwarded to the origin in origin
    /// form, on a connection of its own (`Connection: close`).
    Forward {
        /// The target.
        host: Host,
        /// Its port (80 unless given).
        port: u16,
        /// The head to send the origin, ending with its blank line.
        head: Vec<u8>,
        /// Where the body that follows the head ends.
        body: Framing,
    },
}

/// A request the front does not serve: the status line's code and text,
/// and the reason for the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `400 Bad Request`, `501 Not Implemented`, ….
    pub status: &'static str,
    /// One line, for the child's response body.
    pub reason: String,
}

fn bad(reason: impl Into<String>) -> Refusal {
    Refusal {
        status: "400 Bad Request",
        reason: reason.into(),
    }
}

/// Why no complete head was read.
#[derive(Debug)]
pub enum HeadError {
    /// More than [`MAX_HEAD`] bytes without the blank line.
    TooLarge,
    /// The deadline passed first (a half-sent head).
    TimedOut,
    /// The child closed first, or the socket failed.
    Gone,
}

/// Read until the head's blank line (`\r\n\r\n`), at most [`MAX_HEAD`]
/// bytes, all of it within `wait` however slowly it trickles in. Returns
/// everything read and the end of the head (just past the blank line);
/// what follows is the start of a body or of the tunnel's bytes.
pub fn read_head(conn: &mut TcpStream, wait: Duration) -> Result<(Vec<u8>, usize), HeadError> {
    read_head_by(conn, Instant::now() + wait, Vec::with_capacity(4096))
}

/// Just past the first blank line at or after `from`: `\r\n\r\n`, or a
/// line ended by LF alone (`\n\n`, `\n\r\n`). A head of bare-LF lines
/// is malformed, and the parsers say so; found here, it is said at once
/// instead of after the wait for a CRLF blank line that never comes.
pub(crate) fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(i) = buf[at..].iter().position(|&b| b == b'\n') {
        let lf = at + i;
        match buf.get(lf + 1..lf + 3) {
            Some([b'\n', _]) => return Some(lf + 2),
            Some(b"\r\n") => return Some(lf + 3),
            None if buf.get(lf + 1) == Some(&b'\n') => return Some(lf + 2),
            _ => at = lf + 1,
        }
    }
    None
}

/// A head as [`head_end`] delimits it, without its blank line.
pub(crate) fn without_blank_line(head: &[u8]) -> &[u8] {
    [&b"\r\n\r\n"[..], b"\n\r\n", b"\n\n"]
        .iter()
        .find_map(|end| head.strip_suffix(*end))
        .unwrap_or(head)
}

/// [`read_head`] due by `deadline`, continuing after `buf` (bytes already
/// read past an earlier head, which may hold this head's start).
pub fn read_head_by(
    conn: &mut TcpStream,
    deadline: Instant,
    mut buf: Vec<u8>,
) -> Result<(Vec<u8>, usize), HeadError> {
    let mut chunk = [0u8; 4096];
    // Where the blank line may start: bytes searched before are not
    // searched again (a head trickling in byte by byte stays linear).
    let mut from = 0;
    loop {
        if let Some(end) = head_end(&buf, from) {
            let _ = conn.set_read_timeout(None);
            return Ok((buf, end));
        }
        if buf.len() > MAX_HEAD {
            return Err(HeadError::TooLarge);
        }
        from = buf.len().saturating_sub(3);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return Err(HeadError::TimedOut);
        }
        match conn.read(&mut chunk) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HeadError::TimedOut)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

/// Parse a request head (through its blank line).
pub fn parse_request(head: &[u8]) -> Result<Request, Refusal> {
    if !head.ends_with(b"\r\n\r\n") {
        return Err(bad("the request head's lines end in LF alone, not CRLF"));
    }
    // RFC 9112 §2.2: empty lines before the request line are skipped.
    let lead = head
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let text =
        std::str::from_utf8(&head[lead..]).map_err(|_| bad("the request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!(
            "not an HTTP request line: {:?}",
            shorten(first)
        )));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err(bad(format!("not an HTTP method: {:?}", shorten(method))));
    }
    if !(version == "HTTP/1.1" || version == "HTTP/1.0") {
        return Err(bad(format!(
            "unsupported HTTP version {:?} (HTTP/1.0 and HTTP/1.1 are served)",
            shorten(version)
        )));
    }
    // A bare LF or other control byte would end up in the head the origin
    // gets, where it could start a header of its own.
    if target.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad(format!(
            "a control character in the request target {:?}",
            shorten(target)
        )));
    }
    // The header lines as the bridge checks them: a head an origin or
    // upstream could read otherwise is not passed on.
    let body = check_head(without_blank_line(&head[lead..]))?;
    if method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = authority(target, None)?;
        return Ok(Request::Connect { host, port });
    }
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(bad(format!(
            "{method} {}: not a proxy request (the target must be CONNECT host:port or an absolute http:// URL)",
            shorten(target)
        )));
    };
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(Refusal {
            status: "501 Not Implemented",
            reason: format!(
                "{scheme}:// requests are not forwarded (the bridge serves CONNECT tunnels and http:// requests; use CONNECT for TLS)"
            ),
        });
    }
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(split);
    let (host, port) = authority(auth, Some(80))?;
    let path = match path.split('#').next().unwrap_or_default() {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    // `Host` is the target's authority (RFC 9112 3.2.2: a proxy replaces
    // the child's own).
    let mut out = format!("{method} {path} {version}\r\nHost: {auth}\r\n");
    for line in lines.take_while(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or_default().trim();
        // Hop-by-hop headers of the hop to the bridge; the origin gets its
        // own `Connection: close` (each request on a connection of its own).
        if [
            "host",
            "proxy-connection",
            "proxy-authorization",
            "connection",
            "keep-alive",
        ]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
        {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    Ok(Request::Forward {
        host,
        port,
        head: out.into_bytes(),
        body,
    })
}

/// `host:port`, `[v6]:port`, or (with `default`) either without the port.
pub fn authority(text: &str, default: Option<u16>) -> Result<(Host, u16), Refusal> {
    let what = || shorten(text);
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| bad(format!("{:?}: an IPv6 literal without its ']'", what())))?;
        let addr: Ipv6Addr = v6
            .parse()
            .map_err(|_| bad(format!("{:?}: not an IPv6 address", what())))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| bad(format!("{:?}: expected ':port' after the ']'", what())))?,
            ),
        };
        (Host::V6(addr), port)
    } else {
        let (name, port) = match text.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (text, None),
        };
        if name.is_empty() {
            return Err(bad(format!("{:?}: no host", what())));
        }
        if name.contains(':') {
            return Err(bad(format!(
                "{:?}: an IPv6 address must be written in brackets ([::1]:443)",
                what()
            )));
        }
        if name.contains('@') {
            return Err(bad(format!(
                "{:?}: credentials in the target are not passed on",
                what()
            )));
        }
        if name.len() > 255
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return Err(bad(format!("{:?}: not a host name", what())));
        }
        let host = match name.parse::<Ipv4Addr>() {
            Ok(a) => Host::V4(a),
            Err(_) => Host::Name(name.to_string()),
        };
        (host, port)
    };
    let port = match (port, default) {
        (Some(p), _) => parse_port(p)
            .ok_or_else(|| bad(format!("{:?}: bad port (a number from 1 to 65535)", what())))?,
        (None, Some(d)) => d,
        (None, None) => return Err(bad(format!("{:?}: CONNECT needs host:port", what()))),
    };
    Ok((host, port))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&p| p != 0)
}

/// At most 80 characters of `text`, for messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
#[path = "front_parse_tests.rs"]
mod tests;
