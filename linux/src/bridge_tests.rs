use super::*;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[test]
fn unreachable_upstream_is_one_line_naming_the_origin() {
    // Held: a released port could be another test's listener by now.
    let dead = crate::test_ports::dead_port();
    let port = dead.port;
    let e = check_upstream(&ProxyBridge {
        host: "127.0.0.1".into(),
        port,
        inside_port: 3128,
        origin: "HTTPS_PROXY".into(),
        display: format!("http://127.0.0.1:{port}"),
        authorization: None,
        socks_login: None,
        socks: false,
        allow_local: false,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("from HTTPS_PROXY"), "{e}");
    assert!(e.contains("not reachable"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn the_listener_crosses_over_and_connections_reach_the_taker() {
    let dir = std::env::temp_dir().join(format!("sandspawn-handover-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let bridge = UnixListener::bind(&path).unwrap();
    // Junk first (no descriptor, then a non-listening one): ignored.
    let mut junk = UnixStream::connect(&path).unwrap();
    junk.write_all(b"x").unwrap();
    drop(junk);
    let not_listening = UnixStream::connect(&path).unwrap();
    sys::send_fd(not_listening.as_fd(), not_listening.as_fd()).unwrap();
    let inside = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = inside.local_addr().unwrap();
    let giver = {
        let path = path.clone();
        std::thread::spawn(move || hand_over(&inside, &path))
    };
    // This process as "the sandbox"'s descendant, and a made-up host
    // namespace (its listener is in the real one): bridge_peer_tests.rs
    // checks the gate itself.
    let gate = Gate {
        sandbox: std::os::unix::process::parent_id() as i32,
        host: Some(u64::MAX),
    };
    let taken = take_listener(&bridge, &gate).unwrap();
    giver.join().unwrap().unwrap();
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = taken.accept().unwrap();
    c.write_all(b"hi").unwrap();
    let mut got = [0u8; 2];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
    drop(not_listening);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_socks_login_names_the_variable_and_hides_the_password() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        // Accept method 2, refuse the login (status 1).
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 64];
        let _ = s.read(&mut buf).unwrap();
        s.write_all(&[5, 2]).unwrap();
        let _ = s.read(&mut buf).unwrap();
        s.write_all(&[1, 1]).unwrap();
    });
    let e = check_upstream(&ProxyBridge {
        host: "127.0.0.1".into(),
        port,
        inside_port: 3128,
        origin: "ALL_PROXY".into(),
        display: format!("socks5h://***@127.0.0.1:{port}"),
        authorization: None,
        socks_login: Some(SocksLogin {
            username: "alice".into(),
            password: "hunter2".into(),
        }),
        socks: false,
        allow_local: false,
    })
    .unwrap_err()
    .to_string();
    t.join().unwrap();
    assert!(e.contains("(from ALL_PROXY)"), "{e}");
    assert!(e.contains("refused the username/password"), "{e}");
    assert!(!e.contains("hunter2") && !e.contains('\n'), "{e}");
}

/// An upstream at 127.0.0.1:`port` as `set_up` sees it.
fn test_upstream(
    port: u16,
    protocol: Protocol,
    display: String,
    origin: &str,
    credentials: Credentials,
    child_wait: Duration,
) -> Upstream {
    Upstream {
        host: "127.0.0.1".into(),
        port,
        addresses: Addresses::new(resolve),
        protocol,
        display,
        origin: origin.into(),
        credentials,
        diagnostics: Diagnostics::default(),
        child_wait,
        allow_local: false,
    }
}

/// A connected pair: the child's end, and the bridge's accepted end.
fn child_and_conn() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let child = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (conn, _) = l.accept().unwrap();
    (child, conn)
}

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);
static TARGET: Mutex<Option<SocketAddr>> = Mutex::new(None);

fn counting_resolver(_host: &str, _port: u16) -> io::Result<Vec<SocketAddr>> {
    LOOKUPS.fetch_add(1, Ordering::SeqCst);
    Ok(TARGET.lock().unwrap().iter().copied().collect())
}

#[test]
fn the_upstream_is_looked_up_once_and_again_after_a_failed_connect() {
    // Its port stays held once it is dropped: a concurrent test's listener
    // could take a released one and answer the connect that must fail.
    let (listener, _held) = crate::test_ports::listener_then_dead();
    *TARGET.lock().unwrap() = Some(listener.local_addr().unwrap());
    let addresses = Addresses::new(counting_resolver);
    for _ in 0..3 {
        addresses.connect("proxy.corp", 3128).unwrap();
    }
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 1);
    // The proxy goes away: the failed connect forgets the addresses, and
    // the next one looks the name up again.
    drop(listener);
    assert!(addresses.connect("proxy.corp", 3128).is_err());
    let moved = TcpListener::bind("127.0.0.1:0").unwrap();
    *TARGET.lock().unwrap() = Some(moved.local_addr().unwrap());
    addresses.connect("proxy.corp", 3128).unwrap();
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), 2);
}

