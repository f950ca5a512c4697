use super::rewrite;

const EXE: &str = "/usr/bin/sandspawn";
const CFG: &str = "/h/.cursor/mcp.json";

fn install(text: &str) -> (String, Vec<String>) {
    rewrite(text, CFG, EXE, true).unwrap()
}

fn uninstall(text: &str) -> (String, Vec<String>) {
    rewrite(text, CFG, EXE, false).unwrap()
}

#[test]
fn a_small_config_is_edited_in_place() {
    let text = "{\n  // mine\n  \"mcpServers\": {\n    \"t\": {\"command\": \"uvx\", /* why */ \"args\": [\"mcp-server-time\",],},\n  },\n}\n";
    let (once, changed) = install(text);
    assert_eq!(changed, ["t"]);
    assert_eq!(
        once,
        "{\n  // mine\n  \"mcpServers\": {\n    \"t\": {\"command\": \"/usr/bin/sandspawn\", /* why */ \"args\": [\"mcp\", \"--config\", \"/h/.cursor/mcp.json\", \"--server\", \"t\", \"--\", \"uvx\", \"mcp-server-time\",],},\n  },\n}\n"
    );
    assert_eq!(uninstall(&once), (text.to_string(), vec!["t".to_string()]));
}

/// Comments everywhere, trailing commas, CRLF, a multi-line array, a
/// server without `args`, one with `[]`, one wrapped by hand, a remote one.
const FULL: &str = "\u{feff}// top\r\n{\r\n  \"editor.fontSize\": 13, // unrelated\r\n  /* block\r\n     comment */\r\n  \"servers\": {\r\n    // before fs\r\n    \"fs\": {\r\n      \"type\": \"stdio\",\r\n      \"command\": \"npx\", // runner\r\n      \"args\": [\r\n        \"-y\", // yes\r\n        \"@modelcontextprotocol/server-filesystem\",\r\n        \"${workspaceFolder}\",\r\n      ],\r\n      /* env next */ \"env\": {\"A\": \"1\",},\r\n    },\r\n    // between servers\r\n    \"bare\": {\"command\": \"/opt/my\\\\tools/srv\"},\r\n    \"empty\": {\"args\": [ /* none */ ], \"command\": \"srv\"},\r\n    \"mine\": {\"command\": \"sandspawn\", \"args\": [\"mcp\", \"--net\", \"none\", \"--\", \"uvx\", \"x\"]},\r\n    \"web\": {\"type\": \"http\", \"url\": \"https://x/mcp\"},\r\n  },\r\n}\r\n";

