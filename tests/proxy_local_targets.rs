//! Network `proxy` with an upstream on the host itself (a local
//! TLS-intercepting proxy, an agent firewall): a child asking it for
//! 127.0.0.1, `localhost`, 0x7f.1 and the like would reach the host's own
//! loopback services, which its network namespace cut off. The bridge
//! refuses such targets before anything goes upstream (HTTP `403`, SOCKS5
//! reply 2), unless `--proxy-allow-local` says otherwise.
//!
//! What runs is the real thing: `sandspawn run --net proxy` under bwrap,
//! python inside speaking raw HTTP and SOCKS5 to the bridge; a listener in
//! the test stands in for the host's service, and small HTTP and SOCKS5
//! proxies in the test are the upstreams (tests/proxy/local_upstreams.rs).

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[path = "proxy/local_upstreams.rs"]
mod local_upstreams;
use local_upstreams::{http_upstream, service, socks_upstream};
mod support;
use support::{PYTHON, SANDSPAWN};

/// The child: sends each request raw on a connection of its own and
/// prints each whole answer as a JSON string (of its bytes as Latin-1),
/// one per line: up to the close, or
/// to the end of a body whose length the answer's head gives (the HTTP
/// upstream here keeps its connections open).
fn child_script(requests: &[Vec<u8>]) -> String {
    let list: Vec<String> = requests
        .iter()
        .map(|r| {
            let hex: String = r.iter().map(|b| format!("{b:02x}")).collect();
            format!("bytes.fromhex('{hex}')")
        })
        .collect();
    format!(
        r#"
import json, re, socket
def whole(s):
    answer = b""
    while True:
        head, blank, body = answer.partition(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        if blank and length and len(body) >= int(length.group(1)):
            return answer
        chunk = s.recv(4096)
        if not chunk:
            return answer
        answer += chunk
for req in [{}]:
    s = socket.create_connection(("127.0.0.1", 3128))
    s.settimeout(10)
    s.sendall(req)
    print(json.dumps(whole(s).decode("latin-1")))
    s.close()
"#,
        list.join(", ")
    )
}

/// `sandspawn run --net proxy --proxy PROXY [EXTRA…] -- python3 -c …`;
/// `None` after a printed skip when bwrap does not work here.
fn run(proxy: &str, extra: &[&str], requests: &[Vec<u8>]) -> Option<Output> {
    let out = support::bwrap_output(
        support::net_proxy(proxy, &std::env::temp_dir())
            .args(extra)
            .args(["--", PYTHON, "-c", &child_script(requests)]),
    )?;
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    Some(out)
}

/// What the child prints for a 403 naming `target` as `what`.
fn forbidden(target: &str, what: &str) -> String {
    refusal(
        "403 Forbidden",
        &format!("{target} is {what}: the upstream proxy would reach the host's own services through it, so the bridge refuses it (--proxy-allow-local, or proxy_allow_local = true in a policy, allows host-local targets)"),
    )
}

/// The bridge's answer with `status` and `reason`.
fn refusal(status: &str, reason: &str) -> String {
    let body = format!("sandspawn proxy bridge: {reason}\n");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Bytes as the child prints them, decoded: one char per byte.
fn as_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn socks_request(atyp: u8, addr: &[u8], port: u16) -> Vec<u8> {
    let mut r = vec![5, 1, 0, 5, 1, 0, atyp];
    r.extend_from_slice(addr);
    r.extend_from_slice(&port.to_be_bytes());
    r
}

/// The child's answers, one per line, each a JSON string.
fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_http_upstream_carries_no_request_for_the_hosts_own_addresses() {
    let (svc, reached) = service("svc");
    let (origin, _) = service("origin");
    let proxy = format!("http://127.0.0.1:{}", http_upstream(origin));
    let requests = [
        format!("CONNECT 127.0.0.1:{svc} HTTP/1.1\r\nHost: 127.0.0.1:{svc}\r\n\r\n"),
        format!("GET http://2130706433:{svc}/ HTTP/1.1\r\nHost: 2130706433:{svc}\r\n\r\n"),
        format!("CONNECT [::ffff:127.0.0.1]:{svc} HTTP/1.1\r\n\r\n"),
        format!("CONNECT LocalHost.:{svc} HTTP/1.1\r\n\r\n"),
        // A lenient upstream might go by the Host header.
        format!("GET http://origin.test/v1.43/containers/json HTTP/1.1\r\nHost: 0x7f.1:{svc}\r\n\r\n"),
        // A chunked body, then the service's request on its heels.
        format!(
            "POST http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET http://127.0.0.1:{svc}/ HTTP/1.1\r\nHost: 127.0.0.1:{svc}\r\n\r\n"
        ),
        // Origin form names no target the bridge could check.
        "GET / HTTP/1.1\r\nHost: origin.test\r\n\r\n".to_string(),
        // A lawful request, then one for the service on its heels: the
        // upstream here would serve both, the bridge sends only the first.
        format!(
            "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\nGET http://127.0.0.1:{svc}/ HTTP/1.1\r\nHost: 127.0.0.1:{svc}\r\n\r\n"
        ),
    ];
    let requests: Vec<Vec<u8>> = requests.iter().map(|r| r.clone().into_bytes()).collect();
    let Some(out) = run(&proxy, &[], &requests) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let loopback = "a loopback address (127.0.0.1)";
    let origin_answer = as_text(
        b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\nProxy-Connection: close\r\n\r\norigin\n",
    );
    assert_eq!(
        lines(&out),
        [
            forbidden(&format!("127.0.0.1:{svc}"), loopback),
            forbidden(&format!("2130706433:{svc}"), loopback),
            forbidden(&format!("[::ffff:127.0.0.1]:{svc}"), loopback),
            forbidden(&format!("LocalHost.:{svc}"), "the host's own name (localhost)"),
            forbidden(&format!("0x7f.1:{svc}"), loopback),
            origin_answer.clone(),
            refusal(
                "400 Bad Request",
                "GET /: not a proxy request (the target must be CONNECT host:port or an absolute URL)"
            ),
            origin_answer,
        ],
        "{stderr}"
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0, "{stderr}");
    // One line on stderr for the first; the rest are rate-limited.
    assert!(
        stderr.contains(&format!(
            "sandspawn: proxy bridge: 127.0.0.1:{svc} is a loopback address (127.0.0.1): the upstream proxy would reach the host's own services through it, so the bridge refuses it (--proxy-allow-local, or proxy_allow_local = true in a policy, allows host-local targets)\n"
        )),
        "{stderr}"
    );
}

#[test]
fn a_socks_upstream_carries_no_request_for_the_hosts_own_addresses() {
    let (svc, reached) = service("svc");
    let (origin, _) = service("origin");
    let proxy = format!("socks5h://127.0.0.1:{}", socks_upstream(origin));
    let mut metadata = vec![14];
    metadata.extend_from_slice(b"foo.localhost.");
    let requests = vec![
        socks_request(1, &[127, 0, 0, 1], svc),
        socks_request(4, &std::net::Ipv6Addr::LOCALHOST.octets(), svc),
        socks_request(3, &metadata, svc),
        socks_request(1, &[169, 254, 169, 254], 80),
        // The HTTP front of the same upstream.
        format!("CONNECT [::1]:{svc} HTTP/1.1\r\n\r\n").into_bytes(),
        // A name the proxy resolves goes: out of the bridge's sight.
        socks_request(3, b"\x0borigin.test", 80),
    ];
    let Some(out) = run(&proxy, &[], &requests) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let not_allowed = as_text(&[5, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        lines(&out),
        [
            not_allowed.clone(),
            not_allowed.clone(),
            not_allowed.clone(),
            not_allowed,
            forbidden(&format!("[::1]:{svc}"), "a loopback address (::1)"),
            as_text(b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00origin\n"),
        ],
        "{stderr}"
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sandspawn: proxy bridge: 127.0.0.1:{svc} is a loopback address (127.0.0.1): "
        )),
        "{stderr}"
    );
}

#[test]
fn the_opt_in_lets_host_local_targets_through() {
    let (svc, reached) = service("svc");
    let (origin, _) = service("origin");
    let http = format!("http://127.0.0.1:{}", http_upstream(origin));
    let requests = vec![
        format!("CONNECT 127.0.0.1:{svc} HTTP/1.1\r\n\r\n").into_bytes(),
        format!("GET http://localhost:{svc}/ HTTP/1.1\r\n\r\n").into_bytes(),
    ];
    let Some(out) = run(&http, &["--proxy-allow-local"], &requests) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        lines(&out),
        [
            as_text(b"HTTP/1.1 200 Connection established\r\n\r\nsvc\n"),
            as_text(
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\nProxy-Connection: close\r\n\r\nsvc\n"
            ),
        ],
        "{stderr}"
    );
    assert_eq!(reached.load(Ordering::SeqCst), 2, "{stderr}");

    // The policy file's key, with a SOCKS5 upstream.
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "proxy_allow_local = true\n").unwrap();
    let socks = format!("socks5h://127.0.0.1:{}", socks_upstream(origin));
    let requests = vec![socks_request(1, &[127, 0, 0, 1], svc)];
    let policy_arg = policy.to_str().unwrap();
    let Some(out) = run(&socks, &["--policy", policy_arg], &requests) else {
        return;
    };
    assert_eq!(
        lines(&out),
        [as_text(
            b"\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00svc\n"
        )],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reached.load(Ordering::SeqCst), 3);
}

