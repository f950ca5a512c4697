//! The child's opening of a connection (the bridge's own tests are in
//! `bridge_tests.rs`): one bound for the whole head, an answer at once to
//! a child speaking neither HTTP nor SOCKS5, and a SOCKS5 child answered
//! by the bridge with its request checked before anything goes upstream.

use super::*;

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
