//! A server whose command the host does not have: a relative path taken
//! from another directory than the one it was written for (Claude Desktop
//! starts servers from `/`), or a name on no PATH directory. The plan says
//! so before the server starts, naming the path looked at and the fix,
//! instead of a grant of a missing file in the sandbox's own terms.

mod support;

use support::*;

#[test]
fn a_command_the_host_does_not_have_is_named_before_start() {
    let s = Scratch::new(&["home", "work", "srv/bin"]);
    write_script(&s.path("srv/bin/srv.sh"), "#!/bin/sh\nexec cat\n");
    let config = s.path("srv/mcp.json");
    std::fs::write(
        &config,
        r#"{"mcpServers": {"rel": {"command": "bin/srv.sh"}, "bare": {"command": "no-such-srv"},
            "ok": {"command": "bin/srv.sh", "cwd": "SRV"}}}"#
            .replace("SRV", &s.path("srv").to_string_lossy()),
    )
    .unwrap();
    let explain = |name: &str| {
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
            name,
        ])
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // Not a grant of the missing file in the plan's own terms.
        assert!(
            !stderr(&out).contains("no such path on this host"),
            "{}",
            stderr(&out)
        );
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        plan["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let c = config.display();
    let work = s.path("work");
    let w = explain("rel");
    assert!(
        w.contains(&format!(
            "server rel in {c}: command `bin/srv.sh` is not found: {}/bin/srv.sh is no file (a relative command is taken from the working directory {}); the server cannot start: write its absolute path, or give the entry a `cwd`",
            work.display(),
            work.display()
        )),
        "{w:#?}"
    );
    assert!(!w.iter().any(|l| l.contains("no such path")), "{w:#?}");
    let w = explain("bare");
    assert!(
        w.contains(&format!(
            "server bare in {c}: command `no-such-srv` is not found in any directory of the server's PATH (/usr/bin:/bin); the server cannot start: write its absolute path, or set PATH in the entry's `env`"
        )),
        "{w:#?}"
    );
    let w = explain("ok");
    assert!(!w.iter().any(|l| l.contains("command `")), "{w:#?}");
}
