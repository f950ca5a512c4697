//! The host bridge's only look at the bytes: putting the upstream's
//! credentials on a connection, so they never enter the sandbox.
//!
//! - HTTP upstream: `Proxy-Authorization` is added to the head of each
//!   request the child sends (any the child sent is dropped; the head is
//!   read in any case: `crate::bridge_http` checks its target). At start, one
//!   `CONNECT` probe asks whether the upstream takes the credentials; after
//!   start, `crate::bridge_http` reads the upstream's answer to each
//!   tunnel, so a `407` can be named.
//! - SOCKS5 upstream: the bridge answers the child's greeting itself (no
//!   authentication, `crate::bridge_socks`), then greets the upstream
//!   offering username/password only and authenticates (RFC 1929) before
//!   the child's request goes through. The child's CONNECT request and
//!   everything after it pass unchanged.
//!
//! Every read waits a bounded time; nothing here blocks forever.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::spec::SocksLogin;

/// A request head larger than this is refused (the connection is closed).
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// How long the child may take to send its request head or SOCKS greeting.
pub const CHILD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the upstream may take to answer each SOCKS5 handshake step.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const SOCKS_VERSION: u8 = 5;
const METHOD_NONE: u8 = 0x00;
const METHOD_LOGIN: u8 = 0x02;
const METHOD_REFUSED: u8 = 0xff;
const LOGIN_VERSION: u8 = 1;

/// Why a SOCKS5 upstream did not let us in.
#[derive(Debug, thiserror::Error)]
pub enum SocksAuthError {
    /// The upstream does not offer username/password authentication.
    #[error("it does not accept username/password authentication (it chose method {method:#04x})")]
    MethodRejected {
        /// The method byte it answered (0xff: none acceptable).
        method: u8,
    },
    /// The upstream refused the username/password.
    #[error("it refused the username/password (RFC 1929 status {status})")]
    BadCredentials {
        /// The status byte (non-zero).
        status: u8,
    },
    /// The upstream answered something that is not SOCKS5.
    #[error("it does not speak SOCKS5 (answered {0:02x?})")]
    NotSocks([u8; 2]),
    /// Reading or writing failed (a timeout reads as `WouldBlock`/`TimedOut`).
    #[error("during the SOCKS5 handshake: {0}")]
    Io(#[from] io::Error),
}

/// Greet a SOCKS5 upstream offering username/password only, and log in.
/// Each answer is awaited at most `wait` (the bridge uses
/// [`HANDSHAKE_TIMEOUT`]); on success the stream's read timeout is what it
/// was before (a caller's own bound on the steps after the login stays).
pub fn socks_login(
    up: &mut TcpStream,
    login: &SocksLogin,
    wait: Duration,
) -> Result<(), SocksAuthError> {
    let before = up.read_timeout()?;
    up.set_read_timeout(Some(wait))?;
    up.write_all(&[SOCKS_VERSION, 1, METHOD_LOGIN])?;
    let mut reply = [0u8; 2];
    up.read_exact(&mut reply)?;
    if reply[0] != SOCKS_VERSION {
        return Err(SocksAuthError::NotSocks(reply));
    }
    if reply[1] != METHOD_LOGIN {
        return Err(SocksAuthError::MethodRejected { method: reply[1] });
    }
    up.write_all(&login_request(login)?)?;
    up.read_exact(&mut reply)?;
    if reply[1] != 0 {
        return Err(SocksAuthError::BadCredentials { status: reply[1] });
    }
    up.set_read_timeout(before)?;
    Ok(())
}

/// `VER ULEN UNAME PLEN PASSWD` (RFC 1929).
fn login_request(login: &SocksLogin) -> io::Result<Vec<u8>> {
    let (user, pass) = (login.username.as_bytes(), login.password.as_bytes());
    let too_long = || io::Error::new(io::ErrorKind::InvalidInput, "longer than 255 bytes");
    let ulen = u8::try_from(user.len()).map_err(|_| too_long())?;
    let plen = u8::try_from(pass.len()).map_err(|_| too_long())?;
    let mut out = Vec::with_capacity(3 + user.len() + pass.len());
    out.extend_from_slice(&[LOGIN_VERSION, ulen]);
    out.extend_from_slice(user);
    out.push(plen);
    out.extend_from_slice(pass);
    Ok(out)
}

/// A child's greeting that offers "no authentication", and what it sent
/// after it.
pub(crate) struct Greeting {
    pub(crate) rest: Vec<u8>,
}

/// Read the greeting, all of it within `wait`; answer "no acceptable
/// method" (and fail) when the child does not offer "no authentication".
pub(crate) fn read_greeting_within(
    conn: &mut TcpStream,
    wait: Duration,
) -> Result<Greeting, SocksAuthError> {
    let deadline = Instant::now() + wait;
    let mut buf = Vec::with_capacity(64);
    let mut chunk = [0u8; 512];
    let methods = loop {
        if buf.len() >= 2 {
            if buf[0] != SOCKS_VERSION {
                return Err(SocksAuthError::NotSocks([buf[0], buf[1]]));
            }
            let end = 2 + usize::from(buf[1]);
            if buf.len() >= end {
                break end;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(io::ErrorKind::TimedOut).into());
        }
        conn.set_read_timeout(Some(left))?;
        // A socket timeout reads as EAGAIN; it is the bound running out.
        let n = conn.read(&mut chunk).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut.into(),
            _ => e,
        })?;
        if n == 0 {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof).into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    conn.set_read_timeout(None)?;
    if !buf[2..methods].contains(&METHOD_NONE) {
        let _ = conn.write_all(&[SOCKS_VERSION, METHOD_REFUSED]);
        return Err(SocksAuthError::MethodRejected {
            method: METHOD_REFUSED,
        });
    }
    Ok(Greeting {
        rest: buf.split_off(methods),
    })
}

