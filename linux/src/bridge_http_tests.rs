use super::*;

fn hosts(head: &str) -> Vec<String> {
    target_of(head.as_bytes())
        .unwrap()
        .hosts
        .iter()
        .map(|(h, p)| format!("{h}:{p}"))
        .collect()
}

#[test]
fn the_target_is_the_authority_and_every_host_header() {
    assert_eq!(hosts("CONNECT 127.0.0.1:6379 HTTP/1.1"), ["127.0.0.1:6379"]);
    assert_eq!(
        hosts("CONNECT o.test:443 HTTP/1.1\r\nHost: o.test:443"),
        ["o.test:443", "o.test:443"]
    );
    assert_eq!(
        hosts("GET http://[::1]:2375/v1/containers HTTP/1.1\r\nHost: x"),
        ["[::1]:2375", "x:80"]
    );
    assert_eq!(hosts("GET https://0x7f.1/ HTTP/1.1"), ["0x7f.1:443"]);
    assert_eq!(
        hosts("GET http://o.test/ HTTP/1.1\r\nhost:  169.254.169.254 "),
        ["o.test:80", "169.254.169.254:80"]
    );
}

#[test]
fn a_request_without_an_absolute_target_is_refused() {
    for target in ["/", "//127.0.0.1/", "*", "/r?u=http://x/", "1http://x/"] {
        let head = format!("GET {target} HTTP/1.1\r\nHost: o.test");
        let e = target_of(head.as_bytes()).unwrap_err();
        assert_eq!(e.status, "400 Bad Request");
        assert_eq!(
            e.reason,
            format!("GET {target}: not a proxy request (the target must be CONNECT host:port or an absolute URL)")
        );
    }
    // Credentials in the URL hide where it goes from a quick look.
    assert!(target_of(b"GET http://o.test@127.0.0.1/ HTTP/1.1").is_err());
}

#[test]
fn the_body_is_what_the_head_frames() {
    let framed = |head: &str| body_framing(head.as_bytes());
    let mut none = framed("GET http://x/ HTTP/1.1\r\nHost: x").unwrap();
    assert!(none.done());
    assert_eq!(none.take(b"GET http://127.0.0.1/ HTTP/1.1\r\n\r\n"), 0);
    let mut twelve = framed("POST http://x/ HTTP/1.1\r\nContent-Length: 12").unwrap();
    assert_eq!(twelve.take(&[b'a'; 20]), 12);
    // Transfer-Encoding wins over Content-Length (RFC 9112 6.3).
    let mut chunked =
        framed("POST http://x/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked")
            .unwrap();
    assert_eq!(chunked.take(b"3\r\nabc\r\n0\r\n\r\nGET"), 13);
    for (head, reason) in [
        (
            "Content-Length: +1",
            "Content-Length \"+1\" is not a number",
        ),
        (
            "Content-Length: 1\r\nContent-Length: 2",
            "two different Content-Length headers",
        ),
        (
            "Transfer-Encoding: gzip",
            "Transfer-Encoding \"gzip\" does not end in chunked (the body's end could not be told)",
        ),
    ] {
        let e = framed(&format!("POST http://x/ HTTP/1.1\r\n{head}")).unwrap_err();
        assert_eq!((e.status, e.reason.as_str()), ("400 Bad Request", reason));
    }
}
