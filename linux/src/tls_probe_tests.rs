use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs.iter().map(|(k, v)| (k.into(), v.into())).collect()
}

fn target(host: &str, port: u16) -> Target {
    Target {
        host: host.into(),
        port,
    }
}

#[test]
fn only_https_urls_are_probed() {
    assert_eq!(
        parse_target("https://api.github.com/zen").unwrap(),
        target("api.github.com", 443)
    );
    assert_eq!(
        parse_target("HTTPS://[::1]:8443").unwrap(),
        target("::1", 8443)
    );
    assert_eq!(
        parse_target("http://example.com").unwrap_err(),
        "`http://example.com` is not an https:// URL"
    );
    assert!(parse_target("https://u:p@h/")
        .unwrap_err()
        .contains("credentials"));
    assert!(parse_target("https://h:0/")
        .unwrap_err()
        .contains("bad port"));
}

#[test]
fn the_route_follows_the_variables_curl_reads_lower_case_first() {
    let t = target("api.example", 443);
    let e = env(&[
        ("HTTPS_PROXY", "http://upper:1"),
        ("https_proxy", "http://lower:2"),
    ]);
    match route(&t, &e).unwrap() {
        Route::Proxy { from, url } => {
            assert_eq!(
                (from.as_str(), url.host.as_str(), url.port),
                ("https_proxy", "lower", 2)
            )
        }
        other => panic!("{other:?}"),
    }
    let e = env(&[
        ("ALL_PROXY", "socks5h://s:1080"),
        ("HTTP_PROXY", "http://h:1"),
    ]);
    match route(&t, &e).unwrap() {
        Route::Proxy { from, url } => {
            assert_eq!(
                (from.as_str(), url.scheme),
                ("ALL_PROXY", ProxyScheme::Socks5h)
            )
        }
        other => panic!("{other:?}"),
    }
    // HTTP_PROXY is for http:// URLs; an https client goes direct.
    assert_eq!(
        route(&t, &env(&[("HTTP_PROXY", "http://h:1")])).unwrap(),
        Route::Direct
    );
    assert_eq!(route(&t, &[]).unwrap(), Route::Direct);
}

#[test]
fn a_proxy_url_the_probe_cannot_use_is_named() {
    let t = target("a", 443);
    assert_eq!(
        route(&t, &env(&[("HTTPS_PROXY", "https://p:443")])).unwrap_err(),
        "HTTPS_PROXY: the probe speaks to http:// and socks5(h):// proxies, not https://"
    );
    assert_eq!(
        route(&t, &env(&[("HTTPS_PROXY", "http://p:99999")])).unwrap_err(),
        "HTTPS_PROXY is not a proxy URL: bad port"
    );
}

#[test]
fn no_proxy_sends_matching_hosts_direct() {
    let t = target("a.corp.example", 443);
    for list in [
        "*",
        "corp.example",
        ".corp.example",
        "x, a.corp.example",
        "CORP.example:443",
    ] {
        assert!(no_proxy_matches(list, &t), "{list}");
    }
    for list in [
        "",
        "orp.example",
        "corp.example:8443",
        "b.corp.example",
        "10.0.0.0/8",
    ] {
        assert!(!no_proxy_matches(list, &t), "{list}");
    }
    let e = env(&[("HTTPS_PROXY", "http://p:1"), ("no_proxy", "corp.example")]);
    assert_eq!(route(&t, &e).unwrap(), Route::Direct);
    assert!(no_proxy_matches("127.0.0.1", &target("127.0.0.1", 443)));
}

#[test]
fn a_bundle_without_certificates_fails_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    // Port 9 on loopback would refuse: the bundle is checked first.
    let out = probe("https://127.0.0.1:9/", &empty, &[]);
    assert_eq!(
        out,
        Outcome {
            ok: false,
            seen: format!("no usable CA certificate in {}", empty.display())
        }
    );
    let out = probe("https://127.0.0.1:9/", Path::new(""), &[]);
    assert!(out.seen.contains("no CA bundle variable"), "{}", out.seen);
}

/// A CA, and a TLS server on loopback whose certificate it signed (for
/// `localhost`), answering any number of handshakes until the test ends.
struct Server {
    ca_pem: String,
    port: u16,
}

