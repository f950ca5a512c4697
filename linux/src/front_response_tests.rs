use super::*;
use std::io::{Read, Write};
use std::net::TcpStream;

fn final_head(head: &str) -> String {
    match rewrite(head.as_bytes()) {
        Ok(Head::Final(out)) => String::from_utf8(out).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_final_head_closes_the_connection() {
    assert_eq!(
        final_head(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Hop\r\n\
             Keep-Alive: timeout=5\r\nX-Hop: 1\r\nproxy-connection: keep-alive\r\n\
             connection: Upgrade\r\nupgrade: h2c\r\nX-End: e\r\n\r\n"
        ),
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-End: e\r\n\
         Connection: close\r\nProxy-Connection: close\r\n\r\n"
    );
    assert_eq!(
        final_head("HTTP/1.0 404\r\n\r\n"),
        "HTTP/1.0 404\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n"
    );
}

#[test]
fn interim_heads_pass_and_bad_heads_are_named() {
    assert_eq!(rewrite(b"HTTP/1.1 100 Continue\r\n\r\n"), Ok(Head::Interim));
    assert_eq!(
        rewrite(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"),
        Ok(Head::Interim)
    );
    for (head, why) in [
        ("SSH-2.0-x\r\n\r\n", "not a status line: \"SSH-2.0-x\""),
        ("HTTP/1.1 20 OK\r\n\r\n", "not a status line: \"HTTP/1.1 20 OK\""),
        ("HTTP/1.1 200x\r\n\r\n", "not a status line: \"HTTP/1.1 200x\""),
        ("HTTP/1.1 200 OK\r\nX: a\nConnection: keep-alive\r\n\r\n", "a stray CR, LF or NUL in a header line"),
        ("HTTP/1.1 200 OK\n\r\n\r\n", "a stray CR, LF or NUL in the status line"),
        ("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "a folded header line"),
        ("HTTP/1.1 200 OK\r\nX a\r\n\r\n", "not a header line: \"X a\""),
        ("HTTP/1.1 200 OK\r\nX y: a\r\n\r\n", "not a header line: \"X y: a\""),
        (
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "101 Switching Protocols (each request gets a connection of its own; an upgrade is not passed on)",
        ),
    ] {
        assert_eq!(rewrite(head.as_bytes()), Err(why.to_string()), "{head:?}");
    }
}

/// (our end, their end) of a loopback TCP connection.
fn pair() -> (TcpStream, TcpStream) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let theirs = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    (l.accept().unwrap().0, theirs)
}

fn read_n(s: &mut TcpStream, n: usize) -> String {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).unwrap();
    String::from_utf8(b).unwrap()
}

/// `Expect: 100-continue`: the interim answer reaches the child, the body
/// it sends then reaches the origin, and the final head is rewritten.
#[test]
fn a_body_sent_after_100_continue_reaches_the_origin() {
    let (mut conn, mut child) = pair();
    let (mut up, mut origin) = pair();
    let head = "POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    let front = std::thread::spawn(move || {
        let done = forward(
            &mut conn,
            &mut up,
            head.as_bytes(),
            "o.test:80",
            Duration::from_secs(10),
            None,
        );
        (done, conn, up)
    });
    for s in [&child, &origin] {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    assert_eq!(read_n(&mut origin, head.len()), head);
    // The interim head and the final one's start in one write.
    origin
        .write_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 20")
        .unwrap();
    assert_eq!(read_n(&mut child, 25), "HTTP/1.1 100 Continue\r\n\r\n");
    child.write_all(b"body").unwrap();
    assert_eq!(read_n(&mut origin, 4), "body");
    origin
        .write_all(b"1 Created\r\nConnection: keep-alive\r\n\r\nstart")
        .unwrap();
    let (done, _conn, _up) = front.join().unwrap();
    assert_eq!(done, Ok(()));
    let want = "HTTP/1.1 201 Created\r\nConnection: close\r\nProxy-Connection: close\r\n\r\nstart";
    assert_eq!(read_n(&mut child, want.len()), want);
    // What the child sends now never reaches the origin.
    child.write_all(b"GET /next HTTP/1.1\r\n\r\n").unwrap();
    origin
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut more = [0u8; 64];
    assert!(origin.read(&mut more).is_err(), "the origin got more");
}

/// No head in time: a 504 naming the origin.
#[test]
fn an_origin_that_does_not_answer_is_a_504() {
    let (mut conn, _child) = pair();
    let (mut up, _origin) = pair();
    assert_eq!(
        forward(
            &mut conn,
            &mut up,
            b"GET / HTTP/1.1\r\n\r\n",
            "o.test:80",
            Duration::from_millis(200),
            None
        ),
        Err(Failure::Answer(
            "504 Gateway Timeout",
            "the origin o.test:80: no complete response head within 0.2 s".into()
        ))
    );
}

/// A chunked body that breaks its syntax on the way: the origin's
/// connection is cut and the child hears a 400.
#[test]
fn a_malformed_chunked_body_is_a_400() {
    let (mut conn, mut child) = pair();
    let (mut up, mut origin) = pair();
    let head = "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    let front = std::thread::spawn(move || {
        forward(
            &mut conn,
            &mut up,
            head.as_bytes(),
            "o.test:80",
            Duration::from_secs(10),
            Some(Framing::chunked()),
        )
    });
    origin
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_n(&mut origin, head.len()), head);
    child.write_all(b"100000000\r\n").unwrap();
    assert_eq!(
        front.join().unwrap(),
        Err(Failure::Answer(
            "400 Bad Request",
            crate::body_framing::BROKEN.into()
        ))
    );
    let mut rest = Vec::new();
    origin.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"10000000", "only the bytes before the break went on");
}