/// A fake HTTP upstream for one connection: reads the request head (or
/// EOF), sends it back over the channel, answers `answer` and closes.
fn http_upstream(answer: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && matches!(s.read(&mut byte), Ok(1)) {
            head.push(byte[0]);
        }
        let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
        let _ = s.write_all(answer.as_bytes());
    });
    (port, rx)
}

const WRONG: &str = "Basic YWxpY2U6d3Jvbmc=";
const REFUSED: &str = "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"proxy\"\r\nContent-Length: 0\r\n\r\n";

fn http_bridge(port: u16, authorization: Option<&str>) -> ProxyBridge {
    ProxyBridge {
        host: "127.0.0.1".into(),
        port,
        inside_port: 3128,
        origin: "HTTPS_PROXY".into(),
        display: format!("http://***@127.0.0.1:{port}"),
        authorization: authorization.map(str::to_owned),
        socks_login: None,
        socks: false,
        allow_local: false,
    }
}

#[test]
fn a_refused_http_login_is_caught_at_start_naming_the_variable() {
    let (port, heads) = http_upstream(REFUSED);
    let e = check_upstream(&http_bridge(port, Some(WRONG))).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "network proxy: the HTTP upstream http://***@127.0.0.1:{port} (from HTTPS_PROXY) \
             refused the credentials: 407 Proxy Authentication Required"
        )
    );
    assert_eq!(
        heads.recv().unwrap(),
        format!(
            "CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Proxy-Authorization: {WRONG}\r\n\r\n"
        )
    );
    // Any other answer is the upstream's business: start.
    for answer in [
        "HTTP/1.1 200 Connection established\r\n\r\n",
        "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
        "",
    ] {
        let (port, _heads) = http_upstream(answer);
        check_upstream(&http_bridge(port, Some(WRONG))).unwrap();
    }
    // Without credentials nothing is sent: the check is TCP only.
    let (port, heads) = http_upstream(REFUSED);
    check_upstream(&http_bridge(port, None)).unwrap();
    assert_eq!(heads.recv().unwrap(), "");
}

/// The credentials are revoked after start: the child gets the upstream's
/// 407, marked `close` (nothing more of the child's goes to the upstream
/// after a refused tunnel), and the bridge says which upstream refused.
#[test]
fn a_tunnel_refused_with_407_after_start_is_reported() {
    let closed = REFUSED.replace(
        "\r\n\r\n",
        "\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n",
    );
    let opened = "HTTP/1.1 200 Connection established\r\n\r\n";
    for (answer, told, want) in [(REFUSED, closed.as_str(), true), (opened, opened, false)] {
        let (port, _heads) = http_upstream(answer);
        let upstream = test_upstream(
            port,
            Protocol::Http,
            format!("http://***@127.0.0.1:{port}"),
            "HTTPS_PROXY",
            Credentials::Http(WRONG.into()),
            upstream_auth::CHILD_TIMEOUT,
        );
        let relay = Relay::start(STACK_SIZE).unwrap();
        let (mut child, conn) = child_and_conn();
        child
            .write_all(b"CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n")
            .unwrap();
        set_up(conn, &upstream, &relay);
        let reported = upstream.diagnostics.reported();
        if want {
            assert_eq!(
                reported,
                [format!(
                    "the HTTP upstream http://***@127.0.0.1:{port} (from HTTPS_PROXY) refused \
                     the credentials (407)"
                )]
            );
        } else {
            assert_eq!(reported, Vec::<String>::new());
        }
        child
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = String::new();
        let _ = child.read_to_string(&mut got);
        assert_eq!(got, told, "the child gets the upstream's answer");
    }
}

