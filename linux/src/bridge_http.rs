//! An HTTP child of an HTTP upstream. The bridge reads each request head
//! (bounded in size and time) and finds its target before anything goes
//! upstream: the `CONNECT` authority, an absolute URL's authority, and
//! every `Host` header (the target of an origin-form request, and what a
//! lenient upstream may go by). A target on the host itself is refused
//! with `403 Forbidden` unless the user opted in (`crate::local_target`).
//!
//! Then the head goes to the upstream, with the URL's credentials when it
//! has some (`crate::upstream_auth`). A tunnel is handed to the relay. A
//! plain request is marked `close` and only its body (as its head frames
//! it) follows; the upstream's response head is read and passed on with
//! `Connection: close`, and from then on nothing the child sends reaches
//! the upstream (`crate::front_response`): a second request on the same
//! connection, which the bridge would not have looked at, cannot ride on
//! the first one's check.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Instant;

use crate::bridge::{Credentials, Upstream};
use crate::front_parse::{authority, Host, Refusal};
use crate::front_response::{forward, Failure, RESPONSE_TIMEOUT};
use crate::local_target::{classify_host, refusal_reason};
use crate::refusal::{self, Protocol, Refused};
use crate::relay_loop::Relay;
use crate::upstream_auth::{self, ChildHead, MAX_HEAD};

/// Serve one HTTP child of an HTTP upstream; its head is due by `deadline`.
pub(crate) fn http_child(
    mut conn: TcpStream,
    upstream: &Upstream,
    relay: &Relay,
    deadline: Instant,
) {
    let auth = match &upstream.credentials {
        Credentials::Http(auth) => Some(auth.as_str()),
        _ => None,
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let head = match upstream_auth::read_request_head(&mut conn, left, auth.is_some()) {
        Ok(head) => head,
        Err(e) => return refuse_head(conn, upstream, e),
    };
    let target = match target_of(head.head()) {
        Ok(target) => target,
        // The child's own mistake: told to it, not worth a line on stderr.
        Err(refused) => return refusal::answer_http(conn, refused.status, &refused.reason),
    };
    if !upstream.allow_local {
        let local = target
            .hosts
            .iter()
            .find_map(|(host, port)| Some((host, port, classify_host(host)?)));
        if let Some((host, port, local)) = local {
            let reason = refusal_reason(&format!("{host}:{port}"), local);
            upstream.diagnostics.report(Refused::Local, &reason);
            return refusal::answer_http(conn, "403 Forbidden", &reason);
        }
    }
    let mut up = match upstream.connect() {
        Ok(up) => up,
        Err(e) => {
            let reason = upstream.unreachable(&e);
            return refusal::answer_http(conn, "502 Bad Gateway", &reason);
        }
    };
    if head.is_connect() {
        if up
            .write_all(&upstream_auth::outgoing_head(&head, auth, usize::MAX))
            .is_err()
        {
            return;
        }
        // A tunnel's answer comes before anything the child waits for, so
        // looking at it costs no time. The peek leaves the answer for the
        // relay to pass on.
        if auth.is_some()
            && upstream_auth::peek_status(&up, upstream_auth::HANDSHAKE_TIMEOUT)
                == Some(upstream_auth::PROXY_AUTH_REQUIRED)
        {
            upstream.diagnostics.report(
                Refused::Login,
                &format!(
                    "the HTTP upstream {} (from {}) refused the credentials (407)",
                    upstream.display, upstream.origin
                ),
            );
        }
        let _ = relay.add(conn, up);
        return;
    }
    plain(conn, up, upstream, &head, auth, &target.text, relay);
}

/// A plain request: the head, its body as framed, the answer's head read
/// and passed on; only the answer's body is left to relay.
fn plain(
    mut conn: TcpStream,
    mut up: TcpStream,
    upstream: &Upstream,
    head: &ChildHead,
    auth: Option<&str>,
    target: &str,
    relay: &Relay,
) {
    let body = match body_length(head.head()) {
        Ok(body) => body,
        Err(refused) => return refusal::answer_http(conn, refused.status, &refused.reason),
    };
    // What came with the head counts against the body; beyond it, nothing.
    let sent = body.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let more = body.map(|n| n.saturating_sub(head.rest().len() as u64));
    let request = upstream_auth::outgoing_head(head, auth, sent);
    match forward(&mut conn, &mut up, &request, target, RESPONSE_TIMEOUT, more) {
        Ok(()) => {
            let _ = relay.add_one_way(conn, up);
        }
        Err(Failure::Gone) => {}
        Err(Failure::Answer(status, reason)) => {
            upstream.diagnostics.report(Refused::Origin, &reason);
            refusal::answer_http(conn, status, &reason);
        }
    }
}

/// Answer a head that could not be read or is not to be sent, as its
/// error says (`upstream_auth::read_request_head`).
fn refuse_head(conn: TcpStream, upstream: &Upstream, e: io::Error) {
    let credentials = match &upstream.credentials {
        Credentials::Http(_) => format!(
            "the bridge adds the credentials of {} only after one",
            upstream.display
        ),
        _ => "the bridge reads each request's target before it goes upstream".to_string(),
    };
    match e.kind() {
        io::ErrorKind::InvalidData => {
            let reason = match &upstream.credentials {
                Credentials::Http(_) => format!(
                    "a request head over {} KiB (the bridge adds the credentials of {} to heads up to that size)",
                    MAX_HEAD / 1024,
                    upstream.display
                ),
                _ => format!(
                    "a request head over {} KiB (the bridge reads heads up to that size)",
                    MAX_HEAD / 1024
                ),
            };
            upstream.diagnostics.report(Refused::BadHead, &reason);
            refusal::refuse(conn, Protocol::Http, &reason);
        }
        io::ErrorKind::InvalidInput => {
            let reason = format!(
                "a request head that does not start with an HTTP/1.x request line ({credentials})"
            );
            upstream
                .diagnostics
                .report(Refused::BadRequestLine, &reason);
            refusal::answer_http(conn, "400 Bad Request", &reason);
        }
        io::ErrorKind::PermissionDenied => {
            let reason = format!(
                "a {e} request (its answer would echo the credentials the bridge adds for {})",
                upstream.display
            );
            upstream.diagnostics.report(Refused::Echo, &reason);
            refusal::answer_http(conn, "405 Method Not Allowed", &reason);
        }
        // It left, or said too little in time: nothing to tell it.
        _ => {}
    }
}

/// Where a request goes, as far as the bridge can tell.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The request line's target, for messages.
    pub(crate) text: String,
    /// Every host the request names: its authority, then its `Host`
    /// headers.
    pub(crate) hosts: Vec<(Host, u16)>,
}

