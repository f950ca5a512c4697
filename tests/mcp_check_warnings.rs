//! `mcp check` plans every server of a config with the same trust inputs:
//! a warning about them is printed once, not once per server.

mod mcp_support;

use std::process::Command;

use mcp_support::*;

#[test]
fn a_trust_warning_is_printed_once_for_all_servers() {
    let host = Host::new();
    // A leaf certificate (not a CA): the variable naming it is warned about.
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["proxy.local".to_string()]).unwrap();
    let leaf = host.work().join("leaf.pem");
    std::fs::write(&leaf, params.self_signed(&key).unwrap().pem()).unwrap();
    let config = host.work().join("config.toml");
    std::fs::write(
        &config,
        "[mcp_servers.a]\ncommand = \"sh\"\nargs = [\"-c\", \"exit 3\"]\n\n\
         [mcp_servers.b]\ncommand = \"sh\"\nargs = [\"-c\", \"exit 4\"]\n",
    )
    .unwrap();
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .env("SSL_CERT_FILE", &leaf)
        .current_dir(host.work())
        .args(["mcp", "check", "--no-host-env", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("server exit status: 3"), "{stdout}");
    assert!(stdout.contains("server exit status: 4"), "{stdout}");
    let warning = format!(
        "sandspawn: warning: SSL_CERT_FILE: {}: certificate 'CN=rcgen self signed cert' is not a CA",
        leaf.display()
    );
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
}
