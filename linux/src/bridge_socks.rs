//! A SOCKS5 child of a SOCKS5 upstream. The bridge answers the child's
//! greeting itself ("no authentication"), reads its request whole and
//! checks the target before anything reaches the upstream: a command other
//! than CONNECT gets reply 7, "command not supported"; a target on the
//! host itself (`crate::local_target`) gets reply 2, "connection not
//! allowed by ruleset", unless the user opted in. Then it greets the
//! upstream (logging in with the URL's credentials, if any), passes the
//! request on unchanged and reads the upstream's reply: a success opens
//! the tunnel, left to the relay; a failure is passed on and ends the
//! connection. A failure of the bridge's own on the way is reply 1,
//! "general SOCKS server failure", with the reason on stderr.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpStream};
use std::time::Instant;

use crate::bridge::{Credentials, Upstream};
use crate::front::TARGET_TIMEOUT;
use crate::front_parse::Host;
use crate::host_local;
use crate::local_target::refusal_reason;
use crate::refusal::{self, Refused, SOCKS_FAILURE};
use crate::relay_loop::Relay;
use crate::socks_connect::greet_without_login;
use crate::upstream_auth::{self, SocksAuthError, HANDSHAKE_TIMEOUT};

/// Reply 2, "connection not allowed by ruleset", bound address 0.0.0.0:0.
pub const SOCKS_NOT_ALLOWED: [u8; 10] = [5, 2, 0, 1, 0, 0, 0, 0, 0, 0];

/// Reply 7, "command not supported".
const SOCKS_BAD_COMMAND: [u8; 10] = [5, 7, 0, 1, 0, 0, 0, 0, 0, 0];

/// Reply 8, "address type not supported".
const SOCKS_BAD_ADDRESS: [u8; 10] = [5, 8, 0, 1, 0, 0, 0, 0, 0, 0];

/// Serve one SOCKS5 child of a SOCKS5 upstream; its greeting and request
/// are due by `deadline`.
pub(crate) fn socks_child(
    mut conn: TcpStream,
    upstream: &Upstream,
    relay: &Relay,
    deadline: Instant,
) {
    let left = || deadline.saturating_duration_since(Instant::now());
    // A child that does not offer "no authentication" hears "no
    // acceptable method" there.
    let Ok(greeting) = upstream_auth::read_greeting_within(&mut conn, left()) else {
        return;
    };
    if conn.write_all(&[5, 0]).is_err() {
        return;
    }
    let request = match read_request(&mut conn, greeting.rest, deadline) {
        Ok(request) => request,
        Err(Unread::Gone) => return,
        Err(Unread::AddressType(atyp)) => {
            let reason =
                format!("a SOCKS5 request with address type {atyp} (1, 3 and 4 are known)");
            upstream.diagnostics.report(Refused::Tunnel, &reason);
            return refusal::answer_bytes(conn, &SOCKS_BAD_ADDRESS);
        }
    };
    // Only CONNECT opens what the bridge checks and relays: BIND and UDP
    // ASSOCIATE would have the upstream listen or carry datagrams for
    // the child, out of the bridge's sight.
    let command = request.bytes[1];
    if command != 1 {
        let reason =
            format!("a SOCKS5 request with command {command} (only 1, CONNECT, is passed on)");
        upstream.diagnostics.report(Refused::Tunnel, &reason);
        return refusal::answer_bytes(conn, &SOCKS_BAD_COMMAND);
    }
    let (host, port) = match target_of(&request.bytes) {
        Ok(target) => target,
        Err(name) => {
            let reason = format!("a SOCKS5 request for {name:?}, which is not a host name");
            upstream.diagnostics.report(Refused::Tunnel, &reason);
            return refusal::answer_bytes(conn, &SOCKS_NOT_ALLOWED);
        }
    };
    if let Some(local) = host_local::classify(&host).filter(|_| !upstream.allow_local) {
        let reason = refusal_reason(&format!("{host}:{port}"), local);
        upstream.diagnostics.report(Refused::Local, &reason);
        return refusal::answer_bytes(conn, &SOCKS_NOT_ALLOWED);
    }
    let mut up = match upstream.connect() {
        Ok(up) => up,
        Err(e) => {
            upstream.unreachable(&e);
            return refusal::answer_bytes(conn, &SOCKS_FAILURE);
        }
    };
    let greeted = match &upstream.credentials {
        Credentials::Socks(login) => upstream_auth::socks_login(&mut up, login, HANDSHAKE_TIMEOUT),
        _ => greet_without_login(&mut up, HANDSHAKE_TIMEOUT),
    };
    if let Err(e) = greeted {
        let upstream_is = format!(
            "the SOCKS5 upstream {} (from {})",
            upstream.display, upstream.origin
        );
        let (kind, reason) = match &e {
            SocksAuthError::MethodRejected { method }
                if !matches!(upstream.credentials, Credentials::Socks(_)) =>
            {
                (Refused::Login, format!("{upstream_is} wants a login (it chose method {method:#04x}); put the user and password in the proxy URL (socks5h://USER:PASSWORD@HOST:PORT)"))
            }
            SocksAuthError::MethodRejected { .. } | SocksAuthError::BadCredentials { .. } => {
                (Refused::Login, format!("{upstream_is} refused the login: {e}"))
            }
            _ => (Refused::Tunnel, format!("{upstream_is} failed the greeting: {e}")),
        };
        // Told before the child hears it, so the host's line on stderr
        // comes before whatever the child prints about its failure.
        upstream.diagnostics.report(kind, &reason);
        return refusal::answer_bytes(conn, &SOCKS_FAILURE);
    }
    if up.write_all(&request.bytes).is_err() {
        return;
    }
    // The reply is read whole: only a success opens the tunnel (and lets
    // what the child sent after its request follow). After a failure the
    // connection ends, so an upstream that would read on finds nothing
    // more of the child's, a second request least of all.
    let reply = match read_reply(&mut up, Instant::now() + TARGET_TIMEOUT) {
        Ok(reply) => reply,
        Err(e) => {
            let reason = format!(
                "the SOCKS5 upstream {} (from {}) gave no reply for {host}:{port}: {e}",
                upstream.display, upstream.origin
            );
            upstream.diagnostics.report(Refused::Tunnel, &reason);
            return refusal::answer_bytes(conn, &SOCKS_FAILURE);
        }
    };
    if reply[1] != 0 {
        return refusal::answer_bytes(conn, &reply);
    }
    let _ = up.set_read_timeout(None);
    if conn.write_all(&reply).is_ok() && up.write_all(&request.rest).is_ok() {
        let _ = relay.add(conn, up);
    }
}

