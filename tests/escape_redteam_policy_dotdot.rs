//! A policy path with a `..` after a symlink (`--deny top/lnk/../h/.ssh`,
//! lnk -> sub/x): the kernel opens top/sub/h/.ssh, but the path was
//! normalised lexically to top/h/.ssh, so under a root covering the real
//! one the deny hid the wrong directory and explain listed it as hidden.
//! Now a policy path is taken as the kernel takes it up to its last `..`.
//!
//! Runs as whoever runs the tests; `.ci/run` runs it again as an
//! unprivileged user. Skips print their reason and fail under
//! `SANDSPAWN_MUST_WORK=1`.

mod support;
use support::{stderr, SANDSPAWN};

use std::path::PathBuf;
use std::process::{Command, Output};

/// `top/sub/x`, `top/sub/h/.ssh/id` (the key), `top/h` (where the lexical
/// reading of the deny lands, empty) and `top/lnk -> top/sub/x`.
struct Top {
    _tmp: tempfile::TempDir,
    top: PathBuf,
}

impl Top {
    fn new() -> Top {
        let tmp = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let top = std::fs::canonicalize(tmp.path()).unwrap();
        for d in ["sub/x", "sub/h/.ssh", "h", "home"] {
            std::fs::create_dir_all(top.join(d)).unwrap();
        }
        std::fs::write(top.join("sub/h/.ssh/id"), "SECRET").unwrap();
        std::os::unix::fs::symlink(top.join("sub/x"), top.join("lnk")).unwrap();
        Top { _tmp: tmp, top }
    }

    fn sandspawn(&self, args: &[&str]) -> Output {
        Command::new(SANDSPAWN)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", self.top.join("home"))
            .current_dir(&self.top)
            .args(args)
            .output()
            .unwrap()
    }
}

fn backends() -> Vec<&'static str> {
    let why = |backend: &str| {
        let out = Top::new().sandspawn(&["run", "--backend", backend, "--", "true"]);
        (!out.status.success()).then(|| {
            format!(
                "`sandspawn run --backend {backend}` does not work here: {}",
                stderr(&out)
            )
        })
    };
    support::backends(why)
}

#[test]
fn a_deny_with_dotdot_after_a_link_hides_what_the_kernel_opens() {
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
            "--deny",
            "lnk/../h/.ssh",
            "--",
            "cat",
            key.to_str().unwrap(),
        ]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "", "{backend}");
        // bwrap masks the directory with an empty one; Landlock grants nothing.
        let why = if backend == "bwrap" {
            "No such file or directory"
        } else {
            "Permission denied"
        };
        assert_eq!(
            stderr(&out)
                .lines()
                .filter(|l| !l.starts_with("sandspawn: landlock backend:"))
                .collect::<Vec<_>>(),
            [format!("cat: {}: {why}", key.display())],
            "{backend}"
        );
        assert_eq!(out.status.code(), Some(1), "{backend}");
    }
}

#[test]
fn explain_lists_the_deny_where_the_kernel_opens_it() {
    let t = Top::new();
    let top = t.top.to_str().unwrap();
    let out = t.sandspawn(&[
        "explain",
        "--read",
        top,
        "--deny",
        "lnk/../h/.ssh",
        "--",
        "true",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!("  deny   {}  [flags]", t.top.join("sub/h/.ssh").display());
    assert!(text.lines().any(|l| l == line), "{text}");
}
