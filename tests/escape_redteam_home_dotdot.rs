//! HOME with a `..` after a symlink (HOME=/top/lnk/../h, lnk -> sub/x):
//! the kernel opens /top/sub/h, and so do the host's tools. The default
//! denies under `~` (`~/.ssh`, …) were made from HOME normalised lexically
//! (/top/h/.ssh), so under a root covering the real home its `.ssh` was
//! readable on both backends while explain listed the deny. Then `~` was
//! taken where the kernel opens HOME, which let a link planted where a
//! sandbox could write move every deny (see escape_review_dotdot_links);
//! now such a HOME is refused: the key is never handed over, and explain
//! promises no deny that is not in force.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{stderr, SANDSPAWN};

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `top/sub/x`, `top/sub/h/.ssh/id` (the real home's key), `top/h` (the
/// lexical home, empty) and `top/lnk -> top/sub/x`.
struct Top {
    _tmp: tempfile::TempDir,
    top: PathBuf,
}

impl Top {
    fn new() -> Top {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["sub/x", "sub/h/.ssh", "h"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("sub/h/.ssh/id"), "SECRET").unwrap();
        std::os::unix::fs::symlink(top.join("sub/x"), top.join("lnk")).unwrap();
        Top { _tmp: tmp, top }
    }

    fn sandspawn(&self, args: &[&str]) -> Output {
        self.sandspawn_with_home(&self.top.join("lnk/../h"), args)
    }

    fn sandspawn_with_home(&self, home: &Path, args: &[&str]) -> Output {
        Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", home)
            .current_dir(&self.top)
            .args(args)
            .output()
            .unwrap()
    }
}

fn backends() -> Vec<&'static str> {
    let why = |backend: &str| {
        let t = Top::new();
        let out = t.sandspawn_with_home(
            &t.top.join("h"),
            &["run", "--backend", backend, "--", "true"],
        );
        (!out.status.success()).then(|| {
            format!(
                "`sandspawn run --backend {backend}` does not work here: {}",
                stderr(&out)
            )
        })
    };
    support::backends(why)
}

/// The one line sandspawn refuses with.
fn refusal(t: &Top) -> String {
    format!(
        "sandspawn: HOME {}: a `..` after the symlink {} (-> {}) climbs out of where it \
         leads, so it names {} as written but {} as opened, and a link where a sandbox could \
         write may have been left there to move the denies under `~`; set HOME without `..` \
         (to the directory you mean)",
        t.top.join("lnk/../h").display(),
        t.top.join("lnk").display(),
        t.top.join("sub/x").display(),
        t.top.join("h").display(),
        t.top.join("sub/h").display(),
    )
}

#[test]
fn the_ssh_of_a_home_written_with_dotdot_after_a_link_is_never_read() {
    for backend in backends() {
        let t = Top::new();
        let top = t.top.to_str().unwrap();
        let key = t.top.join("sub/h/.ssh/id");
        let out = t.sandspawn(&[
            "run",
            "--backend",
            backend,
            "--read",
            top,
            "--",
            "cat",
            key.to_str().unwrap(),
        ]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{backend}");
        assert_eq!(
            stderr(&out).lines().collect::<Vec<_>>(),
            [refusal(&t)],
            "{backend}"
        );
        assert_eq!(out.status.code(), Some(125), "{backend}");
    }
}

#[test]
fn explain_promises_no_deny_for_such_a_home() {
    let t = Top::new();
    let out = t.sandspawn(&["explain", "--read", t.top.to_str().unwrap(), "--", "true"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
    assert_eq!(stderr(&out).lines().collect::<Vec<_>>(), [refusal(&t)]);
    assert_eq!(out.status.code(), Some(125));
}
