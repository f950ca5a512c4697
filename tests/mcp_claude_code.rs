//! Claude Code's `~/.claude.json`: user-scope servers at the top level,
//! per-project ones under `projects.<dir>.mcpServers`, beside much state
//! that is Claude Code's. install wraps both scopes (naming each project),
//! keeps the rest byte for byte and the file's mode; check lists every
//! scope; the wrapped entry finds its own project's server; uninstall gives
//! back the original bytes.

mod mcp_support;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use mcp_support::*;

fn sandspawn(host: &Host, args: &[&str]) -> Output {
    Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .current_dir(host.work())
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn install_check_uninstall_cover_user_and_project_scopes() {
    let host = Host::new();
    let script = host.work().join("server.py");
    std::fs::write(&script, ONE_TOOL_SERVER).unwrap();
    let work = host.work().display().to_string();
    let server = |tool: &str| {
        format!(
            r#"{{"type": "stdio", "command": "/usr/bin/python3", "args": [{:?}, "{tool}"], "env": {{}}}}"#,
            script.display()
        )
    };
    let original = format!(
        "{{\n  \"numStartups\": 12,\n  \"mcpServers\": {{\"fs\": {}}},\n  \"projects\": {{\n    \
         {work:?}: {{\"allowedTools\": [], \"history\": [{{\"display\": \"hi\"}}], \"mcpServers\": {{\"fs\": {}}}}},\n    \
         \"/elsewhere\": {{\"mcpServers\": {{}}, \"hasTrustDialogAccepted\": true}}\n  }},\n  \"userID\": \"abc\"\n}}\n",
        server("user_tool"),
        server("project_tool"),
    );
    let config = host.home().join(".claude.json");
    std::fs::write(&config, &original).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = sandspawn(&host, &["mcp", "install", "--client", "claude-code"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("wrapped: fs, fs (project {work})\n")),
        "{}",
        text(&out)
    );
    let installed = std::fs::read_to_string(&config).unwrap();
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
    let v: serde_json::Value = serde_json::from_str(&installed).unwrap();
    let orig: serde_json::Value = serde_json::from_str(&original).unwrap();
    // Everything but the two commands and their args is as it was.
    for key in ["numStartups", "userID"] {
        assert_eq!(v[key], orig[key]);
    }
    assert_eq!(v["projects"]["/elsewhere"], orig["projects"]["/elsewhere"]);
    assert_eq!(
        v["projects"][&work]["history"],
        orig["projects"][&work]["history"]
    );
    let args = |v: &serde_json::Value| -> Vec<String> {
        v["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect()
    };
    let project_args = args(&v["projects"][&work]["mcpServers"]["fs"]);
    let cfg = config.display().to_string();
    assert_eq!(
        project_args[..7],
        [
            "mcp",
            "--config",
            &cfg,
            "--project",
            &work,
            "--server",
            "fs"
        ]
    );
    assert_eq!(
        args(&v["mcpServers"]["fs"])[..5],
        ["mcp", "--config", &cfg, "--server", "fs"]
    );

    // check: one row per scope, each its own server.
    let out = sandspawn(&host, &["mcp", "check", "--no-host-env", "--config", &cfg]);
    assert!(out.status.success(), "{}", text(&out));
    let rows: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .take(2)
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(
        rows[0].starts_with("fs bwrap ") && rows[0].ends_with(" 1 ok"),
        "{rows:?}"
    );
    assert!(
        rows[1].starts_with(&format!("fs (project {work}) bwrap ")) && rows[1].ends_with(" 1 ok"),
        "{rows:?}"
    );

    // One project's server alone.
    let out = sandspawn(
        &host,
        &[
            "mcp",
            "check",
            "--no-host-env",
            "--config",
            &cfg,
            "--project",
            &work,
            "--server",
            "fs",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(
        stdout.contains(&format!("fs (project {work}) ")),
        "{stdout}"
    );

    // The wrapped project entry, as Claude Code runs it, finds its server
    // (explain: the same lookup, nothing started); a name only a project
    // has is not taken for a top-level one.
    let explain = |extra: &[&str]| {
        let mut a = vec!["mcp", "explain", "--no-host-env", "--config", &cfg];
        a.extend_from_slice(extra);
        sandspawn(&host, &a)
    };
    let out = explain(&["--project", &work, "--server", "fs"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = explain(&["--project", "/elsewhere", "--server", "fs"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "sandspawn: MCP config {cfg}: no server named `fs` in project `/elsewhere`; servers: fs, fs (project {work})"
        )
    );

    let out = sandspawn(&host, &["mcp", "uninstall", "--client", "claude-code"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    let mode = std::fs::metadata(&config).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o600);
}
