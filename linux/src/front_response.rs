//! The HTTP front's plain `http://` request: the origin's answer.
//!
//! Clients pool connections per proxy, not per origin (urllib3, undici):
//! if the connection to the bridge stayed open after a forwarded request,
//! the client's next request, meant for another host and carrying that
//! host's cookies or `Authorization`, would go raw to the first origin.
//! So the bridge reads the origin's response head itself (bounded in size
//! and time), passes it on with `Connection: close` and
//! `Proxy-Connection: close` in place of the origin's own connection
//! headers, and from then on nothing the child sends reaches the origin:
//! the connection ends with the response.
//!
//! Until that head arrives, the child's bytes (a request body) go on to
//! the origin; interim `1xx` answers (`100 Continue`) are passed on as is.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::body_framing::{Framing, BROKEN};
use crate::front_parse::{read_head_by, HeadError};
use crate::upstream_auth::MAX_HEAD;

/// How long the origin may take to start its answer (its response head)
/// once the request is sent, counted from the last bytes of the body that
/// went on (an upload may take longer), and then to complete that head.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// How many interim (`1xx`) heads may come before the final one. Each is
/// due within the wait of the one before, so without a cap an origin
/// sending one a minute would hold the set-up thread for ever; real ones
/// send one `100 Continue` or a few `103 Early Hints`.
pub const MAX_INTERIM: usize = 16;

/// Why a forwarded request got no usable answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// The child's end failed or closed: nothing to tell it.
    Gone,
    /// Tell the child this status and reason.
    Answer(&'static str, String),
}

/// What one response head is.
#[derive(Debug, PartialEq, Eq)]
pub enum Head {
    /// `1xx` (not `101`): passed on as is; the final answer follows.
    Interim,
    /// The final head, rewritten to close the connection.
    Final(Vec<u8>),
}

/// Send `request` (head and whatever the child sent after it) to the
/// origin on `up`, and answer the child on `conn` with the origin's
/// response head. Afterwards only the response body is left to relay,
/// origin → child ([`crate::relay_loop::Relay::add_one_way`]).
/// `origin` names the target in messages. `body`: where the body that
/// follows `request` ends (`None`: it goes on until the answer), so that
/// a second request sent on its heels is not passed on.
pub fn forward(
    conn: &mut TcpStream,
    up: &mut TcpStream,
    request: &[u8],
    origin: &str,
    wait: Duration,
    body: Option<Framing>,
) -> Result<(), Failure> {
    // An origin that stops reading must not hold this thread or the copy
    // (and their sockets) forever. (The relay, later, does not block.)
    up.set_write_timeout(Some(wait)).map_err(internal)?;
    up.write_all(request).map_err(|_| Failure::Gone)?;
    let copy = Arc::new(Copy {
        stop: AtomicBool::new(false),
        broken: AtomicBool::new(false),
        start: Instant::now(),
        last_sent_ms: AtomicU64::new(0),
    });
    let (from, to) = match (conn.try_clone(), up.try_clone()) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => return Err(internal(e)),
    };
    let shared = Arc::clone(&copy);
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || copy_until(from, to, &shared, body))
        .map_err(internal)?;
    let answered = answer(conn, up, origin, wait, &copy);
    // Whatever happened, the copy stops: a chunk it reads from now on is
    // dropped, and it ends at the child's EOF (or an error: the relay
    // makes the sockets non-blocking).
    copy.stop.store(true, Ordering::SeqCst);
    let answered = match answered {
        // The copy cut the origin's connection (and so the answer) short.
        Err(_) if copy.broken.load(Ordering::SeqCst) => {
            Err(Failure::Answer("400 Bad Request", BROKEN.into()))
        }
        other => other,
    };
    if answered.is_err() {
        // The child gets an answer and the connection ends: wake the copy.
        let _ = conn.shutdown(Shutdown::Read);
    }
    answered
}

