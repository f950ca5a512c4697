//! A NUL byte in a server's command line (JSON's `\u0000` in `args`): no
//! program argument can hold one. `mcp explain` showed it as a space, exit
//! 0, and starting the server failed inside sandspawn's own stage with
//! "executing /usr/bin/bwrap: nul byte found in provided data" (125),
//! naming neither the server nor the argument. Now the plan is refused,
//! one line naming the argument.

use std::process::Command;

const SANDSPAWN: &str = env!("CARGO_BIN_EXE_sandspawn");

fn sandspawn(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(SANDSPAWN)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_nul_byte_in_a_servers_args_is_refused_naming_the_argument() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("mcp.json");
    std::fs::write(
        &config,
        r#"{"mcpServers": {"s": {"command": "echo", "args": ["ok", "a\u0000b"]}}}"#,
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = sandspawn(
        dir.path(),
        &["mcp", "explain", "--config", config, "--server", "s"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(out.stdout.is_empty(), "no plan is shown");
    let lines: Vec<&str> = err.lines().filter(|l| !l.contains("warning:")).collect();
    assert_eq!(
        lines,
        [
            "sandspawn: command argument 2 (`a\\0b`) contains a NUL byte (shown as \\0), \
          which no program argument can hold; remove it"
        ]
    );
}
