//! The `lifetime:` line of `run --report` and `mcp --report` names what
//! ends the sandbox with its parent on the backend in use. Before, `run`
//! said nothing and `mcp` named bwrap's `--die-with-parent` on the
//! Landlock backend too, where no bwrap runs.

use std::process::Command;

mod support;
use support::{skip, SANDSPAWN};

const BWRAP: &str = "bwrap's --die-with-parent (a parent-death signal, set before bwrap \
                     starts too); the pid namespace's init takes every process with it";
const LANDLOCK: &str = "a parent-death signal (SIGKILL, set before the exec) reaches the \
                        command itself, not processes it starts (no pid namespace on the \
                        landlock backend)";

/// The `lifetime:` lines of `sandspawn ARGS`, started by a shell's main
/// thread (as an MCP client's main thread would): the shell forks, so
/// sandspawn's parent is the shell, not a thread of this test.
fn lifetime_lines(args: &[&str]) -> Result<Vec<String>, String> {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg("\"$0\" \"$@\"; exit $?")
        .arg(SANDSPAWN)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", tmp.path())
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(format!("sandspawn {args:?}: {stderr}"));
    }
    Ok(stderr
        .lines()
        .filter(|l| l.starts_with("sandspawn: lifetime:"))
        .map(str::to_string)
        .collect())
}

#[test]
fn run_report_names_what_ends_the_sandbox_on_each_backend() {
    for (backend, signal) in [("bwrap", BWRAP), ("landlock", LANDLOCK)] {
        let lines = match lifetime_lines(&["run", "--report", "--backend", backend, "--", "true"]) {
            Ok(lines) => lines,
            Err(e) => {
                skip(&e);
                continue;
            }
        };
        assert_eq!(
            lines,
            vec![format!(
                "sandspawn: lifetime: dies with the process that ran sandspawn: {signal}"
            )],
            "{backend}"
        );
    }
}

#[test]
fn mcp_report_names_what_ends_the_sandbox_on_each_backend() {
    for (backend, signal) in [("bwrap", BWRAP), ("landlock", LANDLOCK)] {
        let args = [
            "mcp",
            "--report",
            "--no-host-env",
            "--backend",
            backend,
            "--",
            "true",
        ];
        let lines = match lifetime_lines(&args) {
            Ok(lines) => lines,
            Err(e) => {
                skip(&e);
                continue;
            }
        };
        assert_eq!(
            lines,
            vec![format!(
                "sandspawn: lifetime: dies with the client (forked by its main thread, \
                 nothing of sandspawn resident): {signal}"
            )],
            "{backend}"
        );
    }
}