/// What the answer and the copy of the child's bytes share.
struct Copy {
    /// The final answer is on its way: the child's bytes go no further.
    stop: AtomicBool,
    /// The body broke its syntax; the origin's connection was cut.
    broken: AtomicBool,
    /// When the request went.
    start: Instant,
    /// When the copy last passed bytes on, in ms after `start`: the wait
    /// for the answer counts from then (an upload may take longer than
    /// the wait itself).
    last_sent_ms: AtomicU64,
}

impl Copy {
    fn last_sent(&self) -> Instant {
        self.start + Duration::from_millis(self.last_sent_ms.load(Ordering::SeqCst))
    }
}

fn internal(e: io::Error) -> Failure {
    Failure::Answer(
        "502 Bad Gateway",
        format!("the bridge could not relay the request body: {e}"),
    )
}

/// The child's bytes to the origin until `stop`, up to the end of `body`.
/// A chunk read before `stop` was set was sent before the child got the
/// final response head, so it belongs to this request; anything later is
/// dropped. A body that breaks its syntax cuts the origin's connection:
/// the origin never acts on an incomplete request.
fn copy_until(mut from: TcpStream, mut to: TcpStream, copy: &Copy, mut body: Option<Framing>) {
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if body.as_ref().is_some_and(Framing::done) {
            return;
        }
        match from.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                let take = body.as_mut().map_or(n, |b| b.take(&chunk[..n]));
                if copy.stop.load(Ordering::SeqCst) || to.write_all(&chunk[..take]).is_err() {
                    return;
                }
                if body.as_ref().is_some_and(Framing::broken) {
                    copy.broken.store(true, Ordering::SeqCst);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
                let ms = u64::try_from(copy.start.elapsed().as_millis()).unwrap_or(u64::MAX);
                copy.last_sent_ms.store(ms, Ordering::SeqCst);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Wait until the origin starts an answer: `wait` after the child's last
/// bytes went on (so a long upload is not cut short). False: it did not.
fn answer_starts(up: &TcpStream, wait: Duration, copy: &Copy) -> bool {
    loop {
        let left = (copy.last_sent() + wait).saturating_duration_since(Instant::now());
        if left.is_zero() || up.set_read_timeout(Some(left)).is_err() {
            return false;
        }
        match up.peek(&mut [0u8; 1]) {
            // Bytes, or the end: read_head_by tells which.
            Ok(_) => return true,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return true,
        }
    }
}

/// Read the origin's heads until the final one; pass interim ones on as
/// is, then the final one rewritten (with the body's start after it).
/// Each head is due `wait` after the child's last bytes went on, and
/// whole `wait` after it started.
fn answer(
    conn: &mut TcpStream,
    up: &mut TcpStream,
    origin: &str,
    wait: Duration,
    copy: &Copy,
) -> Result<(), Failure> {
    let mut buf = Vec::new();
    let mut interim = 0;
    loop {
        let timed_out = || {
            Failure::Answer(
                "504 Gateway Timeout",
                format!(
                    "the origin {origin}: no complete response head within {} s",
                    wait.as_secs_f32()
                ),
            )
        };
        if buf.is_empty() && !answer_starts(up, wait, copy) {
            return Err(timed_out());
        }
        let deadline = Instant::now() + wait;
        let (read, end) = read_head_by(up, deadline, buf).map_err(|e| {
            let (status, why) = match e {
                HeadError::TooLarge => (
                    "502 Bad Gateway",
                    format!("a response head over {} KiB", MAX_HEAD / 1024),
                ),
                HeadError::TimedOut => return timed_out(),
                HeadError::Gone => (
                    "502 Bad Gateway",
                    "the connection closed before a complete response head".to_string(),
                ),
            };
            Failure::Answer(status, format!("the origin {origin}: {why}"))
        })?;
        let head = rewrite(&read[..end]).map_err(|why| {
            Failure::Answer(
                "502 Bad Gateway",
                format!("the origin {origin} sent a malformed response head: {why}"),
            )
        })?;
        match head {
            Head::Interim if interim == MAX_INTERIM => {
                return Err(Failure::Answer(
                    "502 Bad Gateway",
                    format!(
                        "the origin {origin}: more than {MAX_INTERIM} interim (1xx) response heads"
                    ),
                ));
            }
            Head::Interim => {
                interim += 1;
                conn.write_all(&read[..end]).map_err(|_| Failure::Gone)?;
                buf = read[end..].to_vec();
            }
            Head::Final(head) => {
                // Set before the child can see the head: from here on its
                // bytes (a next request) never reach the origin.
                copy.stop.store(true, Ordering::SeqCst);
                return conn
                    .write_all(&head)
                    .and_then(|()| conn.write_all(&read[end..]))
                    .map_err(|_| Failure::Gone);
            }
        }
    }
}

/// Check a response head (through its blank line) and, when final, drop
/// its connection headers (`Connection`, `Keep-Alive`, `Proxy-Connection`
/// and any `Connection` names) and add `Connection: close` and
/// `Proxy-Connection: close`. The reason, when it is not accepted.
pub fn rewrite(head: &[u8]) -> Result<Head, String> {
    let Some(text) = head.strip_suffix(b"\r\n\r\n") else {
        return Err("its lines end in LF alone, not CRLF".into());
    };
    let mut lines = split_crlf(text);
    let status = lines.next().unwrap_or_default();
    let code = status_code(status).ok_or_else(|| {
        format!(
            "not a status line: {:?}",
            String::from_utf8_lossy(&status[..status.len().min(80)])
        )
    })?;
    let lines: Vec<&[u8]> = lines.collect();
    if status.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err("a stray CR, LF or NUL in the status line".into());
    }
    let mut listed: Vec<String> = Vec::new();
    for line in &lines {
        // A CR or LF alone (or NUL) could start a header of its own at
        // the child (a `Connection: keep-alive` past this filter); a
        // folded line would hide one.
        if line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err("a stray CR, LF or NUL in a header line".into());
        }
        if line.first().is_some_and(|b| matches!(b, b' ' | b'\t')) {
            return Err("a folded header line".into());
        }
        let name = header_name(line).ok_or_else(|| {
            format!(
                "not a header line: {:?}",
                String::from_utf8_lossy(&line[..line.len().min(80)])
            )
        })?;
        if name.eq_ignore_ascii_case("connection") {
            let value = String::from_utf8_lossy(&line[name.len() + 1..]).to_ascii_lowercase();
            listed.extend(value.split(',').map(|t| t.trim().to_string()));
        }
    }
    if code == 101 {
        return Err("101 Switching Protocols (each request gets a connection of its own; an upgrade is not passed on)".into());
    }
    if (100..200).contains(&code) {
        return Ok(Head::Interim);
    }
    let mut out = status.to_vec();
    out.extend_from_slice(b"\r\n");
    for line in lines {
        let name = header_name(line).unwrap_or_default().to_ascii_lowercase();
        if ["connection", "keep-alive", "proxy-connection"].contains(&name.as_str())
            || listed.contains(&name)
        {
            continue;
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\nProxy-Connection: close\r\n\r\n");
    Ok(Head::Final(out))
}

/// `HTTP/1.x NNN[ reason]` → NNN.
pub(crate) fn status_code(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let (minor, rest) = rest.split_first()?;
    let rest = rest.strip_prefix(b" ")?;
    if !minor.is_ascii_digit() || rest.len() < 3 || !rest[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if rest.len() > 3 && rest[3] != b' ' {
        return None;
    }
    std::str::from_utf8(&rest[..3]).ok()?.parse().ok()
}

/// A header line's name (before its colon): a token, no spaces.
fn header_name(line: &[u8]) -> Option<&str> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&line[..colon]).ok()?;
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    (!name.is_empty() && name.chars().all(token)).then_some(name)
}

fn split_crlf(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let now = rest?;
        match now.windows(2).position(|w| w == b"\r\n") {
            Some(i) => {
                rest = Some(&now[i + 2..]);
                Some(&now[..i])
            }
            None => {
                rest = None;
                Some(now)
            }
        }
    })
}

#[cfg(test)]
#[path = "front_response_tests.rs"]
mod tests;
