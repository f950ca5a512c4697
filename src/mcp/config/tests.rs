use super::*;

const CODEX: &str = r#"
model = "o3"

[mcp_servers.time]
command = "uvx"
args = ["mcp-server-time"]
env_vars = ["GITHUB_TOKEN", { name = "OTHER", source = "local" }]
startup_timeout_sec = 20
tool_timeout_sec = 60.5
enabled = false

[mcp_servers.time.env]
TZ = "UTC"

[mcp_servers.time.sandbox]
read = ["~/data"]
net = "none"

[mcp_servers.remote]
url = "https://example.com/mcp"
"#;

#[test]
fn codex_servers_with_sandbox_tables() {
    let c = parse_config(CODEX, Path::new("c.toml"), Format::Codex).unwrap();
    let s = c.server("time").unwrap();
    assert_eq!(s.command.as_deref(), Some("uvx".as_ref()));
    assert_eq!(s.env, [("TZ".into(), "UTC".into())]);
    assert_eq!(s.env_vars, [OsString::from("GITHUB_TOKEN"), "OTHER".into()]);
    assert_eq!(s.startup_timeout, Some(Duration::from_secs(20)));
    assert_eq!(s.tool_timeout, Some(Duration::from_secs_f64(60.5)));
    assert!(!s.enabled);
    let sandbox = s.sandbox.as_ref().unwrap();
    assert_eq!(sandbox.net, Some(crate::policy::NetworkMode::None));
    let err = c
        .server("remote")
        .unwrap()
        .command_line(&c.path)
        .unwrap_err();
    assert!(err.to_string().contains("has no `command`"), "{err}");
    let err = c.server("nope").unwrap_err().to_string();
    assert!(
        err.contains("no server named `nope`; servers: remote, time"),
        "{err}"
    );
}

#[test]
fn unknown_sandbox_key_is_an_error_with_line_and_column() {
    let text = "[mcp_servers.a]\ncommand = \"x\"\n[mcp_servers.a.sandbox]\nreed = [\"/\"]\n";
    let err = parse_config(text, Path::new("c.toml"), Format::Codex)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 4, column 1") && err.contains("reed"),
        "{err}"
    );
    let json =
        "{\"mcpServers\": {\"a\": {\"command\": \"x\",\n  \"sandbox\": {\"nett\": \"none\"}}}}";
    let err = parse_config(json, Path::new("c.json"), Format::Json)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nett") && err.contains("line 2"), "{err}");
}

#[test]
fn malformed_files_name_line_and_column() {
    let err = parse_config("[mcp_servers.a\n", Path::new("c.toml"), Format::Codex).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
    let err = parse_config("{\"mcpServers\": {,}}", Path::new("c.json"), Format::Json).unwrap_err();
    assert!(err.to_string().contains("line 1 column"), "{err}");
}

#[test]
fn json_env_file_comes_before_literal_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(".env"),
        "# c\nexport A=\"from file\"\nB=file\n",
    )
    .unwrap();
    let path = dir.path().join("mcp.json");
    std::fs::write(
        &path,
        r#"{"servers": {"fs": {"type": "stdio", "command": "npx", "args": ["-y", "x"],
            "envFile": ".env", "env": {"B": "literal"}}}}"#,
    )
    .unwrap();
    let c = read_config(&path).unwrap();
    let s = c.server("fs").unwrap();
    let env: Vec<(&str, &str)> = s
        .env
        .iter()
        .map(|(a, b)| (a.to_str().unwrap(), b.to_str().unwrap()))
        .collect();
    assert_eq!(env, [("A", "from file"), ("B", "file"), ("B", "literal")]);
}
