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
    let big = format!(
        "GET http://x/ HTTP/1.1\r\nX-Big: {}\r\n",
        "a".repeat(MAX_HEAD + 10)
    );
    let writer = std::thread::spawn(move || {
        let _ = child.write_all(big.as_bytes());
        child
    });
    let e = read_request_head(&mut conn, CHILD_TIMEOUT, true).unwrap_err();
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
        let read = read_request_head(&mut conn, CHILD_TIMEOUT, true).unwrap();
        assert!(!read.is_connect());
        up.write_all(&outgoing_head(&read, Some("Basic YTpi"), usize::MAX))
            .unwrap();
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
        // 15 s of trickle: a bound restarted by each byte would outlast
        // the 5 s margin (for a loaded machine) by far.
        for _ in 0..100 {
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
    assert!(started.elapsed() < wait + Duration::from_secs(5));
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
    // The trickle lasts 10 s: the margin is for a loaded machine.
    assert!(started.elapsed() < wait + Duration::from_secs(5));
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
