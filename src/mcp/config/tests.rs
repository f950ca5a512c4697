use super::*;
use crate::mcp::vars::VarContext;

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
    assert!(
        err.to_string()
            .contains("server `remote` is a remote server (`url`)"),
        "{err}"
    );
    let err = c.server("nope").unwrap_err().to_string();
    assert!(
        err.contains("no server named `nope`; servers: remote, time"),
        "{err}"
    );
}

/// A typo in one server's entry fails that server, with the file, the
/// server, the entry's line and the key; the other servers still start.
#[test]
fn a_bad_entry_fails_only_its_server() {
    let vars = VarContext::new(Vec::new(), Path::new("/w"), Path::new("c.toml"));
    let err = |c: &ClientConfig, name: &str| {
        c.resolve(c.server(name).unwrap(), &vars, true)
            .unwrap_err()
            .to_string()
    };
    let text = "[mcp_servers.a]\ncommand = \"x\"\n[mcp_servers.a.sandbox]\nreed = [\"/\"]\n\n[mcp_servers.b]\ncommand = \"y\"\nargs = \"z\"\n\n[mcp_servers.ok]\ncommand = \"/bin/true\"\n";
    let c = parse_config(text, Path::new("c.toml"), Format::Codex).unwrap();
    assert_eq!(
        err(&c, "a"),
        "MCP config c.toml: server `a`: line 4, column 1: unknown field `reed`, expected one of `presets`, `read`, `write`, `deny`, `net`, `proxy`, `proxy_allow_local`, `pass`, `set`, `deny_env`, `ca`, `merge_system_roots`, `backend`"
    );
    assert_eq!(
        err(&c, "b"),
        "MCP config c.toml: server `b`: line 8, column 8: invalid type: string \"z\", expected a sequence"
    );
    assert!(c.resolve(c.server("ok").unwrap(), &vars, true).is_ok());
    let json = "{\"mcpServers\": {\"a\": {\"command\": \"x\",\n  \"sandbox\": {\"nett\": \"none\"}},\n  \"ok\": {\"command\": \"y\"}}}";
    let c = parse_config(json, Path::new("c.json"), Format::Json).unwrap();
    assert_eq!(
        err(&c, "a"),
        "MCP config c.json: server `a`: entry at line 1, column 22: unknown field `nett`, expected one of `presets`, `read`, `write`, `deny`, `net`, `proxy`, `proxy_allow_local`, `pass`, `set`, `deny_env`, `ca`, `merge_system_roots`, `backend`"
    );
    assert!(c.resolve(c.server("ok").unwrap(), &vars, true).is_ok());
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
    let s = c
        .resolve(c.server("fs").unwrap(), &VarContext::default(), true)
        .unwrap();
    let env: Vec<(&str, &str)> = s
        .env
        .iter()
        .map(|(a, b)| (a.to_str().unwrap(), b.to_str().unwrap()))
        .collect();
    assert_eq!(env, [("A", "from file"), ("B", "file"), ("B", "literal")]);
}

/// A VS Code workspace: `WS/.vscode/mcp.json` with its variables.
fn vscode(text: &str) -> (tempfile::TempDir, ClientConfig, VarContext) {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("proj");
    std::fs::create_dir_all(ws.join(".vscode")).unwrap();
    std::fs::write(ws.join(".env"), "FROM_FILE=${userHome}\n").unwrap();
    let path = ws.join(".vscode/mcp.json");
    std::fs::write(&path, text).unwrap();
    let vars = VarContext::new(
        vec![
            ("HOME".into(), "/home/me".into()),
            ("GH".into(), "gh-token".into()),
        ],
        Path::new("/somewhere/else"),
        &path,
    );
    (dir, read_config(&path).unwrap(), vars)
}

const VSCODE: &str = r#"{
  "inputs": [{"type": "promptString", "id": "api-key", "password": true}],
  "servers": {
    "fs": {"type": "stdio", "command": "${userHome}/bin/srv",
      "args": ["--root", "${workspaceFolder}", "--token", "${env:GH}", "${env:UNSET}x"],
      "envFile": "${workspaceFolder}/.env", "cwd": "${workspaceFolder}/sub",
      "env": {"PORT": 8080, "DEBUG": true, "GONE": null, "KEY": "${input:api-key}"}},
    "asks": {"command": "srv", "args": ["${input:api-key}"]},
    "odd": {"command": "srv", "env": {"X": "${file}"}},
    "web": {"type": "http", "url": "https://example.com/mcp"}
  }
}"#;

#[test]
fn vscode_variables_expand_per_server() {
    let (dir, c, mut vars) = vscode(VSCODE);
    let ws = dir.path().join("proj");
    let s = c.resolve(c.server("fs").unwrap(), &vars, true);
    // `${input:…}` in env comes from the client; without it, one error.
    let err = s.unwrap_err().to_string();
    assert!(
        err.ends_with(
            "server `fs`: env KEY: `${input:api-key}` is asked for by the client when it starts the server; sandspawn cannot prompt (write the value, or use ${env:NAME})"
        ),
        "{err}"
    );
    vars.env.push(("KEY".into(), "typed-by-user".into()));
    let s = c.resolve(c.server("fs").unwrap(), &vars, true).unwrap();
    assert_eq!(s.command.as_deref(), Some("/home/me/bin/srv".as_ref()));
    let args: Vec<&str> = s.args.iter().map(|a| a.to_str().unwrap()).collect();
    let root = ws.to_str().unwrap();
    assert_eq!(args, ["--root", root, "--token", "gh-token", "x"]);
    assert_eq!(s.cwd, Some(ws.join("sub")));
    let env: Vec<(&str, &str)> = s
        .env
        .iter()
        .map(|(a, b)| (a.to_str().unwrap(), b.to_str().unwrap()))
        .collect();
    // The env file's text is data, never expanded; null sets nothing.
    assert_eq!(
        env,
        [
            ("FROM_FILE", "${userHome}"),
            ("DEBUG", "true"),
            ("KEY", "typed-by-user"),
            ("PORT", "8080"),
        ]
    );
    assert!(!s.remote && c.server("web").unwrap().remote);
}

