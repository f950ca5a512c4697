//! A server entry's `env` as users write it behind a TLS-inspecting proxy:
//! the CA variables they set by hand per server (NODE_EXTRA_CA_CERTS,
//! SSL_CERT_FILE) are trust inputs, folded into the sanitised bundles the
//! server gets; the file they name is not what the server reads, so no
//! warning may ask to grant it. A data path in the same `env` is still
//! named.

mod support;

use support::*;

#[test]
fn ca_variables_in_an_entrys_env_are_trust_inputs_not_data_paths() {
    let s = Scratch::new(&["home", "work", "corp", "data"]);
    let ca = s.path("corp/ca-cert.pem");
    std::fs::write(&ca, ca_pem("Corp Boundary CA")).unwrap();
    let memory = s.path("data/memory.json");
    std::fs::write(&memory, "{}").unwrap();
    let config = s.path("work/config.toml");
    std::fs::write(
        &config,
        format!(
            "[mcp_servers.gitlab]\ncommand = \"sh\"\nargs = [\"-c\", \"exit 0\"]\n\n\
             [mcp_servers.gitlab.env]\nNODE_EXTRA_CA_CERTS = \"{ca}\"\nSSL_CERT_FILE = \"{ca}\"\n\
             SSL_CERT_DIR = \"{dir}\"\nMEMORY_FILE_PATH = \"{memory}\"\n",
            ca = ca.display(),
            dir = s.path("corp").display(),
            memory = memory.display(),
        ),
    )
    .unwrap();
    let out = scrubbed(
        &s.path("home"),
        Some(&s.path("home/.cache")),
        &s.path("work"),
    )
    .args([
        "mcp",
        "explain",
        "--json",
        "--no-host-env",
        "--server",
        "gitlab",
    ])
    .arg("--config")
    .arg(&config)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let value = |name: &str| {
        plan["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .and_then(|v| v["value"].as_str())
            .map(str::to_string)
    };
    // The server reads the bundles, which hold the entry's CA.
    let trust = s.path("home/.cache/sandspawn/trust");
    for name in ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"] {
        let got = value(name).unwrap_or_default();
        assert!(got.starts_with(&*trust.to_string_lossy()), "{name}={got}");
        let pem = std::fs::read_to_string(&got).unwrap();
        assert!(
            pem.contains(ca_body(&ca).as_str()),
            "{name}: {got} lacks the CA"
        );
    }
    let warnings: Vec<String> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let outside = |label: String| {
        format!(
            "server gitlab in {}: {label} is outside the sandbox's view: the server will find it missing; grant it with `--read {}` (`--write` to change it), or `read` in the server's sandbox table",
            config.display(),
            label.split_once('=').unwrap().1
        )
    };
    assert!(
        warnings.contains(&outside(format!("MEMORY_FILE_PATH={}", memory.display()))),
        "{warnings:#?}"
    );
    for name in ["NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"] {
        assert!(
            !warnings.iter().any(|w| w.contains(&format!("{name}="))),
            "{name} warned about: {warnings:#?}"
        );
    }
}

/// The base64 body of the one certificate in `path`, as a bundle holds it.
fn ca_body(path: &std::path::Path) -> String {
    let pem = std::fs::read_to_string(path).unwrap();
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .take(3)
        .collect::<Vec<_>>()
        .join("\n")
}

/// An `envFile` that is not there: one line naming the config, the server,
/// the file and what to do, as the other entry errors do.
#[test]
fn a_missing_env_file_names_the_config_and_the_fix() {
    let s = Scratch::new(&["home", "ws/.vscode"]);
    let config = s.path("ws/.vscode/mcp.json");
    std::fs::write(
        &config,
        r#"{"servers": {"t": {"type": "stdio", "command": "/bin/true", "envFile": "${workspaceFolder}/.env"}}}"#,
    )
    .unwrap();
    let out = scrubbed(&s.path("home"), None, &s.path("ws"))
        .args(["mcp", "--no-host-env", "--server", "t", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "sandspawn: MCP config {}: server `t`: envFile {}: No such file or directory (os error 2); create it, or fix the entry's `envFile`\n",
            config.display(),
            s.path("ws/.env").display()
        )
    );
}
