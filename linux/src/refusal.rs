//! When the host bridge cannot serve a connection (the upstream went away
//! after start, or refused the login), the child gets an answer in the
//! protocol it speaks instead of a bare close, and the user gets one line
//! on stderr that names the upstream (rate-limited: `crate::diagnostics`). (A connection past the tunnel limit
//! is still closed at once: answering it would take the thread it lacks.)
//!
//! A bare close reads as "Proxy CONNECT aborted" or "no acceptable
//! methods" in the child, which points at the wrong party. An HTTP child
//! gets `502 Bad Gateway` with the reason as its body; a SOCKS5 child gets
//! past the greeting and then reply code 1, "general SOCKS server failure".

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

pub use crate::diagnostics::{Diagnostics, Refused};
use crate::front_parse::Spoken;

/// How long a refused child may take to send what we read before answering.
const READ_WAIT: Duration = Duration::from_secs(2);

/// At most this much of a refused child's request is read.
const MAX_READ: usize = 16 * 1024;

/// The protocol the child speaks to the bridge (the upstream's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP: `CONNECT host:port` or an absolute-URI request.
    Http,
    /// SOCKS5 (`socks5://`, `socks5h://`).
    Socks5,
}

impl Protocol {
    /// From the scheme of the upstream URL as the bridge is told it.
    pub fn from_scheme(scheme: &str) -> Protocol {
        if scheme.starts_with("socks5") {
            Protocol::Socks5
        } else {
            Protocol::Http
        }
    }
}

/// Answer `conn` with a refusal carrying `reason`, in `protocol`, then
/// close it. Every read is bounded; errors only mean the child left first.
pub fn refuse(mut conn: TcpStream, protocol: Protocol, reason: &str) {
    let _ = conn.set_read_timeout(Some(READ_WAIT));
    let _ = match protocol {
        Protocol::Http => refuse_http(&mut conn, reason),
        Protocol::Socks5 => refuse_socks(&mut conn),
    };
    let _ = conn.shutdown(Shutdown::Write);
}

/// The response an HTTP child gets.
pub fn http_response(reason: &str) -> Vec<u8> {
    http_status_response("502 Bad Gateway", reason)
}

