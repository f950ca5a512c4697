//! The HTTP front of a SOCKS5 upstream. Many clients speak only HTTP to a
//! proxy (Node's built-in proxy support, Python's urllib, pip without
//! PySocks), so with a SOCKS5 upstream the inside listener takes both
//! protocols on one port, told apart by the first byte
//! ([`crate::front_parse::sniff`]). A SOCKS5 child goes the existing way;
//! for an HTTP child the bridge itself:
//!
//! - reads the request head (at most [`MAX_HEAD`] bytes, all within the
//!   child's time bound),
//! - refuses a target on the host itself (`crate::local_target`) with
//!   `403 Forbidden` unless the user opted in,
//! - asks the upstream for a tunnel to the request's `host:port` (a name
//!   is passed as a name; the sandbox has no DNS), logging in when the
//!   upstream URL had credentials,
//! - `CONNECT`: answers `200 Connection established`; `GET http://…`
//!   (absolute form): sends the origin the head in origin form with
//!   `Connection: close`, so each request gets a connection, and a tunnel,
//!   of its own, and passes the origin's response head on with
//!   `Connection: close` itself, after which nothing more of the child's
//!   reaches that origin ([`crate::front_response`]),
//! - and hands both sockets to the splice relay, as any tunnel (for a
//!   forwarded request, only the response body is left to relay).
//!
//! A request it cannot serve is answered with one status line and the
//! reason as body (naming the upstream when the upstream is at fault), and
//! the same reason goes to stderr (rate-limited, `crate::diagnostics`); nothing waits
//! unbounded.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::body_framing::BROKEN;
use crate::front_parse::{parse_request, read_head_by, sniff, HeadError, Request, Spoken};
use crate::front_response::{forward, Failure, RESPONSE_TIMEOUT};
use crate::host_local;
use crate::local_target::refusal_reason;
use crate::refusal::{self, Diagnostics, Refused};
use crate::socks_connect::{socks_connect, ConnectError};
use crate::spec::SocksLogin;
use crate::upstream_auth::{SocksAuthError, HANDSHAKE_TIMEOUT, MAX_HEAD};

/// How long the upstream may take to answer a CONNECT request (it
/// connects the target first, which may take a while).
pub const TARGET_TIMEOUT: Duration = Duration::from_secs(30);

/// What the front needs of the upstream.
pub struct SocksUpstream<'a> {
    /// A fresh TCP connection to the upstream (bounded).
    pub connect: &'a dyn Fn() -> io::Result<TcpStream>,
    /// The URL's credentials, if any.
    pub login: Option<&'a SocksLogin>,
    /// The URL, credentials masked, and where it came from.
    pub display: &'a str,
    /// `--proxy`, `ALL_PROXY`, ….
    pub origin: &'a str,
    /// Where failures are reported.
    pub diagnostics: &'a Diagnostics,
    /// Targets on the host itself are let through (`--proxy-allow-local`).
    pub allow_local: bool,
}

/// Which protocol the child on `conn` speaks, peeking (not taking) its
/// first byte within `wait`. `None`: it closed or said nothing in time.
pub fn sniff_conn(conn: &TcpStream, wait: Duration) -> Option<Spoken> {
    let mut first = [0u8; 1];
    conn.set_read_timeout(Some(wait)).ok()?;
    let spoken = match conn.peek(&mut first) {
        Ok(1) => Some(sniff(first[0])),
        _ => None,
    };
    let _ = conn.set_read_timeout(None);
    spoken
}

/// A connection set up, for the relay.
pub struct Ready {
    /// The child's end.
    pub child: TcpStream,
    /// The upstream's (a tunnel to the target).
    pub up: TcpStream,
    /// Only upstream → child is left to relay (a forwarded request's
    /// response body); what the child sends more is dropped.
    pub one_way: bool,
}

