//! `sandspawn mcp install` / `uninstall` through the real binary, as a
//! user meets them: in-place edits of commented configs, the clients'
//! default paths under a scratch HOME, and the one-line refusals (missing
//! config, empty file, a dangling link). Who owns and may write what it
//! touches: tests/mcp_install_owners.rs.

mod mcp_support;

use std::path::Path;
use std::process::Command;

use mcp_support::*;

#[test]
fn install_edits_a_commented_config_in_place_and_uninstall_gives_it_back() {
    let host = Host::new();
    let config = host.work().join("mcp.json");
    let original = "{\r\n  // my servers\r\n  \"mcpServers\": {\r\n    \"t\": {\r\n      \"command\": \"uvx\", /* runner */\r\n      \"args\": [\"mcp-server-time\",],\r\n    },\r\n  },\r\n}\r\n";
    std::fs::write(&config, original).unwrap();
    let c = config.to_str().unwrap();
    let install = |verb: &str| {
        let out = host.run(
            &host.work(),
            &["mcp", verb, "--client", "cursor", "--config", c],
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let out = install("install");
    let exe = std::fs::canonicalize(SANDSPAWN).unwrap();
    let exe = exe.to_str().unwrap();
    let installed = format!("{{\r\n  // my servers\r\n  \"mcpServers\": {{\r\n    \"t\": {{\r\n      \"command\": \"{exe}\", /* runner */\r\n      \"args\": [\"mcp\", \"--config\", \"{c}\", \"--server\", \"t\", \"--\", \"uvx\", \"mcp-server-time\",],\r\n    }},\r\n  }},\r\n}}\r\n");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), installed);
    // The diff shows the two changed lines only.
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with('-') && !l.starts_with("---"))
            .count(),
        2,
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(host.work().join("mcp.json.sandspawn-backup")).unwrap(),
        original
    );
    assert_eq!(install("install"), format!("{c}: nothing to change\n"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), installed);
    install("uninstall");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}

/// `file` holding `before`, patched by the real `patch` with `diff` (what
/// install or uninstall printed, trailing report lines and all): what the
/// file then holds.
fn patched(dir: &Path, before: &str, diff: &str) -> String {
    use std::io::Write;
    let file = dir.join("patched.json");
    std::fs::write(&file, before).unwrap();
    let mut child = Command::new("patch")
        .args(["--batch", "--silent", "--no-backup-if-mismatch"])
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(diff.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "patch refused:\n{diff}\n{out:?}");
    std::fs::read_to_string(&file).unwrap()
}

