//! Network `proxy`: a child hammering the bridge with requests it must
//! refuse does not flood stderr (the MCP host's). A real burst: python
//! inside bwrap opens 128 connections to the bridge, each speaking a
//! different byte that is neither HTTP nor SOCKS5, so each refusal line is
//! distinct. A few lines come out, then one summary counts the rest by kind.

use std::net::TcpListener;
use std::time::{Duration, Instant};

mod support;
use support::PYTHON;

const CONNECTIONS: u64 = 128;

/// 128 connections, one at a time, each sending one byte 0x80.. and waiting
/// for the bridge's close; then (`AFTER`) quiet long enough for the
/// summary, or the end of the sandbox at once.
const BURST: &str = r#"
import socket, time
for b in range(0x80, 0x100):
    s = socket.create_connection(("127.0.0.1", 3128))
    s.sendall(bytes([b]))
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096):
        pass
    s.close()
"#;

#[test]
fn a_burst_of_refusals_is_a_few_lines_and_one_summary() {
    burst("time.sleep(2.5)");
}

/// The sandbox ends right after the burst: the bridge sums up what it held
/// before it goes.
#[test]
fn a_burst_the_sandbox_ends_with_is_still_summed_up() {
    burst("");
}

fn burst(after: &str) {
    if !std::path::Path::new(PYTHON).exists() {
        return support::skip(&format!("{PYTHON} is missing"));
    }
    // The upstream only has to pass the start-up check: nothing reaches it.
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = upstream.local_addr().unwrap().port();
    std::thread::spawn(move || for _ in upstream.incoming() {});
    let home = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = support::bwrap_output(
        support::net_proxy(&format!("http://127.0.0.1:{port}"), home.path())
            // Not from HOME, which presets leave out with a warning line of its own.
            .current_dir("/usr")
            .args(["--", PYTHON, "-c", &format!("{BURST}{after}\n")]),
    );
    let took = started.elapsed();
    let Some(out) = out else { return };
    let stderr = support::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let detail = "sandspawn: proxy bridge: a request that is not HTTP (first byte 0x";
    let details = lines.iter().filter(|l| l.starts_with(detail)).count() as u64;
    let summed: u64 = lines
        .iter()
        .filter_map(|l| {
            let n = l.strip_prefix("sandspawn: proxy bridge: ")?;
            let (n, rest) = n.split_once(" more refused (")?;
            let n: u64 = n.parse().ok()?;
            assert_eq!(rest, format!("{n} not HTTP or SOCKS5)"), "{l}");
            Some(n)
        })
        .sum();
    // Every line is one of the two; none is lost, none is extra.
    assert_eq!(
        lines.len() as u64,
        details
            + lines
                .iter()
                .filter(|l| l.contains(" more refused ("))
                .count() as u64,
        "{stderr}"
    );
    assert_eq!(details + summed, CONNECTIONS, "{stderr}");
    // At most 3 lines a second (each window's first may follow a summary).
    let windows = took.as_secs() + 1;
    assert!(
        details <= 3 * windows,
        "{details} lines in {took:?}: {stderr}"
    );
    assert!(
        lines.last().unwrap().contains(" more refused ("),
        "the burst ends with its summary: {stderr}"
    );
    assert!(took < Duration::from_secs(60));
}
