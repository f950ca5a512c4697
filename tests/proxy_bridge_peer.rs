//! Network `proxy` (bwrap): the host bridge takes the inside listener only
//! from the sandbox it serves. An impostor — here a thread of this test,
//! a process outside the sandbox — that reaches the bridge socket before
//! the helper does and hands over a TCP listener of its own is refused
//! (the connection closes without the acknowledgement byte, stderr names
//! its pid), and the sandbox still gets its tunnel. Before, the first
//! listener won: the impostor's connections would have been carried to the
//! upstream with the bridge's credentials and the helper's hand-over failed.

use std::io::{BufRead, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[path = "../linux/tests/common/fixture.rs"]
#[allow(dead_code)]
mod fixture;
#[path = "../linux/tests/common/probes.rs"]
#[allow(dead_code)]
mod probes;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");
const CURL: &str = "/usr/bin/curl";

/// A plain HTTP upstream: the start-up check's connection, then one
/// request that it answers `ok` and reports (its request line).
fn upstream() -> (u16, std::sync::mpsc::Receiver<String>) {
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
                continue; // the start-up check
            }
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let line = String::from_utf8_lossy(&head);
            let _ = tx.send(line.lines().next().unwrap_or("").to_string());
        }
    });
    (port, rx)
}

const PYTHON: &str = "/usr/bin/python3";

/// The impostor, a process outside the sandbox: poll BASE for the bridge
/// socket, connect as soon as it listens, hand over a TCP listener of its
/// own (bound in the host's network namespace), and print whether it came
/// back acknowledged or closed without the acknowledgement.
const IMPOSTOR: &str = r#"
import glob, socket, sys, time
base = sys.argv[1]
mine = socket.socket(); mine.bind(("127.0.0.1", 0)); mine.listen()
print(mine.getsockname()[1], flush=True)
until = time.monotonic() + 20
while True:
    if time.monotonic() > until:
        print("the bridge socket never appeared", flush=True); sys.exit(1)
    found = glob.glob(base + "/sandspawn-proxy-*/proxy.sock")
    if found:
        c = socket.socket(socket.AF_UNIX)
        try:
            c.connect(found[0]); break
        except ConnectionRefusedError:
            c.close()
    time.sleep(0.0001)
# The bridge may close before reading (a reset): refused all the same.
got = b""
try:
    socket.send_fds(c, [b"\0"], [mine.fileno()])
    c.settimeout(15)
    while True:
        b = c.recv(16)
        if not b: break
        got += b
except ConnectionResetError:
    pass
print("refused" if got == b"" else "acknowledged: %r" % got, flush=True)
mine.setblocking(False)
try:
    mine.accept(); print("accepted", flush=True)
except BlockingIOError:
    print("nothing accepted", flush=True)
"#;

/// How often the scenario is tried: the impostor must reach the bridge
/// socket before the helper's hand-over. It polls hard, so it almost
/// always does; when the helper came first, the try proves nothing and
/// is made again.
const ATTEMPTS: u32 = 5;

#[test]
fn a_listener_from_outside_the_sandbox_is_refused_and_the_sandbox_gets_its_tunnel() {
    if !Path::new(CURL).exists() {
        fixture::skip(&format!("{CURL} is missing"));
        return;
    }
    for attempt in 1..=ATTEMPTS {
        if one_attempt(attempt == ATTEMPTS) {
            return;
        }
        eprintln!("attempt {attempt}: the helper handed over before the impostor connected; again");
    }
}

/// One run of the scenario; false when the impostor lost the race and
/// `last` is not set (nothing was asserted).
fn one_attempt(last: bool) -> bool {
    let base = std::env::temp_dir().join(format!("sandspawn-peer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    // HOME (sandspawn's cache) beside the bridge's directory: both ours.
    std::fs::create_dir_all(base.join("home")).unwrap();
    let (port, requests) = upstream();
    let mut spy = Command::new(PYTHON)
        .env_clear()
        .args(["-c", IMPOSTOR])
        .arg(&base)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let spy_pid = spy.id();
    // Its listener is up before sandspawn starts.
    let mut spy_out = std::io::BufReader::new(spy.stdout.take().unwrap());
    let mut line = String::new();
    spy_out.read_line(&mut line).unwrap();
    assert!(line.trim().parse::<u16>().is_ok(), "{line}");
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", base.join("home"))
        .env("XDG_RUNTIME_DIR", &base)
        .current_dir("/")
        .args(["run", "--backend", "bwrap", "--net", "proxy", "--proxy"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--", CURL, "-sS", "-m", "10", "http://origin.test/"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("backend") && stderr.contains("bwrap") && out.status.code() == Some(125) {
        let _ = spy.kill();
        let _ = spy.wait();
        fixture::skip(&format!("the bwrap backend does not work here: {stderr}"));
        return true;
    }
    let refused = format!(
        "sandspawn: network proxy: refused a listener handed over by pid {spy_pid}: not a process of this sandbox\n"
    );
    if !last && !stderr.contains(&refused) && out.status.code() == Some(0) {
        // The sandbox's own hand-over came first: the impostor is still
        // polling, or met a closed socket.
        let _ = spy.kill();
        let _ = spy.wait();
        let _ = std::fs::remove_dir_all(&base);
        return false;
    }
    let mut reply = String::new();
    spy_out.read_to_string(&mut reply).unwrap();
    let _ = spy.wait();
    let _ = std::fs::remove_dir_all(&base);
    // Refused: closed without the acknowledgement, and nothing ever came
    // to the impostor's listener.
    assert_eq!(reply, "refused\nnothing accepted\n", "stderr: {stderr}");
    assert!(stderr.contains(&refused), "{stderr}");
    // The sandbox got its own tunnel.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok");
    assert_eq!(
        requests.recv_timeout(Duration::from_secs(30)).unwrap(),
        "GET http://origin.test/ HTTP/1.1"
    );
    true
}