#[test]
fn explain_says_whether_host_local_targets_go() {
    let explain = |extra: &[&str]| {
        let out = Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", std::env::temp_dir())
            .current_dir(std::env::temp_dir())
            .args([
                "explain",
                "--net",
                "proxy",
                "--proxy",
                "http://proxy.corp:3128",
            ])
            .args(extra)
            .args(["--", "/bin/true"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let line = |text: &str| {
        text.lines()
            .find(|l| l.contains("host-local targets"))
            .map(str::to_string)
    };
    assert_eq!(
        line(&explain(&[])).as_deref(),
        Some("          host-local targets (loopback, link-local, localhost): refused (--proxy-allow-local allows them)")
    );
    assert_eq!(
        line(&explain(&["--proxy-allow-local"])).as_deref(),
        Some("          host-local targets (loopback, link-local, localhost): allowed (--proxy-allow-local)")
    );
    let json = explain(&["--proxy-allow-local", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["proxy"]["allow_local"], true, "{json}");
}

/// The child asks for a tunnel the upstream cannot open, then, on the
/// same connection, for the host's service: right behind the first
/// request, and after reading its answer. The upstreams here would serve
/// the second; the bridge lets nothing after a failed tunnel through.
const SECOND_TRY: &str = r#"
import json, socket, sys
svc = int(sys.argv[1])
first = b"CONNECT nowhere.test:1 HTTP/1.1\r\n\r\n"
second = b"CONNECT 127.0.0.1:%d HTTP/1.1\r\n\r\n" % svc
def rest(s):
    s.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := s.recv(4096):
        got += chunk
    return got
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(first + second)
print(json.dumps(rest(s).decode("latin-1")))
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall(first)
got = b""
while b"\r\n\r\n" not in got:
    got += s.recv(1)
s.sendall(second)
print(json.dumps((got + rest(s)).decode("latin-1")))
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
greeting = b"\x05\x01\x00"
nowhere = b"\x05\x01\x00\x03\x0cnowhere.test\x00\x01"
local = b"\x05\x01\x00\x01\x7f\x00\x00\x01" + svc.to_bytes(2, "big")
s.sendall(greeting + nowhere + greeting + local)
print(json.dumps(rest(s).decode("latin-1")))
"#;

fn second_try(proxy: &str, svc: u16) -> Option<Output> {
    let out = support::bwrap_output(support::net_proxy(proxy, &std::env::temp_dir()).args([
        "--",
        PYTHON,
        "-c",
        SECOND_TRY,
        &svc.to_string(),
    ]))?;
    assert_eq!(out.status.code(), Some(0), "{}", support::stderr(&out));
    Some(out)
}

#[test]
fn nothing_follows_a_tunnel_the_upstream_could_not_open() {
    let (svc, reached) = service("svc");
    let (origin, _) = service("origin");
    let http = format!("http://127.0.0.1:{}", http_upstream(origin));
    let Some(out) = second_try(&http, svc) else {
        return;
    };
    let failed = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\nProxy-Connection: close\r\n\r\n";
    let answers = lines(&out);
    assert_eq!(
        answers[..2],
        [failed, failed],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0);

    let socks = format!("socks5h://127.0.0.1:{}", socks_upstream(origin));
    let Some(out) = second_try(&socks, svc) else {
        return;
    };
    assert_eq!(
        lines(&out)[2],
        as_text(&[5, 0, 5, 5, 0, 1, 0, 0, 0, 0, 0, 0]),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}

/// The host's first IPv4 address outside loopback, from `ip -4 -o addr`.
fn interface_v4() -> Option<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let addr = l.split_whitespace().skip_while(|w| *w != "inet").nth(1)?;
        let addr = addr.split('/').next()?;
        (!addr.starts_with("127.")).then(|| addr.to_string())
    })
}

/// The host's own name and interface addresses reach every service bound
/// to 0.0.0.0 (the upstream proxy's own port among them): the bridge
/// refuses them as it refuses 127.0.0.1.
#[test]
fn the_hosts_own_name_and_interface_addresses_are_refused() {
    // A service on every IPv4 address of the host.
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    let svc = l.local_addr().unwrap().port();
    let reached = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&reached);
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut s) = conn else { return };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = s.write_all(b"svc\n");
        }
    });
    let (origin, _) = service("origin");
    let proxy = format!("http://127.0.0.1:{}", http_upstream(origin));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let hostname = hostname.trim().to_string();
    let mut targets = vec![format!("{hostname}:{svc}")];
    let interface = interface_v4();
    match &interface {
        Some(ip) => targets.push(format!("{ip}:{svc}")),
        // The hostname always exists: that case runs anyway.
        None => eprintln!("SKIP (in part): no IPv4 address outside loopback here"),
    }
    let requests: Vec<Vec<u8>> = targets
        .iter()
        .map(|t| format!("CONNECT {t} HTTP/1.1\r\n\r\n").into_bytes())
        .collect();
    let Some(out) = run(&proxy, &[], &requests) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    let answers = lines(&out);
    assert_eq!(answers.len(), targets.len(), "{stderr}");
    // The hostname's reason depends on this machine's /etc/hosts (a name
    // it maps to 127.0.0.1, or the hostname alone).
    let name_reasons = [
        "the host's own name (its hostname)".to_string(),
        "a name /etc/hosts gives the host's own address (127.0.0.1)".to_string(),
        "a name /etc/hosts gives the host's own address (127.0.1.1)".to_string(),
    ];
    assert!(
        name_reasons
            .iter()
            .any(|why| answers[0] == forbidden(&targets[0], why)),
        "{:?}\n{stderr}",
        answers[0]
    );
    if let Some(ip) = &interface {
        assert_eq!(
            answers[1],
            forbidden(
                &targets[1],
                &format!("an address of the host's own interfaces ({ip})")
            ),
            "{stderr}"
        );
    }
    assert_eq!(reached.load(Ordering::SeqCst), 0, "{stderr}");

    // A SOCKS5 child asks for the hostname by name.
    let socks = format!("socks5h://127.0.0.1:{}", socks_upstream(origin));
    let mut name = vec![u8::try_from(hostname.len()).unwrap()];
    name.extend_from_slice(hostname.as_bytes());
    let Some(out) = run(&socks, &[], &[socks_request(3, &name, svc)]) else {
        return;
    };
    assert_eq!(
        lines(&out),
        [as_text(&[5, 0, 5, 2, 0, 1, 0, 0, 0, 0, 0, 0])],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reached.load(Ordering::SeqCst), 0);
}
