use super::*;
use std::io::Read;
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Instant;

/// A scripted SOCKS5 upstream for one connection: answers the greeting
/// with `method`, a login with `login_status`, the CONNECT request with
/// `reply`; then echoes "up:" and what it reads after the request. Sends
/// everything it read before its last answer over the channel.
fn socks_upstream(method: u8, login_status: u8, reply: u8) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut seen = Vec::new();
        let mut take = |s: &mut TcpStream, n: usize| {
            let mut b = vec![0u8; n];
            s.read_exact(&mut b).unwrap();
            seen.extend_from_slice(&b);
            b
        };
        let greet = take(&mut s, 2);
        take(&mut s, usize::from(greet[1]));
        s.write_all(&[5, method]).unwrap();
        if method == 2 {
            let u = take(&mut s, 2);
            let p = take(&mut s, usize::from(u[1]) + 1);
            take(&mut s, usize::from(p[p.len() - 1]));
            s.write_all(&[1, login_status]).unwrap();
            if login_status != 0 {
                return tx.send(seen).unwrap();
            }
        } else if method != 0 {
            return tx.send(seen).unwrap();
        }
        let req = take(&mut s, 5);
        take(&mut s, usize::from(req[4]) + 2);
        tx.send(seen).unwrap();
        // Bound address as a name, to check it is read whole.
        s.write_all(&[5, reply, 0, 3, 2, b'u', b'p', 0, 1]).unwrap();
        if reply == 0 {
            let mut after = [0u8; 64];
            let n = s.read(&mut after).unwrap_or(0);
            let _ = s.write_all(&[b"up:", &after[..n]].concat());
        }
    });
    (port, rx)
}

fn login() -> SocksLogin {
    SocksLogin {
        username: "alice".into(),
        password: "pw".into(),
    }
}

/// Run the front for a child that sends `request`, against an upstream on
/// `port`; returns what the child got back (the relay's part played by a
/// plain copy) and what was reported.
fn front(port: u16, login: Option<&SocksLogin>, request: &[u8]) -> (String, Vec<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (conn, _) = l.accept().unwrap();
    child.write_all(request).unwrap();
    // Done sending: a refusal's drain of the rest ends at once.
    child.shutdown(std::net::Shutdown::Write).unwrap();
    let connect = || TcpStream::connect(("127.0.0.1", port));
    let diagnostics = Diagnostics::default();
    let up = SocksUpstream {
        connect: &connect,
        login,
        display: "socks5h://proxy:1080",
        origin: "ALL_PROXY",
        diagnostics: &diagnostics,
        allow_local: false,
    };
    if let Some(Ready {
        child: conn,
        up: mut upstream,
        ..
    }) = http_front(
        conn,
        &up,
        Instant::now() + Duration::from_secs(5),
        Duration::from_secs(5),
    ) {
        // What the upstream sends back goes to the child (a stand-in for
        // the relay, which passes the child's end of input on).
        let _ = upstream.shutdown(std::net::Shutdown::Write);
        upstream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let _ = upstream.read_to_end(&mut got);
        (&conn).write_all(&got).unwrap();
    }
    child
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = String::new();
    let _ = child.read_to_string(&mut got);
    (got, diagnostics.reported())
}

fn body(status: &str, reason: &str) -> String {
    String::from_utf8(refusal::http_status_response(status, reason)).unwrap()
}

#[test]
fn connect_is_a_socks5_tunnel_to_the_name() {
    let (port, seen) = socks_upstream(2, 0, 0);
    let (got, reported) = front(
        port,
        Some(&login()),
        b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\nhello",
    );
    assert_eq!(got, "HTTP/1.1 200 Connection established\r\n\r\nup:hello");
    assert!(reported.is_empty(), "{reported:?}");
    assert_eq!(
        seen.recv().unwrap(),
        b"\x05\x01\x02\x01\x05alice\x02pw\x05\x01\x00\x03\x0borigin.test\x01\xbb"
    );
}

/// A SOCKS5 upstream (no login) whose tunnel leads to a keep-alive origin:
/// it answers each request head it reads with `answer` and never closes
/// first. Sends each request (and "EOF" at the end) over the channel.
pub(crate) fn keep_alive_origin(answer: &'static str) -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b[..3]).unwrap();
        s.write_all(&[5, 0]).unwrap();
        s.read_exact(&mut b).unwrap();
        let mut rest = vec![0u8; usize::from(b[4]) + 2];
        s.read_exact(&mut rest).unwrap();
        s.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = buf.drain(..i + 4).collect();
                tx.send(String::from_utf8(head).unwrap()).unwrap();
                s.write_all(answer.as_bytes()).unwrap();
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let _ = tx.send("EOF".into());
    });
    (port, rx)
}