fn ca(name: &str) -> (rcgen::CertificateParams, rcgen::KeyPair, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

fn server(ca_name: &str) -> Server {
    let (params, key, ca_pem) = ca(ca_name);
    let issuer = rcgen::Issuer::new(params, key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    serve(leaf.der().clone(), leaf_key, ca_pem)
}

/// A server presenting a self-signed CA certificate (for `localhost`) as
/// its own, as `openssl req -x509` makes one by default.
fn self_signed_ca_server(name: &str) -> Server {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    serve(cert.der().clone(), key, cert.pem())
}

fn serve(
    cert: rustls::pki_types::CertificateDer<'static>,
    leaf_key: rcgen::KeyPair,
    ca_pem: String,
) -> Server {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut sock in listener.incoming().flatten() {
            let mut conn = rustls::ServerConnection::new(config.clone()).unwrap();
            // The handshake ends either way; the client sends nothing after.
            while conn.is_handshaking() && conn.complete_io(&mut sock).is_ok() {}
        }
    });
    Server { ca_pem, port }
}

/// An HTTP CONNECT proxy on loopback that tunnels to 127.0.0.1 whatever
/// host is asked for (as an intercepting proxy resolves names itself), and
/// answers 407 when `want_auth` is set and the request lacks it.
fn connect_proxy(want_auth: Option<&'static str>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            if let Some(auth) = want_auth {
                if !head.contains(&format!("Proxy-Authorization: {auth}\r\n")) {
                    let _ = client.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
                    continue;
                }
            }
            let port: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| p.parse().ok())
                .unwrap();
            let upstream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            client
                .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .unwrap();
            let (mut from_client, mut to_upstream) = (client.try_clone().unwrap(), upstream);
            let mut from_upstream = to_upstream.try_clone().unwrap();
            std::thread::spawn(move || io::copy(&mut from_client, &mut to_upstream));
            std::thread::spawn(move || io::copy(&mut from_upstream, &mut client));
        }
    });
    port
}

