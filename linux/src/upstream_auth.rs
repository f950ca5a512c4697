//! The host bridge's only look at the bytes: putting the upstream's
//! credentials on a connection, so they never enter the sandbox.
//!
//! - HTTP upstream: `Proxy-Authorization` is added to the head of each
//!   request the child sends (any the child sent is dropped). At start, one
//!   `CONNECT` probe asks whether the upstream takes the credentials; after
//!   start, the status of its answer to a tunnel is peeked at (not read),
//!   so a `407` can be named.
//! - SOCKS5 upstream: the bridge answers the child's greeting itself (no
//!   authentication), then greets the upstream offering username/password
//!   only and authenticates (RFC 1929) before the child's request goes
//!   through. The child's CONNECT request and everything after it pass
//!   unchanged.
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

/// Why [`socks_front`] did not set a tunnel up.
#[derive(Debug, thiserror::Error)]
pub enum FrontError {
    /// The child left, or does not speak SOCKS5 as expected.
    #[error("the sandboxed client: {0}")]
    Child(SocksAuthError),
    /// The upstream refused the login or failed during it; `refused` was
    /// told, then the child answered "general SOCKS server failure".
    #[error(transparent)]
    Upstream(SocksAuthError),
}

/// Read the child's SOCKS5 greeting (`VER NMETHODS METHODS`), log in to
/// the upstream, and answer the child "no authentication". If the child
/// does not offer that, it hears "no acceptable method". If the upstream
/// refuses us, the child still gets "no authentication" and then reply 1,
/// "general SOCKS server failure", to its request: the fault is the
/// server's, not a method the child lacks. Bytes the child sent after its
/// greeting (an eager request) go to the upstream.
/// The greeting is due within `wait`.
pub fn socks_front(
    conn: &mut TcpStream,
    up: &mut TcpStream,
    login: &SocksLogin,
    wait: Duration,
    refused: impl FnOnce(&SocksAuthError),
) -> Result<(), FrontError> {
    let greeting = read_greeting_within(conn, wait).map_err(FrontError::Child)?;
    if let Err(e) = socks_login(up, login, HANDSHAKE_TIMEOUT) {
        // Told before the child hears it, so the host's line on stderr
        // comes before whatever the child prints about its failure.
        refused(&e);
        let _ = crate::refusal::refuse_socks_request(conn, greeting.rest);
        return Err(FrontError::Upstream(e));
    }
    conn.write_all(&[SOCKS_VERSION, METHOD_NONE])
        .and_then(|()| up.write_all(&greeting.rest))
        .map_err(|e| FrontError::Child(e.into()))
}

/// A child's greeting that offers "no authentication", and what it sent
/// after it.
struct Greeting {
    rest: Vec<u8>,
}

/// Read the greeting, all of it within `wait`; answer "no acceptable
/// method" (and fail) when the child does not offer "no authentication".
fn read_greeting_within(conn: &mut TcpStream, wait: Duration) -> Result<Greeting, SocksAuthError> {
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

/// The status code the upstream answered a tunnel with, read without
/// consuming it (the relay passes the answer on unchanged), waiting at most
/// `wait`. `None` when it says nothing in time, closes, or is not HTTP.
pub fn peek_status(up: &TcpStream, wait: Duration) -> Option<u16> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 12]; // "HTTP/1.1 407"
    let status = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || up.set_read_timeout(Some(left)).is_err() {
            break None;
        }
        match up.peek(&mut buf) {
            Ok(n) if n >= buf.len() => break status_code(&buf),
            Ok(0) | Err(_) => break None,
            // A whole line shorter than a status line: nothing more to wait for.
            Ok(n) if buf[..n].contains(&b'\n') => break None,
            // A status line split across segments: the rest is on its way.
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let _ = up.set_read_timeout(None);
    status
}

