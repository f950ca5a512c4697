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
