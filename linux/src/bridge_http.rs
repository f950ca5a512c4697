//! An HTTP child of an HTTP upstream. The bridge reads each request head
//! (bounded in size and time) and finds its target before anything goes
//! upstream: the `CONNECT` authority, an absolute URL's authority (other
//! forms are refused), and every `Host` header (what a lenient upstream
//! may go by). A target on the host itself is refused with
//! `403 Forbidden` unless the user opted in (`crate::local_target`).
//!
//! Then the head goes to the upstream, with the URL's credentials when it
//! has some (`crate::upstream_auth`). A `CONNECT`'s answer is read: a
//! `2xx` opens the tunnel, handed to the relay; any other answer ends the
//! connection as a plain request's does. A plain request is marked
//! `close` and only its body follows, up to its end as its head frames it
//! (`crate::body_framing`); the upstream's response head is read and
//! passed on with `Connection: close`, and from then on nothing the child
//! sends reaches the upstream (`crate::front_response`): a second request
//! on the same connection, which the bridge would not have looked at,
//! cannot ride on the first one's check, even where the upstream would
//! read on.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::Instant;

use crate::body_framing::{Framing, BROKEN};
use crate::bridge::{Credentials, Upstream};
use crate::front::TARGET_TIMEOUT;
use crate::front_parse::{authority, read_head_by, HeadError, Host, Refusal};
use crate::front_response::{forward, rewrite, status_code, Failure, Head, RESPONSE_TIMEOUT};
use crate::host_local;
use crate::local_target::refusal_reason;
use crate::refusal::{self, Protocol, Refused};
use crate::relay_loop::Relay;
use crate::request_fields::check_head;
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
    let mut body = match check_head(head.head()) {
        Ok(body) => body,
        Err(refused) => return refusal::answer_http(conn, refused.status, &refused.reason),
    };
    // What came with a plain request's head counts against its body;
    // beyond it, nothing. A body broken already is refused here, before
    // the upstream is connected.
    let sent = if head.is_connect() {
        0
    } else {
        body.take(head.rest())
    };
    if body.broken() {
        return refusal::answer_http(conn, "400 Bad Request", BROKEN);
    }
    if !upstream.allow_local {
        let local = target
            .hosts
            .iter()
            .find_map(|(host, port)| Some((host, port, host_local::classify(host)?)));
        if let Some((host, port, local)) = local {
            let reason = refusal_reason(&format!("{host}:{port}"), local);
            upstream.diagnostics.report(Refused::Local, &reason);
            return refusal::answer_http(conn, "403 Forbidden", &reason);
        }
    }
    let up = match upstream.connect() {
        Ok(up) => up,
        Err(e) => {
            let reason = upstream.unreachable(&e);
            return refusal::answer_http(conn, "502 Bad Gateway", &reason);
        }
    };
    if head.is_connect() {
        return tunnel(conn, up, upstream, &head, auth, &target.text, relay);
    }
    plain(
        conn,
        up,
        upstream,
        (&head, body, sent),
        auth,
        &target.text,
        relay,
    );
}

/// A `CONNECT`: the head alone goes first, and the upstream's answer is
/// read. Only a `2xx` opens the tunnel (what the child sent after its head
/// follows then); any other answer is passed on with `Connection: close`,
/// and nothing more of the child's reaches the upstream, which might
/// otherwise read it as a next request, unchecked.
fn tunnel(
    mut conn: TcpStream,
    mut up: TcpStream,
    upstream: &Upstream,
    head: &ChildHead,
    auth: Option<&str>,
    target: &str,
    relay: &Relay,
) {
    if up
        .write_all(&upstream_auth::outgoing_head(head, auth, 0))
        .is_err()
    {
        return;
    }
    let upstream_is = format!(
        "the HTTP upstream {} (from {})",
        upstream.display, upstream.origin
    );
    let deadline = Instant::now() + TARGET_TIMEOUT;
    let mut buf = Vec::new();
    loop {
        let (read, end) = match read_head_by(&mut up, deadline, buf) {
            Ok(read) => read,
            Err(e) => {
                let (status, why) = match e {
                    HeadError::TimedOut => (
                        "504 Gateway Timeout",
                        format!("did not answer in time for {target}"),
                    ),
                    HeadError::TooLarge => (
                        "502 Bad Gateway",
                        format!("answered {target} with a head over {} KiB", MAX_HEAD / 1024),
                    ),
                    HeadError::Gone => (
                        "502 Bad Gateway",
                        format!("closed the connection before its answer for {target}"),
                    ),
                };
                let reason = format!("{upstream_is} {why}");
                upstream.diagnostics.report(Refused::Tunnel, &reason);
                return refusal::answer_http(conn, status, &reason);
            }
        };
        let code = status_code(read.split(|&b| b == b'\n').next().unwrap_or_default());
        if code == Some(upstream_auth::PROXY_AUTH_REQUIRED) && auth.is_some() {
            upstream.diagnostics.report(
                Refused::Login,
                &format!("{upstream_is} refused the credentials (407)"),
            );
        }
        if code.is_some_and(|c| (200..300).contains(&c)) {
            let opened = conn
                .write_all(&read)
                .and_then(|()| up.write_all(head.rest()));
            if opened.is_ok() {
                let _ = relay.add(conn, up);
            }
            return;
        }
        match rewrite(&read[..end]) {
            Ok(Head::Interim) => {
                if conn.write_all(&read[..end]).is_err() {
                    return;
                }
                buf = read[end..].to_vec();
            }
            Ok(Head::Final(answer)) => {
                let told = conn
                    .write_all(&answer)
                    .and_then(|()| conn.write_all(&read[end..]));
                if told.is_ok() {
                    let _ = relay.add_one_way(conn, up);
                }
                return;
            }
            Err(why) => {
                let reason = format!("{upstream_is} sent a malformed answer for {target}: {why}");
                upstream.diagnostics.report(Refused::Tunnel, &reason);
                return refusal::answer_http(conn, "502 Bad Gateway", &reason);
            }
        }
    }
}

/// A plain request: the head with the `sent` bytes of its body that came
/// with it, the rest of the body as framed, the answer's head read
/// and passed on; only the answer's body is left to relay.
fn plain(
    mut conn: TcpStream,
    mut up: TcpStream,
    upstream: &Upstream,
    (head, body, sent): (&ChildHead, Framing, usize),
    auth: Option<&str>,
    target: &str,
    relay: &Relay,
) {
    let request = upstream_auth::outgoing_head(head, auth, sent);
    match forward(
        &mut conn,
        &mut up,
        &request,
        target,
        RESPONSE_TIMEOUT,
        Some(body),
    ) {
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
    } else {
        // Absolute form only, as clients speak to a proxy: an origin-form
        // target (`/`, `//host/`, `*`) leaves it to the upstream to guess.
        let (scheme, rest) = target
            .split_once("://")
            .filter(|(scheme, _)| is_scheme(scheme))
            .ok_or_else(|| {
                bad(format!(
                    "{method} {target}: not a proxy request (the target must be CONNECT host:port or an absolute URL)"
                ))
            })?;
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
    Ok(Target {
        text: target.to_string(),
        hosts,
    })
}

/// RFC 3986's `scheme`: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(text: &str) -> bool {
    text.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

#[cfg(test)]
#[path = "bridge_http_tests.rs"]
mod tests;