/// An upload that trickles in for longer than the wait is not cut short:
/// the wait for the answer counts from the body's last byte.
#[test]
fn a_slow_upload_longer_than_the_wait_is_answered() {
    let (mut conn, mut child) = pair();
    let (mut up, mut origin) = pair();
    let head = "PUT /p HTTP/1.1\r\nContent-Length: 8\r\n\r\n";
    let front = std::thread::spawn(move || {
        forward(
            &mut conn,
            &mut up,
            head.as_bytes(),
            "o.test:80",
            Duration::from_millis(300),
            Some(Framing::length(8)),
        )
    });
    origin
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_n(&mut origin, head.len()), head);
    // 8 bytes, 150 ms apart: 1.2 s in all, four times the wait.
    for b in b"slowbody" {
        child.write_all(&[*b]).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    assert_eq!(read_n(&mut origin, 8), "slowbody");
    origin.write_all(b"HTTP/1.1 201 Created\r\n\r\n").unwrap();
    assert_eq!(front.join().unwrap(), Ok(()));
}

/// An origin that answers with interim heads only: after
/// [`MAX_INTERIM`] of them passed on, a 502, so that it cannot hold the
/// set-up thread (and the child's connection) for ever, one head each
/// `wait`.
#[test]
fn endless_interim_heads_end_in_a_502() {
    let (mut conn, mut child) = pair();
    let (mut up, mut origin) = pair();
    let head = "GET / HTTP/1.1\r\n\r\n";
    let front = std::thread::spawn(move || {
        forward(
            &mut conn,
            &mut up,
            head.as_bytes(),
            "o.test:80",
            Duration::from_secs(10),
            None,
        )
    });
    origin
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(read_n(&mut origin, head.len()), head);
    let interim = "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n";
    // One more than allowed; the writes may fail once the front gives up.
    for _ in 0..=MAX_INTERIM {
        if origin.write_all(interim.as_bytes()).is_err() {
            break;
        }
    }
    assert_eq!(
        front.join().unwrap(),
        Err(Failure::Answer(
            "502 Bad Gateway",
            format!("the origin o.test:80: more than {MAX_INTERIM} interim (1xx) response heads")
        ))
    );
    child
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        read_n(&mut child, interim.len() * MAX_INTERIM),
        interim.repeat(MAX_INTERIM)
    );
}