/// What an HTTP upstream says to credentials it does not accept.
pub const PROXY_AUTH_REQUIRED: u16 = 407;

/// Ask an HTTP upstream once whether it takes `auth`: `CONNECT` to its own
/// `target` (`host:port`; any target would do, this one names no third
/// party) with `Proxy-Authorization`, and return the status code of its
/// answer's first line. The whole answer is awaited at most `wait`, however
/// slowly it trickles in. The caller drops the connection afterwards,
/// whatever the answer.
pub fn probe_http_login(
    up: &mut TcpStream,
    target: &str,
    auth: &str,
    wait: Duration,
) -> io::Result<Option<u16>> {
    let deadline = Instant::now() + wait;
    // A socket timeout reads as EAGAIN ("Resource temporarily
    // unavailable"); the caller is told what happened: the time ran out.
    let timed_out = |e: io::Error| match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => io::ErrorKind::TimedOut.into(),
        _ => e,
    };
    up.set_write_timeout(Some(wait))?;
    up.write_all(
        format!(
            "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nProxy-Authorization: {auth}\r\n\r\n"
        )
        .as_bytes(),
    )
    .map_err(timed_out)?;
    // "HTTP/1.1 407" is all that is asked: a dozen bytes, a line at most.
    let mut line = Vec::with_capacity(64);
    let mut chunk = [0u8; 64];
    while !line.contains(&b'\n') && line.len() < 64 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        up.set_read_timeout(Some(left))?;
        let n = up.read(&mut chunk).map_err(timed_out)?;
        if n == 0 {
            break;
        }
        line.extend_from_slice(&chunk[..n]);
    }
    Ok(status_code(&line))
}

/// The status code of an HTTP/1.x response that starts `bytes`.
fn status_code(bytes: &[u8]) -> Option<u16> {
    let rest = bytes
        .strip_prefix(b"HTTP/1.")?
        .get(1..)?
        .strip_prefix(b" ")?;
    let digits = rest.get(..3)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A child's request head as read and checked by [`read_request_head`].
#[derive(Debug)]
pub struct ChildHead {
    buf: Vec<u8>,
    lead: usize,
    end: usize,
}

impl ChildHead {
    /// The head from its request line (the empty lines before it dropped)
    /// to its last header line, without the blank line.
    pub fn head(&self) -> &[u8] {
        crate::front_parse::without_blank_line(&self.buf[self.lead..self.end])
    }

    /// What the child sent after the head (a body's start, a TLS hello).
    pub fn rest(&self) -> &[u8] {
        &self.buf[self.end..]
    }

    /// Whether the request is a `CONNECT`.
    pub fn is_connect(&self) -> bool {
        let head = self.head();
        head.len() >= 8 && head[..8].eq_ignore_ascii_case(b"CONNECT ")
    }
}

/// Read the request head the child sent (up to the blank line), all of it
/// within `wait`. Errors by kind: a head over [`MAX_HEAD`] is
/// `InvalidData`; with `credentials`, a `TRACE` or `TRACK` is
/// `PermissionDenied` (the method as the message): its answer would echo
/// them; a head that does not start with a request line is `InvalidInput`
/// (appended to it, credentials could become a request line of their own).
pub fn read_request_head(
    conn: &mut TcpStream,
    wait: Duration,
    credentials: bool,
) -> io::Result<ChildHead> {
    use crate::front_parse::{read_head, HeadError};
    // The whole head within the bound, however slowly it trickles in.
    let (buf, end) = read_head(conn, wait).map_err(|e| match e {
        // Its own kind: the bridge answers the child with the reason.
        HeadError::TooLarge => io::Error::new(io::ErrorKind::InvalidData, "request head too large"),
        HeadError::TimedOut => io::ErrorKind::TimedOut.into(),
        HeadError::Gone => io::Error::other("closed before a request head"),
    })?;
    if let Some(method) = echoing_method(&buf).filter(|_| credentials) {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, method));
    }
    // Empty lines before the request line are dropped: the line the
    // credentials follow must be the one the upstream reads as the request.
    let lead = buf[..end]
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let head = ChildHead { buf, lead, end };
    if !starts_with_request_line(head.head()) {
        return Err(io::ErrorKind::InvalidInput.into());
    }
    Ok(head)
}