fn bad(reason: String) -> Refusal {
    Refusal {
        status: "400 Bad Request",
        reason,
    }
}

/// The target of a head (request line first, blank line dropped) that
/// [`upstream_auth::read_request_head`] let through.
pub(crate) fn target_of(head: &[u8]) -> Result<Target, Refusal> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let mut hosts = Vec::new();
    if method.eq_ignore_ascii_case("CONNECT") {
        hosts.push(authority(target, None)?);
    } else if let Some((scheme, rest)) = target.split_once("://") {
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let default = if scheme.eq_ignore_ascii_case("https") {
            443
        } else {
            80
        };
        hosts.push(authority(&rest[..end], Some(default))?);
    }
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("host") && !value.trim().is_empty() {
            hosts.push(authority(value.trim(), Some(80))?);
        }
    }
    if hosts.is_empty() {
        return Err(bad(format!(
            "{method} {target}: no target (neither CONNECT host:port, an absolute URL, nor a Host header)"
        )));
    }
    Ok(Target {
        text: target.to_string(),
        hosts,
    })
}

/// How many body bytes a plain request's head announces: `Some(0)`
/// without a body, `None` for a chunked one (its end is the upstream's to
/// find; `Connection: close` keeps a request after it from being served).
fn body_length(head: &[u8]) -> Result<Option<u64>, Refusal> {
    let text = String::from_utf8_lossy(head);
    let mut length: Option<u64> = None;
    for line in text.split('\n').skip(1) {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Ok(None);
        }
        if name.eq_ignore_ascii_case("content-length") {
            let value = value.trim();
            let n = value
                .parse::<u64>()
                .ok()
                .filter(|_| value.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| bad(format!("Content-Length {value:?} is not a number")))?;
            if length.is_some_and(|l| l != n) {
                return Err(bad("two different Content-Length headers".into()));
            }
            length = Some(n);
        }
    }
    Ok(Some(length.unwrap_or(0)))
}

#[cfg(test)]
#[path = "bridge_http_tests.rs"]
mod tests;
