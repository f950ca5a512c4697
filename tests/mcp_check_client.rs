//! `mcp check --client NAME` checks the client's usual config, as
//! `install --client NAME` edits it: right after an install, the check of
//! the same file needs no path typed.

mod support;

use support::*;

#[test]
fn check_takes_the_clients_usual_config() {
    let s = Scratch::new(&["home/.cursor", "home/codex", "work"]);
    std::fs::write(
        s.path("home/.cursor/mcp.json"),
        r#"{"mcpServers": {"web": {"url": "https://mcp.example.com/mcp"}}}"#,
    )
    .unwrap();
    std::fs::write(
        s.path("home/codex/config.toml"),
        "[mcp_servers.docs]\nurl = \"https://mcp.example.com/docs\"\n",
    )
    .unwrap();
    let check = |client: &str| {
        let out = scrubbed(&s.path("home"), None, &s.path("work"))
            .env("CODEX_HOME", s.path("home/codex"))
            .args(["mcp", "check", "--no-host-env", "--client", client])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let table = |name: &str| {
        format!(
            "server  backend   initialize ms  tools  status\n{name:<6}  -                     -      -  remote\n"
        )
    };
    assert_eq!(check("cursor"), table("web"));
    assert_eq!(check("codex"), table("docs"));
    // Either names the file, not both.
    let out = scrubbed(&s.path("home"), None, &s.path("work"))
        .args(["mcp", "check", "--client", "cursor", "--config", "x.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125), "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with(
            "error: the argument '--client <CLIENT>' cannot be used with '--config <FILE>'"
        ),
        "{}",
        stderr(&out)
    );
}