/// What goes to the upstream for `head`: the head with
/// `Proxy-Authorization` when `auth` (any the child sent is dropped), its
/// blank line, and then the first `rest` bytes that followed it. A
/// plain-HTTP request is marked `close`, so the next request comes on a
/// new connection, read and checked again.
pub fn outgoing_head(head: &ChildHead, auth: Option<&str>, rest: usize) -> Vec<u8> {
    let mut out = prepare_head(head.head(), auth);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&head.rest()[..rest.min(head.rest().len())]);
    out
}

/// Whether `head` starts with `METHOD SP TARGET SP HTTP/1.x`, the method
/// letters or `-`, the target without spaces or control bytes. Appended to
/// anything else, the credentials could become what an upstream reads as
/// a request line, or the start of a request of their own, which a `400`
/// may quote back to the child.
fn starts_with_request_line(head: &[u8]) -> bool {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.iter().all(|b| b.is_ascii_alphabetic() || *b == b'-')
        && !target.is_empty()
        && !target.iter().any(u8::is_ascii_control)
        && (version == b"HTTP/1.1" || version == b"HTTP/1.0")
}

/// Methods whose answer is the request as its recipient received it
/// (RFC 9110 §9.3.8; `TRACK` is IIS's), which a proxy sends itself when
/// `Max-Forwards` is 0: the echo would carry the credentials added here
/// back into the sandbox. Matched in any case, as lenient servers do.
const ECHOING_METHODS: [&str; 2] = ["TRACE", "TRACK"];

/// The head's method as the child spelled it, when it is one of
/// [`ECHOING_METHODS`]. Read as a lenient server reads it: after any
/// empty lines (RFC 9112 §2.2), up to any whitespace, not only a space.
fn echoing_method(head: &[u8]) -> Option<String> {
    let start = head.iter().position(|b| !matches!(b, b'\r' | b'\n'))?;
    let method = head[start..]
        .split(|&b| matches!(b, b' ' | b'\t' | b'\x0b' | b'\x0c' | b'\r' | b'\n'))
        .next()?;
    ECHOING_METHODS
        .iter()
        .any(|m| method.eq_ignore_ascii_case(m.as_bytes()))
        .then(|| String::from_utf8_lossy(method).into_owned())
}

/// The head (without its final blank line) with `Proxy-Authorization`
/// set; non-CONNECT requests also get `Connection: close`.
#[cfg(test)]
fn add_authorization(head: &[u8], auth: &str) -> Vec<u8> {
    prepare_head(head, Some(auth))
}

/// The head (without its final blank line) with `Proxy-Authorization`
/// set to `auth` or, without, dropped; non-CONNECT requests also get
/// `Connection: close` and `Proxy-Connection: close`.
fn prepare_head(head: &[u8], auth: Option<&str>) -> Vec<u8> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request = lines.next().unwrap_or_default();
    let connect = request.len() >= 8 && request[..8].eq_ignore_ascii_case(b"CONNECT ");
    let mut out = request.to_vec();
    for line in lines {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let drop = name.eq_ignore_ascii_case(b"proxy-authorization")
            || (!connect
                && (name.eq_ignore_ascii_case(b"connection")
                    || name.eq_ignore_ascii_case(b"proxy-connection")));
        if !drop {
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(line);
        }
    }
    if let Some(auth) = auth {
        out.extend_from_slice(b"\r\nProxy-Authorization: ");
        out.extend_from_slice(auth.as_bytes());
    }
    if !connect {
        out.extend_from_slice(b"\r\nConnection: close\r\nProxy-Connection: close");
    }
    out
}

#[cfg(test)]
#[path = "upstream_auth_tests.rs"]
mod tests;