/// Read the request head the child sent (up to the blank line), add
/// `Proxy-Authorization` (dropping any the child sent) and write it to the
/// upstream, with whatever followed the head. A CONNECT tunnel needs it
/// once; for a plain-HTTP request the connection is marked `close`, so the
/// next request comes on a new connection and gets the header again.
/// Returns whether the request was a `CONNECT`. The head is due within
/// `wait`.
pub fn forward_head_with_auth(
    conn: &mut TcpStream,
    up: &mut TcpStream,
    auth: &str,
    wait: Duration,
) -> io::Result<bool> {
    use crate::front_parse::{read_head, without_blank_line, HeadError};
    // The whole head within the bound, however slowly it trickles in.
    let (buf, end) = read_head(conn, wait).map_err(|e| match e {
        // Its own kind: the bridge answers the child with the reason.
        HeadError::TooLarge => io::Error::new(io::ErrorKind::InvalidData, "request head too large"),
        HeadError::TimedOut => io::ErrorKind::TimedOut.into(),
        HeadError::Gone => io::Error::other("closed before a request head"),
    })?;
    let connect = buf.len() >= 8 && buf[..8].eq_ignore_ascii_case(b"CONNECT ");
    up.write_all(&add_authorization(without_blank_line(&buf[..end]), auth))?;
    up.write_all(b"\r\n\r\n")?;
    up.write_all(&buf[end..])?;
    Ok(connect)
}