fn bundle(dir: &Path, name: &str, pem: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

#[test]
fn a_trusted_server_is_ok_and_names_its_issuer() {
    let srv = server("sandspawn probe test CA");
    let dir = tempfile::tempdir().unwrap();
    let good = bundle(dir.path(), "good.pem", &srv.ca_pem);
    let out = probe(&format!("https://localhost:{}/", srv.port), &good, &[]);
    assert!(out.ok, "{}", out.seen);
    assert!(
        out.seen.starts_with(&format!(
            "TLS 1.3 to localhost:{}, certificate issued by CN=sandspawn probe test CA trusted, direct",
            srv.port
        )),
        "{}",
        out.seen
    );
}

#[test]
fn an_untrusted_issuer_is_named_with_the_next_step() {
    let srv = server("Intercepting Proxy CA");
    let (_, _, other) = ca("some other CA");
    let dir = tempfile::tempdir().unwrap();
    let wrong = bundle(dir.path(), "wrong.pem", &other);
    let out = probe(&format!("https://localhost:{}/", srv.port), &wrong, &[]);
    assert!(!out.ok);
    assert_eq!(
        out.seen,
        "not trusted: localhost presented a certificate issued by CN=Intercepting Proxy CA, and no CA \
         in the bundle signed it; if that issuer is your proxy, pass its CA certificate (--ca FILE, \
         or the variable that names it)"
    );
}

/// A server whose own certificate is a CA (a dev server's self-signed
/// `openssl req -x509` certificate, trusted through the bundle) is named as
/// such: the line read `rejected: …: Other(OtherError(CaUsedAsEndEntity))`.
#[test]
fn a_ca_certificate_presented_as_the_servers_own_is_named() {
    let srv = self_signed_ca_server("Dev Server");
    let dir = tempfile::tempdir().unwrap();
    let trusted = bundle(dir.path(), "dev.pem", &srv.ca_pem);
    let out = probe(&format!("https://localhost:{}/", srv.port), &trusted, &[]);
    assert!(!out.ok);
    assert_eq!(
        out.seen,
        "rejected: localhost presented a CA certificate (basicConstraints cA=true) as its own, \
         issued by CN=Dev Server; clients accept a CA only as the signer of the server's \
         certificate (`openssl req -x509` makes a CA by default): have the server present a \
         certificate that CA signs"
    );
}

#[test]
fn the_probe_goes_through_the_http_proxy_the_environment_names_with_its_credentials() {
    let srv = server("sandspawn probe test CA");
    let dir = tempfile::tempdir().unwrap();
    let good = bundle(dir.path(), "good.pem", &srv.ca_pem);
    // base64("alice:s@cret")
    let proxy = connect_proxy(Some("Basic YWxpY2U6c0BjcmV0"));
    let url = format!("https://localhost:{}/", srv.port);
    let with = env(&[(
        "HTTPS_PROXY",
        &format!("http://alice:s%40cret@127.0.0.1:{proxy}"),
    )]);
    let out = probe(&url, &good, &with);
    assert!(out.ok, "{}", out.seen);
    assert!(
        out.seen
            .ends_with(&format!("trusted, via HTTPS_PROXY 127.0.0.1:{proxy}")),
        "{}",
        out.seen
    );
    let without = env(&[("HTTPS_PROXY", &format!("http://127.0.0.1:{proxy}"))]);
    assert_eq!(
        probe(&url, &good, &without).seen,
        format!(
            "via HTTPS_PROXY 127.0.0.1:{proxy}: the proxy answered CONNECT localhost:{} with \
             `HTTP/1.1 407 Proxy Authentication Required`",
            srv.port
        )
    );
}

#[test]
fn a_trickling_proxy_cannot_stretch_the_wait_past_the_step_bound() {
    // One byte every 2 s, forever: without an overall bound each byte
    // would restart a 10 s read timeout.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut client, _)) = listener.accept() {
            while client.write_all(b"H").is_ok() {
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (_, _, pem) = ca("any CA");
    let roots = bundle(dir.path(), "roots.pem", &pem);
    let started = std::time::Instant::now();
    let out = probe(
        "https://localhost:443/",
        &roots,
        &env(&[("HTTPS_PROXY", &format!("http://127.0.0.1:{port}"))]),
    );
    let took = started.elapsed();
    assert!(!out.ok);
    assert_eq!(
        out.seen,
        format!("via HTTPS_PROXY 127.0.0.1:{port}: timed out")
    );
    assert!(took < STEP_TIMEOUT + Duration::from_secs(3), "{took:?}");
}

#[test]
fn a_silent_proxy_reads_as_timed_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        // Accept and hold the connection, saying nothing, until the test ends.
        let held = listener.accept();
        let _ = rx.recv();
        drop(held);
    });
    let dir = tempfile::tempdir().unwrap();
    let (_, _, pem) = ca("any CA");
    let roots = bundle(dir.path(), "roots.pem", &pem);
    let out = probe(
        "https://localhost:443/",
        &roots,
        &env(&[("HTTPS_PROXY", &format!("http://127.0.0.1:{port}"))]),
    );
    drop(tx);
    assert_eq!(
        out.seen,
        format!("via HTTPS_PROXY 127.0.0.1:{port}: timed out")
    );
}

/// A SOCKS5 proxy that takes the login and then says nothing: the CONNECT
/// reply is awaited a bounded time like every other step. (The login used
/// to clear the socket's read timeout, and the probe then waited forever.)
#[test]
fn a_socks_proxy_silent_after_the_login_times_out() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let mut greeting = [0u8; 3];
        let _ = s.read_exact(&mut greeting);
        let _ = s.write_all(&[5, 2]);
        // VER ULEN "u" PLEN "p"
        let mut login = [0u8; 5];
        let _ = s.read_exact(&mut login);
        let _ = s.write_all(&[1, 0]);
        let _ = rx.recv();
    });
    let dir = tempfile::tempdir().unwrap();
    let (_, _, pem) = ca("any CA");
    let roots = bundle(dir.path(), "roots.pem", &pem);
    let proxy = format!("socks5h://u:p@127.0.0.1:{port}");
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let out = probe(
            "https://localhost:443/",
            &roots,
            &env(&[("HTTPS_PROXY", &proxy)]),
        );
        let _ = done_tx.send(out);
    });
    let out = done
        .recv_timeout(STEP_TIMEOUT + Duration::from_secs(5))
        .expect("the probe still waits on the silent SOCKS5 proxy");
    drop(tx);
    assert!(!out.ok);
    assert_eq!(
        out.seen,
        format!("via HTTPS_PROXY 127.0.0.1:{port}: timed out")
    );
}