#[test]
fn comments_layout_and_crlf_survive_and_uninstall_gives_the_bytes_back() {
    let (once, changed) = install(FULL);
    assert_eq!(changed, ["fs", "bare", "empty"]);
    // Every comment and every CRLF is still there.
    for c in [
        "// top",
        "// unrelated",
        "/* block\r\n     comment */",
        "// before fs",
        "// runner",
        "// yes",
        "/* env next */",
        "// between servers",
        "/* none */",
    ] {
        assert!(once.contains(c), "{c}: {once}");
    }
    assert!(once.starts_with('\u{feff}'));
    assert_eq!(once.matches('\n').count(), FULL.matches('\n').count());
    assert_eq!(once.matches("\r\n").count(), FULL.matches('\n').count());
    assert!(once.contains("      \"command\": \"/usr/bin/sandspawn\", // runner\r\n      \"args\": [\r\n        \"mcp\", \"--config\", \"/h/.cursor/mcp.json\", \"--server\", \"fs\", \"--\", \"npx\", \"-y\", // yes\r\n"), "{once}");
    assert!(once.contains(r#""bare": {"command": "/usr/bin/sandspawn", "args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server", "bare", "--", "/opt/my\\tools/srv"]}"#), "{once}");
    assert!(once.contains(r#""empty": {"args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server", "empty", "--", "srv" /* none */ ], "command": "/usr/bin/sandspawn"}"#), "{once}");
    // Hand-wrapped and remote servers are untouched.
    assert!(once.contains(
        r#""mine": {"command": "sandspawn", "args": ["mcp", "--net", "none", "--", "uvx", "x"]}"#
    ));
    // Still a config sandspawn reads, and the wrapped servers read the same.
    let p = std::path::Path::new(CFG);
    let before =
        crate::mcp::config::parse_config(FULL, p, crate::mcp::config::Format::Json).unwrap();
    let after =
        crate::mcp::config::parse_config(&once, p, crate::mcp::config::Format::Json).unwrap();
    for (b, a) in before.servers.iter().zip(&after.servers) {
        assert_eq!(b.command_line(p).ok(), a.command_line(p).ok(), "{}", b.name);
        assert_eq!(b.env, a.env);
    }
    // Idempotent.
    assert_eq!(install(&once), (once.clone(), vec![]));
    // Back to the very bytes; the hand-wrapped one stays wrapped.
    let (back, changed) = uninstall(&once);
    assert_eq!(changed, ["fs", "bare", "empty"]);
    assert_eq!(back, FULL);
    assert_eq!(uninstall(&back), (FULL.to_string(), vec![]));
}

#[test]
fn uninstall_after_hand_edits_still_reads_the_same() {
    // A user appended a trailing comma after the original command.
    let wrapped = r#"{"mcpServers": {"t": {"command": "/x/sandspawn", "args": ["mcp", "--config", "c", "--server", "t", "--", "uvx", ]}}}"#;
    let (back, _) = uninstall(wrapped);
    assert_eq!(
        back,
        r#"{"mcpServers": {"t": {"command": "uvx", "args": [ ]}}}"#
    );
    // Flags added to the wrapper by hand go with it.
    let wrapped = r#"{"mcpServers": {"t": {"command": "sandspawn", "args": ["mcp", "--net", "none", "--config", "c", "--server", "t", "--", "uvx", "a"]}}}"#;
    let (back, _) = uninstall(wrapped);
    assert_eq!(
        back,
        r#"{"mcpServers": {"t": {"command": "uvx", "args": ["a"]}}}"#
    );
}

#[test]
fn bad_json_names_line_and_column_and_odd_entries_are_skipped() {
    let err = rewrite(
        "{\n  \"mcpServers\": {\n    \"t\": {\"command\": }\n}",
        CFG,
        EXE,
        true,
    )
    .unwrap_err();
    assert_eq!(err, "expected value at line 3 column 22");
    // Not a string command, args not an array, a server that is not an object.
    let odd =
        r#"{"mcpServers": {"a": {"command": 1}, "b": {"command": "x", "args": "y"}, "c": 3}}"#;
    assert_eq!(install(odd), (odd.to_string(), vec![]));
    assert_eq!(install("{}"), ("{}".to_string(), vec![]));
    // Empty, or only comments: no servers, nothing to change.
    assert_eq!(install(""), (String::new(), vec![]));
    assert_eq!(
        install("// none yet\n"),
        ("// none yet\n".to_string(), vec![])
    );
}

#[test]
fn vscode_settings_json_keeps_servers_under_mcp() {
    let text = "{\n  \"editor.tabSize\": 2,\n  \"mcp\": {\n    \"inputs\": [],\n    \"servers\": {\"t\": {\"command\": \"uvx\", \"args\": [\"mcp-server-time\"]}},\n  },\n}\n";
    let (once, changed) = install(text);
    assert_eq!(changed, ["t"]);
    assert!(once.contains(r#""t": {"command": "/usr/bin/sandspawn", "args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server", "t", "--", "uvx", "mcp-server-time"]}"#), "{once}");
    let p = std::path::Path::new("settings.json");
    let c = crate::mcp::config::parse_config(text, p, crate::mcp::config::Format::Json).unwrap();
    assert_eq!(c.servers.len(), 1);
    assert_eq!(
        c.servers[0].command_line(p).unwrap(),
        ["uvx", "mcp-server-time"]
    );
    assert_eq!(uninstall(&once).0, text);
}

proptest::proptest! {
    /// Whatever the file, no panic; what install writes still parses, and
    /// uninstall gives back what install was given.
    #[test]
    fn any_text_is_safe(
        cmd in "[a-z/\\\\\"é ]{0,8}",
        arg in "[a-z,/*\"\\\\ ]{0,8}",
        junk in "[{}\\[\\],:\"/* \\r\\na-z0-9]{0,40}",
    ) {
        let _ = rewrite(&junk, CFG, EXE, true);
        let _ = rewrite(&junk, CFG, EXE, false);
        let text = format!(
            "{{\"mcpServers\": {{\"s\": {{\"command\": {}, /* c */ \"args\": [{}],}}}}}}",
            serde_json::Value::from(cmd.as_str()),
            serde_json::Value::from(arg.as_str())
        );
        let (once, _) = install(&text);
        let p = std::path::Path::new(CFG);
        crate::mcp::config::parse_config(&once, p, crate::mcp::config::Format::Json).unwrap();
        let (back, _) = uninstall(&once);
        if !super::is_sandspawn(&cmd, EXE) {
            proptest::prop_assert_eq!(back, text);
        }
    }
}

#[test]
fn duplicate_keys_the_client_reads_are_refused() {
    // Clients (JSON.parse, VS Code's JSONC parser) keep the last of two
    // equal keys: wrapping the first would leave the server they run bare.
    let dup_server =
        "{\"mcpServers\": {\"a\": {\"command\": \"x\"},\n \"a\": {\"command\": \"y\"}}}";
    let dup_scope = "{\"servers\": {\"a\": {\"command\": \"x\"}},\n \"servers\": {\"b\": {\"command\": \"y\"}}}";
    let dup_command = "{\"servers\": {\"a\": {\"command\": \"x\",\n  \"command\": \"y\"}}}";
    let dup_project = "{\"projects\": {\"/p\": {\"mcpServers\": {}},\n \"/p\": {}}}";
    for (text, key, at) in [
        (dup_server, "a", "line 2 column 2"),
        (dup_scope, "servers", "line 2 column 2"),
        (dup_command, "command", "line 2 column 3"),
        (dup_project, "/p", "line 2 column 2"),
    ] {
        for install in [true, false] {
            assert_eq!(
                rewrite(text, CFG, EXE, install).unwrap_err(),
                format!("duplicate key `{key}` at {at}: the client reads the last one; remove the other")
            );
        }
    }
    // Keys install does not read may repeat (VS Code's settings.json).
    let other = "{\"editor.tabSize\": 2, \"editor.tabSize\": 4, \"servers\": {\"a\": {\"command\": \"x\", \"env\": {\"A\": \"1\", \"A\": \"2\"}}}}";
    assert_eq!(install(other).1, ["a"]);
}

#[test]
fn a_server_name_starting_with_a_dash_is_passed_attached() {
    // `--server -x` does not parse (`-x` reads as an option; a server named
    // `--` took the `--` that ends the wrapper's options), so the wrapped
    // server would not start: such a name is written `--server=NAME`.
    let text =
        r#"{"mcpServers": {"-x": {"command": "uvx"}, "--": {"command": "uvx", "args": ["a"]}}}"#;
    let (once, changed) = install(text);
    assert_eq!(changed, ["-x", "--"]);
    assert_eq!(
        once,
        r#"{"mcpServers": {"-x": {"command": "/usr/bin/sandspawn", "args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server=-x", "--", "uvx"]}, "--": {"command": "/usr/bin/sandspawn", "args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server=--", "--", "uvx", "a"]}}}"#
    );
    assert_eq!(install(&once).1, Vec::<String>::new());
    assert_eq!(uninstall(&once), (text.to_string(), changed));
    // What install writes is what the client's start parses.
    let p = std::path::Path::new(CFG);
    let c = crate::mcp::config::parse_config(&once, p, crate::mcp::config::Format::Json).unwrap();
    for s in &c.servers {
        assert_eq!(
            crate::mcp::install::hand_wrapped_note(s, p),
            None,
            "{}",
            s.name
        );
    }
}

#[test]
fn a_wrapper_whose_sandspawn_is_gone_is_pointed_at_this_one() {
    // Installed by a sandspawn since moved or removed: the client cannot
    // start the server, and install said "nothing to change". Only the
    // command moves; what the wrapper runs stays, and uninstall still
    // gives the original back.
    let original = r#"{"mcpServers": {"t": {"command": "uvx", "args": ["x"]}}}"#;
    let (old, _) = rewrite(original, CFG, "/nonexistent/old/sandspawn", true).unwrap();
    let (once, changed) = install(&old);
    assert_eq!(changed, ["t"]);
    assert_eq!(once, old.replace("/nonexistent/old/sandspawn", EXE));
    assert_eq!(install(&once).1, Vec::<String>::new());
    assert_eq!(uninstall(&once).0, original);
    // A hand-wrapped entry, or a bare `sandspawn` looked up on PATH, is
    // the user's: left as it is.
    for text in [
        r#"{"mcpServers": {"t": {"command": "/nonexistent/old/sandspawn", "args": ["mcp", "--net", "none", "--", "uvx"]}}}"#,
        r#"{"mcpServers": {"t": {"command": "sandspawn", "args": ["mcp", "--config", "/c", "--server", "t", "--", "uvx"]}}}"#,
    ] {
        assert_eq!(install(text), (text.to_string(), vec![]));
    }
}

#[test]
fn check_names_a_wrapper_whose_sandspawn_is_gone() {
    // `mcp check` runs the wrapped command itself, so it showed `ok` for a
    // server the client cannot start at all.
    let p = std::path::Path::new(CFG);
    let text = r#"{"mcpServers": {"t": {"command": "/nonexistent/old/sandspawn", "args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server", "t", "--", "uvx"]}, "u": {"command": "uvx"}}}"#;
    let c = crate::mcp::config::parse_config(text, p, crate::mcp::config::Format::Json).unwrap();
    assert_eq!(
        crate::mcp::install::stale_wrapper_note(&c.servers[0]).as_deref(),
        Some("server `t`: the client starts /nonexistent/old/sandspawn, which does not exist (moved or removed?), so this server does not start; run `sandspawn mcp install` again to point it at this sandspawn")
    );
    assert_eq!(crate::mcp::install::stale_wrapper_note(&c.servers[1]), None);
}

#[test]
fn check_names_a_wrapper_that_names_no_server_of_its_file() {
    // A server renamed after install (`time` → `clock`): the client starts
    // `sandspawn mcp --config THIS --server time`, which fails (no server
    // `time`), while check said the options would merely apply.
    let p = std::path::Path::new(CFG);
    let text = r#"{"mcpServers": {"clock": {"command": "/usr/bin/sandspawn", "args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server", "time", "--", "uvx"]}, "other": {"command": "/usr/bin/sandspawn", "args": ["mcp", "--config", "/h/.cursor/mcp.json", "--server=clock", "--", "uvx"]}}}"#;
    let c = crate::mcp::config::parse_config(text, p, crate::mcp::config::Format::Json).unwrap();
    assert_eq!(
        crate::mcp::install::missing_server_note(&c.servers[0], &c).as_deref(),
        Some("server `clock`: the client starts it as `sandspawn mcp --config /h/.cursor/mcp.json --server time -- …`, and /h/.cursor/mcp.json has no server `time` (renamed?), so that start fails; run `sandspawn mcp uninstall` and `install` again, or write `--server clock`")
    );
    // Naming another server of the file is the hand-wrapped note's case.
    assert_eq!(
        crate::mcp::install::missing_server_note(&c.servers[1], &c),
        None
    );
}