/// The head (without its final blank line) with `Proxy-Authorization`
/// set; non-CONNECT requests also get `Connection: close`.
fn add_authorization(head: &[u8], auth: &str) -> Vec<u8> {
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
    out.extend_from_slice(b"\r\nProxy-Authorization: ");
    out.extend_from_slice(auth.as_bytes());
    if !connect {
        out.extend_from_slice(b"\r\nConnection: close\r\nProxy-Connection: close");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn authorization_is_added_and_the_childs_own_dropped() {
        let head = b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\nProxy-Authorization: Basic Zm9yZ2Vk";
        let out = add_authorization(head, "Basic YTpi");
        assert_eq!(
            out,
            b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\nProxy-Authorization: Basic YTpi".to_vec()
        );
        let get = b"GET http://x/ HTTP/1.1\r\nHost: x\r\nConnection: keep-alive";
        let out = String::from_utf8(add_authorization(get, "Basic YTpi")).unwrap();
        assert_eq!(out, "GET http://x/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic YTpi\r\nConnection: close\r\nProxy-Connection: close");
    }

    fn login() -> SocksLogin {
        SocksLogin {
            username: "alice".into(),
            password: "s3cret".into(),
        }
    }

    /// A scripted upstream: answers `method`, then `status` to the login;
    /// returns what it read.
    fn upstream(method: u8, status: u8) -> (TcpStream, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut greet = [0u8; 3];
            s.read_exact(&mut greet).unwrap();
            s.write_all(&[5, method]).unwrap();
            let mut got = greet.to_vec();
            if method == METHOD_LOGIN {
                let mut req = [0u8; 1 + 1 + 5 + 1 + 6];
                s.read_exact(&mut req).unwrap();
                got.extend_from_slice(&req);
                s.write_all(&[1, status]).unwrap();
            }
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            got.extend_from_slice(&rest);
            got
        });
        (TcpStream::connect(addr).unwrap(), t)
    }

    #[test]
    fn socks_login_speaks_rfc1929_and_names_each_refusal() {
        let (mut up, t) = upstream(METHOD_LOGIN, 0);
        // The caller's bound on what follows the login survives it.
        let own = Some(Duration::from_secs(7));
        up.set_read_timeout(own).unwrap();
        socks_login(&mut up, &login(), HANDSHAKE_TIMEOUT).unwrap();
        assert_eq!(up.read_timeout().unwrap(), own);
        drop(up);
        assert_eq!(t.join().unwrap(), b"\x05\x01\x02\x01\x05alice\x06s3cret");

        let (mut up, _t) = upstream(METHOD_LOGIN, 1);
        let e = socks_login(&mut up, &login(), HANDSHAKE_TIMEOUT).unwrap_err();
        assert!(
            matches!(e, SocksAuthError::BadCredentials { status: 1 }),
            "{e}"
        );
        assert!(!e.to_string().contains("s3cret"));

        let (mut up, _t) = upstream(METHOD_REFUSED, 0);
        let e = socks_login(&mut up, &login(), HANDSHAKE_TIMEOUT).unwrap_err();
        assert!(e.to_string().contains("method 0xff"), "{e}");
    }

    /// (bridge's end, child's end) of a loopback TCP connection.
    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let child = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        (l.accept().unwrap().0, child)
    }

    #[test]
    fn a_request_head_past_the_bound_is_its_own_error() {
        let (mut conn, mut child) = pair();
        let (mut up, _far) = pair();
        let big = format!(
            "GET http://x/ HTTP/1.1\r\nX-Big: {}\r\n",
            "a".repeat(MAX_HEAD + 10)
        );
        let writer = std::thread::spawn(move || {
            let _ = child.write_all(big.as_bytes());
            child
        });
        let e =
            forward_head_with_auth(&mut conn, &mut up, "Basic YTpi", CHILD_TIMEOUT).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        drop(conn);
        let _ = writer.join();
    }

    /// A head whose lines end in LF alone reaches the upstream whole, in
    /// CRLF, with the credentials: its blank line is two or three bytes,
    /// not four, and none of its last header may be cut.
    #[test]
    fn a_bare_lf_head_reaches_the_upstream_whole() {
        for head in [
            "GET http://o.test/ HTTP/1.1\nHost: o.test\n\nbody",
            "GET http://o.test/ HTTP/1.1\r\nHost: o.test\n\r\nbody",
        ] {
            let (mut conn, mut child) = pair();
            let (mut up, mut far) = pair();
            child.write_all(head.as_bytes()).unwrap();
            let connect =
                forward_head_with_auth(&mut conn, &mut up, "Basic YTpi", CHILD_TIMEOUT).unwrap();
            assert!(!connect);
            drop(up);
            let mut got = String::new();
            far.read_to_string(&mut got).unwrap();
            assert_eq!(
                got,
                "GET http://o.test/ HTTP/1.1\r\nHost: o.test\r\nProxy-Authorization: Basic YTpi\r\n\
                 Connection: close\r\nProxy-Connection: close\r\n\r\nbody",
                "{head:?}"
            );
        }
    }

    #[test]
    fn socks_front_answers_the_child_and_passes_its_request_on() {
        let (mut up, t) = upstream(METHOD_LOGIN, 0);
        let (mut conn, mut child) = pair();
        // The child offers "none" and sends its request eagerly.
        child.write_all(b"\x05\x01\x00\x05\x01\x00\x03").unwrap();
        socks_front(&mut conn, &mut up, &login(), CHILD_TIMEOUT, |_| {}).unwrap();
        let mut answer = [0u8; 2];
        child.read_exact(&mut answer).unwrap();
        assert_eq!(answer, [5, METHOD_NONE]);
        drop(up);
        assert!(t.join().unwrap().ends_with(b"s3cret\x05\x01\x00\x03"));

        // Wrong credentials: the child gets past the greeting, then hears
        // "general SOCKS server failure" for its request.
        let (mut up, _t) = upstream(METHOD_LOGIN, 1);
        let (mut conn, mut child) = pair();
        child
            .write_all(b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x01\xbb")
            .unwrap();
        let mut told = None;
        let e = socks_front(&mut conn, &mut up, &login(), CHILD_TIMEOUT, |e| {
            told = Some(e.to_string())
        })
        .unwrap_err();
        assert_eq!(told, Some(e.to_string()));
        assert!(
            matches!(
                e,
                FrontError::Upstream(SocksAuthError::BadCredentials { status: 1 })
            ),
            "{e}"
        );
        let mut reply = [0u8; 12];
        child.read_exact(&mut reply).unwrap();
        assert_eq!(reply, [5, METHOD_NONE, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);

        // A child that offers only a login hears "no acceptable method".
        let (mut up, _t) = upstream(METHOD_LOGIN, 0);
        let (mut conn, mut child) = pair();
        child.write_all(b"\x05\x01\x02").unwrap();
        let e = socks_front(&mut conn, &mut up, &login(), CHILD_TIMEOUT, |_| {
            panic!("not the upstream")
        })
        .unwrap_err();
        assert!(matches!(e, FrontError::Child(_)), "{e}");
        child.read_exact(&mut answer).unwrap();
        assert_eq!(answer, [5, METHOD_REFUSED]);
    }

    /// An upstream that answers one byte at a time, each just inside a
    /// per-read timeout, cannot stretch the start-up probe past `wait`.
    #[test]
    fn a_trickling_upstream_does_not_stretch_the_login_probe() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut up = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let trickle = std::thread::spawn(move || {
            let mut req = [0u8; 256];
            let _ = s.read(&mut req);
            for _ in 0..40 {
                if s.write_all(b"H").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        let wait = Duration::from_millis(600);
        let started = Instant::now();
        let e = probe_http_login(&mut up, "proxy:3128", "Basic YTpi", wait).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
        assert!(started.elapsed() < wait + Duration::from_secs(2));
        drop(up);
        trickle.join().unwrap();
    }

    /// A silent upstream runs the socket's own timeout out mid-read (EAGAIN);
    /// the probe says "timed out" either way.
    #[test]
    fn a_silent_upstream_times_out_as_such() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut up = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        let e = probe_http_login(
            &mut up,
            "proxy:3128",
            "Basic YTpi",
            Duration::from_millis(100),
        )
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");
    }

    #[test]
    fn the_status_is_peeked_not_taken_and_a_short_line_does_not_wait() {
        for (answer, want) in [
            (
                &b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"[..],
                Some(407),
            ),
            (b"HTTP/1.0 200 OK\r\n\r\n", Some(200)),
            (b"SSH-2.0-x\r\n", None),
            (b"HTTP/1\r\n", None),
        ] {
            let (mut upstream_side, bridge_side) = pair();
            upstream_side.write_all(answer).unwrap();
            let started = std::time::Instant::now();
            assert_eq!(peek_status(&bridge_side, HANDSHAKE_TIMEOUT), want);
            assert!(started.elapsed() < Duration::from_secs(2));
            let mut left = vec![0u8; answer.len()];
            (&bridge_side).read_exact(&mut left).unwrap();
            assert_eq!(left, answer, "peeking took bytes");
        }
    }

    /// A child trickling its greeting a byte at a time cannot restart the
    /// wait with each byte.
    #[test]
    fn a_trickling_greeting_is_bounded_in_all() {
        let (mut conn, child) = pair();
        let trickle = std::thread::spawn(move || {
            let mut child = child;
            // VER 5, 200 methods: 202 bytes, one every 50 ms.
            let mut greeting = vec![5u8, 200];
            greeting.resize(202, 1);
            for b in greeting {
                if child.write_all(&[b]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let wait = Duration::from_millis(500);
        let started = Instant::now();
        let e = read_greeting_within(&mut conn, wait)
            .err()
            .expect("timed out");
        assert!(
            matches!(&e, SocksAuthError::Io(io) if io.kind() == io::ErrorKind::TimedOut),
            "{e}"
        );
        assert!(started.elapsed() < wait + Duration::from_secs(1));
        drop(conn);
        trickle.join().unwrap();
    }

    #[test]
    fn a_silent_upstream_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut up = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let _held = l.accept().unwrap();
        let wait = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let e = socks_login(&mut up, &login(), wait).unwrap_err();
        assert!(matches!(e, SocksAuthError::Io(_)), "{e}");
        assert!(started.elapsed() < wait + Duration::from_secs(5));
    }
}
