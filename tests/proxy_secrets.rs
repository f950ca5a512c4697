//! A proxy URL whose user wrote `user:password` and forgot `@host`: the
//! password sits where the port goes. No line sandspawn prints (an error,
//! `explain` as text or JSON, `env`, `run --report`, `mcp explain`) may
//! echo it, whichever variable, flag, policy key or MCP config carries it.

use std::path::Path;
use std::process::{Command, Output};

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");
const SECRET: &str = "s3cret";
const VALUE: &str = "http://user:s3cret";

/// The binary with a clean environment plus `vars`.
fn sandspawn(home: &Path, vars: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(SANDSPAWN);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .current_dir(home)
        .args(args);
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Nothing on either stream holds the password.
fn assert_no_secret(out: &Output, case: &str) {
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(out));
    assert!(!all.contains(SECRET), "{case}: {all}");
}

#[test]
fn a_password_in_the_port_of_a_proxy_variable_is_masked_in_the_error() {
    let home = tempfile::tempdir().unwrap();
    for name in [
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        let out = sandspawn(
            home.path(),
            &[(name, VALUE)],
            &["run", "--net", "proxy", "--", "/bin/true"],
        );
        assert!(!out.status.success(), "{name}");
        assert_eq!(
            stderr(&out),
            format!("sandspawn: {name}: `http://user:***` is not a proxy URL: bad port\n"),
            "{name}"
        );
        assert_no_secret(&out, name);
    }
}

#[test]
fn a_numeric_password_too_long_for_a_port_is_masked_in_the_error() {
    // Five digits or fewer up to 65535 cannot be told from a port; past
    // that the text after the colon is no port and may be a password.
    let home = tempfile::tempdir().unwrap();
    let out = sandspawn(
        home.path(),
        &[("HTTPS_PROXY", "http://user:99999999")],
        &["run", "--net", "proxy", "--", "/bin/true"],
    );
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        "sandspawn: HTTPS_PROXY: `http://user:***` is not a proxy URL: bad port\n"
    );
    assert!(!stderr(&out).contains("99999999"));
}

#[test]
fn a_password_in_the_port_of_a_flag_policy_or_set_upstream_is_masked() {
    let home = tempfile::tempdir().unwrap();
    let out = sandspawn(
        home.path(),
        &[],
        &["run", "--net", "proxy", "--proxy", VALUE, "--", "/bin/true"],
    );
    assert_eq!(
        stderr(&out),
        "sandspawn: --proxy: `http://user:***` is not a proxy URL: bad port\n"
    );
    let policy = home.path().join("policy.toml");
    std::fs::write(&policy, format!("net = \"proxy\"\nproxy = \"{VALUE}\"\n")).unwrap();
    let out = sandspawn(
        home.path(),
        &[],
        &[
            "run",
            "--policy",
            policy.to_str().unwrap(),
            "--",
            "/bin/true",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("`http://user:***` is not a proxy URL: bad port\n"),
        "{}",
        stderr(&out)
    );
    assert_no_secret(&out, "policy");
    for set in [
        format!("HTTPS_PROXY={VALUE}"),
        format!("npm_config_proxy={VALUE}"),
    ] {
        let out = sandspawn(
            home.path(),
            &[],
            &[
                "explain",
                "--net",
                "proxy",
                "--set",
                &set,
                "--",
                "/bin/true",
            ],
        );
        assert_no_secret(&out, &set);
    }
}

#[test]
fn explain_env_and_report_mask_a_password_in_the_port_of_any_proxy_variable() {
    let home = tempfile::tempdir().unwrap();
    let vars: Vec<(&str, &str)> = [
        "HTTPS_PROXY",
        "http_proxy",
        "all_proxy",
        "npm_config_proxy",
        "NPM_CONFIG_HTTPS_PROXY",
        "YARN_HTTPS_PROXY",
        "PIP_PROXY",
    ]
    .iter()
    .map(|n| (*n, VALUE))
    .collect();
    for args in [
        &["explain", "--net", "full", "--", "/bin/true"][..],
        &["explain", "--json", "--net", "full", "--", "/bin/true"],
        &["env", "--net", "full"],
        &["doctor"],
    ] {
        let out = sandspawn(home.path(), &vars, args);
        assert!(
            out.status.success() || args[0] == "doctor",
            "{args:?}: {}",
            stderr(&out)
        );
        assert_no_secret(&out, &format!("{args:?}"));
    }
    let out = sandspawn(
        home.path(),
        &vars,
        &["explain", "--net", "full", "--", "/bin/true"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("http://user:***"), "{text}");
    let out = sandspawn(
        home.path(),
        &vars,
        &["run", "--report", "--net", "full", "--", "/bin/true"],
    );
    assert_no_secret(&out, "run --report");
}

#[test]
fn an_mcp_config_env_block_with_a_password_in_the_port_is_masked() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("mcp.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"mcpServers": {{"s": {{"command": "/bin/true", "env": {{"HTTPS_PROXY": "{VALUE}", "npm_config_proxy": "{VALUE}"}}}}}}}}"#
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    for args in [
        &[
            "mcp",
            "explain",
            "--no-host-env",
            "--config",
            c,
            "--server",
            "s",
        ][..],
        &[
            "mcp",
            "explain",
            "--json",
            "--no-host-env",
            "--config",
            c,
            "--server",
            "s",
        ],
    ] {
        let out = sandspawn(home.path(), &[], args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert_no_secret(&out, &format!("{args:?}"));
    }
    let out = sandspawn(
        home.path(),
        &[],
        &[
            "mcp",
            "explain",
            "--no-host-env",
            "--net",
            "proxy",
            "--config",
            c,
            "--server",
            "s",
        ],
    );
    assert_eq!(
        stderr(&out),
        "sandspawn: HTTPS_PROXY (set): `http://user:***` is not a proxy URL: bad port\n"
    );
}