/// A SOCKS5 child of an HTTP upstream hears a SOCKS5 failure and stderr
/// says why; the upstream never sees the greeting.
#[test]
fn a_socks_child_of_an_http_upstream_is_told_in_socks() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let upstream = test_upstream(
        port,
        Protocol::Http,
        format!("http://127.0.0.1:{port}"),
        "HTTPS_PROXY",
        Credentials::None,
        upstream_auth::CHILD_TIMEOUT,
    );
    let relay = Relay::start(STACK_SIZE).unwrap();
    let (mut child, conn) = child_and_conn();
    child
        .write_all(b"\x05\x01\x00\x05\x01\x00\x03\x0borigin.test\x01\xbb")
        .unwrap();
    set_up(conn, &upstream, &relay);
    child
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    let _ = child.read_to_end(&mut got);
    assert_eq!(got, [5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        upstream.diagnostics.reported(),
        [format!(
            "a SOCKS5 client, but the upstream proxy http://127.0.0.1:{port} (from HTTPS_PROXY) \
             speaks HTTP: the bridge takes HTTP proxy requests (the child's proxy variables say http://)"
        )]
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the upstream was connected");
}

/// A plain `http://` request through a SOCKS5 upstream to an origin that
/// keeps its connections open: the child, pooling its connection to the
/// bridge, sends its next request (for another host, with that host's
/// cookie) on the same connection. It must hear `Connection: close`, and
/// the first origin must never get the second request.
#[test]
fn a_forwarded_request_ends_its_connection_with_the_response() {
    let (port, seen) = crate::front::tests::keep_alive_origin(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nKeep-Alive: timeout=60\r\n\r\nok",
    );
    let upstream = test_upstream(
        port,
        Protocol::Socks5,
        format!("socks5h://127.0.0.1:{port}"),
        "ALL_PROXY",
        Credentials::None,
        upstream_auth::CHILD_TIMEOUT,
    );
    let relay = Relay::start(STACK_SIZE).unwrap();
    let (mut child, conn) = child_and_conn();
    child
        .write_all(b"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .unwrap();
    set_up(conn, &upstream, &relay);
    child
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let want = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\
                Connection: close\r\nProxy-Connection: close\r\n\r\nok";
    let mut first = vec![0u8; want.len()];
    child.read_exact(&mut first).unwrap();
    assert_eq!(String::from_utf8(first).unwrap(), want);
    // What a pooling client does next, if it keeps the connection; then
    // it is done.
    child
        .write_all(b"GET http://b.test/ HTTP/1.1\r\nHost: b.test\r\nCookie: b=secret\r\n\r\n")
        .unwrap();
    child.shutdown(std::net::Shutdown::Write).unwrap();
    let mut after = Vec::new();
    child.read_to_end(&mut after).unwrap();
    assert_eq!(after, b"", "nothing more after the response");
    let recv = || seen.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(
        recv(),
        "GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(recv(), "EOF", "the second request reached the first origin");
}

/// The child's whole opening has one bound: a first byte sent late does
/// not start a fresh one for the rest of the head (HTTP front, and the
/// head that gets an HTTP upstream's credentials).
#[test]
fn a_late_first_byte_does_not_extend_the_childs_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The late byte comes 2 s in, 1 s before the bound: a bound restarted
    // by it would end at 5 s. The margins are for a loaded machine.
    let wait = Duration::from_secs(3);
    for (protocol, credentials) in [
        (Protocol::Socks5, Credentials::None),
        (Protocol::Http, Credentials::Http(WRONG.into())),
    ] {
        let upstream = test_upstream(
            port,
            protocol,
            format!("proxy:{port}"),
            "ALL_PROXY",
            credentials,
            wait,
        );
        let relay = Relay::start(STACK_SIZE).unwrap();
        let (mut child, conn) = child_and_conn();
        let started = std::time::Instant::now();
        std::thread::spawn(move || set_up(conn, &upstream, &relay));
        std::thread::sleep(Duration::from_secs(2));
        child.write_all(b"GET http://o.test/ HTTP/1.1\r\n").unwrap();
        // The answer (HTTP front) or the close (credentials path) comes
        // at the end of the one bound.
        child
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = Vec::new();
        let _ = child.read_to_end(&mut got);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(2900) && took < Duration::from_millis(4500),
            "{protocol:?}: {took:?}"
        );
        if protocol == Protocol::Socks5 {
            let got = String::from_utf8(got).unwrap();
            assert!(got.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{got}");
            assert!(
                got.ends_with("no complete request head within 3 s\n"),
                "{got}"
            );
        }
    }
}

/// A child that speaks neither HTTP nor SOCKS5 to the bridge is answered
/// at once, in its own protocol where that is possible, and stderr says
/// what it spoke; it does not wait out the 30 s bound for a head that
/// never comes, and the upstream is never connected. SOCKS4 gets its own
/// "request rejected" reply, a TLS handshake (an `https://` proxy URL) a
/// close, anything else a 400.
#[test]
fn a_child_speaking_neither_http_nor_socks5_is_told_at_once() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let socks4 = b"\x04\x01\x01\xbb\x7f\x00\x00\x01user\x00".as_slice();
    let tls = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03".as_slice();
    let garbage = b"\x00\x01\x02\r\n\r\n".as_slice();
    let says =
        "the bridge is a plain HTTP proxy (http://, the scheme of the child's proxy variables)";
    let cases: [(&[u8], &[u8], String); 3] = [
        (
            socks4,
            b"\x00\x5b\x00\x00\x00\x00\x00\x00",
            format!("a SOCKS4 client: {says}"),
        ),
        (
            tls,
            b"",
            format!("a TLS handshake (an https:// proxy URL?): {says}"),
        ),
        (
            garbage,
            b"HTTP/1.1 400 Bad Request\r\n",
            format!("a request that is not HTTP (first byte 0x00): {says}"),
        ),
    ];
    for protocol in [Protocol::Http, Protocol::Socks5] {
        for (sent, answer, reason) in &cases {
            let upstream = test_upstream(
                port,
                protocol,
                format!("proxy:{port}"),
                "ALL_PROXY",
                Credentials::None,
                upstream_auth::CHILD_TIMEOUT,
            );
            let relay = Relay::start(STACK_SIZE).unwrap();
            let (mut child, conn) = child_and_conn();
            child.write_all(sent).unwrap();
            // Done sending: the bridge's drain before its close ends here.
            child.shutdown(std::net::Shutdown::Write).unwrap();
            let started = std::time::Instant::now();
            set_up(conn, &upstream, &relay);
            child
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut got = Vec::new();
            child.read_to_end(&mut got).unwrap();
            // At once: a third of the bound it must not wait out, a
            // margin for a loaded machine.
            assert!(
                started.elapsed() < upstream_auth::CHILD_TIMEOUT / 3,
                "{protocol:?} {reason}"
            );
            let answered = if answer.is_empty() {
                got.is_empty()
            } else {
                got.starts_with(answer)
            };
            assert!(answered, "{protocol:?} {reason}: {got:02x?}");
            assert_eq!(
                upstream.diagnostics.reported(),
                std::slice::from_ref(reason)
            );
        }
    }
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the upstream was connected");
}

/// A SOCKS5 upstream that logs in with `status` (method 2) and then, for
/// a request, replies `reply`; what it read goes on the channel.
fn socks_login_upstream(status: u8, reply: u8) -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut seen = vec![0u8; 3 + 14];
        if s.read_exact(&mut seen[..3]).is_ok() {
            s.write_all(&[5, 2]).unwrap();
            s.read_exact(&mut seen[3..17]).unwrap();
            s.write_all(&[1, status]).unwrap();
            let mut request = [0u8; 18];
            if s.read_exact(&mut request).is_ok() {
                seen.extend_from_slice(&request);
                s.write_all(&[5, reply, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
            }
        }
        let _ = tx.send(seen);
    });
    (port, rx)
}

