//! `sandspawn mcp` and client configs through the real binary: variables
//! recovered from the MCP host process and how `mcp explain` / `mcp check`
//! name them, VS Code's `mcp.json` (variables, envFile, comments) and the
//! one-line errors of bad input.

mod mcp_support;

use std::path::Path;
use std::process::{Command, Output};

use mcp_support::*;
use serde_json::Value;

/// A CA certificate of our own (the machine's CA variables are scrubbed).
fn corp_ca(dir: &Path) -> std::path::PathBuf {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let path = dir.join("corp-ca.pem");
    std::fs::write(&path, params.self_signed(&key).unwrap().pem()).unwrap();
    path
}

/// `sandspawn ARGS` started by an MCP host that has the trust and proxy
/// variables while sandspawn gets a stripped environment (as Codex does):
/// the host is a shell; its pid is the first line of stdout.
fn under_host(host: &Host, ca: &Path, args: &str) -> (u32, Output) {
    let script = format!(
        "echo $$; env -i PATH=/usr/bin:/bin HOME={home} XDG_CACHE_HOME={home}/.cache {SANDSPAWN} {args}; echo \"exit $?\" >&2",
        home = host.home().display(),
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .env_clear()
        .envs(host.env.iter().cloned())
        .env("SSL_CERT_FILE", ca)
        .env("https_proxy", "http://alice:hunter2@proxy.corp:3128")
        .current_dir(host.work())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let (pid, _) = stdout.split_once('\n').unwrap();
    (pid.parse().unwrap(), out)
}

fn text(out: &Output) -> String {
    let s = String::from_utf8_lossy(&out.stdout);
    s.split_once('\n')
        .map(|(_, r)| r.to_string())
        .unwrap_or_default()
}

#[test]
fn explain_marks_what_the_host_process_provided() {
    let host = Host::new();
    let ca = corp_ca(host.dir.path());
    let (pid, out) = under_host(&host, &ca, "mcp explain -- /bin/true");
    let t = text(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exit 0"),
        "{out:?}"
    );
    let has = |line: &str| t.lines().any(|l| l == line);
    let bundle_line = t
        .lines()
        .find(|l| l.starts_with("  SSL_CERT_FILE="))
        .unwrap();
    assert!(
        bundle_line.ends_with(&format!("  [trust: replace, from host pid {pid}]")),
        "{bundle_line}"
    );
    assert!(
        has(&format!(
            "  https_proxy=http://***@proxy.corp:3128  [proxy, from host pid {pid}]"
        )),
        "{t}"
    );
    assert!(
        has(&format!(
            "  HTTPS_PROXY=http://***@proxy.corp:3128  [proxy: other spelling of https_proxy, from host pid {pid}]"
        )),
        "{t}"
    );
    assert!(
        has(&format!(
            "  recovered from host process {pid}: SSL_CERT_FILE, https_proxy (values not shown)"
        )),
        "{t}"
    );
    assert!(!t.contains("hunter2"), "{t}");

    let (pid, out) = under_host(&host, &ca, "mcp explain --json -- /bin/true");
    let v: Value = serde_json::from_str(&text(&out)).unwrap();
    let var = |name: &str| {
        v["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(var("SSL_CERT_FILE")["from_host"]["pid"], pid);
    assert_eq!(var("SSL_CERT_FILE")["source"]["kind"], "trust");
    assert_eq!(var("https_proxy")["value"], "http://***@proxy.corp:3128");
    assert_eq!(var("https_proxy")["from_host"]["pid"], pid);
    assert!(var("PATH").get("from_host").is_none());
    assert_eq!(v["host_env"]["pid"], pid);
    assert_eq!(
        v["host_env"]["recovered"],
        serde_json::json!(["SSL_CERT_FILE", "https_proxy"])
    );
    assert!(!text(&out).contains("hunter2"));

    // --no-host-env: nothing recovered, nothing marked.
    let (_, out) = under_host(&host, &ca, "mcp explain --no-host-env -- /bin/true");
    let t = text(&out);
    assert!(!t.contains("from host"), "{t}");
    assert!(t.contains("  not read (--no-host-env)"), "{t}");
}

#[test]
fn check_names_recovered_host_variables_and_skips_remote_servers() {
    let host = Host::new();
    let ca = corp_ca(host.dir.path());
    let config = host.work().join("config.toml");
    std::fs::write(
        &config,
        "[mcp_servers.web]\nurl = \"https://example.com/mcp\"\n[mcp_servers.off]\ncommand = \"x\"\nenabled = false\n",
    )
    .unwrap();
    let (pid, out) = under_host(
        &host,
        &ca,
        &format!("mcp check --config {}", config.display()),
    );
    let t = text(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exit 0"),
        "{t}"
    );
    let row = |name: &str| t.lines().find(|l| l.starts_with(name)).unwrap().to_string();
    assert!(row("web").ends_with("  remote"), "{t}");
    assert!(row("off").ends_with("  disabled"), "{t}");
    // No server was planned, so nothing was recovered for one.
    assert!(!t.contains("recovered"), "{t}");

    std::fs::write(
        &config,
        "[mcp_servers.quits]\ncommand = \"sh\"\nargs = [\"-c\", \"exit 3\"]\n",
    )
    .unwrap();
    let (pid2, out) = under_host(
        &host,
        &ca,
        &format!("mcp check --config {}", config.display()),
    );
    assert_ne!(pid, pid2);
    let t = text(&out);
    assert!(
        t.lines().any(|l| l
            == format!(
                "recovered from host process {pid2}: SSL_CERT_FILE, https_proxy (values not shown)"
            )),
        "{t}"
    );
    assert!(!t.contains("hunter2"), "{t}");
}

fn run(host: &Host, cwd: &Path, args: &[&str]) -> Output {
    Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .env("GREETING", "hello")
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn vscode_mcp_json_is_read_as_vscode_starts_it() {
    let host = Host::new();
    let ws = host.work().join("proj");
    std::fs::create_dir_all(ws.join(".vscode")).unwrap();
    std::fs::write(ws.join(".env"), "FROM_FILE=1\n").unwrap();
    let config = ws.join(".vscode/mcp.json");
    let original = r#"{
  // VS Code writes JSON with comments.
  "inputs": [{"type": "promptString", "id": "tok", "password": true}],
  "servers": {
    "s": {
      "type": "stdio",
      "command": "/bin/echo",
      "args": ["${workspaceFolder}/data", "${env:GREETING}", "${userHome}"],
      "env": {"PORT": 8080, "LITERAL": "${env:GREETING}!"},
      "envFile": "${workspaceFolder}/.env",
    },
    "asks": {"type": "stdio", "command": "/bin/echo", "args": ["${input:tok}"]},
    "web": {"type": "http", "url": "https://example.com/mcp"},
  },
}"#;
    std::fs::write(&config, original).unwrap();
    let c = config.to_str().unwrap();
    // From elsewhere: the workspace is the folder holding .vscode/.
    let out = run(
        &host,
        host.dir.path(),
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
    );
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let home = host.home();
    assert_eq!(
        v["command"],
        serde_json::json!([
            "/bin/echo",
            format!("{}/data", ws.display()),
            "hello",
            home.to_str().unwrap()
        ])
    );
    let env = |name: &str| {
        v["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    assert_eq!(env("PORT"), Some("8080".into()));
    assert_eq!(env("LITERAL"), Some("hello!".into()));
    assert_eq!(env("FROM_FILE"), Some("1".into()));

    // `${input:…}` sandspawn cannot ask for: one line naming both.
    let out = run(
        &host,
        &ws,
        &["mcp", "--no-host-env", "--config", c, "--server", "asks"],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("sandspawn: MCP config {c}: server `asks`: args[0]: `${{input:tok}}` is asked for by the client when it starts the server; sandspawn cannot prompt (write the value, or use ${{env:NAME}})\n")
    );

    // install keeps every `${…}` for VS Code to expand; the wrapped server
    // reads the same; uninstall restores the servers.
    let out = run(&host, &ws, &["mcp", "install", "--client", "vscode"]);
    assert!(out.status.success(), "{out:?}");
    let installed = std::fs::read_to_string(&config).unwrap();
    assert!(installed.contains("  // VS Code writes JSON with comments.\n"));
    let wrapped: Value = serde_json::from_str(&sandspawn::mcp::jsonc::strip(&installed)).unwrap();
    let args = wrapped["servers"]["s"]["args"].as_array().unwrap();
    assert!(
        args.contains(&"${workspaceFolder}/data".into()),
        "{wrapped}"
    );
    assert_eq!(
        wrapped["servers"]["s"]["envFile"],
        "${workspaceFolder}/.env"
    );
    assert_eq!(wrapped["servers"]["web"]["url"], "https://example.com/mcp");
    let out = run(
        &host,
        &ws,
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
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["command"], v["command"]);
    let out = run(&host, &ws, &["mcp", "uninstall", "--client", "vscode"]);
    assert!(out.status.success(), "{out:?}");
    // Comments and layout kept: the very bytes come back.
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}

/// Answers `initialize`, then never anything else.
const MUTE_AFTER_INITIALIZE: &str = r#"import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get('method') == 'initialize':
        r = {'protocolVersion': '2025-06-18', 'capabilities': {}, 'serverInfo': {'name': 'mute', 'version': '0'}}
        print(json.dumps({'jsonrpc': '2.0', 'id': m['id'], 'result': r}), flush=True)
"#;

#[test]
fn a_server_that_never_answers_or_writes_garbage_is_one_row_each() {
    if !usable("landlock") {
        return;
    }
    let host = Host::new();
    let config = host.work().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[mcp_servers.garbage]\ncommand = \"sh\"\nargs = [\"-c\", \"echo Server listening; sleep 5\"]\n\
             [mcp_servers.garbage.sandbox]\nbackend = \"landlock\"\n\
             [mcp_servers.silent]\ncommand = \"sleep\"\nargs = [\"30\"]\nstartup_timeout_sec = 1\n\
             [mcp_servers.silent.sandbox]\nbackend = \"landlock\"\n\
             [mcp_servers.mute]\ncommand = \"python3\"\nargs = [\"-c\", {}]\ntool_timeout_sec = 1\n\
             [mcp_servers.mute.sandbox]\nbackend = \"landlock\"\n",
            toml_string(MUTE_AFTER_INITIALIZE)
        ),
    )
    .unwrap();
    let out = run(
        &host,
        &host.work(),
        &[
            "mcp",
            "check",
            "--no-host-env",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let t = String::from_utf8_lossy(&out.stdout);
    let line = |prefix: &str| {
        t.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix}: {t}"))
            .to_string()
    };
    assert!(line("garbage ").ends_with("initialize failed"), "{t}");
    assert!(line("silent ").ends_with("initialize failed"), "{t}");
    assert!(line("garbage: ").contains("not JSON-RPC"), "{t}");
    assert!(line("silent: ").contains("startup timeout"), "{t}");
    // Answered initialize, then nothing: bounded by its tool_timeout_sec.
    assert!(line("mute ").ends_with("tools/list failed"), "{t}");
    assert!(line("mute: ").contains("within 1s"), "{t}");
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    toml_edit::Value::from(text).to_string()
}

#[test]
fn install_names_the_config_absolutely_and_writes_through_a_symlink() {
    let host = Host::new();
    let dotfiles = host.dir.path().join("dotfiles.json");
    std::fs::write(
        &dotfiles,
        r#"{"mcpServers": {"t": {"command": "uvx", "args": ["mcp-server-time"]}}}"#,
    )
    .unwrap();
    std::os::unix::fs::symlink(&dotfiles, host.work().join("claude.json")).unwrap();
    let out = run(
        &host,
        &host.work(),
        &[
            "mcp",
            "install",
            "--client",
            "claude",
            "--config",
            "claude.json",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let link = host.work().join("claude.json");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&dotfiles).unwrap()).unwrap();
    assert_eq!(v["mcpServers"]["t"]["args"][2], link.to_str().unwrap());
}

#[test]
fn codex_literal_env_wins_and_env_vars_pass() {
    let host = Host::new();
    let config = host.work().join("config.toml");
    std::fs::write(
        &config,
        "[mcp_servers.a]\ncommand = \"/bin/true\"\nenv = { LANG = \"C.UTF-8\", GREETING = \"literal\" }\nenv_vars = [\"FROM_CLIENT\"]\n",
    )
    .unwrap();
    let out = Command::new(SANDSPAWN)
        .env_clear()
        .envs(host.env.iter().cloned())
        .env("LANG", "de_DE.UTF-8")
        .env("GREETING", "inherited")
        .env("FROM_CLIENT", "passed")
        .current_dir(host.work())
        .args(["mcp", "explain", "--json", "--no-host-env", "--config"])
        .arg(&config)
        .args(["--server", "a"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let var = |name: &str| {
        v["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {v}"))
    };
    assert_eq!(var("LANG")["value"], "C.UTF-8");
    assert_eq!(var("LANG")["source"]["kind"], "set");
    assert_eq!(var("GREETING")["value"], "literal");
    assert_eq!(var("FROM_CLIENT")["value"], "passed");
    assert_eq!(var("FROM_CLIENT")["source"]["kind"], "pass");
}

#[test]
fn a_read_only_client_config_is_one_error_and_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let host = Host::new();
    let config = host.work().join("mcp.json");
    let original = r#"{"mcpServers": {"t": {"command": "uvx", "args": ["mcp-server-time"]}}}"#;
    std::fs::write(&config, original).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o444)).unwrap();
    let c = config.to_str().unwrap();
    let out = run(
        &host,
        &host.work(),
        &["mcp", "install", "--client", "cursor", "--config", c],
    );
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("sandspawn: {c} is read-only (mode 444); sandspawn leaves it as it is (`chmod u+w {c}` to let install edit it)\n")
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert!(!host.work().join("mcp.json.sandspawn-backup").exists());
    // --dry-run still shows what would change.
    let out = run(
        &host,
        &host.work(),
        &[
            "mcp",
            "install",
            "--client",
            "cursor",
            "--config",
            c,
            "--dry-run",
        ],
    );
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn a_config_without_servers_is_one_error() {
    let host = Host::new();
    let config = host.work().join("settings.json");
    std::fs::write(&config, r#"{"mcp": {"servers": {}}}"#).unwrap();
    let c = config.to_str().unwrap();
    let out = run(&host, &host.work(), &["mcp", "check", "--config", c]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("sandspawn: MCP config {c}: no MCP servers in it (expected a \"mcpServers\" or \"servers\" object, or \"mcp\": {{\"servers\"}} in VS Code's settings.json)\n")
    );
}

#[test]
fn a_relative_cwd_is_applied_once_when_the_client_starts_the_wrapped_server() {
    let host = Host::new();
    let sub = host.work().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let config = host.work().join("mcp.json");
    std::fs::write(
        &config,
        r#"{"mcpServers": {"a": {"command": "/bin/true", "cwd": "sub"}}}"#,
    )
    .unwrap();
    let c = config.to_str().unwrap();
    let cwd_of = |from: &Path, cmd: &[&str]| {
        let mut args = vec!["mcp", "explain", "--json", "--no-host-env", "--config", c];
        args.extend(["--server", "a"]);
        args.extend(cmd);
        let out = run(&host, from, &args);
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["cwd"].as_str().unwrap().to_string()
    };
    // By hand: relative to where sandspawn runs, as the client would.
    assert_eq!(cwd_of(&host.work(), &[]), sub.to_str().unwrap());
    // Wrapped: the client started sandspawn in `sub` already.
    assert_eq!(cwd_of(&sub, &["--", "/bin/true"]), sub.to_str().unwrap());
}

/// MCP clients start servers from `/` (Claude Desktop) or HOME: neither
/// is a project, and granting it would expose the filesystem or HOME.
#[test]
fn a_working_directory_of_home_or_root_is_not_granted_and_runs() {
    let host = Host::new();
    let home = host.home();
    for cwd in [home.as_path(), Path::new("/")] {
        let out = run(
            &host,
            cwd,
            &[
                "mcp",
                "explain",
                "--json",
                "--no-host-env",
                "--",
                "/bin/true",
            ],
        );
        assert!(out.status.success(), "{out:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        // A private tmpfs at HOME (an empty directory of the sandbox's
        // own, as when HOME lies inside the private /tmp) grants nothing of
        // the host's.
        let granted: Vec<&str> = v["readable"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["access"] != "tmpfs")
            .filter_map(|r| r["path"].as_str())
            .collect();
        assert!(!granted.contains(&cwd.to_str().unwrap()), "{granted:?}");
        assert_eq!(
            v["warnings"],
            serde_json::json!([format!(
                "working directory {} is not made readable (it {}; a server gets its launcher, caches and what its sandbox table grants); give the server a `cwd`, or `read` what it needs",
                cwd.display(),
                if cwd == Path::new("/") { "is the whole filesystem" } else { "holds HOME" }
            )])
        );
        if usable("bwrap") {
            let out = run(&host, cwd, &["mcp", "--no-host-env", "--", "/bin/true"]);
            assert_eq!(out.status.code(), Some(0), "{cwd:?}: {out:?}");
        }
    }
}
