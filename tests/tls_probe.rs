//! `explain --probe URL` against a real TLS-intercepting proxy (mitmproxy,
//! from the test bed of tests/tls_proxy.rs): the handshake is made from
//! inside the sandbox the way the command's clients would make it, and the
//! line names the CA that issued what came back, trusted or not.

#[path = "proxy/fixture.rs"]
mod fixture;
use fixture::*;
mod support;

use std::process::Command;

/// `sandspawn explain --probe URL` with a scrubbed environment plus `vars`.
/// HOME lies outside /tmp (under bwrap's private /tmp a HOME there does not
/// exist inside, and `--verify` would rightly fail on it), somewhere the
/// unprivileged CI user can write too.
fn explain(fx: &Fx, args: &[&str], vars: &[(&str, String)], url: &str) -> Out {
    let home = tempfile::tempdir_in("/var/tmp").unwrap();
    let mut c = Command::new(SANDSPAWN);
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", fx.dir.join("cache"))
        .current_dir(fx.dir.join("ws"))
        .arg("explain")
        .args(args)
        .args(["--probe", url, "--", "true"]);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_bounded(c, 60)
}

/// The report line of the probe.
fn probe_line(out: &Out, url: &str) -> String {
    out.stdout
        .lines()
        .find(|l| l.contains(" tls ") && l.contains(url))
        .unwrap_or_else(|| panic!("no probe line for {url}:\n{}", out.all()))
        .to_string()
}

const MITM_ISSUER: &str = "issued by CN=mitmproxy, O=mitmproxy";

#[test]
fn through_the_bridge_the_probe_trusts_the_proxy_ca_it_was_given_and_names_it_when_not() {
    let Some(fx) = Fx::start("probe-bridge") else {
        return;
    };
    let url = fx.url(fx.origin_port);
    let proxy = ("HTTPS_PROXY", format!("http://127.0.0.1:{}", fx.proxy_port));
    let ca = ("SSL_CERT_FILE", fx.mitm_ca().display().to_string());

    let out = explain(&fx, &["--net", "proxy"], &[proxy.clone(), ca], &url);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let line = probe_line(&out, &url);
    assert!(line.starts_with("  ok    tls "), "{line}");
    // The child's proxy variable names the bridge's inside listener.
    assert!(
        line.ends_with(&format!(
            "(TLS 1.3 to origin.test:{}, certificate {MITM_ISSUER} trusted, via https_proxy 127.0.0.1:3128)",
            fx.origin_port
        )),
        "{line}"
    );
    // (The origin's own certificate comes from the fixture's PKI: a
    // mitmproxy issuer is the proof that the handshake was intercepted.)

    // Negative control: without the CA, not trusted, and the issuer named.
    let out = explain(&fx, &["--net", "proxy"], &[proxy], &url);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let line = probe_line(&out, &url);
    assert!(line.starts_with("  FAIL  tls "), "{line}");
    assert!(
        line.contains(&format!(
            "(not trusted: origin.test presented a certificate {MITM_ISSUER}, and no CA in the bundle signed it;"
        )),
        "{line}"
    );
}

#[test]
fn with_the_host_network_the_probe_uses_the_proxy_variable_on_both_backends() {
    let Some(fx) = Fx::start("probe-full") else {
        return;
    };
    let url = fx.url(fx.origin_port);
    let vars = [
        ("https_proxy", format!("http://127.0.0.1:{}", fx.proxy_port)),
        ("SSL_CERT_FILE", fx.mitm_ca().display().to_string()),
    ];
    for backend in ["bwrap", "landlock"] {
        let out = explain(&fx, &["--net", "full", "--backend", backend], &vars, &url);
        assert_eq!(out.code, Some(0), "{backend}: {}", out.all());
        let line = probe_line(&out, &url);
        assert!(
            line.ends_with(&format!(
                "certificate {MITM_ISSUER} trusted, via https_proxy 127.0.0.1:{})",
                fx.proxy_port
            )),
            "{backend}: {line}"
        );
    }
    // NO_PROXY sends the probe direct, where origin.test does not resolve.
    let mut bypass = vars.to_vec();
    bypass.push(("NO_PROXY", ".test".into()));
    let out = explain(&fx, &["--net", "full"], &bypass, &url);
    assert_eq!(out.code, Some(1), "{}", out.all());
    let line = probe_line(&out, &url);
    assert!(line.contains("(direct: resolving origin.test: "), "{line}");
}

#[test]
fn with_network_none_the_probe_says_the_sandbox_has_no_way_out() {
    let Some(fx) = Fx::start("probe-none") else {
        return;
    };
    let url = fx.url(fx.origin_port);
    for backend in ["bwrap", "landlock"] {
        let out = explain(&fx, &["--net", "none", "--backend", backend], &[], &url);
        assert_eq!(out.code, Some(1), "{backend}: {}", out.all());
        assert!(
            probe_line(&out, &url).ends_with(
                "(direct: resolving origin.test: the sandbox refuses inet sockets (network none))"
            ),
            "{backend}: {}",
            out.all()
        );
    }
}