/// The upstream's reply (`VER REP RSV ATYP BND.ADDR BND.PORT`), whole, by
/// `deadline`.
fn read_reply(up: &mut TcpStream, deadline: Instant) -> io::Result<Vec<u8>> {
    let mut reply = Vec::with_capacity(22);
    let mut byte = [0u8; 1];
    loop {
        match request_len(&reply) {
            Ok(Some(len)) if reply.len() >= len => return Ok(reply),
            Err(Unread::AddressType(atyp)) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("address type {atyp} in the reply"),
                ))
            }
            _ => {}
        }
        if reply.len() == 1 && reply[0] != 5 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not SOCKS5 (version {})", reply[0]),
            ));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        up.set_read_timeout(Some(left))?;
        // A byte at a time: what follows the reply is the tunnel's, and
        // stays in the socket for the relay.
        match up.read(&mut byte) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => reply.push(byte[0]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Err(io::ErrorKind::TimedOut.into())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The child's request (`VER CMD RSV ATYP DST.ADDR DST.PORT`), whole, and
/// what it sent after it.
#[derive(Debug)]
pub(crate) struct SocksRequest {
    pub(crate) bytes: Vec<u8>,
    pub(crate) rest: Vec<u8>,
}

/// Why no request was read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unread {
    /// It left, said too little in time, or is not SOCKS5.
    Gone,
    /// An address type SOCKS5 does not have.
    AddressType(u8),
}

/// Read the request, all of it by `deadline`; `buf` holds what already
/// came of it.
pub(crate) fn read_request(
    conn: &mut TcpStream,
    mut buf: Vec<u8>,
    deadline: Instant,
) -> Result<SocksRequest, Unread> {
    let mut chunk = [0u8; 512];
    loop {
        if buf.first().is_some_and(|&v| v != 5) {
            return Err(Unread::Gone);
        }
        if let Some(len) = request_len(&buf)? {
            if buf.len() >= len {
                let rest = buf.split_off(len);
                let _ = conn.set_read_timeout(None);
                return Ok(SocksRequest { bytes: buf, rest });
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return Err(Unread::Gone);
        }
        match conn.read(&mut chunk) {
            Ok(0) => return Err(Unread::Gone),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Err(Unread::Gone),
        }
    }
}

/// The request's length once enough of it is known.
fn request_len(b: &[u8]) -> Result<Option<usize>, Unread> {
    let Some(&atyp) = b.get(3) else {
        return Ok(None);
    };
    let addr = match atyp {
        1 => 4,
        4 => 16,
        3 => match b.get(4) {
            Some(&n) => 1 + usize::from(n),
            None => return Ok(None),
        },
        other => return Err(Unread::AddressType(other)),
    };
    Ok(Some(4 + addr + 2))
}

/// The target of a whole request; a name that is not a host name (bytes
/// a resolver might cut at or read its own way) is returned as the error.
pub(crate) fn target_of(request: &[u8]) -> Result<(Host, u16), String> {
    let addr = &request[4..request.len() - 2];
    let port = u16::from_be_bytes([request[request.len() - 2], request[request.len() - 1]]);
    let host = match request[3] {
        1 => Host::V4(Ipv4Addr::from(
            <[u8; 4]>::try_from(addr).unwrap_or_default(),
        )),
        4 => Host::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(addr).unwrap_or_default(),
        )),
        _ => {
            let name = &addr[1..];
            let text = String::from_utf8_lossy(name).into_owned();
            if name.is_empty()
                || !name
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(b))
            {
                return Err(text);
            }
            Host::Name(text)
        }
    };
    Ok((host, port))
}

#[cfg(test)]
#[path = "bridge_socks_tests.rs"]
mod tests;