/// The printed diff is a real unified diff: `patch` applies install's to
/// the original (CRLF lines, a last line without newline) and
/// uninstall's to the installed file.
#[test]
fn install_and_uninstall_print_diffs_that_patch_applies() {
    let host = Host::new();
    let config = host.work().join("mcp.json");
    let original = "{\r\n  \"mcpServers\": {\r\n    \"t\": {\r\n      \"command\": \"uvx\",\r\n      \"args\": [\"mcp-server-time\"]\r\n    }\r\n  }\r\n}";
    std::fs::write(&config, original).unwrap();
    let c = config.to_str().unwrap();
    let diff_of = |verb: &str| {
        let out = host.run(
            &host.work(),
            &["mcp", verb, "--client", "cursor", "--config", c],
        );
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let diff = diff_of("install");
    let installed = std::fs::read_to_string(&config).unwrap();
    assert_ne!(installed, original);
    let scratch = host.dir.path();
    assert_eq!(patched(scratch, original, &diff), installed);
    let diff = diff_of("uninstall");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
    assert_eq!(patched(scratch, &installed, &diff), original);
}

#[test]
fn default_paths_follow_the_clients_and_a_missing_one_says_what_to_do() {
    let host = Host::new();
    let xdg = host.dir.path().join("xdg");
    let claude = xdg.join("Claude/claude_desktop_config.json");
    std::fs::create_dir_all(claude.parent().unwrap()).unwrap();
    std::fs::write(&claude, r#"{"mcpServers": {"t": {"command": "uvx"}}}"#).unwrap();
    let out = host.run_with(
        &host.work(),
        &[("XDG_CONFIG_HOME", &xdg)],
        &["mcp", "install", "--client", "claude", "--dry-run"],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!("--- {}\n", claude.display())),
        "{stdout}"
    );
    for (client, path) in [
        ("codex", host.home().join(".codex/config.toml")),
        ("cursor", host.home().join(".cursor/mcp.json")),
        ("vscode", host.work().join(".vscode/mcp.json")),
        (
            "claude",
            host.home()
                .join(".config/Claude/claude_desktop_config.json"),
        ),
    ] {
        let out = host.run(&host.work(), &["mcp", "install", "--client", client]);
        assert_eq!(out.status.code(), Some(125), "{client}");
        assert_eq!(
            stderr(&out),
            format!("sandspawn: {} does not exist: nothing to wrap (name the client's config with --config FILE)\n", path.display())
        );
        let out = host.run(&host.work(), &["mcp", "uninstall", "--client", client]);
        assert_eq!(out.status.code(), Some(125), "{client}");
        assert_eq!(
            stderr(&out),
            format!("sandspawn: {} does not exist: nothing to unwrap (name the client's config with --config FILE)\n", path.display())
        );
    }
}

/// A `--config` that names no file: the hint is about that path, not to
/// pass the `--config` the user just passed.
#[test]
fn a_missing_config_given_by_flag_is_named_as_given() {
    let host = Host::new();
    let config = host.work().join("nope/mcp.json");
    let c = config.to_str().unwrap();
    for (verb, what) in [("install", "wrap"), ("uninstall", "unwrap")] {
        let out = host.run(
            &host.work(),
            &["mcp", verb, "--client", "cursor", "--config", c],
        );
        assert_eq!(out.status.code(), Some(125), "{verb}");
        assert_eq!(
            stderr(&out),
            format!("sandspawn: {c} does not exist: nothing to {what} (check the path given to --config)\n")
        );
    }
}

/// `--record-env` records this shell's settings on install; uninstall
/// records nothing, so it refuses the flag instead of taking and ignoring
/// it (its help does not offer it either).
#[test]
fn uninstall_has_no_record_env() {
    let host = Host::new();
    let config = host.work().join("mcp.json");
    std::fs::write(&config, r#"{"mcpServers": {"t": {"command": "uvx"}}}"#).unwrap();
    let c = config.to_str().unwrap();
    let out = host.run(
        &host.work(),
        &[
            "mcp",
            "uninstall",
            "--client",
            "cursor",
            "--config",
            c,
            "--record-env",
        ],
    );
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(
        stderr(&out).starts_with("error: unexpected argument '--record-env' found\n"),
        "{}",
        stderr(&out)
    );
    let help = host.run(&host.work(), &["mcp", "uninstall", "--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("--dry-run"), "{help}");
    assert!(!help.contains("--record-env"), "{help}");
    let help = host.run(&host.work(), &["mcp", "install", "--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("--record-env"));
}

#[test]
fn an_empty_json_config_has_no_servers() {
    let host = Host::new();
    let config = host.work().join("mcp.json");
    for text in ["", "\n  // nothing yet\n"] {
        std::fs::write(&config, text).unwrap();
        let c = config.to_str().unwrap();
        let out = host.run(
            &host.work(),
            &["mcp", "install", "--client", "cursor", "--config", c],
        );
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{c}: nothing to change\n")
        );
        assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
        let out = host.run(&host.work(), &["mcp", "check", "--config", c]);
        assert_eq!(
            stderr(&out),
            format!("sandspawn: MCP config {c}: no MCP servers in it (expected a \"mcpServers\" or \"servers\" object, or \"mcp\": {{\"servers\"}} in VS Code's settings.json)\n")
        );
    }
}

#[test]
fn a_dangling_link_is_named_as_one() {
    let host = Host::new();
    let link = host.work().join("mcp.json");
    std::os::unix::fs::symlink("/nonexistent/dotfiles/mcp.json", &link).unwrap();
    let c = link.to_str().unwrap();
    let out = host.run(
        &host.work(),
        &["mcp", "install", "--client", "cursor", "--config", c],
    );
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        format!("sandspawn: {c} is a link to /nonexistent/dotfiles/mcp.json, which does not exist; fix the link, or name the config with --config FILE\n")
    );
}

/// A sandspawn installed under another name (`/opt/tools/ss`, a versioned
/// file) still knows its own wrapper: `install` does not wrap twice,
/// `mcp explain --config` shows the server, not sandspawn again, and
/// `uninstall` gives the file back.
#[test]
fn a_renamed_binary_recognises_its_own_wrapper() {
    let host = Host::new();
    let renamed = host.dir.path().join("bin/ss-1.0");
    std::fs::create_dir_all(renamed.parent().unwrap()).unwrap();
    std::fs::copy(SANDSPAWN, &renamed).unwrap();
    let config = host.work().join("mcp.json");
    let original = r#"{"mcpServers": {"t": {"command": "/bin/echo", "args": ["hi"]}}}"#;
    std::fs::write(&config, original).unwrap();
    let c = config.to_str().unwrap();
    // The copy was just written: a fork on another test thread between its
    // open for writing and its close holds a write descriptor until that
    // child execs, and exec meanwhile says ETXTBSY. Try again, for up to
    // 10 s (a loaded machine can hold that child before its exec a while).
    let ss = |args: &[&str]| {
        for _ in 0..500 {
            let out = Command::new(&renamed)
                .env_clear()
                .envs(host.env.iter().cloned())
                .current_dir(host.work())
                .args(args)
                .output();
            match out {
                Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => return other.unwrap(),
            }
        }
        panic!("{} stayed busy (ETXTBSY) for 10 s", renamed.display());
    };
    let out = ss(&["mcp", "install", "--client", "cursor", "--config", c]);
    assert!(out.status.success(), "{out:?}");
    let installed = std::fs::read_to_string(&config).unwrap();
    let exe = std::fs::canonicalize(&renamed).unwrap();
    assert!(
        installed.contains(&format!("\"command\": \"{}\"", exe.display())),
        "{installed}"
    );
    let out = ss(&["mcp", "install", "--client", "cursor", "--config", c]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{c}: nothing to change\n"),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), installed);
    let out = ss(&["mcp", "explain", "--config", c, "--server", "t", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        plan["command"],
        serde_json::json!(["/bin/echo", "hi"]),
        "{plan}"
    );
    let out = ss(&["mcp", "uninstall", "--client", "cursor", "--config", c]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}

/// A config shared with Windows (synced dotfiles, a repo's `.vscode`): a
/// server started by a Windows path is left for Windows, and said so; the
/// others are wrapped. Wrapped in a Linux sandspawn path, it started on
/// neither system.
#[test]
fn a_server_with_a_windows_command_is_left_as_it_is() {
    let host = Host::new();
    let config = host.work().join("mcp.json");
    let original = r#"{"mcpServers": {
  "win": {"command": "C:\\Program Files\\nodejs\\npx.cmd", "args": ["-y", "@m/fs"]},
  "unc": {"command": "\\\\host\\share\\srv.exe"},
  "here": {"command": "uvx", "args": ["mcp-server-time"]}
}}"#;
    std::fs::write(&config, original).unwrap();
    let c = config.to_str().unwrap();
    let out = host.run(
        &host.work(),
        &["mcp", "install", "--client", "cursor", "--config", c],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("wrapped: here\n"),
        "{out:?}"
    );
    assert_eq!(
        stderr(&out),
        "sandspawn: server `unc` left as it is: its command `\\\\host\\share\\srv.exe` is a Windows path (a config shared with Windows?); it does not start here, and wrapped it would no longer start there\n\
         sandspawn: server `win` left as it is: its command `C:\\Program Files\\nodejs\\npx.cmd` is a Windows path (a config shared with Windows?); it does not start here, and wrapped it would no longer start there\n"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(
        text.contains(
            r#""win": {"command": "C:\\Program Files\\nodejs\\npx.cmd", "args": ["-y", "@m/fs"]}"#
        ),
        "{text}"
    );
    let out = host.run(
        &host.work(),
        &["mcp", "uninstall", "--client", "cursor", "--config", c],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read_to_string(&config).unwrap(), original);
}

/// Entries install cannot wrap are said, never a silent "wrapped: c": one
/// whose `args` is not a list (the client runs it bare, or not at all) and
/// one with an empty command (wrapped, it failed one step later, as
/// sandspawn's "command not found"). Before, the first was skipped without
/// a word and the second was wrapped.
#[test]
fn entries_install_cannot_wrap_are_said() {
    let host = Host::new();
    let config = host.work().join("mcp.json");
    let original = r#"{"mcpServers": {
  "a": {"command": "node", "args": "x.js"},
  "b": {"command": ""},
  "c": {"command": "uvx", "args": ["mcp-server-time"]}
}}"#;
    std::fs::write(&config, original).unwrap();
    let c = config.to_str().unwrap();
    let out = host.run(
        &host.work(),
        &["mcp", "install", "--client", "cursor", "--config", c],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("wrapped: c\n"),
        "{out:?}"
    );
    assert_eq!(
        stderr(&out),
        "sandspawn: server `a` left as it is: its entry does not read as a server (entry at line 2, column 8: invalid type: string \"x.js\", expected a sequence); fix it and run install again\n\
         sandspawn: server `b` left as it is: its command is empty, so the client cannot start it; fix the entry\n"
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(r#""b": {"command": ""}"#), "{text}");
    assert!(
        text.contains(r#""a": {"command": "node", "args": "x.js"}"#),
        "{text}"
    );
}

/// `--config sub/../mcp.json` with `sub` a link to `a/b` is `a/mcp.json`
/// to the kernel. Before, `..` was dropped by hand, and the `mcp.json`
/// beside `sub` was read, rewritten and named in the wrapper instead.
#[test]
fn a_config_named_through_a_link_and_dotdot_is_the_file_the_kernel_opens() {
    let host = Host::new();
    let work = host.work();
    std::fs::create_dir_all(work.join("a/b")).unwrap();
    std::os::unix::fs::symlink("a/b", work.join("sub")).unwrap();
    let original = r#"{"mcpServers": {"t": {"command": "uvx"}}}"#;
    let beside = r#"{"mcpServers": {"u": {"command": "npx"}}}"#;
    std::fs::write(work.join("a/mcp.json"), original).unwrap();
    std::fs::write(work.join("mcp.json"), beside).unwrap();
    let out = host.run(
        &work,
        &[
            "mcp",
            "install",
            "--client",
            "cursor",
            "--config",
            "sub/../mcp.json",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let named = work.join("sub/../mcp.json");
    let named = named.to_str().unwrap();
    let exe = std::fs::canonicalize(SANDSPAWN).unwrap();
    let exe = exe.to_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(work.join("a/mcp.json")).unwrap(),
        format!(
            r#"{{"mcpServers": {{"t": {{"command": "{exe}", "args": ["mcp", "--config", "{named}", "--server", "t", "--", "uvx"]}}}}}}"#
        )
    );
    assert_eq!(
        std::fs::read_to_string(work.join("a/mcp.json.sandspawn-backup")).unwrap(),
        original
    );
    assert_eq!(
        std::fs::read_to_string(work.join("mcp.json")).unwrap(),
        beside
    );
    assert!(!work.join("mcp.json.sandspawn-backup").exists());
}
