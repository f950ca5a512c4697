//! `sandspawn mcp` recovering the TLS setup of the MCP host process, as
//! the host meant it: a relative CA path is the host's (its working
//! directory, not the server's), and the proxy the client gave the server
//! is not overridden by the host's other spelling of it.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

fn ca_in(dir: &Path) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::create_dir_all(dir.join("certs")).unwrap();
    std::fs::write(
        dir.join("certs/corp-ca.pem"),
        params.self_signed(&key).unwrap().pem(),
    )
    .unwrap();
}

#[test]
fn a_relative_ca_path_is_the_hosts_and_the_clients_proxy_spelling_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let (host_cwd, server_cwd, home) = (
        tmp.path().join("host"),
        tmp.path().join("server"),
        tmp.path().join("home"),
    );
    for d in [&host_cwd, &server_cwd, &home] {
        std::fs::create_dir_all(d).unwrap();
    }
    ca_in(&host_cwd);
    // The host (this shell) has a relative SSL_CERT_FILE and a stale
    // lowercase proxy; it starts sandspawn from another directory with a
    // stripped environment plus the HTTPS_PROXY its config gives the server.
    let script = format!(
        "(cd {server} && exec env -i PATH=/usr/bin:/bin HOME={home} XDG_CACHE_HOME={home}/.cache \
         HTTPS_PROXY=http://given.corp:3128 {SANDSPAWN} mcp explain --json -- /bin/true); echo \"exit $?\" >&2",
        server = server_cwd.display(),
        home = home.display(),
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("SSL_CERT_FILE", "certs/corp-ca.pem")
        .env("https_proxy", "http://stale.corp:1")
        .current_dir(&host_cwd)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("exit 0"), "{stderr}");
    assert!(!stderr.contains("does not exist"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let input = v["trust"]["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["origin"]["name"] == "SSL_CERT_FILE")
        .cloned()
        .unwrap_or_default();
    let want = host_cwd.join("certs/corp-ca.pem");
    assert_eq!(input["path"], want.to_str().unwrap(), "{}", v["trust"]);
    assert_eq!(input["certificates"], 1, "{}", v["trust"]);
    let var = |name: &str| {
        v["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    for name in ["HTTPS_PROXY", "https_proxy"] {
        assert_eq!(
            var(name),
            Some(Value::from("http://given.corp:3128")),
            "{name}"
        );
    }
}
