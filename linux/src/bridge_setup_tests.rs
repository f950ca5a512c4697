//! Set-up bounds of a child connection (the bridge's own tests are in
//! `bridge_tests.rs`).

use super::*;

/// An upstream that answers the request head with interim `100 Continue`
/// heads without end.
fn endless_interim_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut up, _) = listener.accept().unwrap();
        let _ = crate::front_parse::read_head(&mut up, Duration::from_secs(10));
        let heads = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(40_000);
        while up.write_all(&heads).is_ok() {}
    });
    port
}

/// A child that never reads what the bridge writes to it during set-up
/// holds the set-up thread no longer than the child's bound.
#[test]
fn a_child_that_never_reads_does_not_pin_the_set_up() {
    let port = endless_interim_upstream();
    let upstream = test_upstream(
        port,
        Protocol::Http,
        format!("http://127.0.0.1:{port}"),
        "HTTP_PROXY",
        Credentials::None,
        Duration::from_secs(1),
    );
    let relay = Relay::start(STACK_SIZE).unwrap();
    let (mut child, conn) = child_and_conn();
    child
        .write_all(b"GET http://o.test/ HTTP/1.1\r\nHost: o.test\r\n\r\n")
        .unwrap();
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        set_up(conn, &upstream, &relay);
        let _ = done.send(());
    });
    assert!(
        ended.recv_timeout(Duration::from_secs(20)).is_ok(),
        "the set-up still writes to a child that does not read"
    );
    drop(child);
}

/// A head a lenient upstream could read otherwise, or a chunked body that
/// breaks with the head: a 400 naming why, and the upstream is never
/// connected.
#[test]
fn an_ambiguous_request_is_refused_before_the_upstream_is_connected() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for (says, reason) in [
        (
            "POST http://o.test/ HTTP/1.1\r\nTransfer-Encoding : chunked\r\n\r\n",
            "not a header line (a name of token characters, then ':'): \"Transfer-Encoding : chunked\"",
        ),
        (
            "POST http://o.test/ HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "Content-Length and Transfer-Encoding together (the body's end could be read two ways)",
        ),
        (
            "POST http://o.test/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n100000000\r\n",
            crate::body_framing::BROKEN,
        ),
    ] {
        let upstream = test_upstream(
            port,
            Protocol::Http,
            format!("http://127.0.0.1:{port}"),
            "HTTP_PROXY",
            Credentials::None,
            Duration::from_secs(5),
        );
        let relay = Relay::start(STACK_SIZE).unwrap();
        let (mut child, conn) = child_and_conn();
        child.write_all(says.as_bytes()).unwrap();
        child.shutdown(std::net::Shutdown::Write).unwrap();
        set_up(conn, &upstream, &relay);
        child
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        child.read_to_end(&mut got).unwrap();
        let got = String::from_utf8(got).unwrap();
        assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
        assert!(got.contains(reason), "{got}");
        assert!(listener.accept().is_err(), "the upstream was connected");
    }
}
