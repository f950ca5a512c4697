//! Entries `install` does not wrap, as users' configs have them: one with
//! neither `command` nor `url` (a typo, `"cmd"`, a half-written entry) is
//! said, as other entries left alone are, never a silent "wrapped b"; a
//! remote one is the client's to connect to and is not. Naming a remote
//! server with `--server` says that it is remote, not only that it has no
//! command.

mod support;

use support::*;

const CONFIG: &str = r#"{"mcpServers": {
  "typo": {"cmd": "npx", "args": ["-y", "some-server"]},
  "remote": {"url": "https://mcp.example.com/mcp"},
  "sse": {"type": "sse", "url": "http://localhost:9/sse"},
  "ok": {"command": "/bin/true"}
}}
"#;

#[test]
fn install_names_an_entry_without_command_or_url() {
    let s = Scratch::new(&["home", "work"]);
    let config = s.path("work/mcp.json");
    std::fs::write(&config, CONFIG).unwrap();
    let out = scrubbed(&s.path("home"), None, &s.path("work"))
        .args([
            "mcp",
            "install",
            "--client",
            "cursor",
            "--dry-run",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.ends_with("dry run: would have wrapped ok\n"),
        "{stdout}"
    );
    let err = stderr(&out);
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        ["sandspawn: server `typo` left as it is: it has neither `command` nor `url`, so the client cannot start it either; fix the entry"],
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), CONFIG);
}

#[test]
fn naming_a_remote_server_says_it_is_remote() {
    let s = Scratch::new(&["home", "work"]);
    let config = s.path("work/mcp.json");
    std::fs::write(&config, CONFIG).unwrap();
    let run = |name: &str| {
        let out = scrubbed(&s.path("home"), None, &s.path("work"))
            .args(["mcp", "--no-host-env", "--server", name, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        stderr(&out)
    };
    let c = config.display();
    assert_eq!(
        run("sse"),
        format!("sandspawn: MCP config {c}: server `sse` is a remote server (`url`): the client connects to it itself; sandspawn starts stdio servers (`command`) only\n")
    );
    assert_eq!(
        run("typo"),
        format!("sandspawn: MCP config {c}: server `typo` has neither `command` nor `url`; give it the `command` that starts it\n")
    );
}
