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

#[path = "bridge_setup_tests.rs"]
mod setup;

#[path = "bridge_opening_tests.rs"]
mod opening;
