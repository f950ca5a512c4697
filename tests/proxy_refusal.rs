//! Network `proxy` when the upstream fails *after* the sandbox started: the
//! child gets an answer in its own protocol (HTTP 502 with the reason,
//! SOCKS5 "general failure") and stderr gets one line from the host bridge
//! naming the upstream and the variable it came from. Before, the child
//! saw a bare close ("Proxy CONNECT aborted", "no acceptable methods").
//!
//! The upstreams here are tiny listeners in the test: one that accepts the
//! start-up check and then goes away, one that lets the start-up login in
//! and refuses every later one (a credential revoked mid-run). What runs is
//! the real thing: `sandspawn run --net proxy` under bwrap, curl inside.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::thread::JoinHandle;

#[path = "../linux/tests/common/ports.rs"]
mod ports;
mod support;

const CURL: &str = "/usr/bin/curl";

/// `sandspawn run --net proxy --proxy URL -- curl …` with a scrubbed
/// environment; `None` (after a printed skip) when a part is missing.
/// curl uses the proxy variables sandspawn sets (`http://`, also with a
/// SOCKS5 upstream: the bridge's HTTP front).
fn curl_through(proxy: &str) -> Option<Output> {
    curl_with(proxy, &[])
}

/// As [`curl_through`], curl given `args` too.
fn curl_with(proxy: &str, args: &[&str]) -> Option<Output> {
    if !std::path::Path::new(CURL).exists() {
        support::skip(&format!("{CURL} is missing"));
        return None;
    }
    // Its own HOME: with HOME=/tmp the cache was /tmp/.cache/sandspawn,
    // shared by every test and left owned by root for a later unprivileged run.
    let home = tempfile::tempdir().unwrap();
    support::bwrap_output(
        support::net_proxy(proxy, home.path())
            .args(["--", CURL, "-sS", "-m", "10", "-o", "/dev/null"])
            .args(args)
            .arg("https://origin.test/"),
    )
}

/// A listener that accepts exactly one connection (sandspawn's start-up
/// check) and then closes, so every later connect is refused: its port
/// stays held while the test keeps the first value (released, it could
/// be a concurrent test's listener by the time the child connects).
fn gone_after_check() -> (ports::DeadPort, JoinHandle<()>) {
    let (l, held) = ports::listener_then_dead();
    let t = std::thread::spawn(move || {
        let _ = l.accept();
    });
    (held, t)
}

/// An HTTP child (curl through the bridge) of an upstream `scheme` that is
/// gone after the start-up check hears 502, and stderr names the upstream
/// once.
fn an_http_child_hears_502_when_the_upstream_is_gone(scheme: &str) {
    let (held, t) = gone_after_check();
    let port = held.port;
    let proxy = format!("{scheme}://127.0.0.1:{port}");
    let Some(out) = curl_through(&proxy) else {
        return;
    };
    t.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // curl's exit code 56: "Failure in receiving network data" (the
    // CONNECT answer was not 200).
    assert_eq!(out.status.code(), Some(56), "{stderr}");
    assert!(
        stderr.contains("CONNECT tunnel failed, response 502"),
        "{stderr}"
    );
    let line = format!(
        "sandspawn: proxy bridge: the upstream proxy {proxy} (from --proxy) is not reachable: Connection refused"
    );
    assert_eq!(stderr.matches(&line).count(), 1, "{stderr}");
}

#[test]
fn an_http_child_hears_502_and_stderr_names_the_gone_upstream() {
    an_http_child_hears_502_when_the_upstream_is_gone("http");
}

/// curl speaking SOCKS5 to the bridge itself (the variables say http://).
const AS_SOCKS: &[&str] = &["-x", "socks5h://127.0.0.1:3128"];

/// curl speaking SOCKS5 to the bridge (upstream `scheme`, gone after the
/// start-up check) hears SOCKS5 reply 1; returns (upstream URL, stderr).
fn a_socks_child_hears_reply_1(scheme: &str) -> Option<(String, String)> {
    let (held, t) = gone_after_check();
    let port = held.port;
    let proxy = format!("{scheme}://127.0.0.1:{port}");
    let out = curl_with(&proxy, AS_SOCKS)?;
    t.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // curl 97: CURLE_PROXY; "(1)" is the SOCKS reply code it got.
    assert_eq!(out.status.code(), Some(97), "{stderr}");
    assert!(
        stderr.contains("Can't complete SOCKS5 connection to origin.test. (1)"),
        "{stderr}"
    );
    Some((proxy, stderr))
}

#[test]
fn a_socks_child_hears_general_failure_when_the_upstream_is_gone() {
    a_socks_child_hears_reply_1("socks5h");
}

