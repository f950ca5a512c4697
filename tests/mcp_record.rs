//! `sandspawn mcp install --record-env`: the shell's trust and proxy
//! settings land in sandspawn's user config (masked in what is printed);
//! without the flag and without a terminal, only a hint is printed.

use std::process::{Command, Output};

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

fn install(home: &std::path::Path, record: bool) -> Output {
    let config = home.join("claude_desktop_config.json");
    if !config.exists() {
        std::fs::write(
            &config,
            r#"{"mcpServers": {"time": {"command": "uvx", "args": ["mcp-server-time"]}}}"#,
        )
        .unwrap();
    }
    let mut cmd = Command::new(SANDSPAWN);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("cfg"))
        .env("SSL_CERT_FILE", home.join("proxy/ca-cert.pem"))
        .env("HTTPS_PROXY", "http://alice:hunter2@proxy.corp:3128")
        .env("NO_PROXY", ".corp")
        .env("AWS_SECRET_ACCESS_KEY", "never-recorded")
        .current_dir(home)
        .args(["mcp", "install", "--client", "claude", "--config"])
        .arg(&config)
        .stdin(std::process::Stdio::null());
    if record {
        cmd.arg("--record-env");
    }
    cmd.output().unwrap()
}

#[test]
fn record_env_writes_the_user_config_and_masks_what_it_prints() {
    let home = tempfile::tempdir().unwrap();
    let out = install(home.path(), true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ca = home.path().join("proxy/ca-cert.pem");
    assert!(
        stdout.contains(&format!(
            "recorded: ca {} (from SSL_CERT_FILE)",
            ca.display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("recorded: proxy http://***@proxy.corp:3128 (from HTTPS_PROXY)"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    let text = std::fs::read_to_string(home.path().join("cfg/sandspawn/config.toml")).unwrap();
    let cfg: toml::Value = toml::from_str(&text).unwrap();
    assert_eq!(cfg["ca"][0].as_str(), ca.to_str());
    assert_eq!(
        cfg["proxy"].as_str(),
        Some("http://alice:hunter2@proxy.corp:3128")
    );
    assert_eq!(cfg["no_proxy"].as_str(), Some(".corp"));
    assert!(!text.contains("never-recorded"), "{text}");
}

#[test]
fn without_the_flag_and_a_terminal_only_a_hint_is_printed() {
    let home = tempfile::tempdir().unwrap();
    let out = install(home.path(), false);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("add --record-env"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!home.path().join("cfg/sandspawn/config.toml").exists());
}

#[test]
fn record_env_on_an_installed_config_still_records() {
    let home = tempfile::tempdir().unwrap();
    let first = install(home.path(), false);
    assert!(first.status.success());
    assert!(!home.path().join("cfg/sandspawn/config.toml").exists());
    let again = install(home.path(), true);
    assert!(again.status.success());
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("nothing to change"), "{stdout}");
    assert!(
        stdout.contains("recorded: proxy http://***@proxy.corp:3128 (from HTTPS_PROXY)"),
        "{stdout}"
    );
    assert!(home.path().join("cfg/sandspawn/config.toml").exists());
}
