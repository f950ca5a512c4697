//! Network `proxy` with an HTTP upstream that wants credentials: the
//! bridge appends `Proxy-Authorization` to the child's request head. If
//! the head has no request line the upstream reads as one (empty lines
//! only, a line without an HTTP version), the upstream takes the next
//! line, the credentials, for the request line, or starts a new request
//! with it, and a `400` that quotes the line it could not parse carries
//! the credentials into the sandbox. The bridge adds them only to a head
//! that starts with an HTTP/1.x request line (after the empty lines
//! RFC 9112 §2.2 lets a server skip, which it drops), and answers any
//! other head `400` without sending it.
//!
//! The upstream here is a listener in the test that lets the start-up
//! probe in and echoes every later request head. What runs is the real
//! thing: `sandspawn run --net proxy` under bwrap, python inside.

#[path = "proxy/echoing_upstream.rs"]
mod echoing_upstream;
use echoing_upstream::echoing_upstream;
mod support;

/// What the child sends: each head raw on a connection of its own, then
/// the first line of each answer, one per line. The last one is a
/// well-formed request after an empty line: it goes through.
const HEADS: &str = r#"
import socket
for req in [b"\r\n\r\nGET http://x/ HTTP/1.1\r\n\r\n",
            b"GET http://x/\r\n\r\n",
            b"GET http://x/ HTTP/1.1 extra\r\n\r\n",
            b"GET http://x/\x01 HTTP/1.1\r\n\r\n",
            b"\r\nGET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n"]:
    s = socket.create_connection(("127.0.0.1", 3128))
    s.sendall(req)
    answer = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    print(answer.split(b"\r\n")[0].decode())
"#;

#[test]
fn credentials_go_only_on_a_head_that_starts_with_a_request_line() {
    let (port, heads) = echoing_upstream();
    // Its own HOME: with HOME=/tmp the cache was /tmp/.cache/sandspawn,
    // shared by every test and left owned by root for a later unprivileged run.
    let home = tempfile::tempdir().unwrap();
    let proxy = format!("http://alice:s3cret@127.0.0.1:{port}");
    let Some(out) = support::bwrap_output(support::net_proxy(&proxy, home.path()).args([
        "--",
        support::PYTHON,
        "-c",
        HEADS,
    ])) else {
        return;
    };
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}HTTP/1.1 200 OK\n",
            "HTTP/1.1 400 Bad Request\n".repeat(4)
        ),
        "{stderr}"
    );
    let line = format!(
        "sandspawn: proxy bridge: a request head that does not start with an HTTP/1.x request line (the bridge adds the credentials of http://***@127.0.0.1:{port} only after one)"
    );
    assert!(stderr.contains(&line), "{stderr}");
    // The three repeats of that line are held back and summed up by kind.
    assert!(
        stderr
            .contains("sandspawn: proxy bridge: 3 more refused (3 not an HTTP/1.x request line)\n"),
        "{stderr}"
    );
    // The probe, then the one well-formed request, request line first.
    let seen: Vec<String> = heads.try_iter().filter(|h| !h.is_empty()).collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].starts_with("CONNECT "), "{seen:?}");
    assert!(
        seen[1].starts_with("GET http://x/ HTTP/1.1\r\nHost: x\r\nProxy-Authorization: Basic "),
        "{seen:?}"
    );
}