/// A SOCKS5 upstream that lets the first login in (the start-up check)
/// and refuses every later one with RFC 1929 status 1.
fn revokes_after_check() -> (u16, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for (n, conn) in l.incoming().take(2).enumerate() {
            let Ok(mut s) = conn else { return };
            let mut greeting = [0u8; 3];
            if s.read_exact(&mut greeting).is_err() || s.write_all(&[5, 2]).is_err() {
                continue;
            }
            // VER ULEN "alice" PLEN "s3cret"
            let mut login = [0u8; 1 + 1 + 5 + 1 + 6];
            if s.read_exact(&mut login).is_err() {
                continue;
            }
            let _ = s.write_all(&[1, if n == 0 { 0 } else { 1 }]);
        }
    });
    (port, t)
}

/// A child speaking SOCKS5 to the bridge of an HTTP upstream (its
/// variables say http://) hears a SOCKS5 failure, and stderr says why.
#[test]
fn a_socks_child_of_an_http_upstream_is_told_why() {
    let Some((proxy, stderr)) = a_socks_child_hears_reply_1("http") else {
        return;
    };
    assert!(
        stderr.contains(&format!(
            "sandspawn: proxy bridge: a SOCKS5 client, but the upstream proxy {proxy} (from --proxy) speaks HTTP: the bridge takes HTTP proxy requests (the child's proxy variables say http://)\n"
        )),
        "{stderr}"
    );
}

/// The same with an HTTP child of a SOCKS5 upstream: the bridge's HTTP
/// front answers 502 and stderr names the gone upstream.
#[test]
fn an_http_child_of_a_socks_upstream_hears_502_when_it_is_gone() {
    an_http_child_hears_502_when_the_upstream_is_gone("socks5h");
}

#[test]
fn a_login_refused_after_start_is_an_http_502_naming_the_upstream() {
    let (port, t) = revokes_after_check();
    let Some(out) = curl_through(&format!("socks5h://alice:s3cret@127.0.0.1:{port}")) else {
        return;
    };
    t.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(56), "{stderr}");
    assert!(
        stderr.contains("CONNECT tunnel failed, response 502"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "sandspawn: proxy bridge: the SOCKS5 upstream socks5h://***@127.0.0.1:{port} (from --proxy) refused the login: it refused the username/password (RFC 1929 status 1)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn a_login_refused_after_start_is_a_socks_failure_not_a_missing_method() {
    let (port, t) = revokes_after_check();
    let Some(out) = curl_with(
        &format!("socks5h://alice:s3cret@127.0.0.1:{port}"),
        AS_SOCKS,
    ) else {
        return;
    };
    t.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(97), "{stderr}");
    assert!(
        stderr.contains("Can't complete SOCKS5 connection to origin.test. (1)"),
        "{stderr}"
    );
    assert!(!stderr.contains("No authentication method"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sandspawn: proxy bridge: the SOCKS5 upstream socks5h://***@127.0.0.1:{port} (from --proxy) refused the login: it refused the username/password (RFC 1929 status 1)"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

/// An HTTP upstream that answers the first `ok` request heads `200` and
/// every later one (of `total`) `407`, closing each connection after.
fn http_login(ok: usize, total: usize) -> (u16, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        for (n, conn) in l.incoming().take(total).enumerate() {
            let Ok(mut s) = conn else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && matches!(s.read(&mut byte), Ok(1)) {
                head.push(byte[0]);
            }
            let answer: &[u8] = if n < ok {
                b"HTTP/1.1 200 Connection established\r\n\r\n"
            } else {
                b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n"
            };
            let _ = s.write_all(answer);
        }
    });
    (port, t)
}

#[test]
fn a_wrong_http_proxy_password_is_refused_at_start() {
    let (port, _t) = http_login(0, 1);
    let Some(out) = curl_through(&format!("http://alice:wrong-pw@127.0.0.1:{port}")) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{stderr}");
    // The last line (a warning about the cwd may come first).
    assert_eq!(
        stderr.lines().last(),
        Some(format!(
            "sandspawn: network proxy: the HTTP upstream http://***@127.0.0.1:{port} (from --proxy) refused the credentials: 407 Proxy Authentication Required"
        ).as_str()),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-pw"), "{stderr}");
}

#[test]
fn http_credentials_refused_after_start_are_named_on_stderr() {
    // The start-up probe gets 200; curl's tunnel gets 407.
    let (port, t) = http_login(1, 2);
    let Some(out) = curl_through(&format!("http://alice:s3cret@127.0.0.1:{port}")) else {
        return;
    };
    t.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(56), "{stderr}");
    assert!(
        stderr.contains("CONNECT tunnel failed, response 407"),
        "{stderr}"
    );
    let line = format!(
        "sandspawn: proxy bridge: the HTTP upstream http://***@127.0.0.1:{port} (from --proxy) refused the credentials (407)"
    );
    assert_eq!(stderr.matches(&line).count(), 1, "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
