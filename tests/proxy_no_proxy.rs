//! Network `proxy`: the parent's no-proxy lists name internal hosts
//! (`.corp.example.com`, `10.0.0.0/8`, `internal.host`). Inside, the bridge
//! is the only way out, so a direct connection to them can only fail; the
//! child's lists keep the loopback entries only, the others go through the
//! proxy, and one line says so. Real bwrap, real curl inside, a plain HTTP
//! upstream in the test that answers `ok` and reports each request line.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::sync::mpsc::Receiver;
use std::time::Duration;

mod support;

const CURL: &str = "/usr/bin/curl";

/// A plain HTTP upstream: every request gets `ok`, its request line is
/// reported (the start-up check, which sends nothing, is not).
fn upstream() -> (u16, Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { return };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match c.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            if head.is_empty() {
                continue;
            }
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let line = String::from_utf8_lossy(&head);
            let _ = tx.send(line.lines().next().unwrap_or("").to_string());
        }
    });
    (port, rx)
}

const NO_PROXY: &str = ".corp.example.com,localhost";
const NO_PROXY_LOWER: &str = "internal.host,10.0.0.0/8,127.0.0.1";

/// `sandspawn run --net proxy` (bwrap) with the parent's no-proxy lists
/// set and nothing else inherited; `None` after a printed skip when bwrap
/// cannot run here.
fn run(port: u16, cmd: &[&str]) -> Option<Output> {
    let home = tempfile::tempdir().unwrap();
    support::bwrap_output(
        support::net_proxy(&format!("http://127.0.0.1:{port}"), home.path())
            .env("NO_PROXY", NO_PROXY)
            .env("no_proxy", NO_PROXY_LOWER)
            // Not from HOME, which presets leave out with a warning line of its own.
            .current_dir("/usr")
            .arg("--")
            .args(cmd),
    )
}

const NOTICE: &str =
    "sandspawn: warning: NO_PROXY, no_proxy: .corp.example.com,internal.host,10.0.0.0/8 \
    left out of the child's no-proxy lists: with network proxy the bridge is its only way out, so \
    requests to them go through the proxy instead of failing direct\n";

#[test]
fn the_child_keeps_loopback_no_proxy_entries_only_and_is_told_once() {
    let (port, _seen) = upstream();
    let Some(out) = run(port, &["/usr/bin/env"]) else {
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lists: Vec<&str> = stdout
        .lines()
        .filter(|l| {
            let name = l.split('=').next().unwrap_or_default().to_ascii_lowercase();
            name.contains("no_proxy") || name.contains("noproxy")
        })
        .collect();
    lists.sort();
    assert_eq!(
        lists,
        [
            "BUNDLE_NO_PROXY=localhost,127.0.0.1",
            "NO_PROXY=localhost,127.0.0.1",
            "NPM_CONFIG_NOPROXY=localhost,127.0.0.1",
            "YARN_NO_PROXY=localhost,127.0.0.1",
            "no_proxy=localhost,127.0.0.1",
            "npm_config_noproxy=localhost,127.0.0.1",
        ]
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), NOTICE);
}

#[test]
fn curl_inside_reaches_a_host_named_in_no_proxy_through_the_proxy() {
    if !std::path::Path::new(CURL).exists() {
        return support::skip(&format!("{CURL} is missing"));
    }
    let (port, seen) = upstream();
    for url in [
        "http://internal.host/",
        "http://svc.corp.example.com/x",
        "http://10.1.2.3/",
    ] {
        let Some(out) = run(port, &[CURL, "-sS", "-m", "10", url]) else {
            return;
        };
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned()
            ),
            (Some(0), "ok".to_string()),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            seen.recv_timeout(Duration::from_secs(30)).unwrap(),
            format!("GET {url} HTTP/1.1")
        );
        assert_eq!(String::from_utf8_lossy(&out.stderr), NOTICE);
    }
}