/// Serve an HTTP child through a SOCKS5 upstream up to the point where
/// only bytes remain to be relayed; returns both ends then. The child's
/// head is due by `deadline`, the end of its `bound` (named in the 408).
pub fn http_front(
    mut conn: TcpStream,
    upstream: &SocksUpstream<'_>,
    deadline: Instant,
    bound: Duration,
) -> Option<Ready> {
    let (buf, end) = match read_head_by(&mut conn, deadline, Vec::new()) {
        Ok(read) => read,
        Err(HeadError::TooLarge) => {
            let reason = format!(
                "a request head over {} KiB (the bridge reads heads up to that size)",
                MAX_HEAD / 1024
            );
            return fail(
                conn,
                upstream,
                (Refused::BadHead, "431 Request Header Fields Too Large"),
                reason,
            );
        }
        Err(HeadError::TimedOut) => {
            let reason = format!("no complete request head within {} s", bound.as_secs_f32());
            return fail(
                conn,
                upstream,
                (Refused::BadHead, "408 Request Timeout"),
                reason,
            );
        }
        Err(HeadError::Gone) => return None,
    };
    let mut request = match parse_request(&buf[..end]) {
        Ok(request) => request,
        // The child's own mistake: told to it, not worth a line on stderr.
        Err(refused) => {
            refusal::answer_http(conn, refused.status, &refused.reason);
            return None;
        }
    };
    // What came with a plain request's head counts against its body, and
    // a body broken already is refused before the upstream is connected.
    let mut with_head = buf.len() - end;
    if let Request::Forward { body, .. } = &mut request {
        with_head = body.take(&buf[end..]);
        if body.broken() {
            refusal::answer_http(conn, "400 Bad Request", BROKEN);
            return None;
        }
    }
    let (host, port) = match &request {
        Request::Connect { host, port } | Request::Forward { host, port, .. } => (host, *port),
    };
    if let Some(local) = host_local::classify(host).filter(|_| !upstream.allow_local) {
        let reason = refusal_reason(&format!("{host}:{port}"), local);
        return fail(conn, upstream, (Refused::Local, "403 Forbidden"), reason);
    }
    let (display, origin) = (upstream.display, upstream.origin);
    let mut up = match (upstream.connect)() {
        Ok(up) => up,
        Err(e) => {
            let reason =
                format!("the upstream proxy {display} (from {origin}) is not reachable: {e}");
            return fail(
                conn,
                upstream,
                (Refused::Unreachable, "502 Bad Gateway"),
                reason,
            );
        }
    };
    if let Err(e) = socks_connect(
        &mut up,
        upstream.login,
        host,
        port,
        HANDSHAKE_TIMEOUT,
        TARGET_TIMEOUT,
    ) {
        let upstream_is = format!("the SOCKS5 upstream {display} (from {origin})");
        let (status, reason) = match &e {
            _ if e.timed_out() => (
                (Refused::Tunnel, "504 Gateway Timeout"),
                format!("{upstream_is} did not answer in time for {host}:{port}"),
            ),
            ConnectError::Login(SocksAuthError::MethodRejected { method })
                if upstream.login.is_none() =>
            {
                (
                    (Refused::Login, "502 Bad Gateway"),
                    format!("{upstream_is} wants a login (it chose method {method:#04x}); put the user and password in the proxy URL (socks5h://USER:PASSWORD@HOST:PORT)"),
                )
            }
            ConnectError::Login(
                e @ (SocksAuthError::MethodRejected { .. }
                | SocksAuthError::BadCredentials { .. }),
            ) => (
                (Refused::Login, "502 Bad Gateway"),
                format!("{upstream_is} refused the login: {e}"),
            ),
            ConnectError::Refused { code: 2 } => (
                (Refused::Tunnel, "403 Forbidden"),
                format!("{upstream_is} refused a tunnel to {host}:{port}: {e}"),
            ),
            ConnectError::Refused { code: 6 } => (
                (Refused::Tunnel, "504 Gateway Timeout"),
                format!("{upstream_is} could not connect to {host}:{port}: {e}"),
            ),
            ConnectError::Refused { .. } => (
                (Refused::Tunnel, "502 Bad Gateway"),
                format!("{upstream_is} could not connect to {host}:{port}: {e}"),
            ),
            _ if e.closed() => (
                (Refused::Tunnel, "502 Bad Gateway"),
                format!("{upstream_is} closed the connection during the handshake for {host}:{port}"),
            ),
            _ => (
                (Refused::Tunnel, "502 Bad Gateway"),
                format!("{upstream_is} failed during the handshake for {host}:{port}: {e}"),
            ),
        };
        return fail(conn, upstream, status, reason);
    }
    // Bytes the child sent after its head (an eager TLS hello, a body's
    // start) go on after the tunnel is up.
    let rest = &buf[end..];
    let sent = match &request {
        Request::Connect { .. } => conn
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .and_then(|()| up.write_all(rest)),
        Request::Forward { head, body, .. } => {
            // Up to the body's end: the origin never gets a request after
            // it, which it might read otherwise than the front does.
            let request = [head.as_slice(), &rest[..with_head]].concat();
            let target = format!("{host}:{port}");
            let body = Some(body.clone());
            return match forward(
                &mut conn,
                &mut up,
                &request,
                &target,
                RESPONSE_TIMEOUT,
                body,
            ) {
                Ok(()) => Some(Ready {
                    child: conn,
                    up,
                    one_way: true,
                }),
                Err(Failure::Gone) => None,
                Err(Failure::Answer(status, reason)) => {
                    fail(conn, upstream, (Refused::Origin, status), reason)
                }
            };
        }
    };
    sent.ok().map(|()| Ready {
        child: conn,
        up,
        one_way: false,
    })
}

/// Answer `status` with `reason`, say it on stderr (counted as `kind`),
/// give up the connection.
fn fail(
    conn: TcpStream,
    upstream: &SocksUpstream<'_>,
    (kind, status): (Refused, &str),
    reason: String,
) -> Option<Ready> {
    // Told before the child hears it, so the host's line comes first.
    upstream.diagnostics.report(kind, &reason);
    refusal::answer_http(conn, status, &reason);
    None
}

#[cfg(test)]
#[path = "front_tests.rs"]
pub(crate) mod tests;