/// A response with `status` (`"502 Bad Gateway"`) and `reason` as body.
pub fn http_status_response(status: &str, reason: &str) -> Vec<u8> {
    let body = format!("sandspawn proxy bridge: {reason}\n");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answer an HTTP child whose head was read already with `status` and
/// `reason`, then close. What it still sends (a body) is read and dropped
/// for a bounded time first: closing with unread bytes resets the
/// connection, and the child could lose the answer.
pub fn answer_http(conn: TcpStream, status: &str, reason: &str) {
    answer_bytes(conn, &http_status_response(status, reason));
}

/// Send `answer` (nothing: a bare close), then close the way
/// [`answer_http`] does: the child's bytes are drained for a bounded time
/// first, so that the answer is not lost to a reset.
pub fn answer_bytes(mut conn: TcpStream, answer: &[u8]) {
    if conn.write_all(answer).is_err() {
        return;
    }
    let _ = conn.shutdown(Shutdown::Write);
    let _ = conn.set_read_timeout(Some(READ_WAIT));
    let deadline = Instant::now() + READ_WAIT;
    let mut chunk = [0u8; 2048];
    let mut drained = 0;
    while drained < MAX_READ && Instant::now() < deadline {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// SOCKS4's reply "request rejected or failed" (version 0, code 91).
const SOCKS4_REJECTED: [u8; 8] = [0, 0x5b, 0, 0, 0, 0, 0, 0];

/// A child that speaks neither HTTP nor SOCKS5 is told at once, in its own
/// protocol where it has one: SOCKS4 gets "request rejected", a TLS
/// handshake a close (it cannot read plain text), anything else a `400`.
/// `diagnostics` says what it spoke. HTTP and SOCKS5 are not this
/// function's to answer and are left alone.
pub fn refuse_unspoken(conn: TcpStream, spoken: Spoken, diagnostics: &Diagnostics) {
    const SAYS: &str =
        "the bridge is a plain HTTP proxy (http://, the scheme of the child's proxy variables)";
    let reason = match spoken {
        Spoken::Socks4 => format!("a SOCKS4 client: {SAYS}"),
        Spoken::Tls => format!("a TLS handshake (an https:// proxy URL?): {SAYS}"),
        Spoken::Other(first) => {
            format!("a request that is not HTTP (first byte {first:#04x}): {SAYS}")
        }
        Spoken::Http | Spoken::Socks5 => return,
    };
    diagnostics.report(Refused::NotSpoken, &reason);
    match spoken {
        Spoken::Socks4 => answer_bytes(conn, &SOCKS4_REJECTED),
        Spoken::Tls => answer_bytes(conn, b""),
        _ => answer_http(conn, "400 Bad Request", &reason),
    }
}

fn refuse_http(conn: &mut TcpStream, reason: &str) -> io::Result<()> {
    // Read the request head first: closing with unread bytes resets the
    // connection, and the child would lose the answer.
    // A child that sends nothing within the bound still gets the answer.
    let mut seen = Vec::new();
    let _ = read_until(conn, &mut seen, |b| b.windows(4).any(|w| w == b"\r\n\r\n"));
    conn.write_all(&http_response(reason))
}

/// SOCKS5 reply "general SOCKS server failure", bound address 0.0.0.0:0.
pub const SOCKS_FAILURE: [u8; 10] = [5, 1, 0, 1, 0, 0, 0, 0, 0, 0];

fn refuse_socks(conn: &mut TcpStream) -> io::Result<()> {
    let mut seen = Vec::new();
    read_until(conn, &mut seen, |b| {
        b.len() >= 2 && b.len() >= 2 + usize::from(b[1])
    })?;
    if seen[0] != 5 {
        return Ok(());
    }
    let methods_end = 2 + usize::from(seen[1]);
    if !seen[2..methods_end].contains(&0) {
        // It offers no method we could answer; 0xff is the truth here.
        return conn.write_all(&[5, 0xff]);
    }
    let request = seen.split_off(methods_end);
    refuse_socks_request(conn, request)
}

/// After a greeting that offered "no authentication": accept it, read the
/// request (`request` holds what already came of it) and answer "general
/// SOCKS server failure".
pub fn refuse_socks_request(conn: &mut TcpStream, mut request: Vec<u8>) -> io::Result<()> {
    conn.set_read_timeout(Some(READ_WAIT))?;
    conn.write_all(&[5, 0])?;
    read_until(conn, &mut request, |b| {
        socks_request_len(b).is_some_and(|n| b.len() >= n)
    })?;
    conn.write_all(&SOCKS_FAILURE)
}

/// The length of a SOCKS5 request (`VER CMD RSV ATYP ADDR PORT`) once
/// enough of it is known.
fn socks_request_len(b: &[u8]) -> Option<usize> {
    let addr = match *b.get(3)? {
        1 => 4,
        4 => 16,
        3 => 1 + usize::from(*b.get(4)?),
        // An address type we do not know: answer with what we have.
        _ => return Some(0),
    };
    Some(4 + addr + 2)
}

/// Read into `buf` until `done(buf)`, EOF, [`MAX_READ`] bytes or
/// [`READ_WAIT`] in all (a child trickling a byte at a time cannot restart
/// the wait with each one).
fn read_until(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    done: impl Fn(&[u8]) -> bool,
) -> io::Result<()> {
    let deadline = Instant::now() + READ_WAIT;
    let mut chunk = [0u8; 2048];
    while !done(buf) && buf.len() < MAX_READ {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        conn.set_read_timeout(Some(left))?;
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

#[cfg(test)]
#[path = "refusal_tests.rs"]
mod tests;