#[test]
fn vscode_variables_that_cannot_expand_name_server_and_variable() {
    let (_dir, c, vars) = vscode(VSCODE);
    let err = c
        .resolve(c.server("asks").unwrap(), &vars, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server `asks`: args[0]: `${input:api-key}` is asked for by the client"),
        "{err}"
    );
    // A command given after `--` was expanded by the client: args unread.
    let s = c.resolve(c.server("asks").unwrap(), &vars, false).unwrap();
    assert_eq!(s.args, [OsString::from("${input:api-key}")]);
    let err = c
        .resolve(c.server("odd").unwrap(), &vars, true)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("server `odd`: env X: unknown variable `${file}`"),
        "{err}"
    );
}

#[test]
fn codex_values_are_literal() {
    let text = "[mcp_servers.a]\ncommand = \"x\"\nargs = [\"${workspaceFolder}\"]\n";
    let c = parse_config(text, Path::new("c.toml"), Format::Codex).unwrap();
    let s = c
        .resolve(c.server("a").unwrap(), &VarContext::default(), true)
        .unwrap();
    assert_eq!(s.args, [OsString::from("${workspaceFolder}")]);
}

#[test]
fn a_file_without_servers_says_so() {
    let c = parse_config("model = \"o3\"\n", Path::new("c.toml"), Format::Codex).unwrap();
    assert_eq!(
        c.server("x").unwrap_err().to_string(),
        "MCP config c.toml: no MCP servers in it (expected [mcp_servers.NAME] tables)"
    );
    let c = parse_config("{\"mcp\": {}}", Path::new("settings.json"), Format::Json).unwrap();
    assert_eq!(
        c.not_empty().unwrap_err().to_string(),
        "MCP config settings.json: no MCP servers in it (expected a \"mcpServers\" or \"servers\" object, or \"mcp\": {\"servers\"} in VS Code's settings.json)"
    );
}

#[test]
fn jsonc_files_are_json() {
    for name in ["a.json", "a.jsonc", "A.JSON"] {
        assert_eq!(format_of(Path::new(name), ""), Format::Json, "{name}");
    }
    assert_eq!(format_of(Path::new("config.toml"), "{"), Format::Codex);
}

/// A config named otherwise (`mcp.conf`, no extension) is told by its
/// text. Before, anything not `.json` was read as TOML: a JSON file gave
/// a TOML syntax error.
#[test]
fn a_config_of_another_name_is_told_by_its_text() {
    for text in ["{\"mcpServers\": {}}", "\u{feff}  // c\n/* d */\n{}"] {
        assert_eq!(
            format_of(Path::new("mcp.conf"), text),
            Format::Json,
            "{text}"
        );
        assert_eq!(format_of(Path::new("mcp"), text), Format::Json, "{text}");
    }
    for text in ["[mcp_servers.a]\ncommand = \"x\"", "# {\n", ""] {
        assert_eq!(
            format_of(Path::new("mcp.conf"), text),
            Format::Codex,
            "{text}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mcp.conf");
    std::fs::write(&path, "{\"mcpServers\": {\"t\": {\"command\": \"true\"}}}").unwrap();
    let c = read_config(&path).unwrap();
    assert_eq!(c.format, Format::Json);
    assert_eq!(c.servers.len(), 1);
}

#[test]
fn a_project_named_with_a_trailing_slash_is_the_same_project() {
    // `--project "$PWD/"` (a shell completion's slash) found no server,
    // although Claude Code keys its projects without one.
    let text = r#"{"projects": {"/home/u/app": {"mcpServers": {"db": {"command": "db-mcp"}}}}}"#;
    let c = parse_config(text, Path::new(".claude.json"), Format::Json).unwrap();
    for dir in ["/home/u/app", "/home/u/app/", "/home/u/app//"] {
        let s = c.server_in("db", Some(dir)).unwrap();
        assert_eq!(s.project.as_deref(), Some("/home/u/app"), "{dir}");
    }
    assert!(c.server_in("db", Some("/home/u/ap")).is_err());
    assert!(c.server_in("db", None).is_err());
}

/// An entry that is not an object says what it is. Before, `[]` read
/// "invalid length 0, expected struct JsonServer with 9 elements".
#[test]
fn an_entry_that_is_not_an_object_is_named_for_what_it_is() {
    let c = parse_config(
        "{\"mcpServers\": {\"t\": [], \"u\": \"x\", \"v\": {\"command\": \"true\"}}}",
        Path::new("c.json"),
        Format::Json,
    )
    .unwrap();
    let errors: Vec<String> = c
        .servers
        .iter()
        .map(|s| format!("{:?}", s.invalid))
        .collect();
    assert_eq!(
        errors,
        [
            "Some(\"entry at line 1, column 22: expected an object with \\\"command\\\" and \\\"args\\\" (or \\\"url\\\"), found an array\")",
            "Some(\"entry at line 1, column 31: expected an object with \\\"command\\\" and \\\"args\\\" (or \\\"url\\\"), found a string\")",
            "None",
        ]
    );
}
