use super::*;
use std::io::Write;
use std::net::TcpListener;

#[test]
fn the_first_byte_tells_socks5_from_http() {
    assert_eq!(sniff(5), Spoken::Socks5);
    for first in [b'C', b'G', b'c', b'M', b'_', b'~', b'\r', b'\n'] {
        assert_eq!(sniff(first), Spoken::Http, "{first:#04x}");
    }
    assert_eq!(sniff(4), Spoken::Socks4);
    assert_eq!(sniff(0x16), Spoken::Tls);
    for first in [0, b' ', b'\t', b'{', 0x80, 0xff] {
        assert_eq!(sniff(first), Spoken::Other(first), "{first:#04x}");
    }
}

fn connect(target: &str) -> Result<Request, Refusal> {
    parse_request(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
}

fn refused(target: &str) -> String {
    let r = connect(target).unwrap_err();
    assert_eq!(r.status, "400 Bad Request", "{target}");
    r.reason
}

#[test]
fn connect_targets_parse_names_and_literals() {
    assert_eq!(
        connect("origin.test:443").unwrap(),
        Request::Connect {
            host: Host::Name("origin.test".into()),
            port: 443
        }
    );
    assert_eq!(
        connect("10.0.0.1:8443").unwrap(),
        Request::Connect {
            host: Host::V4("10.0.0.1".parse().unwrap()),
            port: 8443
        }
    );
    assert_eq!(
        connect("[::1]:443").unwrap(),
        Request::Connect {
            host: Host::V6("::1".parse().unwrap()),
            port: 443
        }
    );
    assert_eq!(
        connect("[2001:db8::5]:65535").unwrap(),
        Request::Connect {
            host: Host::V6("2001:db8::5".parse().unwrap()),
            port: 65535
        }
    );
    // The method is case-insensitive; HTTP/1.0 is served too.
    assert!(matches!(
        parse_request(b"connect h:1 HTTP/1.0\r\n\r\n"),
        Ok(Request::Connect { port: 1, .. })
    ));
}

#[test]
fn bad_connect_targets_are_refused_with_the_reason() {
    let port = "bad port (a number from 1 to 65535)";
    for target in [
        "h:0",
        "h:65536",
        "h:99999999",
        "h:-1",
        "h:+80",
        "h:8o",
        "h:",
        "[::1]:0",
    ] {
        assert_eq!(refused(target), format!("{target:?}: {port}"));
    }
    assert_eq!(refused("h"), "\"h\": CONNECT needs host:port");
    assert_eq!(refused("[::1]"), "\"[::1]\": CONNECT needs host:port");
    assert_eq!(refused(":443"), "\":443\": no host");
    assert_eq!(
        refused("::1:443"),
        "\"::1:443\": an IPv6 address must be written in brackets ([::1]:443)"
    );
    assert_eq!(
        refused("[::1:443"),
        "\"[::1:443\": an IPv6 literal without its ']'"
    );
    assert_eq!(
        refused("[zz::1]:443"),
        "\"[zz::1]:443\": not an IPv6 address"
    );
    assert_eq!(
        refused("[::1]443"),
        "\"[::1]443\": expected ':port' after the ']'"
    );
    assert_eq!(
        refused("u@h:443"),
        "\"u@h:443\": credentials in the target are not passed on"
    );
    assert_eq!(refused("h/x:443"), "\"h/x:443\": not a host name");
    // SOCKS5 carries names of at most 255 bytes.
    let long = format!("{}:443", "a".repeat(256));
    assert!(refused(&long).ends_with(": not a host name"));
    assert!(connect(&format!("{}:443", "a".repeat(255))).is_ok());
}

#[test]
fn bad_request_lines_are_refused() {
    let r = parse_request(b"CONNECT h:443\r\n\r\n").unwrap_err();
    assert_eq!(
        (r.status, r.reason.as_str()),
        (
            "400 Bad Request",
            "not an HTTP request line: \"CONNECT h:443\""
        )
    );
    let r = parse_request(b"CONNECT h:443 HTTP/2\r\n\r\n").unwrap_err();
    assert_eq!(
        r.reason,
        "unsupported HTTP version \"HTTP/2\" (HTTP/1.0 and HTTP/1.1 are served)"
    );
    let r = parse_request(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap_err();
    assert_eq!(
        (r.status, r.reason.as_str()),
        ("400 Bad Request", "GET /: not a proxy request (the target must be CONNECT host:port or an absolute http:// URL)")
    );
    let r = parse_request(b"GET https://h/ HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(
        (r.status, r.reason.as_str()),
        ("501 Not Implemented", "https:// requests are not forwarded (the bridge serves CONNECT tunnels and http:// requests; use CONNECT for TLS)")
    );
    let r = parse_request(b"GET http://h/\nX-Injected:\tx HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(
        r.reason,
        "a control character in the request target \"http://h/\\nX-Injected:\\tx\""
    );
    let r = parse_request(b"\xff\xfe\r\n\r\n").unwrap_err();
    assert_eq!(r.reason, "the request head is not UTF-8");
}

#[test]
fn absolute_form_becomes_origin_form_with_connection_close() {
    let head = b"GET http://Origin.test:8080/a/b?q=1#frag HTTP/1.1\r\nHost: elsewhere.test\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\nProxy-Authorization: Basic eA==\r\nAccept: */*\r\n\r\n";
    let Request::Forward {
        host, port, head, ..
    } = parse_request(head).unwrap()
    else {
        panic!("not a forward");
    };
    assert_eq!((host, port), (Host::Name("Origin.test".into()), 8080));
    assert_eq!(
        String::from_utf8(head).unwrap(),
        "GET /a/b?q=1 HTTP/1.1\r\nHost: Origin.test:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    // No path, no Host header, an IPv6 literal, the default port.
    let Request::Forward {
        host, port, head, ..
    } = parse_request(b"POST http://[::1]?x HTTP/1.0\r\nContent-Length: 2\r\n\r\n").unwrap()
    else {
        panic!("not a forward");
    };
    assert_eq!((host, port), (Host::V6("::1".parse().unwrap()), 80));
    assert_eq!(
        String::from_utf8(head).unwrap(),
        "POST /?x HTTP/1.0\r\nHost: [::1]\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    );
    let r = parse_request(b"GET http://h:0/ HTTP/1.1\r\n\r\n").unwrap_err();
    assert_eq!(r.reason, "\"h:0\": bad port (a number from 1 to 65535)");
}

/// (bridge's end, child's end) of a loopback TCP connection.
fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let child = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    (l.accept().unwrap().0, child)
}

#[test]
fn a_head_is_read_through_its_blank_line_and_what_follows_is_kept() {
    let (mut conn, mut child) = pair();
    child
        .write_all(b"CONNECT h:1 HTTP/1.1\r\n\r\n\x16\x03\x01")
        .unwrap();
    let (buf, end) = read_head(&mut conn, Duration::from_secs(5)).unwrap();
    assert_eq!(&buf[..end], b"CONNECT h:1 HTTP/1.1\r\n\r\n");
    assert_eq!(&buf[end..], b"\x16\x03\x01");
}

#[test]
fn an_over_long_head_is_refused_and_a_half_sent_one_times_out() {
    let (mut conn, mut child) = pair();
    let writer = std::thread::spawn(move || {
        let big = format!("GET http://h/ HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        let _ = child.write_all(big.as_bytes());
        child
    });
    assert!(matches!(
        read_head(&mut conn, Duration::from_secs(10)),
        Err(HeadError::TooLarge)
    ));
    drop(conn);
    let _ = writer.join();

    // Half a head, then nothing; and one that trickles in, a byte at a
    // time, cannot stretch the bound either.
    let (mut conn, mut child) = pair();
    child.write_all(b"CONNECT h:1 HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let wait = Duration::from_millis(300);
    assert!(matches!(
        read_head(&mut conn, wait),
        Err(HeadError::TimedOut)
    ));
    assert!(started.elapsed() < wait + Duration::from_secs(5));
    // 10 s of trickle: a bound restarted by each byte would outlast the
    // 5 s margin (for a loaded machine) by far.
    let (mut conn, mut child) = pair();
    let trickle = std::thread::spawn(move || {
        for _ in 0..200 {
            if child.write_all(b"X").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let started = Instant::now();
    assert!(matches!(
        read_head(&mut conn, wait),
        Err(HeadError::TimedOut)
    ));
    assert!(started.elapsed() < wait + Duration::from_secs(5));
    drop(conn);
    trickle.join().unwrap();

    // A child that leaves is just gone.
    let (mut conn, child) = pair();
    drop(child);
    assert!(matches!(
        read_head(&mut conn, Duration::from_secs(5)),
        Err(HeadError::Gone)
    ));
}

/// The blank line found when it arrives split over reads, and in bytes
/// already read past an earlier head.
#[test]
fn a_blank_line_split_over_reads_is_found() {
    for split in 1..4 {
        let (mut conn, mut child) = pair();
        let head = b"GET http://h/ HTTP/1.1\r\nX: y\r\n\r\n";
        let at = head.len() - 4 + split;
        let writer = std::thread::spawn(move || {
            child.write_all(&head[..at]).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            child.write_all(&head[at..]).unwrap();
            child
        });
        let (buf, end) = read_head(&mut conn, Duration::from_secs(5)).unwrap();
        assert_eq!((&buf[..], end), (&head[..], head.len()), "split {split}");
        writer.join().unwrap();
    }
    let (mut conn, _child) = pair();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (buf, end) = read_head_by(&mut conn, deadline, b"A\r\n\r\nB".to_vec()).unwrap();
    assert_eq!((&buf[..], end), (&b"A\r\n\r\nB"[..], 5));
}

/// The blank line that ends a head, CRLF or (malformed, for the parsers to
/// name) LF alone, found however the bytes were split across reads.
#[test]
fn the_blank_line_is_found_in_crlf_and_in_bare_lf() {
    for (buf, end) in [
        (&b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"[..], Some(27)),
        (b"GET / HTTP/1.1\nHost: a\n\nbody", Some(24)),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\nbody", Some(26)),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
        (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
        (b"GET / HTTP/1.1\n", None),
        (b"\n\n", Some(2)),
    ] {
        assert_eq!(head_end(buf, 0), end, "{buf:?}");
        // As the reader searches: only from 3 bytes before the last read.
        let whole = (1..=buf.len()).find_map(|n| head_end(&buf[..n], n.saturating_sub(4)));
        assert_eq!(whole, end, "{buf:?} read a byte at a time");
        if let Some(end) = end {
            assert!(!without_blank_line(&buf[..end]).ends_with(b"\n"), "{buf:?}");
        }
    }
    let refused = parse_request(b"GET http://a/ HTTP/1.1\nHost: a\n\n").unwrap_err();
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (
            "400 Bad Request",
            "the request head's lines end in LF alone, not CRLF"
        )
    );
}

/// RFC 9112: a server skips empty lines before the request line; the
/// first byte already counted them as HTTP, and so does the parser.
#[test]
fn empty_lines_before_the_request_line_are_skipped() {
    for head in [
        &b"\r\nCONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n"[..],
        b"\nCONNECT a.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n",
    ] {
        assert_eq!(
            parse_request(head).unwrap(),
            Request::Connect {
                host: Host::Name("a.test".into()),
                port: 443
            },
            "{head:?}"
        );
    }
}

#[test]
fn heads_the_bridge_refuses_the_front_refuses_alike() {
    for (fields, reason) in [
        (
            "Content-Length: 3\r\nTransfer-Encoding: chunked",
            "Content-Length and Transfer-Encoding together (the body's end could be read two ways)",
        ),
        (
            "Transfer-Encoding : chunked",
            "not a header line (a name of token characters, then ':'): \"Transfer-Encoding : chunked\"",
        ),
        (
            "X: 1\r\n Transfer-Encoding: chunked",
            "a folded header line (a line starting with a space or tab): \" Transfer-Encoding: chunked\"",
        ),
    ] {
        for target in ["http://o.test/", "o.test:443"] {
            let method = if target.contains("://") { "POST" } else { "CONNECT" };
            let head = format!("{method} {target} HTTP/1.1\r\n{fields}\r\n\r\n");
            let e = parse_request(head.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.reason.as_str()), ("400 Bad Request", reason));
        }
    }
    let e = parse_request(b"POST http://o.test/ HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap_err();
    assert_eq!(
        e.reason,
        "Transfer-Encoding in an HTTP/1.0 request (HTTP/1.0 has no transfer codings)"
    );
}