#[test]
fn an_absolute_form_request_goes_to_the_origin_in_origin_form() {
    let (port, seen) =
        keep_alive_origin("HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
    let (got, _) = front(
        port,
        None,
        b"GET http://origin.test/x HTTP/1.1\r\nHost: origin.test\r\nProxy-Connection: keep-alive\r\n\r\n",
    );
    assert_eq!(
        seen.recv().unwrap(),
        "GET /x HTTP/1.1\r\nHost: origin.test\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(
        got,
        "HTTP/1.1 204 No Content\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n"
    );
}

/// An origin's answer that is not an HTTP response head is a 502.
#[test]
fn a_malformed_response_head_is_a_502() {
    let (port, _seen) =
        keep_alive_origin("HTTP/1.1 200 OK\r\nX: a\nConnection: keep-alive\r\n\r\n");
    let reason = "the origin origin.test:80 sent a malformed response head: a stray CR, LF or NUL in a header line";
    assert_eq!(
        front(port, None, b"GET http://origin.test/ HTTP/1.1\r\n\r\n"),
        (body("502 Bad Gateway", reason), vec![reason.to_string()])
    );
}

/// An origin whose lines end in LF alone gets a 502 that says so at once,
/// not a 504 after the 60 s the front waits for a CRLF blank line that
/// never comes.
#[test]
fn a_response_head_in_bare_lf_is_a_502_at_once() {
    let (port, _seen) = keep_alive_origin("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
    let reason = "the origin origin.test:80 sent a malformed response head: its lines end in LF alone, not CRLF";
    let started = std::time::Instant::now();
    assert_eq!(
        front(port, None, b"GET http://origin.test/ HTTP/1.1\r\n\r\n"),
        (body("502 Bad Gateway", reason), vec![reason.to_string()])
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn failures_answer_one_status_line_naming_the_upstream() {
    let connect = b"CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n";
    let (port, _seen) = socks_upstream(0, 0, 5);
    let reason = "the SOCKS5 upstream socks5h://proxy:1080 (from ALL_PROXY) could not connect to nowhere.test:443: connection refused (SOCKS5 reply 5)";
    assert_eq!(
        front(port, None, connect),
        (body("502 Bad Gateway", reason), vec![reason.to_string()])
    );

    let (port, _seen) = socks_upstream(0, 0, 2);
    let reason = "the SOCKS5 upstream socks5h://proxy:1080 (from ALL_PROXY) refused a tunnel to nowhere.test:443: connection not allowed by ruleset (SOCKS5 reply 2)";
    assert_eq!(front(port, None, connect).0, body("403 Forbidden", reason));

    let (port, _seen) = socks_upstream(2, 1, 0);
    let reason = "the SOCKS5 upstream socks5h://proxy:1080 (from ALL_PROXY) refused the login: it refused the username/password (RFC 1929 status 1)";
    assert_eq!(
        front(port, Some(&login()), connect).0,
        body("502 Bad Gateway", reason)
    );

    let (port, _seen) = socks_upstream(2, 0, 0);
    let reason = "the SOCKS5 upstream socks5h://proxy:1080 (from ALL_PROXY) wants a login (it chose method 0x02); put the user and password in the proxy URL (socks5h://USER:PASSWORD@HOST:PORT)";
    assert_eq!(
        front(port, None, connect).0,
        body("502 Bad Gateway", reason)
    );

    // An upstream that closes mid-handshake.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let closing = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut greeting = [0u8; 3];
        let _ = s.read_exact(&mut greeting);
        let _ = s.write_all(&[5]);
    });
    let reason = "the SOCKS5 upstream socks5h://proxy:1080 (from ALL_PROXY) closed the connection during the handshake for nowhere.test:443";
    assert_eq!(
        front(closing, None, connect).0,
        body("502 Bad Gateway", reason)
    );

    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (got, reported) = front(gone, None, connect);
    assert!(got.starts_with("HTTP/1.1 502 Bad Gateway\r\n"), "{got}");
    assert!(
        reported[0].starts_with("the upstream proxy socks5h://proxy:1080 (from ALL_PROXY) is not reachable: Connection refused"),
        "{reported:?}"
    );

    // The child's own mistakes are told to it alone.
    let (got, reported) = front(gone, None, b"CONNECT h:0 HTTP/1.1\r\n\r\n");
    assert_eq!(
        got,
        body(
            "400 Bad Request",
            "\"h:0\": bad port (a number from 1 to 65535)"
        )
    );
    assert!(reported.is_empty());
}

#[test]
fn a_half_sent_head_is_answered_408() {
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (conn, _) = l.accept().unwrap();
    child.write_all(b"CONNECT h:1 HTTP/1.1\r\n").unwrap();
    let connect = || TcpStream::connect(("127.0.0.1", gone));
    let diagnostics = Diagnostics::default();
    let up = SocksUpstream {
        connect: &connect,
        login: None,
        display: "socks5h://proxy:1080",
        origin: "ALL_PROXY",
        diagnostics: &diagnostics,
        allow_local: false,
    };
    let bound = Duration::from_millis(200);
    assert!(http_front(conn, &up, Instant::now() + bound, bound).is_none());
    let mut got = String::new();
    child.read_to_string(&mut got).unwrap();
    assert_eq!(
        got,
        body(
            "408 Request Timeout",
            "no complete request head within 0.2 s"
        )
    );
}

/// What the child sent after its request's body (a pipelined request)
/// never reaches the origin, even in the same packet as the head.
#[test]
fn a_request_after_the_body_never_reaches_the_origin() {
    let (port, seen) =
        keep_alive_origin("HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
    let (got, _) = front(
        port,
        None,
        b"POST http://origin.test/ HTTP/1.1\r\nContent-Length: 2\r\n\r\nokGET http://127.0.0.1:6379/ HTTP/1.1\r\n\r\n",
    );
    assert_eq!(
        got,
        "HTTP/1.1 204 No Content\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n"
    );
    let recv = || seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        recv(),
        "POST / HTTP/1.1\r\nHost: origin.test\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(recv(), "EOF", "the origin got a second request");
}

/// A chunked body broken in the bytes that came with the head: a 400, and
/// the upstream is never connected.
#[test]
fn a_broken_chunked_body_is_refused_before_the_upstream() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let port = l.local_addr().unwrap().port();
    let (got, _) = front(
        port,
        None,
        b"POST http://origin.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100000000\r\n",
    );
    assert_eq!(got, body("400 Bad Request", crate::body_framing::BROKEN));
    assert!(l.accept().is_err(), "the upstream was connected");
}
