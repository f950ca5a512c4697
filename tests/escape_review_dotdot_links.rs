//! A `..` in a policy path or in HOME, taken where the kernel opens it,
//! let a link decide what it names: the child of an earlier workspace run
//! leaves `ws/sub -> /top/elsewhere/x`, and then `--deny sub/../secret`
//! hid /top/elsewhere/secret while ws/secret, the file meant, stayed
//! readable; HOME=ws/sub/.. moved every default deny along with it; and a
//! grant with `..` could be steered into a deny. Now, where a path's
//! reading as written and as opened differ, a deny hides both, and a grant
//! or HOME is refused (exit 125) with a line naming the path, the link and
//! what to write instead.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;

use std::path::Path;
use std::process::Output;

use support::{assert_refused, assert_said, attempts, backends, unusable, Scratch, PYTHON};

/// `top/ws` (the cwd) holding `secret`, `top/home` holding `.ssh/id`,
/// `top/elsewhere/x`, and the planted `ws/sub -> top/elsewhere/x`.
fn scratch() -> Scratch {
    let s = Scratch::new(&["ws", "home/.ssh", "elsewhere/x", "elsewhere/home", "cache"]);
    std::fs::write(s.path("ws/secret"), "SECRET").unwrap();
    std::fs::write(s.path("home/.ssh/id"), "KEY").unwrap();
    std::fs::write(s.path("elsewhere/secret"), "DECOY").unwrap();
    s
}

/// The earlier run: its child plants the link in the workspace.
fn plant(s: &Scratch, backend: &str) {
    let code = format!(
        "import os; os.symlink({:?}, 'sub')",
        s.path("elsewhere/x").to_str().unwrap()
    );
    let out = run(s, backend, &s.path("home"), &[], &[PYTHON, "-c", &code]);
    assert!(out.status.success(), "{backend}: {}", support::stderr(&out));
}

fn run(s: &Scratch, backend: &str, home: &Path, flags: &[&str], cmd: &[&str]) -> Output {
    support::scrubbed(home, None, &s.path("ws"))
        .args(["run", "--backend", backend, "--preset", "workspace"])
        .args(flags)
        .arg("--")
        .args(cmd)
        .output()
        .unwrap()
}

fn usable() -> Vec<&'static str> {
    backends(|b| {
        let s = scratch();
        unusable(b, || Ok(run(&s, b, &s.path("home"), &[], &["true"])))
    })
}

fn read_probe() -> String {
    attempts(&[("r", "open(p).read()")])
}

#[test]
fn a_deny_with_dotdot_after_a_planted_link_hides_both_readings() {
    for backend in usable() {
        let s = scratch();
        plant(&s, backend);
        let out = run(
            &s,
            backend,
            &s.path("home"),
            &[
                "--read",
                s.root.to_str().unwrap(),
                "--deny",
                "sub/../secret",
            ],
            &[
                PYTHON,
                "-c",
                &read_probe(),
                "r:secret",
                &format!("r:{}", s.path("elsewhere/secret").display()),
            ],
        );
        assert_said(&out, "EACCES EACCES", backend);
    }
}

/// The later run reads the workspace (the default preset), HOME written
/// as ws/sub/../home: before, the default denies went to elsewhere/home
/// and bwrap printed ws/home/.ssh/id.
#[test]
fn home_with_dotdot_after_a_planted_link_is_refused() {
    for backend in usable() {
        let s = scratch();
        plant(&s, backend);
        std::fs::create_dir_all(s.path("ws/home/.ssh")).unwrap();
        std::fs::write(s.path("ws/home/.ssh/id"), "KEY").unwrap();
        let home = s.path("ws/sub/../home");
        let out = support::scrubbed(&home, Some(&s.path("cache")), &s.path("ws"))
            .args(["run", "--backend", backend, "--", "cat", "home/.ssh/id"])
            .output()
            .unwrap();
        let want = format!(
            "sandspawn: HOME {}: a `..` after the symlink {} (-> {}) climbs out of where it \
             leads, so it names {} as written but {} as opened, and a link where a sandbox \
             could write may have been left there to move the denies under `~`; set HOME \
             without `..` (to the directory you mean)",
            home.display(),
            s.path("ws/sub").display(),
            s.path("elsewhere/x").display(),
            s.path("ws/home").display(),
            s.path("elsewhere/home").display(),
        );
        assert_refused(&out, backend, &want);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{backend}");
    }
}

#[test]
fn a_grant_with_dotdot_after_a_planted_link_is_refused() {
    for backend in usable() {
        for flag in ["--read", "--write"] {
            let s = scratch();
            plant(&s, backend);
            let out = run(
                &s,
                backend,
                &s.path("home"),
                &[flag, "sub/../notes"],
                &["true"],
            );
            let rule = &flag[2..];
            let want = format!(
                "sandspawn: {rule} (from flags): `sub/../notes` has a `..` after the \
                 symlink {} (-> {}) that climbs out of where it leads, so it names {} as \
                 written but {} as opened, and a link where a sandbox could write may have \
                 been left there to steer it; write the path without `..` (the one you mean)",
                s.path("ws/sub").display(),
                s.path("elsewhere/x").display(),
                s.path("ws/notes").display(),
                s.path("elsewhere/notes").display(),
            );
            assert_refused(&out, &format!("{backend} {flag}"), &want);
        }
    }
}
