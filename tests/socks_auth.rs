//! Network `proxy` with a SOCKS5 upstream that demands a username and
//! password (RFC 1929): mitmproxy 11 in SOCKS5 mode with `proxyauth` (the
//! same pinned mitmproxy as tests/tls_proxy.rs, from `.ci/run`), in front
//! of the fixture's TLS origin. The credentials come in the upstream URL;
//! the host bridge logs in, the child never sees them.

#[path = "proxy/fixture.rs"]
mod fixture;
use fixture::*;
mod support;

#[test]
fn socks5_credentials_stay_on_the_host_and_refusals_name_the_variable() {
    let Some(fx) = Fx::start("socks-auth") else {
        return;
    };
    let (_proxy, port) = fx.authenticating_socks("socks-flows.jsonl");
    let url = fx.url(fx.origin_port);
    let ca = fx.mitm_ca().display().to_string();
    let with = |pw: &str| format!("socks5h://alice:{pw}@127.0.0.1:{port}");

    // Right credentials: curl inside reaches the origin through the
    // authenticating proxy; nothing inside — the environment and command
    // line of every process it can see — holds the password or the user.
    // (The script spells neither, so its own command line cannot match.)
    let script = format!(
        "P=s3c; P=${{P}}ret; U=ali; U=${{U}}ce; hits=0; \
         for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do \
           c=$(tr '\\0' ' ' < $f 2>/dev/null); \
           case \"$c\" in *\"$P\"*|*\"$U\"*) hits=$((hits+1));; esac; \
         done; echo $hits; env | grep -c \"$P\"; \
         echo $FTP_PROXY; curl -sS --max-time 10 -x $FTP_PROXY {url}; echo; echo rc=$?"
    );
    let ok = fx.sandspawn(
        "proxy",
        &[("ALL_PROXY", with("s3cret")), ("SSL_CERT_FILE", ca.clone())],
        &["sh", "-c", &script],
    );
    let lines: Vec<&str> = ok.stdout.lines().collect();
    assert_eq!(
        lines.get(..3),
        Some(&["0", "0", "socks5h://127.0.0.1:3128"][..]),
        "credentials reached the child, or the proxy URL is wrong: {}",
        ok.all()
    );
    assert!(
        ok.stdout.contains(OK) && ok.stdout.contains("rc=0"),
        "{}",
        ok.all()
    );
    let flows = std::fs::read_to_string(fx.dir.join("socks-flows.jsonl")).unwrap_or_default();
    assert!(
        flows.contains("origin.test"),
        "the authenticating proxy saw no flow: {flows}"
    );

    // Wrong password: refused at start, one line naming the variable, the
    // password nowhere in it.
    let bad = fx.sandspawn(
        "proxy",
        &[("ALL_PROXY", with("wrong-pw"))],
        &["curl", "-sS", "--max-time", "10", &url],
    );
    assert_eq!(bad.code, Some(125), "{}", bad.all());
    let line = bad.stderr.trim();
    assert!(
        line.contains("(from ALL_PROXY)") && line.contains("refused the username/password"),
        "{line}"
    );
    assert!(!line.contains("wrong-pw") && !line.contains('\n'), "{line}");

    // A SOCKS5 proxy that takes no login (the fixture's) is told to take
    // one: it answers "no acceptable method", named as such.
    let no_auth = fx.sandspawn(
        "proxy",
        &[(
            "HTTPS_PROXY",
            format!("socks5://alice:s3cret@127.0.0.1:{}", fx.socks_port),
        )],
        &["true"],
    );
    assert_eq!(no_auth.code, Some(125), "{}", no_auth.all());
    assert!(
        no_auth.stderr.contains("(from HTTPS_PROXY)")
            && no_auth
                .stderr
                .contains("does not accept username/password authentication"),
        "{}",
        no_auth.all()
    );
    assert!(!no_auth.stderr.contains("s3cret"), "{}", no_auth.all());
}
