//! Network `proxy` with an HTTP upstream that wants credentials: the
//! bridge adds `Proxy-Authorization` to the child's request head, so the
//! child must not be able to make the upstream send that head back. A
//! `TRACE` (and IIS's `TRACK`) is answered with the request as the
//! recipient received it (RFC 9110 §9.3.8), and a proxy answers it itself
//! when `Max-Forwards` is 0: the echo would carry the credentials into the
//! sandbox. The bridge refuses those methods with `405` and never sends
//! them upstream.
//!
//! The upstream here is a listener in the test that lets the start-up
//! probe in and echoes every later request head, as a proxy answering
//! `TRACE` does. What runs is the real thing: `sandspawn run --net proxy`
//! under bwrap, curl inside.

use std::process::Output;

#[path = "proxy/echoing_upstream.rs"]
mod echoing_upstream;
use echoing_upstream::echoing_upstream;
mod support;

const CURL: &str = "/usr/bin/curl";
/// base64("alice:s3cret"), as `Proxy-Authorization: Basic` carries it.
const SECRET_B64: &str = "YWxpY2U6czNjcmV0";

/// `curl -X METHOD -H 'Max-Forwards: 0' http://origin.test/` in a
/// `--net proxy` sandbox whose upstream is `proxy`; `None` (after a
/// printed skip) when a part is missing.
fn curl_method(proxy: &str, method: &str) -> Option<Output> {
    if !std::path::Path::new(CURL).exists() {
        support::skip(&format!("{CURL} is missing"));
        return None;
    }
    // Its own HOME: with HOME=/tmp the cache was /tmp/.cache/sandspawn,
    // shared by every test and left owned by root for a later unprivileged run.
    let home = tempfile::tempdir().unwrap();
    support::bwrap_output(
        support::net_proxy(proxy, home.path())
            .args(["--", CURL, "-sS", "-i", "-m", "10", "-X", method])
            .args(["-H", "Max-Forwards: 0", "http://origin.test/"]),
    )
}

#[test]
fn a_trace_never_reaches_an_upstream_the_bridge_logs_in_to() {
    let (port, heads) = echoing_upstream();
    let proxy = format!("http://alice:s3cret@127.0.0.1:{port}");
    for method in ["TRACE", "TRACK", "trace"] {
        let Some(out) = curl_method(&proxy, method) else {
            return;
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stdout.contains(SECRET_B64), "{method}: {stdout}");
        assert_eq!(out.status.code(), Some(0), "{method}: {stderr}");
        assert!(
            stdout.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{method}: {stdout}"
        );
        assert!(
            stdout.ends_with(&format!(
                "\r\n\r\nsandspawn proxy bridge: a {method} request (its answer would echo the credentials the bridge adds for http://***@127.0.0.1:{port})\n"
            )),
            "{method}: {stdout}"
        );
        assert!(
            stderr.contains(&format!("sandspawn: proxy bridge: a {method} request")),
            "{method}: {stderr}"
        );
    }
    // The start-up probe is all the upstream ever saw (the bridge connects
    // before it reads the child's head; that connection carries nothing).
    let seen: Vec<String> = heads.try_iter().filter(|h| !h.is_empty()).collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(seen.iter().all(|h| h.starts_with("CONNECT ")), "{seen:?}");
}

#[test]
fn other_methods_still_get_the_credentials_upstream() {
    // The control: the same upstream echoes a GET with the credentials
    // on it, so the assertion above is about TRACE, not the set-up.
    let (port, heads) = echoing_upstream();
    let Some(out) = curl_method(&format!("http://alice:s3cret@127.0.0.1:{port}"), "GET") else {
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("HTTP/1.1 200 OK\r\n"), "{stdout}");
    let seen: Vec<String> = heads.try_iter().filter(|h| !h.is_empty()).collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(
        seen[1].contains(&format!("\r\nProxy-Authorization: Basic {SECRET_B64}\r\n")),
        "{seen:?}"
    );
}

/// What the child sends in [`a_trace_spelled_loosely_is_refused_too`]:
/// each head raw, then the first line of each answer, one per line.
const LOOSE_TRACES: &str = r#"
import socket
for req in [b"\r\nTRACE http://x/ HTTP/1.1\r\nMax-Forwards: 0\r\n\r\n",
            b"\nTRACE http://x/ HTTP/1.1\r\nMax-Forwards: 0\r\n\r\n",
            b"TRACE\thttp://x/ HTTP/1.1\r\nMax-Forwards: 0\r\n\r\n",
            b"TRACE\x0chttp://x/ HTTP/1.1\r\nMax-Forwards: 0\r\n\r\n"]:
    s = socket.create_connection(("127.0.0.1", 3128))
    s.sendall(req)
    answer = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    print(answer.split(b"\r\n")[0].decode(), b"czNjcmV0" in answer)
"#;

#[test]
fn a_trace_spelled_loosely_is_refused_too() {
    // Servers skip empty lines before a request line (RFC 9112 §2.2) and
    // lenient ones split it on any whitespace: such a TRACE is one too.
    let (port, heads) = echoing_upstream();
    // Its own HOME: with HOME=/tmp the cache was /tmp/.cache/sandspawn,
    // shared by every test and left owned by root for a later unprivileged run.
    let home = tempfile::tempdir().unwrap();
    let proxy = format!("http://alice:s3cret@127.0.0.1:{port}");
    let Some(out) = support::bwrap_output(support::net_proxy(&proxy, home.path()).args([
        "--",
        support::PYTHON,
        "-c",
        LOOSE_TRACES,
    ])) else {
        return;
    };
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HTTP/1.1 405 Method Not Allowed False\n".repeat(4),
        "{stderr}"
    );
    let seen: Vec<String> = heads.try_iter().filter(|h| !h.is_empty()).collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].starts_with("CONNECT "), "{seen:?}");
}
