//! The helper binary as a host calls it: `sandspawn-linux-sandbox POLICY --
//! CMD` (or with the `__helper` token first), exit statuses and the one
//! error line on failure.

use std::process::{Command, Output};

const HELPER: &str = env!("CARGO_BIN_EXE_sandspawn-linux-sandbox");

/// Best-effort Landlock: these tests are about the entry point, not about
/// whether this kernel has Landlock (escape.rs covers enforcement).
fn helper(args: &[&str]) -> Output {
    Command::new(HELPER)
        .args(["--read", "/", "--landlock", "best-effort"])
        .args(args)
        .output()
        .expect("the helper binary starts")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_childs_status_passes_through() {
    let out = helper(&["--", "sh", "-c", "exit 9"]);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
}

#[test]
fn the_helper_token_after_the_binary_name_is_accepted() {
    let out = Command::new(HELPER)
        .args(["__helper", "--read", "/", "--landlock", "best-effort"])
        .args(["--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
}

#[test]
fn a_missing_command_is_127_and_a_non_executable_one_126() {
    let out = helper(&["--", "/nonexistent/cmd"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        stderr(&out),
        "sandspawn: executing /nonexistent/cmd: No such file or directory (os error 2)\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-exec.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    let out = helper(&["--", script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
}

#[test]
fn a_malformed_policy_is_one_line_and_125() {
    let out = helper(&["--bogus", "x", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        "sandspawn: helper arguments: unknown helper flag \"--bogus\"\n"
    );
    let out = helper(&[]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        stderr(&out),
        "sandspawn: helper arguments: no command after `--`\n"
    );
}