/// A SOCKS5 child of a SOCKS5 upstream with a login: the bridge answers
/// the greeting, logs in, and passes the request on; a refused login is a
/// general failure; a child that offers only a login hears "no acceptable
/// method"; a target on the host itself is reply 2 with the upstream
/// never connected.
#[test]
fn a_socks_child_is_answered_by_the_bridge_and_its_request_checked() {
    let login = || {
        Credentials::Socks(SocksLogin {
            username: "alice".into(),
            password: "s3cret".into(),
        })
    };
    let request = b"\x05\x01\x00\x03\x0borigin.test\x01\xbb";
    let child_says = [&b"\x05\x01\x00"[..], request].concat();
    let serve = |port: u16, says: &[u8]| {
        let upstream = test_upstream(
            port,
            Protocol::Socks5,
            format!("socks5h://***@127.0.0.1:{port}"),
            "ALL_PROXY",
            login(),
            upstream_auth::CHILD_TIMEOUT,
        );
        let relay = Relay::start(STACK_SIZE).unwrap();
        let (mut child, conn) = child_and_conn();
        child.write_all(says).unwrap();
        child.shutdown(std::net::Shutdown::Write).unwrap();
        set_up(conn, &upstream, &relay);
        child
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let _ = child.read_to_end(&mut got);
        (got, upstream.diagnostics.reported())
    };

    let (port, seen) = socks_login_upstream(0, 0);
    let (got, reported) = serve(port, &child_says);
    assert_eq!(got, [5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert!(reported.is_empty(), "{reported:?}");
    let seen = seen.recv().unwrap();
    assert_eq!(&seen[..3], [5, 1, 2]);
    assert_eq!(&seen[3..17], b"\x01\x05alice\x06s3cret");
    assert_eq!(&seen[17..], request);

    let (port, seen) = socks_login_upstream(1, 0);
    let (got, reported) = serve(port, &child_says);
    assert_eq!(got, [5, 0, 5, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        reported,
        [format!(
            "the SOCKS5 upstream socks5h://***@127.0.0.1:{port} (from ALL_PROXY) refused the \
             login: it refused the username/password (RFC 1929 status 1)"
        )]
    );
    assert_eq!(
        seen.recv().unwrap().len(),
        17,
        "only the greeting and login went upstream"
    );

    let (port, _seen) = socks_login_upstream(0, 0);
    let (got, _) = serve(port, b"\x05\x01\x02");
    assert_eq!(got, [5, 0xff]);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (got, reported) = serve(
        port,
        b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x18\xeb",
    );
    assert_eq!(got, [5, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(reported.len(), 1);
    assert!(
        reported[0].starts_with("127.0.0.1:6379 is a loopback address (127.0.0.1): "),
        "{reported:?}"
    );
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "the upstream was connected");

    // BIND (2) and UDP ASSOCIATE (3) are not passed on: reply 7.
    for command in [2u8, 3, 0, 9] {
        let says = [
            &b"\x05\x01\x00\x05"[..],
            &[command],
            b"\x00\x03\x0borigin.test\x01\xbb",
        ]
        .concat();
        let (got, reported) = serve(port, &says);
        assert_eq!(got, [5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0], "{command}");
        assert_eq!(
            reported,
            [format!(
                "a SOCKS5 request with command {command} (only 1, CONNECT, is passed on)"
            )]
        );
        assert!(listener.accept().is_err(), "the upstream was connected");
    }
}

#[path = "bridge_setup_tests.rs"]
mod setup;
