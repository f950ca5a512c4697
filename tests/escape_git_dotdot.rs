//! Git config paths with a `..` after a symlink, as git hands them to the
//! kernel: `include.path = ../sub/../team.cfg` with `sub` a link to `a/b`
//! reads `a/team.cfg`, through `sub`. Before, the plan removed the `..` as
//! text, protected `team.cfg` and left `a/team.cfg` and the link `sub`
//! writable: the child wrote a `core.fsmonitor` command there and the
//! host's next `git status` ran it.

use std::process::Command;

mod support;
use support::{scrubbed, skip};

#[test]
fn an_include_through_a_link_and_dotdot_is_refused_naming_the_link() {
    if Command::new("git").arg("--version").output().is_err() {
        return skip("git is missing");
    }
    let tmp = tempfile::tempdir().unwrap();
    let top = std::fs::canonicalize(tmp.path()).unwrap();
    let ws = top.join("ws");
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &top)
            .args(["-C"])
            .arg(&ws)
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    };
    std::fs::create_dir_all(ws.join("a/b")).unwrap();
    git(&["init", "-q"]);
    std::os::unix::fs::symlink("a/b", ws.join("sub")).unwrap();
    git(&["config", "include.path", "../sub/../team.cfg"]);
    // Where the path reads as text, a file: the plan used to protect it
    // and start.
    std::fs::write(ws.join("team.cfg"), "").unwrap();
    let out = scrubbed(&top, Some(&top.join("cache")), &ws)
        .args([
            "explain",
            "--backend",
            "bwrap",
            "--write",
            ".",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    let w = ws.display();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "sandspawn: protected path {w}/sub: a symlink inside a writable root on the way to \
             include.path of {w}/.git/config, which the sandbox could point elsewhere for git \
             on the host to run or read; name its real path {w}/a/team.cfg instead; refusing \
             to start (a writable root must not redirect it)"
        )
    );
}
